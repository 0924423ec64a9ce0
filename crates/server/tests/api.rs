//! The server's APIs over real HTTPS, with a real store and control database in a temporary
//! data dir: tokens, the Logs Ingestion API's statuses and error bodies, the query API, and
//! the security checks (missing, expired, forged, wrong-audience and wrong-tenant tokens;
//! publishers and readers confined to their scope).

mod common;

use std::path::PathBuf;

use common::Server;
use common::{STREAM, call, gzip, keeper_events, keeper_file, start, start_with};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value as Json, json};
use vigil_control::{PrincipalId, Role, Scope};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeper_events_land_renamed_and_read_back() {
    let server = start().await;
    let discovery: Json = server
        .client
        .get(format!("{}/{}/v2.0/.well-known/openid-configuration", server.url, server.tenant))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], format!("{}/{}/v2.0", server.url, server.tenant));
    assert_eq!(discovery["token_endpoint"], format!("{}/{}/oauth2/v2.0/token", server.url, server.tenant));
    let jwks: Json =
        server.client.get(discovery["jwks_uri"].as_str().unwrap()).send().await.unwrap().json().await.unwrap();
    assert_eq!(jwks["keys"][0]["kty"], "EC");

    let token = server.access_token(&server.publisher, "https://monitor.azure.com//.default").await;
    let (status, body) = server.ingest(&server.dcr, STREAM, Some(&token), gzip(&keeper_events(10)), true).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let reader = server.access_token(&server.reader, &format!("{}/.default", server.url)).await;
    let (status, body) = server
        .query(
            &server.workspace,
            &reader,
            "KeeperSecurityEventNewLogs_CL | summarize n = count(), changes = countif(AuditEvent == 'change_master_password'), \
             ent = take_any(EnterpriseId), ip = take_any(RemoteAddress), fresh = countif(TimeGenerated > ago(5m))",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["tables"][0]["rows"][0], json!([10, 5, 8114, "198.51.100.7", 10]));
    let types: Vec<&str> =
        body["tables"][0]["columns"].as_array().unwrap().iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["long", "long", "int", "string", "long"]);

    // A syntax error comes back in Log Analytics' shape with the position.
    let (status, body) = server.query(&server.workspace, &reader, "KeeperSecurityEventNewLogs_CL | where").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "BadArgumentError");
    assert_eq!(body["error"]["innererror"]["code"], "SyntaxError");
    assert_eq!(body["error"]["innererror"]["line"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_are_refused() {
    let server = start().await;
    let body = keeper_events(1);
    let (status, error) = server.ingest(&server.dcr, STREAM, None, body.clone(), false).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "missing token");
    assert_eq!(error["error"]["code"], "InvalidAuthenticationToken");

    let expired =
        server.forge(server.claims("https://monitor.azure.com", &server.tenant, &server.publisher.0, -3600)).await;
    let (status, error) = server.ingest(&server.dcr, STREAM, Some(&expired), body.clone(), false).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(error["error"]["message"].as_str().unwrap().contains("expired"), "{error}");

    let wrong_audience = server.access_token(&server.publisher, "https://api.loganalytics.io/.default").await;
    let (status, error) = server.ingest(&server.dcr, STREAM, Some(&wrong_audience), body.clone(), false).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(error["error"]["message"].as_str().unwrap().contains("audience"), "{error}");

    let good = server.access_token(&server.publisher, "https://monitor.azure.com/.default").await;
    let mut forged = good.clone();
    let signature_start = forged.rfind('.').unwrap() + 1;
    forged.replace_range(
        signature_start..signature_start + 4,
        if &forged[signature_start..signature_start + 4] == "AAAA" { "BBBB" } else { "AAAA" },
    );
    let (status, _) = server.ingest(&server.dcr, STREAM, Some(&forged), body.clone(), false).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a token with a bad signature");
    let other_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(server.state.control.signing_keys().await.unwrap()[0].kid.clone());
    let claims = server.claims("https://monitor.azure.com", &server.tenant, &server.publisher.0, 3600);
    let self_signed =
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ec_der(&other_key.serialize_der())).unwrap();
    let (status, _) = server.ingest(&server.dcr, STREAM, Some(&self_signed), body.clone(), false).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a token signed with another key");

    // A valid token of another tenant: authenticated, but not allowed here.
    let other = server.state.control.create_tenant("other").await.unwrap();
    let stranger = server.forge(server.claims("https://monitor.azure.com", &other.id, &server.publisher.0, 3600)).await;
    let (status, error) = server.ingest(&server.dcr, STREAM, Some(&stranger), body.clone(), false).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{error}");

    // A publisher on one DCR cannot write to another.
    let other_body = serde_json::to_vec(&json!([{"Message": "x"}])).unwrap();
    let (status, error) = server.ingest(&server.other_dcr, "Custom-Other", Some(&good), other_body, false).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{error}");

    // A reader of one workspace cannot query another.
    let second = server.state.control.create_workspace(&server.tenant, "second").await.unwrap();
    let reader = server.access_token(&server.reader, &format!("{}/.default", server.url)).await;
    let (status, _) = server.query(&second.id, &reader, "print 1").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // And a publisher token cannot query at all.
    let (status, _) = server.query(&server.workspace, &good, "print 1").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "an ingestion token has the wrong audience for queries");

    // Wrong secrets and unknown tenants at the token endpoint.
    let response = server
        .token(&server.tenant, &(server.publisher.0.clone(), "wrong".into()), "https://monitor.azure.com/.default")
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.json::<Json>().await.unwrap()["error"], "invalid_client");
    let response = server.token("no-such-tenant", &server.publisher, "https://monitor.azure.com/.default").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.json::<Json>().await.unwrap()["error_codes"][0], 90002);
    assert_eq!(server.count("KeeperSecurityEventNewLogs_CL").await, 0, "nothing refused was written");
}

