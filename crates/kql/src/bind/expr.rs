//! Scalar expressions: names, literals, operators with KQL's typing rules, dynamic property
//! paths, and calls.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::functions::core::expr_fn::nullif;
use datafusion::logical_expr::expr::InSubquery;
use datafusion::logical_expr::{BinaryExpr, Cast, Expr, Operator, Subquery, lit};
use serde_json::Value as Json;
use vigil_kql_functions::conversion::convert;
use vigil_kql_functions::dynamic::PathStep;
use vigil_kql_functions::scalar::{dynamic as dynamic_fns, operators as string_ops};
use vigil_kql_functions::{Arg, KqlType, Registry, Value};
use vigil_kql_syntax::ast::{self, BinaryOp, ExprKind, ListOp, Literal, UnaryOp};
use vigil_kql_syntax::{Code, Span, suggest};

use super::scope::{Binding, Bound, Row};
use super::{Binder, FunctionResult};
use crate::error::{BindError, BindResult};

impl Binder<'_> {
    pub fn bind_expr(&mut self, expr: &ast::Expr, row: &Row) -> BindResult<Bound> {
        let bound = self.bind_expr_inner(expr, row).map_err(|e| e.at(expr.span))?;
        Ok(bound)
    }

    /// A boolean expression (dynamic values convert).
    pub(crate) fn bind_predicate(&mut self, expr: &ast::Expr, row: &Row) -> BindResult<Expr> {
        let bound = self.bind_expr(expr, row)?;
        match bound.ty {
            KqlType::Bool => Ok(bound.expr),
            KqlType::Dynamic => Ok(convert(bound.typed(), KqlType::Bool)),
            other => Err(BindError::new(
                Code::TypeMismatch,
                expr.span,
                format!("expected a boolean predicate, found a {other} expression"),
            )),
        }
    }

    fn bind_expr_inner(&mut self, expr: &ast::Expr, row: &Row) -> BindResult<Bound> {
        match &expr.kind {
            ExprKind::Literal(literal) => Ok(bind_literal(literal)),
            ExprKind::Name(ident) => self.bind_name(&ident.name, ident.span, row),
            ExprKind::Parenthesized(inner) => {
                if self.is_tabular(inner) {
                    return Err(BindError::new(
                        Code::TypeMismatch,
                        expr.span,
                        "a tabular expression cannot be used as a scalar; wrap it in toscalar()",
                    ));
                }
                self.bind_expr(inner, row)
            }
            ExprKind::Unary { op, operand } => {
                let bound = self.bind_expr(operand, row)?;
                match op {
                    UnaryOp::Plus => Ok(bound),
                    UnaryOp::Negate if bound.ty.is_numeric() || bound.ty == KqlType::Timespan => {
                        Ok(Bound::new(Expr::Negative(Box::new(bound.expr)), bound.ty))
                    }
                    UnaryOp::Negate if bound.ty == KqlType::Dynamic => {
                        Ok(Bound::new(Expr::Negative(Box::new(convert(bound.typed(), KqlType::Real))), KqlType::Real))
                    }
                    UnaryOp::Negate => Err(BindError::new(
                        Code::TypeMismatch,
                        expr.span,
                        format!("cannot negate a {} value", bound.ty),
                    )),
                }
            }
            ExprKind::Binary { op, left, right } => self.bind_binary(*op, left, right, row, expr.span),
            ExprKind::List { op, value, items } => self.bind_list(*op, value, items, row, expr.span),
            ExprKind::Between { negated, value, low, high } => {
                let value = self.bind_expr(value, row)?;
                let low = self.bind_expr(low, row)?;
                let mut high = self.bind_expr(high, row)?;
                if value.ty == KqlType::DateTime && high.ty == KqlType::Timespan {
                    high = arithmetic(BinaryOp::Add, &low, &high, expr.span)?;
                }
                let lower = compare(BinaryOp::GreaterOrEqual, &value, &low, expr.span)?;
                let upper = compare(BinaryOp::LessOrEqual, &value, &high, expr.span)?;
                let both = lower.and(upper);
                Ok(Bound::new(if *negated { Expr::Not(Box::new(both)) } else { both }, KqlType::Bool))
            }
            ExprKind::Member { target, name } if matches!(&target.kind, ExprKind::Name(t) if row.get(&format!("{}.{}", t.name, name.name)).is_some()) =>
            {
                // `step.column` inside scan: a state column, not a property path.
                let ExprKind::Name(target_name) = &target.kind else { unreachable!("matched above") };
                let column = row.get(&format!("{}.{}", target_name.name, name.name)).expect("matched above");
                Ok(Bound::new(column.expr.clone(), column.ty))
            }
            ExprKind::Member { .. } | ExprKind::Index { .. } => self.bind_path(expr, row, false),
            ExprKind::Call { function, args } => self.bind_call(function, args, row, expr.span),
            ExprKind::TypeOf(_) => {
                Err(BindError::new(Code::TypeMismatch, expr.span, "typeof() can only be a function argument"))
            }
            ExprKind::Wildcard(pattern) => {
                Err(BindError::new(Code::UnexpectedToken, expr.span, format!("'{pattern}' is not allowed here")))
            }
            ExprKind::Pipe { .. } | ExprKind::Source(_) | ExprKind::ContextInput => Err(BindError::new(
                Code::TypeMismatch,
                expr.span,
                "a tabular expression cannot be used as a scalar; wrap it in toscalar()",
            )),
            ExprKind::Error => Err(BindError::new(Code::UnexpectedToken, expr.span, "invalid expression")),
        }
    }

    fn bind_name(&mut self, name: &str, span: Span, row: &Row) -> BindResult<Bound> {
        if let Some(column) = row.get(name) {
            return Ok(Bound::new(column.expr.clone(), column.ty));
        }
        match self.lookup(name) {
            Some(Binding::Scalar(bound)) => return Ok(bound),
            Some(Binding::Tabular(_)) => {
                return Err(BindError::new(
                    Code::TypeMismatch,
                    span,
                    format!("'{name}' is a table; a scalar is expected here (use toscalar() to get one value)"),
                ));
            }
            Some(Binding::Function(function)) if function.definition.parameters.is_empty() => {
                return match self.call_user_function(&function, &[], span, row)? {
                    FunctionResult::Scalar(bound) => Ok(bound),
                    FunctionResult::Tabular(_) => {
                        Err(BindError::new(Code::TypeMismatch, span, format!("'{name}' is a table, not a scalar")))
                    }
                };
            }
            _ => {}
        }
        if let Some(column) = row.open_column(name) {
            return Ok(Bound::new(column.expr, column.ty));
        }
        let mut candidates: Vec<String> = row.names().map(str::to_string).collect();
        candidates.extend(self.scope.names());
        let kind = if row.columns.is_empty() { "name" } else { "column" };
        let mut error = BindError::new(Code::UnknownName, span, format!("unknown {kind} '{name}'"));
        if let Some(candidate) = suggest(name, candidates.iter().map(String::as_str)) {
            error = error.with_help(format!("did you mean '{candidate}'?"));
        }
        Err(error)
    }

    fn bind_binary(
        &mut self,
        op: BinaryOp,
        left: &ast::Expr,
        right: &ast::Expr,
        row: &Row,
        span: Span,
    ) -> BindResult<Bound> {
        let left = self.bind_expr(left, row)?;
        let right = self.bind_expr(right, row)?;
        match op {
            BinaryOp::Add | BinaryOp::Subtract | BinaryOp::Multiply | BinaryOp::Divide | BinaryOp::Modulo => {
                arithmetic(op, &left, &right, span)
            }
            BinaryOp::And | BinaryOp::Or => {
                let l = as_bool(&left, span)?;
                let r = as_bool(&right, span)?;
                Ok(Bound::new(if op == BinaryOp::And { l.and(r) } else { l.or(r) }, KqlType::Bool))
            }
            BinaryOp::EqualCi | BinaryOp::NotEqualCi => {
                let l = convert(left.typed(), KqlType::String);
                let r = convert(right.typed(), KqlType::String);
                Ok(Bound::new(string_ops::equals_case_insensitive(l, r, op == BinaryOp::NotEqualCi), KqlType::Bool))
            }
            BinaryOp::String(string_op) => {
                let l = convert(left.typed(), KqlType::String);
                let r = convert(right.typed(), KqlType::String);
                Ok(Bound::new(string_ops::string_predicate(string_op, l, r), KqlType::Bool))
            }
            _ => Ok(Bound::new(compare(op, &left, &right, span)?, KqlType::Bool)),
        }
    }

    fn bind_list(
        &mut self,
        op: ListOp,
        value: &ast::Expr,
        items: &[ast::Expr],
        row: &Row,
        span: Span,
    ) -> BindResult<Bound> {
        let value = self.bind_expr(value, row)?;
        let mut constants: Vec<Value> = Vec::new();
        let mut scalars: Vec<Bound> = Vec::new();
        let mut subqueries: Vec<crate::relation::Relation> = Vec::new();
        for item in items {
            if self.is_tabular(item) {
                let relation = self.bind_tabular(item)?;
                if relation.columns.is_empty() {
                    return Err(BindError::new(Code::TypeMismatch, item.span, "the subquery of 'in' has no columns"));
                }
                subqueries.push(relation);
                continue;
            }
            let bound = self.bind_expr(item, row)?;
            let bound = self.fold_constant(bound);
            match (&bound.constant, bound.ty) {
                (Some(Value::Dynamic(Json::Array(elements))), _) => {
                    constants.extend(elements.iter().map(|e| Value::Dynamic(e.clone())));
                }
                (Some(Value::Dynamic(Json::Null) | Value::Null), KqlType::Dynamic) => {}
                (Some(constant), _) => constants.push(constant.clone()),
                (None, KqlType::Dynamic) => scalars.push(bound),
                (None, _) => scalars.push(bound),
            }
        }
        // Subqueries of `has_any` and `in~` become constant lists when they can be run now.
        if !subqueries.is_empty()
            && (matches!(op, ListOp::HasAny | ListOp::HasAll)
                || matches!(op, ListOp::In { case_insensitive: true, .. }))
        {
            for relation in std::mem::take(&mut subqueries) {
                constants.extend(self.collect_first_column(&relation)?);
            }
        }
        match op {
            ListOp::HasAny | ListOp::HasAll => {
                if !scalars.is_empty() {
                    return Err(BindError::new(Code::Unsupported, span, "has_any() and has_all() need constant terms"));
                }
                let terms: Vec<String> = constants.iter().filter(|v| !v.is_null()).map(Value::to_kql_string).collect();
                let target = convert(value.typed(), KqlType::String);
                Ok(Bound::new(string_ops::has_any_terms(target, terms, op == ListOp::HasAll), KqlType::Bool))
            }
            ListOp::In { negated, case_insensitive: true } => {
                if !scalars.is_empty() {
                    return Err(BindError::new(Code::Unsupported, span, "in~ needs constant values"));
                }
                let strings: Vec<String> = constants.iter().map(Value::to_kql_string).collect();
                let target = convert(value.typed(), KqlType::String);
                Ok(Bound::new(string_ops::in_case_insensitive(target, strings, negated), KqlType::Bool))
            }
            ListOp::In { negated, case_insensitive: false } => {
                let ty = if value.ty == KqlType::Dynamic { KqlType::String } else { value.ty };
                let target = if value.ty == KqlType::Dynamic {
                    convert(value.typed(), KqlType::String)
                } else {
                    value.expr.clone()
                };
                let mut list: Vec<Expr> =
                    constants.iter().map(|c| lit(vigil_kql_functions::value::convert(c, ty).to_scalar(ty))).collect();
                for scalar in &scalars {
                    if scalar.ty == KqlType::Dynamic && ty != KqlType::Dynamic {
                        return Err(BindError::new(
                            Code::Unsupported,
                            span,
                            "'in' over a dynamic array needs the array to be a constant",
                        ));
                    }
                    list.push(convert(scalar.typed(), ty));
                }
                let mut tests: Vec<Expr> = Vec::new();
                if !list.is_empty() {
                    tests.push(target.clone().in_list(list, false));
                }
                for relation in subqueries {
                    let first = &relation.columns[0];
                    let column =
                        convert(vigil_kql_functions::TypedExpr::new(relation.column_expr(&first.name), first.ty), ty);
                    let plan = datafusion::logical_expr::LogicalPlanBuilder::from(relation.plan.clone())
                        .project(vec![column.alias("value")])
                        .and_then(|b| b.build())
                        .map_err(BindError::plan)?;
                    let subquery =
                        Subquery { subquery: Arc::new(plan), outer_ref_columns: vec![], spans: Default::default() };
                    tests.push(Expr::InSubquery(InSubquery::new(Box::new(target.clone()), subquery, false)));
                }
                let any = tests.into_iter().reduce(Expr::or).unwrap_or(lit(false));
                Ok(Bound::new(if negated { Expr::Not(Box::new(any)) } else { any }, KqlType::Bool))
            }
        }
    }

    /// The first column of a relation's rows, run now (empty when nothing can be run).
    pub(crate) fn collect_first_column(&mut self, relation: &crate::relation::Relation) -> BindResult<Vec<Value>> {
        let Some(executor) = self.executor else {
            return Ok(Vec::new());
        };
        let batches = executor.collect(relation.plan.clone()).map_err(BindError::plan)?;
        let ty = relation.columns[0].ty;
        let mut values = Vec::new();
        for batch in &batches {
            let reader = vigil_kql_functions::value::ColumnReader::new(batch.column(0), ty).map_err(BindError::plan)?;
            values.extend((0..batch.num_rows()).map(|row| reader.value(row)));
        }
        Ok(values)
    }

    /// `d.a.b[0]`: a dynamic property path. With `as_string`, the text at the path.
    fn bind_path(&mut self, expr: &ast::Expr, row: &Row, as_string: bool) -> BindResult<Bound> {
        let mut steps = Vec::new();
        let mut current = expr;
        loop {
            match &current.kind {
                ExprKind::Member { target, name } => {
                    steps.push(PathStep::Key(name.name.clone()));
                    current = target;
                }
                ExprKind::Index { target, index } => {
                    let bound_index = self.bind_expr(index, row)?;
                    let bound_index = self.fold_constant(bound_index);
                    match &bound_index.constant {
                        Some(Value::String(key)) => steps.push(PathStep::Key(key.clone())),
                        Some(value) if value.as_i64().is_some() && bound_index.ty.is_integer() => {
                            steps.push(PathStep::Index(value.as_i64().expect("checked")))
                        }
                        _ => {
                            // A computed index: resolve the path up to here, then index per row.
                            let base = self.bind_path_base(target, row)?;
                            let indexed = dynamic_fns::index_get(base.expr, bound_index.expr, bound_index.ty);
                            let mut rest = std::mem::take(&mut steps);
                            rest.reverse();
                            let result = if rest.is_empty() { indexed } else { dynamic_fns::path_get(indexed, rest) };
                            return Ok(if as_string {
                                Bound::new(
                                    convert(
                                        vigil_kql_functions::TypedExpr::new(result, KqlType::Dynamic),
                                        KqlType::String,
                                    ),
                                    KqlType::String,
                                )
                            } else {
                                Bound::new(result, KqlType::Dynamic)
                            });
                        }
                    }
                    current = target;
                }
                _ => break,
            }
        }
        steps.reverse();
        let base = self.bind_path_base(current, row)?;
        let expr = if as_string {
            dynamic_fns::path_get_string(base.expr, steps)
        } else {
            dynamic_fns::path_get(base.expr, steps)
        };
        Ok(Bound::new(expr, if as_string { KqlType::String } else { KqlType::Dynamic }))
    }

    /// The value a property path starts from, as JSON text. `parse_json(s)` needs no
    /// validation here: text that is not JSON has no properties either way.
    fn bind_path_base(&mut self, expr: &ast::Expr, row: &Row) -> BindResult<Bound> {
        if let ExprKind::Call { function, args } = &expr.kind
            && matches!(function.name.as_str(), "parse_json" | "todynamic" | "toobject" | "parsejson")
            && args.len() == 1
        {
            let inner = self.bind_expr(&args[0].value, row)?;
            if inner.ty == KqlType::String || inner.ty == KqlType::Dynamic {
                return Ok(Bound::new(inner.expr, KqlType::Dynamic));
            }
        }
        let base = self.bind_expr(expr, row)?;
        match base.ty {
            KqlType::Dynamic => Ok(base),
            // Sentinel tables hold JSON in string columns; treat them as the JSON they contain.
            KqlType::String => Ok(Bound::new(base.expr, KqlType::Dynamic)),
            other => Err(BindError::new(
                Code::TypeMismatch,
                expr.span,
                format!("property access needs a dynamic value, but this is a {other}"),
            )),
        }
    }

    pub(crate) fn bind_args(&mut self, args: &[ast::Argument], row: &Row) -> BindResult<Vec<Arg>> {
        let mut bound = Vec::with_capacity(args.len());
        for arg in args {
            if let ExprKind::TypeOf(type_name) = &arg.value.kind {
                let ty = KqlType::from_name(&type_name.name).expect("the parser accepts only known types");
                bound.push(Arg {
                    expr: lit(datafusion::common::ScalarValue::Null),
                    ty: KqlType::Dynamic,
                    constant: None,
                    type_literal: Some(ty),
                });
                continue;
            }
            let value = self.bind_expr(&arg.value, row)?;
            let value = self.fold_constant(value);
            bound.push(Arg { expr: value.expr, ty: value.ty, constant: value.constant, type_literal: None });
        }
        Ok(bound)
    }

    fn bind_call(&mut self, function: &ast::Ident, args: &[ast::Argument], row: &Row, span: Span) -> BindResult<Bound> {
        let name = function.name.as_str();
        if let Some(Binding::Function(user)) = self.lookup(name) {
            return match self.call_user_function(&user, args, span, row)? {
                FunctionResult::Scalar(bound) => Ok(bound),
                FunctionResult::Tabular(_) => Err(BindError::new(
                    Code::TypeMismatch,
                    span,
                    format!("'{name}' returns a table; a scalar is expected here"),
                )),
            };
        }
        if let Some(bound) = self.bind_special_call(name, args, row, span)? {
            return Ok(bound);
        }
        let registry = Registry::global();
        if registry.aggregate_function(name).is_some() && registry.scalar_function(name).is_none()
            || self.aggregates.is_some() && registry.aggregate_function(name).is_some()
        {
            if self.aggregates.is_some() {
                return self.collect_aggregate(name, args, row, span);
            }
            return Err(BindError::new(
                Code::TypeMismatch,
                function.span,
                format!("'{name}' is an aggregate function; it can only be used in summarize (or make-series)"),
            ));
        }
        if window_function(name) {
            return self.collect_window(name, args, row, span);
        }
        let Some(definition) = registry.scalar_function(name) else {
            // Inside summarize, a misspelled aggregate is the likelier mistake.
            let aggregates: Vec<&str> = registry.aggregate_functions().map(|f| f.name).collect();
            if self.aggregates.is_some()
                && let Some(candidate) = suggest(name, aggregates)
            {
                return Err(BindError::new(Code::UnknownName, function.span, format!("unknown function '{name}'"))
                    .with_help(format!("did you mean '{candidate}'?")));
            }
            let mut candidates: Vec<&str> = registry.names().collect();
            let scope_names = self.scope.names();
            candidates.extend(scope_names.iter().map(String::as_str));
            let mut error = BindError::new(Code::UnknownName, function.span, format!("unknown function '{name}'"));
            if let Some(candidate) = suggest(name, candidates) {
                error = error.with_help(format!("did you mean '{candidate}'?"));
            }
            return Err(error);
        };
        if args.len() < definition.min_args || args.len() > definition.max_args {
            return Err(BindError::new(
                Code::BadArguments,
                span,
                format!(
                    "function '{name}' expects {}, got {}",
                    vigil_kql_functions::registry::describe_arity(definition.min_args, definition.max_args),
                    args.len()
                ),
            ));
        }
        // `tostring(d.a.b)` reads the text at the path directly.
        if name == "tostring" && matches!(args[0].value.kind, ExprKind::Member { .. } | ExprKind::Index { .. }) {
            return self.bind_path(&args[0].value, row, true);
        }
        let bound_args = self.bind_args(args, row)?;
        let typed = (definition.bind)(&self.context, bound_args)
            .map_err(|message| BindError::new(Code::BadArguments, span, message))?;
        Ok(Bound::new(typed.expr, typed.ty))
    }

    /// Calls that need more than their arguments: a table, the row, or running a subquery.
    fn bind_special_call(
        &mut self,
        name: &str,
        args: &[ast::Argument],
        row: &Row,
        span: Span,
    ) -> BindResult<Option<Bound>> {
        Ok(Some(match name {
            "toscalar" => {
                let [arg] = args else {
                    return Err(BindError::new(Code::BadArguments, span, "toscalar() takes one tabular argument"));
                };
                // Kusto takes a scalar too, and returns it (ASIM parsers write `toscalar(x in (T))`).
                if !self.is_tabular(&arg.value) {
                    let bound = self.bind_expr(&arg.value, row)?;
                    return Ok(Some(self.fold_constant(bound)));
                }
                let relation = self.bind_tabular(&arg.value)?;
                let Some(first) = relation.columns.first() else {
                    return Err(BindError::new(Code::TypeMismatch, span, "the argument of toscalar() has no columns"));
                };
                let ty = first.ty;
                let value = if self.executor.is_some() {
                    self.collect_first_column(&relation)?.into_iter().next().unwrap_or(Value::Null)
                } else {
                    Value::Null
                };
                Bound::constant(value, ty)
            }
            // Evaluated while the query is analysed, over constants only, as Kusto does.
            "assert" => {
                let [condition, message] = args else {
                    return Err(BindError::new(Code::BadArguments, span, "assert() takes a condition and a message"));
                };
                let condition = self.bind_expr(&condition.value, row)?;
                let message = self.bind_expr(&message.value, row)?;
                let (condition, message) = (self.fold_constant(condition), self.fold_constant(message));
                match (condition.constant, message.constant) {
                    (Some(Value::Bool(true)), Some(_)) => Bound::constant(Value::Bool(true), KqlType::Bool),
                    (Some(Value::Bool(false)), Some(message)) => {
                        return Err(BindError::new(
                            Code::BadArguments,
                            span,
                            format!("assertion failed: {}", message.to_kql_string()),
                        ));
                    }
                    _ => {
                        return Err(BindError::new(
                            Code::BadArguments,
                            span,
                            "assert() needs a constant bool condition and a constant message",
                        ));
                    }
                }
            }
            "bin_auto" => {
                let [value] = args else {
                    return Err(BindError::new(Code::BadArguments, span, "bin_auto() takes one value"));
                };
                let Some(size) = self.request_properties.get("query_bin_auto_size").cloned() else {
                    return Err(BindError::new(
                        Code::BadArguments,
                        span,
                        "bin_auto() needs `set query_bin_auto_size = <size>;` before the query",
                    ));
                };
                let at = self.request_properties.get("query_bin_auto_at").cloned().unwrap_or(Value::Long(0));
                let value = self.bind_expr(&value.value, row)?;
                let constant = |v: Value| {
                    let ty = v.kql_type();
                    Arg { expr: lit(v.to_scalar(ty)), ty, constant: Some(v), type_literal: None }
                };
                let arguments = vec![
                    Arg { expr: value.expr, ty: value.ty, constant: value.constant, type_literal: None },
                    constant(size),
                    constant(at),
                ];
                let bin_at = Registry::global().scalar_function("bin_at").expect("bin_at is registered");
                let typed = (bin_at.bind)(&self.context, arguments)
                    .map_err(|message| BindError::new(Code::BadArguments, span, message))?;
                Bound::new(typed.expr, typed.ty)
            }
            "estimate_data_size" => {
                if args.is_empty() {
                    return Err(BindError::new(Code::BadArguments, span, "estimate_data_size() takes columns or *"));
                }
                let mut columns: Vec<Bound> = Vec::new();
                for arg in args {
                    match &arg.value.kind {
                        ExprKind::Wildcard(pattern) if pattern == "*" => {
                            columns.extend(row.columns.iter().map(|c| Bound::new(c.expr.clone(), c.ty)));
                        }
                        _ => columns.push(self.bind_expr(&arg.value, row)?),
                    }
                }
                let total =
                    columns.iter().map(estimated_size).reduce(|total, size| total + size).unwrap_or_else(|| lit(0i64));
                Bound::new(total, KqlType::Long)
            }
            "column_ifexists" | "columnifexists" => {
                let [name_arg, default] = args else {
                    return Err(BindError::new(
                        Code::BadArguments,
                        span,
                        "column_ifexists() takes a column name and a default value",
                    ));
                };
                // The name is any constant string: a literal, or a function's parameter.
                let column = match &name_arg.value.kind {
                    ExprKind::Literal(Literal::String(column)) => column.clone(),
                    _ => {
                        let bound = self.bind_expr(&name_arg.value, &Row::default())?;
                        match self.fold_constant(bound).constant {
                            Some(Value::String(column)) => column,
                            _ => {
                                return Err(BindError::new(
                                    Code::BadArguments,
                                    span,
                                    "the first argument of column_ifexists() must be a constant string",
                                ));
                            }
                        }
                    }
                };
                match row.get(&column) {
                    Some(found) => Bound::new(found.expr.clone(), found.ty),
                    None => self.bind_expr(&default.value, row)?,
                }
            }
            "pack_all" => {
                let skip_empty = match args.first().map(|a| &a.value.kind) {
                    Some(ExprKind::Literal(Literal::Bool(Some(flag)))) => *flag,
                    _ => false,
                };
                let mut exprs = Vec::new();
                let mut types = Vec::new();
                let mut names = Vec::new();
                for column in row.input_columns() {
                    exprs.push(column.expr.clone());
                    types.push(column.ty);
                    names.push(column.name.clone());
                }
                // The two variants must not look like one call to the optimizer.
                let udf_name = if skip_empty { "pack_all_skipping_empty" } else { "pack_all" };
                let expr =
                    vigil_kql_functions::udf::row_call(udf_name, exprs, types, KqlType::Dynamic, move |values| {
                        let mut bag = serde_json::Map::new();
                        for (name, value) in names.iter().zip(values) {
                            let json = value.to_json();
                            if skip_empty && (json.is_null() || json == Json::String(String::new())) {
                                continue;
                            }
                            bag.insert(name.clone(), json);
                        }
                        Value::Dynamic(Json::Object(bag))
                    });
                Bound::new(expr, KqlType::Dynamic)
            }
            "bag_pack_columns" => {
                let mut exprs = Vec::new();
                let mut types = Vec::new();
                let mut names = Vec::new();
                for arg in args {
                    let ExprKind::Name(ident) = &arg.value.kind else {
                        return Err(BindError::new(
                            Code::BadArguments,
                            arg.value.span,
                            "bag_pack_columns() takes column names",
                        ));
                    };
                    let bound = self.bind_name(&ident.name, ident.span, row)?;
                    exprs.push(bound.expr);
                    types.push(bound.ty);
                    names.push(ident.name.clone());
                }
                let expr = vigil_kql_functions::udf::row_call(
                    "bag_pack_columns",
                    exprs,
                    types,
                    KqlType::Dynamic,
                    move |values| {
                        Value::Dynamic(Json::Object(
                            names.iter().cloned().zip(values.iter().map(Value::to_json)).collect(),
                        ))
                    },
                );
                Bound::new(expr, KqlType::Dynamic)
            }
            "ingestion_time" => Bound::constant(Value::Null, KqlType::DateTime),
            "column_names_of" => {
                let [arg] = args else {
                    return Err(BindError::new(Code::BadArguments, span, "column_names_of() takes one table"));
                };
                let relation = self.bind_tabular(&arg.value)?;
                let names = relation.columns.iter().map(|c| Json::String(c.name.clone())).collect();
                Bound::constant(Value::Dynamic(Json::Array(names)), KqlType::Dynamic)
            }
            _ => return Ok(None),
        }))
    }
}

