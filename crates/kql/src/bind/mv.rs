//! `mv-expand` (one row per element of arrays and bags) and `mv-apply` (a subquery over each
//! row's elements).
//!
//! `mv-apply` is planned as one vectorized query, not a query per row: rows get an id, their
//! arrays are expanded, the subquery runs with every grouping operator (`summarize`, `top`,
//! `take`, `sort`, `count`, `distinct`) partitioned by that id, and the result joins back to
//! the rows by id.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, StringBuilder, UInt32Array};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{Column, DFSchema, JoinType, Result};
use datafusion::logical_expr::{Expr, LogicalPlanBuilder};
use serde_json::Value as Json;
use vigil_kql_functions::strings::StringColumn;
use vigil_kql_functions::value::{ValueBuilder, convert};
use vigil_kql_functions::{KqlColumn, KqlType, Value};
use vigil_kql_syntax::Code;
use vigil_kql_syntax::ast::{self, ExprKind};

use super::Binder;
use super::naming::{CallKind, result_name};
use super::scope::{Row, RowColumn};
use crate::error::{BindError, BindResult};
use crate::nodes::{Transform, TransformNode};
use crate::relation::Relation;

/// How a property bag expands: `{k: v}` per property (bag), or `[k, v]` (array).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BagExpansion {
    Bag,
    Array,
}

#[derive(Debug)]
struct ExpandedColumn {
    index: usize,
    ty: KqlType,
}

#[derive(Debug)]
struct MvExpand {
    columns: Vec<ExpandedColumn>,
    expansion: BagExpansion,
    with_index: bool,
    limit: usize,
}

impl Transform for MvExpand {
    fn name(&self) -> &str {
        "MvExpand"
    }

    fn per_batch(&self) -> bool {
        true
    }

    fn apply(&self, batches: Vec<RecordBatch>, schema: &SchemaRef) -> Result<Vec<RecordBatch>> {
        batches.into_iter().map(|batch| self.expand(&batch, schema)).collect()
    }
}

impl MvExpand {
    /// The elements of one value: array items, bag properties, null once, or a scalar once.
    fn elements(&self, text: Option<&str>) -> Vec<Json> {
        let Some(text) = text else { return vec![Json::Null] };
        match serde_json::from_str::<Json>(text).unwrap_or_else(|_| Json::String(text.to_string())) {
            Json::Array(items) => items,
            Json::Object(map) => map
                .into_iter()
                .map(|(k, v)| match self.expansion {
                    BagExpansion::Bag => Json::Object([(k, v)].into_iter().collect()),
                    BagExpansion::Array => Json::Array(vec![Json::String(k), v]),
                })
                .collect(),
            other => vec![other],
        }
    }

    fn expand(&self, batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
        let texts: Vec<StringColumn> =
            self.columns.iter().map(|c| StringColumn::new(batch.column(c.index))).collect::<Result<_>>()?;
        let mut indices: Vec<u32> = Vec::new();
        let mut item_indexes: Vec<i64> = Vec::new();
        let mut builders: Vec<ValueBuilder> =
            self.columns.iter().map(|c| ValueBuilder::new(c.ty, batch.num_rows())).collect();
        let mut dynamic_builders: Vec<StringBuilder> = self.columns.iter().map(|_| StringBuilder::new()).collect();
        for row in 0..batch.num_rows() {
            let elements: Vec<Vec<Json>> = texts.iter().map(|t| self.elements(t.get(row))).collect();
            let count = elements.iter().map(Vec::len).max().unwrap_or(0).min(self.limit);
            for i in 0..count {
                indices.push(row as u32);
                item_indexes.push(i as i64);
                for (c, column) in self.columns.iter().enumerate() {
                    let element = elements[c].get(i).cloned().unwrap_or(Json::Null);
                    if column.ty == KqlType::Dynamic {
                        match element {
                            Json::Null => dynamic_builders[c].append_null(),
                            other => dynamic_builders[c].append_value(other.to_string()),
                        }
                    } else {
                        builders[c].append(&convert(&Value::Dynamic(element), column.ty));
                    }
                }
            }
        }
        let indices = UInt32Array::from(indices);
        let mut expanded: Vec<Option<ArrayRef>> = vec![None; batch.num_columns()];
        for ((column, builder), mut dynamic) in self.columns.iter().zip(builders).zip(dynamic_builders) {
            expanded[column.index] =
                Some(if column.ty == KqlType::Dynamic { Arc::new(dynamic.finish()) } else { builder.finish() });
        }
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
        for (index, column) in batch.columns().iter().enumerate() {
            arrays.push(match expanded[index].take() {
                Some(array) => array,
                None => take(column.as_ref(), &indices, None)?,
            });
        }
        if self.with_index {
            arrays.push(Arc::new(Int64Array::from(item_indexes)));
        }
        Ok(RecordBatch::try_new(schema.clone(), arrays)?)
    }
}

