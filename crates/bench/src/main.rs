//! The hunting-query benchmark's Vigil side.
//!
//! `vigil-bench generate --rows N --out DIR` writes a synthetic sign-in table (`SigninEvents`,
//! Parquet files sorted by time, as Vigil's storage writes them) and a users table (`Users`).
//! `vigil-bench run --data DIR --queries FILE --runs N` runs each query's KQL and prints one
//! JSON line per query: its median time over N runs, and a digest of the result that the
//! DuckDB side must match to prove both did the same work.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray, TimestampNanosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use serde_json::{Value as Json, json};
use vigil_kql::{Engine, MemoryCatalog, QueryResult, RunOptions};

mod dynamic;
mod ingest;

const USAGE: &str = "usage: vigil-bench generate --rows N --out DIR
       vigil-bench run --data DIR --queries FILE [--runs N] [--only NAME]
       vigil-bench dynamic [--rows N]
       vigil-bench ingest --url URL --tenant T --dcr ID --stream S --workspace ID --ca-cert PEM
                          [--events N] [--connections N] [--server-pid PID]
                          (credentials in VIGIL_CLIENT_ID/SECRET and VIGIL_READER_ID/SECRET)";

const USERS: u64 = 100_000;
const FILES: u64 = 10;
const APPS: [&str; 12] = [
    "Azure Portal",
    "Microsoft Teams",
    "Office 365 Exchange Online",
    "SharePoint Online",
    "Microsoft Graph",
    "Azure CLI",
    "Visual Studio Code",
    "OneDrive",
    "Power BI",
    "Outlook Mobile",
    "My Apps",
    "Windows Sign In",
];
/// Browsers and clients as Entra ID records them, with `{}` for a version that varies by row.
const USER_AGENTS: [&str; 8] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{}.0.0.0 Safari/537.36 Edg/{}.0.2210.91",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{}.2 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{}.0) Gecko/20100101 Firefox/{}.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:{}.0) Gecko/20100101 Firefox/{}.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Teams/6.{}.0",
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.{}; Pro)",
    "python-requests/2.{}.0",
];
const COUNTRIES: [&str; 10] = ["US", "GB", "DE", "FR", "JP", "IN", "BR", "CA", "AU", "NL"];
const DEPARTMENTS: [&str; 8] = ["Engineering", "Finance", "Sales", "Marketing", "HR", "Legal", "Support", "IT"];
/// Start of the 30 days the events span: 2026-10-01T00:00:00Z.
const START_NANOS: i64 = 1_790_812_800_000_000_000;
const SPAN_NANOS: i64 = 30 * 86_400 * 1_000_000_000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let result = match args.first().map(String::as_str) {
        Some("generate") => {
            let rows = value("--rows").and_then(|r| r.parse().ok()).unwrap_or(10_000_000);
            match value("--out") {
                Some(out) => generate(rows, Path::new(&out)),
                None => Err(USAGE.to_string()),
            }
        }
        Some("run") => match (value("--data"), value("--queries")) {
            (Some(data), Some(queries)) => {
                let runs = value("--runs").and_then(|r| r.parse().ok()).unwrap_or(5);
                let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
                runtime.block_on(run(Path::new(&data), Path::new(&queries), runs, value("--only")))
            }
            _ => Err(USAGE.to_string()),
        },
        Some("dynamic") => dynamic::measure(value("--rows").and_then(|r| r.parse().ok()).unwrap_or(1_000_000)),
        Some("ingest") => ingest_settings(&value).and_then(|settings| {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
            runtime.block_on(ingest::run(settings))
        }),
        _ => Err(USAGE.to_string()),
    };
    if let Err(message) = result {
        eprintln!("{message}");
        std::process::exit(2);
    }
}

fn ingest_settings(value: &dyn Fn(&str) -> Option<String>) -> Result<ingest::Settings, String> {
    let required = |flag: &str| value(flag).ok_or(format!("{flag} is required\n{USAGE}"));
    let env = |name: &str| std::env::var(name).map_err(|_| format!("{name} is required"));
    let number = |flag: &str, default: usize| value(flag).and_then(|v| v.parse().ok()).unwrap_or(default);
    Ok(ingest::Settings {
        url: required("--url")?,
        tenant: required("--tenant")?,
        dcr: required("--dcr")?,
        stream: required("--stream")?,
        workspace: required("--workspace")?,
        ca_cert: required("--ca-cert")?,
        events: number("--events", 1_000_000),
        connections: number("--connections", 8),
        server_pid: value("--server-pid").and_then(|v| v.parse().ok()),
        client_id: env("VIGIL_CLIENT_ID")?,
        client_secret: env("VIGIL_CLIENT_SECRET")?,
        reader_id: env("VIGIL_READER_ID")?,
        reader_secret: env("VIGIL_READER_SECRET")?,
    })
}

