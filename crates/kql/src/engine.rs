//! Running KQL: parse, bind against a catalog, execute on DataFusion.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::memory_pool::{GreedyMemoryPool, MemoryConsumer, MemoryReservation};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::optimizer::Optimizer;
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::physical_plan::displayable;
use datafusion::prelude::{SessionConfig, SessionContext};
use vigil_kql_functions::{CallContext, KqlColumn, Value};
use vigil_kql_syntax::parse;

use crate::bind::{Binder, Executor};
use futures::StreamExt;
use tokio::time::Instant;

use crate::error::{QueryError, execution_message};
use crate::nodes::KqlQueryPlanner;
use crate::relation::Relation;
use crate::result::{QueryResult, ResultTable};
use vigil_catalog::Catalog;

/// Options of one query run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Values of `declare query_parameters`.
    pub parameters: HashMap<String, Value>,
    /// `now()` for the query, in nanoseconds since the epoch; the wall clock when absent.
    pub now: Option<i64>,
    /// Who runs the query, as `current_principal()` reports it.
    pub principal: Option<String>,
}

/// What each query of an engine may take besides memory (which the engine's pool caps). The
/// default is no limit, for the person at the keyboard of `vigil query`; the server sets Log
/// Analytics' own.
#[derive(Debug, Clone, Copy)]
pub struct QueryLimits {
    /// From the start of parsing to the last row; past it the query is cancelled.
    pub time: Option<Duration>,
    /// Rows of all result tables together; the result is cut there and marked partial.
    pub max_rows: usize,
    /// Bytes of all result tables together (their Arrow size); the result is cut there too.
    pub max_bytes: usize,
}

impl Default for QueryLimits {
    fn default() -> QueryLimits {
        QueryLimits { time: None, max_rows: usize::MAX, max_bytes: usize::MAX }
    }
}

impl QueryLimits {
    /// Log Analytics' limits on a result: 500,000 rows and 64 MB.
    pub const RESULT_ROWS: usize = 500_000;
    pub const RESULT_BYTES: usize = 64 << 20;
}

/// The bytes a column of a result holds: its own rows only (a slice does not count the array it
/// was cut from), and for string views the text they point to, which their buffers share.
fn result_bytes(column: &dyn datafusion::arrow::array::Array) -> usize {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::DataType;
    match column.data_type() {
        DataType::Utf8View => {
            let views = column.as_string_view().views();
            views.iter().map(|view| 16 + (*view as u32) as usize).sum()
        }
        _ => column.to_data().get_slice_memory_size().unwrap_or_else(|_| column.get_array_memory_size()),
    }
}

/// Counts what a result has taken so far against its limits.
struct ResultCap {
    limits: QueryLimits,
    rows: usize,
    bytes: usize,
    cut: Option<String>,
}

impl ResultCap {
    fn new(limits: QueryLimits) -> ResultCap {
        ResultCap { limits, rows: 0, bytes: 0, cut: None }
    }

    /// The part of `batch` that fits; records why the rest does not.
    fn admit(&mut self, batch: RecordBatch) -> RecordBatch {
        let rows = batch.num_rows();
        let bytes: usize = batch.columns().iter().map(|c| result_bytes(c.as_ref())).sum();
        let rows_left = self.limits.max_rows.saturating_sub(self.rows);
        let bytes_left = self.limits.max_bytes.saturating_sub(self.bytes);
        let mut keep = rows.min(rows_left);
        if rows_left < rows {
            self.cut = Some(format!(
                "Query result set has exceeded the internal record count limit {} (E_QUERY_RESULT_SET_TOO_LARGE; see https://aka.ms/kustoquerylimits)",
                self.limits.max_rows
            ));
        }
        if bytes > bytes_left {
            let fitting = (bytes_left as u128 * rows as u128 / bytes.max(1) as u128) as usize;
            keep = keep.min(fitting);
            self.cut = Some(format!(
                "Query result set has exceeded the internal data size limit {} (E_QUERY_RESULT_SET_TOO_LARGE; see https://aka.ms/kustoquerylimits)",
                self.limits.max_bytes
            ));
        }
        self.rows += keep;
        self.bytes += if keep == rows { bytes } else { bytes_left };
        if keep == rows { batch } else { batch.slice(0, keep) }
    }

