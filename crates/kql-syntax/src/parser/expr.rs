//! Expressions: pipelines, precedence climbing for binary operators, postfix access, literals.

use super::{Abandoned, PResult, Parser, canonical_type_name};
use crate::ast::*;
use crate::diagnostic::{Code, Diagnostic, Span};
use crate::lexer::TokenKind;
use crate::literal;

/// Binding strength of binary operators; higher binds tighter.
const OR: u8 = 1;
const AND: u8 = 2;
const COMPARE: u8 = 3;
const ADD: u8 = 4;
const MULTIPLY: u8 = 5;

/// A binary operator recognized at the current position, and how many tokens it spans.
enum Infix {
    Binary(BinaryOp, u8),
    List(ListOp),
    Between { negated: bool },
}

impl Parser<'_> {
    /// A full expression, including `| operator` pipelines.
    pub(crate) fn expr(&mut self) -> PResult<Expr> {
        self.enter()?;
        let result = self.expr_inner();
        self.leave();
        result
    }

    fn expr_inner(&mut self) -> PResult<Expr> {
        let mut left = self.scalar()?;
        while self.at(TokenKind::Pipe) {
            self.advance();
            match self.operator() {
                Ok(operator) => {
                    let span = left.span.to(operator.span);
                    left = Expr::new(ExprKind::Pipe { input: Box::new(left), operator: Box::new(operator) }, span);
                }
                Err(Abandoned) => self.recover(),
            }
        }
        Ok(left)
    }

    /// An expression without a trailing pipeline: what an operator takes as its argument.
    pub(crate) fn scalar(&mut self) -> PResult<Expr> {
        self.binary(OR)
    }

    fn binary(&mut self, min_precedence: u8) -> PResult<Expr> {
        let mut left = self.unary()?;
        loop {
            let Some((infix, width)) = self.infix() else {
                return Ok(left);
            };
            let precedence = match infix {
                Infix::Binary(_, precedence) => precedence,
                Infix::List(_) | Infix::Between { .. } => COMPARE,
            };
            if precedence < min_precedence {
                return Ok(left);
            }
            for _ in 0..width {
                self.advance();
            }
            left = match infix {
                Infix::Binary(op, precedence) => {
                    let right = self.binary(precedence + 1)?;
                    let span = left.span.to(right.span);
                    Expr::new(ExprKind::Binary { op, left: Box::new(left), right: Box::new(right) }, span)
                }
                Infix::List(op) => self.list_operand(left, op)?,
                Infix::Between { negated } => self.between_operand(left, negated)?,
            };
        }
    }

    /// Recognizes a binary operator at the current token without consuming it.
    fn infix(&self) -> Option<(Infix, usize)> {
        use BinaryOp::*;
        let binary = |op, precedence| Some((Infix::Binary(op, precedence), 1));
        match self.kind() {
            TokenKind::Plus => binary(Add, ADD),
            TokenKind::Minus => binary(Subtract, ADD),
            TokenKind::Star => binary(Multiply, MULTIPLY),
            TokenKind::Slash => binary(Divide, MULTIPLY),
            TokenKind::Percent => binary(Modulo, MULTIPLY),
            // A single `=` in a predicate is the legacy spelling of `==`; assignments are
            // recognized before an expression is parsed, so this only sees comparisons.
            TokenKind::Eq | TokenKind::Assign => binary(Equal, COMPARE),
            TokenKind::NotEq => binary(NotEqual, COMPARE),
            TokenKind::Lt => binary(Less, COMPARE),
            TokenKind::LtEq => binary(LessOrEqual, COMPARE),
            TokenKind::Gt => binary(Greater, COMPARE),
            TokenKind::GtEq => binary(GreaterOrEqual, COMPARE),
            TokenKind::EqTilde => binary(EqualCi, COMPARE),
            TokenKind::BangTilde => binary(NotEqualCi, COMPARE),
            TokenKind::Bang if self.kind_at(1) == TokenKind::Ident && self.adjacent(0) => {
                let word = self.text(self.peek_at(1));
                if word == "in" {
                    let case_insensitive = self.kind_at(2) == TokenKind::Tilde && self.adjacent(1);
                    let op = ListOp::In { negated: true, case_insensitive };
                    return Some((Infix::List(op), 2 + usize::from(case_insensitive)));
                }
                if word == "between" {
                    return Some((Infix::Between { negated: true }, 2));
                }
                let op = string_op(word)?;
                let negated = StringOp { negated: true, ..op };
                Some((Infix::Binary(String(negated), COMPARE), 2))
            }
            TokenKind::Ident => {
                let word = self.peek_text();
                match word {
                    "and" => binary(And, AND),
                    "or" => binary(Or, OR),
                    "in" => {
                        let case_insensitive = self.kind_at(1) == TokenKind::Tilde && self.adjacent(0);
                        let op = ListOp::In { negated: false, case_insensitive };
                        Some((Infix::List(op), 1 + usize::from(case_insensitive)))
                    }
                    "has_any" => Some((Infix::List(ListOp::HasAny), 1)),
                    "has_all" => Some((Infix::List(ListOp::HasAll), 1)),
                    "between" => Some((Infix::Between { negated: false }, 1)),
                    "notbetween" => Some((Infix::Between { negated: true }, 1)),
                    "matches" if self.at_word_at(1, "regex") => {
                        let op = StringOp { kind: StringOpKind::MatchesRegex, negated: false, case_sensitive: true };
                        Some((Infix::Binary(String(op), COMPARE), 2))
                    }
                    _ => string_op(word).map(|op| (Infix::Binary(String(op), COMPARE), 1)),
                }
            }
            _ => None,
        }
    }

    /// The parenthesized list after `in`, `has_any`, `has_all`: scalars, a subquery, or one
    /// dynamic array expression.
    fn list_operand(&mut self, value: Expr, op: ListOp) -> PResult<Expr> {
        let items = if self.at(TokenKind::LParen) {
            let open = self.advance();
            if self.at(TokenKind::RParen) {
                return Err(self.error_here("at least one value in the list"));
            }
            let mut items = Vec::new();
            loop {
                items.push(self.expr()?);
                if !self.eat(TokenKind::Comma) {
                    break;
                }
            }
            self.expect_close(TokenKind::RParen, &open, "the list")?;
            items
        } else {
            // `x in SomeDynamicArray` and `x in (T)` written without parentheses.
            vec![self.unary()?]
        };
        let span = value.span.to(self.previous_span());
        Ok(Expr::new(ExprKind::List { op, value: Box::new(value), items }, span))
    }

    /// `between (low .. high)`
    fn between_operand(&mut self, value: Expr, negated: bool) -> PResult<Expr> {
        let open = self.expect(TokenKind::LParen, "'(' after between")?;
        let low = self.scalar()?;
        self.expect(TokenKind::DotDot, "'..' between the bounds")?;
        let high = self.scalar()?;
        let close = self.expect_close(TokenKind::RParen, &open, "the range of between")?;
        let span = value.span.to(close.span);
        Ok(Expr::new(
            ExprKind::Between { negated, value: Box::new(value), low: Box::new(low), high: Box::new(high) },
            span,
        ))
    }

    pub(crate) fn unary(&mut self) -> PResult<Expr> {
        let op = match self.kind() {
            TokenKind::Minus => UnaryOp::Negate,
            TokenKind::Plus => UnaryOp::Plus,
            _ => return self.postfix(),
        };
        let start = self.advance().span;
        self.enter()?;
        let operand = self.unary();
        self.leave();
        let operand = operand?;
        // Fold the sign into numeric literals so `-5` is a literal, as in `datatable`.
        if op == UnaryOp::Negate
            && let ExprKind::Literal(literal) = &operand.kind
            && let Some(negated) = negate_literal(literal)
        {
            return Ok(Expr::new(ExprKind::Literal(negated), start.to(operand.span)));
        }
        let span = start.to(operand.span);
        Ok(Expr::new(ExprKind::Unary { op, operand: Box::new(operand) }, span))
    }

    fn postfix(&mut self) -> PResult<Expr> {
        let mut expr = self.primary()?;
        loop {
            match self.kind() {
                TokenKind::Dot if self.kind_at(1) == TokenKind::LBracket && self.kind_at(2) != TokenKind::String => {
                    // `x.[0]` is accepted as `x[0]`.
                    self.advance();
                    let open = self.advance();
                    let index = self.expr()?;
                    let close = self.expect_close(TokenKind::RBracket, &open, "the index")?;
                    let span = expr.span.to(close.span);
                    expr = Expr::new(ExprKind::Index { target: Box::new(expr), index: Box::new(index) }, span);
                }
                TokenKind::Dot => {
                    self.advance();
                    let name = if self.at(TokenKind::LBracket) {
                        self.bracketed_name()?
                    } else if self.at(TokenKind::Ident) {
                        let token = self.advance();
                        Ident { name: self.text(&token).to_string(), span: token.span }
                    } else {
                        return Err(self.error_here("a property name after '.'"));
                    };
                    if self.at(TokenKind::LParen) {
                        // `cluster('c').database('d')`: a method-style call on the target.
                        let open = self.advance();
                        let mut args = vec![Argument { name: None, value: expr }];
                        args.extend(self.arguments(&open)?);
                        let span = args[0].value.span.to(self.previous_span());
                        expr = Expr::new(ExprKind::Call { function: name, args }, span);
                    } else {
                        let span = expr.span.to(name.span);
                        expr = Expr::new(ExprKind::Member { target: Box::new(expr), name }, span);
                    }
                }
                TokenKind::LBracket => {
                    let open = self.advance();
                    let index = self.expr()?;
                    let close = self.expect_close(TokenKind::RBracket, &open, "the index")?;
                    let span = expr.span.to(close.span);
                    expr = Expr::new(ExprKind::Index { target: Box::new(expr), index: Box::new(index) }, span);
                }
                _ => return Ok(expr),
            }
        }
    }

    fn primary(&mut self) -> PResult<Expr> {
        let token = self.peek().clone();
        match token.kind {
            TokenKind::Int => {
                self.advance();
                let text = self.text(&token);
                let value = parse_integer(text);
                match value {
                    Some(value) => Ok(Expr::new(ExprKind::Literal(integer_literal(value)), token.span)),
                    None => Err(self.invalid_literal(token.span, format!("integer literal {text} is out of range"))),
                }
            }
            TokenKind::Real => {
                self.advance();
                let text = self.text(&token);
                let value: f64 = text
                    .parse()
                    .map_err(|_| self.invalid_literal(token.span, format!("invalid real literal {text}")))?;
                Ok(Expr::new(ExprKind::Literal(Literal::Real(Some(value))), token.span))
            }
            TokenKind::Timespan => {
                self.advance();
                let text = self.text(&token);
                match literal::parse_timespan_with_unit(text) {
                    Some(nanos) => Ok(Expr::new(ExprKind::Literal(Literal::Timespan(Some(nanos))), token.span)),
                    None => Err(self.invalid_literal(
                        token.span,
                        format!("invalid timespan literal '{text}': expected a number and a unit (d, h, m, s, ms, microsecond, tick)"),
                    )),
                }
            }
            TokenKind::String => Ok(self.string_literal()),
            TokenKind::LParen => {
                let open = self.advance();
                let inner = self.expr()?;
                let close = self.expect_close(TokenKind::RParen, &open, "the parenthesized expression")?;
                Ok(Expr::new(ExprKind::Parenthesized(Box::new(inner)), open.span.to(close.span)))
            }
            TokenKind::LBracket if self.kind_at(1) == TokenKind::String && self.kind_at(2) == TokenKind::RBracket => {
                let ident = self.bracketed_name()?;
                let span = ident.span;
                Ok(Expr::new(ExprKind::Name(ident), span))
            }
            TokenKind::Star
                if matches!(
                    self.kind_at(1),
                    TokenKind::Comma
                        | TokenKind::RParen
                        | TokenKind::RBrace
                        | TokenKind::Pipe
                        | TokenKind::Semicolon
                        | TokenKind::Eof
                ) || self.peek_at(1).newline_before =>
            {
                self.advance();
                Ok(Expr::new(ExprKind::Wildcard("*".into()), token.span))
            }
            TokenKind::LBracket if self.kind_at(1) == TokenKind::String => {
                let open = self.advance();
                self.advance();
                Err(self.expect_close(TokenKind::RBracket, &open, "the bracketed name").unwrap_err())
            }
            TokenKind::Ident => self.identifier_primary(),
            TokenKind::Eof => Err(self.error_here("an expression")),
            _ => Err(self.error_here("an expression")),
        }
    }

    /// One or more adjacent string literals, concatenated (`"a" 'b'` is `"ab"`).
    fn string_literal(&mut self) -> Expr {
        let first = self.advance();
        let mut value = first.value.unwrap_or_default();
        let mut span = first.span;
        while self.at(TokenKind::String) {
            let next = self.advance();
            value.push_str(next.value.as_deref().unwrap_or(""));
            span = span.to(next.span);
        }
        Expr::new(ExprKind::Literal(Literal::String(value)), span)
    }

    pub(crate) fn invalid_literal(&mut self, span: Span, message: String) -> Abandoned {
        self.diagnostics.push(Diagnostic::error(Code::InvalidLiteral, span, message));
        Abandoned
    }

    fn identifier_primary(&mut self) -> PResult<Expr> {
        let token = self.peek().clone();
        let word = self.text(&token);
        let next = self.kind_at(1);
        match word {
            // Kusto reads `True` and `FALSE` as the literals too.
            "true" | "false" | "True" | "False" | "TRUE" | "FALSE" => {
                self.advance();
                let value = word.eq_ignore_ascii_case("true");
                return Ok(Expr::new(ExprKind::Literal(Literal::Bool(Some(value))), token.span));
            }
            "null" if next != TokenKind::LParen => {
                self.advance();
                return Ok(Expr::new(ExprKind::Literal(Literal::Null), token.span));
            }
            "typeof" if next == TokenKind::LParen => {
                self.advance();
                let open = self.advance();
                let ty = self.type_name()?;
                let close = self.expect_close(TokenKind::RParen, &open, "typeof")?;
                return Ok(Expr::new(ExprKind::TypeOf(ty), token.span.to(close.span)));
            }
            _ => {}
        }
        if next == TokenKind::LParen
            && let Some(literal) = self.typed_literal()?
        {
            return Ok(literal);
        }
        if let Some(source) = self.source_operator()? {
            return Ok(source);
        }
        self.advance();
        let ident = Ident { name: word.to_string(), span: token.span };
        if self.at(TokenKind::LParen) {
            let open = self.advance();
            let args = self.arguments(&open)?;
            let span = token.span.to(self.previous_span());
            return Ok(Expr::new(ExprKind::Call { function: ident, args }, span));
        }
        // `Prefix*` as a name pattern: wildcards in union and search table lists.
        if self.at(TokenKind::Star) && self.adjacent(0) && !self.star_is_multiplication() {
            let mut pattern = word.to_string();
            let mut span = token.span;
            while (self.at(TokenKind::Star) || self.at(TokenKind::Ident))
                && self.previous_span().end == self.peek().span.start
            {
                let part = self.advance();
                pattern.push_str(self.text(&part));
                span = span.to(part.span);
            }
            return Ok(Expr::new(ExprKind::Wildcard(pattern), span));
        }
        let span = ident.span;
        Ok(Expr::new(ExprKind::Name(ident), span))
    }

    /// In `a*b` the star multiplies; in `Sec*` followed by `,` `)` `|` or the end it is a wildcard.
    fn star_is_multiplication(&self) -> bool {
        let ends_wildcard = matches!(
            self.kind_at(1),
            TokenKind::Comma | TokenKind::RParen | TokenKind::Pipe | TokenKind::Semicolon | TokenKind::Eof
        );
        let continues_wildcard = self.kind_at(1) == TokenKind::Ident && self.adjacent(1);
        !ends_wildcard && !continues_wildcard
    }

    /// `(args)` after the opening parenthesis: `[name =] expr, ...`.
    pub(crate) fn arguments(&mut self, open: &crate::lexer::Token) -> PResult<Vec<Argument>> {
        let mut args = Vec::new();
        if self.eat(TokenKind::RParen) {
            return Ok(args);
        }
        loop {
            let name = if self.at(TokenKind::Ident) && self.kind_at(1) == TokenKind::Assign {
                let token = self.advance();
                self.advance();
                Some(Ident { name: self.text(&token).to_string(), span: token.span })
            } else {
                None
            };
            let value = self.expr()?;
            args.push(Argument { name, value });
            if self.eat(TokenKind::Comma) {
                continue;
            }
            self.expect_close(TokenKind::RParen, open, "the argument list")?;
            return Ok(args);
        }
    }

    /// `name = expr`, `(a, b) = expr` or `expr`.
    pub(crate) fn assignment(&mut self) -> PResult<Assignment> {
        let start = self.peek().span;
        let mut names = Vec::new();
        if self.at_tuple_assignment() {
            self.advance();
            loop {
                names.push(self.declared_name("a column name")?);
                if !self.eat(TokenKind::Comma) {
                    break;
                }
            }
            self.expect(TokenKind::RParen, "')' after the column names")?;
            self.expect(TokenKind::Assign, "'='")?;
        } else if self.at_name_followed_by_assign() {
            names.push(self.declared_name("a column name")?);
            self.expect(TokenKind::Assign, "'='")?;
        }
        let value = self.scalar()?;
        Ok(Assignment { names, span: start.to(value.span), value })
    }

    fn at_name_followed_by_assign(&self) -> bool {
        match self.kind() {
            TokenKind::Ident => self.kind_at(1) == TokenKind::Assign,
            TokenKind::LBracket => {
                self.kind_at(1) == TokenKind::String
                    && self.kind_at(2) == TokenKind::RBracket
                    && self.kind_at(3) == TokenKind::Assign
            }
            _ => false,
        }
    }

    fn at_tuple_assignment(&self) -> bool {
        if !self.at(TokenKind::LParen) {
            return false;
        }
        let mut ahead = 1;
        loop {
            match self.kind_at(ahead) {
                TokenKind::Ident => ahead += 1,
                TokenKind::LBracket
                    if self.kind_at(ahead + 1) == TokenKind::String
                        && self.kind_at(ahead + 2) == TokenKind::RBracket =>
                {
                    ahead += 3
                }
                _ => return false,
            }
            match self.kind_at(ahead) {
                TokenKind::Comma => ahead += 1,
                TokenKind::RParen => return self.kind_at(ahead + 1) == TokenKind::Assign,
                _ => return false,
            }
        }
    }

    /// `datetime(...)`, `timespan(...)`, `dynamic(...)`, `int(null)`...: literal forms whose
    /// content is not an ordinary expression. Returns `None` when the word is not one, or when
    /// its content is an expression (`int(x)` converts, as `toint(x)`).
    fn typed_literal(&mut self) -> PResult<Option<Expr>> {
        let token = self.peek().clone();
        let word = self.text(&token);
        let kind = match word {
            "datetime" | "date" => "datetime",
            "timespan" | "time" => "timespan",
            "guid" | "uuid" | "uniqueid" => "guid",
            "dynamic" => "dynamic",
            "bool" | "boolean" | "int" | "long" | "real" | "double" | "decimal" => {
                canonical_type_name(word).unwrap_or(word)
            }
            _ => return Ok(None),
        };
        let Some(close_index) = self.matching_paren(self.pos + 1) else {
            let open = self.tokens[self.pos + 1].clone();
            self.advance();
            self.advance();
            return Err(self.expect_close(TokenKind::RParen, &open, "the literal").unwrap_err());
        };
        let open_span = self.tokens[self.pos + 1].span;
        let close_span = self.tokens[close_index].span;
        let content_span = Span { start: open_span.end, end: close_span.start };
        let content = &self.source[content_span.range()];
        let leading_space = content.len() - content.trim_start().len();
        let raw = content.trim();
        // A single string token inside is the literal's text: `datetime("2015-12-14")`.
        let inner_tokens = &self.tokens[self.pos + 2..close_index];
        let text = match inner_tokens {
            [only] if only.kind == TokenKind::String && kind != "dynamic" => only.value.clone().unwrap_or_default(),
            _ => raw.to_string(),
        };
        let span = token.span.to(close_span);
        let literal = if text == "null" && kind != "dynamic" {
            null_literal(kind)
        } else {
            match kind {
                "datetime" => match literal::parse_datetime(&text) {
                    Some(nanos) => Literal::DateTime(Some(nanos)),
                    None => {
                        return Err(self.invalid_literal(content_span, format!("invalid datetime literal '{text}'")));
                    }
                },
                "timespan" => match literal::parse_timespan(&text) {
                    Some(nanos) => Literal::Timespan(Some(nanos)),
                    None => {
                        return Err(self.invalid_literal(content_span, format!("invalid timespan literal '{text}'")));
                    }
                },
                "guid" => match literal::normalize_guid(&text) {
                    Some(guid) => Literal::Guid(Some(guid)),
                    None => {
                        return Err(self.invalid_literal(content_span, format!("invalid guid literal '{text}'")));
                    }
                },
                "dynamic" => match super::dynamic::parse_dynamic(raw) {
                    Ok(json) => Literal::Dynamic(json),
                    Err((offset, message)) => {
                        let at = content_span.start as usize + leading_space + offset;
                        return Err(
                            self.invalid_literal(Span::new(at, at + 1), format!("invalid dynamic literal: {message}"))
                        );
                    }
                },
                _ => match scalar_literal(kind, &text) {
                    Some(literal) => literal,
                    None if kind == "int" && parse_signed_integer(&text).is_some() => {
                        return Err(self.invalid_literal(
                            content_span,
                            format!("int literal {text} is out of range; use long({text})"),
                        ));
                    }
                    // Not a literal: a conversion call such as `int(x)`.
                    None => return Ok(None),
                },
            }
        };
        self.pos = close_index + 1;
        Ok(Some(Expr::new(ExprKind::Literal(literal), span)))
    }

    /// The index of the `)` matching the `(` at `open_index`.
    fn matching_paren(&self, open_index: usize) -> Option<usize> {
        let mut depth = 0usize;
        for (index, token) in self.tokens.iter().enumerate().skip(open_index) {
            match token.kind {
                TokenKind::LParen => depth += 1,
                TokenKind::RParen => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(index);
                    }
                }
                TokenKind::Eof => return None,
                _ => {}
            }
        }
        None
    }
}

