//! `summarize`: group keys, aggregate calls (possibly inside scalar expressions, such as
//! `toupper(tohex(binary_all_xor(x)))`), and KQL's naming of the results.

use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder};
use vigil_kql_functions::{AggregateOutput, KqlColumn, Registry};
use vigil_kql_syntax::ast::{self, ExprKind};
use vigil_kql_syntax::{Code, Span};

use super::Binder;
use super::naming::{CallKind, DefaultNames, result_name};
use super::scope::{Binding, Bound, Row};
use crate::error::{BindError, BindResult};
use crate::relation::{Relation, column_expr, unique_name};

/// Aggregate calls found while binding `summarize` items, each computed into a placeholder
/// column of the aggregation.
pub(crate) struct AggregateCollector {
    /// The rows being aggregated: aggregate arguments are bound against them.
    row: Row,
    /// The group keys' names, which `arg_max(x, *)` leaves out.
    by_names: Vec<String>,
    /// Distinct aggregate expressions and their placeholder columns.
    aggregates: Vec<(Expr, String)>,
}

impl AggregateCollector {
    /// The aggregate expressions and the placeholder names they are computed into.
    pub(crate) fn into_aggregates(self) -> Vec<(Expr, String)> {
        self.aggregates
    }

    fn placeholder(&mut self, aggregate: Expr, next_name: impl FnOnce() -> String) -> String {
        if let Some((_, name)) = self.aggregates.iter().find(|(e, _)| *e == aggregate) {
            return name.clone();
        }
        let name = next_name();
        self.aggregates.push((aggregate, name.clone()));
        name
    }
}

/// One column produced by an aggregate call.
pub(crate) struct AggregateColumn {
    pub name: Option<String>,
    pub bound: Bound,
}