impl Binder<'_> {
    pub(crate) fn bind_mv_expand(&mut self, input: Relation, expand: &ast::MvExpandOperator) -> BindResult<Relation> {
        let limit = match &expand.limit {
            Some(limit) => self.bind_count_argument(limit)?,
            None => usize::MAX,
        };
        self.expand_items(input, &expand.options, &expand.items, limit)
    }

    /// Evaluates the items into columns, then expands them together.
    fn expand_items(
        &mut self,
        input: Relation,
        options: &[ast::OperatorOption],
        items: &[ast::MvExpandItem],
        limit: usize,
    ) -> BindResult<Relation> {
        let mut expansion = BagExpansion::Bag;
        let mut index_column = None;
        for option in options {
            match (option.name.name.as_str(), option.value.as_name()) {
                ("bagexpansion" | "kind", Some("array")) => expansion = BagExpansion::Array,
                ("bagexpansion" | "kind", Some("bag")) => expansion = BagExpansion::Bag,
                ("with_itemindex", Some(name)) => index_column = Some(name.to_string()),
                _ => {}
            }
        }
        let input_row = Row::of(&input);
        let mut row = input_row.clone();
        let mut targets: Vec<(String, KqlType)> = Vec::new();
        for item in items {
            let bound = self.bind_expr(&item.target.value, &input_row)?;
            if bound.ty != KqlType::Dynamic {
                return Err(BindError::new(
                    Code::TypeMismatch,
                    item.target.value.span,
                    format!("mv-expand needs a dynamic array or property bag, but this is a {}", bound.ty),
                ));
            }
            let name = match item.target.names.as_slice() {
                [name] => name.name.clone(),
                _ => result_name(&item.target.value, &input_row, CallKind::Scalar).ok_or_else(|| {
                    BindError::new(
                        Code::BadArguments,
                        item.target.value.span,
                        "give the expanded expression a name: Name = expression",
                    )
                })?,
            };
            let ty = item
                .to_type
                .as_ref()
                .map(|t| KqlType::from_name(&t.name).expect("known type"))
                .unwrap_or(KqlType::Dynamic);
            row.set(RowColumn { name: name.clone(), ty: KqlType::Dynamic, expr: bound.expr });
            targets.push((name, ty));
        }
        let projected = super::project_row(&input, &row)?;
        let mut columns = projected.columns.clone();
        let mut expanded = Vec::new();
        for (name, ty) in &targets {
            let index = columns.iter().position(|c| &c.name == name).expect("projected above");
            columns[index].ty = *ty;
            expanded.push(ExpandedColumn { index, ty: *ty });
        }
        if let Some(name) = &index_column {
            columns.push(KqlColumn::new(name.clone(), KqlType::Long));
        }
        let input_schema = projected.plan.schema();
        let mut fields: Vec<Field> = Vec::new();
        for (index, field) in input_schema.fields().iter().enumerate() {
            fields.push(match expanded.iter().find(|e| e.index == index) {
                Some(column) => column.ty.field(field.name()),
                None => field.as_ref().clone(),
            });
        }
        if let Some(name) = &index_column {
            fields.push(KqlType::Long.field(name));
        }
        let schema = DFSchema::try_from(Schema::new(fields)).map_err(BindError::plan)?;
        let transform = MvExpand { columns: expanded, expansion, with_index: index_column.is_some(), limit };
        let plan = TransformNode::plan(projected.plan.clone(), Arc::new(schema), Arc::new(transform));
        Ok(input.with(plan, columns))
    }

    pub(crate) fn bind_mv_apply(&mut self, input: Relation, apply: &ast::MvApplyOperator) -> BindResult<Relation> {
        let limit = match &apply.limit {
            Some(limit) => self.bind_count_argument(limit)?,
            None => usize::MAX,
        };
        let row_id = self.internal_name("row");
        let numbered = self.number_rows(&input, &row_id)?;
        let expanded = self.expand_items(numbered.clone(), &apply.options, &apply.items, limit)?;
        self.partition_keys.push(row_id.clone());
        self.context_inputs.push(expanded);
        let result = self.bind_tabular(&apply.subquery);
        self.context_inputs.pop();
        self.partition_keys.pop();
        let result = result?;
        if result.column(&row_id).is_none() {
            return Err(BindError::new(
                Code::Unsupported,
                apply.subquery.span,
                "the mv-apply subquery dropped the row it applies to",
            ));
        }
        let produced: Vec<&KqlColumn> = result.columns.iter().filter(|c| c.name != row_id).collect();
        let expanded_names: Vec<String> = apply
            .items
            .iter()
            .filter_map(|item| match (item.target.names.as_slice(), &item.target.value.kind) {
                ([name], _) => Some(name.name.clone()),
                ([], ExprKind::Name(ident)) => Some(ident.name.clone()),
                _ => None,
            })
            .collect();
        let left_plan = LogicalPlanBuilder::from(numbered.plan.clone())
            .alias("$row")
            .and_then(|b| b.build())
            .map_err(BindError::plan)?;
        let right_plan = LogicalPlanBuilder::from(result.plan.clone())
            .alias("$applied")
            .and_then(|b| b.build())
            .map_err(BindError::plan)?;
        let joined = LogicalPlanBuilder::from(left_plan)
            .join(
                right_plan,
                JoinType::Inner,
                (vec![Column::new(Some("$row"), &row_id)], vec![Column::new(Some("$applied"), &row_id)]),
                None,
            )
            .and_then(|b| b.build())
            .map_err(BindError::plan)?;
        let mut exprs: Vec<Expr> = Vec::new();
        let mut columns: Vec<KqlColumn> = Vec::new();
        for column in &input.columns {
            if expanded_names.contains(&column.name) || produced.iter().any(|p| p.name == column.name) {
                continue;
            }
            exprs.push(Expr::Column(Column::new(Some("$row"), &column.name)).alias(&column.name));
            columns.push(column.clone());
        }
        for column in produced {
            exprs.push(Expr::Column(Column::new(Some("$applied"), &column.name)).alias(&column.name));
            columns.push(column.clone());
        }
        let plan = LogicalPlanBuilder::from(joined).project(exprs).and_then(|b| b.build()).map_err(BindError::plan)?;
        let mut relation = Relation::new(plan, columns);
        relation.open = input.open;
        Ok(relation)
    }

    /// The relation with a column numbering its rows 0, 1, 2... in order.
    pub(crate) fn number_rows(&mut self, input: &Relation, name: &str) -> BindResult<Relation> {
        let number = KqlColumn::new(name, KqlType::Long);
        let schema =
            crate::nodes::appended_schema(&input.plan, std::slice::from_ref(&number)).map_err(BindError::plan)?;
        let plan = TransformNode::plan(input.plan.clone(), schema, Arc::new(NumberRows));
        let mut columns = input.columns.clone();
        columns.push(number);
        Ok(input.with(plan, columns))
    }
}

/// Appends the row number (from 0) as a column.
#[derive(Debug)]
struct NumberRows;

impl Transform for NumberRows {
    fn name(&self) -> &str {
        "NumberRows"
    }

    fn per_batch(&self) -> bool {
        false
    }

    fn apply(&self, batches: Vec<RecordBatch>, schema: &SchemaRef) -> Result<Vec<RecordBatch>> {
        let mut next = 0i64;
        batches
            .into_iter()
            .map(|batch| {
                let numbers = Int64Array::from_iter_values(next..next + batch.num_rows() as i64);
                next += batch.num_rows() as i64;
                let mut columns = batch.columns().to_vec();
                columns.push(Arc::new(numbers));
                Ok(RecordBatch::try_new(schema.clone(), columns)?)
            })
            .collect()
    }
}
