//! The names KQL gives to columns the query does not name (Kusto's
//! `GetExpressionResultName`): `bin(Timestamp, 1h)` is `Timestamp`, `count()` is `count_`,
//! `d.a` is `d_a`, and anything else is `Column1`, `Column2`...

use vigil_kql_functions::{KqlType, Registry, ResultNaming};
use vigil_kql_syntax::ast::{self, ExprKind, Literal};

use super::scope::Row;

/// Whether calls are read as aggregates (inside `summarize`) or scalars.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallKind {
    Scalar,
    Aggregate,
}

/// The name an expression gives its column, if it gives one.
pub(crate) fn result_name(expr: &ast::Expr, row: &Row, kind: CallKind) -> Option<String> {
    match &expr.kind {
        ExprKind::Name(ident) => Some(ident.name.clone()),
        ExprKind::Parenthesized(inner) => result_name(inner, row, kind),
        ExprKind::Member { target, name } => Some(path_name(target, &name.name, row, kind)),
        ExprKind::Index { target, index } => {
            let selector = match &index.kind {
                ExprKind::Literal(Literal::String(s)) => s.clone(),
                ExprKind::Literal(Literal::Long(Some(n))) => n.to_string(),
                ExprKind::Literal(Literal::Int(Some(n))) => n.to_string(),
                _ => return None,
            };
            Some(path_name(target, &selector, row, kind))
        }
        ExprKind::Call { function, args } => call_name(&function.name, args, row, kind),
        _ => None,
    }
}

/// `a.b` is `a_b` on a dynamic value, and `b` on anything else (such as `$left.b`).
fn path_name(target: &ast::Expr, selector: &str, row: &Row, kind: CallKind) -> String {
    if let ExprKind::Name(ident) = &target.kind {
        let non_dynamic = ident.name.starts_with('$') || row.get(&ident.name).is_some_and(|c| c.ty != KqlType::Dynamic);
        if non_dynamic {
            return selector.to_string();
        }
    }
    match result_name(target, row, kind) {
        Some(left) if !left.trim().is_empty() => format!("{left}_{selector}"),
        _ => selector.to_string(),
    }
}

fn call_name(function: &str, args: &[ast::Argument], row: &Row, kind: CallKind) -> Option<String> {
    // Calls the binder expands itself are named as the registry's functions they stand for.
    let function = if function == "bin_auto" { "bin" } else { function };
    let registry = Registry::global();
    let naming = match kind {
        CallKind::Aggregate => registry.aggregate_function(function).map(|f| f.naming),
        CallKind::Scalar => None,
    }
    .or_else(|| registry.scalar_function(function).map(|f| f.naming))?;
    // Arguments of a call are named as scalars: `sum(strlen(s))` is `sum_strlen_s`.
    let argument_name = |index: usize| args.get(index).and_then(|a| result_name(&a.value, row, CallKind::Scalar));
    // The covariances name both their series (`covariance_x_y`).
    if kind == CallKind::Aggregate && function.starts_with("covariance") && args.len() >= 2 {
        return Some(format!(
            "{function}_{}_{}",
            argument_name(0).unwrap_or_default(),
            argument_name(1).unwrap_or_default()
        ));
    }
    match naming {
        ResultNaming::None => None,
        ResultNaming::FirstArgument => argument_name(0),
        ResultNaming::OnlyArgument => (args.len() == 1).then(|| argument_name(0)).flatten(),
        ResultNaming::PrefixOnly(prefix) => Some(prefix.to_string()),
        ResultNaming::NameAndFirstArgument => Some(format!("{function}_{}", argument_name(0).unwrap_or_default())),
        ResultNaming::PrefixAndFirstArgument(prefix) => {
            Some(format!("{prefix}_{}", argument_name(0).unwrap_or_default()))
        }
        ResultNaming::NameAndOnlyArgument => {
            (args.len() == 1).then(|| format!("{function}_{}", argument_name(0).unwrap_or_default()))
        }
        ResultNaming::PrefixAndOnlyArgument(prefix) => {
            (args.len() == 1).then(|| format!("{prefix}_{}", argument_name(0).unwrap_or_default()))
        }
    }
}

/// Hands out `Column1`, `Column2`... skipping names already taken.
#[derive(Default)]
pub(crate) struct DefaultNames {
    next: usize,
}

impl DefaultNames {
    pub(crate) fn next(&mut self, taken: impl Fn(&str) -> bool) -> String {
        loop {
            self.next += 1;
            let candidate = format!("Column{}", self.next);
            if !taken(&candidate) {
                return candidate;
            }
        }
    }
}
