//! `vigil serve`: one process that issues tokens, receives logs through the Logs Ingestion
//! API, stores them durably, answers KQL over the Log Analytics query API, runs the
//! analytics rules, and serves alerts and incidents over Defender's APIs.
//!
//! Handlers are thin: they authenticate ([`state::AppState::authenticate`]), authorise against
//! the control plane, and call the store and the engine. Every API family answers errors in
//! its own wire shape ([`error`]).

pub mod admin;
pub mod config;
pub mod console;
pub mod data_dir;
pub mod definitions;
pub mod detection;
pub mod error;
pub mod executor;
pub mod external_data;
pub mod hunting;
pub mod ingestion;
pub mod metrics;
pub mod oauth;
pub mod query;
pub mod records;
pub mod request_id;
pub mod state;
pub mod throttle;
pub mod tls;
pub mod tokens;
pub mod workbooks;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};
use vigil_control::{Bootstrap, Control};
use vigil_detect::scheduler::SchedulerMetrics;
use vigil_detect::{Deliverer, Detection, Scheduler};
use vigil_shares::Shares;
use vigil_store::{Store, StoreConfig};

use crate::config::{ServerConfig, TlsMode};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::state::AppState;
use crate::tokens::{MANAGEMENT_AUDIENCE, TokenService};

pub use config::parse_listen;

/// Opens the data dir: the control database (bootstrapping it on first start), the store
/// (replaying its write-ahead log), and the token keys.
pub async fn open(config: ServerConfig) -> Result<(Arc<AppState>, Option<Bootstrap>), String> {
    if let Some(warning) = data_dir::prepare(&config.data_dir)? {
        tracing::warn!("{warning}");
    }
    let seal = config.seal_key()?;
    let control = Control::open(&config.data_dir, seal.clone()).await.map_err(|e| e.to_string())?;
    let bootstrap = control.bootstrap().await.map_err(|e| e.to_string())?;
    let store_config = StoreConfig {
        data_dir: config.data_dir.clone(),
        segments_url: config.segments_url.clone(),
        flush_interval: config.flush_interval,
        compaction_interval: config.compaction_interval,
        max_memtable_bytes: config.max_unflushed_bytes,
        max_workspace_memtable_bytes: config
            .max_unflushed_bytes_per_workspace
            .unwrap_or(config.max_unflushed_bytes / 2)
            .min(config.max_unflushed_bytes),
        ..StoreConfig::default()
    };
    let store = Store::open(store_config).await.map_err(|e| format!("cannot open the store: {e}"))?;
    let detection = Detection::open(&config.data_dir.join("detection.db"), seal).await.map_err(|e| e.to_string())?;
    let tokens = TokenService::load(&control, config.outbound.clone()).await?;
    let scheduler_metrics = SchedulerMetrics::default();
    let metrics = Metrics::new(&store, &scheduler_metrics);
    let state = Arc::new(AppState::new(config, control, store, detection, tokens, metrics, scheduler_metrics)?);
    state.refresh().await.map_err(|e| e.message)?;
    Ok((state, bootstrap))
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/{tenant}/v2.0/.well-known/openid-configuration", get(oauth::openid_configuration))
        .route("/{tenant}/discovery/v2.0/keys", get(oauth::keys))
        .route("/{tenant}/oauth2/v2.0/token", post(oauth::token))
        .route("/{tenant}/oauth2/token", post(oauth::token))
        .route("/dataCollectionRules/{dcr}/streams/{stream}", post(ingestion::ingest))
        .route("/v1/workspaces/{workspace}/query", post(query::query))
        .route("/api/console/config", get(console::config))
        .route("/api/me", get(admin::me))
        .route("/api/content", get(workbooks::list_packs))
        .route("/api/workspaces", get(admin::list_workspaces).post(admin::create_workspace))
        .route("/api/apps", get(admin::list_apps).post(admin::create_app))
        .route("/api/apps/{client_id}", patch(admin::update_app).delete(admin::delete_app))
        .route("/api/apps/{client_id}/secret", post(admin::rotate_app_secret))
        .route("/api/roleAssignments", get(admin::list_role_assignments).post(admin::assign_role))
        .route("/api/roleAssignments/{id}", delete(admin::remove_role_assignment))
        .route("/api/revokeSessions", post(admin::revoke_sessions))
        .route("/api/issuers", get(admin::list_issuers).post(admin::trust_issuer).delete(admin::distrust_issuer))
        .route("/api/workspaces/{workspace}/kql/check", post(hunting::check))
        .route("/api/workspaces/{workspace}/kql/complete", post(hunting::complete))
        .route("/api/workspaces/{workspace}/savedQueries", get(hunting::list_saved_queries))
        .route(
            "/api/workspaces/{workspace}/savedQueries/{id}",
            put(hunting::put_saved_query).delete(hunting::delete_saved_query),
        )
        .route("/api/workspaces/{workspace}/workbooks", get(workbooks::list))
        .route(
            "/api/workspaces/{workspace}/workbooks/{name}",
            get(workbooks::get).put(workbooks::put).delete(workbooks::delete),
        )
        .route(
            "/api/workspaces/{workspace}/content/import",
            post(definitions::import_content).layer(DefaultBodyLimit::max(definitions::IMPORT_BODY_LIMIT)),
        )
        .route("/api/workspaces/{workspace}/content/{name}", post(workbooks::install_pack))
        .route("/api/workspaces/{workspace}/functions", get(definitions::list_functions))
        .route(
            "/api/workspaces/{workspace}/functions/{name}",
            get(definitions::get_function).put(definitions::put_function).delete(definitions::delete_function),
        )
        .route("/api/workspaces/{workspace}/watchlists", get(definitions::list_watchlists))
        .route(
            "/api/workspaces/{workspace}/watchlists/{alias}",
            get(definitions::get_watchlist)
                .put(definitions::put_watchlist)
                .delete(definitions::delete_watchlist)
                .layer(DefaultBodyLimit::max(definitions::WATCHLIST_BODY_LIMIT)),
        )
        .route("/api/workspaces/{workspace}/watchlists/{alias}/items", get(definitions::watchlist_items))
        .route("/api/workspaces/{workspace}/tables", get(admin::list_tables))
        .route("/api/workspaces/{workspace}/tables/{name}", put(admin::put_table))
        .route("/api/workspaces/{workspace}/dcrs", get(admin::list_dcrs))
        .route("/api/workspaces/{workspace}/dcrs/{name}", put(admin::put_dcr))
        .route("/api/alerts", get(detection::list_alerts))
        .route("/api/alerts/{id}", get(detection::get_alert).patch(detection::patch_alert))
        .route("/api/incidents", get(detection::list_incidents))
        .route("/api/incidents/{id}", get(detection::get_incident).patch(detection::patch_incident))
        .route("/api/incidents/{id}/comments", post(detection::add_incident_comment))
        .route("/api/workspaces/{workspace}/rules", get(detection::list_rules).post(detection::import_rule))
        .route("/api/workspaces/{workspace}/rules/test", post(detection::test_rule))
        .route("/api/workspaces/{workspace}/rules/{id}/triggerRuleRun", post(detection::trigger_rule_run))
        .route(
            "/api/workspaces/{workspace}/rules/{id}",
            get(detection::get_rule).patch(detection::patch_rule).delete(detection::delete_rule),
        )
        .route(
            "/api/workspaces/{workspace}/automation",
            get(detection::list_automation).post(detection::import_automation),
        )
        .route(
            "/api/workspaces/{workspace}/suppressionRules",
            get(detection::list_suppressions).post(detection::add_suppression),
        )
        .route("/api/workspaces/{workspace}/suppressionRules/{id}", delete(detection::delete_suppression))
        .fallback(console::fallback)
        .layer(axum::middleware::from_fn(request_id::assign))
        .with_state(state)
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if let Some(failure) = state.store.write_failure() {
        return (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {failure}")).into_response();
    }
    match state.control.generation().await {
        Ok(_) => "ready".into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}")).into_response(),
    }
}

