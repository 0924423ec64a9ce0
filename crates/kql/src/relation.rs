//! A bound tabular expression: a DataFusion plan and the KQL columns it produces.

use datafusion::common::Column;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder};
use vigil_catalog::OpenColumns;
use vigil_kql_functions::{KqlColumn, KqlType};

use crate::error::{BindError, BindResult};

/// How a query asked its result to be drawn (`render timechart with (title="...")`).
#[derive(Debug, Clone, PartialEq)]
pub struct Render {
    pub visualization: String,
    pub properties: Vec<(String, serde_json::Value)>,
}

/// A plan whose output fields are unqualified and named exactly as `columns`, in order.
#[derive(Debug, Clone)]
pub struct Relation {
    pub plan: LogicalPlan,
    pub columns: Vec<KqlColumn>,
    /// The rows are in a meaningful order (`sort`, `top`, `serialize`), which `prev()`,
    /// `next()` and `row_number()` require.
    pub ordered: bool,
    /// The name given by `as` or the table name, used by `union withsource` and `search`.
    pub name: Option<String>,
    pub render: Option<Render>,
    /// Columns the relation has without listing them (an `AzureDiagnostics` field no row has
    /// carried yet): names it resolves that are not in `columns`.
    pub open: Option<OpenColumns>,
}

impl Relation {
    pub fn new(plan: LogicalPlan, columns: Vec<KqlColumn>) -> Relation {
        Relation { plan, columns, ordered: false, name: None, render: None, open: None }
    }

    pub fn column(&self, name: &str) -> Option<&KqlColumn> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// A reference to one of this relation's columns.
    pub fn column_expr(&self, name: &str) -> Expr {
        column_expr(name)
    }

    /// A new relation with `plan` and `columns`, keeping this one's order, name, chart and
    /// openness (operators that choose their columns, such as `project`, close it).
    pub fn with(&self, plan: LogicalPlan, columns: Vec<KqlColumn>) -> Relation {
        Relation {
            plan,
            columns,
            ordered: self.ordered,
            name: self.name.clone(),
            render: self.render.clone(),
            open: self.open,
        }
    }

    /// Projects `exprs`, naming output `i` as `columns[i]`.
    pub fn project(&self, exprs: Vec<Expr>, columns: Vec<KqlColumn>) -> BindResult<Relation> {
        let aliased: Vec<Expr> =
            exprs.into_iter().zip(&columns).map(|(expr, column)| alias(expr, &column.name)).collect();
        let plan = LogicalPlanBuilder::from(self.plan.clone())
            .project(aliased)
            .and_then(|b| b.build())
            .map_err(BindError::plan)?;
        Ok(self.with(plan, columns))
    }

    /// Keeps the columns named, in the given order.
    pub fn select(&self, names: &[&str]) -> BindResult<Relation> {
        let columns: Vec<KqlColumn> = names.iter().filter_map(|n| self.column(n).cloned()).collect();
        let exprs = columns.iter().map(|c| column_expr(&c.name)).collect();
        self.project(exprs, columns)
    }

    /// The relation with an unlisted column of its open part listed (a typed empty value), so
    /// that operators which name columns directly (join keys, `project-rename`) can use it.
    /// `None` when the relation has no such column.
    pub fn with_open_column(&self, name: &str) -> BindResult<Option<Relation>> {
        if self.column(name).is_some() {
            return Ok(Some(self.clone()));
        }
        let Some(ty) = self.open.and_then(|open| open.type_of(name)) else { return Ok(None) };
        let mut exprs: Vec<Expr> = self.columns.iter().map(|c| column_expr(&c.name)).collect();
        exprs.push(null_of(ty));
        let mut columns = self.columns.clone();
        columns.push(KqlColumn::new(name, ty));
        self.project(exprs, columns).map(Some)
    }

    pub fn filter(&self, predicate: Expr) -> BindResult<Relation> {
        let plan = LogicalPlanBuilder::from(self.plan.clone())
            .filter(predicate)
            .and_then(|b| b.build())
            .map_err(BindError::plan)?;
        Ok(self.with(plan, self.columns.clone()))
    }
}

/// An unqualified column reference; the name is taken literally (dots are not qualifiers).
pub fn column_expr(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

/// Names an expression, without stacking an alias on a column of the same name.
pub fn alias(expr: Expr, name: &str) -> Expr {
    match &expr {
        Expr::Column(column) if column.name == name && column.relation.is_none() => expr,
        Expr::Alias(inner) if inner.name == name => expr,
        _ => expr.alias(name),
    }
}

/// `base`, or `base1`, `base2`... whichever is not taken.
pub fn unique_name(base: &str, taken: impl Fn(&str) -> bool) -> String {
    if !taken(base) {
        return base.to_string();
    }
    (1..).map(|i| format!("{base}{i}")).find(|candidate| !taken(candidate)).expect("an unused name")
}

/// A typed null literal of a KQL type (strings are empty, never null).
pub fn null_of(ty: KqlType) -> Expr {
    match ty {
        KqlType::String => datafusion::logical_expr::lit(""),
        _ => datafusion::logical_expr::lit(vigil_kql_functions::Value::Null.to_scalar(ty)),
    }
}
