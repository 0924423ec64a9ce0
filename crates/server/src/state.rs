//! What every request handler shares: the control plane, the store, the query engine, the
//! token service, metrics, and caches of control-plane state keyed by its generation.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::HeaderMap;
use tokio::sync::Mutex;
use vigil_catalog::{Catalog, Definitions, DefinitionsSource, WorkspaceCatalog};
use vigil_control::{Control, Dcr, ExternalIssuer, PrincipalId, Role};
use vigil_detect::Detection;
use vigil_kql::Engine;
use vigil_kql_functions::KqlColumn;
use vigil_shares::{Refused, Share, Shares};
use vigil_store::Store;

use crate::config::ServerConfig;
use crate::error::ApiError;
use crate::executor::QueryRuntime;
use crate::metrics::Metrics;
use crate::throttle::TokenLimits;
use crate::tokens::{Principal, TokenService};

pub struct AppState {
    pub config: ServerConfig,
    pub control: Control,
    pub store: Arc<Store>,
    pub detection: Arc<Detection>,
    pub tokens: TokenService,
    pub metrics: Metrics,
    pub scheduler_metrics: vigil_detect::scheduler::SchedulerMetrics,
    /// The session DCR transforms run in. Shared: a transform reads only its request's batch,
    /// which is bounded by the 1 MiB request limit, so it needs no memory cap of its own.
    pub transform_engine: Engine,
    /// Ingestion requests in flight, shared between tenants; when a tenant has none free the
    /// server sheds its load with 429.
    pub ingest_slots: Shares,
    /// Queries running, shared between tenants.
    pub query_slots: Shares,
    /// Where queries run, apart from the requests being served.
    pub query_runtime: QueryRuntime,
    pub token_limits: TokenLimits,
    origin: String,
    /// Held while a table's columns are redefined, so that a table growing with its data and
    /// a refresh from the control database never define it from stale columns.
    table_growth: Mutex<()>,
    cache: Mutex<Cache>,
}

/// One query's engine, holding its slot of the tenant's share until dropped.
pub struct QuerySession {
    pub engine: Engine,
    _share: Share,
}

/// Control-plane state read on every request, reloaded when the control generation moves
/// (another process, such as `vigil dcr create`, may change it at any time).
#[derive(Default)]
struct Cache {
    generation: i64,
    dcrs: HashMap<String, Option<Arc<Dcr>>>,
    external_issuers: Arc<Vec<ExternalIssuer>>,
    /// Each revoked principal's not-before, by tenant.
    revocations: HashMap<(String, PrincipalId), i64>,
    decisions: HashMap<(String, PrincipalId, Role, String, Option<String>), bool>,
    definitions: HashMap<String, Arc<Definitions>>,
}

impl AppState {
    pub fn new(
        config: ServerConfig,
        control: Control,
        store: Arc<Store>,
        detection: Arc<Detection>,
        tokens: TokenService,
        metrics: Metrics,
        scheduler_metrics: vigil_detect::scheduler::SchedulerMetrics,
    ) -> Result<Self, String> {
        let query_runtime = QueryRuntime::new().map_err(|e| format!("cannot start the query runtime: {e}"))?;
        let shares = |total: usize, per_tenant: Option<usize>| {
            Shares::new(total, per_tenant.unwrap_or(Shares::default_per_tenant(total)))
        };
        let ingest_slots = shares(config.max_concurrent_ingest, config.max_concurrent_ingest_per_tenant);
        let query_slots = shares(config.max_concurrent_queries, config.max_concurrent_queries_per_tenant);
        Ok(AppState {
            origin: config.origin(),
            token_limits: TokenLimits::new(&config),
            config,
            control,
            store,
            detection,
            tokens,
            metrics,
            scheduler_metrics,
            transform_engine: Engine::new(),
            ingest_slots,
            query_slots,
            query_runtime,
            table_growth: Mutex::new(()),
            cache: Mutex::new(Cache { generation: -1, ..Cache::default() }),
        })
    }

    /// Where queries' `externaldata` reads documents, as the configuration allows.
    pub fn external_data(&self) -> Arc<dyn vigil_kql::ExternalData> {
        Arc::new(crate::external_data::OutsideDocuments::new(
            self.config.external_data.clone(),
            self.config.outbound.clone(),
        ))
    }

