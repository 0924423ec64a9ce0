//! Operators that produce tables: datatable, print, range, union, search, externaldata.

use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::DFSchema;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, lit};
use vigil_catalog::OpenColumns;
use vigil_kql_functions::conversion::convert;
use vigil_kql_functions::value::ValueBuilder;
use vigil_kql_functions::{KqlColumn, KqlType, TypedExpr, Value};
use vigil_kql_syntax::ast::{self, ExprKind, Literal};
use vigil_kql_syntax::{Code, Span};

use super::Binder;
use super::operators::wildcard_match;
use super::scope::Row;
use crate::error::{BindError, BindResult};
use crate::nodes::TransformNode;
use crate::relation::{Relation, column_expr, null_of};

impl Binder<'_> {
    pub(crate) fn bind_datatable(
        &mut self,
        columns: &[ast::ColumnDeclaration],
        values: &[ast::Expr],
        span: Span,
    ) -> BindResult<Relation> {
        let kql_columns = declared_columns(columns);
        if kql_columns.is_empty() {
            return Err(BindError::new(Code::BadArguments, span, "datatable needs at least one column"));
        }
        if !values.len().is_multiple_of(kql_columns.len()) {
            return Err(BindError::new(
                Code::BadArguments,
                span,
                format!(
                    "datatable has {} columns but {} values, which is not a whole number of rows",
                    kql_columns.len(),
                    values.len()
                ),
            ));
        }
        let rows = values.len() / kql_columns.len();
        let mut builders: Vec<ValueBuilder> = kql_columns.iter().map(|c| ValueBuilder::new(c.ty, rows)).collect();
        for (index, value) in values.iter().enumerate() {
            let bound = self.bind_expr(value, &Row::default())?;
            let bound = self.fold_constant(bound);
            let Some(constant) = bound.constant else {
                return Err(BindError::new(Code::BadArguments, value.span, "datatable values must be constants"));
            };
            builders[index % kql_columns.len()].append(&constant);
        }
        let arrays = builders.into_iter().map(ValueBuilder::finish).collect();
        let batch = RecordBatch::try_new(vigil_kql_functions::types::arrow_schema(&kql_columns), arrays)
            .map_err(|e| BindError::plan(e.into()))?;
        let mut relation = self.relation_of_batches(kql_columns, vec![batch])?;
        relation.ordered = true;
        Ok(relation)
    }

    pub(crate) fn bind_print(&mut self, items: &[ast::Assignment]) -> BindResult<Relation> {
        let input = Relation::new(LogicalPlanBuilder::empty(true).build().map_err(BindError::plan)?, vec![]);
        let row = Row::default();
        let outputs = self.bind_items(items, &row, &mut |index, _| format!("print_{index}"))?;
        let mut columns: Vec<KqlColumn> = Vec::new();
        let mut exprs = Vec::new();
        for (index, projected) in outputs.into_iter().enumerate() {
            let name = if projected.explicit { projected.name } else { format!("print_{index}") };
            columns.push(KqlColumn::new(name, projected.bound.ty));
            exprs.push(projected.bound.expr);
        }
        let mut relation = input.project(exprs, columns)?;
        relation.ordered = true;
        Ok(relation)
    }

    pub(crate) fn bind_range(
        &mut self,
        column: &ast::Ident,
        from: &ast::Expr,
        to: &ast::Expr,
        step: &ast::Expr,
    ) -> BindResult<Relation> {
        let constant = |binder: &mut Self, expr: &ast::Expr| -> BindResult<(Value, KqlType)> {
            let bound = binder.bind_expr(expr, &Row::default())?;
            let bound = binder.fold_constant(bound);
            match bound.constant {
                Some(value) if !value.is_null() => Ok((value, bound.ty)),
                _ => Err(BindError::new(Code::BadArguments, expr.span, "range bounds and step must be constants")),
            }
        };
        let (start, _) = constant(self, from)?;
        let (stop, _) = constant(self, to)?;
        let (step_value, _) = constant(self, step)?;
        let spec = super::range::RangeSpec::new(&start, &stop, &step_value)
            .map_err(|m| BindError::new(Code::BadArguments, step.span, m))?;
        super::range::range_relation(&column.name, spec)
    }

    pub(crate) fn bind_union(
        &mut self,
        input: Option<Relation>,
        options: &[ast::OperatorOption],
        tables: &[ast::Expr],
    ) -> BindResult<Relation> {
        // `isfuzzy=true`: legs that do not resolve (a table or parser the workspace lacks) are
        // left out, as long as one leg resolves.
        let fuzzy = options.iter().any(|o| {
            o.name.name == "isfuzzy"
                && (o.value.as_name().is_some_and(|v| v.eq_ignore_ascii_case("true"))
                    || matches!(&o.value.kind, ExprKind::Literal(ast::Literal::Bool(Some(true)))))
        });
        let mut inputs: Vec<Relation> = input.into_iter().collect();
        let mut first_failure = None;
        for (index, table) in tables.iter().enumerate() {
            match &table.kind {
                ExprKind::Wildcard(pattern) => {
                    let mut names = self.catalog.populated_table_names();
                    names.extend(self.scope.tabular_names());
                    names.sort();
                    names.dedup();
                    for name in names.into_iter().filter(|n| wildcard_match(pattern, n)) {
                        inputs.push(self.bind_table_name(&name, table.span)?);
                    }
                }
                _ => match self.bind_tabular(table) {
                    Ok(mut relation) => {
                        if relation.name.is_none() {
                            relation.name = Some(format!("union_arg{index}"));
                        }
                        inputs.push(relation);
                    }
                    Err(error) if fuzzy => {
                        // When no leg resolves, a leg that resolved but failed inside says more
                        // than one that does not exist.
                        let leg = match &table.kind {
                            ExprKind::Name(ident) => Some(ident.name.as_str()),
                            ExprKind::Call { function, .. } => Some(function.name.as_str()),
                            _ => None,
                        };
                        let missing = error.0.code == Code::UnknownTable
                            && leg.is_some_and(|leg| error.0.message.ends_with(&format!(" '{leg}'")));
                        let inside = !missing;
                        if first_failure.as_ref().is_none_or(|(_, was_inside)| inside && !was_inside) {
                            first_failure = Some((error, inside));
                        }
                    }
                    Err(error) => return Err(error),
                },
            }
        }
        match first_failure {
            // A leg that exists but does not bind here is a source this workspace does not
            // collect (an ASIM source parser whose table is absent). When every leg is such a
            // source, the union is empty, open to the columns its readers name: what Sentinel's
            // `*_Empty` ASIM parsers ensure there, which Vigil does not ship.
            Some((_, true)) if inputs.is_empty() => {
                let mut empty = self.relation_of_batches(Vec::new(), Vec::new())?;
                empty.open = Some(OpenColumns::Unknown);
                return Ok(empty);
            }
            Some((error, false)) if inputs.is_empty() => return Err(error),
            _ => {}
        }
        let legs_left_out = first_failure.is_some();
        let mut inner = false;
        let mut source_column = None;
        for option in options {
            match (option.name.name.as_str(), option.value.as_name()) {
                ("kind", Some("inner")) => inner = true,
                ("kind", Some("outer")) => inner = false,
                ("withsource" | "with_source", Some(name)) => source_column = Some(name.to_string()),
                // `withsource='SourceTable'`, as Sentinel's parsers write it.
                ("withsource" | "with_source", None) => {
                    if let ExprKind::Literal(Literal::String(name)) = &option.value.kind {
                        source_column = Some(name.clone());
                    }
                }
                _ => {}
            }
        }
        let mut relation = union_relations(inputs, inner, source_column.as_deref())?;
        // The legs left out would have added their columns: which, nobody knows here.
        if legs_left_out {
            relation.open = OpenColumns::merge(relation.open, Some(OpenColumns::Unknown));
        }
        Ok(relation)
    }

    pub(crate) fn bind_search(
        &mut self,
        input: Option<Relation>,
        options: &[ast::OperatorOption],
        tables: &[ast::Expr],
        predicate: &ast::Expr,
    ) -> BindResult<Relation> {
        let case_sensitive =
            options.iter().any(|o| o.name.name == "kind" && o.value.as_name() == Some("case_sensitive"));
        let mut candidates: Vec<Relation> = Vec::new();
        if let Some(input) = input {
            candidates.push(input);
        } else if tables.is_empty() {
            let mut names = self.catalog.populated_table_names();
            names.extend(self.scope.tabular_names());
            for name in names {
                candidates.push(self.bind_table_name(&name, predicate.span)?);
            }
        } else {
            let relation = self.bind_union(None, &[], tables)?;
            candidates.push(relation);
        }
        let mut matched = Vec::new();
        let mut last_error = None;
        for relation in candidates {
            let row = Row::of(&relation);
            let filter = match &predicate.kind {
                ExprKind::Literal(Literal::String(term)) => search_term(&row, term, case_sensitive),
                ExprKind::Wildcard(pattern) if pattern == "*" => lit(true),
                _ => match self.bind_predicate(predicate, &row) {
                    Ok(filter) => filter,
                    Err(error) => {
                        // Tables without the columns the predicate names are not searched.
                        last_error = Some(error);
                        continue;
                    }
                },
            };
            matched.push(relation.filter(filter)?);
        }
        if matched.is_empty() {
            return Err(last_error.unwrap_or_else(|| {
                BindError::new(Code::UnknownName, predicate.span, "search found no tables to search")
            }));
        }
        union_relations(matched, false, Some("$table"))
    }

    pub(crate) fn bind_externaldata(
        &mut self,
        columns: &[ast::ColumnDeclaration],
        uris: &[ast::Expr],
        properties: &[ast::OperatorOption],
    ) -> BindResult<Relation> {
        let columns = declared_columns(columns);
        let mut constant_uris = Vec::new();
        for uri in uris {
            let bound = self.bind_expr(uri, &Row::default())?;
            match self.fold_constant(bound).constant {
                Some(Value::String(text)) => constant_uris.push(text),
                _ => {
                    return Err(BindError::new(
                        Code::BadArguments,
                        uri.span,
                        "externaldata takes its URIs as constant strings",
                    ));
                }
            }
        }
        let mut format = None;
        let mut ignore_first_record = false;
        for property in properties {
            let bound = self.bind_expr(&property.value, &Row::default())?;
            let value = self.fold_constant(bound).constant;
            match (property.name.name.to_ascii_lowercase().as_str(), value) {
                ("format", Some(Value::String(name))) => {
                    crate::external::Format::of(Some(&name), "")
                        .map_err(|m| BindError::new(Code::BadArguments, property.value.span, m))?;
                    format = Some(name);
                }
                ("ignorefirstrecord", Some(Value::Bool(flag))) => ignore_first_record = flag,
                _ => {}
            }
        }
        let empty = LogicalPlanBuilder::empty(false).build().map_err(BindError::plan)?;
        let schema = DFSchema::try_from(vigil_kql_functions::types::arrow_schema(&columns).as_ref().clone())
            .map_err(BindError::plan)?;
        let rows = crate::external::ExternalRows {
            uris: constant_uris,
            format,
            ignore_first_record,
            columns: columns.clone(),
            source: self.external_data.clone(),
        };
        let plan = TransformNode::plan(empty, Arc::new(schema), Arc::new(rows));
        Ok(Relation::new(plan, columns))
    }
}

