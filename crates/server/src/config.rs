//! The server's configuration: embedded defaults, then a TOML file, then `VIGIL_*`
//! environment variables, then command-line flags (applied by the caller).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use vigil_outbound::OutboundPolicy;

use crate::external_data::ExternalDataConfig;

#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// The origin clients reach the server at (`https://vigil.example.com`): its token issuer,
    /// its own audience and the endpoints shown to users. When absent, the listen address.
    pub public_url: Option<String>,
    pub tls: TlsMode,
    /// Seconds a query may run.
    pub query_timeout: Duration,
    /// Memory one query may hold, in bytes.
    pub query_memory: usize,
    /// Rows and bytes of one query's result; past them the result is cut and marked partial.
    pub result_rows: usize,
    pub result_bytes: usize,
    /// Ingestion requests processed at once; more are refused with 429. A request takes a slot
    /// once its body has arrived, so slow uploads hold none.
    pub max_concurrent_ingest: usize,
    /// Of those, what one tenant may hold (half when not configured).
    pub max_concurrent_ingest_per_tenant: Option<usize>,
    /// Queries (API, hunting, rule tests, workbooks) run at once (by default four per core, at
    /// least eight: a workbook tab asks for all its tiles at once, and an analyst's heavy
    /// query must leave room for their small ones), and what
    /// one tenant may run (half when not configured); more wait their turn up to
    /// `query_queue`, then get 429.
    pub max_concurrent_queries: usize,
    pub max_concurrent_queries_per_tenant: Option<usize>,
    pub query_queue: Duration,
    /// How long an ingestion request's body may take to arrive; past it, 408.
    pub ingest_body_timeout: Duration,
    /// Token requests a minute (in bursts of as many) from one source address, and for one
    /// client id; more are refused with 429 and `Retry-After`.
    pub token_requests_per_minute_per_source: u32,
    pub token_requests_per_minute_per_client: u32,
    pub flush_interval: Duration,
    /// How often small segments are merged and expired ones dropped.
    pub compaction_interval: Duration,
    pub segments_url: Option<String>,
    /// Analytics-rule queries run at once, and what one tenant's rules may take of them (half
    /// when not configured).
    pub rule_concurrency: usize,
    pub rule_concurrency_per_tenant: Option<usize>,
    /// Bytes of received rows not yet flushed, and what one workspace may hold of them (half
    /// when not configured); past them, 429 until a flush drains them.
    pub max_unflushed_bytes: usize,
    pub max_unflushed_bytes_per_workspace: Option<usize>,
    /// An OpenID Connect provider the console offers for login besides the owner credential.
    pub console_oidc: Option<ConsoleOidc>,
    /// What `externaldata` may read.
    pub external_data: ExternalDataConfig,
    /// The internal addresses playbooks, `externaldata` and issuers' keys may be fetched from
    /// (public ones always may).
    pub outbound: OutboundPolicy,
    /// Where the key sealing the data dir's secrets is; by default a file beside the data dir.
    pub secrets_key: Option<SecretsKeySource>,
}

/// Where the key that seals the data dir's secrets (signing keys, playbook credentials) is
/// kept: never in the data dir, so that a copy of it does not carry them.
#[derive(Debug, Clone, PartialEq)]
pub enum SecretsKeySource {
    /// A file, created on first start (readable by its owner only).
    File(PathBuf),
    /// `VIGIL_SECRETS_KEY`, base64 of 32 random bytes (read when the data dir opens, never kept).
    Environment,
}

/// The console's OIDC login (authorization code with PKCE, in the browser). The provider must
/// also be a tenant's trusted external issuer, and its access tokens must carry the audiences
/// of the APIs the console calls (`https://management.azure.com`, `https://api.loganalytics.io`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleOidc {
    pub authority: String,
    pub client_id: String,
    #[serde(default = "default_oidc_scope")]
    pub scope: String,
}

fn default_oidc_scope() -> String {
    "openid profile".to_string()
}

#[derive(Debug, Clone, PartialEq)]
pub enum TlsMode {
    /// A certificate generated into the data dir on first start.
    SelfSigned,
    Files {
        cert: PathBuf,
        key: PathBuf,
    },
    /// Plain HTTP, only when asked for.
    Disabled,
}

impl ServerConfig {
    /// The origin the server is reached at: the public URL, else the listen address. Never a
    /// request's `Host`, which the client chooses: the origin makes the issuer of the server's
    /// tokens and the audience of its own APIs, so a forged `Host` equal to another API's
    /// audience would let that API's tokens in.
    pub fn origin(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => {
                let scheme = if self.tls == TlsMode::Disabled { "http" } else { "https" };
                format!("{scheme}://{}", self.listen)
            }
        }
    }
}

