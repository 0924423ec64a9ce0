//! The harness of the server's HTTP tests: a real `vigil serve` router over HTTPS, with a
//! real store and control database in a temporary data dir, the Keeper Security table and
//! DCR, a publisher and a reader.
#![allow(dead_code)] // Each test binary uses its own part of the harness.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value as Json, json};
use vigil_control::{Role, Scope};
use vigil_server::config::{SecretsKeySource, ServerConfig, TlsMode};
use vigil_server::state::AppState;

pub struct Server {
    pub url: String,
    pub client: reqwest::Client,
    pub state: Arc<AppState>,
    pub tenant: String,
    pub workspace: String,
    pub dcr: String,
    pub other_dcr: String,
    pub publisher: (String, String),
    pub reader: (String, String),
    pub _dir: tempfile::TempDir,
    pub _keys: tempfile::TempDir,
}

pub fn keeper_file(name: &str) -> String {
    let dir = std::env::var("VIGIL_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance"));
    std::fs::read_to_string(dir.join("sentinel/keeper-security").join(name)).expect("the Keeper solution files")
}

pub const OTHER_TABLE: &str = r#"{"name":"Other_CL","properties":{"schema":{"name":"Other_CL","columns":[
    {"name":"TimeGenerated","type":"datetime"},{"name":"Message","type":"string"}]}}}"#;
pub const OTHER_DCR: &str = r#"{"name":"other","properties":{"streamDeclarations":{"Custom-Other":{"columns":[
    {"name":"Message","type":"string"}]}},"dataFlows":[{"streams":["Custom-Other"],"outputStream":"Custom-Other_CL"}]}}"#;

pub async fn start() -> Server {
    start_with(|_| {}).await
}

/// A server whose configuration `configure` changes first (limits, intervals).
pub async fn start_with(configure: impl FnOnce(&mut ServerConfig)) -> Server {
    let (running, bootstrap) = serve_dir(tempfile::tempdir().unwrap(), configure).await;
    let bootstrap = bootstrap.expect("a fresh data dir is bootstrapped");
    let control = &running.state.control;
    let ws = bootstrap.workspace.id.clone();
    control.put_table(&ws, &keeper_file("KepperSecurity_table.json")).await.unwrap();
    control.put_table(&ws, OTHER_TABLE).await.unwrap();
    let check = &vigil_content::check_transform;
    let dcr = control.put_dcr(&ws, &keeper_file("KeeperSecurityEventLogs_DCR.json"), check).await.unwrap().immutable_id;
    let other_dcr = control.put_dcr(&ws, OTHER_DCR, check).await.unwrap().immutable_id;
    let tenant = bootstrap.tenant.id.clone();
    let publisher = control
        .create_app(&tenant, "keeper", &[(Role::MonitoringMetricsPublisher, Scope::Dcr(dcr.clone()))], None)
        .await
        .unwrap();
    let reader =
        control.create_app(&tenant, "analyst", &[(Role::Reader, Scope::Workspace(ws.clone()))], None).await.unwrap();
    Server {
        url: running.url,
        client: running.client,
        state: running.state,
        tenant,
        workspace: ws,
        dcr,
        other_dcr,
        publisher: (publisher.client_id, publisher.client_secret),
        reader: (reader.client_id, reader.client_secret),
        _dir: running.dir,
        _keys: running.keys,
    }
}

/// A real server over HTTPS on a data dir as it is (fresh, or written before).
pub struct Running {
    pub url: String,
    pub client: reqwest::Client,
    pub state: Arc<AppState>,
    pub dir: tempfile::TempDir,
    /// Where the key sealing the data dir's secrets is, apart from it as in a deployment.
    pub keys: tempfile::TempDir,
}