/// The audience and issuer a server accepts are its configured origin's, whatever `Host` a
/// request claims: a forged `Host` equal to another API's audience must not let that API's
/// tokens in, nor change the issuer the server announces and signs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_header_chooses_neither_audience_nor_issuer() {
    let server = start().await;
    for host in ["monitor.azure.com", "monitor.azure.com:443"] {
        // An ingestion-only token, asked for under the same forged Host.
        let response = token_under_host(&server, host, &server.publisher, "https://monitor.azure.com/.default").await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Json = response.json().await.unwrap();
        let ingestion_only = body["access_token"].as_str().unwrap();
        let response = server
            .client
            .post(format!("{}/v1/workspaces/{}/query", server.url, server.workspace))
            .header("host", host)
            .bearer_auth(ingestion_only)
            .json(&json!({"query": "print 1"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "an ingestion token with Host: {host}");
        assert_eq!(decode_claims(ingestion_only)["iss"], format!("{}/{}/v2.0", server.url, server.tenant));
    }

    let configuration: Json = server
        .client
        .get(format!("{}/{}/v2.0/.well-known/openid-configuration", server.url, server.tenant))
        .header("host", "attacker.example")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(configuration["issuer"], format!("{}/{}/v2.0", server.url, server.tenant));
    assert_eq!(configuration["token_endpoint"], format!("{}/{}/oauth2/v2.0/token", server.url, server.tenant));

    // A token requested through a forged Host is issued by, and for, the configured origin only.
    let response =
        token_under_host(&server, "attacker.example", &server.reader, "https://attacker.example/.default").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "the forged Host's origin is no resource here");
    let own = server.access_token(&server.reader, &format!("{}/.default", server.url)).await;
    let claims = decode_claims(&own);
    assert_eq!(claims["iss"], format!("{}/{}/v2.0", server.url, server.tenant));
    let (status, body) = server.query(&server.workspace, &own, "print 1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Everything a running server keeps (control and detection databases with the signing keys
/// and playbook secrets, the write-ahead log, Parquet segments, the TLS key) is private to the
/// account that runs it.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_dir_is_readable_only_by_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let server = start().await;
    let token = server.access_token(&server.publisher, "https://monitor.azure.com/.default").await;
    let (status, body) = server.ingest(&server.dcr, STREAM, Some(&token), keeper_events(3), false).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    server.state.store.close().await.unwrap();
    let mut pending = vec![server._dir.path().to_path_buf()];
    let mut files = 0;
    while let Some(path) = pending.pop() {
        let metadata = std::fs::symlink_metadata(&path).unwrap();
        assert_eq!(metadata.permissions().mode() & 0o077, 0, "{} is open to other users", path.display());
        if metadata.is_dir() {
            pending.extend(std::fs::read_dir(&path).unwrap().map(|entry| entry.unwrap().path()));
        } else {
            files += 1;
        }
    }
    assert!(files >= 5, "the databases, the log and a segment were written ({files} files)");
}

/// The token endpoint answers an unknown client as it answers a wrong secret, and as late (so
/// neither the body nor the timing tells which client ids exist), and refuses floods per client
/// and per source address with 429 and `Retry-After` before it spends a secret check on them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_requests_are_limited_and_do_not_reveal_which_clients_exist() {
    let server = start_with(|config| {
        config.token_requests_per_minute_per_client = 5;
        config.token_requests_per_minute_per_source = 12;
    })
    .await;
    let scope = "https://monitor.azure.com/.default";
    let wrong_secret = (server.publisher.0.clone(), "not-the-secret".to_string());
    let unknown_client = (uuid::Uuid::new_v4().to_string(), "not-the-secret".to_string());
    let (mut known_times, mut unknown_times) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        for (app, times) in [(&wrong_secret, &mut known_times), (&unknown_client, &mut unknown_times)] {
            let started = std::time::Instant::now();
            let response = server.token(&server.tenant, app, scope).await;
            times.push(started.elapsed());
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            let body: Json = response.json().await.unwrap();
            assert_eq!(body["error"], "invalid_client", "{body}");
            assert_eq!(body["error_codes"][0], 7000215, "{body}");
        }
    }
    known_times.sort();
    unknown_times.sort();
    assert!(
        unknown_times[2] * 2 >= known_times[2],
        "an unknown client is answered as late as a wrong secret: {unknown_times:?} vs {known_times:?}"
    );

    // The client's sixth request within a minute, even with the right secret.
    let response = server.token(&server.tenant, &server.publisher, scope).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(response.json::<Json>().await.unwrap()["error"], "temporarily_unavailable");

    // Another client still gets its token, until the source's own limit (12) is used up.
    let response = server.token(&server.tenant, &server.reader, scope).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = server.token(&server.tenant, &server.reader, scope).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "the 13th request from this address");
    let response = server.token("no-such-tenant", &server.reader, scope).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "refused before anything is looked up");
}

/// Every response names its request (`x-ms-request-id`), and an error body quotes the same id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_its_request_id() {
    let server = start().await;
    let id_of = |response: &reqwest::Response| {
        let id = response.headers().get("x-ms-request-id").expect("a request id").to_str().unwrap().to_string();
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
        id
    };
    let healthy = server.client.get(format!("{}/healthz", server.url)).send().await.unwrap();
    let refused = server.client.get(format!("{}/api/alerts", server.url)).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let unknown_tenant = server.token("no-such-tenant", &server.reader, "https://monitor.azure.com/.default").await;
    let ids = [id_of(&healthy), id_of(&refused), id_of(&unknown_tenant)];
    assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2], "{ids:?}");
    let body: Json = unknown_tenant.json().await.unwrap();
    assert_eq!(body["trace_id"], ids[2], "the token endpoint's error quotes the request id");
}

/// Listings show that a credential is set, never the credential: webhook secrets and SMTP
/// passwords, the whole of a Slack or Teams webhook URL's path (which is its key), and the user
/// information and query values of any other URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automation_listings_redact_every_credential() {
    let server = start().await;
    let owner = server
        .state
        .control
        .create_app(&server.tenant, "owner", &[(Role::Owner, Scope::Tenant(server.tenant.clone()))], None)
        .await
        .unwrap();
    let token =
        server.access_token(&(owner.client_id, owner.client_secret), "https://management.azure.com/.default").await;
    let document = json!({"playbooks": [
        {"name": "hook", "kind": "webhook", "url": "https://ops:hunter2@hooks.example.com/in?code=K3Y&v=1", "secret": "s3cret"},
        {"name": "slack", "kind": "slack", "url": "https://hooks.slack.com/services/T000/B000/XXXXSLACKKEY"},
        {"name": "teams", "kind": "teams", "url": "https://example.webhook.office.com/webhookb2/abc@def/IncomingWebhook/TEAMSKEY/xyz"},
        {"name": "mail", "kind": "email", "host": "smtp.example.com", "username": "u", "password": "mailpass",
         "from": "vigil@example.com", "to": ["soc@example.com"]},
    ]});
    let path = format!("/api/workspaces/{}/automation", server.workspace);
    let (status, body) = call(&server, reqwest::Method::POST, &path, &token, Some(document)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, listing) = call(&server, reqwest::Method::GET, &path, &token, None).await;
    assert_eq!(status, StatusCode::OK, "{listing}");
    let text = listing.to_string();
    for secret in ["hunter2", "K3Y", "s3cret", "XXXXSLACKKEY", "T000", "TEAMSKEY", "abc@def", "mailpass"] {
        assert!(!text.contains(secret), "the listing shows {secret}: {text}");
    }
    let playbook =
        |name: &str| listing["playbooks"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap().clone();
    assert_eq!(playbook("hook")["secret"], "(set)");
    assert!(playbook("hook")["url"].as_str().unwrap().starts_with("https://"), "{listing}");
    assert!(
        playbook("hook")["url"].as_str().unwrap().contains("hooks.example.com/in"),
        "the host and path stay: {listing}"
    );
    assert!(playbook("slack")["url"].as_str().unwrap().starts_with("https://hooks.slack.com/"), "{listing}");
    assert_eq!(playbook("mail")["password"], "(set)");

    // A file path over the REST API would make the server read any file it can: refused whole.
    let reads_a_file = json!({"playbooks": [
        {"name": "fine", "kind": "webhook", "url": "https://hooks.example.com/ok"},
        {"name": "reader", "kind": "email", "host": "smtp.example.com", "caCertFile": "/etc/shadow",
         "from": "vigil@example.com", "to": ["soc@example.com"]},
    ]});
    let (status, body) = call(&server, reqwest::Method::POST, &path, &token, Some(reads_a_file)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("vigil automation import"), "{body}");
    let (_, listing) = call(&server, reqwest::Method::GET, &path, &token, None).await;
    assert_eq!(
        listing["playbooks"].as_array().unwrap().len(),
        4,
        "nothing of the refused document was kept: {listing}"
    );
}

