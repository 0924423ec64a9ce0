//! Saved KQL functions of a workspace: what Log Analytics stores as a saved search with a
//! function alias, and Sentinel's parsers (solution parsers and ASIM) install.

/// A function queries call by name: `name(arguments)`, or `name` alone when every parameter
/// has a default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    pub name: String,
    /// The parameter list as Log Analytics' `functionParameters` writes it, without the
    /// parentheses: `starttime:datetime=datetime(null), T:(TimeGenerated:datetime)`.
    pub parameters: String,
    /// The body: `let` statements and a final expression, as a function's query.
    pub body: String,
}

impl Function {
    /// The function as a `let` statement the KQL parser reads, and the byte offset at which
    /// the body begins in it (to point diagnostics at the body).
    pub fn as_let_statement(&self) -> (String, usize) {
        let head = format!("let {} = ({}) {{\n", self.name, self.parameters);
        let text = format!("{head}{}\n}};\n", self.body.trim_end().trim_end_matches(';'));
        (text, head.len())
    }
}

/// A watchlist's shape: what `_GetWatchlist('alias')` returns besides the base columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchlistSchema {
    pub alias: String,
    /// The CSV column whose values are the items' `SearchKey`.
    pub search_key: String,
    /// The CSV's columns, in order.
    pub columns: Vec<String>,
}