/// Serves `dir`: what the first start of a fresh data dir created, if it was fresh.
pub async fn serve_dir(
    dir: tempfile::TempDir,
    configure: impl FnOnce(&mut ServerConfig),
) -> (Running, Option<vigil_control::Bootstrap>) {
    let mut config = ServerConfig {
        data_dir: dir.path().to_path_buf(),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        tls: TlsMode::SelfSigned,
        ..ServerConfig::default()
    };
    // Bound first, as `vigil serve` binds, so that the origin has the real port; clients reach
    // it by name, which the self-signed certificate carries.
    let listener = std::net::TcpListener::bind(config.listen).unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    config.public_url = Some(format!("https://localhost:{port}"));
    let keys = tempfile::tempdir().unwrap();
    config.secrets_key = Some(SecretsKeySource::File(keys.path().join("secrets.key")));
    configure(&mut config);
    let (state, bootstrap) = vigil_server::open(config.clone()).await.unwrap();
    let (cert, key) = vigil_server::tls::self_signed(dir.path()).unwrap();
    let tls = vigil_server::tls::rustls_config(&cert, &key).await.unwrap();
    let handle = axum_server::Handle::new();
    let app = vigil_server::router(state.clone());
    let server_handle = handle.clone();
    tokio::spawn(async move {
        axum_server::from_tcp_rustls(listener, tls)
            .unwrap()
            .handle(server_handle)
            .serve(app.into_make_service_with_connect_info::<SocketAddr>())
            .await
            .unwrap();
    });
    let address = handle.listening().await.unwrap();
    let pem = std::fs::read(&cert).unwrap();
    let client =
        reqwest::Client::builder().add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap()).build().unwrap();
    (Running { url: format!("https://localhost:{}", address.port()), client, state, dir, keys }, bootstrap)
}

impl Server {
    pub async fn token(&self, tenant: &str, (id, secret): &(String, String), scope: &str) -> reqwest::Response {
        self.client
            .post(format!("{}/{tenant}/oauth2/v2.0/token", self.url))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", secret),
                ("scope", scope),
            ])
            .send()
            .await
            .unwrap()
    }

    pub async fn access_token(&self, app: &(String, String), scope: &str) -> String {
        let response = self.token(&self.tenant, app, scope).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Json = response.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 3599);
        body["access_token"].as_str().unwrap().to_string()
    }

    pub async fn ingest(
        &self,
        dcr: &str,
        stream: &str,
        token: Option<&str>,
        body: Vec<u8>,
        gzip: bool,
    ) -> (StatusCode, Json) {
        let mut request = self
            .client
            .post(format!("{}/dataCollectionRules/{dcr}/streams/{stream}?api-version=2023-01-01", self.url))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if gzip {
            request = request.header("content-encoding", "gzip");
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, if text.is_empty() { Json::Null } else { serde_json::from_str(&text).unwrap() })
    }

    pub async fn query(&self, workspace: &str, token: &str, query: &str) -> (StatusCode, Json) {
        let response = self
            .client
            .post(format!("{}/v1/workspaces/{workspace}/query", self.url))
            .bearer_auth(token)
            .json(&json!({"query": query, "timespan": "PT3600.0S", "workspaces": null}))
            .send()
            .await
            .unwrap();
        (response.status(), response.json().await.unwrap())
    }

    pub async fn count(&self, table: &str) -> i64 {
        let token = self.access_token(&self.reader, &format!("{}/.default", self.url)).await;
        let (status, body) = self.query(&self.workspace, &token, &format!("{table} | count")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["tables"][0]["rows"][0][0].as_i64().unwrap()
    }

    /// A token signed with the server's own key, with claims of the test's choosing.
    pub async fn forge(&self, claims: Json) -> String {
        let key = self.state.control.signing_keys().await.unwrap().remove(0);
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(key.kid);
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ec_der(&key.pkcs8)).unwrap()
    }

    pub fn claims(&self, audience: &str, tenant: &str, app: &str, expires_in: i64) -> Json {
        let now = chrono::Utc::now().timestamp();
        json!({"aud": audience, "iss": format!("{}/{tenant}/v2.0", self.url), "iat": now - 10, "nbf": now - 10,
               "exp": now + expires_in, "sub": app, "oid": app, "tid": tenant, "appid": app, "azp": app, "ver": "2.0"})
    }
}

pub fn keeper_events(count: usize) -> Vec<u8> {
    let events: Vec<Json> = (0..count)
        .map(|i| {
            json!({"audit_event": if i % 2 == 0 { "change_master_password" } else { "login" },
                   "remote_address": "198.51.100.7", "category": "security", "client_version": "EMConsole.17",
                   "enterprise_id": 8114, "username": format!("user{i}@example.com"),
                   "timestamp": "2026-11-23T08:00:00Z", "data": {"i": i}})
        })
        .collect();
    serde_json::to_vec(&events).unwrap()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

pub const STREAM: &str = "Custom-KeeperSecurityEventNewLogs";

/// `method path` with a bearer token and an optional JSON body: the status and the JSON answer.
pub async fn call(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Json>,
) -> (StatusCode, Json) {
    let mut request = server.client.request(method, format!("{}{path}", server.url)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Json::String(text)))
}
