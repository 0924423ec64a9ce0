//! `make-series`: aggregates over fixed time (or number) bins, as dense arrays.
//!
//! Planned in two stages: DataFusion aggregates the rows by the group keys and the bin (the
//! heavy part, in parallel); a transform then assembles each group's bins into arrays, filling
//! empty bins with the default.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, lit};
use serde_json::Value as Json;
use vigil_kql_functions::value::{ColumnReader, ValueBuilder};
use vigil_kql_functions::{KqlColumn, KqlType, TypedExpr, Value};
use vigil_kql_syntax::Code;
use vigil_kql_syntax::ast;

use super::Binder;
use super::aggregate::aggregate_plan;
use super::naming::{CallKind, DefaultNames, result_name};
use super::scope::Row;
use crate::error::{BindError, BindResult};
use crate::nodes::{Transform, TransformNode};
use crate::relation::{Relation, column_expr, unique_name};

/// More bins than this is almost certainly a mistake in the step.
const BIN_LIMIT: i64 = 1_000_000;

#[derive(Debug)]
struct AssembleSeries {
    keys: usize,
    aggregates: Vec<(KqlType, Value)>,
    start: i64,
    step: i64,
    bins: usize,
    axis_type: KqlType,
    /// `kind=nonempty`: empty input (without group keys) still makes one row of defaults.
    nonempty: bool,
}

impl Transform for AssembleSeries {
    fn name(&self) -> &str {
        "MakeSeries"
    }

    fn per_batch(&self) -> bool {
        false
    }

    fn apply(&self, batches: Vec<RecordBatch>, schema: &SchemaRef) -> Result<Vec<RecordBatch>> {
        // Input columns: keys..., bin, aggregates...
        let mut groups: Vec<(Vec<Value>, Vec<Vec<Json>>)> = Vec::new();
        let mut index_of: HashMap<String, usize> = HashMap::new();
        for batch in &batches {
            let key_types: Vec<KqlType> =
                schema.fields()[..self.keys].iter().map(|f| KqlType::of_field(f).unwrap_or(KqlType::Dynamic)).collect();
            let key_readers: Vec<ColumnReader> =
                (0..self.keys).map(|i| ColumnReader::new(batch.column(i), key_types[i])).collect::<Result<_>>()?;
            let bin_reader = ColumnReader::new(batch.column(self.keys), self.axis_type)?;
            let value_readers: Vec<ColumnReader> = self
                .aggregates
                .iter()
                .enumerate()
                .map(|(i, (ty, _))| ColumnReader::new(batch.column(self.keys + 1 + i), *ty))
                .collect::<Result<_>>()?;
            for row in 0..batch.num_rows() {
                let key: Vec<Value> = key_readers.iter().map(|r| r.value(row)).collect();
                let key_text = format!("{key:?}");
                let group = *index_of.entry(key_text).or_insert_with(|| {
                    let filled =
                        self.aggregates.iter().map(|(_, default)| vec![default.to_json(); self.bins]).collect();
                    groups.push((key.clone(), filled));
                    groups.len() - 1
                });
                let Some(bin) = bin_reader.value(row).as_i64() else { continue };
                let slot = (bin - self.start).div_euclid(self.step);
                let Ok(slot) = usize::try_from(slot) else { continue };
                if slot >= self.bins {
                    continue;
                }
                for (i, reader) in value_readers.iter().enumerate() {
                    let value = reader.value(row);
                    groups[group].1[i][slot] =
                        if value.is_null() { self.aggregates[i].1.to_json() } else { value.to_json() };
                }
            }
        }
        if groups.is_empty() && self.keys == 0 && self.nonempty {
            let filled = self.aggregates.iter().map(|(_, default)| vec![default.to_json(); self.bins]).collect();
            groups.push((Vec::new(), filled));
        }
        let axis: Json = Json::Array(
            (0..self.bins)
                .map(|i| {
                    let at = self.start + i as i64 * self.step;
                    match self.axis_type {
                        KqlType::DateTime => Value::DateTime(at).to_json(),
                        KqlType::Timespan => Value::Timespan(at).to_json(),
                        _ => Json::from(at),
                    }
                })
                .collect(),
        );
        let mut builders: Vec<ValueBuilder> = schema
            .fields()
            .iter()
            .map(|f| ValueBuilder::new(KqlType::of_field(f).unwrap_or(KqlType::Dynamic), groups.len()))
            .collect();
        for (key, series) in &groups {
            for (i, value) in key.iter().enumerate() {
                builders[i].append(value);
            }
            for (i, values) in series.iter().enumerate() {
                builders[self.keys + i].append(&Value::Dynamic(Json::Array(values.clone())));
            }
            builders[self.keys + series.len()].append(&Value::Dynamic(axis.clone()));
        }
        let arrays = builders.into_iter().map(ValueBuilder::finish).collect();
        Ok(vec![RecordBatch::try_new(schema.clone(), arrays)?])
    }
}