pub(crate) fn window_function(name: &str) -> bool {
    matches!(
        name,
        "prev" | "next" | "row_number" | "row_cumsum" | "row_rank_dense" | "row_rank_min" | "row_window_session"
    )
}

pub(crate) fn bind_literal(literal: &Literal) -> Bound {
    let (value, ty) = match literal {
        Literal::Null => (Value::Null, KqlType::Dynamic),
        Literal::Bool(v) => (v.map(Value::Bool).unwrap_or(Value::Null), KqlType::Bool),
        Literal::Int(v) => (v.map(Value::Int).unwrap_or(Value::Null), KqlType::Int),
        Literal::Long(v) => (v.map(Value::Long).unwrap_or(Value::Null), KqlType::Long),
        Literal::Real(v) => (v.map(Value::Real).unwrap_or(Value::Null), KqlType::Real),
        Literal::Decimal(v) => (
            v.as_deref().and_then(vigil_kql_functions::value::parse_decimal).map(Value::Decimal).unwrap_or(Value::Null),
            KqlType::Decimal,
        ),
        Literal::String(s) => (Value::String(s.clone()), KqlType::String),
        Literal::DateTime(v) => (v.map(Value::DateTime).unwrap_or(Value::Null), KqlType::DateTime),
        Literal::Timespan(v) => (v.map(Value::Timespan).unwrap_or(Value::Null), KqlType::Timespan),
        Literal::Guid(v) => (v.clone().map(Value::Guid).unwrap_or(Value::Null), KqlType::Guid),
        Literal::Dynamic(json) => (
            match serde_json::from_str::<Json>(json) {
                Ok(Json::Null) | Err(_) => Value::Null,
                Ok(value) => Value::Dynamic(value),
            },
            KqlType::Dynamic,
        ),
    };
    Bound::constant(value, ty)
}