    fn is_full(&self) -> bool {
        self.cut.is_some()
    }
}

/// A DataFusion session set up for KQL. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Engine {
    context: SessionContext,
    /// The memory pool's size, when it has one.
    memory_limit: Option<usize>,
    limits: QueryLimits,
    /// Where `externaldata` reads documents from; none by default.
    external_data: Option<Arc<dyn crate::ExternalData>>,
}

impl Default for Engine {
    fn default() -> Engine {
        Engine::new()
    }
}

impl Engine {
    pub fn new() -> Engine {
        Engine::with_runtime(Arc::new(RuntimeEnv::default()))
    }

    /// A session whose queries together may hold at most `bytes` of memory; a query that needs
    /// more fails with a resources-exhausted error instead of taking the process down.
    pub fn with_memory_limit(bytes: usize) -> datafusion::error::Result<Engine> {
        let runtime = RuntimeEnvBuilder::new().with_memory_pool(Arc::new(GreedyMemoryPool::new(bytes))).build_arc()?;
        Ok(Engine { memory_limit: Some(bytes), ..Engine::with_runtime(runtime) })
    }

    fn with_runtime(runtime: Arc<RuntimeEnv>) -> Engine {
        let mut config = SessionConfig::new().with_information_schema(false).with_batch_size(8192);
        // A folder of Parquet includes its subfolders: Vigil's own segments are laid out in
        // `table/date/hour/` folders, and `vigil query --table T=DIR` should read them.
        config.options_mut().execution.listing_table_ignore_subdirectory = false;
        // The leaf-expression passes move struct field access (`get_field`) towards Parquet
        // scans; Vigil's `dynamic` is JSON text, so they only see `parse`'s internal struct, and
        // over stored tables' qualified columns they fail (ambiguous references).
        let rules = Optimizer::new()
            .rules
            .into_iter()
            .filter(|rule| !matches!(rule.name(), "extract_leaf_expressions" | "push_down_leaf_projections"))
            .collect();
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            .with_optimizer_rules(rules)
            .with_query_planner(Arc::new(KqlQueryPlanner))
            .build();
        Engine {
            context: SessionContext::new_with_state(state),
            memory_limit: None,
            limits: QueryLimits::default(),
            external_data: None,
        }
    }

    /// Limits every query's time and result size.
    pub fn with_limits(mut self, limits: QueryLimits) -> Engine {
        self.limits = limits;
        self
    }

    /// Lets queries read outside documents with `externaldata` from `source`.
    pub fn with_external_data(mut self, source: Arc<dyn crate::ExternalData>) -> Engine {
        self.external_data = Some(source);
        self
    }

    pub fn session(&self) -> &SessionContext {
        &self.context
    }

    /// Parses and binds without running anything: the diagnostics a query would get. Returns
    /// the columns of the first result (none when `syntax_only` or the query returns nothing).
    /// Checks a data collection rule's `transformKql` over its input stream's columns (the
    /// table `source`), as Azure Monitor does before it accepts a DCR.
    pub fn check_transform(&self, transform: &str, columns: &[KqlColumn]) -> Result<(), String> {
        let mut catalog = vigil_catalog::MemoryCatalog::new();
        catalog.add_batches("source", columns.to_vec(), vec![]).map_err(|e| e.to_string())?;
        self.check(transform, &catalog, false).map(|_| ()).map_err(|e| e.render(transform))
    }

    pub fn check(&self, query: &str, catalog: &dyn Catalog, syntax_only: bool) -> Result<Vec<KqlColumn>, QueryError> {
        let parsed = parse(query);
        if parsed.has_errors() {
            return Err(QueryError::Invalid(parsed.diagnostics));
        }
        if syntax_only {
            return Ok(Vec::new());
        }
        let mut binder = Binder::new(catalog, None, call_context(&RunOptions::default()));
        let results = binder.bind_query(&parsed.query)?;
        Ok(results.into_iter().next().map(|result| result.relation.columns).unwrap_or_default())
    }

