//! Running KQL: parse, bind against a catalog, execute on DataFusion.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::memory_pool::GreedyMemoryPool;
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

/// A DataFusion session set up for KQL. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Engine {
    context: SessionContext,
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
        Ok(Engine::with_runtime(runtime))
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
        Engine { context: SessionContext::new_with_state(state), external_data: None }
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

    /// Parses, binds and runs a query. Must be called on a multi-threaded Tokio runtime:
    /// binding may run subqueries (`toscalar`, `bag_unpack`) and blocks on them.
    pub async fn run(
        &self,
        query: &str,
        catalog: Arc<dyn Catalog>,
        options: RunOptions,
    ) -> Result<QueryResult, QueryError> {
        let bound = self.bind(query, catalog, options).await?;
        let mut tables = Vec::with_capacity(bound.len());
        for (name, relation) in bound {
            let batches = self.execute(relation.plan.clone()).await?;
            tables.push(ResultTable { name, columns: relation.columns, batches, render: relation.render });
        }
        Ok(QueryResult { tables })
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
        for (name, relation) in self.bind(query, catalog, options).await? {
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

    async fn bind(
        &self,
        query: &str,
        catalog: Arc<dyn Catalog>,
        options: RunOptions,
    ) -> Result<Vec<(String, Relation)>, QueryError> {
        let engine = self.clone();
        let text = query.to_string();
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let parsed = parse(&text);
            if parsed.has_errors() {
                return Err(QueryError::Invalid(parsed.diagnostics));
            }
            let executor = BlockingExecutor { context: engine.context.clone(), handle };
            let mut binder = Binder::new(catalog.as_ref(), Some(&executor), call_context(&options))
                .with_parameters(options.parameters.clone())
                .with_external_data(engine.external_data.clone());
            let results = binder.bind_query(&parsed.query)?;
            Ok(results.into_iter().map(|r| (r.name, r.relation)).collect())
        })
        .await
        .map_err(|e| QueryError::Execution(format!("the query was interrupted: {e}")))?
    }

    async fn execute(&self, plan: LogicalPlan) -> Result<Vec<RecordBatch>, QueryError> {
        let frame =
            self.context.execute_logical_plan(plan).await.map_err(|e| QueryError::Execution(execution_message(&e)))?;
        frame.collect().await.map_err(|e| QueryError::Execution(execution_message(&e)))
    }
}

fn call_context(options: &RunOptions) -> CallContext {
    let now = options.now.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
    });
    CallContext { now, principal: options.principal.clone().unwrap_or_else(|| "aaduser=vigil".to_string()) }
}

/// Runs plans for the binder from a blocking thread.
struct BlockingExecutor {
    context: SessionContext,
    handle: tokio::runtime::Handle,
}

impl Executor for BlockingExecutor {
    fn collect(&self, plan: LogicalPlan) -> datafusion::error::Result<Vec<RecordBatch>> {
        let context = self.context.clone();
        self.handle.block_on(async move { context.execute_logical_plan(plan).await?.collect().await })
    }
}

/// The literal an expression without columns evaluates to, if DataFusion can fold it.
pub(crate) fn simplify_constant(expr: &Expr) -> Option<Expr> {
    ExprSimplifier::new(SimplifyContext::default()).simplify(expr.clone()).ok()
}
