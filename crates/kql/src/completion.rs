//! What may come next at a cursor in a query: the console's completion list.
//!
//! The answer comes from the engine's own knowledge, never from a list kept beside it: table
//! names from the catalog, columns by binding the pipeline up to the operator being written,
//! functions from the function registry, operators from the parser's table.

use serde::Serialize;
use vigil_kql_functions::registry::Registry;
use vigil_kql_syntax::OPERATOR_NAMES;
use vigil_kql_syntax::lexer::{Token, TokenKind, tokenize};

use crate::engine::Engine;
use vigil_catalog::Catalog;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CompletionKind {
    Table,
    Column,
    Function,
    Aggregate,
    Operator,
    Keyword,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompletionItem {
    pub label: String,
    pub kind: CompletionKind,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Completion {
    /// Byte offset where the word being completed starts: items replace `[from, cursor)`.
    pub from: usize,
    pub items: Vec<CompletionItem>,
}

/// Words that start a statement besides a table name.
const STATEMENT_STARTS: &[&str] = &["let", "print", "range", "datatable", "union", "search", "find", "set"];

/// Names before a `(` that opens a query rather than an expression.
const QUERY_OPENERS: &[&str] = &[
    "join",
    "lookup",
    "union",
    "toscalar",
    "materialize",
    "view",
    "fork",
    "facet",
    "inner",
    "innerunique",
    "leftouter",
    "rightouter",
    "fullouter",
    "leftanti",
    "rightanti",
    "leftsemi",
    "rightsemi",
    "anti",
    "leftantisemi",
    "rightantisemi",
];

/// Operators whose expressions may call aggregate functions.
const AGGREGATING_OPERATORS: &[&str] = &["summarize", "make-series", "top-nested", "partition"];

/// Words an operator takes after its first expression, offered beside columns and functions.
fn operator_keywords(operator: &str) -> &'static [&'static str] {
    match operator {
        "where" | "filter" => &[
            "and",
            "or",
            "not",
            "has",
            "!has",
            "has_any",
            "has_all",
            "contains",
            "!contains",
            "startswith",
            "endswith",
            "in",
            "!in",
            "in~",
            "between",
            "matches regex",
            "has_cs",
            "contains_cs",
        ],
        "summarize" | "make-series" => &["by", "step", "from", "to", "on", "default"],
        "sort" | "order" | "top" => &["by", "asc", "desc", "nulls first", "nulls last"],
        "join" | "lookup" => &["kind", "on", "$left", "$right", "hint.strategy"],
        "mv-expand" => &["to typeof", "bagexpansion", "with_itemindex", "limit"],
        "parse" => &["with", "kind"],
        "render" => &[
            "timechart",
            "areachart",
            "barchart",
            "columnchart",
            "piechart",
            "scatterchart",
            "linechart",
            "table",
            "with",
        ],
        _ => &[],
    }
}

impl Engine {
    /// Completions at byte offset `cursor` of `query`, against the tables of `catalog`.
    pub fn complete(&self, query: &str, cursor: usize, catalog: &dyn Catalog) -> Completion {
        let mut cursor = cursor.min(query.len());
        while !query.is_char_boundary(cursor) {
            cursor -= 1;
        }
        let before = &query[..cursor];
        let (mut tokens, _) = tokenize(before);
        tokens.retain(|t| t.kind != TokenKind::Eof);
        let mut from = cursor;
        if let Some(last) = tokens.last() {
            let touching = last.span.end as usize == cursor;
            if touching && last.kind == TokenKind::Ident {
                from = last.span.start as usize;
                tokens.pop();
            } else if touching && matches!(last.kind, TokenKind::String | TokenKind::Int | TokenKind::Real) {
                return Completion { from, items: Vec::new() };
            }
        }
        let after_last = tokens.last().map(|t| t.span.end as usize).unwrap_or(0);
        if in_line_comment(&before[after_last..from]) {
            return Completion { from, items: Vec::new() };
        }
        let context = Context::of(before, &tokens);
        Completion { from, items: context.items(self, catalog) }
    }
}

fn in_line_comment(gap: &str) -> bool {
    gap.lines().last().is_some_and(|line| line.contains("//"))
}

/// Where the cursor stands in the query's structure.
struct Context<'a> {
    text: &'a str,
    /// Where the pipeline holding the cursor starts (after `;`, or after the `(` opening it).
    pipeline_start: usize,
    /// Text of earlier statements (`let`s) that the pipeline may refer to; empty when nested.
    preamble: &'a str,
    /// The last `|` of the pipeline before the cursor.
    last_pipe: Option<usize>,
    /// The operator after that `|`, lower-cased.
    operator: Option<String>,
    previous: Option<Token>,
    previous_text: String,
    /// The cursor is inside a `(...)` that is an expression (a call's arguments, a list).
    in_expression_parens: bool,
}

