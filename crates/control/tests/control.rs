//! The control plane against a real SQLite file, with the Keeper Security solution's own
//! table and DCR.

use std::path::PathBuf;

use vigil_control::{
    AppAuthError, Control, ControlError, ExternalIssuer, PrincipalId, Role, Scope, SealKey, SigningKey,
};
use vigil_kql_functions::KqlColumn;

/// One secrets key for every opening of a test's data dir, as a server's key file is.
fn key() -> SealKey {
    SealKey::from_text("dGhlIHRlc3RzJyBzZWNyZXRzIGtleSwgMzIgYnl0ZXM=").unwrap()
}

fn check_transform(transform: &str, columns: &[KqlColumn]) -> Result<(), String> {
    vigil_kql::Engine::new().check_transform(transform, columns)
}

fn keeper_file(name: &str) -> String {
    let dir = std::env::var("VIGIL_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance"));
    std::fs::read_to_string(dir.join("sentinel/keeper-security").join(name)).expect("the Keeper solution files")
}

#[tokio::test]
async fn bootstrap_creates_a_tenant_workspace_and_owner_once() {
    let dir = tempfile::tempdir().unwrap();
    let control = Control::open(dir.path(), key()).await.unwrap();
    let first = control.bootstrap().await.unwrap().expect("first start bootstraps");
    assert_eq!(first.workspace.tenant_id, first.tenant.id);
    assert!(control.bootstrap().await.unwrap().is_none(), "second start does not");
    let owner = &first.owner;
    let app = control.authenticate_app(&owner.tenant_id, &owner.client_id, &owner.client_secret).await.unwrap();
    assert_eq!(app.name, "owner");
    assert!(
        control
            .has_role(&first.tenant.id, &PrincipalId::app(&owner.client_id), Role::Owner, &first.workspace.id, None)
            .await
            .unwrap()
    );
    assert!(
        !control
            .has_role(
                &first.tenant.id,
                &PrincipalId::app(&owner.client_id),
                Role::MonitoringMetricsPublisher,
                &first.workspace.id,
                Some("dcr-x")
            )
            .await
            .unwrap(),
        "an owner is not a publisher"
    );
    // A second process sees the same state.
    let other = Control::open(dir.path(), key()).await.unwrap();
    assert_eq!(other.workspaces(None).await.unwrap(), vec![first.workspace.clone()]);
}

#[tokio::test]
async fn credentials_are_checked_and_secrets_rotate() {
    let dir = tempfile::tempdir().unwrap();
    let control = Control::open(dir.path(), key()).await.unwrap();
    let boot = control.bootstrap().await.unwrap().unwrap();
    let tenant = &boot.tenant.id;
    let app = control.create_app(tenant, "keeper", &[], None).await.unwrap();
    assert!(matches!(
        control.authenticate_app(tenant, &app.client_id, "wrong").await,
        Err(AppAuthError::InvalidSecret)
    ));
    assert!(matches!(
        control.authenticate_app(tenant, "nobody", &app.client_secret).await,
        Err(AppAuthError::UnknownClient)
    ));
    let other_tenant = control.create_tenant("other").await.unwrap();
    assert!(
        matches!(
            control.authenticate_app(&other_tenant.id, &app.client_id, &app.client_secret).await,
            Err(AppAuthError::UnknownClient)
        ),
        "a client of one tenant is unknown in another"
    );
    let rotated = control.rotate_secret(tenant, &app.client_id).await.unwrap();
    assert!(matches!(
        control.authenticate_app(tenant, &app.client_id, &app.client_secret).await,
        Err(AppAuthError::InvalidSecret)
    ));
    assert!(control.authenticate_app(tenant, &app.client_id, &rotated.client_secret).await.is_ok());
    let expired =
        control.create_app(tenant, "old", &[], Some(chrono::Utc::now() - chrono::Duration::hours(1))).await.unwrap();
    assert!(matches!(
        control.authenticate_app(tenant, &expired.client_id, &expired.client_secret).await,
        Err(AppAuthError::ExpiredSecret)
    ));
}

