//! Tokens to syntax tree: a recursive-descent parser for statements and operators with
//! precedence climbing for scalar expressions.
//!
//! The parser never fails. A statement that cannot be read becomes as much of a tree as was
//! read plus a diagnostic, and parsing resumes at the next operator (`|`) or statement (`;`),
//! so an editor can show every error of a query at once.

pub(crate) mod dynamic;
pub(crate) use dynamic as dynamic_json;
mod expr;
mod operators;
pub use operators::OPERATOR_NAMES;

use crate::ast::*;
use crate::diagnostic::{Code, Diagnostic, Span};
use crate::lexer::{Token, TokenKind, tokenize};

/// A tree and the problems found while building it. `query` is usable even when there are
/// diagnostics: unreadable parts are `ExprKind::Error` nodes.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub query: Query,
    pub diagnostics: Vec<Diagnostic>,
}

impl Parsed {
    pub fn has_errors(&self) -> bool {
        !self.diagnostics.is_empty()
    }
}

pub fn parse(source: &str) -> Parsed {
    let (tokens, lexer_diagnostics) = tokenize(source);
    let mut parser = Parser { source, tokens, pos: 0, diagnostics: lexer_diagnostics, depth: 0 };
    let query = parser.query();
    let mut diagnostics = parser.diagnostics;
    diagnostics.sort_by_key(|d| (d.span.start, d.span.end));
    diagnostics.dedup_by(|a, b| a.span.start == b.span.start);
    Parsed { query, diagnostics }
}

/// Deeper nesting than this is rejected rather than risking the stack.
const MAX_DEPTH: usize = 96;

/// The parse was abandoned at this point; the diagnostic is already recorded.
#[derive(Debug)]
pub(crate) struct Abandoned;

pub(crate) type PResult<T> = Result<T, Abandoned>;

pub(crate) struct Parser<'a> {
    source: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    diagnostics: Vec<Diagnostic>,
    depth: usize,
}

impl<'a> Parser<'a> {
    // ---- token access -------------------------------------------------------------------------

    fn peek(&self) -> &Token {
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn peek_at(&self, ahead: usize) -> &Token {
        &self.tokens[(self.pos + ahead).min(self.tokens.len() - 1)]
    }

    fn kind(&self) -> TokenKind {
        self.peek().kind
    }

    fn kind_at(&self, ahead: usize) -> TokenKind {
        self.peek_at(ahead).kind
    }

    fn text(&self, token: &Token) -> &'a str {
        &self.source[token.span.range()]
    }