/// A client-credentials token request that claims `host` as the server's name.
async fn token_under_host(
    server: &common::Server,
    host: &str,
    (id, secret): &(String, String),
    scope: &str,
) -> reqwest::Response {
    server
        .client
        .post(format!("{}/{}/oauth2/v2.0/token", server.url, server.tenant))
        .header("host", host)
        .form(&[("grant_type", "client_credentials"), ("client_id", id), ("client_secret", secret), ("scope", scope)])
        .send()
        .await
        .unwrap()
}

/// The claims of a JWT, unverified (the test checks what the server put in them).
fn decode_claims(token: &str) -> Json {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_its_status_and_writes_nothing() {
    let server = start().await;
    let token = server.access_token(&server.publisher, "https://monitor.azure.com/.default").await;
    let cases: Vec<(&str, Vec<u8>, bool, StatusCode, &str)> = vec![
        ("malformed JSON", b"[{\"audit_event\": ".to_vec(), false, StatusCode::BAD_REQUEST, "InvalidJson"),
        ("not an array", b"{\"audit_event\": \"login\"}".to_vec(), false, StatusCode::BAD_REQUEST, "InvalidPayload"),
        (
            "wrong type",
            serde_json::to_vec(&json!([{"audit_event": "login"}, {"enterprise_id": "eight"}])).unwrap(),
            false,
            StatusCode::BAD_REQUEST,
            "InvalidDataFormat",
        ),
        (
            "truncated gzip",
            gzip(&keeper_events(50))[..200].to_vec(),
            true,
            StatusCode::BAD_REQUEST,
            "InvalidContentEncoding",
        ),
        (
            "1 MiB + 1 byte",
            vec![b' '; (1 << 20) + 1],
            false,
            StatusCode::PAYLOAD_TOO_LARGE,
            "ContentLengthLimitExceeded",
        ),
        (
            "1 MiB + 1 byte once decompressed",
            gzip(&vec![b' '; (1 << 20) + 1]),
            true,
            StatusCode::PAYLOAD_TOO_LARGE,
            "ContentLengthLimitExceeded",
        ),
    ];
    for (name, body, gzipped, status, code) in cases {
        let (got, error) = server.ingest(&server.dcr, STREAM, Some(&token), body, gzipped).await;
        assert_eq!((got, error["error"]["code"].as_str().unwrap_or("")), (status, code), "{name}: {error}");
    }
    let (_, error) = server
        .ingest(
            &server.dcr,
            STREAM,
            Some(&token),
            serde_json::to_vec(&json!([{}, {"enterprise_id": "eight"}])).unwrap(),
            false,
        )
        .await;
    assert_eq!(
        error["error"]["message"],
        "record at index 1: column 'enterprise_id' expects an int (a whole number between -2147483648 and 2147483647), got \"eight\""
    );
    let (status, error) =
        server.ingest("dcr-00000000000000000000000000000000", STREAM, Some(&token), keeper_events(1), false).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{error}");
    let (status, error) = server.ingest(&server.dcr, "Custom-Nope", Some(&token), keeper_events(1), false).await;
    assert_eq!((status, error["error"]["code"].as_str().unwrap()), (StatusCode::NOT_FOUND, "InvalidStream"));
    assert_eq!(server.count("KeeperSecurityEventNewLogs_CL").await, 0, "nothing refused was written");
}

/// A stand-in for an organisation's identity provider (Keycloak, Entra ID): its JWKS over
/// real HTTP, and tokens signed with its key.
struct ExternalIdp {
    key: rcgen::KeyPair,
    jwks_uri: String,
}

async fn external_idp() -> ExternalIdp {
    use base64::Engine as _;
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let point = key.public_key_raw().to_vec();
    let encode = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "idp-1", "use": "sig", "alg": "ES256",
                                 "x": encode(&point[1..33]), "y": encode(&point[33..])}]});
    let app = axum::Router::new().route("/keys", axum::routing::get(move || async move { axum::Json(jwks) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    ExternalIdp { key, jwks_uri: format!("http://{address}/keys") }
}

const IDP_ISSUER: &str = "https://idp.example.com/realms/acme";

/// The stand-in identity provider listens on this machine, whose addresses the server fetches
/// issuers' keys from only when the operator allows it.
fn idp_on_this_machine(config: &mut vigil_server::config::ServerConfig) {
    config.outbound = vigil_outbound::OutboundPolicy::allowing(&["127.0.0.1"]).unwrap();
}

impl ExternalIdp {
    /// A token of the identity provider with `claims` over its issuer, audience and lifetime.
    fn token_with(&self, key: &rcgen::KeyPair, audience: &str, claims: Json) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut all = json!({"iss": IDP_ISSUER, "aud": audience, "iat": now, "exp": now + 300});
        all.as_object_mut().unwrap().extend(claims.as_object().unwrap().clone());
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("idp-1".into());
        jsonwebtoken::encode(&header, &all, &EncodingKey::from_ec_der(&key.serialize_der())).unwrap()
    }

    /// A person's token, obtained through the console's client `azp`.
    fn user_token(&self, audience: &str, oid: &str, azp: &str, upn: &str) -> String {
        self.token_with(
            &self.key,
            audience,
            json!({"oid": oid, "sub": format!("pairwise-{oid}"), "azp": azp,
                                                    "preferred_username": upn, "scp": "openid"}),
        )
    }

    async fn trusted_by(self, server: &Server) -> ExternalIdp {
        let control = &server.state.control;
        let issuer = vigil_control::ExternalIssuer {
            tenant_id: server.tenant.clone(),
            issuer: IDP_ISSUER.into(),
            jwks_uri: self.jwks_uri.clone(),
        };
        control.add_external_issuer(&issuer).await.unwrap();
        self
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_of_a_trusted_external_issuer_are_accepted() {
    let server = start_with(idp_on_this_machine).await;
    let idp = external_idp().await.trusted_by(&server).await;
    let analyst = PrincipalId::external(IDP_ISSUER, "u-alice");
    let reader = Role::Reader;
    server
        .state
        .control
        .assign_role(&server.tenant, &analyst, reader, &Scope::Workspace(server.workspace.clone()))
        .await
        .unwrap();

    let token = idp.user_token("https://api.loganalytics.io", "u-alice", "soc-console", "alice@acme.example");
    let (status, body) = server.query(&server.workspace, &token, "print answer = 42").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["tables"][0]["rows"][0][0], 42);

    let impostor = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let forged = idp.token_with(&impostor, "https://api.loganalytics.io", json!({"oid": "u-alice"}));
    assert_eq!(
        server.query(&server.workspace, &forged, "print 1").await.0,
        StatusCode::UNAUTHORIZED,
        "signed with another key"
    );
    let wrong_audience = idp.user_token("https://monitor.azure.com", "u-alice", "soc-console", "alice@acme.example");
    assert_eq!(server.query(&server.workspace, &wrong_audience, "print 1").await.0, StatusCode::UNAUTHORIZED);
    // Keys on this machine are fetched only because the operator allowed it.
    let strict = start().await;
    let held = external_idp().await.trusted_by(&strict).await;
    let token = held.user_token("https://api.loganalytics.io", "u-alice", "soc-console", "alice@acme.example");
    let (status, refused) = strict.query(&strict.workspace, &token, "print 1").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
    assert!(refused.to_string().contains("not a public address"), "{refused}");
    let unassigned = idp.user_token("https://api.loganalytics.io", "u-bob", "soc-console", "bob@acme.example");
    assert_eq!(server.query(&server.workspace, &unassigned, "print 1").await.0, StatusCode::FORBIDDEN, "no role");
}

/// Item 1 of the hardening issue. On ac06a67 a token was its client's (`appid`/`azp`) before
/// its user's, and role assignments named no issuer: every person signing in through one
/// client was one principal, and an external token naming a Vigil application's client id
/// held that application's roles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_is_their_issuer_and_subject_not_the_client_they_signed_in_with() {
    use reqwest::Method;
    let server = start_with(idp_on_this_machine).await;
    let idp = external_idp().await.trusted_by(&server).await;
    let control = &server.state.control;
    let console_client = "soc-console";
    // The client a person signs in through holds a role, as "the console's OIDC client" would.
    let workspace = Scope::Workspace(server.workspace.clone());
    control
        .assign_role(&server.tenant, &PrincipalId::external(IDP_ISSUER, console_client), Role::Reader, &workspace)
        .await
        .unwrap();
    control
        .assign_role(&server.tenant, &PrincipalId::external(IDP_ISSUER, "u-alice"), Role::Responder, &workspace)
        .await
        .unwrap();

    let alice = idp.user_token("https://management.azure.com", "u-alice", console_client, "alice@acme.example");
    let (status, me) = call(&server, Method::GET, "/api/me", &alice, None).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["principal"]["id"], "u-alice", "{me}");
    assert_eq!(me["principal"]["issuer"], IDP_ISSUER, "{me}");
    assert_eq!(me["principal"]["actor"], "alice@acme.example", "history records the person: {me}");
    assert_eq!(me["roles"], json!([{"role": "Responder", "scope": format!("workspace:{}", server.workspace)}]));

    let bob = idp.user_token("https://api.loganalytics.io", "u-bob", console_client, "bob@acme.example");
    assert_eq!(
        server.query(&server.workspace, &bob, "print 1").await.0,
        StatusCode::FORBIDDEN,
        "Bob is not the client"
    );

    // An external subject named like the Vigil reader application is not that application.
    let namesake = idp.token_with(
        &idp.key,
        "https://api.loganalytics.io",
        json!({"oid": server.reader.0, "appid": server.reader.0, "azp": server.reader.0}),
    );
    assert_eq!(server.query(&server.workspace, &namesake, "print 1").await.0, StatusCode::FORBIDDEN);
    let reader = server.access_token(&server.reader, "https://api.loganalytics.io/.default").await;
    assert_eq!(server.query(&server.workspace, &reader, "print 1").await.0, StatusCode::OK, "the application itself");

    // One issuer is trusted by one tenant: a second tenant may not take it over.
    let other = control.create_tenant("other").await.unwrap();
    let shared = vigil_control::ExternalIssuer {
        tenant_id: other.id,
        issuer: IDP_ISSUER.into(),
        jwks_uri: idp.jwks_uri.clone(),
    };
    assert!(matches!(control.add_external_issuer(&shared).await, Err(vigil_control::ControlError::Conflict(_))));
}

