//! Delivers queued playbooks: a JSON webhook signed with HMAC-SHA256, Microsoft Teams and
//! Slack incoming webhooks, or email over SMTP. Deliveries are rows in the detection database,
//! so they survive restarts; a failed attempt is retried with exponential backoff and each
//! failure is written to the incident's history.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::{Value as Json, json};
use sha2::Sha256;
use tokio::sync::watch;
use vigil_outbound::OutboundPolicy;

use crate::api::{alert_json, incident_json};
use crate::automation::{Playbook, PlaybookTarget};
use crate::state::{Detection, DueDelivery, MAX_DELIVERY_ATTEMPTS, Scope};
use crate::time::now_nanos;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The header that carries a webhook body's signature: `sha256=<hex HMAC-SHA256(secret, body)>`.
pub const SIGNATURE_HEADER: &str = "X-Vigil-Signature";

pub struct Deliverer {
    detection: Arc<Detection>,
    outbound: OutboundPolicy,
    /// Where links in messages point: the console's base URL.
    public_url: String,
}

impl Deliverer {
    pub fn new(detection: Arc<Detection>, public_url: &str, outbound: OutboundPolicy) -> Deliverer {
        Deliverer { detection, outbound, public_url: public_url.trim_end_matches('/').to_string() }
    }

    /// Delivers due playbooks until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.deliver_due().await {
                tracing::error!("playbook delivery: {e}");
            }
            let wait = match self.detection.next_delivery_at().await {
                Ok(Some(next)) => Duration::from_nanos((next - now_nanos()).clamp(0, 60_000_000_000) as u64),
                _ => Duration::from_secs(60),
            };
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = self.detection.deliveries_queued.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }

    pub async fn deliver_due(&self) -> Result<(), String> {
        let due = self.detection.due_deliveries(now_nanos(), 50).await.map_err(|e| e.to_string())?;
        for delivery in due {
            let outcome = self.attempt(&delivery).await;
            let attempts = delivery.attempts + 1;
            let retry_at = match &outcome {
                Err(_) if attempts < MAX_DELIVERY_ATTEMPTS => {
                    // 2 s, 4 s, 8 s ... capped at ten minutes.
                    let backoff = Duration::from_secs(2u64.saturating_pow(attempts as u32).min(600));
                    Some(now_nanos() + backoff.as_nanos() as i64)
                }
                _ => None,
            };
            if let Err(error) = &outcome {
                tracing::warn!(playbook = %delivery.playbook, attempt = attempts, "playbook delivery failed: {error}");
            }
            self.detection.record_delivery(&delivery, outcome, retry_at).await.map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    async fn attempt(&self, delivery: &DueDelivery) -> Result<(), String> {
        let playbook = self
            .detection
            .playbook(&delivery.workspace, &delivery.playbook)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("playbook '{}' no longer exists", delivery.playbook))?;
        let payload = self.payload(delivery).await?;
        send(&self.outbound, &playbook, &payload).await
    }

    /// What the playbook is about: the event, and the incident or alert in the APIs' shape.
    async fn payload(&self, delivery: &DueDelivery) -> Result<Json, String> {
        let mut payload = json!({"event": delivery.event, "deliveryId": delivery.id, "workspace": delivery.workspace});
        if let Some(id) = delivery.incident_id {
            let incident = self
                .detection
                .incident(&Scope::everything(), id)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("incident {id} no longer exists"))?;
            payload["incident"] = incident_json(&incident);
            payload["incidentUrl"] = json!(format!("{}/incidents/{id}", self.public_url));
        }
        if let Some(id) = &delivery.alert_id {
            let alert = self
                .detection
                .alert(&Scope::everything(), id)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("alert {id} no longer exists"))?;
            payload["alert"] = alert_json(&alert, true);
        }
        Ok(payload)
    }
}

