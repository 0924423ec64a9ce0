//! `vigil demo`: a server on a fresh data dir with the Keeper Security pack installed, fed by a
//! generated but realistic stream of Keeper audit events through the real Logs Ingestion API
//! (OAuth2 client credentials, gzip, the pack's DCR), so that the console shows incidents,
//! hunting results and a populated dashboard within a minute of starting.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::Args;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value as Json, json};
use vigil_control::{Control, Role, Scope};
use vigil_detect::Detection;
use vigil_server::config::{ServerConfig, TlsMode};

use crate::Failure;

#[derive(Args)]
pub struct DemoArgs {
    /// The data directory; it must not exist or be empty (default: a new one in the system's
    /// temporary directory).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8443")]
    listen: String,
    /// Serve plain HTTP instead of HTTPS with a self-signed certificate.
    #[arg(long)]
    insecure_http: bool,
    /// Live events per second after the history.
    #[arg(long, default_value_t = 2.0)]
    rate: f64,
    /// Hours of history sent at start (about one event a minute).
    #[arg(long, default_value_t = 72)]
    history_hours: u32,
    /// Extra master-password changes sent at start, each of which opens an incident (for
    /// trying the console with a large queue).
    #[arg(long, default_value_t = 0)]
    burst: usize,
}

const PACK: &str = "keeper-security";
const BATCH: usize = 500;

pub async fn demo(args: DemoArgs) -> Result<(), Failure> {
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("vigil-demo-{}", Utc::now().format("%Y%m%d-%H%M%S"))));
    if std::fs::read_dir(&data_dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(Failure::Usage(format!(
            "{} is not empty; the demo starts from a fresh data dir (give another --data-dir)",
            data_dir.display()
        )));
    }
    if let Some(warning) = vigil_server::data_dir::prepare(&data_dir).map_err(Failure::Usage)? {
        eprintln!("warning: {warning}");
    }
    let config = ServerConfig {
        data_dir: data_dir.clone(),
        listen: vigil_server::parse_listen(&args.listen).map_err(Failure::Usage)?,
        tls: if args.insecure_http { TlsMode::Disabled } else { TlsMode::SelfSigned },
        ..ServerConfig::default()
    };
    let origin = config.origin();
    let prepared = prepare(&config, &origin).await.map_err(Failure::Query)?;
    let ca_cert = match config.tls {
        TlsMode::SelfSigned => Some(vigil_server::tls::self_signed(&data_dir).map_err(Failure::Query)?.0),
        _ => None,
    };
    // The banner is a courtesy (the credential is also in a file): a closed output does not stop the demo.
    let banner = format!(
        "Vigil demo: data in {dir}\n\
         Console: {origin}/  (tenant 'default'; client id {client}; client secret {secret})\n\
         The owner credential is also in {dir}/owner-credential.json. Keeper events are being sent to\n\
         {url}\nStop with Ctrl+C.\n",
        dir = data_dir.display(),
        client = prepared.owner_client_id,
        secret = prepared.owner_secret,
        url = prepared.ingestion_url,
    );
    match crate::output::text(&banner) {
        Ok(()) | Err(Failure::OutputClosed) => {}
        Err(failure) => return Err(failure),
    }
    crate::admin::init_logging();
    let sender = Sender::new(&origin, &prepared, ca_cert).map_err(Failure::Query)?;
    let generator = tokio::spawn(generate(sender, args.rate, args.history_hours, args.burst));
    let served = vigil_server::serve(config).await;
    generator.abort();
    served.map_err(Failure::Query)
}

struct Prepared {
    tenant_id: String,
    owner_client_id: String,
    owner_secret: String,
    publisher_client_id: String,
    publisher_secret: String,
    ingestion_url: String,
}