#[tokio::test]
async fn keeper_table_and_dcr_load_as_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let control = Control::open(dir.path(), key()).await.unwrap();
    let boot = control.bootstrap().await.unwrap().unwrap();
    let ws = &boot.workspace.id;
    let dcr_json = keeper_file("KeeperSecurityEventLogs_DCR.json");
    let missing_table = control.put_dcr(ws, &dcr_json, &check_transform).await.unwrap_err();
    assert!(
        matches!(&missing_table, ControlError::Invalid(m) if m.contains("output table 'KeeperSecurityEventNewLogs_CL' does not exist")),
        "{missing_table}"
    );
    let table = control.put_table(ws, &keeper_file("KepperSecurity_table.json")).await.unwrap();
    assert_eq!(table.schema.name, "KeeperSecurityEventNewLogs_CL");
    let dcr = control.put_dcr(ws, &dcr_json, &check_transform).await.unwrap();
    assert!(dcr.immutable_id.starts_with("dcr-") && dcr.immutable_id.len() == 36, "{}", dcr.immutable_id);
    let flow = dcr.definition.flows_of("Custom-KeeperSecurityEventNewLogs").next().unwrap();
    assert_eq!(flow.table, "KeeperSecurityEventNewLogs_CL");
    // Putting it again keeps the immutable id, as an ARM redeployment does.
    assert_eq!(control.put_dcr(ws, &dcr_json, &check_transform).await.unwrap().immutable_id, dcr.immutable_id);
    assert_eq!(control.dcr(&dcr.immutable_id).await.unwrap().unwrap().workspace_id, *ws);

    let publisher = control
        .create_app(
            &boot.tenant.id,
            "keeper",
            &[(Role::MonitoringMetricsPublisher, Scope::Dcr(dcr.immutable_id.clone()))],
            None,
        )
        .await
        .unwrap();
    let can_publish = |dcr_id: &'static str| {
        let control = control.clone();
        let tenant = boot.tenant.id.clone();
        let client = publisher.client_id.clone();
        let ws = ws.clone();
        async move {
            control
                .has_role(&tenant, &PrincipalId::app(&client), Role::MonitoringMetricsPublisher, &ws, Some(dcr_id))
                .await
                .unwrap()
        }
    };
    let id: &'static str = Box::leak(dcr.immutable_id.clone().into_boxed_str());
    assert!(can_publish(id).await);
    assert!(
        !can_publish("dcr-00000000000000000000000000000000").await,
        "a publisher on one DCR cannot write to another"
    );
    assert!(
        !control
            .has_role(&boot.tenant.id, &PrincipalId::app(&publisher.client_id), Role::Reader, ws, None)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn bad_definitions_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let control = Control::open(dir.path(), key()).await.unwrap();
    let boot = control.bootstrap().await.unwrap().unwrap();
    let ws = &boot.workspace.id;
    let no_time = r#"{"name":"X_CL","properties":{"schema":{"name":"X_CL","columns":[{"name":"a","type":"string"}]}}}"#;
    assert!(control.put_table(ws, no_time).await.unwrap_err().to_string().contains("no TimeGenerated"));
    let table = r#"{"name":"X_CL","properties":{"schema":{"name":"X_CL","columns":[
        {"name":"TimeGenerated","type":"datetime"},{"name":"a","type":"string"}]}}}"#;
    control.put_table(ws, table).await.unwrap();
    let retyped = table.replace(r#""name":"a","type":"string""#, r#""name":"a","type":"long""#);
    assert!(
        control
            .put_table(ws, &retyped)
            .await
            .unwrap_err()
            .to_string()
            .contains("column 'a' is string and cannot become long")
    );
    let bad_transform = r#"{"name":"D","properties":{"streamDeclarations":{"Custom-S":{"columns":[{"name":"a","type":"string"}]}},
        "dataFlows":[{"streams":["Custom-S"],"transformKql":"source | extend b = tolower(aa)","outputStream":"Custom-X_CL"}]}}"#;
    let error = control.put_dcr(ws, bad_transform, &check_transform).await.unwrap_err().to_string();
    assert!(error.contains("transformKql of stream 'Custom-S' is not valid") && error.contains("'aa'"), "{error}");
    assert!(
        control.resolve_scope(&boot.tenant.id, "cluster/x").await.unwrap_err().to_string().contains("unknown scope")
    );
    assert_eq!(
        control.resolve_scope(&boot.tenant.id, "workspace/default").await.unwrap(),
        Scope::Workspace(ws.clone())
    );
}

