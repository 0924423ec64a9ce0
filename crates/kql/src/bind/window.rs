//! Functions over the order of rows: `prev`, `next`, `row_number`, `row_cumsum`,
//! `row_rank_dense`, `row_rank_min`, `row_window_session`. KQL allows them only on serialized
//! rows (after `sort`, `top`, `serialize`, or a source such as `range`).
//!
//! Each call becomes one layer: a projection of its arguments, then a transform that walks
//! the rows in order and appends the result column. Layers stack, so a call may use another
//! (`row_window_session(t, 1h, 5m, ID != prev(ID))`).

use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::Result;
use vigil_kql_functions::value::{ColumnReader, ValueBuilder};
use vigil_kql_functions::{KqlColumn, KqlType, Value};
use vigil_kql_syntax::ast;
use vigil_kql_syntax::{Code, Span};

use super::Binder;
use super::scope::{Bound, Row};
use crate::error::{BindError, BindResult};
use crate::nodes::{Transform, TransformNode, appended_schema};
use crate::relation::{Relation, column_expr};

/// The rows window functions read: the input plus the layers added so far.
pub(crate) struct WindowCollector {
    current: Relation,
    layers: usize,
}

#[derive(Debug, Clone)]
enum WindowKind {
    Prev { offset: usize },
    Next { offset: usize },
    RowNumber { start: i64 },
    RowCumsum,
    RankDense,
    RankMin,
    Session { max_span: i64, max_gap: i64 },
}

