//! A bound tabular expression: a DataFusion plan and the KQL columns it produces.

use datafusion::common::Column;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder};
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
    /// Other names for columns, `(alias, column)`, while the column is there.
    pub aliases: Vec<(String, String)>,
}

impl Relation {
    pub fn new(plan: LogicalPlan, columns: Vec<KqlColumn>) -> Relation {
        Relation { plan, columns, ordered: false, name: None, render: None, aliases: Vec::new() }
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

    /// A new relation with `plan` and `columns`, keeping this one's order, name and chart.
    pub fn with(&self, plan: LogicalPlan, columns: Vec<KqlColumn>) -> Relation {
        Relation {
            plan,
            columns,
            ordered: self.ordered,
            name: self.name.clone(),
            render: self.render.clone(),
            aliases: self.aliases.clone(),
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