/// A headline and facts for chat and email messages.
fn summary(payload: &Json) -> (String, Vec<(String, String)>) {
    let subject = if payload["incident"].is_object() { &payload["incident"] } else { &payload["alert"] };
    let title = subject["incidentName"].as_str().or(subject["title"].as_str()).unwrap_or("(untitled)");
    let headline = match payload["incident"]["incidentId"].as_i64() {
        Some(id) => format!("Incident #{id}: {title}"),
        None => format!("Alert: {title}"),
    };
    let text = |v: &Json| match v {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    };
    let mut facts = vec![
        ("Event".to_string(), text(&payload["event"])),
        ("Severity".to_string(), text(&subject["severity"])),
        ("Status".to_string(), text(&subject["status"])),
    ];
    let alerts = subject["alerts"].as_array().cloned().unwrap_or_else(|| vec![subject.clone()]);
    let entities: Vec<String> = alerts
        .iter()
        .flat_map(|a| a["entities"].as_array().cloned().unwrap_or_default())
        .map(|e| {
            let kind = text(&e["entityType"]);
            let value = e
                .as_object()
                .and_then(|o| o.iter().find(|(k, v)| k.as_str() != "entityType" && v.is_string()).map(|(_, v)| text(v)))
                .unwrap_or_default();
            format!("{kind}: {value}")
        })
        .collect();
    if !entities.is_empty() {
        facts.push(("Entities".to_string(), entities.join(", ")));
    }
    let techniques: Vec<String> = alerts
        .iter()
        .flat_map(|a| a["mitreTechniques"].as_array().cloned().unwrap_or_default())
        .map(|t| text(&t))
        .collect();
    if !techniques.is_empty() {
        facts.push(("MITRE techniques".to_string(), techniques.join(", ")));
    }
    if let Some(url) = payload["incidentUrl"].as_str() {
        facts.push(("Link".to_string(), url.to_string()));
    }
    (headline, facts)
}

/// Sends one message to a playbook's target, if the target's addresses are ones `outbound`
/// permits.
pub async fn send(outbound: &OutboundPolicy, playbook: &Playbook, payload: &Json) -> Result<(), String> {
    let (headline, facts) = summary(payload);
    match &playbook.target {
        PlaybookTarget::Webhook { url, secret } => {
            let body = serde_json::to_vec(payload).map_err(|e| e.to_string())?;
            let http = http_client_for(outbound, url).await?;
            let mut request = http.post(url).header("Content-Type", "application/json");
            if let Some(secret) = secret {
                request = request.header(SIGNATURE_HEADER, sign(secret, &body));
            }
            if let Some(event) = payload["event"].as_str() {
                request = request.header("X-Vigil-Event", event);
            }
            post(request.body(body)).await
        }
        PlaybookTarget::Teams { url } => {
            let card = json!({
                "@type": "MessageCard",
                "@context": "https://schema.org/extensions",
                "summary": headline,
                "themeColor": theme_color(payload),
                "title": headline,
                "sections": [{"facts": facts.iter().map(|(name, value)| json!({"name": name, "value": value})).collect::<Vec<_>>()}],
            });
            post(http_client_for(outbound, url).await?.post(url).json(&card)).await
        }
        PlaybookTarget::Slack { url } => {
            let fields: Vec<Json> = facts
                .iter()
                .map(|(name, value)| json!({"type": "mrkdwn", "text": format!("*{name}*\n{value}")}))
                .collect();
            let message = json!({
                "text": headline,
                "blocks": [
                    {"type": "header", "text": {"type": "plain_text", "text": headline.chars().take(150).collect::<String>()}},
                    {"type": "section", "fields": fields.into_iter().take(10).collect::<Vec<_>>()},
                ],
            });
            post(http_client_for(outbound, url).await?.post(url).json(&message)).await
        }
        PlaybookTarget::Email { host, port, security, username, password, ca_cert_file, from, to } => {
            let mut builder = Message::builder()
                .from(from.parse().map_err(|e| format!("sender '{from}': {e}"))?)
                .subject(format!("[Vigil] {headline}"));
            for recipient in to {
                builder = builder.to(recipient.parse().map_err(|e| format!("recipient '{recipient}': {e}"))?);
            }
            let body: String = facts.iter().map(|(name, value)| format!("{name}: {value}\n")).collect();
            let message = builder
                .header(ContentType::TEXT_PLAIN)
                .body(format!("{headline}\n\n{body}"))
                .map_err(|e| format!("cannot build the email: {e}"))?;
            let mut tls = TlsParameters::builder(host.clone());
            if let Some(path) = ca_cert_file {
                let pem = std::fs::read(path).map_err(|e| format!("cannot read CA certificate {path}: {e}"))?;
                tls = tls.add_root_certificate(
                    Certificate::from_pem(&pem).map_err(|e| format!("CA certificate {path}: {e}"))?,
                );
            }
            let tls = tls.build_rustls().map_err(|e| format!("TLS settings for {host}: {e}"))?;
            let (tls, default_port) = match security.as_deref().unwrap_or("starttls") {
                "none" => (Tls::None, 25),
                "tls" => (Tls::Wrapper(tls), 465),
                _ => (Tls::Required(tls), 587),
            };
            // Connected to the address checked, while TLS verifies the certificate for the name.
            let relay = outbound.resolve(host, port.unwrap_or(default_port)).await.map_err(|e| e.to_string())?[0];
            let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(relay.ip().to_string())
                .port(relay.port())
                .tls(tls)
                .timeout(Some(REQUEST_TIMEOUT));
            if let (Some(username), Some(password)) = (username, password) {
                transport = transport.credentials(Credentials::new(username.clone(), password.clone()));
            }
            transport.build().send(message).await.map(|_| ()).map_err(|e| format!("SMTP {host}: {e}"))
        }
    }
}