/// Item 5 of the hardening issue: on ac06a67 nothing could be disabled, deleted, unassigned
/// or distrusted, and a token outlived its application's secret rotation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_takes_effect_on_the_next_request() {
    use reqwest::Method;
    let server = start_with(idp_on_this_machine).await;
    let idp = external_idp().await.trusted_by(&server).await;
    let management = "https://management.azure.com/.default";
    let analytics = "https://api.loganalytics.io/.default";
    let owner = server
        .state
        .control
        .create_app(&server.tenant, "owner-2", &[(Role::Owner, Scope::Tenant(server.tenant.clone()))], None)
        .await
        .unwrap();
    let owner = server.access_token(&(owner.client_id, owner.client_secret), management).await;
    let ws = server.workspace.clone();
    let reader_id = server.reader.0.clone();
    let works = |token: String| {
        let server = &server;
        let ws = ws.clone();
        async move { server.query(&ws, &token, "print 1").await.0 }
    };

    // A new secret: the token got with the old one stops working; one got right after works.
    let before = server.access_token(&server.reader, analytics).await;
    assert_eq!(works(before.clone()).await, StatusCode::OK);
    let (status, rotated) = call(&server, Method::POST, &format!("/api/apps/{reader_id}/secret"), &owner, None).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let reader = (reader_id.clone(), rotated["client_secret"].as_str().unwrap().to_string());
    let (status, refused) = server.query(&ws, &before, "print 1").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("revoked"), "{refused}");
    assert_eq!(works(server.access_token(&reader, analytics).await).await, StatusCode::OK);

    // Disabled: its tokens stop working and it gets no new one; enabled again, it does.
    let held = server.access_token(&reader, analytics).await;
    let path = format!("/api/apps/{reader_id}");
    let (status, app) = call(&server, Method::PATCH, &path, &owner, Some(json!({"enabled": false}))).await;
    assert_eq!((status, &app["enabled"]), (StatusCode::OK, &json!(false)), "{app}");
    assert_eq!(works(held).await, StatusCode::UNAUTHORIZED);
    let refused = server.token(&server.tenant, &reader, analytics).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let refused: Json = refused.json().await.unwrap();
    assert_eq!(
        (refused["error"].as_str(), refused["error_codes"][0].as_i64()),
        (Some("unauthorized_client"), Some(7000112))
    );
    call(&server, Method::PATCH, &path, &owner, Some(json!({"enabled": true}))).await;
    assert_eq!(works(server.access_token(&reader, analytics).await).await, StatusCode::OK);

    // A role assignment removed: forbidden on the next request, with the same token.
    let held = server.access_token(&reader, analytics).await;
    let (_, assignments) = call(&server, Method::GET, "/api/roleAssignments", &owner, None).await;
    let assignment = assignments.as_array().unwrap().iter().find(|a| a["principal"] == reader_id.as_str()).unwrap();
    assert!(assignment.get("issuer").is_none(), "a Vigil application has no issuer: {assignment}");
    let removed = format!("/api/roleAssignments/{}", assignment["id"].as_str().unwrap());
    assert_eq!(call(&server, Method::DELETE, &removed, &owner, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(works(held.clone()).await, StatusCode::FORBIDDEN);
    assert_eq!(call(&server, Method::DELETE, &removed, &owner, None).await.0, StatusCode::NOT_FOUND);
    let grant = json!({"principal": reader_id, "role": "Reader", "scope": "workspace/default"});
    assert_eq!(call(&server, Method::POST, "/api/roleAssignments", &owner, Some(grant)).await.0, StatusCode::CREATED);
    assert_eq!(works(held.clone()).await, StatusCode::OK);

    // Signed out everywhere: every token held stops working, new ones work.
    let revoke = json!({"principal": reader_id});
    let (status, revoked) = call(&server, Method::POST, "/api/revokeSessions", &owner, Some(revoke)).await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_eq!(works(held).await, StatusCode::UNAUTHORIZED);
    assert_eq!(works(server.access_token(&reader, analytics).await).await, StatusCode::OK);

    // A person of the external issuer, signed out, then the issuer no longer trusted.
    let person = PrincipalId::external(IDP_ISSUER, "u-carol");
    let grant = json!({"principal": "u-carol", "issuer": IDP_ISSUER, "role": "Reader", "scope": "tenant"});
    assert_eq!(call(&server, Method::POST, "/api/roleAssignments", &owner, Some(grant)).await.0, StatusCode::CREATED);
    let carol = || idp.user_token("https://api.loganalytics.io", "u-carol", "soc-console", "carol@acme.example");
    let held = carol();
    assert_eq!(works(held.clone()).await, StatusCode::OK);
    let revoke = json!({"principal": "u-carol", "issuer": IDP_ISSUER});
    assert_eq!(call(&server, Method::POST, "/api/revokeSessions", &owner, Some(revoke)).await.0, StatusCode::OK);
    assert_eq!(works(held).await, StatusCode::UNAUTHORIZED, "issued before the revocation");
    let not_before = server.state.not_before(&server.tenant, &person).await.unwrap().unwrap();
    let later = idp.token_with(&idp.key, "https://api.loganalytics.io", json!({"oid": "u-carol", "iat": not_before}));
    assert_eq!(works(later.clone()).await, StatusCode::OK, "issued after it");
    let mut distrust = reqwest::Url::parse("https://vigil/api/issuers").unwrap();
    distrust.query_pairs_mut().append_pair("issuer", IDP_ISSUER);
    let distrust = format!("/api/issuers?{}", distrust.query().unwrap());
    assert_eq!(call(&server, Method::DELETE, &distrust, &owner, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(works(later).await, StatusCode::UNAUTHORIZED, "the issuer is not trusted any more");
    let (_, issuers) = call(&server, Method::GET, "/api/issuers", &owner, None).await;
    assert_eq!(issuers, json!([]));
    let plain = json!({"issuer": IDP_ISSUER, "jwks_uri": "http://idp.example.com/keys"});
    assert_eq!(call(&server, Method::POST, "/api/issuers", &owner, Some(plain)).await.0, StatusCode::BAD_REQUEST);

    // Deleted: its tokens stop working, its secret is unknown, its roles are gone.
    let held = server.access_token(&reader, analytics).await;
    assert_eq!(call(&server, Method::DELETE, &path, &owner, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(works(held).await, StatusCode::UNAUTHORIZED);
    assert_eq!(server.token(&server.tenant, &reader, analytics).await.status(), StatusCode::UNAUTHORIZED);
    let (_, assignments) = call(&server, Method::GET, "/api/roleAssignments", &owner, None).await;
    assert!(assignments.as_array().unwrap().iter().all(|a| a["principal"] != reader_id.as_str()), "{assignments}");

    // Only an Owner manages any of it, and an Owner cannot lock itself out.
    let publisher = server.access_token(&server.publisher, management).await;
    assert_eq!(call(&server, Method::GET, "/api/roleAssignments", &publisher, None).await.0, StatusCode::FORBIDDEN);
    let (_, me) = call(&server, Method::GET, "/api/me", &owner, None).await;
    let own = format!("/api/apps/{}", me["principal"]["id"].as_str().unwrap());
    assert_eq!(call(&server, Method::DELETE, &own, &owner, None).await.0, StatusCode::BAD_REQUEST);
}

/// Defender for Endpoint's alert properties, as its API reference lists them.
const DEFENDER_ALERT_PROPERTIES: &[&str] = &[
    "id",
    "incidentId",
    "investigationId",
    "assignedTo",
    "severity",
    "status",
    "classification",
    "determination",
    "investigationState",
    "detectionSource",
    "detectorId",
    "category",
    "threatFamilyName",
    "title",
    "description",
    "alertCreationTime",
    "firstEventTime",
    "lastEventTime",
    "lastUpdateTime",
    "resolvedTime",
    "machineId",
    "computerDnsName",
    "aadTenantId",
    "mitreTechniques",
    "relatedUser",
    "comments",
];

/// Defender XDR's incident properties, and those of the alerts it nests.
const DEFENDER_INCIDENT_PROPERTIES: &[&str] = &[
    "incidentId",
    "redirectIncidentId",
    "incidentName",
    "createdTime",
    "lastUpdateTime",
    "assignedTo",
    "classification",
    "determination",
    "status",
    "severity",
    "tags",
    "comments",
    "alerts",
];
const DEFENDER_INCIDENT_ALERT_PROPERTIES: &[&str] = &[
    "alertId",
    "incidentId",
    "serviceSource",
    "creationTime",
    "lastUpdatedTime",
    "resolvedTime",
    "firstActivity",
    "lastActivity",
    "title",
    "description",
    "category",
    "status",
    "severity",
    "classification",
    "determination",
    "detectionSource",
    "assignedTo",
    "mitreTechniques",
    "devices",
    "entities",
];

fn missing(object: &Json, properties: &[&str]) -> Vec<String> {
    properties.iter().filter(|p| object.get(**p).is_none()).map(|p| p.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alerts_and_incidents_apis_answer_as_defenders_do() {
    let server = start().await;
    let background = vigil_server::start_detection(&server.state);
    let rule = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../content/keeper-security/Analytic Rules/KeeperMasterPasswordChanged.yaml"),
    )
    .unwrap();
    let parsed = vigil_detect::parse_rule("KeeperMasterPasswordChanged.yaml", &rule).unwrap();
    server.state.detection.put_rule(&server.tenant, &server.workspace, &parsed, &rule, Some(true)).await.unwrap();
    let control = &server.state.control;
    let responder = control
        .create_app(&server.tenant, "responder", &[(Role::Responder, Scope::Workspace(server.workspace.clone()))], None)
        .await
        .unwrap();
    let responder = (responder.client_id, responder.client_secret);

    let ingestion = server.access_token(&server.publisher, "https://monitor.azure.com/.default").await;
    let (status, _) = server.ingest(&server.dcr, STREAM, Some(&ingestion), gzip(&keeper_events(6)), true).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let reader = server.access_token(&server.reader, "https://api.security.microsoft.com/.default").await;
    let get = |path: String, token: String| {
        let request = server.client.get(format!("{}{path}", server.url)).bearer_auth(token);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            (status, response.json::<Json>().await.unwrap_or(Json::Null))
        }
    };
    let mut alerts = Json::Null;
    for _ in 0..50 {
        let (status, body) = get("/api/alerts".to_string(), reader.clone()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if body["value"].as_array().is_some_and(|v| v.len() == 3) {
            alerts = body;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let first = &alerts["value"][0];
    assert!(
        missing(first, DEFENDER_ALERT_PROPERTIES).is_empty(),
        "missing {:?}",
        missing(first, DEFENDER_ALERT_PROPERTIES)
    );
    assert_eq!(first["title"], "change_master_password on 198.51.100.7");
    assert_eq!(first["mitreTechniques"], json!(["T1556", "T1098"]));
    assert_eq!(first["category"], "Persistence");
    assert!(first.get("evidence").is_none(), "evidence only when expanded");

    let filtered = "/api/alerts?$filter=severity eq 'Informational' and status eq 'New'&$top=2&$expand=evidence";
    let (status, body) = get(filtered.to_string(), reader.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["value"].as_array().unwrap().len(), 2, "$top");
    assert!(body["value"][0]["evidence"].as_array().unwrap().iter().any(|e| e["entityType"] == "Ip"));
    let (_, none) = get("/api/alerts?$filter=severity eq 'High' and status eq 'New'".to_string(), reader.clone()).await;
    assert_eq!(none["value"], json!([]));
    let (_, skipped) = get("/api/alerts?$skip=2".to_string(), reader.clone()).await;
    assert_eq!(skipped["value"].as_array().unwrap().len(), 1, "$skip");
    for (bad, expected) in [
        ("$filter=severity eq", "unexpected end"),
        ("$filter=colour eq 'red'", "unknown property 'colour'"),
        ("$filter=alertCreationTime ge yesterday", "yesterday"),
        ("$top=10001", "$top must be a whole number from 0 to 10000"),
    ] {
        let (status, body) = get(format!("/api/alerts?{bad}"), reader.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.to_lowercase().contains(&expected.to_lowercase()), "{bad}: {message}");
    }
    let (status, _) = get("/api/alerts".to_string(), ingestion.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "an ingestion token cannot read alerts");

    let id = first["id"].as_str().unwrap().to_string();
    let patch = |token: String, body: Json| {
        let request = server.client.patch(format!("{}/api/alerts/{id}", server.url)).bearer_auth(token).json(&body);
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.json::<Json>().await.unwrap_or(Json::Null))
        }
    };
    let change = json!({"status": "InProgress", "assignedTo": "ana@example.com", "comment": "looking into it"});
    let (status, _) = patch(reader.clone(), change.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a Reader cannot change alerts");
    let responder_token = server.access_token(&responder, "https://api.securitycenter.microsoft.com/.default").await;
    let (status, updated) = patch(responder_token.clone(), change).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(
        (updated["status"].as_str(), updated["assignedTo"].as_str()),
        (Some("InProgress"), Some("ana@example.com"))
    );
    assert_eq!(updated["comments"][0]["comment"], "looking into it");
    assert!(updated["lastUpdateTime"].as_str() > first["lastUpdateTime"].as_str());
    let (status, body) = patch(responder_token.clone(), json!({"status": "Done"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]["message"].as_str().unwrap().contains("'Done' is not a valid status"));

    let (status, incidents) = get("/api/incidents".to_string(), reader.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let incident = &incidents["value"][0];
    assert!(
        missing(incident, DEFENDER_INCIDENT_PROPERTIES).is_empty(),
        "{:?}",
        missing(incident, DEFENDER_INCIDENT_PROPERTIES)
    );
    let nested = &incident["alerts"][0];
    assert!(
        missing(nested, DEFENDER_INCIDENT_ALERT_PROPERTIES).is_empty(),
        "{:?}",
        missing(nested, DEFENDER_INCIDENT_ALERT_PROPERTIES)
    );
    assert!(nested["entities"].as_array().unwrap().iter().any(|e| e["entityType"] == "User"));
    let incident_id = incident["incidentId"].as_i64().unwrap();
    let request = server
        .client
        .patch(format!("{}/api/incidents/{incident_id}", server.url))
        .bearer_auth(&responder_token)
        .json(&json!({"status": "Resolved", "classification": "FalsePositive", "determination": "Other", "comment": "test"}));
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (_, resolved) = get(format!("/api/incidents/{incident_id}"), reader.clone()).await;
    assert_eq!(
        (resolved["status"].as_str(), resolved["classification"].as_str()),
        (Some("Resolved"), Some("FalsePositive"))
    );
    let history: Vec<&str> =
        resolved["history"].as_array().unwrap().iter().map(|h| h["action"].as_str().unwrap()).collect();
    assert!(history.contains(&"StatusChanged") && history.contains(&"CommentAdded"), "{history:?}");
    let (_, resolved_only) = get("/api/incidents?$filter=status eq 'Resolved'".to_string(), reader.clone()).await;
    assert_eq!(resolved_only["value"].as_array().unwrap().len(), 1);

    // The same alerts are rows of SecurityAlert, which KQL can query.
    let query_token = server.access_token(&server.reader, &format!("{}/.default", server.url)).await;
    let mut in_table = 0;
    for _ in 0..50 {
        let (status, body) =
            server.query(&server.workspace, &query_token, "SecurityAlert | summarize dcount(SystemAlertId)").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        in_table = body["tables"][0]["rows"][0][0].as_i64().unwrap_or_default();
        if in_table == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(in_table, 3);
    background.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_is_served_beside_the_apis_it_uses() {
    use reqwest::Method;
    let server = start().await;
    let page = server.client.get(format!("{}/incidents/7", server.url)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
    assert!(page.text().await.unwrap().contains("<div id=\"app\">"));
    let missing_asset = server.client.get(format!("{}/assets/gone-1234.js", server.url)).send().await.unwrap();
    assert_eq!(missing_asset.status(), StatusCode::NOT_FOUND);
    let unknown_api = server.client.get(format!("{}/api/nothing-here", server.url)).send().await.unwrap();
    assert_eq!(unknown_api.status(), StatusCode::NOT_FOUND);
    assert_eq!(unknown_api.json::<Json>().await.unwrap()["error"]["code"], "NotFound");
    let config: Json =
        server.client.get(format!("{}/api/console/config", server.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(config["oidc"], Json::Null);

    let management = "https://management.azure.com/.default";
    let reader = server.access_token(&server.reader, management).await;
    let ws = server.workspace.clone();
    let (status, me) = call(&server, Method::GET, "/api/me", &reader, None).await;
    assert_eq!((status, me["principal"]["name"].as_str()), (StatusCode::OK, Some("analyst")));
    assert_eq!(me["roles"][0]["role"], "Reader");

    // The editor's diagnostics: the position of the problem, in UTF-16 units.
    let text = "KeeperSecurityEventNewLogs_CL\n| where Usernam == 'é'";
    let (_, checked) =
        call(&server, Method::POST, &format!("/api/workspaces/{ws}/kql/check"), &reader, Some(json!({"query": text})))
            .await;
    let error = &checked["error"];
    assert_eq!((error["line"].as_i64(), error["column"].as_i64()), (Some(2), Some(9)), "{checked}");
    assert_eq!((error["from"].as_u64(), error["to"].as_u64()), (Some(38), Some(45)), "{checked}");
    assert!(error["message"].as_str().unwrap().contains("Usernam"), "{checked}");
    assert_eq!(checked["diagnostics"][0], checked["error"], "{checked}");
    // Every problem at once: two bad operators of one pipeline, a bad statement, and a syntax
    // error in another; a use of the name the bad statement would have defined is not reported
    // again.
    let text = "let broken = NoSuchTable | take 1;\n\
                KeeperSecurityEventNewLogs_CL\n| where Usernam == 'x'\n| extend y = tolower(Nope)\n| project Username;\n\
                broken | where (;\n\
                broken | count";
    let (_, checked) =
        call(&server, Method::POST, &format!("/api/workspaces/{ws}/kql/check"), &reader, Some(json!({"query": text})))
            .await;
    let found: Vec<(i64, &str)> = checked["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["line"].as_i64().unwrap(), d["code"].as_str().unwrap()))
        .collect();
    assert_eq!(found, [(1, "KB005"), (3, "KB001"), (4, "KB001"), (6, "KS001")], "{checked}");
    assert!(checked["diagnostics"][2]["message"].as_str().unwrap().contains("Nope"), "{checked}");
    let (_, checked) = call(
        &server,
        Method::POST,
        &format!("/api/workspaces/{ws}/kql/check"),
        &reader,
        Some(json!({"query": "KeeperSecurityEventNewLogs_CL | summarize n = count() by Username"})),
    )
    .await;
    assert_eq!(checked["columns"], json!([{"name": "Username", "type": "string"}, {"name": "n", "type": "long"}]));
    let prefix = "KeeperSecurityEventNewLogs_CL | where Us";
    let (_, completion) = call(
        &server,
        Method::POST,
        &format!("/api/workspaces/{ws}/kql/complete"),
        &reader,
        Some(json!({"query": prefix, "position": prefix.len()})),
    )
    .await;
    assert_eq!(completion["from"].as_u64(), Some(prefix.len() as u64 - 2));
    let items = completion["items"].as_array().unwrap();
    assert!(items.iter().any(|i| i["label"] == "Username" && i["kind"] == "column" && i["detail"] == "string"));
    assert!(items.iter().any(|i| i["label"] == "geo_info_from_ip_address" && i["kind"] == "function"));
    let (status, _) =
        call(&server, Method::POST, &format!("/api/workspaces/{ws}/kql/check"), &reader, Some(json!({"q": 1}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Saved queries and workbooks: readers read; writing needs Responder and Contributor.
    let saved = json!({"name": "Failed logins", "query": "KeeperSecurityEventNewLogs_CL | where AuditEvent == 'login_failure'"});
    let path = format!("/api/workspaces/{ws}/savedQueries/failed-logins");
    assert_eq!(call(&server, Method::PUT, &path, &reader, Some(saved.clone())).await.0, StatusCode::FORBIDDEN);
    let tenant_scope = Scope::Tenant(server.tenant.clone());
    let owner = server
        .state
        .control
        .create_app(&server.tenant, "console-owner", &[(Role::Owner, tenant_scope)], None)
        .await
        .unwrap();
    let owner = server.access_token(&(owner.client_id, owner.client_secret), management).await;
    assert_eq!(call(&server, Method::PUT, &path, &owner, Some(saved)).await.0, StatusCode::OK);
    let bad_id = format!("/api/workspaces/{ws}/savedQueries/has%20space");
    assert_eq!(
        call(&server, Method::PUT, &bad_id, &owner, Some(json!({"name": "x", "query": "print 1"}))).await.0,
        StatusCode::BAD_REQUEST
    );
    let (_, listed) = call(&server, Method::GET, &format!("/api/workspaces/{ws}/savedQueries"), &reader, None).await;
    assert_eq!((listed[0]["id"].as_str(), listed[0]["name"].as_str()), (Some("failed-logins"), Some("Failed logins")));
    assert_eq!(call(&server, Method::DELETE, &path, &owner, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(call(&server, Method::DELETE, &path, &owner, None).await.0, StatusCode::NOT_FOUND);

    let workbook: Json = serde_json::from_str(&keeper_file("KeeperSecurityDashboard.json")).unwrap();
    let path = format!("/api/workspaces/{ws}/workbooks/keeper");
    assert_eq!(call(&server, Method::PUT, &path, &reader, Some(workbook.clone())).await.0, StatusCode::FORBIDDEN);
    let (status, refused) =
        call(&server, Method::PUT, &path, &owner, Some(json!({"version": "Notebook/1.0", "items": [{"type": 1}]})))
            .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(refused["error"]["message"].as_str().unwrap().contains("items[0]"), "{refused}");
    assert_eq!(call(&server, Method::PUT, &path, &owner, Some(workbook.clone())).await.0, StatusCode::OK);
    assert_eq!(call(&server, Method::GET, &path, &reader, None).await.1, workbook);
    let (_, listed) = call(&server, Method::GET, &format!("/api/workspaces/{ws}/workbooks"), &reader, None).await;
    assert_eq!(listed[0]["name"], "keeper");
    assert!(listed[0]["displayName"].as_str().unwrap().contains("Keeper"), "{listed}");

    // Content packs: listed for anyone signed in, installed by Contributors.
    let (_, packs) = call(&server, Method::GET, "/api/content", &reader, None).await;
    assert!(packs.as_array().unwrap().iter().any(|p| p["name"] == "keeper-security"), "{packs}");
    let install = format!("/api/workspaces/{ws}/content/keeper-security");
    assert_eq!(call(&server, Method::POST, &install, &reader, None).await.0, StatusCode::FORBIDDEN);
    let (status, installed) = call(&server, Method::POST, &install, &owner, None).await;
    assert_eq!(status, StatusCode::OK, "{installed}");
    assert_eq!(installed["rules"].as_array().unwrap().len(), 2);
    assert!(installed["dcrs"][0]["ingestionUrl"].as_str().unwrap().starts_with(&server.url));

    // Tables report what they hold; the queue sorts and counts.
    let publisher = server.access_token(&server.publisher, "https://monitor.azure.com/.default").await;
    let (status, _) = server
        .ingest(&server.dcr, "Custom-KeeperSecurityEventNewLogs", Some(&publisher), keeper_events(3), false)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, tables) = call(&server, Method::GET, &format!("/api/workspaces/{ws}/tables"), &reader, None).await;
    let keeper = tables.as_array().unwrap().iter().find(|t| t["name"] == "KeeperSecurityEventNewLogs_CL").unwrap();
    assert_eq!(keeper["rows"], 3, "{keeper}");
    assert!(keeper["lastEventTime"].is_string() && keeper["lastReceived"].is_string(), "{keeper}");
    let (status, page) = call(
        &server,
        Method::GET,
        "/api/incidents?$orderby=severity%20desc,createdTime&$count=true&$top=5",
        &reader,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page["@odata.count"].is_i64(), "{page}");
    let (status, refused) = call(&server, Method::GET, "/api/incidents?$orderby=colour", &reader, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(refused["error"]["message"].as_str().unwrap().contains("unknown property 'colour'"), "{refused}");

    // The query API says how the result asked to be drawn.
    let analytics = server.access_token(&server.reader, &format!("{}/.default", server.url)).await;
    let (_, result) = server.query(&ws, &analytics, "print x = 1 | render piechart with (title='t')").await;
    assert_eq!(result["render"], json!({"visualization": "piechart", "title": "t"}), "{result}");

    // Apps: listed without secrets by an Owner, rotated once.
    assert_eq!(call(&server, Method::GET, "/api/apps", &reader, None).await.0, StatusCode::FORBIDDEN);
    let (_, apps) = call(&server, Method::GET, "/api/apps", &owner, None).await;
    assert!(apps.as_array().unwrap().iter().all(|a| a.get("client_secret").is_none()), "{apps}");
    let (status, rotated) =
        call(&server, Method::POST, &format!("/api/apps/{}/secret", server.reader.0), &owner, None).await;
    assert_eq!(status, StatusCode::OK);
    let fresh = (server.reader.0.clone(), rotated["client_secret"].as_str().unwrap().to_string());
    assert_eq!(server.token(&server.tenant, &server.reader, management).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(server.token(&server.tenant, &fresh, management).await.status(), StatusCode::OK);
}

/// Item 9 of the hardening issue: on ac06a67 a failing detection database answered 500 with
/// SQLite's own text, and a query whose stored data could not be read answered 400 (the
/// client's fault) naming the server's files. Server faults are 503 or 500 with a request id
/// the log carries; the client's are 4xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_failures_reach_clients_as_statuses_not_as_internal_text() {
    use reqwest::Method;
    let server = start().await;
    let publisher = server.access_token(&server.publisher, "https://monitor.azure.com/.default").await;
    let (status, _) = server.ingest(&server.dcr, STREAM, Some(&publisher), keeper_events(4), false).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    server.state.store.flush().await.unwrap();
    let data_dir = server._dir.path().to_string_lossy().to_string();
    let mut segments = Vec::new();
    let mut pending = vec![server._dir.path().join("segments")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                segments.push(path);
            }
        }
    }
    assert!(!segments.is_empty(), "the rows were flushed to Parquet");
    for segment in &segments {
        std::fs::write(segment, b"PAR1 this is not a Parquet file any more PAR1").unwrap();
    }
    let reader = server.access_token(&server.reader, "https://api.loganalytics.io/.default").await;
    let response = server
        .client
        .post(format!("{}/v1/workspaces/{}/query", server.url, server.workspace))
        .bearer_auth(&reader)
        .json(&json!({"query": "KeeperSecurityEventNewLogs_CL | count"}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let request_id = response.headers().get("x-ms-request-id").map(|v| v.to_str().unwrap().to_string());
    let body = response.text().await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(request_id.is_some() && body.contains("request id"), "{body}");
    assert!(!body.contains(&data_dir) && !body.contains(".parquet"), "the server's files stay in its log: {body}");

    // A detection database that fails (here: a table gone) is not the client's to read about.
    let detection_db = format!("sqlite://{}", server._dir.path().join("detection.db").display());
    let raw = sqlx::SqlitePool::connect(&detection_db).await.unwrap();
    sqlx::query("DROP TABLE suppression_rules").execute(&raw).await.unwrap();
    let management = server.access_token(&server.reader, "https://management.azure.com/.default").await;
    let path = format!("/api/workspaces/{}/suppressionRules", server.workspace);
    let (status, body) = call(&server, Method::GET, &path, &management, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let text = body.to_string();
    assert!(!text.contains("suppression_rules") && !text.to_lowercase().contains("sqlite"), "{text}");
}
