//! Plan nodes for the KQL operators that DataFusion has no operator for (`mv-expand`,
//! `prev()`/`next()`, `make-series`, `top-nested`, `scan`, plugins).
//!
//! They share one logical node and one physical operator, parameterized by a `Transform`:
//! either it maps each batch on its own (and runs in parallel), or it needs all rows in order
//! (and runs on one partition, after the input's rows are gathered).

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::{Field, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DFSchemaRef, Result};
use datafusion::execution::TaskContext;
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{Expr, Extension, LogicalPlan, UserDefinedLogicalNode, UserDefinedLogicalNodeCore};
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, Partitioning, PlanProperties, SendableRecordBatchStream,
};
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};
use futures::StreamExt;

/// A column in the type its output field declares, cast only when the input chose another
/// representation of it (a `Utf8View` for a `Utf8`, say).
pub fn conform(column: &ArrayRef, field: &Field) -> Result<ArrayRef> {
    if column.data_type() == field.data_type() {
        return Ok(column.clone());
    }
    Ok(datafusion::arrow::compute::cast(column, field.data_type())?)
}

/// The work of a transform node.
pub trait Transform: fmt::Debug + Send + Sync {
    fn name(&self) -> &str;
    /// Whether each batch can be transformed on its own; if not, `apply` receives all rows,
    /// in order, at once.
    fn per_batch(&self) -> bool;
    fn apply(&self, batches: Vec<RecordBatch>, schema: &SchemaRef) -> Result<Vec<RecordBatch>>;
}

/// A logical plan node applying a `Transform` to its input.
#[derive(Debug, Clone)]
pub struct TransformNode {
    input: LogicalPlan,
    schema: DFSchemaRef,
    transform: Arc<dyn Transform>,
    /// Distinguishes nodes for the optimizer's equality checks.
    id: u64,
}

impl TransformNode {
    /// A plan applying `transform` to `input`, producing rows of `schema`.
    pub fn plan(input: LogicalPlan, schema: DFSchemaRef, transform: Arc<dyn Transform>) -> LogicalPlan {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let node = TransformNode { input, schema, transform, id: NEXT_ID.fetch_add(1, Ordering::Relaxed) };
        LogicalPlan::Extension(Extension { node: Arc::new(node) })
    }
}

impl PartialEq for TransformNode {
    fn eq(&self, other: &TransformNode) -> bool {
        self.id == other.id && self.input == other.input
    }
}

impl Eq for TransformNode {}

impl PartialOrd for TransformNode {
    fn partial_cmp(&self, other: &TransformNode) -> Option<std::cmp::Ordering> {
        self.id.partial_cmp(&other.id)
    }
}

impl Hash for TransformNode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

impl UserDefinedLogicalNodeCore for TransformNode {
    fn name(&self) -> &str {
        self.transform.name()
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        vec![]
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.transform.name())
    }

    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, mut inputs: Vec<LogicalPlan>) -> Result<TransformNode> {
        Ok(TransformNode {
            input: inputs.swap_remove(0),
            schema: self.schema.clone(),
            transform: self.transform.clone(),
            id: self.id,
        })
    }
}

/// The physical operator of a `TransformNode`.
#[derive(Debug)]
pub struct TransformExec {
    input: Arc<dyn ExecutionPlan>,
    schema: SchemaRef,
    transform: Arc<dyn Transform>,
    properties: Arc<PlanProperties>,
}

impl TransformExec {
    fn new(input: Arc<dyn ExecutionPlan>, schema: SchemaRef, transform: Arc<dyn Transform>) -> TransformExec {
        let partitioning = if transform.per_batch() {
            input.properties().output_partitioning().clone()
        } else {
            Partitioning::UnknownPartitioning(1)
        };
        let properties = PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            partitioning,
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        TransformExec { input, schema, transform, properties: Arc::new(properties) }
    }
}

impl DisplayAs for TransformExec {
    fn fmt_as(&self, _format: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "TransformExec: {}", self.transform.name())
    }
}

impl ExecutionPlan for TransformExec {
    fn name(&self) -> &str {
        "TransformExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn required_input_distribution(&self) -> Vec<Distribution> {
        if self.transform.per_batch() {
            vec![Distribution::UnspecifiedDistribution]
        } else {
            vec![Distribution::SinglePartition]
        }
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![self.transform.per_batch()]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn datafusion::physical_expr::PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(self: Arc<Self>, mut children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(TransformExec::new(children.swap_remove(0), self.schema.clone(), self.transform.clone())))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let transform = self.transform.clone();
        let schema = self.schema.clone();
        if transform.per_batch() {
            let out_schema = schema.clone();
            let stream = input.map(move |batch| {
                let batch = batch?;
                let mut out = transform.apply(vec![batch], &out_schema)?;
                Ok(match out.len() {
                    0 => RecordBatch::new_empty(out_schema.clone()),
                    1 => out.pop().expect("one batch"),
                    _ => datafusion::arrow::compute::concat_batches(&out_schema, &out)?,
                })
            });
            return Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)));
        }
        let out_schema = schema.clone();
        let stream = futures::stream::once(async move {
            let batches: Vec<RecordBatch> = datafusion::physical_plan::common::collect(input).await?;
            transform.apply(batches, &out_schema)
        })
        .flat_map(|result: Result<Vec<RecordBatch>>| match result {
            Ok(batches) => futures::stream::iter(batches.into_iter().map(Ok).collect::<Vec<_>>()),
            Err(error) => futures::stream::iter(vec![Err(error)]),
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

struct TransformPlanner;

#[async_trait]
impl ExtensionPlanner for TransformPlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session: &dyn Session,
        _planning_ctx: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(node) = node.as_any().downcast_ref::<TransformNode>() else {
            return Ok(None);
        };
        let schema: SchemaRef = node.schema.inner().clone();
        Ok(Some(Arc::new(TransformExec::new(physical_inputs[0].clone(), schema, node.transform.clone()))))
    }
}

/// DataFusion's planner, taught the transform node.
#[derive(Debug)]
pub struct KqlQueryPlanner;

#[async_trait]
impl QueryPlanner for KqlQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let planner = DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(TransformPlanner)]);
        planner.create_physical_plan(logical_plan, session).await
    }
}

impl fmt::Debug for TransformPlanner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TransformPlanner")
    }
}

/// The schema of `input` plus `extra` columns: transforms that append columns keep the
/// input's own Arrow types (a scan may give string views where KQL would write plain UTF-8).
pub fn appended_schema(input: &LogicalPlan, extra: &[vigil_kql_functions::KqlColumn]) -> Result<DFSchemaRef> {
    let mut fields: Vec<datafusion::arrow::datatypes::FieldRef> = input.schema().fields().iter().cloned().collect();
    fields.extend(extra.iter().map(|c| Arc::new(c.ty.field(&c.name))));
    let schema = datafusion::arrow::datatypes::Schema::new(fields);
    Ok(Arc::new(datafusion::common::DFSchema::try_from(schema)?))
}