/// The client a playbook posts to `url` with (see [`vigil_outbound::http_client`]): a
/// webhook's host is what its author chose, and only the addresses checked are called.
async fn http_client_for(outbound: &OutboundPolicy, url: &str) -> Result<reqwest::Client, String> {
    let url = reqwest::Url::parse(url).map_err(|e| format!("the URL is not valid: {e}"))?;
    vigil_outbound::http_client(outbound, &url, REQUEST_TIMEOUT).await
}

async fn post(request: reqwest::RequestBuilder) -> Result<(), String> {
    // Without the URL: a webhook's URL may be its key, and this message is kept in history.
    let response = request.send().await.map_err(|e| format!("request failed: {}", e.without_url()))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    if status.is_redirection() {
        return Err(format!("HTTP {status}: the receiver redirects, and playbooks follow no redirect"));
    }
    let body = response.text().await.unwrap_or_default();
    Err(format!("HTTP {status}: {}", body.chars().take(200).collect::<String>()))
}

/// `sha256=<hex>` of HMAC-SHA256 over the body.
pub fn sign(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    format!("sha256={}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

fn theme_color(payload: &Json) -> &'static str {
    let severity = payload["incident"]["severity"].as_str().or(payload["alert"]["severity"].as_str()).unwrap_or("");
    match severity {
        "High" | "high" => "D13438",
        "Medium" | "medium" => "FF8C00",
        "Low" | "low" => "FFB900",
        _ => "0078D4",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_rfc_2104_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn summaries_name_the_incident_and_its_entities() {
        let payload = json!({"event": "IncidentCreated", "incident": {"incidentId": 7, "incidentName": "change_master_password on 10.0.0.1",
            "severity": "Informational", "status": "Active", "alerts": [{"entities": [{"entityType": "Ip", "ipAddress": "10.0.0.1"}],
            "mitreTechniques": ["T1556"]}]}});
        let (headline, facts) = summary(&payload);
        assert_eq!(headline, "Incident #7: change_master_password on 10.0.0.1");
        assert!(facts.contains(&("Entities".to_string(), "Ip: 10.0.0.1".to_string())));
        assert!(facts.contains(&("MITRE techniques".to_string(), "T1556".to_string())));
    }
}
