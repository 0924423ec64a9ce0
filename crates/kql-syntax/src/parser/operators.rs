//! Tabular operators: what follows a `|`, and the operators that start a pipeline.

use super::{Abandoned, PResult, Parser};
use crate::ast::*;
use crate::diagnostic::{Code, Diagnostic, Span, suggest};
use crate::lexer::TokenKind;

/// Every operator name the parser knows, for "did you mean" on a misspelling and completion.
pub const OPERATOR_NAMES: &[&str] = &[
    "as",
    "consume",
    "count",
    "distinct",
    "evaluate",
    "extend",
    "externaldata",
    "facet",
    "filter",
    "find",
    "fork",
    "getschema",
    "invoke",
    "join",
    "limit",
    "lookup",
    "make-series",
    "mv-apply",
    "mv-expand",
    "order",
    "parse",
    "parse-kv",
    "parse-where",
    "partition",
    "print",
    "project",
    "project-away",
    "project-by-names",
    "project-keep",
    "project-rename",
    "project-reorder",
    "range",
    "reduce",
    "render",
    "sample",
    "sample-distinct",
    "scan",
    "search",
    "serialize",
    "sort",
    "summarize",
    "take",
    "top",
    "top-nested",
    "union",
    "where",
];

impl Parser<'_> {
    /// The operator name at the cursor, with hyphenated parts joined (`project-away`).
    fn operator_name(&mut self) -> PResult<(String, Span)> {
        if !self.at(TokenKind::Ident) {
            return Err(self.error_here("an operator name after '|' (where, project, extend, summarize, ...)"));
        }
        let first = self.advance();
        let mut name = self.text(&first).to_string();
        let mut span = first.span;
        while self.at(TokenKind::Minus)
            && self.kind_at(1) == TokenKind::Ident
            && self.previous_span().end == self.peek().span.start
            && self.adjacent(0)
        {
            self.advance();
            let part = self.advance();
            name.push('-');
            name.push_str(self.text(&part));
            span = span.to(part.span);
        }
        Ok((name, span))
    }

    pub(crate) fn operator(&mut self) -> PResult<Operator> {
        self.enter()?;
        let result = self.operator_inner();
        self.leave();
        result
    }

    fn operator_inner(&mut self) -> PResult<Operator> {
        let (name, name_span) = self.operator_name()?;
        let kind = match name.as_str() {
            "where" | "filter" => OperatorKind::Where(self.scalar()?),
            "project" => OperatorKind::Project(self.assignments()?),
            "extend" => OperatorKind::Extend(self.assignments()?),
            "project-away" => OperatorKind::ProjectAway(self.column_patterns()?),
            "project-keep" => OperatorKind::ProjectKeep(self.column_patterns()?),
            "project-rename" => OperatorKind::ProjectRename(self.renames()?),
            "project-reorder" => OperatorKind::ProjectReorder(self.reorder_list()?),
            "project-by-names" => OperatorKind::ProjectByNames(self.expr_list()?),
            "summarize" => self.summarize()?,
            "count" => {
                let name =
                    if self.eat_word("as") { Some(self.declared_name("a column name after 'as'")?) } else { None };
                OperatorKind::Count { name }
            }
            "take" | "limit" => {
                self.options()?;
                OperatorKind::Take(self.scalar()?)
            }
            "top" => self.top()?,
            "top-nested" => self.top_nested()?,
            "sort" | "order" => {
                self.options()?;
                self.expect_word("by")?;
                OperatorKind::Sort(self.sort_keys()?)
            }
            "distinct" => {
                self.options()?;
                OperatorKind::Distinct(self.assignments()?)
            }
            "join" => {
                let options = self.options()?;
                let right = self.table_operand()?;
                let on = self.join_conditions()?;
                OperatorKind::Join { options, right, on }
            }
            "lookup" => {
                let options = self.options()?;
                let right = self.table_operand()?;
                let on = self.join_conditions()?;
                OperatorKind::Lookup { options, right, on }
            }
            "union" => self.union()?,
            "as" => {
                let options = self.options()?;
                OperatorKind::As { options, name: self.declared_name("a name after 'as'")? }
            }
            "parse" | "parse-where" => OperatorKind::Parse(self.parse_operator(name == "parse-where")?),
            "parse-kv" => self.parse_kv()?,
            "mv-expand" | "mvexpand" => OperatorKind::MvExpand(self.mv_expand()?),
            "mv-apply" | "mvapply" => OperatorKind::MvApply(self.mv_apply()?),
            "make-series" => OperatorKind::MakeSeries(self.make_series()?),
            "getschema" => OperatorKind::Getschema,
            "serialize" => {
                let list = if self.at_operator_end() { Vec::new() } else { self.assignments()? };
                OperatorKind::Serialize(list)
            }
            "sample" => OperatorKind::Sample { count: self.scalar()? },
            "sample-distinct" => {
                let count = self.scalar()?;
                self.expect_word("of")?;
                OperatorKind::SampleDistinct { count, column: self.scalar()? }
            }
            "evaluate" => self.evaluate()?,
            "render" => self.render()?,
            "invoke" => OperatorKind::Invoke(self.scalar()?),
            "fork" => self.fork()?,
            "facet" => self.facet()?,
            "partition" => self.partition()?,
            "scan" => OperatorKind::Scan(self.scan()?),
            "reduce" => {
                self.options()?;
                self.expect_word("by")?;
                let by = self.scalar()?;
                let options = if !self.eat_word("with") {
                    Vec::new()
                } else if self.at(TokenKind::LParen) {
                    self.plain_options()?
                } else {
                    self.bare_options()?
                };
                OperatorKind::Reduce { by, options }
            }
            "consume" => {
                self.options()?;
                OperatorKind::Consume
            }
            "search" => self.search()?,
            "find" => self.find()?,
            "print" => OperatorKind::Print(if self.at_operator_end() { Vec::new() } else { self.assignments()? }),
            "range" => self.range()?,
            "datatable" => self.datatable()?,
            "externaldata" | "external_data" => self.externaldata()?,
            "top-hitters" => {
                let count = self.scalar()?;
                self.expect_word("of")?;
                let of = self.scalar()?;
                let by = if self.eat_word("by") { Some(self.scalar()?) } else { None };
                OperatorKind::TopHitters { count, of, by }
            }
            "make-graph"
            | "graph-match"
            | "graph-to-table"
            | "graph-shortest-paths"
            | "graph-mark-components"
            | "graph-merge"
            | "execute-show-command"
            | "lookup-plugin" => {
                self.diagnostics.push(Diagnostic::error(
                    Code::Unsupported,
                    name_span,
                    format!("the '{name}' operator is not supported"),
                ));
                return Err(Abandoned);
            }
            _ => {
                let mut diagnostic =
                    Diagnostic::error(Code::UnknownOperator, name_span, format!("unknown operator '{name}'"));
                if let Some(candidate) = suggest(&name, OPERATOR_NAMES.iter().copied()) {
                    diagnostic = diagnostic.with_help(format!("did you mean '{candidate}'?"));
                }
                self.diagnostics.push(diagnostic);
                return Err(Abandoned);
            }
        };
        self.check_operator_end(&name)?;
        Ok(Operator { kind, span: name_span.to(self.previous_span()) })
    }

    fn at_operator_end(&self) -> bool {
        matches!(
            self.kind(),
            TokenKind::Pipe | TokenKind::Semicolon | TokenKind::Eof | TokenKind::RParen | TokenKind::RBrace
        )
    }

    /// After an operator comes `|`, `;`, a closing bracket, the end, or a new statement on a new line.
    fn check_operator_end(&mut self, operator: &str) -> PResult<()> {
        if self.at_operator_end() || self.peek().newline_before && self.at(TokenKind::Ident) {
            return Ok(());
        }
        if self.at(TokenKind::Comma) && self.peek().newline_before {
            return Ok(());
        }
        Err(self.error_here(&format!("'|' or the end of the query after the '{operator}' operator")))
    }

    /// `name=value` operator options (`kind=inner`, `hint.strategy=shuffle`, `withsource=T`).
    /// An identifier followed by `=` is an option only where an operator takes options.
    fn options(&mut self) -> PResult<Vec<OperatorOption>> {
        let mut options = Vec::new();
        while self.at(TokenKind::Ident) && self.at_option() {
            let name = self.ident_including_dots()?;
            self.expect(TokenKind::Assign, "'='")?;
            let value = self.option_value()?;
            options.push(OperatorOption { name, value });
        }
        Ok(options)
    }

    fn at_option(&self) -> bool {
        let mut ahead = 1;
        while self.kind_at(ahead) == TokenKind::Dot && self.kind_at(ahead + 1) == TokenKind::Ident {
            ahead += 2;
        }
        if self.kind_at(ahead) != TokenKind::Assign {
            return false;
        }
        let word = self.peek_text();
        word.starts_with("hint")
            || matches!(
                word,
                "kind"
                    | "withsource"
                    | "isfuzzy"
                    | "bagexpansion"
                    | "with_itemindex"
                    | "flags"
                    | "bin_legacy"
                    | "decodeblocks"
                    | "with_match_id"
                    | "with_source"
                    | "kind_of"
                    | "with_step_name"
            )
    }

    fn option_value(&mut self) -> PResult<Expr> {
        match self.kind() {
            TokenKind::Ident => {
                let token = self.advance();
                let mut name = self.text(&token).to_string();
                let mut span = token.span;
                // `kind=inner` values are names; `hint.x=a.b` may be dotted.
                while self.at(TokenKind::Dot) && self.kind_at(1) == TokenKind::Ident && self.adjacent(0) {
                    self.advance();
                    let part = self.advance();
                    name.push('.');
                    name.push_str(self.text(&part));
                    span = span.to(part.span);
                }
                Ok(Expr::new(ExprKind::Name(Ident { name, span }), span))
            }
            TokenKind::LBracket => {
                let ident = self.bracketed_name()?;
                let span = ident.span;
                Ok(Expr::new(ExprKind::Name(ident), span))
            }
            _ => self.unary_for_option(),
        }
    }

    fn unary_for_option(&mut self) -> PResult<Expr> {
        // Literals and parenthesized values; binary operators would swallow what follows.
        let token = self.peek().clone();
        match token.kind {
            TokenKind::String
            | TokenKind::Int
            | TokenKind::Real
            | TokenKind::Timespan
            | TokenKind::Minus
            | TokenKind::LParen => self.scalar_no_binary(),
            _ => Err(self.error_here("an option value")),
        }
    }

    fn scalar_no_binary(&mut self) -> PResult<Expr> {
        // A literal or parenthesized expression, without binary operators following it.
        if self.at(TokenKind::Minus) {
            let start = self.advance().span;
            let inner = self.scalar_no_binary()?;
            let span = start.to(inner.span);
            return Ok(match inner.kind {
                ExprKind::Literal(Literal::Long(Some(v))) => {
                    Expr::new(ExprKind::Literal(Literal::Long(Some(-v))), span)
                }
                ExprKind::Literal(Literal::Real(Some(v))) => {
                    Expr::new(ExprKind::Literal(Literal::Real(Some(-v))), span)
                }
                other => Expr::new(
                    ExprKind::Unary { op: UnaryOp::Negate, operand: Box::new(Expr::new(other, inner.span)) },
                    span,
                ),
            });
        }
        let saved = self.pos;
        let expr = self.scalar()?;
        if matches!(expr.kind, ExprKind::Binary { .. }) {
            self.pos = saved;
            return Err(self.error_here("an option value"));
        }
        Ok(expr)
    }

    /// `with (name=value, ...)` options of `parse-kv`, `render`, `reduce`: any name is allowed.
    fn plain_options(&mut self) -> PResult<Vec<OperatorOption>> {
        let open = self.expect(TokenKind::LParen, "'(' after 'with'")?;
        let mut options = Vec::new();
        if self.eat(TokenKind::RParen) {
            return Ok(options);
        }
        loop {
            let name = self.declared_name("an option name")?;
            self.expect(TokenKind::Assign, "'=' after the option name")?;
            let value = self.scalar()?;
            options.push(OperatorOption { name, value });
            if self.eat(TokenKind::Comma) {
                continue;
            }
            self.expect_close(TokenKind::RParen, &open, "the options")?;
            return Ok(options);
        }
    }

    /// `name=value, ...` without parentheses (`reduce by x with threshold=0.1, characters="Z"`).
    fn bare_options(&mut self) -> PResult<Vec<OperatorOption>> {
        let mut options = Vec::new();
        loop {
            let name = self.declared_name("an option name")?;
            self.expect(TokenKind::Assign, "'=' after the option name")?;
            let value = self.scalar()?;
            options.push(OperatorOption { name, value });
            if !self.eat(TokenKind::Comma) {
                return Ok(options);
            }
        }
    }

    fn assignments(&mut self) -> PResult<Vec<Assignment>> {
        let mut list = vec![self.assignment()?];
        while self.eat(TokenKind::Comma) {
            list.push(self.assignment()?);
        }
        Ok(list)
    }

    fn expr_list(&mut self) -> PResult<Vec<Expr>> {
        let mut list = vec![self.scalar()?];
        while self.eat(TokenKind::Comma) {
            list.push(self.scalar()?);
        }
        Ok(list)
    }

    /// A column name or pattern with `*` wildcards: `Ignore*`, `*Id`, `['a b']`.
    fn column_pattern(&mut self) -> PResult<Expr> {
        if self.at(TokenKind::LBracket) {
            let ident = self.bracketed_name()?;
            let span = ident.span;
            return Ok(Expr::new(ExprKind::Name(ident), span));
        }
        if !self.at(TokenKind::Ident) && !self.at(TokenKind::Star) {
            return Err(self.error_here("a column name"));
        }
        let first = self.advance();
        let mut pattern = self.text(&first).to_string();
        let mut span = first.span;
        while matches!(self.kind(), TokenKind::Ident | TokenKind::Star | TokenKind::Int)
            && self.previous_span().end == self.peek().span.start
        {
            let part = self.advance();
            pattern.push_str(self.text(&part));
            span = span.to(part.span);
        }
        let kind = if pattern.contains('*') {
            ExprKind::Wildcard(pattern)
        } else {
            ExprKind::Name(Ident { name: pattern, span })
        };
        Ok(Expr::new(kind, span))
    }

    fn column_patterns(&mut self) -> PResult<Vec<Expr>> {
        let mut list = vec![self.column_pattern()?];
        while self.eat(TokenKind::Comma) {
            list.push(self.column_pattern()?);
        }
        Ok(list)
    }

    fn renames(&mut self) -> PResult<Vec<(Ident, Ident)>> {
        let mut list = Vec::new();
        loop {
            let new = self.declared_name("the new column name")?;
            self.expect(TokenKind::Assign, "'=' between the new and the old column name")?;
            let old = self.declared_name("the column to rename")?;
            list.push((new, old));
            if !self.eat(TokenKind::Comma) {
                return Ok(list);
            }
        }
    }

    fn reorder_list(&mut self) -> PResult<Vec<(Expr, Option<SortOrder>)>> {
        let mut list = Vec::new();
        loop {
            let pattern = self.column_pattern()?;
            let order = self.sort_order();
            list.push((pattern, order));
            if !self.eat(TokenKind::Comma) {
                return Ok(list);
            }
        }
    }

    fn sort_order(&mut self) -> Option<SortOrder> {
        if self.eat_word("asc") || self.eat_word("granny-asc") {
            Some(SortOrder::Ascending)
        } else if self.eat_word("desc") || self.eat_word("granny-desc") {
            Some(SortOrder::Descending)
        } else {
            None
        }
    }

    fn sort_key(&mut self) -> PResult<SortKey> {
        let value = self.scalar()?;
        let order = self.sort_order();
        let nulls = if self.eat_word("nulls") {
            if self.eat_word("first") {
                Some(NullsOrder::First)
            } else if self.eat_word("last") {
                Some(NullsOrder::Last)
            } else {
                return Err(self.error_here("'first' or 'last' after 'nulls'"));
            }
        } else {
            None
        };
        Ok(SortKey { value, order, nulls })
    }

    fn sort_keys(&mut self) -> PResult<Vec<SortKey>> {
        let mut keys = vec![self.sort_key()?];
        while self.eat(TokenKind::Comma) {
            keys.push(self.sort_key()?);
        }
        Ok(keys)
    }

    fn summarize(&mut self) -> PResult<OperatorKind> {
        let options = self.options()?;
        let aggregates = if self.at_word("by") || self.at_operator_end() { Vec::new() } else { self.assignments()? };
        let by = if self.at_word("by") {
            let by_token = self.advance();
            if self.at_operator_end() {
                self.diagnostics.push(Diagnostic::error(
                    Code::UnexpectedEnd,
                    by_token.span,
                    "expected at least one grouping expression after 'by'",
                ));
                return Err(Abandoned);
            }
            self.assignments()?
        } else {
            Vec::new()
        };
        Ok(OperatorKind::Summarize { options, aggregates, by })
    }

    fn top(&mut self) -> PResult<OperatorKind> {
        self.options()?;
        let count = self.scalar()?;
        self.expect_word("by")?;
        let by = self.sort_key()?;
        let with_others = None;
        Ok(OperatorKind::Top { count, by, with_others })
    }

    fn top_nested(&mut self) -> PResult<OperatorKind> {
        let mut levels = Vec::new();
        loop {
            let count = if self.at_word("of") { None } else { Some(self.scalar()?) };
            self.expect_word("of")?;
            let of = self.assignment()?;
            let with_others = if self.at_word("with") && self.at_word_at(1, "others") {
                self.advance();
                self.advance();
                self.expect(TokenKind::Assign, "'=' after 'with others'")?;
                Some(self.scalar()?)
            } else {
                None
            };
            self.expect_word("by")?;
            let by = self.assignment()?;
            let order = self.sort_order();
            levels.push(TopNestedLevel { count, of, with_others, by, order });
            if !self.eat(TokenKind::Comma) {
                break;
            }
            self.expect_hyphenated("top-nested")?;
        }
        Ok(OperatorKind::TopNested(levels))
    }

    fn expect_hyphenated(&mut self, expected: &str) -> PResult<()> {
        let saved = self.pos;
        let diagnostics = self.diagnostics.len();
        match self.operator_name() {
            Ok((name, _)) if name == expected => Ok(()),
            _ => {
                self.pos = saved;
                self.diagnostics.truncate(diagnostics);
                Err(self.error_here(&format!("'{expected}'")))
            }
        }
    }

    /// The right side of `join` and `lookup`: a name, a call, or a parenthesized subquery.
    fn table_operand(&mut self) -> PResult<Expr> {
        if self.at_word("on") {
            return Err(self.error_here("the table to join with (a name or a parenthesized query)"));
        }
        if self.at(TokenKind::LParen) {
            let open = self.advance();
            let inner = self.expr()?;
            let close = self.expect_close(TokenKind::RParen, &open, "the subquery")?;
            return Ok(Expr::new(ExprKind::Parenthesized(Box::new(inner)), open.span.to(close.span)));
        }
        self.unary_table()
    }

    fn unary_table(&mut self) -> PResult<Expr> {
        // A table name, possibly a call or member chain, but no binary operators.
        let saved_diagnostics = self.diagnostics.len();
        let expr = self.scalar_no_binary();
        if expr.is_err() {
            self.diagnostics.truncate(saved_diagnostics);
            return Err(self.error_here("a table name or a parenthesized subquery"));
        }
        expr
    }

    fn join_conditions(&mut self) -> PResult<Vec<Expr>> {
        if self.eat_word("on") {
            return self.expr_list();
        }
        if self.at_word("where") {
            // `join ... where $left.a == $right.b`: the older spelling.
            self.advance();
            return self.expr_list();
        }
        Err(self.error_here("'on' and the join columns"))
    }

    fn union(&mut self) -> PResult<OperatorKind> {
        let options = self.options()?;
        let mut tables = vec![self.union_table()?];
        while self.eat(TokenKind::Comma) {
            tables.push(self.union_table()?);
        }
        Ok(OperatorKind::Union { options, tables })
    }

    fn union_table(&mut self) -> PResult<Expr> {
        if self.at(TokenKind::LParen) {
            return self.table_operand();
        }
        if self.at(TokenKind::Ident) && (self.kind_at(1) == TokenKind::Star && self.adjacent(0)) {
            return self.column_pattern();
        }
        if self.at(TokenKind::Star) {
            return self.column_pattern();
        }
        self.unary_table()
    }

    fn parse_operator(&mut self, filter: bool) -> PResult<ParseOperator> {
        let options = self.options()?;
        let mut kind = ParseKind::Simple;
        let mut flags = None;
        for option in &options {
            match option.name.name.as_str() {
                "kind" => {
                    kind = match option.value.as_name() {
                        Some("regex") => ParseKind::Regex,
                        Some("relaxed") => ParseKind::Relaxed,
                        Some("simple") => ParseKind::Simple,
                        _ => {
                            self.diagnostics.push(Diagnostic::error(
                                Code::InvalidLiteral,
                                option.value.span,
                                "expected kind=simple, kind=regex or kind=relaxed",
                            ));
                            return Err(Abandoned);
                        }
                    }
                }
                "flags" => {
                    flags = option.value.as_name().map(str::to_string).or_else(|| match &option.value.kind {
                        ExprKind::Literal(Literal::String(s)) => Some(s.clone()),
                        _ => None,
                    })
                }
                _ => {}
            }
        }
        let source = self.scalar()?;
        self.expect_word("with")?;
        let mut pattern = Vec::new();
        loop {
            // A pattern may run over lines, but a name at the start of a line after a complete
            // pattern begins the next statement.
            let next_statement = self.peek().newline_before
                && self.at(TokenKind::Ident)
                && pattern.len() > 1
                && self.at_new_statement_in_parse();
            if self.at_operator_end() || next_statement {
                break;
            }
            match self.kind() {
                TokenKind::String => {
                    let token = self.advance();
                    pattern.push(ParsePart::Literal(token.value.unwrap_or_default()));
                }
                TokenKind::Star => {
                    self.advance();
                    pattern.push(ParsePart::Wildcard);
                }
                TokenKind::Ident | TokenKind::LBracket => {
                    let name = self.declared_name("a column name")?;
                    let ty = if self.eat(TokenKind::Colon) { Some(self.type_name()?) } else { None };
                    pattern.push(ParsePart::Column(name, ty));
                }
                TokenKind::Comma => {
                    self.advance();
                }
                _ => {
                    return Err(self.error_here("a string, a column name or '*' in the parse pattern"));
                }
            }
        }
        if pattern.is_empty() {
            return Err(self.error_here("a parse pattern after 'with'"));
        }
        Ok(ParseOperator { kind, flags, source, pattern, filter })
    }

    /// Inside a parse pattern, a name on a new line that is followed by something other than
    /// `:` or a string cannot be part of the pattern; it starts the next statement.
    fn at_new_statement_in_parse(&self) -> bool {
        !matches!(self.kind_at(1), TokenKind::Colon | TokenKind::String | TokenKind::Star | TokenKind::Pipe)
    }

    fn parse_kv(&mut self) -> PResult<OperatorKind> {
        let source = self.scalar()?;
        self.expect_word("as")?;
        let open = self.expect(TokenKind::LParen, "'(' and the columns to extract")?;
        let (columns, _) = self.column_declarations(&open)?;
        let options = if self.eat_word("with") { self.plain_options()? } else { Vec::new() };
        Ok(OperatorKind::ParseKv(ParseKvOperator { source, columns, options }))
    }

    fn mv_expand_items(&mut self) -> PResult<Vec<MvExpandItem>> {
        let mut items = Vec::new();
        loop {
            let target = self.assignment()?;
            let to_type = if self.at_word("to") && self.at_word_at(1, "typeof") {
                self.advance();
                self.advance();
                let open = self.expect(TokenKind::LParen, "'(' after typeof")?;
                let ty = self.type_name()?;
                self.expect_close(TokenKind::RParen, &open, "typeof")?;
                Some(ty)
            } else {
                None
            };
            items.push(MvExpandItem { target, to_type });
            if !self.eat(TokenKind::Comma) {
                return Ok(items);
            }
        }
    }

    fn mv_expand(&mut self) -> PResult<MvExpandOperator> {
        let options = self.options()?;
        let items = self.mv_expand_items()?;
        let limit = if self.eat_word("limit") { Some(self.scalar()?) } else { None };
        Ok(MvExpandOperator { options, items, limit })
    }

    fn mv_apply(&mut self) -> PResult<MvApplyOperator> {
        let options = self.options()?;
        let items = self.mv_expand_items()?;
        let limit = if self.eat_word("limit") { Some(self.scalar()?) } else { None };
        if self.eat_word("id") {
            self.scalar()?;
        }
        self.expect_word("on")?;
        let subquery = self.subquery()?;
        Ok(MvApplyOperator { options, items, limit, subquery })
    }

    /// `( operator | operator ... )` whose input is the enclosing operator's context.
    fn subquery(&mut self) -> PResult<Expr> {
        let open = self.expect(TokenKind::LParen, "'(' and a subquery")?;
        let expr = self.context_pipeline()?;
        self.expect_close(TokenKind::RParen, &open, "the subquery")?;
        Ok(expr)
    }

    /// A pipeline that starts with an operator rather than a table.
    fn context_pipeline(&mut self) -> PResult<Expr> {
        let start = self.peek().span;
        let mut expr = Expr::new(ExprKind::ContextInput, Span { start: start.start, end: start.start });
        self.eat(TokenKind::Pipe);
        loop {
            let operator = self.operator()?;
            let span = expr.span.to(operator.span);
            expr = Expr::new(ExprKind::Pipe { input: Box::new(expr), operator: Box::new(operator) }, span);
            if !self.eat(TokenKind::Pipe) {
                return Ok(expr);
            }
        }
    }

    fn make_series(&mut self) -> PResult<MakeSeriesOperator> {
        let options = self.options()?;
        let mut aggregates = Vec::new();
        loop {
            let assignment = self.assignment()?;
            let default = if self.at_word("default") && self.kind_at(1) == TokenKind::Assign {
                self.advance();
                self.advance();
                Some(self.scalar()?)
            } else {
                None
            };
            aggregates.push(MakeSeriesAggregate { assignment, default });
            if !self.eat(TokenKind::Comma) {
                break;
            }
        }
        self.expect_word("on")?;
        // The axis is a column or call; a binary `in` here would swallow `in range(...)`.
        let on = self.unary()?;
        let (from, to, step);
        if self.at_word("in") && self.at_word_at(1, "range") {
            // `in range(start, stop, step)`
            self.advance();
            self.advance();
            let open = self.expect(TokenKind::LParen, "'(' after range")?;
            from = Some(self.scalar()?);
            self.expect(TokenKind::Comma, "','")?;
            to = Some(self.scalar()?);
            self.expect(TokenKind::Comma, "','")?;
            step = self.scalar()?;
            self.expect_close(TokenKind::RParen, &open, "range")?;
        } else {
            from = if self.eat_word("from") { Some(self.scalar()?) } else { None };
            to = if self.eat_word("to") { Some(self.scalar()?) } else { None };
            self.expect_word("step")?;
            step = self.scalar()?;
        }
        let by = if self.eat_word("by") { self.assignments()? } else { Vec::new() };
        Ok(MakeSeriesOperator { options, aggregates, on, from, to, step, by })
    }

    fn evaluate(&mut self) -> PResult<OperatorKind> {
        let options = self.options()?;
        let call = self.scalar_no_binary()?;
        if !matches!(call.kind, ExprKind::Call { .. }) {
            self.diagnostics.push(Diagnostic::error(
                Code::UnexpectedToken,
                call.span,
                "expected a plugin call after 'evaluate', such as bag_unpack(column)",
            ));
            return Err(Abandoned);
        }
        let output_schema = if self.eat(TokenKind::Colon) {
            let open = self.expect(TokenKind::LParen, "'(' and the output schema")?;
            Some(self.column_declarations(&open)?)
        } else {
            None
        };
        Ok(OperatorKind::Evaluate { options, call, output_schema })
    }

    fn render(&mut self) -> PResult<OperatorKind> {
        let chart = self.declared_name("a chart type after 'render' (table, timechart, barchart, ...)")?;
        let mut properties = Vec::new();
        if self.eat_word("with") {
            properties = self.plain_options()?;
        }
        // The older form: `render timechart kind=stacked title="x"`.
        while self.at(TokenKind::Ident) && self.kind_at(1) == TokenKind::Assign {
            let name = self.declared_name("a property")?;
            self.advance();
            let value = self.scalar()?;
            properties.push(OperatorOption { name, value });
        }
        Ok(OperatorKind::Render { chart, properties })
    }

    fn fork(&mut self) -> PResult<OperatorKind> {
        let mut branches = Vec::new();
        while self.at(TokenKind::LParen) || self.at(TokenKind::Ident) && self.kind_at(1) == TokenKind::Assign {
            let name = if self.at(TokenKind::Ident) {
                let name = self.declared_name("a branch name")?;
                self.advance();
                Some(name)
            } else {
                None
            };
            branches.push((name, self.subquery()?));
        }
        if branches.is_empty() {
            return Err(self.error_here("'(' and a subquery for each branch of fork"));
        }
        Ok(OperatorKind::Fork(branches))
    }

    fn facet(&mut self) -> PResult<OperatorKind> {
        self.expect_word("by")?;
        let mut columns = vec![self.declared_name("a column name")?];
        while self.eat(TokenKind::Comma) {
            columns.push(self.declared_name("a column name")?);
        }
        let with = if self.eat_word("with") { Some(self.subquery()?) } else { None };
        Ok(OperatorKind::Facet { columns, with })
    }

    fn partition(&mut self) -> PResult<OperatorKind> {
        let options = self.options()?;
        self.expect_word("by")?;
        let by = self.declared_name("a column name after 'by'")?;
        let subquery = if self.at(TokenKind::LBrace) {
            let open = self.advance();
            let expr = self.expr()?;
            self.expect_close(TokenKind::RBrace, &open, "the partition subquery")?;
            expr
        } else {
            self.subquery()?
        };
        Ok(OperatorKind::Partition { options, by, subquery })
    }

    fn scan(&mut self) -> PResult<ScanOperator> {
        let mut order_by = Vec::new();
        let mut partition_by = Vec::new();
        let options = self.options()?;
        loop {
            if self.at_word("order") && self.at_word_at(1, "by") {
                self.advance();
                self.advance();
                order_by = self.sort_keys()?;
            } else if self.at_word("partition") && self.at_word_at(1, "by") {
                self.advance();
                self.advance();
                partition_by = self.expr_list()?;
            } else {
                break;
            }
        }
        let declare = if self.eat_word("declare") {
            let open = self.expect(TokenKind::LParen, "'(' after declare")?;
            self.parameters(&open)?
        } else {
            Vec::new()
        };
        self.expect_word("with")?;
        let open = self.expect(TokenKind::LParen, "'(' and the scan steps")?;
        let mut steps = Vec::new();
        while self.at_word("step") {
            self.advance();
            let name = self.declared_name("a step name")?;
            let mut output = ScanOutput::All;
            if self.at_word("output") && self.kind_at(1) == TokenKind::Assign {
                self.advance();
                self.advance();
                output = match self.peek_text() {
                    "all" => ScanOutput::All,
                    "last" => ScanOutput::Last,
                    "none" => ScanOutput::None,
                    _ => return Err(self.error_here("all, last or none after output=")),
                };
                self.advance();
            }
            let optional = self.eat_word("optional");
            self.expect(TokenKind::Colon, "':' after the step name")?;
            let condition = self.scalar()?;
            let mut assignments = Vec::new();
            if self.eat(TokenKind::FatArrow) {
                loop {
                    let target = self.declared_name("a column to assign")?;
                    self.expect(TokenKind::Assign, "'='")?;
                    let value = self.scalar()?;
                    let span = target.span.to(value.span);
                    assignments.push(Assignment { names: vec![target], value, span });
                    if !self.eat(TokenKind::Comma) {
                        break;
                    }
                }
            }
            self.expect(TokenKind::Semicolon, "';' after the scan step")?;
            steps.push(ScanStep { name, output, optional, condition, assignments });
        }
        if steps.is_empty() {
            return Err(self.error_here("'step' in the scan"));
        }
        self.expect_close(TokenKind::RParen, &open, "the scan steps")?;
        Ok(ScanOperator { options, order_by, partition_by, declare, steps })
    }

    fn search(&mut self) -> PResult<OperatorKind> {
        let options = self.options()?;
        let tables = if self.at_word("in") && self.kind_at(1) == TokenKind::LParen {
            self.advance();
            let open = self.advance();
            let mut tables = vec![self.union_table()?];
            while self.eat(TokenKind::Comma) {
                tables.push(self.union_table()?);
            }
            self.expect_close(TokenKind::RParen, &open, "the table list")?;
            tables
        } else {
            Vec::new()
        };
        let predicate = self.scalar()?;
        Ok(OperatorKind::Search { options, tables, predicate })
    }

    fn find(&mut self) -> PResult<OperatorKind> {
        let options = self.options()?;
        let tables = if self.eat_word("in") {
            let open = self.expect(TokenKind::LParen, "'(' and the tables")?;
            let mut tables = vec![self.union_table()?];
            while self.eat(TokenKind::Comma) {
                tables.push(self.union_table()?);
            }
            self.expect_close(TokenKind::RParen, &open, "the table list")?;
            tables
        } else {
            Vec::new()
        };
        self.eat_word("where");
        let predicate = self.scalar()?;
        let project = if self.eat_word("project-smart") {
            None
        } else if self.eat_word("project") {
            Some(self.expr_list()?)
        } else {
            None
        };
        Ok(OperatorKind::Find { options, tables, predicate, project })
    }

    fn range(&mut self) -> PResult<OperatorKind> {
        let column = self.declared_name("the column name after 'range'")?;
        self.expect_word("from")?;
        let from = self.scalar()?;
        self.expect_word("to")?;
        let to = self.scalar()?;
        self.expect_word("step")?;
        let step = self.scalar()?;
        Ok(OperatorKind::Range { column, from, to, step })
    }

    fn datatable(&mut self) -> PResult<OperatorKind> {
        self.options()?;
        let open = self.expect(TokenKind::LParen, "'(' and the column declarations")?;
        let (columns, _) = self.column_declarations(&open)?;
        let open = self.expect(TokenKind::LBracket, "'[' and the values")?;
        let mut values = Vec::new();
        while !self.at(TokenKind::RBracket) {
            values.push(self.scalar()?);
            if !self.eat(TokenKind::Comma) {
                break;
            }
        }
        self.expect_close(TokenKind::RBracket, &open, "the datatable values")?;
        Ok(OperatorKind::Datatable { columns, values })
    }

    fn externaldata(&mut self) -> PResult<OperatorKind> {
        self.options()?;
        let open = self.expect(TokenKind::LParen, "'(' and the column declarations")?;
        let (columns, _) = self.column_declarations(&open)?;
        let open = self.expect(TokenKind::LBracket, "'[' and the storage URIs")?;
        let mut uris = Vec::new();
        while !self.at(TokenKind::RBracket) {
            uris.push(self.scalar()?);
            if !self.eat(TokenKind::Comma) {
                break;
            }
        }
        self.expect_close(TokenKind::RBracket, &open, "the URIs")?;
        let properties = if self.eat_word("with") { self.plain_options()? } else { Vec::new() };
        Ok(OperatorKind::ExternalData { columns, uris, properties })
    }

    /// Operators that begin a pipeline where an expression is expected (`print`, `range x from`,
    /// `datatable(...)`, `union`, `search`, `find`, `externaldata`, `evaluate`).
    pub(crate) fn source_operator(&mut self) -> PResult<Option<Expr>> {
        let word = self.peek_text();
        let next = self.kind_at(1);
        let is_source = match word {
            "print" => {
                !matches!(next, TokenKind::Assign | TokenKind::Dot | TokenKind::LBracket)
                    || self.kind_at(2) == TokenKind::String
            }
            "range" => next == TokenKind::Ident || next == TokenKind::LBracket,
            "datatable" => {
                next == TokenKind::LParen || (next == TokenKind::Ident && self.kind_at(2) == TokenKind::Assign)
            }
            "externaldata" | "external_data" => next == TokenKind::LParen,
            "union" => !matches!(
                next,
                TokenKind::Assign
                    | TokenKind::Comma
                    | TokenKind::Dot
                    | TokenKind::Eof
                    | TokenKind::Pipe
                    | TokenKind::RParen
            ),
            "search" | "find" => !matches!(
                next,
                TokenKind::Assign
                    | TokenKind::Comma
                    | TokenKind::Dot
                    | TokenKind::Pipe
                    | TokenKind::RParen
                    | TokenKind::Eof
            ),
            "evaluate" => next == TokenKind::Ident && self.kind_at(2) == TokenKind::LParen,
            _ => false,
        };
        if !is_source {
            return Ok(None);
        }
        let start = self.peek().span;
        let operator = self.operator_inner_no_end_check()?;
        let span = start.to(operator.span);
        Ok(Some(Expr::new(ExprKind::Source(Box::new(operator)), span)))
    }

    /// A source operator is followed by whatever may follow an expression, so unlike `operator`
    /// it does not check what comes after it.
    fn operator_inner_no_end_check(&mut self) -> PResult<Operator> {
        self.enter()?;
        let result = self.source_operator_body();
        self.leave();
        result
    }

    fn source_operator_body(&mut self) -> PResult<Operator> {
        let (name, name_span) = self.operator_name()?;
        let kind = match name.as_str() {
            "print" => OperatorKind::Print(if self.at_operator_end() { Vec::new() } else { self.assignments()? }),
            "range" => self.range()?,
            "datatable" => self.datatable()?,
            "externaldata" | "external_data" => self.externaldata()?,
            "union" => self.union()?,
            "search" => self.search()?,
            "find" => self.find()?,
            "evaluate" => self.evaluate()?,
            _ => return Err(self.error_here("a source operator")),
        };
        Ok(Operator { kind, span: name_span.to(self.previous_span()) })
    }
}
