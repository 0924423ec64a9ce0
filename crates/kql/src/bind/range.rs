//! `range`: its rows are generated as the plan reads them, a batch at a time, so a large range
//! costs time, bounded by the query's time limit, and never memory.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, SortExpr};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use vigil_kql_functions::value::ValueBuilder;
use vigil_kql_functions::{KqlColumn, KqlType, Value};
use vigil_kql_syntax::literal::NANOS_PER_DAY;

use crate::error::{BindError, BindResult};
use crate::relation::{Relation, column_expr};

const BATCH_ROWS: u64 = 8192;

/// The values of a range: `count` of them, from `start` by `step`.
#[derive(Debug, Clone, Copy)]
enum Sequence {
    Long {
        start: i64,
        step: i64,
    },
    Real {
        start: f64,
        step: f64,
    },
    /// Datetimes and timespans, in nanoseconds.
    Ticks {
        start: i64,
        step: i64,
        datetime: bool,
    },
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct RangeSpec {
    sequence: Sequence,
    count: u64,
}

impl RangeSpec {
    /// The range from `start` to `stop` (inclusive) by `step`, or why there is none.
    pub(crate) fn new(start: &Value, stop: &Value, step: &Value) -> Result<RangeSpec, String> {
        let ticks_count = |a: i64, b: i64, s: i64| -> Result<u64, String> {
            if s == 0 {
                return Err("the step of range cannot be zero".into());
            }
            let (a, b, s) = (i128::from(a), i128::from(b), i128::from(s));
            Ok(if (b - a).signum() == s.signum() || a == b { ((b - a) / s) as u64 + 1 } else { 0 })
        };
        match (start, stop, step) {
            (Value::DateTime(a), Value::DateTime(b), Value::Timespan(s))
            | (Value::Timespan(a), Value::Timespan(b), Value::Timespan(s)) => Ok(RangeSpec {
                sequence: Sequence::Ticks { start: *a, step: *s, datetime: matches!(start, Value::DateTime(_)) },
                count: ticks_count(*a, *b, *s)?,
            }),
            (Value::DateTime(_), Value::DateTime(_), other) => {
                let days = other.as_f64().ok_or("the step of a datetime range must be a timespan")?;
                RangeSpec::new(start, stop, &Value::Timespan((days * NANOS_PER_DAY as f64) as i64))
            }
            (Value::Int(_) | Value::Long(_), Value::Int(_) | Value::Long(_), Value::Int(_) | Value::Long(_)) => {
                let (a, b, s) = (start.as_i64().unwrap_or(0), stop.as_i64().unwrap_or(0), step.as_i64().unwrap_or(0));
                Ok(RangeSpec { sequence: Sequence::Long { start: a, step: s }, count: ticks_count(a, b, s)? })
            }
            (a, b, s) => {
                let bound = "range bounds must be numbers, datetimes or timespans";
                let (a, b, s) = (
                    a.as_f64().ok_or(bound)?,
                    b.as_f64().ok_or(bound)?,
                    s.as_f64().ok_or("the step of range must be a number")?,
                );
                if s == 0.0 || !s.is_finite() || !a.is_finite() || !b.is_finite() {
                    return Err("the bounds and step of range must be finite, and the step not zero".into());
                }
                let count = if (b - a) * s >= 0.0 { ((b - a) / s + 1e-9).floor() as u64 + 1 } else { 0 };
                Ok(RangeSpec { sequence: Sequence::Real { start: a, step: s }, count })
            }
        }
    }

    pub(crate) fn kql_type(&self) -> KqlType {
        match self.sequence {
            Sequence::Long { .. } => KqlType::Long,
            Sequence::Real { .. } => KqlType::Real,
            Sequence::Ticks { datetime: true, .. } => KqlType::DateTime,
            Sequence::Ticks { datetime: false, .. } => KqlType::Timespan,
        }
    }

    fn ascending(&self) -> bool {
        match self.sequence {
            Sequence::Long { step, .. } | Sequence::Ticks { step, .. } => step > 0,
            Sequence::Real { step, .. } => step > 0.0,
        }
    }

    fn value(&self, index: u64) -> Value {
        match self.sequence {
            Sequence::Long { start, step } => Value::Long(start.wrapping_add((index as i64).wrapping_mul(step))),
            Sequence::Real { start, step } => Value::Real(start + index as f64 * step),
            Sequence::Ticks { start, step, datetime } => {
                let ticks = start.wrapping_add((index as i64).wrapping_mul(step));
                if datetime { Value::DateTime(ticks) } else { Value::Timespan(ticks) }
            }
        }
    }

    fn batch(&self, schema: &SchemaRef, first: u64) -> datafusion::common::Result<RecordBatch> {
        let rows = (self.count - first).min(BATCH_ROWS);
        let mut builder = ValueBuilder::new(self.kql_type(), rows as usize);
        (first..first + rows).for_each(|index| builder.append(&self.value(index)));
        Ok(RecordBatch::try_new(schema.clone(), vec![builder.finish()])?)
    }
}

#[derive(Debug)]
struct RangeStream {
    schema: SchemaRef,
    spec: RangeSpec,
}

impl PartitionStream for RangeStream {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _context: Arc<TaskContext>) -> SendableRecordBatchStream {
        let (schema, spec) = (self.schema.clone(), self.spec);
        let batches = (0..spec.count).step_by(BATCH_ROWS as usize).map(move |first| spec.batch(&schema, first));
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), futures::stream::iter(batches)))
    }
}

/// The relation of a range: one column, generated as it is read, in its declared order.
pub(crate) fn range_relation(name: &str, spec: RangeSpec) -> BindResult<Relation> {
    let columns = vec![KqlColumn::new(name, spec.kql_type())];
    let schema = vigil_kql_functions::types::arrow_schema(&columns);
    let order = vec![SortExpr::new(column_expr(name), spec.ascending(), false)];
    let table = StreamingTable::try_new(schema.clone(), vec![Arc::new(RangeStream { schema, spec })])
        .map_err(BindError::plan)?
        .with_sort_order(order);
    let source = datafusion::datasource::provider_as_source(Arc::new(table));
    let exprs: Vec<Expr> = columns.iter().map(|c| column_expr(&c.name)).collect();
    let plan = LogicalPlanBuilder::scan("range", source, None)
        .and_then(|b| b.project(exprs))
        .and_then(|b| b.build())
        .map_err(BindError::plan)?;
    let mut relation = Relation::new(plan, columns);
    relation.ordered = true;
    Ok(relation)
}
