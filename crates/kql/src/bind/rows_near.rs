//! `evaluate rows_near(Condition, NumRows [, RowsAfter])`: the rows within a distance of a row
//! where the condition holds, in the input's order.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, BooleanArray};
use datafusion::arrow::compute::{concat_batches, filter_record_batch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DFSchema, Result};
use vigil_kql_functions::KqlType;
use vigil_kql_functions::conversion::convert;
use vigil_kql_syntax::ast;
use vigil_kql_syntax::{Code, Span};

use super::Binder;
use super::scope::{Row, RowColumn};
use crate::error::{BindError, BindResult};
use crate::nodes::{Transform, TransformNode};
use crate::relation::Relation;

#[derive(Debug)]
struct RowsNear {
    before: usize,
    after: usize,
}

impl Transform for RowsNear {
    fn name(&self) -> &str {
        "RowsNear"
    }

    fn per_batch(&self) -> bool {
        false
    }

    fn apply(&self, batches: Vec<RecordBatch>, schema: &SchemaRef) -> Result<Vec<RecordBatch>> {
        let Some(first) = batches.first() else { return Ok(vec![RecordBatch::new_empty(schema.clone())]) };
        let all = concat_batches(&first.schema(), &batches)?;
        // The condition is the last column.
        let condition = all.column(all.num_columns() - 1).as_boolean().clone();
        let rows = all.num_rows();
        let mut keep = vec![false; rows];
        for row in (0..rows).filter(|&r| condition.is_valid(r) && condition.value(r)) {
            let from = row.saturating_sub(self.before);
            let to = (row + self.after).min(rows - 1);
            keep[from..=to].iter_mut().for_each(|k| *k = true);
        }
        let kept = filter_record_batch(&all, &BooleanArray::from(keep))?;
        let columns = kept.columns()[..kept.num_columns() - 1].to_vec();
        Ok(vec![RecordBatch::try_new(schema.clone(), columns)?])
    }
}

impl Binder<'_> {
    pub(crate) fn rows_near(&mut self, input: Relation, args: &[ast::Argument], span: Span) -> BindResult<Relation> {
        let usage = || {
            BindError::new(Code::BadArguments, span, "rows_near() takes a condition, NumRows and optionally RowsAfter")
        };
        let (condition, counts) = match args {
            [condition, counts @ ..] if (1..=2).contains(&counts.len()) => (condition, counts),
            _ => return Err(usage()),
        };
        let row = Row::of(&input);
        let condition = self.bind_expr(&condition.value, &row)?;
        let mut numbers = Vec::new();
        for count in counts {
            let bound = self.bind_expr(&count.value, &Row::default())?;
            match self.fold_constant(bound).constant.and_then(|c| c.as_i64()) {
                Some(n) if n >= 0 => numbers.push(n as usize),
                _ => {
                    return Err(BindError::new(
                        Code::BadArguments,
                        count.value.span,
                        "the row counts must be constant and not negative",
                    ));
                }
            }
        }
        let before = numbers[0];
        let after = numbers.get(1).copied().unwrap_or(before);
        let flag = self.internal_name("near");
        let mut staged = Row::of(&input);
        staged.set(RowColumn { name: flag, ty: KqlType::Bool, expr: convert(condition.typed(), KqlType::Bool) });
        let staged = super::project_row(&input, &staged)?;
        let schema = vigil_kql_functions::types::arrow_schema(&input.columns);
        let plan = TransformNode::plan(
            staged.plan,
            Arc::new(DFSchema::try_from(schema.as_ref().clone()).map_err(BindError::plan)?),
            Arc::new(RowsNear { before, after }),
        );
        let mut relation = input.with(plan, input.columns.clone());
        relation.ordered = true;
        Ok(relation)
    }
}