impl Binder<'_> {
    pub(crate) fn bind_summarize(
        &mut self,
        input: Relation,
        aggregates: &[ast::Assignment],
        by: &[ast::Assignment],
    ) -> BindResult<Relation> {
        let row = Row::of(&input);
        let mut defaults = DefaultNames::default();
        let mut columns: Vec<KqlColumn> = Vec::new();
        let mut group_exprs = Vec::new();
        for key in self.partition_keys_of(&input) {
            group_exprs.push(column_expr(&key.name));
            columns.push(key);
        }
        for item in by {
            let bound = self.bind_expr(&item.value, &row)?;
            let name = match item.names.as_slice() {
                [name] => name.name.clone(),
                _ => result_name(&item.value, &row, CallKind::Scalar)
                    .unwrap_or_else(|| defaults.next(|n| row.get(n).is_some())),
            };
            let name = unique_name(&name, |n| columns.iter().any(|c| c.name == n));
            group_exprs.push(bound.expr.alias(&name));
            columns.push(KqlColumn::new(name, bound.ty));
        }
        let by_names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
        let (items, collector) = self.bind_aggregate_items(&row, by_names, aggregates, &mut defaults)?;
        let mut output_exprs: Vec<Expr> = columns.iter().map(|c| column_expr(&c.name)).collect();
        for (name, bound) in items {
            let name = unique_name(&name, |n| columns.iter().any(|c| c.name == n));
            output_exprs.push(bound.expr);
            columns.push(KqlColumn::new(name, bound.ty));
        }
        let plan = aggregate_plan(input.plan.clone(), group_exprs, collector.into_aggregates())?;
        let aggregated = Relation::new(plan, vec![]);
        let mut result = aggregated.project(output_exprs, columns)?;
        // `arg_max(x, *)` carries every column of its input, the unlisted ones of an open input too.
        if aggregates.iter().any(|item| expands_star(&item.value)) {
            result.open = input.open;
        }
        Ok(result)
    }

    /// Binds the aggregate items of `summarize` (or `make-series`) over `row`: each yields named
    /// expressions over the placeholder columns of the returned collector.
    pub(crate) fn bind_aggregate_items(
        &mut self,
        row: &Row,
        by_names: Vec<String>,
        items: &[ast::Assignment],
        defaults: &mut DefaultNames,
    ) -> BindResult<(Vec<(String, Bound)>, AggregateCollector)> {
        let saved = self.aggregates.replace(AggregateCollector { row: row.clone(), by_names, aggregates: Vec::new() });
        let result = self.bind_aggregate_items_inner(row, items, defaults);
        let collector = std::mem::replace(&mut self.aggregates, saved).expect("collector installed above");
        Ok((result?, collector))
    }

    fn bind_aggregate_items_inner(
        &mut self,
        row: &Row,
        items: &[ast::Assignment],
        defaults: &mut DefaultNames,
    ) -> BindResult<Vec<(String, Bound)>> {
        let mut outputs: Vec<(String, Bound)> = Vec::new();
        for item in items {
            let top_level = match &item.value.kind {
                ExprKind::Call { function, args } if self.is_aggregate_call(&function.name) => {
                    Some(self.aggregate_columns(&function.name, args, item.value.span)?)
                }
                _ => None,
            };
            match top_level {
                Some(produced) => {
                    let single = produced.len() == 1;
                    for (index, column) in produced.into_iter().enumerate() {
                        let name = match (item.names.get(index), column.name) {
                            (Some(name), _) => name.name.clone(),
                            (None, Some(name)) if !single || index > 0 => name,
                            (None, provided) => provided
                                .or_else(|| result_name(&item.value, row, CallKind::Aggregate))
                                .unwrap_or_else(|| defaults.next(|n| row.get(n).is_some())),
                        };
                        outputs.push((unique_name(&name, |n| outputs.iter().any(|(o, _)| o == n)), column.bound));
                    }
                }
                None => {
                    let bound = self.bind_expr(&item.value, row)?;
                    let name = match item.names.as_slice() {
                        [name] => name.name.clone(),
                        _ => result_name(&item.value, row, CallKind::Aggregate)
                            .unwrap_or_else(|| defaults.next(|n| row.get(n).is_some())),
                    };
                    outputs.push((unique_name(&name, |n| outputs.iter().any(|(o, _)| o == n)), bound));
                }
            }
        }
        Ok(outputs)
    }

    fn is_aggregate_call(&self, name: &str) -> bool {
        !matches!(self.lookup(name), Some(Binding::Function(_)))
            && Registry::global().aggregate_function(name).is_some()
    }

    /// An aggregate call inside a scalar expression of a `summarize` item.
    pub(crate) fn collect_aggregate(
        &mut self,
        name: &str,
        args: &[ast::Argument],
        _row: &Row,
        span: Span,
    ) -> BindResult<Bound> {
        let mut columns = self.aggregate_columns(name, args, span)?;
        if columns.len() != 1 {
            return Err(BindError::new(
                Code::BadArguments,
                span,
                format!("{name}() returns several columns here; use it directly as a summarize item"),
            ));
        }
        Ok(columns.remove(0).bound)
    }

    /// Binds an aggregate call's arguments over the aggregated rows and registers its
    /// aggregates; returns the columns it produces.
    fn aggregate_columns(
        &mut self,
        name: &str,
        args: &[ast::Argument],
        span: Span,
    ) -> BindResult<Vec<AggregateColumn>> {
        let definition = Registry::global().aggregate_function(name).expect("checked by the caller");
        let collector = self.aggregates.take().ok_or_else(|| {
            BindError::new(
                Code::TypeMismatch,
                span,
                format!("'{name}' is an aggregate function; it can only be used in summarize"),
            )
        })?;
        let row = collector.row.clone();
        let by_names = collector.by_names.clone();
        self.aggregates = Some(collector);
        // Arguments are scalar expressions of the rows: aggregates may not nest.
        let saved = self.aggregates.take();
        let bound_args = self.aggregate_arguments(name, args, &row, &by_names);
        self.aggregates = saved;
        let (bound_args, arg_names) = bound_args?;
        if bound_args.len() < definition.min_args || bound_args.len() > definition.max_args {
            return Err(BindError::new(
                Code::BadArguments,
                span,
                format!(
                    "aggregate '{name}' expects {}, got {}",
                    vigil_kql_functions::registry::describe_arity(definition.min_args, definition.max_args),
                    bound_args.len()
                ),
            ));
        }
        let outputs: Vec<AggregateOutput> = (definition.bind)(&self.context, bound_args, &arg_names)
            .map_err(|m| BindError::new(Code::BadArguments, span, m))?;
        let mut columns = Vec::new();
        for output in outputs {
            let collector = self.aggregates.as_mut().expect("collector present");
            let mut next = self.next_id;
            let placeholder = collector.placeholder(output.aggregate, || {
                next += 1;
                format!("$vigil_agg_{next}")
            });
            self.next_id = next;
            let reference = column_expr(&placeholder);
            let expr = match &output.finish {
                Some(finish) => finish(reference),
                None => reference,
            };
            columns.push(AggregateColumn { name: output.name, bound: Bound::new(expr, output.ty) });
        }
        Ok(columns)
    }

    /// The bound arguments of an aggregate call and their result names; `*` expands to the
    /// row's columns (without the group keys and the columns already named).
    fn aggregate_arguments(
        &mut self,
        name: &str,
        args: &[ast::Argument],
        row: &Row,
        by_names: &[String],
    ) -> BindResult<(Vec<vigil_kql_functions::Arg>, Vec<Option<String>>)> {
        let mut bound = Vec::new();
        let mut names = Vec::new();
        let star_used = args.iter().any(|a| matches!(&a.value.kind, ExprKind::Wildcard(w) if w == "*"));
        for (index, arg) in args.iter().enumerate() {
            if let ExprKind::Wildcard(pattern) = &arg.value.kind {
                if pattern != "*" {
                    return Err(BindError::new(Code::UnexpectedToken, arg.value.span, "only '*' is allowed here"));
                }
                if name == "count" {
                    continue;
                }
                for column in &row.columns {
                    let already = names.iter().any(|n: &Option<String>| n.as_deref() == Some(column.name.as_str()));
                    if already || by_names.contains(&column.name) {
                        continue;
                    }
                    bound.push(vigil_kql_functions::Arg {
                        expr: column.expr.clone(),
                        ty: column.ty,
                        constant: None,
                        type_literal: None,
                    });
                    names.push(Some(column.name.clone()));
                }
                continue;
            }
            let single = self.bind_args(std::slice::from_ref(arg), row)?;
            let mut arg_name = match &arg.name {
                Some(named) => Some(named.name.clone()),
                None => result_name(&arg.value, row, CallKind::Scalar),
            };
            // With `*`, a returned column that repeats one already produced is dropped.
            if star_used
                && index > 0
                && let Some(n) = &arg_name
                && (names.iter().any(|x| x.as_deref() == Some(n.as_str())) || by_names.contains(n))
            {
                arg_name = Some(format!("{n}1"));
            }
            bound.extend(single);
            names.push(arg_name);
        }
        Ok((bound, names))
    }
}

