//! Capacity is shared per tenant: a tenant holding its whole share of ingestion slots and of
//! running queries is refused (429) while another tenant's requests go through.

mod common;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value as Json;
use vigil_control::{Role, Scope};

use common::*;

async fn bearer(server: &Server, tenant: &str, app: &(String, String), scope: &str) -> String {
    let response = server.token(tenant, app, scope).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Json = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_at_its_share_is_refused_while_another_tenant_is_served() {
    let server = start_with(|config| {
        config.max_concurrent_ingest = 2;
        config.max_concurrent_queries = 2;
        config.query_queue = Duration::from_secs(1);
    })
    .await;
    let control = &server.state.control;
    let other = control.create_tenant("other").await.unwrap().id;
    let other_ws = control.create_workspace(&other, "theirs").await.unwrap().id;
    control.put_table(&other_ws, OTHER_TABLE).await.unwrap();
    let other_dcr = control.put_dcr(&other_ws, OTHER_DCR, &vigil_content::check_transform).await.unwrap().immutable_id;
    let roles = [
        (Role::MonitoringMetricsPublisher, Scope::Dcr(other_dcr.clone())),
        (Role::Reader, Scope::Workspace(other_ws.clone())),
    ];
    let app = control.create_app(&other, "their-app", &roles, None).await.unwrap();
    let other_app = (app.client_id, app.client_secret);
    let ingest_scope = "https://monitor.azure.com//.default";
    let query_scope = format!("{}/.default", server.url);
    let ours = (
        bearer(&server, &server.tenant, &server.publisher, ingest_scope).await,
        bearer(&server, &server.tenant, &server.reader, &query_scope).await,
    );
    let theirs = (
        bearer(&server, &other, &other_app, ingest_scope).await,
        bearer(&server, &other, &other_app, &query_scope).await,
    );
    let their_record = br#"[{"Message": "from the other tenant"}]"#.to_vec();

    // With two slots of each, a tenant's share is one: this tenant's requests in flight.
    let held_ingest = server.state.ingest_slots.try_acquire(&server.tenant).unwrap();
    let held_query = server.state.query_slots.try_acquire(&server.tenant).unwrap();

    let (status, body) =
        server.ingest(&server.dcr, "Custom-KeeperSecurityEventNewLogs", Some(&ours.0), keeper_events(1), false).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("share"), "{body}");
    let (status, body) = server.ingest(&other_dcr, "Custom-Other", Some(&theirs.0), their_record.clone(), false).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    let (status, body) = server.query(&server.workspace, &ours.1, "print 1").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let (status, body) = server.query(&other_ws, &theirs.1, "Other_CL | count").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["tables"][0]["rows"][0][0], 1);

    drop((held_ingest, held_query));
    let (status, body) =
        server.ingest(&server.dcr, "Custom-KeeperSecurityEventNewLogs", Some(&ours.0), keeper_events(1), false).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = server.query(&server.workspace, &ours.1, "print 1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