    /// A session with the shared function library within the configured memory, time and
    /// result limits: the rule scheduler's, shared by its runs (which take its own shares).
    pub fn query_engine(&self) -> Result<Engine, ApiError> {
        let limits = vigil_kql::QueryLimits {
            time: Some(self.config.query_timeout),
            max_rows: self.config.result_rows,
            max_bytes: self.config.result_bytes,
        };
        let engine = Engine::with_memory_limit(self.config.query_memory)
            .map_err(|e| ApiError::internal(format!("cannot set up the query session: {e}")))?
            .with_limits(limits)
            .with_external_data(self.external_data());
        self.store.register_object_store(engine.session());
        Ok(engine)
    }

    /// A session for one query of `tenant`, once the tenant's share of the running queries has
    /// room (waiting up to `[query] queue_seconds`, then 429).
    pub async fn query_session(&self, tenant: &str) -> Result<QuerySession, ApiError> {
        let share = self.query_slots.acquire(tenant, self.config.query_queue).await.map_err(|refused| {
            let message = match refused {
                Refused::TenantShare => "This tenant is running as many queries as its share of the server allows",
                Refused::Full => "The server is running as many queries as it can",
            };
            ApiError::too_many_requests(
                format!(
                    "{message}, and none finished within {} seconds; retry later.",
                    self.config.query_queue.as_secs()
                ),
                5,
            )
        })?;
        Ok(QuerySession { engine: self.query_engine()?, _share: share })
    }

    /// Brings the caches and the store's tables up to date with the control database.
    pub async fn refresh(&self) -> Result<(), ApiError> {
        let generation = self.control.generation().await?;
        let mut cache = self.cache.lock().await;
        if cache.generation == generation {
            return Ok(());
        }
        let _growing = self.table_growth.lock().await;
        for table in self.control.tables(None).await? {
            // Columns a classic table grew from its data stay: definitions only add.
            let mut columns = table.schema.columns.clone();
            for stored in self.store.table_columns(&table.workspace_id, &table.schema.name).unwrap_or_default() {
                if !columns.iter().any(|c| c.name == stored.name) {
                    columns.push(stored);
                }
            }
            self.store.define_table(&table.workspace_id, &table.schema.name, &columns, table.retention_days).await?;
        }
        *cache = Cache {
            generation,
            external_issuers: Arc::new(self.control.external_issuers(None).await?),
            revocations: self
                .control
                .revocations()
                .await?
                .into_iter()
                .map(|r| ((r.tenant_id, r.principal), r.not_before))
                .collect(),
            ..Cache::default()
        };
        Ok(())
    }

    /// What a workspace defines (custom tables, functions, watchlists), as of the control
    /// database's current generation.
    pub async fn definitions(&self, workspace_id: &str) -> Result<Arc<Definitions>, ApiError> {
        self.refresh().await?;
        if let Some(found) = self.cache.lock().await.definitions.get(workspace_id) {
            return Ok(found.clone());
        }
        let loaded = Arc::new(self.control.definitions(workspace_id).await?);
        self.cache.lock().await.definitions.insert(workspace_id.to_string(), loaded.clone());
        Ok(loaded)
    }

    /// The catalog queries of a workspace read: its stored rows over its definitions, so that
    /// every standard table, function and watchlist answers before any row has arrived.
    pub async fn catalog(&self, workspace_id: &str) -> Result<Arc<dyn Catalog>, ApiError> {
        let definitions = self.definitions(workspace_id).await?;
        Ok(Arc::new(WorkspaceCatalog::new(self.store.catalog(workspace_id), definitions)))
    }

    /// Where a transform's output lands: the table's columns in the store (defining the table
    /// there from the workspace's definitions, a standard table say, when its first rows come)
    /// and the output's fields as stored. A table that grows with its data (`AzureDiagnostics`,
    /// a classic custom log) first gains a column for each field it lacks, named with the
    /// field's type suffix. `None`: no such table.
    pub async fn destination_columns(
        &self,
        workspace_id: &str,
        table: &str,
        fields: &[KqlColumn],
    ) -> Result<Option<(Vec<KqlColumn>, Vec<KqlColumn>)>, ApiError> {
        let definitions = self.definitions(workspace_id).await?;
        let open = definitions.table(table).and_then(|schema| schema.open);
        let _growing = self.table_growth.lock().await;
        let columns = match self.store.table_columns(workspace_id, table) {
            Some(columns) => columns,
            None => {
                let Some(schema) = definitions.table(table) else { return Ok(None) };
                self.store.define_table(workspace_id, table, &schema.columns, None).await?;
                schema.columns.clone()
            }
        };
        let growth = vigil_catalog::open::grow(open, &columns, fields);
        if !growth.dropped.is_empty() && open.is_some() {
            tracing::warn!(
                table,
                dropped = ?growth.dropped,
                "fields dropped: the table has {} columns, as many as a table may grow to",
                vigil_catalog::open::MAX_OPEN_TABLE_COLUMNS
            );
        }
        if growth.added.is_empty() {
            return Ok(Some((columns, growth.fields)));
        }
        let grown: Vec<KqlColumn> = columns.into_iter().chain(growth.added).collect();
        self.store.define_table(workspace_id, table, &grown, None).await?;
        Ok(Some((grown, growth.fields)))
    }