    /// Every problem the recovering parser and the binder find in a query, for editors (several
    /// at once, where `check` stops at the first), with the first result's columns when there
    /// is one. Runs nothing.
    pub fn diagnose(&self, query: &str, catalog: &dyn Catalog) -> (Vec<KqlColumn>, Vec<vigil_kql_syntax::Diagnostic>) {
        let parsed = parse(query);
        let syntax_errors: Vec<_> = parsed.diagnostics.iter().map(|d| d.span).collect();
        let mut binder = Binder::new(catalog, None, call_context(&RunOptions::default()));
        let (columns, semantic) = binder
            .bind_all(&parsed.query, |span| syntax_errors.iter().any(|e| span.start <= e.start && e.start <= span.end));
        let mut diagnostics = parsed.diagnostics;
        diagnostics.extend(semantic);
        diagnostics.sort_by_key(|d| (d.span.start, d.span.end));
        let columns = if diagnostics.is_empty() { columns.unwrap_or_default() } else { Vec::new() };
        (columns, diagnostics)
    }

    /// Parses, binds and runs a query within the engine's limits and memory pool. Must
    /// be called on a multi-threaded Tokio runtime: binding may run subqueries (`toscalar`,
    /// `bag_unpack`) and blocks on them, off the async threads.
    pub async fn run(
        &self,
        query: &str,
        catalog: Arc<dyn Catalog>,
        options: RunOptions,
    ) -> Result<QueryResult, QueryError> {
        let Some(limit) = self.limits.time else {
            return self.run_until(query, catalog, options, None).await;
        };
        let deadline = Instant::now() + limit;
        // Dropping the run at the deadline drops its streams, which stops DataFusion's tasks;
        // work blocked in binding stops at the same deadline on its own.
        tokio::time::timeout_at(deadline, self.run_until(query, catalog, options, Some(deadline)))
            .await
            .unwrap_or(Err(QueryError::TimeLimit(limit)))
    }

    async fn run_until(
        &self,
        query: &str,
        catalog: Arc<dyn Catalog>,
        options: RunOptions,
        deadline: Option<Instant>,
    ) -> Result<QueryResult, QueryError> {
        let (bound, _materialized) = self.bind(query, catalog, options, deadline).await?;
        let mut cap = ResultCap::new(self.limits);
        let mut tables = Vec::with_capacity(bound.len());
        for (name, relation) in bound {
            let batches =
                if cap.is_full() { Vec::new() } else { self.execute(relation.plan.clone(), &mut cap).await? };
            tables.push(ResultTable { name, columns: relation.columns, batches, render: relation.render });
        }
        Ok(QueryResult { tables, partial: cap.cut })
    }

    /// The optimized logical plan and the physical plan of each result of a query, as text:
    /// what `vigil query --explain` prints to show how a query will run.
    pub async fn explain(
        &self,
        query: &str,
        catalog: Arc<dyn Catalog>,
        options: RunOptions,
    ) -> Result<String, QueryError> {
        let failed = |e: datafusion::error::DataFusionError| QueryError::Execution(execution_message(&e));
        let mut text = String::new();
        for (name, relation) in self.bind(query, catalog, options, None).await?.0 {
            let state = self.context.state();
            let logical = state.optimize(&relation.plan).map_err(failed)?;
            let physical = state.create_physical_plan(&logical).await.map_err(failed)?;
            text.push_str(&format!(
                "== {name}: logical plan ==\n{}\n\n== {name}: physical plan ==\n{}\n",
                logical.display_indent(),
                displayable(physical.as_ref()).indent(true)
            ));
        }
        Ok(text)
    }