impl ServerConfig {
    /// The key the data dir's secrets are sealed with: `VIGIL_SECRETS_KEY`, or the key file
    /// (`[secrets] key_file`, else `<data dir>.key` beside the data dir), created on first use.
    pub fn seal_key(&self) -> Result<vigil_control::SealKey, String> {
        let path = match &self.secrets_key {
            Some(SecretsKeySource::Environment) => {
                let text =
                    std::env::var("VIGIL_SECRETS_KEY").map_err(|_| "VIGIL_SECRETS_KEY is not set".to_string())?;
                return vigil_control::SealKey::from_text(&text).map_err(|e| format!("VIGIL_SECRETS_KEY: {e}"));
            }
            Some(SecretsKeySource::File(path)) => path.clone(),
            None => {
                let name = self.data_dir.file_name().map_or("vigil-data".into(), |n| n.to_string_lossy().to_string());
                self.data_dir.with_file_name(format!("{name}.key"))
            }
        };
        let inside = |path: &Path| std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        if inside(&path).starts_with(inside(&self.data_dir)) {
            return Err(format!(
                "the secrets key {} is inside the data dir; keep it apart ([secrets] key_file or VIGIL_SECRETS_KEY)",
                path.display()
            ));
        }
        vigil_control::SealKey::load_or_create(&path).map_err(|e| e.to_string())
    }
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            data_dir: PathBuf::from("vigil-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            public_url: None,
            tls: TlsMode::SelfSigned,
            query_timeout: Duration::from_secs(120),
            query_memory: 4 << 30,
            result_rows: vigil_kql::QueryLimits::RESULT_ROWS,
            result_bytes: vigil_kql::QueryLimits::RESULT_BYTES,
            max_concurrent_ingest: 64,
            max_concurrent_ingest_per_tenant: None,
            max_concurrent_queries: (4 * std::thread::available_parallelism().map_or(2, |n| n.get())).max(8),
            max_concurrent_queries_per_tenant: None,
            query_queue: Duration::from_secs(30),
            ingest_body_timeout: Duration::from_secs(30),
            token_requests_per_minute_per_source: 300,
            token_requests_per_minute_per_client: 60,
            flush_interval: Duration::from_secs(30),
            compaction_interval: Duration::from_secs(300),
            segments_url: None,
            rule_concurrency: 2,
            rule_concurrency_per_tenant: None,
            max_unflushed_bytes: 1 << 30,
            max_unflushed_bytes_per_workspace: None,
            console_oidc: None,
            external_data: ExternalDataConfig::default(),
            outbound: OutboundPolicy::default(),
            secrets_key: None,
        }
    }
}

