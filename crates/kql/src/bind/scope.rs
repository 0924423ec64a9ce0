//! What names mean while binding: `let` bindings (lexically scoped, persistent so that
//! functions capture the scope they were defined in) and the columns of the current row.

use std::rc::Rc;

use datafusion::logical_expr::Expr;
use vigil_kql_functions::{KqlType, Value};
use vigil_kql_syntax::ast::FunctionDefinition;

use crate::relation::{Relation, column_expr};

/// A bound scalar expression: its DataFusion expression, KQL type, and value when constant.
#[derive(Debug, Clone)]
pub struct Bound {
    pub expr: Expr,
    pub ty: KqlType,
    pub constant: Option<Value>,
}

impl Bound {
    pub fn new(expr: Expr, ty: KqlType) -> Bound {
        Bound { expr, ty, constant: None }
    }

    pub fn constant(value: Value, ty: KqlType) -> Bound {
        Bound { expr: datafusion::logical_expr::lit(value.to_scalar(ty)), ty, constant: Some(value) }
    }

    pub fn typed(&self) -> vigil_kql_functions::TypedExpr {
        vigil_kql_functions::TypedExpr::new(self.expr.clone(), self.ty)
    }
}

#[derive(Clone)]
pub enum Binding {
    Scalar(Bound),
    Tabular(Relation),
    Function(Rc<UserFunction>),
}

/// A `let` function with the scope it was defined in.
pub struct UserFunction {
    pub name: String,
    pub definition: FunctionDefinition,
    pub scope: Scope,
}

/// An immutable list of bindings; `with` makes a new scope sharing the old one.
#[derive(Clone, Default)]
pub struct Scope(Option<Rc<Frame>>);

struct Frame {
    name: String,
    binding: Binding,
    parent: Scope,
}

impl Scope {
    pub fn with(&self, name: &str, binding: Binding) -> Scope {
        Scope(Some(Rc::new(Frame { name: name.to_string(), binding, parent: self.clone() })))
    }

    pub fn lookup(&self, name: &str) -> Option<&Binding> {
        let mut current = self.0.as_deref();
        while let Some(frame) = current {
            if frame.name == name {
                return Some(&frame.binding);
            }
            current = frame.parent.0.as_deref();
        }
        None
    }

    /// Every bound name, innermost first, for suggestions.
    pub fn names(&self) -> Vec<String> {
        let mut names = Vec::new();
        let mut current = self.0.as_deref();
        while let Some(frame) = current {
            names.push(frame.name.clone());
            current = frame.parent.0.as_deref();
        }
        names
    }

    /// The tabular bindings (views and tables made by `let`), for `search` and `union *`.
    pub fn tabular_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        let mut current = self.0.as_deref();
        while let Some(frame) = current {
            let is_view = match &frame.binding {
                Binding::Tabular(_) => true,
                Binding::Function(function) => function.definition.is_view && function.definition.parameters.is_empty(),
                Binding::Scalar(_) => false,
            };
            if is_view && !names.contains(&frame.name) {
                names.push(frame.name.clone());
            }
            current = frame.parent.0.as_deref();
        }
        names.reverse();
        names
    }
}

/// A column visible to expressions: its name, type and how to compute it. Usually a column
/// reference; `extend` adds computed columns that later assignments of the same operator see.
#[derive(Debug, Clone)]
pub struct RowColumn {
    pub name: String,
    pub ty: KqlType,
    pub expr: Expr,
}

/// The columns an expression may refer to.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub columns: Vec<RowColumn>,
    /// Other names of columns, resolvable but not part of the row's output.
    pub aliases: Vec<RowColumn>,
}

impl Row {
    pub fn of(relation: &Relation) -> Row {
        let column = |c: &vigil_kql_functions::KqlColumn| RowColumn {
            name: c.name.clone(),
            ty: c.ty,
            expr: column_expr(&c.name),
        };
        Row {
            columns: relation.columns.iter().map(column).collect(),
            aliases: relation
                .aliases
                .iter()
                .filter(|(alias, _)| relation.column(alias).is_none())
                .filter_map(|(alias, target)| {
                    relation.column(target).map(|c| RowColumn { name: alias.clone(), ..column(c) })
                })
                .collect(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&RowColumn> {
        self.columns.iter().find(|c| c.name == name).or_else(|| self.aliases.iter().find(|c| c.name == name))
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|c| c.name.as_str())
    }

    /// Sets a column, replacing one of the same name in place or appending.
    pub fn set(&mut self, column: RowColumn) {
        match self.columns.iter_mut().find(|c| c.name == column.name) {
            Some(existing) => *existing = column,
            None => self.columns.push(column),
        }
    }
}
