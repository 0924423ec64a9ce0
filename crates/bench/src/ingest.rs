//! The ingestion load generator: sustained durable ingest of ~1 KB JSON sign-in events in gzip
//! batches over HTTPS, as `azure-monitor-ingestion` sends them, then the freshness of a record
//! after its 204. Prints one JSON object with the figures.
//!
//! The request bodies are generated and compressed before the clock starts, every record
//! distinct, so that the measurement is of the server and not of the generator.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

use crate::{Random, SigninRow};

const CITIES: [(&str, &str, f64, f64); 5] = [
    ("Seattle", "Washington", 47.6, -122.3),
    ("London", "England", 51.5, -0.1),
    ("Berlin", "Berlin", 52.5, 13.4),
    ("Tokyo", "Tokyo", 35.7, 139.7),
    ("Sao Paulo", "Sao Paulo", -23.5, -46.6),
];

pub struct Settings {
    pub url: String,
    pub tenant: String,
    pub client_id: String,
    pub client_secret: String,
    pub dcr: String,
    pub stream: String,
    pub workspace: String,
    pub ca_cert: String,
    pub events: usize,
    pub connections: usize,
    pub server_pid: Option<u32>,
    pub reader_id: String,
    pub reader_secret: String,
}

fn guid(random: &mut Random) -> String {
    let a = random.next_u64();
    let b = random.next_u64();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (b >> 48) & 0x3fff | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

/// A sign-in event as Entra ID's sign-in logs shape them, about 1 KB of JSON.
fn event(random: &mut Random, index: u64, total: u64) -> Json {
    let row = SigninRow::generate(random, index, total);
    let (city, state, latitude, longitude) = CITIES[random.skewed(CITIES.len() as u64) as usize];
    let created = vigil_kql_syntax::literal::format_datetime(row.time);
    json!({
        "CreatedDateTime": created,
        "Id": guid(random),
        "CorrelationId": guid(random),
        "UserPrincipalName": row.user,
        "UserDisplayName": row.user.split('@').next().unwrap_or_default(),
        "IPAddress": row.address,
        "AppDisplayName": row.app,
        "ResourceDisplayName": "Windows Azure Active Directory",
        "ResultType": row.result,
        "ResultDescription": if row.result == 0 { "" } else { "Invalid username or password or Invalid on-premise username or password." },
        "Location": row.location,
        "EventText": row.text,
        "ClientAppUsed": if row.user_agent.starts_with("Microsoft Office") { "Mobile Apps and Desktop clients" } else { "Browser" },
        "UserAgent": row.user_agent,
        "ConditionalAccessStatus": if row.result == 0 { "success" } else { "notApplied" },
        "AuthenticationRequirement": "singleFactorAuthentication",
        "RiskState": "none",
        "DeviceDetail": {"deviceId": "", "operatingSystem": "Windows 10", "browser": "Edge 120.0.2210", "isCompliant": false, "isManaged": false, "trustType": ""},
        "LocationDetails": {"city": city, "state": state, "countryOrRegion": row.location,
                            "geoCoordinates": {"latitude": latitude, "longitude": longitude}},
        "AuthenticationDetails": [{"authenticationStepDateTime": created, "authenticationMethod": "Password",
                                   "authenticationMethodDetail": "Password in the cloud", "succeeded": row.result == 0,
                                   "authenticationStepResultDetail": if row.result == 0 { "Correct password" } else { "Invalid password" }}],
    })
}

/// The request bodies: `events` distinct events in gzip batches of at most 1 MiB of JSON (as
/// `azure-monitor-ingestion` splits uploads), and their raw JSON size.
fn bodies(events: usize) -> (Vec<Vec<u8>>, usize) {
    const LIMIT: usize = 1 << 20;
    let mut random = Random(2026);
    let mut bodies = Vec::new();
    let mut raw_bytes = 0;
    let mut batch: Vec<u8> = Vec::with_capacity(LIMIT);
    let mut finish = |batch: &mut Vec<u8>, bodies: &mut Vec<Vec<u8>>| {
        batch.push(b']');
        raw_bytes += batch.len();
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        // Writing to a Vec cannot fail.
        let _ = encoder.write_all(batch);
        bodies.push(encoder.finish().unwrap_or_default());
        batch.clear();
    };
    for index in 0..events {
        let record = serde_json::to_vec(&event(&mut random, index as u64, events as u64)).unwrap_or_default();
        if !batch.is_empty() && batch.len() + record.len() + 2 > LIMIT {
            finish(&mut batch, &mut bodies);
        }
        batch.push(if batch.is_empty() { b'[' } else { b',' });
        batch.extend_from_slice(&record);
    }
    if !batch.is_empty() {
        finish(&mut batch, &mut bodies);
    }
    (bodies, raw_bytes)
}

/// User and system CPU time of a process, in seconds (Linux).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

async fn token(
    client: &reqwest::Client,
    settings: &Settings,
    id: &str,
    secret: &str,
    scope: &str,
) -> Result<String, String> {
    let response: Json = client
        .post(format!("{}/{}/oauth2/v2.0/token", settings.url, settings.tenant))
        .form(&[("grant_type", "client_credentials"), ("client_id", id), ("client_secret", secret), ("scope", scope)])
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    response["access_token"].as_str().map(str::to_string).ok_or(format!("no token: {response}"))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

pub async fn run(settings: Settings) -> Result<(), String> {
    let pem = std::fs::read(&settings.ca_cert).map_err(|e| format!("{}: {e}", settings.ca_cert))?;
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).map_err(|e| e.to_string())?)
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| e.to_string())?;
    let ingest_token =
        token(&client, &settings, &settings.client_id, &settings.client_secret, "https://monitor.azure.com/.default")
            .await?;
    let (bodies, raw_bytes) = bodies(settings.events);
    let compressed_bytes: usize = bodies.iter().map(Vec::len).sum();
    let bodies = Arc::new(bodies);
    let url = format!(
        "{}/dataCollectionRules/{}/streams/{}?api-version=2023-01-01",
        settings.url, settings.dcr, settings.stream
    );
    let next = Arc::new(AtomicUsize::new(0));
    let cpu_before = settings.server_pid.and_then(cpu_seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..settings.connections {
        let (client, bodies, next, url, token) =
            (client.clone(), bodies.clone(), next.clone(), url.clone(), ingest_token.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut retries = 0usize;
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(index) else { return Ok::<_, String>((latencies, retries)) };
                loop {
                    let sent = Instant::now();
                    let response = client
                        .post(&url)
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .header("content-encoding", "gzip")
                        .body(body.clone())
                        .send()
                        .await
                        .map_err(|e| e.to_string())?;
                    let status = response.status();
                    if status == reqwest::StatusCode::NO_CONTENT {
                        latencies.push(sent.elapsed().as_secs_f64());
                        break;
                    }
                    if status == reqwest::StatusCode::TOO_MANY_REQUESTS
                        || status == reqwest::StatusCode::SERVICE_UNAVAILABLE
                    {
                        retries += 1;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                    return Err(format!("{status}: {}", response.text().await.unwrap_or_default()));
                }
            }
        }));
    }
    let mut latencies = Vec::new();
    let mut retries = 0;
    for task in tasks {
        let (task_latencies, task_retries) = task.await.map_err(|e| e.to_string())??;
        latencies.extend(task_latencies);
        retries += task_retries;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = match (cpu_before, settings.server_pid.and_then(cpu_seconds)) {
        (Some(before), Some(after)) => Some(after - before),
        _ => None,
    };
    latencies.sort_by(f64::total_cmp);
    let freshness = freshness(&client, &settings, &url, &ingest_token).await?;
    let events = settings.events as f64;
    println!(
        "{}",
        json!({
            "events": settings.events,
            "requests": bodies.len(),
            "connections": settings.connections,
            "seconds": elapsed,
            "events_per_second": events / elapsed,
            "server_cpu_seconds": cpu,
            "events_per_cpu_second": cpu.map(|c| events / c),
            "raw_json_bytes": raw_bytes,
            "gzip_bytes": compressed_bytes,
            "raw_mb_per_second": raw_bytes as f64 / elapsed / 1e6,
            "latency_p50_ms": percentile(&latencies, 0.50) * 1e3,
            "latency_p99_ms": percentile(&latencies, 0.99) * 1e3,
            "retries_after_429_or_503": retries,
            "freshness_ms": freshness,
        })
    );
    Ok(())
}