/// splitmix64: a small, fast, deterministic generator, so both sides read identical data.
pub struct Random(pub u64);

impl Random {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Skewed towards small values, as sign-ins are towards a few busy users and addresses.
    pub fn skewed(&mut self, n: u64) -> u64 {
        let a = self.below(n);
        let b = self.below(n);
        a.min(b)
    }
}

fn signin_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("TimeGenerated", DataType::Timestamp(TimeUnit::Nanosecond, None), false),
        Field::new("UserPrincipalName", DataType::Utf8, false),
        Field::new("IPAddress", DataType::Utf8, false),
        Field::new("AppDisplayName", DataType::Utf8, false),
        Field::new("ResultType", DataType::Int64, false),
        Field::new("Location", DataType::Utf8, false),
        Field::new("EventText", DataType::Utf8, false),
        Field::new("UserAgent", DataType::Utf8, false),
    ]))
}

fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("valid level")))
        .set_max_row_group_row_count(Some(1 << 20))
        .build()
}

fn generate(rows: u64, out: &Path) -> Result<(), String> {
    let signins = out.join("signin");
    std::fs::create_dir_all(&signins).map_err(|e| e.to_string())?;
    let schema = signin_schema();
    let mut random = Random(42);
    let per_file = rows.div_ceil(FILES);
    let mut written = 0u64;
    for file in 0..FILES {
        let count = per_file.min(rows - written);
        if count == 0 {
            break;
        }
        let path = signins.join(format!("part-{file:02}.parquet"));
        let handle = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut writer =
            ArrowWriter::try_new(handle, schema.clone(), Some(writer_properties())).map_err(|e| e.to_string())?;
        let mut done = 0;
        while done < count {
            let batch_rows = (count - done).min(65_536);
            let batch = signin_batch(&schema, &mut random, written + done, batch_rows, rows)?;
            writer.write(&batch).map_err(|e| e.to_string())?;
            done += batch_rows;
        }
        writer.close().map_err(|e| e.to_string())?;
        written += count;
    }
    write_users(out)?;
    println!("generated {written} sign-in events and {USERS} users in {}", out.display());
    Ok(())
}

/// One synthetic sign-in, the same for the Parquet generator and the ingestion load
/// generator.
pub struct SigninRow {
    pub time: i64,
    pub user: String,
    pub address: String,
    pub app: &'static str,
    pub result: i64,
    pub location: &'static str,
    pub text: String,
    pub user_agent: String,
}

impl SigninRow {
    /// Row `i` of `total`, spread over the 30 days in time order, as Vigil's storage sorts them.
    pub fn generate(random: &mut Random, i: u64, total: u64) -> SigninRow {
        let time =
            START_NANOS + (i as i128 * SPAN_NANOS as i128 / total as i128) as i64 + random.below(1_000_000_000) as i64;
        let user = format!("user{}@contoso.com", random.skewed(USERS));
        let address = format!("10.{}.{}.{}", random.below(4), random.skewed(128), random.below(128));
        let app = APPS[random.skewed(APPS.len() as u64) as usize];
        let result = match random.below(100) {
            0..=89 => 0,
            90..=94 => 50126,
            95..=97 => 50074,
            98 => 50053,
            _ => 53003,
        };
        let outcome = if result == 0 {
            "succeeded"
        } else if result == 50053 {
            "blocked"
        } else {
            "failed"
        };
        let session = random.next_u64() & 0xffff_ffff;
        let text =
            format!("User {user} sign-in {outcome} to {app} from {address} result={result} session={session:08x}");
        let location = COUNTRIES[random.skewed(COUNTRIES.len() as u64) as usize];
        let version = (100 + random.below(30)).to_string();
        let user_agent = USER_AGENTS[random.skewed(USER_AGENTS.len() as u64) as usize].replace("{}", &version);
        SigninRow { time, user, address, app, result, location, text, user_agent }
    }
}