/// An `Aggregate` whose aggregates are named by their placeholders. DataFusion's optimizer
/// rules see through an aggregate's output name but not through an alias inside it (the
/// rewrite of `count(distinct x) by k` into two cheap groupings needs the bare call), so the
/// aggregates stay bare and a projection above names them, unless two would print the same.
pub(crate) fn aggregate_plan(
    input: LogicalPlan,
    group_exprs: Vec<Expr>,
    aggregates: Vec<(Expr, String)>,
) -> BindResult<LogicalPlan> {
    let aggregates = leave_lone_distinct_counts_to_the_planner(aggregates);
    let printed: Vec<String> = aggregates.iter().map(|(expr, _)| expr.schema_name().to_string()).collect();
    let printed_once = printed.iter().collect::<std::collections::HashSet<_>>().len() == printed.len();
    let builder = LogicalPlanBuilder::from(input);
    let built = if printed_once {
        let group_count = group_exprs.len();
        let (exprs, names): (Vec<Expr>, Vec<String>) = aggregates.into_iter().unzip();
        builder.aggregate(group_exprs, exprs).and_then(|b| {
            let renamed = b.schema().columns().into_iter().enumerate().map(|(index, column)| {
                let column = Expr::Column(column);
                match index.checked_sub(group_count) {
                    Some(aggregate) => column.alias(&names[aggregate]),
                    None => column,
                }
            });
            b.project(renamed.collect::<Vec<_>>())
        })
    } else {
        builder.aggregate(group_exprs, aggregates.into_iter().map(|(expr, name)| expr.alias(name)))
    };
    built.and_then(|b| b.build()).map_err(BindError::plan)
}

/// DataFusion rewrites `count(distinct x)` into two cheap groupings when every aggregate beside
/// it counts the same `x` distinctly or is a plain sum, min or max; there the rewrite beats any
/// accumulator, so `dcount` becomes `count(distinct x)`. Anywhere else (beside `count()`, the
/// usual hunting shape) the grouped `dcount` accumulator is several times faster.
fn leave_lone_distinct_counts_to_the_planner(aggregates: Vec<(Expr, String)>) -> Vec<(Expr, String)> {
    use datafusion::logical_expr::expr::AggregateFunction;
    let mut counted = None;
    let rewritable = aggregates.iter().all(|(expr, _)| match expr {
        Expr::AggregateFunction(AggregateFunction { func, params })
            if params.filter.is_none() && params.order_by.is_empty() =>
        {
            match func.name() {
                "dcount" if params.args.len() == 1 => *counted.get_or_insert(&params.args[0]) == &params.args[0],
                "sum" | "min" | "max" => !params.distinct,
                _ => false,
            }
        }
        _ => false,
    });
    if !rewritable || counted.is_none() {
        return aggregates;
    }
    aggregates
        .into_iter()
        .map(|(expr, name)| match expr {
            Expr::AggregateFunction(AggregateFunction { func, mut params }) if func.name() == "dcount" => {
                (datafusion::functions_aggregate::expr_fn::count_distinct(params.args.remove(0)), name)
            }
            other => (other, name),
        })
        .collect()
}

/// An aggregate call that takes `*`: `arg_max(TimeGenerated, *)`, `take_any(*)`.
fn expands_star(expr: &ast::Expr) -> bool {
    match &expr.kind {
        ExprKind::Call { args, .. } => args.iter().any(|a| matches!(&a.value.kind, ExprKind::Wildcard(w) if w == "*")),
        _ => false,
    }
}