/// The bytes a value takes, as `estimate_data_size()` counts them: its fixed width, or its
/// text's length for strings and dynamic values; nothing for a null.
fn estimated_size(column: &Bound) -> Expr {
    let size = match column.ty {
        KqlType::Bool => lit(1i64),
        KqlType::Int => lit(4i64),
        KqlType::Long | KqlType::Real | KqlType::DateTime | KqlType::Timespan => lit(8i64),
        KqlType::Guid | KqlType::Decimal => lit(16i64),
        KqlType::String | KqlType::Dynamic => {
            let text = convert(column.typed(), KqlType::String);
            Expr::Cast(Cast::new(Box::new(datafusion::functions::expr_fn::octet_length(text)), DataType::Int64))
        }
    };
    datafusion::logical_expr::when(column.expr.clone().is_null(), lit(0i64))
        .otherwise(size)
        .unwrap_or_else(|_| lit(0i64))
}

fn as_bool(bound: &Bound, span: Span) -> BindResult<Expr> {
    match bound.ty {
        KqlType::Bool => Ok(bound.expr.clone()),
        KqlType::Dynamic => Ok(convert(bound.typed(), KqlType::Bool)),
        other => {
            Err(BindError::new(Code::TypeMismatch, span, format!("'and'/'or' need boolean operands, found {other}")))
        }
    }
}