impl<'a> Context<'a> {
    fn of(text: &'a str, tokens: &[Token]) -> Context<'a> {
        let word = |t: &Token| text[t.span.start as usize..t.span.end as usize].to_lowercase();
        // Unclosed `(` before the cursor: the innermost one that opens a query bounds the
        // pipeline; any expression `(` inside it means we are within an expression.
        let mut open: Vec<(usize, bool)> = Vec::new();
        for (index, token) in tokens.iter().enumerate() {
            match token.kind {
                TokenKind::LParen | TokenKind::LBracket => {
                    let opens_query = token.kind == TokenKind::LParen
                        && match index.checked_sub(1).map(|i| &tokens[i]) {
                            None => true,
                            Some(before) if before.kind == TokenKind::Ident => {
                                QUERY_OPENERS.contains(&word(before).as_str())
                            }
                            Some(before) => matches!(before.kind, TokenKind::Comma | TokenKind::Semicolon),
                        };
                    open.push((index, opens_query));
                }
                TokenKind::RParen | TokenKind::RBracket => {
                    open.pop();
                }
                _ => {}
            }
        }
        let query_paren = open.iter().rev().find(|(_, query)| *query).map(|(index, _)| *index);
        let in_expression_parens = open.last().is_some_and(|(index, query)| !query && Some(*index) > query_paren);
        let first_token = query_paren.map(|i| i + 1).unwrap_or(0);
        // Tokens at the pipeline's own depth: `(`s opened and closed inside it do not count.
        let mut level = 0usize;
        let mut statement_first = first_token;
        let mut last_pipe = None;
        for (index, token) in tokens.iter().enumerate().skip(first_token) {
            match token.kind {
                TokenKind::LParen | TokenKind::LBracket => level += 1,
                TokenKind::RParen | TokenKind::RBracket => level = level.saturating_sub(1),
                TokenKind::Semicolon if level == 0 => {
                    statement_first = index + 1;
                    last_pipe = None;
                }
                TokenKind::Pipe if level == 0 => last_pipe = Some(index),
                _ => {}
            }
        }
        let pipeline_start = tokens.get(statement_first).map(|t| t.span.start as usize).unwrap_or(text.len());
        let preamble = if query_paren.is_none() { &text[..pipeline_start.min(text.len())] } else { "" };
        let operator = last_pipe.and_then(|pipe| {
            let mut name = tokens.get(pipe + 1).filter(|t| t.kind == TokenKind::Ident).map(word)?;
            // Hyphenated operators are several tokens: `make` `-` `series`.
            if let (Some(dash), Some(rest)) = (tokens.get(pipe + 2), tokens.get(pipe + 3))
                && dash.kind == TokenKind::Minus
                && rest.kind == TokenKind::Ident
            {
                name = format!("{name}-{}", word(rest));
            }
            Some(name)
        });
        let previous = tokens.last().cloned();
        let previous_text = previous.as_ref().map(word).unwrap_or_default();
        Context {
            text,
            pipeline_start: if statement_first >= tokens.len() { text.len() } else { pipeline_start },
            preamble,
            last_pipe: last_pipe.map(|i| tokens[i].span.start as usize),
            operator,
            previous,
            previous_text,
            in_expression_parens,
        }
    }

    fn items(&self, engine: &Engine, catalog: &dyn Catalog) -> Vec<CompletionItem> {
        let previous_kind = self.previous.as_ref().map(|t| t.kind);
        let at_pipeline_start = self.previous.as_ref().is_none_or(|t| t.span.end as usize <= self.pipeline_start)
            || previous_kind == Some(TokenKind::Semicolon);
        if at_pipeline_start && !self.in_expression_parens {
            let mut items = tables(catalog);
            items.extend(keywords(STATEMENT_STARTS));
            return items;
        }
        if previous_kind == Some(TokenKind::Pipe) {
            return OPERATOR_NAMES
                .iter()
                .map(|name| CompletionItem {
                    label: name.to_string(),
                    kind: CompletionKind::Operator,
                    detail: "operator".to_string(),
                })
                .collect();
        }
        let operator = self.operator.as_deref().unwrap_or("");
        let names_table = matches!(self.previous_text.as_str(), "union" | "join" | "lookup")
            || (operator == "union" && previous_kind == Some(TokenKind::Comma))
            || (matches!(operator, "join" | "lookup") && QUERY_OPENERS.contains(&self.previous_text.as_str()));
        if names_table && !self.in_expression_parens {
            return tables(catalog);
        }
        let mut items = self.columns(engine, catalog);
        items.extend(functions(AGGREGATING_OPERATORS.contains(&operator)));
        items.extend(keywords(operator_keywords(operator)));
        items
    }

    /// The columns flowing into the operator being written: the pipeline up to its last `|`,
    /// bound by the engine (with the statements before it, so `let` names resolve).
    fn columns(&self, engine: &Engine, catalog: &dyn Catalog) -> Vec<CompletionItem> {
        let Some(pipe) = self.last_pipe else {
            return Vec::new();
        };
        let pipeline = &self.text[self.pipeline_start.min(pipe)..pipe];
        let source = format!("{}{}", self.preamble, pipeline);
        match engine.check(&source, catalog, false) {
            Ok(columns) => columns
                .into_iter()
                .map(|column| CompletionItem {
                    label: quote_name(&column.name),
                    kind: CompletionKind::Column,
                    detail: column.ty.name().to_string(),
                })
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

fn quote_name(name: &str) -> String {
    let plain = name.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_alphanumeric() || c == '_');
    if plain { name.to_string() } else { format!("['{}']", name.replace('\'', "\\'")) }
}

fn tables(catalog: &dyn Catalog) -> Vec<CompletionItem> {
    catalog
        .table_names()
        .into_iter()
        .map(|name| {
            let columns = catalog.table(&name).map(|t| t.columns.len()).unwrap_or(0);
            CompletionItem { label: name, kind: CompletionKind::Table, detail: format!("table, {columns} columns") }
        })
        .collect()
}

fn functions(with_aggregates: bool) -> Vec<CompletionItem> {
    let registry = Registry::global();
    let mut items: Vec<CompletionItem> = registry
        .scalar_functions()
        .map(|f| CompletionItem {
            label: f.name.to_string(),
            kind: CompletionKind::Function,
            detail: f.summary.to_string(),
        })
        .collect();
    if with_aggregates {
        items.extend(registry.aggregate_functions().map(|f| CompletionItem {
            label: f.name.to_string(),
            kind: CompletionKind::Aggregate,
            detail: f.summary.to_string(),
        }));
    }
    items
}

fn keywords(words: &[&str]) -> Vec<CompletionItem> {
    words
        .iter()
        .map(|word| CompletionItem {
            label: word.to_string(),
            kind: CompletionKind::Keyword,
            detail: "keyword".to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_catalog::MemoryCatalog;
    use vigil_kql_functions::{KqlColumn, types::KqlType};

    fn catalog() -> MemoryCatalog {
        let mut catalog = MemoryCatalog::new();
        let columns = vec![
            KqlColumn::new("TimeGenerated", KqlType::DateTime),
            KqlColumn::new("Username", KqlType::String),
            KqlColumn::new("RemoteAddress", KqlType::String),
        ];
        catalog.add_batches("KeeperEvents", columns, Vec::new()).unwrap();
        catalog
    }

    fn labels(query: &str, kind: CompletionKind) -> (usize, Vec<String>) {
        let cursor = query.find('‸').unwrap_or(query.len());
        let text = query.replace('‸', "");
        let completion = Engine::new().complete(&text, cursor, &catalog());
        let labels = completion.items.into_iter().filter(|i| i.kind == kind).map(|i| i.label).collect();
        (completion.from, labels)
    }

    #[test]
    fn tables_at_the_start_and_operators_after_a_pipe() {
        let (from, tables) = labels("Kee", CompletionKind::Table);
        assert_eq!((from, tables), (0, vec!["KeeperEvents".to_string()]));
        let (from, operators) = labels("KeeperEvents | wh", CompletionKind::Operator);
        assert_eq!(from, 15);
        assert!(operators.contains(&"where".to_string()) && operators.contains(&"make-series".to_string()));
        assert!(labels("KeeperEvents | ", CompletionKind::Table).1.is_empty());
    }

    #[test]
    fn columns_come_from_binding_the_pipeline_so_far() {
        let (_, columns) = labels("KeeperEvents | where Us", CompletionKind::Column);
        assert_eq!(columns, ["TimeGenerated", "Username", "RemoteAddress"]);
        let (_, columns) = labels("KeeperEvents | summarize n = count() by Username | where ‸", CompletionKind::Column);
        assert_eq!(columns, ["Username", "n"]);
        let (_, columns) =
            labels("let recent = KeeperEvents | project Username;\nrecent | where ", CompletionKind::Column);
        assert_eq!(columns, ["Username"]);
        let (_, columns) = labels("KeeperEvents | extend Country = tostring(Rem‸)", CompletionKind::Column);
        assert!(columns.contains(&"RemoteAddress".to_string()));
    }

    #[test]
    fn aggregates_only_where_they_may_be_called() {
        assert!(labels("KeeperEvents | summarize ", CompletionKind::Aggregate).1.contains(&"dcount".to_string()));
        assert!(labels("KeeperEvents | where ", CompletionKind::Aggregate).1.is_empty());
        assert!(
            labels("KeeperEvents | where ", CompletionKind::Function)
                .1
                .contains(&"geo_info_from_ip_address".to_string())
        );
    }

    #[test]
    fn subqueries_offer_tables_and_strings_and_comments_offer_nothing() {
        assert!(!labels("KeeperEvents | join kind=inner (Ke", CompletionKind::Table).1.is_empty());
        assert!(!labels("union Kee", CompletionKind::Table).1.is_empty());
        assert!(Engine::new().complete("KeeperEvents | where Username == 'ab", 36, &catalog()).items.is_empty());
        assert!(Engine::new().complete("KeeperEvents // wh", 18, &catalog()).items.is_empty());
    }
}