fn string_op(word: &str) -> Option<StringOp> {
    let (kind, case_sensitive, negated) = match word {
        "contains" => (StringOpKind::Contains, false, false),
        "contains_cs" | "containscs" => (StringOpKind::Contains, true, false),
        "notcontains" => (StringOpKind::Contains, false, true),
        "notcontainscs" => (StringOpKind::Contains, true, true),
        "startswith" => (StringOpKind::StartsWith, false, false),
        "startswith_cs" => (StringOpKind::StartsWith, true, false),
        "endswith" => (StringOpKind::EndsWith, false, false),
        "endswith_cs" => (StringOpKind::EndsWith, true, false),
        "has" => (StringOpKind::Has, false, false),
        "has_cs" => (StringOpKind::Has, true, false),
        "hasprefix" => (StringOpKind::HasPrefix, false, false),
        "hasprefix_cs" => (StringOpKind::HasPrefix, true, false),
        "hassuffix" => (StringOpKind::HasSuffix, false, false),
        "hassuffix_cs" => (StringOpKind::HasSuffix, true, false),
        _ => return None,
    };
    Some(StringOp { kind, negated, case_sensitive })
}

fn parse_integer(text: &str) -> Option<i64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok().map(|v| v as i64),
        None => text.parse().ok(),
    }
}

