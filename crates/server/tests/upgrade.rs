//! Upgrades: every data dir in `tests/upgrade/fixtures/`, written by a release of Vigil
//! (`tests/upgrade/write_fixture.py`), opens with the code as it is now, and everything it held
//! is there and works: applications and their roles, the Keeper table, DCR and rules, the
//! ingested rows, incidents with their comments, a watchlist. A release that changes a schema
//! without a migration, or a migration that loses data, fails here.

mod common;

use std::path::{Path, PathBuf};

use common::{Running, serve_dir};
use reqwest::StatusCode;
use serde_json::{Value as Json, json};

fn fixtures() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/upgrade/fixtures");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.join("manifest.json").is_file())
        .collect();
    found.sort();
    found
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

async fn token(running: &Running, app: &Json, scope: &str) -> String {
    let response = running
        .client
        .post(format!("{}/{}/oauth2/v2.0/token", running.url, app["tenant_id"].as_str().unwrap()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", app["client_id"].as_str().unwrap()),
            ("client_secret", app["client_secret"].as_str().unwrap()),
            ("scope", scope),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "token for {}", app["client_id"]);
    response.json::<Json>().await.unwrap()["access_token"].as_str().unwrap().to_string()
}

async fn call(
    running: &Running,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Json>,
) -> (StatusCode, Json) {
    let mut request = running.client.request(method, format!("{}{path}", running.url)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Json::Null))
}

async fn scalar(running: &Running, token: &str, workspace: &str, query: &str) -> Json {
    let (status, body) = call(
        running,
        reqwest::Method::POST,
        &format!("/v1/workspaces/{workspace}/query"),
        token,
        Some(json!({"query": query})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    body["tables"][0]["rows"][0][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_dirs_written_by_earlier_releases_open_with_everything_in_them() {
    use reqwest::Method;
    let fixtures = fixtures();
    assert!(!fixtures.is_empty(), "no fixture in tests/upgrade/fixtures");
    for fixture in fixtures {
        let name = fixture.file_name().unwrap().to_string_lossy().to_string();
        let manifest: Json =
            serde_json::from_str(&std::fs::read_to_string(fixture.join("manifest.json")).unwrap()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&fixture.join("data"), dir.path());
        let owner: Json =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("owner-credential.json")).unwrap()).unwrap();
        let (running, bootstrap) = serve_dir(dir, |_| {}).await;
        assert!(bootstrap.is_none(), "{name}: the data dir was taken for a fresh one");
        let apps = &manifest["apps"];
        let analytics = "https://api.loganalytics.io/.default";

        // The applications authenticate with the secrets the release gave them, with their roles.
        let reader = token(&running, &apps["reader"], analytics).await;
        let (_, workspaces) = call(
            &running,
            Method::GET,
            "/api/workspaces",
            &token(&running, &owner, "https://management.azure.com/.default").await,
            None,
        )
        .await;
        let workspace = workspaces[0]["id"].as_str().unwrap().to_string();
        let table = manifest["table"].as_str().unwrap();
        let rows = manifest["rows"].as_i64().unwrap();
        assert_eq!(scalar(&running, &reader, &workspace, &format!("{table} | count")).await, json!(rows), "{name}");
        let publisher = token(&running, &apps["publisher"], "https://monitor.azure.com/.default").await;
        let (status, body) = call(
            &running,
            Method::POST,
            &format!("/v1/workspaces/{workspace}/query"),
            &publisher,
            Some(json!({"query": "print 1"})),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: a publisher's token is not for queries: {body}");

        // Ingestion through the release's DCR lands beside the release's rows.
        let url = format!(
            "/dataCollectionRules/{}/streams/{}?api-version=2023-01-01",
            manifest["dcr"].as_str().unwrap(),
            manifest["stream"].as_str().unwrap()
        );
        let event = json!([{"audit_event": "login", "remote_address": "192.0.2.1", "category": "login",
                            "username": "upgrade@example.com", "timestamp": "2026-12-01T00:00:00Z"}]);
        let (status, body) = call(&running, Method::POST, &url, &publisher, Some(event)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{name}: {body}");
        assert_eq!(scalar(&running, &reader, &workspace, &format!("{table} | count")).await, json!(rows + 1), "{name}");

        // The watchlist, the rules, the incidents and the comment.
        let items = manifest["watchlist"]["items"].as_i64().unwrap();
        let alias = manifest["watchlist"]["alias"].as_str().unwrap();
        let watchlist = format!("_GetWatchlist('{alias}') | count");
        assert_eq!(scalar(&running, &reader, &workspace, &watchlist).await, json!(items), "{name}");
        let soc = token(&running, &apps["responder"], "https://api.security.microsoft.com/.default").await;
        let (status, incidents) = call(&running, Method::GET, "/api/incidents", &soc, None).await;
        assert_eq!(status, StatusCode::OK, "{name}: {incidents}");
        assert_eq!(
            incidents["value"].as_array().unwrap().len() as i64,
            manifest["incidents"].as_i64().unwrap(),
            "{name}"
        );
        let commented = manifest["commented_incident"].as_i64().unwrap();
        let (_, incident) = call(&running, Method::GET, &format!("/api/incidents/{commented}"), &soc, None).await;
        assert!(
            incident["comments"].to_string().contains(manifest["comment"].as_str().unwrap()),
            "{name}: the comment is gone: {incident}"
        );
        let management = token(&running, &apps["responder"], "https://management.azure.com/.default").await;
        let (_, rules) =
            call(&running, Method::GET, &format!("/api/workspaces/{workspace}/rules"), &management, None).await;
        let rule_names: Vec<&str> =
            rules.as_array().unwrap().iter().filter_map(|r| r["rule"]["name"].as_str()).collect();
        for rule in manifest["rules"].as_array().unwrap() {
            assert!(rule_names.contains(&rule.as_str().unwrap()), "{name}: rule {rule} is gone: {rule_names:?}");
        }

        // The release kept its signing key as it was; opening it sealed the key (ADR 0017).
        let control = format!("sqlite://{}", running.dir.path().join("control.db").display());
        let raw = sqlx::SqlitePool::connect(&control).await.unwrap();
        let keys: Vec<Vec<u8>> = sqlx::query_scalar("SELECT pkcs8 FROM signing_keys").fetch_all(&raw).await.unwrap();
        assert!(
            !keys.is_empty() && keys.iter().all(|k| vigil_control::SealKey::is_sealed(k)),
            "{name}: keys not sealed"
        );
        raw.close().await;

        // What this release added works on the old data: disabling an application.
        let owner_token = token(&running, &owner, "https://management.azure.com/.default").await;
        let reader_id = apps["reader"]["client_id"].as_str().unwrap();
        let (status, app) = call(
            &running,
            Method::PATCH,
            &format!("/api/apps/{reader_id}"),
            &owner_token,
            Some(json!({"enabled": false})),
        )
        .await;
        assert_eq!((status, &app["enabled"]), (StatusCode::OK, &json!(false)), "{name}: {app}");
        let (status, _) = call(
            &running,
            Method::POST,
            &format!("/v1/workspaces/{workspace}/query"),
            &reader,
            Some(json!({"query": "print 1"})),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: the disabled application's token");
        running.state.store.close().await.unwrap();
    }
}