impl Binder<'_> {
    /// Runs `bind` with window functions allowed over `input`'s rows. Returns the bound value
    /// and, if window functions were used, the relation with their columns added.
    pub(crate) fn with_windows<T>(
        &mut self,
        input: &Relation,
        bind: impl FnOnce(&mut Self) -> BindResult<T>,
    ) -> BindResult<(T, Option<Relation>)> {
        let saved = self.windows.replace(WindowCollector { current: input.clone(), layers: 0 });
        let result = bind(self);
        let collector = std::mem::replace(&mut self.windows, saved).expect("collector installed above");
        let value = result?;
        Ok((value, (collector.layers > 0).then_some(collector.current)))
    }

    pub(crate) fn collect_window(
        &mut self,
        name: &str,
        args: &[ast::Argument],
        row: &Row,
        span: Span,
    ) -> BindResult<Bound> {
        let Some(collector) = self.windows.as_ref() else {
            return Err(BindError::new(
                Code::Unsupported,
                span,
                format!("{name}() can only be used in extend, project or where"),
            ));
        };
        if !collector.current.ordered {
            return Err(BindError::new(
                Code::Unsupported,
                span,
                format!("{name}() needs rows in a defined order: add '| serialize' or '| sort by ...' before it"),
            ));
        }
        let bound_args = self.bind_args(args, row)?;
        let constant_i64 =
            |index: usize, default: i64| bound_args.get(index).and_then(|a| a.constant_i64()).unwrap_or(default);
        let (kind, inputs, output_type): (WindowKind, Vec<(datafusion::logical_expr::Expr, KqlType)>, KqlType) =
            match name {
                "prev" | "next" => {
                    let Some(value) = bound_args.first() else {
                        return Err(BindError::new(Code::BadArguments, span, format!("{name}() needs a column")));
                    };
                    let offset = constant_i64(1, 1).max(0) as usize;
                    let mut inputs = vec![(value.expr.clone(), value.ty)];
                    if let Some(default) = bound_args.get(2) {
                        inputs.push((vigil_kql_functions::conversion::convert(default.typed(), value.ty), value.ty));
                    }
                    let kind = if name == "prev" { WindowKind::Prev { offset } } else { WindowKind::Next { offset } };
                    (kind, inputs, value.ty)
                }
                "row_number" => {
                    let restart = bound_args.get(1).map(|a| (a.expr.clone(), KqlType::Bool));
                    (WindowKind::RowNumber { start: constant_i64(0, 1) }, restart.into_iter().collect(), KqlType::Long)
                }
                "row_cumsum" => {
                    let Some(term) = bound_args.first() else {
                        return Err(BindError::new(Code::BadArguments, span, "row_cumsum() needs a term"));
                    };
                    let ty = if term.ty.is_integer() {
                        KqlType::Long
                    } else if term.ty == KqlType::Timespan {
                        KqlType::Timespan
                    } else {
                        KqlType::Real
                    };
                    let mut inputs = vec![(term.expr.clone(), term.ty)];
                    if let Some(restart) = bound_args.get(1) {
                        inputs.push((restart.expr.clone(), KqlType::Bool));
                    }
                    (WindowKind::RowCumsum, inputs, ty)
                }
                "row_rank_dense" | "row_rank_min" => {
                    let Some(term) = bound_args.first() else {
                        return Err(BindError::new(Code::BadArguments, span, format!("{name}() needs a term")));
                    };
                    let kind = if name == "row_rank_dense" { WindowKind::RankDense } else { WindowKind::RankMin };
                    let mut inputs = vec![(term.expr.clone(), term.ty)];
                    if let Some(restart) = bound_args.get(1) {
                        inputs.push((restart.expr.clone(), KqlType::Bool));
                    }
                    (kind, inputs, KqlType::Long)
                }
                "row_window_session" => {
                    let (Some(time), Some(max_span), Some(max_gap)) =
                        (bound_args.first(), bound_args.get(1), bound_args.get(2))
                    else {
                        return Err(BindError::new(
                            Code::BadArguments,
                            span,
                            "row_window_session() needs a datetime, a maximum span and a maximum gap",
                        ));
                    };
                    let duration = |arg: &vigil_kql_functions::Arg| match &arg.constant {
                        Some(Value::Timespan(t)) => Ok(*t),
                        _ => Err(BindError::new(
                            Code::BadArguments,
                            span,
                            "the spans of row_window_session() must be constant timespans",
                        )),
                    };
                    let kind = WindowKind::Session { max_span: duration(max_span)?, max_gap: duration(max_gap)? };
                    let mut inputs = vec![(time.expr.clone(), time.ty)];
                    if let Some(restart) = bound_args.get(3) {
                        inputs.push((restart.expr.clone(), KqlType::Bool));
                    }
                    (kind, inputs, time.ty)
                }
                _ => unreachable!("only window functions reach here"),
            };
        self.add_window_layer(kind, inputs, output_type)
    }

    fn add_window_layer(
        &mut self,
        kind: WindowKind,
        inputs: Vec<(datafusion::logical_expr::Expr, KqlType)>,
        output_type: KqlType,
    ) -> BindResult<Bound> {
        let current = self.windows.as_ref().expect("checked by the caller").current.clone();
        let mut columns = current.columns.clone();
        let mut exprs: Vec<_> = columns.iter().map(|c| column_expr(&c.name)).collect();
        let mut argument_types = Vec::new();
        for (expr, ty) in inputs {
            let name = self.internal_name("window_arg");
            exprs.push(expr);
            columns.push(KqlColumn::new(name, ty));
            argument_types.push(ty);
        }
        let with_arguments = current.project(exprs, columns.clone())?;
        let output = self.internal_name("window");
        let first_argument = with_arguments.columns.len() - argument_types.len();
        let mut output_columns = with_arguments.columns.clone();
        let output_column = KqlColumn::new(output.clone(), output_type);
        output_columns.push(output_column.clone());
        let schema = appended_schema(&with_arguments.plan, &[output_column]).map_err(BindError::plan)?;
        let transform = WindowTransform { kind, first_argument, argument_types, output_type };
        let plan = TransformNode::plan(with_arguments.plan.clone(), schema, Arc::new(transform));
        let collector = self.windows.as_mut().expect("checked by the caller");
        collector.current = current.with(plan, output_columns);
        collector.layers += 1;
        Ok(Bound::new(column_expr(&output), output_type))
    }
}

#[derive(Debug)]
struct WindowTransform {
    kind: WindowKind,
    first_argument: usize,
    argument_types: Vec<KqlType>,
    output_type: KqlType,
}

impl Transform for WindowTransform {
    fn name(&self) -> &str {
        "RowWindow"
    }

    fn per_batch(&self) -> bool {
        false
    }