/// Prometheus metrics, for an Owner of a tenant (Prometheus can fetch a token itself with its
/// `oauth2` client-credentials settings).
async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let principal = state.authenticate(&headers, &[MANAGEMENT_AUDIENCE], true).await?;
    let assignments = state.control.role_assignments(&principal.tenant_id, Some(&principal.id)).await?;
    if !assignments.iter().any(|a| a.role == vigil_control::Role::Owner.name()) {
        return Err(ApiError::forbidden("Metrics are for an Owner."));
    }
    Ok(([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.metrics.render())
        .into_response())
}

/// Runs the server until SIGINT or SIGTERM, then stops taking requests, lets those in flight
/// finish, and closes the store (which flushes it).
pub async fn serve(mut config: ServerConfig) -> Result<(), String> {
    // Bound before the data dir opens, so that a listen on port 0 has its real port in the
    // origin (the issuer of the server's tokens).
    let listener = std::net::TcpListener::bind(config.listen)
        .and_then(|listener| listener.set_nonblocking(true).map(|()| listener))
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    config.listen = listener.local_addr().map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let (state, bootstrap) = open(config.clone()).await?;
    if let Some(bootstrap) = bootstrap {
        announce_bootstrap(&config.data_dir, &bootstrap)?;
    }
    let background = start_detection(&state);
    let app = router(state.clone());
    let handle = axum_server::Handle::new();
    let shutdown = handle.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing requests in flight");
        shutdown.graceful_shutdown(Some(Duration::from_secs(30)));
    });
    let announce = handle.clone();
    let scheme = if config.tls == TlsMode::Disabled { "http" } else { "https" };
    tokio::spawn(async move {
        if let Some(address) = announce.listening().await {
            // Tests and scripts read this line to learn the port when listening on port 0.
            println!("Vigil listening on {scheme}://{address}");
            tracing::info!(%address, scheme, "listening");
        }
    });
    let served = match &config.tls {
        TlsMode::Disabled => {
            tracing::warn!("serving plain HTTP: tokens and records cross the network unencrypted");
            match axum_server::from_tcp(listener) {
                Ok(server) => {
                    server.handle(handle).serve(app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await
                }
                Err(e) => Err(e),
            }
        }
        mode => {
            let (cert, key) = match mode {
                TlsMode::Files { cert, key } => (cert.clone(), key.clone()),
                _ => tls::self_signed(&config.data_dir)?,
            };
            let tls = tls::rustls_config(&cert, &key).await?;
            match axum_server::from_tcp_rustls(listener, tls) {
                Ok(server) => {
                    server.handle(handle).serve(app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await
                }
                Err(e) => Err(e),
            }
        }
    };
    background.stop().await;
    let closed = state.store.close().await;
    state.detection.close().await;
    served.map_err(|e| format!("cannot serve on {}: {e}", config.listen))?;
    closed.map_err(|e| format!("the store did not close cleanly: {e}"))?;
    tracing::info!("stopped");
    Ok(())
}

/// The detection tasks: the rule scheduler, playbook deliveries, and the outbox that feeds
/// `SecurityAlert` and `SecurityIncident`.
pub struct Background {
    shutdown: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Background {
    /// Stops the tasks and waits for them: runs in progress finish and commit.
    pub async fn stop(self) {
        self.shutdown.send_replace(true);
        for task in self.tasks {
            if let Err(e) = task.await {
                tracing::error!("a detection task failed: {e}");
            }
        }
    }
}

pub fn start_detection(state: &Arc<AppState>) -> Background {
    let (shutdown, _) = tokio::sync::watch::channel(false);
    let engine = match state.query_engine() {
        Ok(engine) => engine,
        // Only an invalid memory size fails here, and the configuration was checked at start.
        Err(error) => {
            tracing::error!(error = ?error, "rules run without the query limits");
            vigil_kql::Engine::new().with_external_data(state.external_data())
        }
    };
    let scheduler = Scheduler::new(
        state.detection.clone(),
        state.store.clone(),
        state.clone(),
        engine,
        Shares::new(
            state.config.rule_concurrency,
            state
                .config
                .rule_concurrency_per_tenant
                .unwrap_or(Shares::default_per_tenant(state.config.rule_concurrency)),
        ),
        state.scheduler_metrics.clone(),
    );
    let deliverer = Deliverer::new(state.detection.clone(), state.origin(), state.config.outbound.clone());
    let tasks = vec![
        // Rule queries run on the query runtime, as the API's queries do.
        state.query_runtime.handle().spawn(scheduler.run(shutdown.subscribe())),
        tokio::spawn(deliverer.run(shutdown.subscribe())),
        tokio::spawn(detection::pump_outbox(state.clone(), shutdown.subscribe())),
    ];
    Background { shutdown, tasks }
}

/// Tells the user how to log in on the first start. The secret goes to a file only the user
/// can read, never to the log.
/// Keeps the owner credential of a data dir's first start in the data dir, readable only by
/// its owner, and returns where.
pub fn keep_owner_credential(data_dir: &std::path::Path, bootstrap: &Bootstrap) -> Result<std::path::PathBuf, String> {
    let path = data_dir.join("owner-credential.json");
    let text = serde_json::to_string_pretty(&bootstrap.owner).map_err(|e| e.to_string())?;
    tls::write_secret_file(&path, text.as_bytes())?;
    Ok(path)
}

/// Keeps the owner credential of a first start (by `vigil serve` or by an admin command on a
/// fresh data dir) and says on standard error what was created.
pub fn announce_bootstrap(data_dir: &std::path::Path, bootstrap: &Bootstrap) -> Result<(), String> {
    let path = keep_owner_credential(data_dir, bootstrap)?;
    eprintln!(
        "First start: created tenant '{}' ({}) with workspace '{}' ({}).\n\
         The owner application's client id is {}; its secret is in {} (readable only by you).\n\
         Get a token with the client-credentials grant at /{}/oauth2/v2.0/token.",
        bootstrap.tenant.name,
        bootstrap.tenant.id,
        bootstrap.workspace.name,
        bootstrap.workspace.id,
        bootstrap.owner.client_id,
        path.display(),
        bootstrap.tenant.id
    );
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => {
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