impl Binder<'_> {
    pub(crate) fn bind_make_series(
        &mut self,
        input: Relation,
        series: &ast::MakeSeriesOperator,
    ) -> BindResult<Relation> {
        let row = Row::of(&input);
        let axis = self.bind_expr(&series.on, &row)?;
        let axis_name = result_name(&series.on, &row, CallKind::Scalar).unwrap_or_else(|| "Column1".to_string());
        let step = self.series_constant(&series.step)?;
        let step_nanos = step.as_i64().filter(|s| *s > 0).ok_or_else(|| {
            BindError::new(Code::BadArguments, series.step.span, "the step of make-series must be positive")
        })?;
        let (start, end) = match (&series.from, &series.to) {
            (Some(from), Some(to)) => (self.series_constant(from)?, self.series_constant(to)?),
            _ => self.series_range(&input, &axis, series)?,
        };
        let (Some(start), Some(end)) = (start.as_i64(), end.as_i64()) else {
            return Err(BindError::new(Code::BadArguments, series.step.span, "make-series needs a range of the axis"));
        };
        let bins = if end > start { (end - start + step_nanos - 1) / step_nanos } else { 0 };
        if bins > BIN_LIMIT {
            return Err(BindError::new(
                Code::BadArguments,
                series.step.span,
                format!("make-series would make {bins} bins; use a larger step"),
            ));
        }
        let axis_value = |v: i64| match axis.ty {
            KqlType::DateTime => Value::DateTime(v),
            KqlType::Timespan => Value::Timespan(v),
            _ => Value::Long(v),
        };
        let in_range = axis
            .expr
            .clone()
            .gt_eq(lit(axis_value(start).to_scalar(axis.ty)))
            .and(axis.expr.clone().lt(lit(axis_value(end).to_scalar(axis.ty))));
        let filtered = input.filter(in_range)?;
        let filtered_row = Row::of(&filtered);
        // Group keys, then the bin, then the aggregates.
        let mut columns: Vec<KqlColumn> = Vec::new();
        let mut groups: Vec<Expr> = Vec::new();
        let mut defaults = DefaultNames::default();
        for item in &series.by {
            let bound = self.bind_expr(&item.value, &filtered_row)?;
            let name = match item.names.as_slice() {
                [name] => name.name.clone(),
                _ => result_name(&item.value, &filtered_row, CallKind::Scalar)
                    .unwrap_or_else(|| defaults.next(|n| filtered_row.get(n).is_some())),
            };
            groups.push(bound.expr.alias(&name));
            columns.push(KqlColumn::new(name, bound.ty));
        }
        let bin_name = self.internal_name("bin");
        let bin_expr = {
            let nanos = datafusion::logical_expr::Expr::Cast(datafusion::logical_expr::Cast::new(
                Box::new(axis.expr.clone()),
                datafusion::arrow::datatypes::DataType::Int64,
            ));
            let offset = nanos - lit(start);
            let binned =
                (offset.clone() - ((offset % lit(step_nanos)) + lit(step_nanos)) % lit(step_nanos)) + lit(start);
            vigil_kql_functions::conversion::convert(TypedExpr::new(binned, KqlType::Long), KqlType::Long)
        };
        groups.push(bin_expr.alias(&bin_name));
        let items: Vec<ast::Assignment> = series.aggregates.iter().map(|a| a.assignment.clone()).collect();
        let (outputs, collector) = self.bind_aggregate_items(
            &filtered_row,
            columns.iter().map(|c| c.name.clone()).collect(),
            &items,
            &mut defaults,
        )?;
        let aggregated = aggregate_plan(filtered.plan.clone(), groups, collector.into_aggregates())?;
        let mut staged_exprs: Vec<Expr> = columns.iter().map(|c| column_expr(&c.name)).collect();
        staged_exprs.push(column_expr(&bin_name));
        let mut staged_columns = columns.clone();
        staged_columns.push(KqlColumn::new(bin_name, KqlType::Long));
        let mut aggregate_types = Vec::new();
        let mut output_columns = columns.clone();
        for ((name, bound), definition) in outputs.into_iter().zip(&series.aggregates) {
            let default = match &definition.default {
                Some(default) => {
                    let value = self.series_constant(default)?;
                    vigil_kql_functions::value::convert(&value, bound.ty)
                }
                None if bound.ty.is_numeric() => vigil_kql_functions::value::convert(&Value::Long(0), bound.ty),
                None => Value::Null,
            };
            let placeholder = self.internal_name("series_value");
            staged_exprs.push(bound.expr);
            staged_columns.push(KqlColumn::new(placeholder, bound.ty));
            aggregate_types.push((bound.ty, default));
            let name = unique_name(&name, |n| output_columns.iter().any(|c| c.name == n));
            output_columns.push(KqlColumn::new(name, KqlType::Dynamic));
        }
        let axis_output = unique_name(&axis_name, |n| output_columns.iter().any(|c| c.name == n));
        output_columns.push(KqlColumn::new(axis_output, KqlType::Dynamic));
        let staged = Relation::new(aggregated, vec![]).project(staged_exprs, staged_columns)?;
        let schema: Schema = vigil_kql_functions::types::arrow_schema(&output_columns).as_ref().clone();
        let transform = AssembleSeries {
            keys: columns.len(),
            aggregates: aggregate_types,
            start,
            step: step_nanos,
            bins: bins as usize,
            axis_type: axis.ty,
            nonempty: self.series_nonempty(series)?,
        };
        let plan = TransformNode::plan(
            staged.plan,
            Arc::new(DFSchema::try_from(schema).map_err(BindError::plan)?),
            Arc::new(transform),
        );
        Ok(Relation::new(plan, output_columns))
    }

    /// Whether `kind=nonempty` is given; any other kind is an error.
    fn series_nonempty(&self, series: &ast::MakeSeriesOperator) -> BindResult<bool> {
        let Some(kind) = series.options.iter().find(|o| o.name.name == "kind") else { return Ok(false) };
        match &kind.value.kind {
            ast::ExprKind::Name(name) if name.name == "nonempty" => Ok(true),
            _ => Err(BindError::new(Code::BadArguments, kind.value.span, "make-series knows only kind=nonempty")),
        }
    }

    /// A constant of a make-series clause, as a number of nanoseconds or a number.
    fn series_constant(&mut self, expr: &ast::Expr) -> BindResult<Value> {
        let bound = self.bind_expr(expr, &Row::default())?;
        let bound = self.fold_constant(bound);
        match bound.constant {
            Some(value) if !value.is_null() => Ok(value),
            _ => Err(BindError::new(
                Code::BadArguments,
                expr.span,
                "make-series needs constants for from, to, step and default",
            )),
        }
    }

    /// Without `from`/`to`: the axis' smallest value and one step past its largest.
    fn series_range(
        &mut self,
        input: &Relation,
        axis: &super::Bound,
        series: &ast::MakeSeriesOperator,
    ) -> BindResult<(Value, Value)> {
        let from = match &series.from {
            Some(from) => Some(self.series_constant(from)?),
            None => None,
        };
        let to = match &series.to {
            Some(to) => Some(self.series_constant(to)?),
            None => None,
        };
        let Some(executor) = self.executor else {
            return Ok((from.unwrap_or(Value::Long(0)), to.unwrap_or(Value::Long(0))));
        };
        let nanos = datafusion::logical_expr::Expr::Cast(datafusion::logical_expr::Cast::new(
            Box::new(axis.expr.clone()),
            datafusion::arrow::datatypes::DataType::Int64,
        ));
        let plan = LogicalPlanBuilder::from(input.plan.clone())
            .aggregate(
                Vec::<Expr>::new(),
                vec![
                    datafusion::functions_aggregate::expr_fn::min(nanos.clone()).alias("low"),
                    datafusion::functions_aggregate::expr_fn::max(nanos).alias("high"),
                ],
            )
            .and_then(|b| b.build())
            .map_err(BindError::plan)?;
        let batches = executor.collect(plan).map_err(BindError::plan)?;
        let read = |column: usize| {
            batches
                .first()
                .and_then(|b| ColumnReader::new(b.column(column), KqlType::Long).ok().map(|r| r.value(0)))
                .unwrap_or(Value::Null)
        };
        let step = self.series_constant(&series.step)?.as_i64().unwrap_or(1).max(1);
        let low = read(0).as_i64();
        let high = read(1).as_i64();
        let start = from.and_then(|v| v.as_i64()).or_else(|| low.map(|l| l - l.rem_euclid(step)));
        let end = to.and_then(|v| v.as_i64()).or_else(|| high.map(|h| h - h.rem_euclid(step) + step));
        Ok((start.map(Value::Long).unwrap_or(Value::Long(0)), end.map(Value::Long).unwrap_or(Value::Long(0))))
    }
}