fn signin_batch(
    schema: &Arc<Schema>,
    random: &mut Random,
    first: u64,
    count: u64,
    total: u64,
) -> Result<RecordBatch, String> {
    let mut times = Vec::with_capacity(count as usize);
    let mut users = Vec::with_capacity(count as usize);
    let mut addresses = Vec::with_capacity(count as usize);
    let mut apps = Vec::with_capacity(count as usize);
    let mut results = Vec::with_capacity(count as usize);
    let mut locations = Vec::with_capacity(count as usize);
    let mut texts = Vec::with_capacity(count as usize);
    let mut user_agents = Vec::with_capacity(count as usize);
    for i in first..first + count {
        let row = SigninRow::generate(random, i, total);
        times.push(row.time);
        users.push(row.user);
        addresses.push(row.address);
        apps.push(row.app);
        results.push(row.result);
        locations.push(row.location);
        texts.push(row.text);
        user_agents.push(row.user_agent);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(TimestampNanosecondArray::from(times)),
        Arc::new(StringArray::from(users)),
        Arc::new(StringArray::from(addresses)),
        Arc::new(StringArray::from(apps)),
        Arc::new(Int64Array::from(results)),
        Arc::new(StringArray::from(locations)),
        Arc::new(StringArray::from(texts)),
        Arc::new(StringArray::from(user_agents)),
    ];
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())
}

fn write_users(out: &Path) -> Result<(), String> {
    let dir = out.join("users");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let schema = Arc::new(Schema::new(vec![
        Field::new("AccountUPN", DataType::Utf8, false),
        Field::new("Department", DataType::Utf8, false),
        Field::new("RiskLevel", DataType::Utf8, false),
    ]));
    let mut random = Random(7);
    let upns: Vec<String> = (0..USERS).map(|u| format!("user{u}@contoso.com")).collect();
    let departments: Vec<&str> =
        (0..USERS).map(|_| DEPARTMENTS[random.below(DEPARTMENTS.len() as u64) as usize]).collect();
    let risks: Vec<&str> = (0..USERS).map(|_| ["low", "medium", "high"][random.skewed(3) as usize]).collect();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(upns)),
            Arc::new(StringArray::from(departments)),
            Arc::new(StringArray::from(risks)),
        ],
    )
    .map_err(|e| e.to_string())?;
    let path = dir.join("users.parquet");
    let handle = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut writer = ArrowWriter::try_new(handle, schema, Some(writer_properties())).map_err(|e| e.to_string())?;
    writer.write(&batch).map_err(|e| e.to_string())?;
    writer.close().map_err(|e| e.to_string())?;
    Ok(())
}

async fn run(data: &Path, queries: &Path, runs: usize, only: Option<String>) -> Result<(), String> {
    let engine = Engine::new();
    let mut catalog = MemoryCatalog::new();
    for (name, folder) in [("SigninEvents", "signin"), ("Users", "users")] {
        vigil::tables::add_file(&mut catalog, engine.session(), name, &data.join(folder), None).await?;
    }
    let catalog = Arc::new(catalog);
    let text = std::fs::read_to_string(queries).map_err(|e| format!("{}: {e}", queries.display()))?;
    let queries: Vec<Json> = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", queries.display()))?;
    for query in &queries {
        let name = query["name"].as_str().unwrap_or_default();
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let kql = query["kql"].as_str().unwrap_or_default();
        let mut times = Vec::with_capacity(runs);
        let mut digest = String::new();
        for _ in 0..runs {
            let started = Instant::now();
            let result = engine
                .run(kql, catalog.clone(), RunOptions::default())
                .await
                .map_err(|e| format!("{name}: {}", e.render(kql)))?;
            times.push(started.elapsed().as_secs_f64());
            digest = result_digest(&result);
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        println!(
            "{}",
            json!({"name": name, "engine": "vigil", "median_seconds": median, "runs": times, "digest": digest})
        );
    }
    Ok(())
}

/// Rows, and the sum of the result's last numeric column: enough to show equal work.
fn result_digest(result: &QueryResult) -> String {
    let Some(table) = result.tables.first() else { return String::new() };
    let rows = table.rows();
    let numeric = table.columns.iter().rposition(|c| c.ty.is_numeric());
    let sum: f64 = match numeric {
        Some(index) => rows.iter().filter_map(|r| r[index].as_f64()).sum(),
        None => 0.0,
    };
    format!("rows={} sum={}", rows.len(), sum.round() as i64)
}