    /// Binds in a blocking thread. Returns the results' plans and the memory reservations of
    /// the rows binding materialized (a plugin's input), which the plans hold until they run.
    async fn bind(
        &self,
        query: &str,
        catalog: Arc<dyn Catalog>,
        options: RunOptions,
        deadline: Option<Instant>,
    ) -> Result<(Vec<(String, Relation)>, Vec<MemoryReservation>), QueryError> {
        let engine = self.clone();
        let text = query.to_string();
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let parsed = parse(&text);
            if parsed.has_errors() {
                return Err(QueryError::Invalid(parsed.diagnostics));
            }
            let executor = BlockingExecutor {
                context: engine.context.clone(),
                handle,
                deadline,
                time_limit: engine.limits.time,
                memory_limit: engine.memory_limit,
                reservations: Mutex::new(Vec::new()),
                breach: Mutex::new(None),
            };
            let mut binder = Binder::new(catalog.as_ref(), Some(&executor), call_context(&options))
                .with_parameters(options.parameters.clone())
                .with_external_data(engine.external_data.clone());
            let bound = binder.bind_query(&parsed.query);
            // A limit met while binding is the query's error, not the diagnostic it became.
            if let Some(breach) = executor.breach.lock().unwrap_or_else(|p| p.into_inner()).take() {
                return Err(breach);
            }
            let results = bound?.into_iter().map(|r| (r.name, r.relation)).collect();
            Ok((results, executor.reservations.into_inner().unwrap_or_else(|p| p.into_inner())))
        })
        .await
        .map_err(|e| QueryError::Execution(format!("the query was interrupted: {e}")))?
    }

    async fn execute(&self, plan: LogicalPlan, cap: &mut ResultCap) -> Result<Vec<RecordBatch>, QueryError> {
        let failed = |e: datafusion::error::DataFusionError| QueryError::from_execution(&e, self.memory_limit);
        let frame = self.context.execute_logical_plan(plan).await.map_err(failed)?;
        let mut stream = frame.execute_stream().await.map_err(failed)?;
        let mut batches = Vec::new();
        while let Some(batch) = stream.next().await {
            batches.push(cap.admit(batch.map_err(failed)?));
            if cap.is_full() {
                break;
            }
        }
        Ok(batches)
    }
}

fn call_context(options: &RunOptions) -> CallContext {
    let now = options.now.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
    });
    CallContext { now, principal: options.principal.clone().unwrap_or_else(|| "aaduser=vigil".to_string()) }
}

/// Runs plans for the binder from a blocking thread, within the query's deadline and memory
/// pool: the rows it returns are counted against the pool (as the values binding turns them
/// into, about four times their Arrow size) until the query ends.
struct BlockingExecutor {
    context: SessionContext,
    handle: tokio::runtime::Handle,
    deadline: Option<Instant>,
    time_limit: Option<Duration>,
    memory_limit: Option<usize>,
    reservations: Mutex<Vec<MemoryReservation>>,
    /// The limit a subquery met, reported as the query's error.
    breach: Mutex<Option<QueryError>>,
}

/// How much more memory rows take as binding's values than as Arrow arrays.
const MATERIALIZED_OVERHEAD: usize = 4;

impl BlockingExecutor {
    fn breached(&self, error: QueryError) -> datafusion::error::DataFusionError {
        let message = error.to_string();
        *self.breach.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
        datafusion::error::DataFusionError::Execution(message)
    }
}

impl Executor for BlockingExecutor {
    fn collect(&self, plan: LogicalPlan) -> datafusion::error::Result<Vec<RecordBatch>> {
        let context = self.context.clone();
        let work = async move { context.execute_logical_plan(plan).await?.collect().await };
        let collected = match (self.deadline, self.time_limit) {
            (Some(deadline), Some(limit)) => self
                .handle
                .block_on(tokio::time::timeout_at(deadline, work))
                .unwrap_or_else(|_| Err(self.breached(QueryError::TimeLimit(limit)))),
            _ => self.handle.block_on(work),
        };
        let batches = match collected {
            Ok(batches) => batches,
            Err(error) => {
                return Err(match QueryError::from_execution(&error, self.memory_limit) {
                    breach @ QueryError::MemoryLimit { .. } => self.breached(breach),
                    _ => error,
                });
            }
        };
        let bytes: usize = batches.iter().map(RecordBatch::get_array_memory_size).sum();
        let reservation =
            MemoryConsumer::new("rows materialized while binding").register(&self.context.runtime_env().memory_pool);
        if let Err(error) = reservation.try_grow(bytes.saturating_mul(MATERIALIZED_OVERHEAD)) {
            let breach = QueryError::from_execution(&error, self.memory_limit);
            return Err(if matches!(breach, QueryError::MemoryLimit { .. }) { self.breached(breach) } else { error });
        }
        self.reservations.lock().unwrap_or_else(|p| p.into_inner()).push(reservation);
        Ok(batches)
    }
}

/// The literal an expression without columns evaluates to, if DataFusion can fold it.
pub(crate) fn simplify_constant(expr: &Expr) -> Option<Expr> {
    ExprSimplifier::new(SimplifyContext::default()).simplify(expr.clone()).ok()
}
