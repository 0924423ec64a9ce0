//! `_GetWatchlist('alias')`: a watchlist's current items, one row each, with the watchlist's
//! columns unpacked, as Sentinel's function of the same name returns them.
//!
//! Sentinel defines it over the `Watchlist` table, where every change to an item is a row:
//! the newest row of each item wins, deleted items drop out. Vigil binds the same query, with
//! the watchlist's columns taken from the catalog. A watchlist the workspace does not have yet
//! returns no rows; its columns are not known, so any column name binds (as a string).

use vigil_catalog::workspace::WATCHLIST_TABLE;
use vigil_catalog::{OpenColumns, Table};
use vigil_kql_functions::{KqlType, Value};
use vigil_kql_syntax::ast;
use vigil_kql_syntax::{Code, Span};

use super::Binder;
use super::scope::{Binding, Row};
use crate::error::{BindError, BindResult};
use crate::relation::Relation;

impl Binder<'_> {
    pub(crate) fn bind_get_watchlist(&mut self, args: &[ast::Argument], span: Span) -> BindResult<Relation> {
        let alias = match args {
            [argument] if argument.name.is_none() => {
                let bound = self.bind_expr(&argument.value, &Row::default())?;
                match self.fold_constant(bound).constant {
                    Some(Value::String(alias)) => alias,
                    _ => return Err(not_an_alias(argument.value.span)),
                }
            }
            _ => return Err(not_an_alias(span)),
        };
        let watchlist = self.catalog.watchlist(&alias);
        let columns = watchlist.as_ref().map(|w| w.columns.clone()).unwrap_or_default();
        let mut query = format!(
            "{WATCHLIST_TABLE}\n\
             | where _DTItemType == 'watchlist-item' and WatchlistAlias == {alias}\n\
             | summarize arg_max(_DTTimestamp, *) by _DTItemId\n\
             | where _DTItemStatus != 'Delete'\n\
             | project _DTItemId, LastUpdatedTimeUTC = _DTTimestamp, SearchKey, WatchlistItem",
            alias = string_literal(&alias)
        );
        for column in &columns {
            let quoted = string_literal(column);
            query.push_str(&format!(", [{quoted}] = tostring(WatchlistItem[{quoted}])"));
        }
        let parsed = vigil_kql_syntax::parse(&query);
        let (Some(ast::Statement::Query(expr)), []) =
            (parsed.query.statements.into_iter().next(), parsed.diagnostics.as_slice())
        else {
            return Err(BindError::new(Code::Unsupported, span, "cannot read the watchlist's columns"));
        };
        let saved_scope = std::mem::take(&mut self.scope);
        if self.catalog.table(WATCHLIST_TABLE).is_none() {
            // A catalog without the standard tables (files on the command line): no items.
            let schema = vigil_catalog::standard::table(WATCHLIST_TABLE).expect("the standard Watchlist table");
            let empty = self.scan_table(&Table::empty(schema))?;
            self.scope = self.scope.with(WATCHLIST_TABLE, Binding::Tabular(empty));
        }
        let bound = self.bind_tabular(&expr);
        self.scope = saved_scope;
        let mut relation = bound.map_err(|e| BindError::new(e.0.code, span, e.0.message))?;
        relation.name = Some(alias);
        if watchlist.is_none() {
            relation.open = Some(OpenColumns::Any(KqlType::String));
        }
        Ok(relation)
    }
}

fn not_an_alias(span: Span) -> BindError {
    BindError::new(Code::BadArguments, span, "_GetWatchlist() takes a watchlist alias as a constant string")
}

/// A KQL string literal of any text.
fn string_literal(text: &str) -> String {
    let mut literal = String::with_capacity(text.len() + 2);
    literal.push('"');
    for c in text.chars() {
        match c {
            '"' => literal.push_str("\\\""),
            '\\' => literal.push_str("\\\\"),
            '\n' => literal.push_str("\\n"),
            '\r' => literal.push_str("\\r"),
            '\t' => literal.push_str("\\t"),
            c => literal.push(c),
        }
    }
    literal.push('"');
    literal
}

#[cfg(test)]
mod tests {
    use super::string_literal;

    #[test]
    fn any_text_becomes_a_literal() {
        assert_eq!(string_literal(r#"a "b" \c"#), r#""a \"b\" \\c""#);
        let parsed = vigil_kql_syntax::parse(&format!("print {}", string_literal("x'\"\n")));
        assert!(!parsed.has_errors());
    }
}