/// Bootstraps the data dir, installs the pack, and registers the publisher the generator
/// sends as, before the server opens the data dir.
async fn prepare(config: &ServerConfig, origin: &str) -> Result<Prepared, String> {
    let seal = config.seal_key()?;
    let control = Control::open(&config.data_dir, seal.clone()).await.map_err(|e| e.to_string())?;
    let bootstrap = control.bootstrap().await.map_err(|e| e.to_string())?.ok_or("the data dir is not fresh")?;
    vigil_server::keep_owner_credential(&config.data_dir, &bootstrap)?;
    let detection = Detection::open(&config.data_dir.join("detection.db"), seal).await.map_err(|e| e.to_string())?;
    let pack = vigil_content::pack(PACK)?;
    let target = vigil_content::Target {
        control: &control,
        detection: &detection,
        workspace: &bootstrap.workspace,
        origin,
        actor: "vigil demo",
        rules_enabled: None,
    };
    let report = pack.install(&target).await.map_err(|e| e.to_string())?;
    detection.close().await;
    let ingestion_url =
        report.dcrs.first().and_then(|d| d["ingestionUrl"].as_str()).ok_or("the pack has no DCR")?.to_string();
    let publisher = control
        .create_app(
            &bootstrap.tenant.id,
            "keeper-demo-publisher",
            &[(Role::MonitoringMetricsPublisher, Scope::Workspace(bootstrap.workspace.id.clone()))],
            None,
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(Prepared {
        tenant_id: bootstrap.tenant.id,
        owner_client_id: bootstrap.owner.client_id,
        owner_secret: bootstrap.owner.client_secret,
        publisher_client_id: publisher.client_id,
        publisher_secret: publisher.client_secret,
        ingestion_url,
    })
}

/// Sends batches through the Logs Ingestion API as a publisher application would.
struct Sender {
    client: reqwest::Client,
    token_url: String,
    client_id: String,
    client_secret: String,
    ingestion_url: String,
    health_url: String,
    token: Option<String>,
}

impl Sender {
    fn new(origin: &str, prepared: &Prepared, ca_cert: Option<PathBuf>) -> Result<Sender, String> {
        let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(30));
        if let Some(path) = ca_cert {
            let pem = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let certificate = reqwest::Certificate::from_pem(&pem).map_err(|e| e.to_string())?;
            builder = builder.add_root_certificate(certificate);
        }
        Ok(Sender {
            client: builder.build().map_err(|e| e.to_string())?,
            token_url: format!("{origin}/{}/oauth2/v2.0/token", prepared.tenant_id),
            client_id: prepared.publisher_client_id.clone(),
            client_secret: prepared.publisher_secret.clone(),
            ingestion_url: prepared.ingestion_url.clone(),
            health_url: format!("{origin}/healthz"),
            token: None,
        })
    }

    async fn wait_until_up(&self) {
        while !self.client.get(&self.health_url).send().await.is_ok_and(|r| r.status().is_success()) {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn fetch_token(&mut self) -> Result<String, String> {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.as_str()),
            ("scope", "https://monitor.azure.com//.default"),
        ];
        let response = self.client.post(&self.token_url).form(&form).send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        let body: Json = response.json().await.map_err(|e| e.to_string())?;
        let token = body["access_token"].as_str().ok_or_else(|| format!("no token ({status}): {body}"))?.to_string();
        self.token = Some(token.clone());
        Ok(token)
    }

    async fn send(&mut self, events: &[Json]) -> Result<(), String> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        serde_json::to_writer(&mut encoder, events).map_err(|e| e.to_string())?;
        let body = encoder.finish().map_err(|e| e.to_string())?;
        for _ in 0..2 {
            let token = match self.token.clone() {
                Some(token) => token,
                None => self.fetch_token().await?,
            };
            let response = self
                .client
                .post(&self.ingestion_url)
                .bearer_auth(token)
                .header("Content-Type", "application/json")
                .header("Content-Encoding", "gzip")
                .body(body.clone())
                .send()
                .await
                .map_err(|e| e.to_string())?;
            match response.status().as_u16() {
                204 => return Ok(()),
                // The token expired: fetch another once.
                401 => self.token = None,
                status => {
                    return Err(format!("ingestion answered {status}: {}", response.text().await.unwrap_or_default()));
                }
            }
        }
        Err("ingestion refused two fresh tokens".to_string())
    }
}

async fn generate(mut sender: Sender, rate: f64, history_hours: u32, burst: usize) {
    sender.wait_until_up().await;
    let mut keeper = KeeperSimulation::new(0x5EED_CAFE);
    let now = Utc::now();
    let history_minutes = i64::from(history_hours) * 60;
    let mut history: Vec<Json> = (0..history_minutes)
        .map(|minute| keeper.event(now - chrono::Duration::minutes(history_minutes - minute)))
        .collect();
    history.extend((0..burst).map(|_| keeper.master_password_change(now)));
    for batch in history.chunks(BATCH) {
        if let Err(e) = sender.send(batch).await {
            tracing::warn!("demo: a batch of Keeper events was refused: {e}");
        }
    }
    tracing::info!(events = history.len(), "demo: history sent; sending live events");
    let mut carry = 0.0;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        carry += rate.max(0.0);
        let count = carry.floor() as usize;
        carry -= count as f64;
        let batch: Vec<Json> = (0..count).map(|_| keeper.event(Utc::now())).collect();
        if !batch.is_empty()
            && let Err(e) = sender.send(&batch).await
        {
            tracing::warn!("demo: live Keeper events were refused: {e}");
        }
    }
}

/// Keeper audit events of a small enterprise: people who mostly sign in and open records from
/// their usual place and client, and now and then change their master password or second
/// factor, sometimes from an unusual country.
struct KeeperSimulation {
    state: u64,
}

struct Person {
    username: &'static str,
    home: &'static str,
    client: &'static str,
}