    fn apply(&self, batches: Vec<RecordBatch>, schema: &SchemaRef) -> Result<Vec<RecordBatch>> {
        if batches.is_empty() {
            return Ok(vec![]);
        }
        let input = datafusion::arrow::compute::concat_batches(&batches[0].schema(), &batches)?;
        let rows = input.num_rows();
        let arguments: Vec<Vec<Value>> = self
            .argument_types
            .iter()
            .enumerate()
            .map(|(i, ty)| {
                let column = input.column(self.first_argument + i);
                let reader = ColumnReader::new(column, *ty)?;
                Ok((0..rows).map(|row| reader.value(row)).collect())
            })
            .collect::<Result<_>>()?;
        let restart =
            |index: usize, row: usize| arguments.get(index).is_some_and(|values| values[row].as_bool() == Some(true));
        let mut builder = ValueBuilder::new(self.output_type, rows);
        match &self.kind {
            WindowKind::Prev { offset } | WindowKind::Next { offset } => {
                let forward = matches!(self.kind, WindowKind::Next { .. });
                for row in 0..rows {
                    let source =
                        if forward { row.checked_add(*offset).filter(|s| *s < rows) } else { row.checked_sub(*offset) };
                    let value = match source {
                        Some(source) => arguments[0][source].clone(),
                        None => arguments.get(1).map(|d| d[row].clone()).unwrap_or(Value::Null),
                    };
                    builder.append(&value);
                }
            }
            WindowKind::RowNumber { start } => {
                let mut number = *start;
                for row in 0..rows {
                    if row > 0 {
                        number = if restart(0, row) { *start } else { number + 1 };
                    }
                    builder.append(&Value::Long(number));
                }
            }
            WindowKind::RowCumsum => {
                let mut sum = Value::Null;
                for (row, value) in arguments[0].iter().enumerate().take(rows) {
                    if restart(1, row) {
                        sum = Value::Null;
                    }
                    sum = add(&sum, value);
                    builder.append(&sum);
                }
            }
            WindowKind::RankDense | WindowKind::RankMin => {
                // A restart begins the ranking again at the row where it holds.
                let (mut rank, mut first) = (0i64, 0usize);
                for row in 0..rows {
                    let restarted = row == 0 || restart(1, row);
                    if restarted {
                        rank = 0;
                        first = row;
                    }
                    let changed = restarted || arguments[0][row] != arguments[0][row - 1];
                    if changed {
                        rank = if matches!(self.kind, WindowKind::RankDense) {
                            rank + 1
                        } else {
                            (row - first) as i64 + 1
                        };
                    }
                    builder.append(&Value::Long(rank));
                }
            }
            WindowKind::Session { max_span, max_gap } => {
                let mut session_start: Option<i64> = None;
                let mut previous: Option<i64> = None;
                for (row, value) in arguments[0].iter().enumerate().take(rows) {
                    let time = value.as_i64();
                    let start = match (time, session_start, previous) {
                        (Some(t), Some(s), Some(p)) if !restart(1, row) && t - s <= *max_span && t - p <= *max_gap => {
                            Some(s)
                        }
                        (Some(t), ..) => Some(t),
                        (None, ..) => None,
                    };
                    session_start = start.or(session_start);
                    previous = time.or(previous);
                    builder.append(
                        &start
                            .map(|s| {
                                if self.output_type == KqlType::DateTime {
                                    Value::DateTime(s)
                                } else {
                                    Value::Timespan(s)
                                }
                            })
                            .unwrap_or(Value::Null),
                    );
                }
            }
        }
        let mut columns: Vec<ArrayRef> = input.columns().to_vec();
        columns.push(builder.finish());
        Ok(vec![RecordBatch::try_new(schema.clone(), columns)?])
    }
}

/// Null-ignoring sum of two values of a numeric or timespan type.
fn add(sum: &Value, term: &Value) -> Value {
    match (sum, term) {
        (Value::Null, Value::Int(t)) => Value::Long(i64::from(*t)),
        (Value::Null, term) => term.clone(),
        (sum, Value::Null) => sum.clone(),
        (Value::Long(s), t) => t.as_i64().map(|t| Value::Long(s.wrapping_add(t))).unwrap_or(Value::Long(*s)),
        (Value::Timespan(s), Value::Timespan(t)) => Value::Timespan(s + t),
        (s, t) => match (s.as_f64(), t.as_f64()) {
            (Some(a), Some(b)) => Value::Real(a + b),
            _ => s.clone(),
        },
    }
}