    fn peek_text(&self) -> &'a str {
        self.text(self.peek())
    }

    fn previous_span(&self) -> Span {
        self.tokens[self.pos.saturating_sub(1)].span
    }

    fn advance(&mut self) -> Token {
        let token = self.peek().clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        token
    }

    fn at(&self, kind: TokenKind) -> bool {
        self.kind() == kind
    }

    fn eat(&mut self, kind: TokenKind) -> bool {
        if self.at(kind) {
            self.advance();
            true
        } else {
            false
        }
    }

    /// The current token is the identifier `word` (case-insensitive, as KQL keywords are not).
    fn at_word(&self, word: &str) -> bool {
        self.kind() == TokenKind::Ident && self.peek_text() == word
    }

    fn at_word_at(&self, ahead: usize, word: &str) -> bool {
        let token = self.peek_at(ahead);
        token.kind == TokenKind::Ident && self.text(token) == word
    }

    fn eat_word(&mut self, word: &str) -> bool {
        if self.at_word(word) {
            self.advance();
            true
        } else {
            false
        }
    }

    /// Two tokens touch, with no space between them (`project-away`, `!contains`, `in~`).
    fn adjacent(&self, ahead: usize) -> bool {
        self.peek_at(ahead).span.end == self.peek_at(ahead + 1).span.start
    }

    // ---- errors -------------------------------------------------------------------------------

    fn error_here(&mut self, expected: &str) -> Abandoned {
        let token = self.peek().clone();
        let found = self.describe(&token);
        let code = if token.kind == TokenKind::Eof { Code::UnexpectedEnd } else { Code::UnexpectedToken };
        self.diagnostics.push(Diagnostic::error(code, token.span, format!("expected {expected}, found {found}")));
        Abandoned
    }

    fn describe(&self, token: &Token) -> String {
        match token.kind {
            TokenKind::Ident => format!("'{}'", self.text(token)),
            TokenKind::Eof | TokenKind::Error => token.kind.describe().to_string(),
            kind if matches!(kind, TokenKind::Int | TokenKind::Real | TokenKind::Timespan | TokenKind::String) => {
                let text = self.text(token);
                if text.chars().count() > 24 {
                    kind.describe().to_string()
                } else {
                    format!("{} {text}", kind.describe())
                }
            }
            kind => kind.describe().to_string(),
        }
    }

    fn expect(&mut self, kind: TokenKind, expected: &str) -> PResult<Token> {
        if self.at(kind) { Ok(self.advance()) } else { Err(self.error_here(expected)) }
    }

    fn expect_word(&mut self, word: &str) -> PResult<Token> {
        if self.at_word(word) { Ok(self.advance()) } else { Err(self.error_here(&format!("'{word}'"))) }
    }

    /// Expects the closing bracket of `open`, reporting an unbalanced bracket against the opener.
    fn expect_close(&mut self, close: TokenKind, open: &Token, context: &str) -> PResult<Token> {
        if self.at(close) {
            return Ok(self.advance());
        }
        let token = self.peek().clone();
        let found = self.describe(&token);
        let message = if token.kind == TokenKind::Eof {
            format!("unbalanced {}: {} opened here is never closed", open.kind.describe(), open.kind.describe())
        } else {
            format!("expected {} to close {context}, found {found}", close.describe())
        };
        let span = if token.kind == TokenKind::Eof { open.span } else { token.span };
        self.diagnostics.push(Diagnostic::error(Code::UnbalancedBracket, span, message));
        Err(Abandoned)
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let span = self.peek().span;
            self.diagnostics.push(Diagnostic::error(
                Code::Unsupported,
                span,
                format!("the query is nested more than {MAX_DEPTH} levels deep"),
            ));
            return Err(Abandoned);
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Skips to the next `|`, `;` or end at bracket depth zero, without consuming it.
    fn recover(&mut self) {
        let mut depth = 0usize;
        loop {
            match self.kind() {
                TokenKind::Eof => return,
                TokenKind::Pipe | TokenKind::Semicolon if depth == 0 => return,
                TokenKind::LParen | TokenKind::LBracket | TokenKind::LBrace => depth += 1,
                TokenKind::RParen | TokenKind::RBracket | TokenKind::RBrace => {
                    if depth == 0 {
                        return;
                    }
                    depth -= 1;
                }
                _ => {}
            }
            self.advance();
        }
    }

    // ---- statements ---------------------------------------------------------------------------

    fn query(&mut self) -> Query {
        let mut statements = Vec::new();
        loop {
            while self.eat(TokenKind::Semicolon) {}
            if self.at(TokenKind::Eof) {
                break;
            }
            let start = self.pos;
            match self.statement() {
                Ok(statement) => statements.push(statement),
                Err(Abandoned) => self.recover(),
            }
            if self.at(TokenKind::Eof) || self.eat(TokenKind::Semicolon) {
                continue;
            }
            // Log Analytics runs the block under the cursor, delimited by blank lines: a new
            // statement may start on a new line without a `;`.
            if self.peek().newline_before && self.can_start_statement() {
                continue;
            }
            if matches!(self.kind(), TokenKind::RParen | TokenKind::RBracket | TokenKind::RBrace) {
                let token = self.peek().clone();
                let name = token.kind.describe();
                self.diagnostics.push(Diagnostic::error(
                    Code::UnbalancedBracket,
                    token.span,
                    format!("unbalanced {name}: there is no opening bracket for it to close"),
                ));
            } else if self.pos == start || !matches!(self.kind(), TokenKind::Pipe) {
                let _ = self.error_here("';' or '|' between statements");
            }
            // Skip the rest so that one mistake does not cascade into many.
            self.advance();
            self.recover();
        }
        Query { statements }
    }

    fn can_start_statement(&self) -> bool {
        matches!(self.kind(), TokenKind::Ident | TokenKind::LParen | TokenKind::LBracket)
    }

    fn statement(&mut self) -> PResult<Statement> {
        if self.at_word("let") {
            return self.let_statement().map(Statement::Let);
        }
        if self.at_word("set") && self.kind_at(1) == TokenKind::Ident {
            let start = self.advance().span;
            let name = self.ident_including_dots()?;
            let value = if self.eat(TokenKind::Assign) { Some(self.scalar()?) } else { None };
            return Ok(Statement::Set { name, value, span: start.to(self.previous_span()) });
        }
        if self.at_word("declare") && self.at_word_at(1, "query_parameters") {
            let start = self.advance().span;
            self.advance();
            let open = self.expect(TokenKind::LParen, "'(' after query_parameters")?;
            let parameters = self.parameters(&open)?;
            return Ok(Statement::DeclareQueryParameters { parameters, span: start.to(self.previous_span()) });
        }
        if self.at_word("alias") || self.at_word("restrict") || self.at_word("pattern") {
            let token = self.peek().clone();
            let word = self.text(&token).to_string();
            self.diagnostics.push(Diagnostic::error(
                Code::Unsupported,
                token.span,
                format!("the '{word}' statement is not supported"),
            ));
            return Err(Abandoned);
        }
        Ok(Statement::Query(self.expr()?))
    }

    fn let_statement(&mut self) -> PResult<LetStatement> {
        let start = self.expect_word("let")?.span;
        let name = self.declared_name("a name after 'let'")?;
        self.expect(TokenKind::Assign, "'=' after the name of the let")?;
        let value = if self.at_function_definition() {
            LetValue::Function(self.function_definition()?)
        } else {
            LetValue::Expr(self.expr()?)
        };
        Ok(LetStatement { name, value, span: start.to(self.previous_span()) })
    }

    /// `(`, `view (`, followed by `)` then `{`, or a parameter `name:`.
    fn at_function_definition(&self) -> bool {
        let offset = usize::from(self.at_word("view") && self.kind_at(1) == TokenKind::LParen);
        if self.kind_at(offset) != TokenKind::LParen {
            return false;
        }
        match self.kind_at(offset + 1) {
            TokenKind::RParen => self.kind_at(offset + 2) == TokenKind::LBrace,
            TokenKind::Ident => self.kind_at(offset + 2) == TokenKind::Colon,
            TokenKind::LBracket => {
                self.kind_at(offset + 2) == TokenKind::String && self.kind_at(offset + 4) == TokenKind::Colon
            }
            _ => false,
        }
    }

    fn function_definition(&mut self) -> PResult<FunctionDefinition> {
        let start = self.peek().span;
        let is_view = self.eat_word("view");
        let open = self.expect(TokenKind::LParen, "'(' to start the parameter list")?;
        let parameters = self.parameters(&open)?;
        let body = self.function_body()?;
        Ok(FunctionDefinition { parameters, body, is_view, span: start.to(self.previous_span()) })
    }

    /// `{ let a = ...; ...; result }`
    fn function_body(&mut self) -> PResult<FunctionBody> {
        let open = self.expect(TokenKind::LBrace, "'{' to start the function body")?;
        self.enter()?;
        let mut lets = Vec::new();
        loop {
            while self.eat(TokenKind::Semicolon) {}
            if !self.at_word("let") {
                break;
            }
            lets.push(self.let_statement()?);
        }
        let result = self.expr()?;
        while self.eat(TokenKind::Semicolon) {}
        self.expect_close(TokenKind::RBrace, &open, "the function body")?;
        self.leave();
        Ok(FunctionBody { lets, result: Box::new(result) })
    }

    /// The parameters after an opening `(`, through the closing `)`.
    fn parameters(&mut self, open: &Token) -> PResult<Vec<Parameter>> {
        let mut parameters = Vec::new();
        if self.eat(TokenKind::RParen) {
            return Ok(parameters);
        }
        loop {
            let name = self.declared_name("a parameter name")?;
            self.expect(TokenKind::Colon, "':' and a type after the parameter name")?;
            let ty = if self.at(TokenKind::LParen) {
                let open = self.advance();
                let (columns, open_schema) = self.column_declarations(&open)?;
                ParameterType::Tabular { columns, open: open_schema }
            } else {
                ParameterType::Scalar(self.type_name()?)
            };
            let default = if self.eat(TokenKind::Assign) { Some(self.scalar()?) } else { None };
            parameters.push(Parameter { name, ty, default });
            if self.eat(TokenKind::Comma) {
                continue;
            }
            self.expect_close(TokenKind::RParen, open, "the parameter list")?;
            return Ok(parameters);
        }
    }

    /// `name:type, ...` or `*` through the closing `)`. Returns the columns and whether `*`
    /// (any other columns) was present.
    fn column_declarations(&mut self, open: &Token) -> PResult<(Vec<ColumnDeclaration>, bool)> {
        let mut columns = Vec::new();
        let mut open_schema = false;
        if self.eat(TokenKind::RParen) {
            return Ok((columns, open_schema));
        }
        loop {
            if self.eat(TokenKind::Star) {
                open_schema = true;
            } else {
                let name = self.declared_name("a column name")?;
                self.expect(TokenKind::Colon, "':' and a type after the column name")?;
                let ty = self.type_name()?;
                columns.push(ColumnDeclaration { name, ty });
            }
            if self.eat(TokenKind::Comma) {
                continue;
            }
            self.expect_close(TokenKind::RParen, open, "the column list")?;
            return Ok((columns, open_schema));
        }
    }

    pub(crate) fn type_name(&mut self) -> PResult<TypeName> {
        if !self.at(TokenKind::Ident) {
            return Err(self.error_here(
                "a type name (bool, int, long, real, decimal, string, datetime, timespan, guid, dynamic)",
            ));
        }
        let token = self.advance();
        let written = self.text(&token);
        match canonical_type_name(written) {
            Some(name) => Ok(TypeName { name: name.to_string(), span: token.span }),
            None => {
                self.diagnostics.push(Diagnostic::error(
                    Code::UnknownName,
                    token.span,
                    format!("unknown type '{written}'; expected bool, int, long, real, decimal, string, datetime, timespan, guid or dynamic"),
                ));
                Err(Abandoned)
            }
        }
    }

    /// A name being declared: an identifier or `['any text']`.
    fn declared_name(&mut self, expected: &str) -> PResult<Ident> {
        match self.kind() {
            TokenKind::Ident => {
                let token = self.advance();
                Ok(Ident { name: self.text(&token).to_string(), span: token.span })
            }
            TokenKind::LBracket if self.kind_at(1) == TokenKind::String => self.bracketed_name(),
            _ => Err(self.error_here(expected)),
        }
    }

    /// `['name']` or `["name"]`.
    fn bracketed_name(&mut self) -> PResult<Ident> {
        let open = self.expect(TokenKind::LBracket, "'['")?;
        let token = self.expect(TokenKind::String, "a quoted name")?;
        let close = self.expect_close(TokenKind::RBracket, &open, "the bracketed name")?;
        Ok(Ident { name: token.value.unwrap_or_default(), span: open.span.to(close.span) })
    }

    /// `a.b.c` as one name (for `set` and option names like `hint.strategy`).
    fn ident_including_dots(&mut self) -> PResult<Ident> {
        let first = self.expect(TokenKind::Ident, "a name")?;
        let mut name = self.text(&first).to_string();
        let mut span = first.span;
        while self.at(TokenKind::Dot) && self.kind_at(1) == TokenKind::Ident && self.adjacent(0) {
            self.advance();
            let part = self.advance();
            name.push('.');
            name.push_str(self.text(&part));
            span = span.to(part.span);
        }
        Ok(Ident { name, span })
    }
}

/// The canonical KQL name of a type as written (`double` is `real`, `boolean` is `bool`...).
pub fn canonical_type_name(written: &str) -> Option<&'static str> {
    Some(match written {
        "bool" | "boolean" => "bool",
        "int" | "int32" => "int",
        "long" | "int64" => "long",
        "real" | "double" | "float" => "real",
        "decimal" => "decimal",
        "string" => "string",
        "datetime" | "date" => "datetime",
        "timespan" | "time" => "timespan",
        "guid" | "uuid" | "uniqueid" => "guid",
        "dynamic" => "dynamic",
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