const PEOPLE: &[Person] = &[
    Person { username: "alice.nakamura@example.com", home: "133.242.187.207", client: "Web App.17.0.3" },
    Person { username: "bob.tanaka@example.com", home: "126.78.4.22", client: "Keeper Desktop.17.0.1" },
    Person { username: "carol.suzuki@example.com", home: "153.127.33.10", client: "iOS.16.11.4" },
    Person { username: "dave.ito@example.com", home: "202.12.27.33", client: "Web App.17.0.3" },
    Person { username: "erin.sato@example.com", home: "8.8.4.4", client: "Android.16.11.2" },
    Person { username: "frank.kato@example.com", home: "17.253.144.10", client: "Keeper Desktop.17.0.1" },
    Person { username: "grace.kim@example.com", home: "81.2.69.142", client: "Web App.17.0.3" },
    Person { username: "henry.mori@example.com", home: "5.9.40.81", client: "Browser Extension.17.0.2" },
    Person { username: "ivy.chen@example.com", home: "91.198.174.192", client: "Web App.17.0.3" },
    Person { username: "jun.yamada@example.com", home: "200.160.2.3", client: "Commander.16.10.0" },
    Person { username: "kate.ogawa@example.com", home: "1.1.1.1", client: "iOS.16.11.4" },
    Person { username: "leo.hayashi@example.com", home: "133.242.5.14", client: "Keeper Desktop.17.0.1" },
];

/// Addresses an account is rarely used from: travel, VPN exits, and worse.
const UNUSUAL_ADDRESSES: &[&str] = &["185.220.101.1", "175.45.176.1", "41.63.0.10", "95.213.1.1", "103.21.244.1"];

/// `(audit_event, category, weight)`: how often each event occurs.
const EVENTS: &[(&str, &str, u32)] = &[
    ("login", "login", 300),
    ("login_failure", "login", 40),
    ("open_record", "usage", 220),
    ("copy_password", "usage", 120),
    ("record_add", "usage", 40),
    ("record_update", "usage", 50),
    ("record_delete", "usage", 10),
    ("folder_add", "usage", 8),
    ("shared_folder_user_add", "sharing", 15),
    ("record_share_outside_user", "sharing", 6),
    ("added_to_team", "manage_user", 5),
    ("role_enforcement_changed", "policy", 3),
    ("change_master_password", "security", 12),
    ("set_two_factor_on", "security", 6),
    ("set_two_factor_off", "security", 4),
];

impl KeeperSimulation {
    fn new(seed: u64) -> KeeperSimulation {
        KeeperSimulation { state: seed }
    }

    /// xorshift64*: deterministic, so every demo tells the same story.
    fn next(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn event(&mut self, at: DateTime<Utc>) -> Json {
        let total: u32 = EVENTS.iter().map(|(_, _, weight)| weight).sum();
        let mut pick = self.below(total as usize) as u32;
        let mut chosen = EVENTS[0];
        for entry in EVENTS {
            if pick < entry.2 {
                chosen = *entry;
                break;
            }
            pick -= entry.2;
        }
        let (audit_event, category, _) = chosen;
        let person = &PEOPLE[self.below(PEOPLE.len())];
        // Security changes come from an unusual place more often than routine use does.
        let unusual_odds = if category == "security" { 4 } else { 40 };
        let address = if self.below(unusual_odds) == 0 {
            UNUSUAL_ADDRESSES[self.below(UNUSUAL_ADDRESSES.len())]
        } else {
            person.home
        };
        let data = match audit_event {
            "set_two_factor_on" | "set_two_factor_off" => {
                let channel = ["totp", "sms", "webauthn"][self.below(3)];
                json!({ "channel": channel })
            }
            "open_record" | "copy_password" | "record_update" | "record_delete" => {
                json!({"record_uid": format!("{:016x}", self.next())})
            }
            "login_failure" => {
                let reason = ["invalid_password", "2fa_failed", "locked"][self.below(3)];
                json!({ "reason": reason })
            }
            _ => json!({}),
        };
        keeper_event(audit_event, category, person.username, address, person.client, data, at)
    }

    fn master_password_change(&mut self, at: DateTime<Utc>) -> Json {
        let person = &PEOPLE[self.below(PEOPLE.len())];
        let address = UNUSUAL_ADDRESSES[self.below(UNUSUAL_ADDRESSES.len())];
        keeper_event("change_master_password", "security", person.username, address, person.client, json!({}), at)
    }
}

fn keeper_event(
    audit_event: &str,
    category: &str,
    username: &str,
    address: &str,
    client_version: &str,
    data: Json,
    at: DateTime<Utc>,
) -> Json {
    json!({
        "audit_event": audit_event,
        "remote_address": address,
        "category": category,
        "client_version": client_version,
        "enterprise_id": 8_417,
        "username": username,
        "timestamp": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_simulation_raises_some_security_events_and_mostly_routine_ones() {
        let mut keeper = KeeperSimulation::new(7);
        let now = Utc::now();
        let events: Vec<Json> = (0..5_000).map(|_| keeper.event(now)).collect();
        let security = events.iter().filter(|e| e["category"] == "security").count();
        assert!((100..400).contains(&security), "{security} security events in 5,000");
        let categories: std::collections::BTreeSet<&str> =
            events.iter().filter_map(|e| e["category"].as_str()).collect();
        assert_eq!(categories.len(), 6, "{categories:?}");
        assert!(events.iter().all(|e| e["username"].as_str().is_some_and(|u| u.ends_with("@example.com"))));
    }
}
