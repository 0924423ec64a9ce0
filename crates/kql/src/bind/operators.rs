//! Row-wise and ordering operators: where, project (and its variants), extend, sort, top,
//! take, distinct, count, getschema, sample, render, invoke.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int32Array, StringArray};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, SortExpr, lit};
use serde_json::Value as Json;
use vigil_kql_functions::dynamic::PathStep;
use vigil_kql_functions::scalar::dynamic::path_get;
use vigil_kql_functions::{KqlColumn, KqlType, Registry, TypedExpr, Value};
use vigil_kql_syntax::ast::{self, ExprKind, NullsOrder, SortKey, SortOrder};
use vigil_kql_syntax::{Code, Span};

use super::naming::{CallKind, DefaultNames, result_name};
use super::scope::{Binding, Bound, Row, RowColumn};
use super::{Binder, project_row};
use crate::error::{BindError, BindResult};
use crate::relation::{Relation, Render, column_expr, unique_name};

/// One output column of a projection item.
pub(crate) struct Projected {
    pub name: String,
    pub bound: Bound,
    /// The query named it (`x = ...`); an inferred name yields to existing columns instead.
    pub explicit: bool,
}

impl Binder<'_> {
    pub(crate) fn bind_where(&mut self, input: Relation, predicate: &ast::Expr) -> BindResult<Relation> {
        let row = Row::of(&input);
        let predicate = self.with_windows(&input, |binder| binder.bind_predicate(predicate, &row))?;
        match predicate {
            (predicate, None) => input.filter(predicate),
            (predicate, Some(windowed)) => {
                let filtered = windowed.filter(predicate)?;
                filtered.select(&input.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>())
            }
        }
    }

    /// Binds the items of `project` and `print`: each gives one or more columns.
    pub(crate) fn bind_items(
        &mut self,
        items: &[ast::Assignment],
        row: &Row,
        default_name: &mut dyn FnMut(usize, &Row) -> String,
    ) -> BindResult<Vec<Projected>> {
        let mut outputs: Vec<Projected> = Vec::new();
        for (index, item) in items.iter().enumerate() {
            outputs.extend(self.bind_item(item, row, index, default_name)?);
        }
        Ok(outputs)
    }

    fn bind_item(
        &mut self,
        item: &ast::Assignment,
        row: &Row,
        index: usize,
        default_name: &mut dyn FnMut(usize, &Row) -> String,
    ) -> BindResult<Vec<Projected>> {
        if let Some(tuple) = self.tuple_call(&item.value) {
            return self.bind_tuple_item(item, row, tuple);
        }
        if let Some(sorted) = self.bind_sorted_arrays(item, row)? {
            return Ok(sorted);
        }
        let bound = self.bind_expr(&item.value, row)?;
        let (name, explicit) = match item.names.as_slice() {
            [name] => (name.name.clone(), true),
            [] => match result_name(&item.value, row, CallKind::Scalar) {
                Some(name) if !name.is_empty() => (name, false),
                _ => (default_name(index, row), false),
            },
            _ => {
                return Err(BindError::new(
                    Code::BadArguments,
                    item.span,
                    "several names can only be assigned from a function that returns several columns",
                ));
            }
        };
        Ok(vec![Projected { name, bound, explicit }])
    }

    /// `array_sort_asc(a, b, ...)` and `array_sort_desc` with several arrays, as an item of
    /// `print`, `project` or `extend`: one column per array, `a_sorted`, `b_sorted`...
    fn bind_sorted_arrays(&mut self, item: &ast::Assignment, row: &Row) -> BindResult<Option<Vec<Projected>>> {
        let ExprKind::Call { function, args } = &item.value.kind else { return Ok(None) };
        if !matches!(function.name.as_str(), "array_sort_asc" | "array_sort_desc")
            || self.lookup(&function.name).is_some()
        {
            return Ok(None);
        }
        let mut arrays = Vec::new();
        for arg in args {
            if self.bind_expr(&arg.value, row)?.ty == KqlType::Dynamic {
                arrays.push(arg);
            }
        }
        if arrays.len() < 2 {
            return Ok(None);
        }
        if item.names.len() > arrays.len() {
            return Err(BindError::new(
                Code::BadArguments,
                item.span,
                format!("{} returns {} arrays, but {} names are given", function.name, arrays.len(), item.names.len()),
            ));
        }
        let sorted = self.bind_expr(&item.value, row)?;
        Ok(Some(
            arrays
                .iter()
                .enumerate()
                .map(|(index, arg)| {
                    let value = path_get(sorted.expr.clone(), vec![PathStep::Index(index as i64)]);
                    let (name, explicit) = match item.names.get(index) {
                        Some(name) => (name.name.clone(), true),
                        None => {
                            // Kusto names these columns itself, in `print` too.
                            let base = result_name(&arg.value, row, CallKind::Scalar)
                                .unwrap_or_else(|| format!("array{}", index + 1));
                            (format!("{base}_sorted"), true)
                        }
                    };
                    Projected { name, bound: Bound::new(value, KqlType::Dynamic), explicit }
                })
                .collect(),
        ))
    }

    /// The members of a call to a function that returns several columns (`series_stats`).
    fn tuple_call(&self, expr: &ast::Expr) -> Option<&'static [(&'static str, KqlType)]> {
        let ExprKind::Call { function, .. } = &expr.kind else { return None };
        if self.lookup(&function.name).is_some() {
            return None;
        }
        Registry::global().scalar_function(&function.name).and_then(|f| f.tuple)
    }

    fn bind_tuple_item(
        &mut self,
        item: &ast::Assignment,
        row: &Row,
        members: &[(&str, KqlType)],
    ) -> BindResult<Vec<Projected>> {
        let ExprKind::Call { function, args } = &item.value.kind else { unreachable!("checked by tuple_call") };
        let bag = self.bind_expr(&item.value, row)?;
        let argument = args.first().and_then(|a| result_name(&a.value, row, CallKind::Scalar)).unwrap_or_default();
        if item.names.len() > members.len() {
            return Err(BindError::new(
                Code::BadArguments,
                item.span,
                format!(
                    "{} returns {} columns, but {} names are given",
                    function.name,
                    members.len(),
                    item.names.len()
                ),
            ));
        }
        Ok(members
            .iter()
            .enumerate()
            .map(|(i, (member, ty))| {
                let value = path_get(bag.expr.clone(), vec![PathStep::Key(member.to_string())]);
                let expr = vigil_kql_functions::conversion::convert(TypedExpr::new(value, KqlType::Dynamic), *ty);
                let (name, explicit) = match item.names.get(i) {
                    Some(name) => (name.name.clone(), true),
                    None => (format!("{}_{argument}_{member}", function.name), false),
                };
                Projected { name, bound: Bound::new(expr, *ty), explicit }
            })
            .collect())
    }

    pub(crate) fn bind_project(&mut self, input: Relation, items: &[ast::Assignment]) -> BindResult<Relation> {
        let input_row = Row::of(&input);
        let mut names = DefaultNames::default();
        let (outputs, windowed) = self.with_windows(&input, |binder| {
            binder.bind_items(items, &input_row, &mut |_, row| names.next(|n| row.get(n).is_some()))
        })?;
        let mut columns: Vec<KqlColumn> = Vec::new();
        let mut exprs = Vec::new();
        for projected in outputs {
            let name = if columns.iter().any(|c| c.name == projected.name) {
                if projected.explicit {
                    return Err(BindError::new(
                        Code::BadArguments,
                        Span::default(),
                        format!("column '{}' is projected twice", projected.name),
                    ));
                }
                unique_name(&projected.name, |n| columns.iter().any(|c| c.name == n))
            } else {
                projected.name
            };
            columns.push(KqlColumn::new(name, projected.bound.ty));
            exprs.push(projected.bound.expr);
        }
        for key in self.partition_keys_of(&input) {
            if !columns.iter().any(|c| c.name == key.name) {
                exprs.push(column_expr(&key.name));
                columns.push(key);
            }
        }
        let mut projected = windowed.as_ref().unwrap_or(&input).project(exprs, columns)?;
        projected.open = None;
        Ok(projected)
    }

    /// The partition keys (of an enclosing `mv-apply`) that this relation carries.
    pub(crate) fn partition_keys_of(&self, input: &Relation) -> Vec<KqlColumn> {
        self.partition_keys.iter().filter_map(|k| input.column(k).cloned()).collect()
    }

    /// Keeps the first `n` rows (of each partition, inside `mv-apply`) in `sorts` order.
    fn limit_rows(&mut self, input: Relation, sorts: Vec<SortExpr>, n: usize) -> BindResult<Relation> {
        let keys = self.partition_keys_of(&input);
        if keys.is_empty() {
            let builder = LogicalPlanBuilder::from(input.plan.clone());
            let builder = if sorts.is_empty() {
                builder.limit(0, Some(n))
            } else {
                builder.sort_with_limit(sorts.clone(), Some(n))
            };
            let plan = builder.and_then(|b| b.build()).map_err(BindError::plan)?;
            let mut relation = input.with(plan, input.columns.clone());
            relation.ordered |= !sorts.is_empty();
            return Ok(relation);
        }
        use datafusion::logical_expr::ExprFunctionExt;
        let number = self.internal_name("rank");
        let partition: Vec<Expr> = keys.iter().map(|k| column_expr(&k.name)).collect();
        // A window needs an order; without one, any of the partition's rows will do.
        let sorts = match sorts.is_empty() {
            true => partition.iter().map(|k| k.clone().sort(true, true)).collect(),
            false => sorts,
        };
        let window = datafusion::functions_window::expr_fn::row_number()
            .partition_by(partition)
            .order_by(sorts)
            .build()
            .map_err(BindError::plan)?
            .alias(&number);
        let plan = LogicalPlanBuilder::from(input.plan.clone())
            .window(vec![window])
            .and_then(|b| b.filter(column_expr(&number).lt_eq(lit(n as u64))))
            .and_then(|b| b.build())
            .map_err(BindError::plan)?;
        let numbered = Relation::new(plan, vec![]);
        let exprs = input.columns.iter().map(|c| column_expr(&c.name)).collect();
        numbered.project(exprs, input.columns.clone())
    }

    pub(crate) fn bind_extend(&mut self, input: Relation, items: &[ast::Assignment]) -> BindResult<Relation> {
        let mut names = DefaultNames::default();
        let (row, windowed) = self.with_windows(&input, |binder| {
            // Items apply in order, so later items see earlier ones.
            let mut row = Row::of(&input);
            row.input_width = Some(input.columns.len());
            for (index, item) in items.iter().enumerate() {
                for projected in
                    binder.bind_item(item, &row, index, &mut |_, row| names.next(|n| row.get(n).is_some()))?
                {
                    let name = if projected.explicit || row.get(&projected.name).is_none() {
                        projected.name
                    } else {
                        unique_name(&projected.name, |n| row.get(n).is_some())
                    };
                    row.set(RowColumn { name, ty: projected.bound.ty, expr: projected.bound.expr });
                }
            }
            row.input_width = None;
            Ok(row)
        })?;
        let mut result = project_row(windowed.as_ref().unwrap_or(&input), &row)?;
        result.ordered = input.ordered;
        Ok(result)
    }

    pub(crate) fn bind_project_away(&mut self, input: Relation, patterns: &[ast::Expr]) -> BindResult<Relation> {
        let removed = self.match_columns(&input, patterns)?;
        let kept: Vec<&str> =
            input.columns.iter().map(|c| c.name.as_str()).filter(|n| !removed.iter().any(|r| r == n)).collect();
        input.select(&kept)
    }

    pub(crate) fn bind_project_keep(&mut self, input: Relation, patterns: &[ast::Expr]) -> BindResult<Relation> {
        let mut kept_names = self.match_columns(&input, patterns)?;
        kept_names.extend(self.partition_keys.iter().cloned());
        let kept: Vec<&str> =
            input.columns.iter().map(|c| c.name.as_str()).filter(|n| kept_names.iter().any(|k| k == n)).collect();
        let mut relation = input.select(&kept)?;
        relation.open = None;
        Ok(relation)
    }

    /// The input's columns that the names and wildcard patterns match; a plain name that
    /// matches nothing is an error, unless it is an unlisted column of the input's open part.
    fn match_columns(&self, input: &Relation, patterns: &[ast::Expr]) -> BindResult<Vec<String>> {
        let mut matched = Vec::new();
        for pattern in patterns {
            match &pattern.kind {
                ExprKind::Name(ident) => {
                    if input.column(&ident.name).is_some() {
                        matched.push(ident.name.clone());
                    } else if input.open.and_then(|open| open.type_of(&ident.name)).is_none() {
                        return Err(unknown_column(&ident.name, ident.span, input));
                    }
                }
                ExprKind::Wildcard(wildcard) => {
                    matched.extend(
                        input.columns.iter().filter(|c| wildcard_match(wildcard, &c.name)).map(|c| c.name.clone()),
                    );
                }
                _ => {
                    return Err(BindError::new(
                        Code::UnexpectedToken,
                        pattern.span,
                        "expected a column name or a wildcard pattern",
                    ));
                }
            }
        }
        Ok(matched)
    }

    pub(crate) fn bind_project_rename(
        &mut self,
        input: Relation,
        pairs: &[(ast::Ident, ast::Ident)],
    ) -> BindResult<Relation> {
        let mut input = input;
        for (_, old) in pairs {
            input = input.with_open_column(&old.name)?.ok_or_else(|| unknown_column(&old.name, old.span, &input))?;
        }
        let mut columns = input.columns.clone();
        for (new, old) in pairs {
            let Some(column) = columns.iter_mut().find(|c| c.name == old.name) else {
                return Err(unknown_column(&old.name, old.span, &input));
            };
            column.name = new.name.clone();
        }
        let exprs = input.columns.iter().map(|c| column_expr(&c.name)).collect();
        input.project(exprs, columns)
    }

    pub(crate) fn bind_project_reorder(
        &mut self,
        input: Relation,
        items: &[(ast::Expr, Option<SortOrder>)],
    ) -> BindResult<Relation> {
        let mut ordered: Vec<String> = Vec::new();
        for (pattern, order) in items {
            let mut matched = self.match_columns(&input, std::slice::from_ref(pattern))?;
            match order {
                Some(SortOrder::Ascending) => matched.sort(),
                Some(SortOrder::Descending) => matched.sort_by(|a, b| b.cmp(a)),
                None => {}
            }
            for name in matched {
                if !ordered.contains(&name) {
                    ordered.push(name);
                }
            }
        }
        for column in &input.columns {
            if !ordered.contains(&column.name) {
                ordered.push(column.name.clone());
            }
        }
        input.select(&ordered.iter().map(String::as_str).collect::<Vec<_>>())
    }

    pub(crate) fn bind_project_by_names(&mut self, input: Relation, items: &[ast::Expr]) -> BindResult<Relation> {
        let row = Row::of(&input);
        let mut names: Vec<String> = Vec::new();
        for item in items {
            let bound = self.bind_expr(item, &row)?;
            let bound = self.fold_constant(bound);
            let patterns: Vec<String> = match bound.constant {
                Some(Value::Dynamic(Json::Array(values))) => {
                    values.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()
                }
                Some(Value::String(pattern)) => vec![pattern],
                _ => {
                    return Err(BindError::new(
                        Code::BadArguments,
                        item.span,
                        "project-by-names takes constant names or patterns",
                    ));
                }
            };
            for pattern in patterns {
                for column in input.columns.iter().filter(|c| wildcard_match(&pattern, &c.name)) {
                    if !names.contains(&column.name) {
                        names.push(column.name.clone());
                    }
                }
            }
        }
        let mut relation = input.select(&names.iter().map(String::as_str).collect::<Vec<_>>())?;
        relation.open = None;
        Ok(relation)
    }

    pub(crate) fn bind_count(&mut self, input: Relation, name: Option<&ast::Ident>) -> BindResult<Relation> {
        let name = name.map(|n| n.name.clone()).unwrap_or_else(|| "Count".to_string());
        let keys = self.partition_keys_of(&input);
        let groups: Vec<Expr> = keys.iter().map(|k| column_expr(&k.name)).collect();
        let plan = LogicalPlanBuilder::from(input.plan.clone())
            .aggregate(groups, vec![count(lit(1i64)).alias(&name)])
            .and_then(|b| b.build())
            .map_err(BindError::plan)?;
        let mut columns = keys;
        columns.push(KqlColumn::new(name, KqlType::Long));
        Ok(Relation::new(plan, columns))
    }

    /// `top-hitters N of Value [by Summing]`: the N values with the most rows (or the largest sum),
    /// `summarize approximate_count_Value = count() by Value | top N by it`. Exact here.
    pub(crate) fn bind_top_hitters(
        &mut self,
        input: Relation,
        count: &ast::Expr,
        of: &ast::Expr,
        by: Option<&ast::Expr>,
    ) -> BindResult<Relation> {
        let row = Row::of(&input);
        let name = |expr: &ast::Expr| result_name(expr, &row, CallKind::Scalar).unwrap_or_else(|| "Column1".into());
        let ident = |name: String, span: Span| ast::Ident { name, span };
        let value_name = name(of);
        let (measure, function, args) = match by {
            Some(by) => {
                (format!("approximate_sum_{}", name(by)), "sum", vec![ast::Argument { name: None, value: by.clone() }])
            }
            None => (format!("approximate_count_{value_name}"), "count", Vec::new()),
        };
        let span = of.span;
        let aggregate = ast::Assignment {
            names: vec![ident(measure.clone(), span)],
            value: ast::Expr::new(ExprKind::Call { function: ident(function.into(), span), args }, span),
            span,
        };
        let key = ast::Assignment { names: vec![ident(value_name, span)], value: of.clone(), span };
        let summarized = self.bind_summarize(input, &[aggregate], &[key])?;
        let order = ast::SortKey {
            value: ast::Expr::new(ExprKind::Name(ident(measure, span)), span),
            order: Some(SortOrder::Descending),
            nulls: None,
        };
        self.bind_top(summarized, count, &order)
    }

    /// A non-negative constant row count (`take`, `top`, `sample`).
    pub(crate) fn bind_count_argument(&mut self, expr: &ast::Expr) -> BindResult<usize> {
        let bound = self.bind_expr(expr, &Row::default())?;
        let bound = self.fold_constant(bound);
        match bound.constant.as_ref().and_then(Value::as_i64) {
            Some(n) if n >= 0 => Ok(n as usize),
            _ => Err(BindError::new(Code::BadArguments, expr.span, "expected a constant, non-negative number of rows")),
        }
    }

    pub(crate) fn bind_take(&mut self, input: Relation, count: &ast::Expr) -> BindResult<Relation> {
        let n = self.bind_count_argument(count)?;
        self.limit_rows(input, vec![], n)
    }

    pub(crate) fn sort_exprs(&mut self, input: &Relation, keys: &[SortKey]) -> BindResult<Vec<SortExpr>> {
        let row = Row::of(input);
        keys.iter()
            .map(|key| {
                let bound = self.bind_expr(&key.value, &row)?;
                let ascending = key.order == Some(SortOrder::Ascending);
                let nulls_first = match key.nulls {
                    Some(NullsOrder::First) => true,
                    Some(NullsOrder::Last) => false,
                    None => ascending,
                };
                let expr = if bound.ty == KqlType::Dynamic {
                    vigil_kql_functions::conversion::convert(bound.typed(), KqlType::String)
                } else {
                    bound.expr
                };
                Ok(expr.sort(ascending, nulls_first))
            })
            .collect()
    }

    pub(crate) fn bind_sort(&mut self, input: Relation, keys: &[SortKey]) -> BindResult<Relation> {
        let mut sorts: Vec<SortExpr> =
            self.partition_keys_of(&input).iter().map(|k| column_expr(&k.name).sort(true, true)).collect();
        sorts.extend(self.sort_exprs(&input, keys)?);
        let plan = LogicalPlanBuilder::from(input.plan.clone())
            .sort(sorts)
            .and_then(|b| b.build())
            .map_err(BindError::plan)?;
        let mut relation = input.with(plan, input.columns.clone());
        relation.ordered = true;
        Ok(relation)
    }

    pub(crate) fn bind_top(&mut self, input: Relation, count: &ast::Expr, key: &SortKey) -> BindResult<Relation> {
        let n = self.bind_count_argument(count)?;
        let sorts = self.sort_exprs(&input, std::slice::from_ref(key))?;
        self.limit_rows(input, sorts, n)
    }

    pub(crate) fn bind_distinct(&mut self, input: Relation, items: &[ast::Assignment]) -> BindResult<Relation> {
        if matches!(items, [item] if item.names.is_empty() && matches!(&item.value.kind, ExprKind::Wildcard(w) if w == "*"))
        {
            let plan = LogicalPlanBuilder::from(input.plan.clone())
                .distinct()
                .and_then(|b| b.build())
                .map_err(BindError::plan)?;
            return Ok(Relation::new(plan, input.columns));
        }
        let row = Row::of(&input);
        let mut columns = self.partition_keys_of(&input);
        let mut groups: Vec<Expr> = columns.iter().map(|k| column_expr(&k.name)).collect();
        let mut names = DefaultNames::default();
        for item in items {
            let bound = self.bind_expr(&item.value, &row)?;
            let name = match item.names.as_slice() {
                [name] => name.name.clone(),
                _ => result_name(&item.value, &row, CallKind::Scalar)
                    .unwrap_or_else(|| names.next(|n| row.get(n).is_some())),
            };
            let name = unique_name(&name, |n| columns.iter().any(|c: &KqlColumn| c.name == n));
            groups.push(bound.expr.alias(&name));
            columns.push(KqlColumn::new(name, bound.ty));
        }
        let plan = LogicalPlanBuilder::from(input.plan.clone())
            .aggregate(groups, Vec::<Expr>::new())
            .and_then(|b| b.build())
            .map_err(BindError::plan)?;
        Ok(Relation::new(plan, columns))
    }

    pub(crate) fn bind_getschema(&mut self, input: Relation) -> BindResult<Relation> {
        let names: Vec<&str> = input.columns.iter().map(|c| c.name.as_str()).collect();
        let ordinals: Vec<i32> = (0..input.columns.len() as i32).collect();
        let data_types: Vec<&str> = input.columns.iter().map(|c| c.ty.dotnet_name()).collect();
        let column_types: Vec<&str> = input.columns.iter().map(|c| c.ty.name()).collect();
        let columns = vec![
            KqlColumn::new("ColumnName", KqlType::String),
            KqlColumn::new("ColumnOrdinal", KqlType::Int),
            KqlColumn::new("DataType", KqlType::String),
            KqlColumn::new("ColumnType", KqlType::String),
        ];
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(names)),
            Arc::new(Int32Array::from(ordinals)),
            Arc::new(StringArray::from(data_types)),
            Arc::new(StringArray::from(column_types)),
        ];
        let batch = RecordBatch::try_new(vigil_kql_functions::types::arrow_schema(&columns), arrays)
            .map_err(|e| BindError::plan(e.into()))?;
        self.relation_of_batches(columns, vec![batch])
    }

    /// A relation over rows computed while binding.
    pub(crate) fn relation_of_batches(
        &mut self,
        columns: Vec<KqlColumn>,
        batches: Vec<RecordBatch>,
    ) -> BindResult<Relation> {
        let schema = vigil_kql_functions::types::arrow_schema(&columns);
        let table = datafusion::datasource::MemTable::try_new(schema, vec![batches]).map_err(BindError::plan)?;
        let source = datafusion::datasource::provider_as_source(Arc::new(table));
        let plan = LogicalPlanBuilder::scan("values", source, None).and_then(|b| b.build()).map_err(BindError::plan)?;
        let exprs: Vec<Expr> = columns.iter().map(|c| column_expr(&c.name)).collect();
        let plan = LogicalPlanBuilder::from(plan).project(exprs).and_then(|b| b.build()).map_err(BindError::plan)?;
        Ok(Relation::new(plan, columns))
    }

    pub(crate) fn bind_sample(&mut self, input: Relation, count: &ast::Expr) -> BindResult<Relation> {
        let n = self.bind_count_argument(count)?;
        let random = vigil_kql_functions::Registry::global().scalar_function("rand").expect("rand is registered");
        let key = (random.bind)(&self.context, vec![]).map_err(|m| BindError::new(Code::Unsupported, count.span, m))?;
        let plan = LogicalPlanBuilder::from(input.plan.clone())
            .sort_with_limit(vec![key.expr.sort(true, true)], Some(n))
            .and_then(|b| b.build())
            .map_err(BindError::plan)?;
        Ok(input.with(plan, input.columns.clone()))
    }

    pub(crate) fn bind_sample_distinct(
        &mut self,
        input: Relation,
        count: &ast::Expr,
        column: &ast::Expr,
    ) -> BindResult<Relation> {
        let item = ast::Assignment { names: Vec::new(), value: column.clone(), span: column.span };
        let distinct = self.bind_distinct(input, std::slice::from_ref(&item))?;
        self.bind_take(distinct, count)
    }

    pub(crate) fn bind_render(
        &mut self,
        mut input: Relation,
        chart: &ast::Ident,
        properties: &[ast::OperatorOption],
    ) -> BindResult<Relation> {
        let mut rendered = Vec::new();
        for property in properties {
            let value = match &property.value.kind {
                ExprKind::Name(ident) => Json::String(ident.name.clone()),
                _ => {
                    let bound = self.bind_expr(&property.value, &Row::default())?;
                    let bound = self.fold_constant(bound);
                    bound.constant.map(|v| v.to_json()).unwrap_or(Json::Null)
                }
            };
            rendered.push((property.name.name.clone(), value));
        }
        input.render = Some(Render { visualization: chart.name.clone(), properties: rendered });
        Ok(input)
    }

    pub(crate) fn bind_invoke(&mut self, input: Relation, call: &ast::Expr) -> BindResult<Relation> {
        let ExprKind::Call { function, args } = &call.kind else {
            return Err(BindError::new(Code::UnexpectedToken, call.span, "invoke takes a function call"));
        };
        let Some(Binding::Function(_)) = self.lookup(&function.name) else {
            return Err(BindError::new(
                Code::UnknownName,
                function.span,
                format!("unknown function '{}'", function.name),
            ));
        };
        let input_name = "$invoke_input";
        let saved = self.scope.clone();
        self.scope = self.scope.with(input_name, Binding::Tabular(input));
        let mut all_args = vec![ast::Argument {
            name: None,
            value: ast::Expr::new(ExprKind::Name(ast::Ident { name: input_name.into(), span: call.span }), call.span),
        }];
        all_args.extend(args.iter().cloned());
        let result = self.bind_tabular_call(function, &all_args, call.span);
        self.scope = saved;
        result
    }
}

pub(crate) fn unknown_column(name: &str, span: Span, input: &Relation) -> BindError {
    let mut error = BindError::new(Code::UnknownName, span, format!("unknown column '{name}'"));
    if let Some(candidate) = vigil_kql_syntax::suggest(name, input.columns.iter().map(|c| c.name.as_str())) {
        error = error.with_help(format!("did you mean '{candidate}'?"));
    }
    error
}

/// `*` matches any run of characters; matching is case-sensitive, as column names are.
pub(crate) fn wildcard_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let mut rest = name;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(stripped) = rest.strip_prefix(part) else { return false };
            rest = stripped;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}
