//! What names mean while binding: `let` bindings (lexically scoped, persistent so that
//! functions capture the scope they were defined in) and the columns of the current row.

use std::rc::Rc;

use datafusion::logical_expr::Expr;
use vigil_catalog::OpenColumns;
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
    /// Set for a workspace's saved function, whose spans point into its own text.
    pub saved: Option<Rc<SavedFunctionText>>,
}

/// The text a saved function was parsed from, to say where in it a problem is.
pub struct SavedFunctionText {
    pub text: String,
    /// Where the body starts in `text`.
    pub body_offset: usize,
    /// What the parser found wrong with it.
    pub diagnostics: Vec<vigil_kql_syntax::Diagnostic>,
}

impl SavedFunctionText {
    /// A problem inside the function, told at the call: which function, where in its body.
    pub fn locate(&self, function: &str, diagnostic: &vigil_kql_syntax::Diagnostic) -> String {
        let start = (diagnostic.span.start as usize).min(self.text.len());
        if start < self.body_offset {
            return format!("the parameters of function '{function}' are not valid: {}", diagnostic.message);
        }
        let before = &self.text[self.body_offset..start];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
        format!("in function '{function}', line {line}, column {column} of its body: {}", diagnostic.message)
    }
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
    /// How names the row does not list resolve (see `Relation::open`).
    pub open: Option<OpenColumns>,
    /// While `extend` adds columns: how many of `columns` its input had, which is all that
    /// `pack_all()` packs.
    pub input_width: Option<usize>,
}

impl Row {
    pub fn of(relation: &Relation) -> Row {
        let column = |c: &vigil_kql_functions::KqlColumn| RowColumn {
            name: c.name.clone(),
            ty: c.ty,
            expr: column_expr(&c.name),
        };
        Row { columns: relation.columns.iter().map(column).collect(), open: relation.open, input_width: None }
    }

    /// A listed column.
    pub fn get(&self, name: &str) -> Option<&RowColumn> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// An unlisted column of the row's open part: a typed empty value.
    pub fn open_column(&self, name: &str) -> Option<RowColumn> {
        let ty = self.open?.type_of(name)?;
        Some(RowColumn { name: name.to_string(), ty, expr: crate::relation::null_of(ty) })
    }

    /// The columns of the operator's input (all of them outside `extend`).
    pub fn input_columns(&self) -> &[RowColumn] {
        &self.columns[..self.input_width.unwrap_or(self.columns.len()).min(self.columns.len())]
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