/// The file's shape; every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    data_dir: Option<PathBuf>,
    listen: Option<String>,
    public_url: Option<String>,
    tls: Option<TlsFile>,
    query: Option<QueryFile>,
    ingest: Option<IngestFile>,
    storage: Option<StorageFile>,
    detection: Option<DetectionFile>,
    console: Option<ConsoleFile>,
    external_data: Option<ExternalDataFile>,
    oauth: Option<OAuthFile>,
    outbound: Option<OutboundFile>,
    secrets: Option<SecretsFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretsFile {
    key_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutboundFile {
    /// Addresses and CIDR blocks (`10.0.0.0/8`) of internal services the server may call.
    allow: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OAuthFile {
    requests_per_minute_per_source: Option<u32>,
    requests_per_minute_per_client: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExternalDataFile {
    mirror_dir: Option<PathBuf>,
    internet: Option<bool>,
    max_mb: Option<usize>,
    timeout_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsoleFile {
    oidc: Option<ConsoleOidc>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DetectionFile {
    rule_concurrency: Option<usize>,
    rule_concurrency_per_tenant: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    mode: Option<String>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryFile {
    timeout_seconds: Option<u64>,
    memory_mb: Option<usize>,
    max_result_rows: Option<usize>,
    max_result_mb: Option<usize>,
    max_concurrent: Option<usize>,
    max_concurrent_per_tenant: Option<usize>,
    queue_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct IngestFile {
    max_concurrent_requests: Option<usize>,
    max_concurrent_requests_per_tenant: Option<usize>,
    body_timeout_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StorageFile {
    flush_interval_seconds: Option<u64>,
    max_unflushed_mb: Option<usize>,
    max_unflushed_mb_per_workspace: Option<usize>,
    compaction_interval_seconds: Option<u64>,
    segments_url: Option<String>,
}

impl ServerConfig {
    /// Defaults, overridden by `file` when given, then by the environment.
    pub fn load(file: Option<&Path>) -> Result<ServerConfig, String> {
        let mut config = ServerConfig::default();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            config.apply_file(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        config.apply_env(|name| std::env::var(name).ok())?;
        Ok(config)
    }

    fn apply_file(&mut self, text: &str) -> Result<(), String> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| e.to_string())?;
        if let Some(dir) = file.data_dir {
            self.data_dir = dir;
        }
        if let Some(listen) = file.listen {
            self.listen = parse_listen(&listen)?;
        }
        if file.public_url.is_some() {
            self.public_url = file.public_url;
        }
        if let Some(tls) = file.tls {
            self.tls = match (tls.mode.as_deref(), tls.cert, tls.key) {
                (Some("none"), _, _) => TlsMode::Disabled,
                (Some("self-signed") | None, None, None) => TlsMode::SelfSigned,
                (Some("files") | None, Some(cert), Some(key)) => TlsMode::Files { cert, key },
                (mode, _, _) => {
                    return Err(format!(
                        "[tls]: mode {mode:?} with these keys is not valid; use mode = \"self-signed\", mode = \"none\", or cert and key paths"
                    ));
                }
            };
        }
        if let Some(query) = file.query {
            if let Some(seconds) = query.timeout_seconds {
                self.query_timeout = Duration::from_secs(seconds);
            }
            if let Some(mb) = query.memory_mb {
                self.query_memory = mb << 20;
            }
            if let Some(rows) = query.max_result_rows {
                self.result_rows = rows;
            }
            if let Some(mb) = query.max_result_mb {
                self.result_bytes = mb << 20;
            }
            if let Some(limit) = query.max_concurrent {
                self.max_concurrent_queries = limit.max(1);
            }
            if let Some(limit) = query.max_concurrent_per_tenant {
                self.max_concurrent_queries_per_tenant = Some(limit.max(1));
            }
            if let Some(seconds) = query.queue_seconds {
                self.query_queue = Duration::from_secs(seconds);
            }
        }
        if let Some(ingest) = file.ingest {
            if let Some(limit) = ingest.max_concurrent_requests {
                self.max_concurrent_ingest = limit.max(1);
            }
            if let Some(limit) = ingest.max_concurrent_requests_per_tenant {
                self.max_concurrent_ingest_per_tenant = Some(limit.max(1));
            }
            if let Some(seconds) = ingest.body_timeout_seconds {
                self.ingest_body_timeout = Duration::from_secs(seconds.max(1));
            }
        }
        if let Some(oauth) = file.oauth {
            if let Some(limit) = oauth.requests_per_minute_per_source {
                self.token_requests_per_minute_per_source = limit.max(1);
            }
            if let Some(limit) = oauth.requests_per_minute_per_client {
                self.token_requests_per_minute_per_client = limit.max(1);
            }
        }
        if let Some(limit) = file.detection.as_ref().and_then(|d| d.rule_concurrency_per_tenant) {
            self.rule_concurrency_per_tenant = Some(limit.max(1));
        }
        if let Some(concurrency) = file.detection.and_then(|d| d.rule_concurrency) {
            self.rule_concurrency = concurrency.max(1);
        }
        if let Some(external) = file.external_data {
            if external.mirror_dir.is_some() {
                self.external_data.mirror_dir = external.mirror_dir;
            }
            if let Some(internet) = external.internet {
                self.external_data.internet = internet;
            }
            if let Some(mb) = external.max_mb {
                self.external_data.max_bytes = mb.max(1) << 20;
            }
            if let Some(seconds) = external.timeout_seconds {
                self.external_data.timeout = Duration::from_secs(seconds.max(1));
            }
        }
        if let Some(path) = file.secrets.and_then(|s| s.key_file) {
            self.secrets_key = Some(SecretsKeySource::File(path));
        }
        if let Some(outbound) = file.outbound {
            self.outbound = OutboundPolicy::allowing(&outbound.allow).map_err(|e| format!("[outbound] allow: {e}"))?;
        }
        if let Some(oidc) = file.console.and_then(|c| c.oidc) {
            self.console_oidc = Some(oidc);
        }
        if let Some(storage) = file.storage {
            if let Some(seconds) = storage.flush_interval_seconds {
                self.flush_interval = Duration::from_secs(seconds.max(1));
            }
            if let Some(seconds) = storage.compaction_interval_seconds {
                self.compaction_interval = Duration::from_secs(seconds.max(1));
            }
            if storage.segments_url.is_some() {
                self.segments_url = storage.segments_url;
            }
            if let Some(mb) = storage.max_unflushed_mb {
                self.max_unflushed_bytes = mb.max(1) << 20;
            }
            if let Some(mb) = storage.max_unflushed_mb_per_workspace {
                self.max_unflushed_bytes_per_workspace = Some(mb.max(1) << 20);
            }
        }
        Ok(())
    }

    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), String> {
        if let Some(dir) = var("VIGIL_DATA_DIR") {
            self.data_dir = PathBuf::from(dir);
        }
        if let Some(listen) = var("VIGIL_LISTEN") {
            self.listen = parse_listen(&listen).map_err(|e| format!("VIGIL_LISTEN: {e}"))?;
        }
        if let Some(url) = var("VIGIL_PUBLIC_URL") {
            self.public_url = Some(url);
        }
        if let Some(url) = var("VIGIL_SEGMENTS_URL") {
            self.segments_url = Some(url);
        }
        if var("VIGIL_SECRETS_KEY").is_some() {
            self.secrets_key = Some(SecretsKeySource::Environment);
        }
        if let Some(allow) = var("VIGIL_OUTBOUND_ALLOW") {
            let entries: Vec<&str> = allow.split(',').filter(|e| !e.trim().is_empty()).collect();
            self.outbound = OutboundPolicy::allowing(&entries).map_err(|e| format!("VIGIL_OUTBOUND_ALLOW: {e}"))?;
        }
        Ok(())
    }
}

pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| format!("'{text}' is not an address such as 127.0.0.1:8443 or [::]:443"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_environment_override_defaults() {
        let mut config = ServerConfig::default();
        config
            .apply_file(
                "listen = \"0.0.0.0:9000\"\n[tls]\nmode = \"none\"\n[query]\ntimeout_seconds = 5\n[storage]\nflush_interval_seconds = 2",
            )
            .unwrap();
        assert_eq!(config.listen, parse_listen("0.0.0.0:9000").unwrap());
        assert_eq!(config.tls, TlsMode::Disabled);
        assert_eq!(config.query_timeout, Duration::from_secs(5));
        config.apply_env(|name| (name == "VIGIL_LISTEN").then(|| "127.0.0.1:7000".to_string())).unwrap();
        assert_eq!(config.listen.port(), 7000);
    }

    #[test]
    fn shares_per_tenant_are_configured_or_left_to_the_default() {
        let mut config = ServerConfig::default();
        config
            .apply_file(
                "[ingest]\nmax_concurrent_requests_per_tenant = 8\n[query]\nmax_concurrent = 6\nqueue_seconds = 3\n\
                 [detection]\nrule_concurrency = 4\nrule_concurrency_per_tenant = 0\n\
                 [storage]\nmax_unflushed_mb = 256\nmax_unflushed_mb_per_workspace = 64",
            )
            .unwrap();
        assert_eq!(config.max_concurrent_ingest_per_tenant, Some(8));
        assert_eq!((config.max_concurrent_queries, config.max_concurrent_queries_per_tenant), (6, None));
        assert_eq!(config.query_queue, Duration::from_secs(3));
        assert_eq!((config.rule_concurrency, config.rule_concurrency_per_tenant), (4, Some(1)));
        assert_eq!((config.max_unflushed_bytes, config.max_unflushed_bytes_per_workspace), (256 << 20, Some(64 << 20)));
    }

    #[test]
    fn mistakes_are_named() {
        let mut config = ServerConfig::default();
        assert!(config.apply_file("lisen = \"x\"").unwrap_err().contains("unknown field `lisen`"));
        assert!(config.apply_file("listen = \"localhost\"").unwrap_err().contains("not an address"));
        assert!(config.apply_file("[tls]\ncert = \"a.pem\"").unwrap_err().contains("[tls]"));
        assert!(config.apply_file("[outbound]\nallow = [\"10.0.0.0/40\"]").unwrap_err().contains("[outbound] allow"));
    }

    #[test]
    fn the_secrets_key_is_kept_beside_the_data_dir_never_in_it() {
        let dir = tempfile::tempdir().unwrap();
        let config = ServerConfig { data_dir: dir.path().join("vigil-data"), ..ServerConfig::default() };
        let key = config.seal_key().unwrap();
        assert!(dir.path().join("vigil-data.key").is_file());
        assert_eq!(config.seal_key().unwrap().to_text(), key.to_text(), "read back, not made again");
        let mut inside = config.clone();
        inside.apply_file(&format!("[secrets]\nkey_file = {:?}", dir.path().join("vigil-data/secrets.key"))).unwrap();
        assert!(inside.seal_key().unwrap_err().contains("inside the data dir"));
    }

    #[test]
    fn the_outbound_allow_list_comes_from_the_file_or_the_environment() {
        let mut config = ServerConfig::default();
        assert!(!config.outbound.permits("10.1.2.3".parse().unwrap()), "internal addresses are refused by default");
        config.apply_file("[outbound]\nallow = [\"10.0.0.0/8\"]").unwrap();
        assert!(config.outbound.permits("10.1.2.3".parse().unwrap()));
        config.apply_env(|name| (name == "VIGIL_OUTBOUND_ALLOW").then(|| "127.0.0.1, ::1".to_string())).unwrap();
        assert!(config.outbound.permits("::1".parse().unwrap()));
        assert!(!config.outbound.permits("10.1.2.3".parse().unwrap()), "the environment replaces the file's list");
    }
}