/// Milliseconds from a record's 204 until a query over the last 10 seconds (the query API's
/// `timespan`, as a dashboard asks) returns it, for 10 records.
async fn freshness(
    client: &reqwest::Client,
    settings: &Settings,
    url: &str,
    ingest_token: &str,
) -> Result<Json, String> {
    let reader =
        token(client, settings, &settings.reader_id, &settings.reader_secret, &format!("{}/.default", settings.url))
            .await?;
    let mut samples = Vec::new();
    for sample in 0..10 {
        let marker = format!("freshness-{sample}-{}", std::process::id());
        let mut record = event(&mut Random(sample), 0, 1);
        record["CorrelationId"] = json!(marker);
        let status = client
            .post(url)
            .bearer_auth(ingest_token)
            .json(&json!([record]))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .status();
        if status != reqwest::StatusCode::NO_CONTENT {
            return Err(format!("freshness record refused: {status}"));
        }
        let acknowledged = Instant::now();
        loop {
            let response: Json = client
                .post(format!("{}/v1/workspaces/{}/query", settings.url, settings.workspace))
                .bearer_auth(&reader)
                .json(&json!({"query": format!("SigninEvents | where CorrelationId == '{marker}' | count"), "timespan": "PT10S"}))
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            if response["tables"][0]["rows"][0][0].as_i64() == Some(1) {
                samples.push(acknowledged.elapsed().as_secs_f64() * 1e3);
                break;
            }
            if acknowledged.elapsed() > Duration::from_secs(30) {
                return Err(format!("record {marker} not queryable after 30 s: {response}"));
            }
        }
    }
    samples.sort_by(f64::total_cmp);
    Ok(json!({"median": percentile(&samples, 0.5), "max": samples.last()}))
}