pub(crate) fn declared_columns(columns: &[ast::ColumnDeclaration]) -> Vec<KqlColumn> {
    columns
        .iter()
        .map(|c| {
            KqlColumn::new(
                c.name.name.clone(),
                KqlType::from_name(&c.ty.name).expect("the parser accepts only known types"),
            )
        })
        .collect()
}

/// `search "term"`: the term in any string or dynamic column, as `has` matches.
fn search_term(row: &Row, term: &str, case_sensitive: bool) -> Expr {
    let op = vigil_kql_syntax::ast::StringOp {
        kind: vigil_kql_syntax::ast::StringOpKind::Has,
        negated: false,
        case_sensitive,
    };
    row.columns
        .iter()
        .filter(|c| matches!(c.ty, KqlType::String | KqlType::Dynamic))
        .map(|c| {
            let text = convert(TypedExpr::new(c.expr.clone(), c.ty), KqlType::String);
            vigil_kql_functions::scalar::operators::string_predicate(op, text, lit(term.to_string()))
        })
        .reduce(Expr::or)
        .unwrap_or(lit(false))
}

/// The rows of several relations under one schema: outer union by column name (same name
/// with different types become `name_type`), or only the columns all share with `inner`.
pub(crate) fn union_relations(inputs: Vec<Relation>, inner: bool, source_column: Option<&str>) -> BindResult<Relation> {
    let type_count = |name: &str| {
        let mut types: Vec<KqlType> = inputs.iter().filter_map(|r| r.column(name).map(|c| c.ty)).collect();
        types.sort();
        types.dedup();
        types.len()
    };
    // A name the legs give different types becomes `name_type`; when that is itself a column of
    // some leg, the renamed one takes a number (`x_long1`), as Kusto names them.
    let original =
        |name: &str| inputs.iter().any(|r| r.columns.iter().any(|c| c.name == name && type_count(name) == 1));
    let mut columns: Vec<KqlColumn> = Vec::new();
    let mut renamed: Vec<((String, KqlType), String)> = Vec::new();
    for relation in &inputs {
        for column in &relation.columns {
            if inner && !inputs.iter().all(|r| r.column(&column.name).is_some_and(|c| c.ty == column.ty)) {
                continue;
            }
            let output = if type_count(&column.name) > 1 {
                let key = (column.name.clone(), column.ty);
                let name = match renamed.iter().find(|(k, _)| *k == key) {
                    Some((_, name)) => name.clone(),
                    None => {
                        let base = format!("{}_{}", column.name, column.ty.name());
                        let name = crate::relation::unique_name(&base, |n| {
                            original(n) || renamed.iter().any(|(_, taken)| taken == n)
                        });
                        renamed.push((key, name.clone()));
                        name
                    }
                };
                KqlColumn::new(name, column.ty)
            } else {
                column.clone()
            };
            if !columns.contains(&output) {
                columns.push(output);
            }
        }
    }
    let mut output_columns = columns.clone();
    if let Some(source) = source_column {
        output_columns.insert(0, KqlColumn::new(source, KqlType::String));
    }
    let mut plans = Vec::new();
    for (index, relation) in inputs.iter().enumerate() {
        let mut exprs: Vec<Expr> = Vec::new();
        if source_column.is_some() {
            exprs.push(lit(relation.name.clone().unwrap_or_else(|| format!("union_arg{index}"))));
        }
        for column in &columns {
            let own = relation.columns.iter().find(|c| {
                c.ty == column.ty
                    && match renamed.iter().find(|(k, _)| k.0 == c.name && k.1 == c.ty) {
                        Some((_, name)) => *name == column.name,
                        None => c.name == column.name,
                    }
            });
            exprs.push(match own {
                Some(own) => column_expr(&own.name),
                None => null_of(column.ty),
            });
        }
        plans.push(relation.project(exprs, output_columns.clone())?.plan);
    }
    let mut plans = plans.into_iter();
    let first = plans
        .next()
        .ok_or_else(|| BindError::new(Code::BadArguments, Span::default(), "union needs at least one table"))?;
    let mut builder = LogicalPlanBuilder::from(first);
    for plan in plans {
        builder = builder.union(plan).map_err(BindError::plan)?;
    }
    let plan = builder.build().map_err(BindError::plan)?;
    let mut relation = Relation::new(plan, output_columns);
    relation.open = inputs.iter().fold(None, |open, input| OpenColumns::merge(open, input.open));
    Ok(relation)
}