#[tokio::test]
async fn principals_are_issuer_and_subject_and_can_be_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let control = Control::open(dir.path(), key()).await.unwrap();
    let boot = control.bootstrap().await.unwrap().unwrap();
    let (tenant, ws) = (&boot.tenant.id, &boot.workspace.id);
    let app = control.create_app(tenant, "soc", &[(Role::Reader, Scope::Workspace(ws.clone()))], None).await.unwrap();
    let idp = "https://idp.example.com/realms/acme";
    control
        .add_external_issuer(&ExternalIssuer::checked(tenant, idp, "https://idp.example.com/keys").unwrap())
        .await
        .unwrap();

    // An external subject whose id is the application's client id is someone else.
    let namesake = PrincipalId::external(idp, &app.client_id);
    assert!(control.has_role(tenant, &PrincipalId::app(&app.client_id), Role::Reader, ws, None).await.unwrap());
    assert!(!control.has_role(tenant, &namesake, Role::Reader, ws, None).await.unwrap());
    let granted =
        control.assign_role(tenant, &namesake, Role::Responder, &Scope::Tenant(tenant.clone())).await.unwrap();
    assert!(control.has_role(tenant, &namesake, Role::Responder, ws, None).await.unwrap());
    assert!(!control.has_role(tenant, &PrincipalId::app(&app.client_id), Role::Responder, ws, None).await.unwrap());
    assert!(
        matches!(
            control.principal(tenant, "someone", Some("https://other.example.com")).await,
            Err(ControlError::Invalid(_))
        ),
        "a subject of an issuer the tenant does not trust"
    );
    assert!(matches!(control.principal(tenant, "no-such-app", None).await, Err(ControlError::Invalid(_))));

    // One issuer, one tenant.
    let other = control.create_tenant("other").await.unwrap();
    let shared = ExternalIssuer::checked(&other.id, idp, "https://idp.example.com/keys").unwrap();
    assert!(matches!(control.add_external_issuer(&shared).await, Err(ControlError::Conflict(_))));
    assert!(ExternalIssuer::checked(tenant, idp, "http://idp.example.com/keys").is_err(), "keys over https only");

    // Removing an assignment, distrusting the issuer (which takes its assignments along).
    control.remove_role_assignment(tenant, &granted.id).await.unwrap();
    assert!(!control.has_role(tenant, &namesake, Role::Responder, ws, None).await.unwrap());
    assert!(matches!(control.remove_role_assignment(tenant, &granted.id).await, Err(ControlError::NotFound(_))));
    control.assign_role(tenant, &namesake, Role::Reader, &Scope::Tenant(tenant.clone())).await.unwrap();
    control.remove_external_issuer(tenant, idp).await.unwrap();
    control
        .add_external_issuer(&ExternalIssuer::checked(tenant, idp, "https://idp.example.com/keys").unwrap())
        .await
        .unwrap();
    assert!(!control.has_role(tenant, &namesake, Role::Reader, ws, None).await.unwrap(), "re-trusting grants nothing");

    // Revocations: rotation, disabling and deletion each set a not-before after now.
    let before = chrono::Utc::now().timestamp();
    let principal = PrincipalId::app(&app.client_id);
    let not_before = async || control.revocations().await.unwrap().into_iter().find(|r| r.principal == principal);
    assert!(not_before().await.is_none());
    control.rotate_secret(tenant, &app.client_id).await.unwrap();
    assert!(not_before().await.unwrap().not_before > before);
    let disabled = control.set_app_enabled(tenant, &app.client_id, false).await.unwrap();
    assert!(!disabled.enabled);
    let secret = control.rotate_secret(tenant, &app.client_id).await.unwrap().client_secret;
    assert!(matches!(control.authenticate_app(tenant, &app.client_id, &secret).await, Err(AppAuthError::Disabled)));
    control.set_app_enabled(tenant, &app.client_id, true).await.unwrap();
    assert!(control.authenticate_app(tenant, &app.client_id, &secret).await.is_ok());
    control.delete_app(tenant, &app.client_id).await.unwrap();
    assert!(matches!(
        control.authenticate_app(tenant, &app.client_id, &secret).await,
        Err(AppAuthError::UnknownClient)
    ));
    assert!(control.role_assignments(tenant, Some(&PrincipalId::app(&app.client_id))).await.unwrap().is_empty());
    assert!(not_before().await.is_some(), "the revocation outlives the application");
}

/// Item 3 of the hardening issue: on ac06a67 the signing keys lay in control.db as they are, so
/// any copy of the data dir could sign tokens.
#[tokio::test]
async fn signing_keys_are_sealed_at_rest_with_a_key_kept_apart() {
    use sqlx::Row;
    let dir = tempfile::tempdir().unwrap();
    let control = Control::open(dir.path(), key()).await.unwrap();
    let secret = b"-----the PKCS#8 bytes of a signing key-----".to_vec();
    control.add_signing_key(&SigningKey { kid: "k1".into(), pkcs8: secret.clone() }).await.unwrap();
    assert_eq!(control.signing_keys().await.unwrap()[0].pkcs8, secret);

    let raw =
        sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.path().join("control.db").display())).await.unwrap();
    let stored: Vec<u8> = sqlx::query("SELECT pkcs8 FROM signing_keys").fetch_one(&raw).await.unwrap().get(0);
    assert!(SealKey::is_sealed(&stored) && !stored.windows(secret.len()).any(|w| w == secret));

    // A key written before sealing is sealed when the data dir opens.
    sqlx::query("INSERT INTO signing_keys (kid, pkcs8, created_at) VALUES ('old', ?, '2000-01-01')")
        .bind(secret.clone())
        .execute(&raw)
        .await
        .unwrap();
    Control::open(dir.path(), key()).await.unwrap();
    let stored: Vec<u8> =
        sqlx::query("SELECT pkcs8 FROM signing_keys WHERE kid = 'old'").fetch_one(&raw).await.unwrap().get(0);
    assert!(SealKey::is_sealed(&stored));

    let stranger = Control::open(dir.path(), SealKey::generate()).await.unwrap();
    let refused = stranger.signing_keys().await.unwrap_err();
    assert!(refused.to_string().contains("sealed with another key"), "{refused}");
}