fn is_null_literal(bound: &Bound) -> bool {
    bound.ty == KqlType::Dynamic && matches!(bound.constant, Some(Value::Null))
}

fn cast(expr: Expr, to: DataType) -> Expr {
    Expr::Cast(Cast::new(Box::new(expr), to))
}

fn nanos(bound: &Bound) -> Expr {
    cast(bound.expr.clone(), DataType::Int64)
}

fn binary(left: Expr, op: Operator, right: Expr) -> Expr {
    Expr::BinaryExpr(BinaryExpr::new(Box::new(left), op, Box::new(right)))
}

/// Arithmetic with KQL's typing rules for numbers, datetimes and timespans.
pub(crate) fn arithmetic(op: BinaryOp, left: &Bound, right: &Bound, span: Span) -> BindResult<Bound> {
    use KqlType::*;
    let df_op = match op {
        BinaryOp::Add => Operator::Plus,
        BinaryOp::Subtract => Operator::Minus,
        BinaryOp::Multiply => Operator::Multiply,
        BinaryOp::Divide => Operator::Divide,
        _ => Operator::Modulo,
    };
    let (lt, rt) = (left.ty, right.ty);
    let (left, right) = match (lt, rt) {
        (Dynamic, other) if other.is_numeric() => (&Bound::new(convert(left.typed(), Real), Real), right),
        (other, Dynamic) if other.is_numeric() => (left, &Bound::new(convert(right.typed(), Real), Real)),
        (Dynamic, Dynamic) => {
            (&Bound::new(convert(left.typed(), Real), Real), &Bound::new(convert(right.typed(), Real), Real))
        }
        _ => (left, right),
    };
    let (lt, rt) = (left.ty, right.ty);
    let mismatch =
        || BindError::new(Code::TypeMismatch, span, format!("cannot apply '{}' to {lt} and {rt}", symbol(op)));
    if let Some(ty) = KqlType::numeric_promotion(lt, rt) {
        let l = convert(left.typed(), ty);
        let r = convert(right.typed(), ty);
        // Integer division or modulo by zero gives null rather than failing the query.
        let r = if ty.is_integer() && matches!(op, BinaryOp::Divide | BinaryOp::Modulo) {
            nullif(r, lit(Value::Long(0).to_scalar(ty)))
        } else {
            r
        };
        return Ok(Bound::new(binary(l, df_op, r), ty));
    }
    if is_null_literal(left) || is_null_literal(right) {
        let ty = if is_null_literal(left) { rt } else { lt };
        return Ok(Bound::constant(Value::Null, if ty == Dynamic { Real } else { ty }));
    }
    let result = match (op, lt, rt) {
        (BinaryOp::Subtract, DateTime, DateTime) => (binary(nanos(left), Operator::Minus, nanos(right)), Timespan),
        (BinaryOp::Add | BinaryOp::Subtract, DateTime, Timespan) => {
            (binary(nanos(left), df_op, nanos(right)), DateTime)
        }
        (BinaryOp::Add, Timespan, DateTime) => (binary(nanos(left), Operator::Plus, nanos(right)), DateTime),
        (BinaryOp::Add | BinaryOp::Subtract | BinaryOp::Modulo, Timespan, Timespan) => {
            (binary(nanos(left), df_op, nanos(right)), Timespan)
        }
        (BinaryOp::Divide, Timespan, Timespan) => {
            let l = cast(nanos(left), DataType::Float64);
            let r = cast(nanos(right), DataType::Float64);
            return Ok(Bound::new(binary(l, Operator::Divide, r), Real));
        }
        (BinaryOp::Multiply | BinaryOp::Divide, Timespan, n) if n.is_numeric() => {
            scaled_timespan(nanos(left), df_op, right)
        }
        (BinaryOp::Multiply, n, Timespan) if n.is_numeric() => scaled_timespan(nanos(right), Operator::Multiply, left),
        _ => return Err(mismatch()),
    };
    let (expr, ty) = result;
    Ok(Bound::new(cast(expr, ty.arrow()), ty))
}