/// KQL integer literals are `long`; `int` only comes from `int(...)`.
fn integer_literal(value: i64) -> Literal {
    Literal::Long(Some(value))
}

fn negate_literal(literal: &Literal) -> Option<Literal> {
    Some(match literal {
        Literal::Long(Some(v)) => Literal::Long(Some(v.checked_neg()?)),
        Literal::Int(Some(v)) => Literal::Int(Some(v.checked_neg()?)),
        Literal::Real(Some(v)) => Literal::Real(Some(-v)),
        Literal::Timespan(Some(v)) => Literal::Timespan(Some(v.checked_neg()?)),
        _ => return None,
    })
}

fn null_literal(kind: &str) -> Literal {
    match kind {
        "bool" => Literal::Bool(None),
        "int" => Literal::Int(None),
        "long" => Literal::Long(None),
        "real" => Literal::Real(None),
        "decimal" => Literal::Decimal(None),
        "datetime" => Literal::DateTime(None),
        "timespan" => Literal::Timespan(None),
        "guid" => Literal::Guid(None),
        _ => Literal::Null,
    }
}

/// The content of `bool(...)`, `int(...)`, `long(...)`, `real(...)`, `decimal(...)`.
fn scalar_literal(kind: &str, text: &str) -> Option<Literal> {
    let text = text.trim();
    match kind {
        "bool" => match text.to_ascii_lowercase().as_str() {
            "true" | "1" => Some(Literal::Bool(Some(true))),
            "false" | "0" => Some(Literal::Bool(Some(false))),
            _ => None,
        },
        "int" => {
            let value = parse_signed_integer(text)?;
            Some(Literal::Int(Some(i32::try_from(value).ok()?)))
        }
        "long" => parse_signed_integer(text).map(|v| Literal::Long(Some(v))),
        "real" => {
            let value = match text.to_ascii_lowercase().as_str() {
                "nan" => f64::NAN,
                "inf" | "+inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                other => {
                    if !other.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+' || c == '.') {
                        return None;
                    }
                    other.parse().ok()?
                }
            };
            Some(Literal::Real(Some(value)))
        }
        "decimal" => {
            let valid = !text.is_empty()
                && text
                    .trim_start_matches(['-', '+'])
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '.' || c == 'e' || c == 'E' || c == '-' || c == '+');
            valid.then(|| Literal::Decimal(Some(text.to_string())))
        }
        _ => None,
    }
}

fn parse_signed_integer(text: &str) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest.trim()),
        None => (false, text.strip_prefix('+').unwrap_or(text).trim()),
    };
    let value = parse_integer(digits)?;
    Some(if negative { -value } else { value })
}