    pub async fn dcr(&self, immutable_id: &str) -> Result<Option<Arc<Dcr>>, ApiError> {
        self.refresh().await?;
        if let Some(found) = self.cache.lock().await.dcrs.get(immutable_id) {
            return Ok(found.clone());
        }
        let found = self.control.dcr(immutable_id).await?.map(Arc::new);
        self.cache.lock().await.dcrs.insert(immutable_id.to_string(), found.clone());
        Ok(found)
    }

    /// Whether a principal holds `role` on a workspace (and DCR); refuses principals of
    /// another tenant outright.
    pub async fn allowed(
        &self,
        principal: &Principal,
        role: Role,
        tenant_id: &str,
        workspace_id: &str,
        dcr: Option<&str>,
    ) -> Result<bool, ApiError> {
        if principal.tenant_id != tenant_id {
            return Ok(false);
        }
        self.refresh().await?;
        let key = (
            principal.tenant_id.clone(),
            principal.id.clone(),
            role,
            workspace_id.to_string(),
            dcr.map(str::to_string),
        );
        if let Some(decision) = self.cache.lock().await.decisions.get(&key) {
            return Ok(*decision);
        }
        let decision = self.control.has_role(tenant_id, &principal.id, role, workspace_id, dcr).await?;
        self.cache.lock().await.decisions.insert(key, decision);
        Ok(decision)
    }

    /// The origin the server is reached at ([`ServerConfig::origin`]).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// When the tokens of a principal were last revoked (seconds since the epoch).
    pub async fn not_before(&self, tenant_id: &str, principal: &PrincipalId) -> Result<Option<i64>, ApiError> {
        self.refresh().await?;
        Ok(self.cache.lock().await.revocations.get(&(tenant_id.to_string(), principal.clone())).copied())
    }

    /// Validates the request's bearer token for one of `audiences` (plus this server's own
    /// origin when `own_origin` is set), and that its principal's tokens were not revoked
    /// since it was issued.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        audiences: &[&str],
        own_origin: bool,
    ) -> Result<Principal, ApiError> {
        let token = bearer_token(headers)?;
        self.refresh().await?;
        let external = self.cache.lock().await.external_issuers.clone();
        let origin = self.origin();
        let mut accepted: Vec<String> = audiences.iter().map(|a| a.to_string()).collect();
        for audience in audiences {
            accepted.push(format!("{audience}/"));
        }
        if own_origin {
            accepted.push(origin.to_string());
            accepted.push(format!("{origin}/"));
        }
        let principal = self
            .tokens
            .validate(token, origin, &accepted, &external)
            .await
            .map_err(|rejection| ApiError::unauthorized(rejection.0))?;
        // The cache was brought up to date above, for this request.
        let revoked =
            self.cache.lock().await.revocations.get(&(principal.tenant_id.clone(), principal.id.clone())).copied();
        if let Some(not_before) = revoked
            && principal.issued_at.is_none_or(|issued| issued < not_before)
        {
            return Err(ApiError::unauthorized(
                "the bearer token was revoked: its principal was disabled, deleted, given a new secret or signed \
                 out everywhere after it was issued; get a new token",
            ));
        }
        Ok(principal)
    }
}

impl DefinitionsSource for AppState {
    fn definitions<'a>(
        &'a self,
        workspace_id: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Arc<Definitions>, String>> + Send + 'a>> {
        Box::pin(async move { AppState::definitions(self, workspace_id).await.map_err(|e| e.message) })
    }
}

fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("the request has no Authorization header with a bearer token"))?
        .to_str()
        .map_err(|_| ApiError::unauthorized("the Authorization header is not text"))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => Ok(token.trim()),
        _ => Err(ApiError::unauthorized("the Authorization header is not 'Bearer <token>'")),
    }
}