/// A timespan (as nanoseconds) multiplied or divided by a number.
fn scaled_timespan(timespan: Expr, op: Operator, number: &Bound) -> (Expr, KqlType) {
    if number.ty.is_integer() {
        (binary(timespan, op, convert(number.typed(), KqlType::Long)), KqlType::Timespan)
    } else {
        let scaled = binary(cast(timespan, DataType::Float64), op, convert(number.typed(), KqlType::Real));
        (cast(scaled, DataType::Int64), KqlType::Timespan)
    }
}

fn symbol(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Add => "+",
        BinaryOp::Subtract => "-",
        BinaryOp::Multiply => "*",
        BinaryOp::Divide => "/",
        BinaryOp::Modulo => "%",
        BinaryOp::Equal => "==",
        BinaryOp::NotEqual => "!=",
        BinaryOp::Less => "<",
        BinaryOp::LessOrEqual => "<=",
        BinaryOp::Greater => ">",
        BinaryOp::GreaterOrEqual => ">=",
        _ => "operator",
    }
}

/// A comparison after bringing both sides to a common type.
pub(crate) fn compare(op: BinaryOp, left: &Bound, right: &Bound, span: Span) -> BindResult<Expr> {
    use KqlType::*;
    let df_op = match op {
        BinaryOp::Equal => Operator::Eq,
        BinaryOp::NotEqual => Operator::NotEq,
        BinaryOp::Less => Operator::Lt,
        BinaryOp::LessOrEqual => Operator::LtEq,
        BinaryOp::Greater => Operator::Gt,
        _ => Operator::GtEq,
    };
    let (lt, rt) = (left.ty, right.ty);
    let ty = if is_null_literal(left) {
        rt
    } else if is_null_literal(right) || lt == rt {
        lt
    } else if let Some(promoted) = KqlType::numeric_promotion(lt, rt) {
        promoted
    } else {
        match (lt, rt) {
            (Dynamic, other) | (other, Dynamic) => other,
            (String | Guid, String | Guid) => String,
            (DateTime, String) | (String, DateTime) => DateTime,
            (Timespan, String) | (String, Timespan) => Timespan,
            (Bool, other) | (other, Bool) if other.is_numeric() => Long,
            // A constant meets the other side's type (`ResultType == 0` on a string column,
            // `EventID == "4624"` on an int column), as Kusto converts it.
            _ if right.constant.is_some()
                && !vigil_kql_functions::value::convert(right.constant.as_ref().expect("checked"), lt).is_null() =>
            {
                lt
            }
            _ if left.constant.is_some()
                && !vigil_kql_functions::value::convert(left.constant.as_ref().expect("checked"), rt).is_null() =>
            {
                rt
            }
            _ if matches!(op, BinaryOp::Equal | BinaryOp::NotEqual) && (lt.is_text() || rt.is_text()) => String,
            _ if lt.is_numeric() || rt.is_numeric() => Real,
            _ => {
                return Err(BindError::new(
                    Code::TypeMismatch,
                    span,
                    format!("cannot compare {lt} with {rt} using '{}'", symbol(op)),
                ));
            }
        }
    };
    let ty = if ty == Dynamic && lt == Dynamic && rt == Dynamic { String } else { ty };
    // A value compared for equality with null is unequal to it, unless it is null itself.
    if matches!(op, BinaryOp::Equal | BinaryOp::NotEqual) {
        let null_side = [(left, right), (right, left)]
            .into_iter()
            .find(|(side, _)| side.constant.as_ref().is_some_and(Value::is_null));
        if let Some((_, other)) = null_side {
            let unequal = lit(op == BinaryOp::NotEqual);
            let null = lit(datafusion::common::ScalarValue::Boolean(None));
            return datafusion::logical_expr::when(other.expr.clone().is_null(), null)
                .otherwise(unequal)
                .map_err(BindError::plan);
        }
    }
    let l = convert(left.typed(), ty);
    let r = convert(right.typed(), ty);
    if matches!(op, BinaryOp::Equal | BinaryOp::NotEqual) {
        // A null and a value are unequal (`==` false, `!=` true); two nulls compare to null.
        let distinct_op = if op == BinaryOp::Equal { Operator::IsNotDistinctFrom } else { Operator::IsDistinctFrom };
        let distinct = binary(l.clone(), distinct_op, r.clone());
        let constant_side = left.constant.is_some() || right.constant.is_some();
        if constant_side {
            return Ok(distinct);
        }
        let null = lit(datafusion::common::ScalarValue::Boolean(None));
        return datafusion::logical_expr::when(l.is_null().and(r.is_null()), null)
            .otherwise(distinct)
            .map_err(BindError::plan);
    }
    Ok(binary(l, df_op, r))
}
