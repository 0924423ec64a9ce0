//! Text to tokens. The lexer never fails: characters it cannot read become `Error` tokens and
//! unterminated strings become `String` tokens with a diagnostic, so the parser always has a
//! complete token stream to work with.

use crate::diagnostic::{Code, Diagnostic, Span};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A name or keyword (`where`, `TimeGenerated`, `$left`).
    Ident,
    /// An integer literal in decimal or `0x` hexadecimal.
    Int,
    /// A real literal (`1.5`, `1e3`).
    Real,
    /// A number with a time unit (`5m`, `1.5h`, `1tick`).
    Timespan,
    /// A string literal; its decoded value is in `Token::value`.
    String,
    Pipe,
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Comma,
    Semicolon,
    Dot,
    DotDot,
    Colon,
    Assign,
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    EqTilde,
    BangTilde,
    FatArrow,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Bang,
    Tilde,
    Question,
    At,
    /// A character that is not part of KQL.
    Error,
    Eof,
}

impl TokenKind {
    /// How the token is named in "expected X, found Y" messages.
    pub fn describe(self) -> &'static str {
        match self {
            TokenKind::Ident => "a name",
            TokenKind::Int => "an integer",
            TokenKind::Real => "a real number",
            TokenKind::Timespan => "a timespan",
            TokenKind::String => "a string",
            TokenKind::Pipe => "'|'",
            TokenKind::LParen => "'('",
            TokenKind::RParen => "')'",
            TokenKind::LBracket => "'['",
            TokenKind::RBracket => "']'",
            TokenKind::LBrace => "'{'",
            TokenKind::RBrace => "'}'",
            TokenKind::Comma => "','",
            TokenKind::Semicolon => "';'",
            TokenKind::Dot => "'.'",
            TokenKind::DotDot => "'..'",
            TokenKind::Colon => "':'",
            TokenKind::Assign => "'='",
            TokenKind::Eq => "'=='",
            TokenKind::NotEq => "'!='",
            TokenKind::Lt => "'<'",
            TokenKind::LtEq => "'<='",
            TokenKind::Gt => "'>'",
            TokenKind::GtEq => "'>='",
            TokenKind::EqTilde => "'=~'",
            TokenKind::BangTilde => "'!~'",
            TokenKind::FatArrow => "'=>'",
            TokenKind::Plus => "'+'",
            TokenKind::Minus => "'-'",
            TokenKind::Star => "'*'",
            TokenKind::Slash => "'/'",
            TokenKind::Percent => "'%'",
            TokenKind::Bang => "'!'",
            TokenKind::Tilde => "'~'",
            TokenKind::Question => "'?'",
            TokenKind::At => "'@'",
            TokenKind::Error => "an invalid character",
            TokenKind::Eof => "the end of the query",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub kind: TokenKind,
    pub span: Span,
    /// A line break lies between the previous token and this one.
    pub newline_before: bool,
    /// The decoded value of a string literal.
    pub value: Option<String>,
}

pub fn tokenize(source: &str) -> (Vec<Token>, Vec<Diagnostic>) {
    let mut lexer = Lexer {
        source,
        bytes: source.as_bytes(),
        pos: 0,
        tokens: Vec::new(),
        diagnostics: Vec::new(),
        newline_before: false,
    };
    lexer.run();
    (lexer.tokens, lexer.diagnostics)
}

struct Lexer<'a> {
    source: &'a str,
    bytes: &'a [u8],
    pos: usize,
    tokens: Vec<Token>,
    diagnostics: Vec<Diagnostic>,
    newline_before: bool,
}

impl Lexer<'_> {
    fn run(&mut self) {
        loop {
            self.skip_trivia();
            let start = self.pos;
            let Some(&byte) = self.bytes.get(self.pos) else {
                self.push(TokenKind::Eof, start, None);
                return;
            };
            match byte {
                b'\'' | b'"' => self.quoted_string(start, start, false),
                b'@' if matches!(self.peek(1), Some(b'\'' | b'"')) => self.quoted_string(start, start + 1, true),
                b'`' if self.source[start..].starts_with("```") => self.multiline_string(start),
                b'h' | b'H' if self.is_obfuscated_string_start() => {
                    let verbatim = self.peek(1) == Some(b'@');
                    let quote_at = start + 1 + usize::from(verbatim);
                    self.quoted_string(start, quote_at, verbatim)
                }
                b'0'..=b'9' => self.number(start),
                b'.' if matches!(self.peek(1), Some(b'0'..=b'9')) && !self.previous_is_value() => self.number(start),
                _ if is_ident_start(self.char_at(start)) => self.identifier(start),
                _ => self.punctuation(start),
            }
        }
    }

    fn peek(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.pos + ahead).copied()
    }

    fn char_at(&self, at: usize) -> char {
        self.source[at..].chars().next().unwrap_or('\0')
    }

    fn previous_is_value(&self) -> bool {
        self.tokens.last().is_some_and(|t| {
            t.span.end as usize == self.pos
                && matches!(t.kind, TokenKind::Ident | TokenKind::RParen | TokenKind::RBracket)
        })
    }

    fn is_obfuscated_string_start(&self) -> bool {
        match self.peek(1) {
            Some(b'\'' | b'"') => true,
            Some(b'@') => matches!(self.peek(2), Some(b'\'' | b'"')),
            _ => false,
        }
    }

    fn push(&mut self, kind: TokenKind, start: usize, value: Option<String>) {
        self.tokens.push(Token {
            kind,
            span: Span::new(start, self.pos),
            newline_before: std::mem::take(&mut self.newline_before),
            value,
        });
    }

    fn skip_trivia(&mut self) {
        while let Some(&byte) = self.bytes.get(self.pos) {
            match byte {
                b'\n' => {
                    self.newline_before = true;
                    self.pos += 1;
                }
                b' ' | b'\t' | b'\r' | 0x0b | 0x0c => self.pos += 1,
                b'/' if self.peek(1) == Some(b'/') => {
                    while self.bytes.get(self.pos).is_some_and(|&b| b != b'\n') {
                        self.pos += 1;
                    }
                }
                _ if byte >= 0x80 && self.char_at(self.pos).is_whitespace() => {
                    self.pos += self.char_at(self.pos).len_utf8();
                }
                _ => return,
            }
        }
    }

    fn identifier(&mut self, start: usize) {
        let mut end = start;
        for c in self.source[start..].chars() {
            if end == start && is_ident_start(c) || end > start && is_ident_continue(c) {
                end += c.len_utf8();
            } else {
                break;
            }
        }
        self.pos = end;
        self.push(TokenKind::Ident, start, None);
    }

    fn number(&mut self, start: usize) {
        let bytes = self.bytes;
        if bytes[start] == b'0' && matches!(self.peek(1), Some(b'x' | b'X')) {
            self.pos += 2;
            while self.bytes.get(self.pos).is_some_and(u8::is_ascii_hexdigit) {
                self.pos += 1;
            }
            self.push(TokenKind::Int, start, None);
            return;
        }
        let mut kind = TokenKind::Int;
        self.eat_digits();
        if self.peek(0) == Some(b'.') && self.peek(1).is_some_and(|b| b.is_ascii_digit()) {
            kind = TokenKind::Real;
            self.pos += 1;
            self.eat_digits();
        } else if self.peek(0) == Some(b'.')
            && self.peek(1) != Some(b'.')
            && !self.peek(1).is_some_and(is_ascii_ident_start)
        {
            // `1.` is a real number; `1..2` is a range and `x.1.y` never reaches here.
            kind = TokenKind::Real;
            self.pos += 1;
        }
        if matches!(self.peek(0), Some(b'e' | b'E')) {
            let sign = usize::from(matches!(self.peek(1), Some(b'+' | b'-')));
            if self.peek(1 + sign).is_some_and(|b| b.is_ascii_digit()) {
                kind = TokenKind::Real;
                self.pos += 1 + sign;
                self.eat_digits();
            }
        }
        if self.peek(0).is_some_and(|b| b.is_ascii_alphabetic()) {
            while self.peek(0).is_some_and(|b| b.is_ascii_alphabetic()) {
                self.pos += 1;
            }
            kind = TokenKind::Timespan;
        }
        self.push(kind, start, None);
    }

    fn eat_digits(&mut self) {
        while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
    }

    /// `'..'`, `".."`, verbatim `@'..'` and obfuscated `h'..'`; `quote_at` is the opening quote.
    fn quoted_string(&mut self, start: usize, quote_at: usize, verbatim: bool) {
        let quote = self.bytes[quote_at];
        self.pos = quote_at + 1;
        let mut value = String::new();
        loop {
            let Some(c) = self.source[self.pos..].chars().next() else {
                return self.unterminated(start, value);
            };
            if c == '\n' {
                return self.unterminated(start, value);
            }
            self.pos += c.len_utf8();
            if c as u32 == quote as u32 {
                if verbatim && self.peek(0) == Some(quote) {
                    self.pos += 1;
                    value.push(c);
                    continue;
                }
                break;
            }
            if c == '\\' && !verbatim {
                self.escape(&mut value);
            } else {
                value.push(c);
            }
        }
        self.push(TokenKind::String, start, Some(value));
    }

    fn escape(&mut self, value: &mut String) {
        let escape_start = self.pos - 1;
        let Some(c) = self.source[self.pos..].chars().next() else {
            return;
        };
        self.pos += c.len_utf8();
        match c {
            'n' => value.push('\n'),
            't' => value.push('\t'),
            'r' => value.push('\r'),
            '0' => value.push('\0'),
            'u' | 'x' => {
                let digits = if c == 'u' { 4 } else { 2 };
                let hex = self.source.get(self.pos..self.pos + digits);
                match hex.and_then(|h| u32::from_str_radix(h, 16).ok()).and_then(char::from_u32) {
                    Some(decoded) => {
                        self.pos += digits;
                        value.push(decoded);
                    }
                    None => {
                        self.diagnostics.push(Diagnostic::error(
                            Code::InvalidLiteral,
                            Span::new(escape_start, self.pos),
                            format!("invalid escape sequence '\\{c}': expected {digits} hexadecimal digits"),
                        ));
                    }
                }
            }
            other => value.push(other),
        }
    }

    fn unterminated(&mut self, start: usize, value: String) {
        self.diagnostics.push(
            Diagnostic::error(
                Code::UnterminatedString,
                Span::new(start, start + 1),
                "unterminated string literal: the closing quote is missing",
            )
            .with_help("close the string on the same line, or use ``` for a multi-line string"),
        );
        self.push(TokenKind::String, start, Some(value));
    }

    fn multiline_string(&mut self, start: usize) {
        let body_start = start + 3;
        match self.source[body_start..].find("```") {
            Some(length) => {
                self.pos = body_start + length + 3;
                let value = self.source[body_start..body_start + length].to_string();
                self.push(TokenKind::String, start, Some(value));
            }
            None => {
                self.pos = self.source.len();
                let value = self.source[body_start..].to_string();
                self.diagnostics.push(Diagnostic::error(
                    Code::UnterminatedString,
                    Span::new(start, body_start),
                    "unterminated multi-line string literal: the closing ``` is missing",
                ));
                self.push(TokenKind::String, start, Some(value));
            }
        }
    }

    fn punctuation(&mut self, start: usize) {
        let two = self.source.get(start..start + 2).unwrap_or("");
        let (kind, length) = match two {
            ".." => (TokenKind::DotDot, 2),
            "==" => (TokenKind::Eq, 2),
            "!=" => (TokenKind::NotEq, 2),
            "<>" => (TokenKind::NotEq, 2),
            "<=" => (TokenKind::LtEq, 2),
            ">=" => (TokenKind::GtEq, 2),
            "=~" => (TokenKind::EqTilde, 2),
            "!~" => (TokenKind::BangTilde, 2),
            "=>" => (TokenKind::FatArrow, 2),
            _ => {
                let kind = match self.bytes[start] {
                    b'|' => TokenKind::Pipe,
                    b'(' => TokenKind::LParen,
                    b')' => TokenKind::RParen,
                    b'[' => TokenKind::LBracket,
                    b']' => TokenKind::RBracket,
                    b'{' => TokenKind::LBrace,
                    b'}' => TokenKind::RBrace,
                    b',' => TokenKind::Comma,
                    b';' => TokenKind::Semicolon,
                    b'.' => TokenKind::Dot,
                    b':' => TokenKind::Colon,
                    b'=' => TokenKind::Assign,
                    b'<' => TokenKind::Lt,
                    b'>' => TokenKind::Gt,
                    b'+' => TokenKind::Plus,
                    b'-' => TokenKind::Minus,
                    b'*' => TokenKind::Star,
                    b'/' => TokenKind::Slash,
                    b'%' => TokenKind::Percent,
                    b'!' => TokenKind::Bang,
                    b'~' => TokenKind::Tilde,
                    b'?' => TokenKind::Question,
                    b'@' => TokenKind::At,
                    _ => TokenKind::Error,
                };
                let length = if kind == TokenKind::Error { self.char_at(start).len_utf8() } else { 1 };
                (kind, length)
            }
        };
        self.pos = start + length;
        if kind == TokenKind::Error {
            let c = self.char_at(start);
            self.diagnostics.push(Diagnostic::error(
                Code::InvalidCharacter,
                Span::new(start, self.pos),
                format!("unexpected character '{}' (U+{:04X})", c.escape_debug(), c as u32),
            ));
        }
        self.push(kind, start, None);
    }
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c == '$' || c.is_alphabetic()
}

fn is_ascii_ident_start(b: u8) -> bool {
    b == b'_' || b.is_ascii_alphabetic()
}

fn is_ident_continue(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(source: &str) -> Vec<TokenKind> {
        tokenize(source).0.into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn numbers_and_timespans() {
        use TokenKind::*;
        assert_eq!(kinds("1 1.5 1e3 0x1F 5m 1.5h 1tick"), [Int, Real, Real, Int, Timespan, Timespan, Timespan, Eof]);
        assert_eq!(kinds("0min .. 1min"), [Timespan, DotDot, Timespan, Eof]);
        assert_eq!(kinds("1..5"), [Int, DotDot, Int, Eof]);
    }

    #[test]
    fn string_forms() {
        let (tokens, diagnostics) = tokenize(
            r#"'a\'b' "c\"d" @'e''f' @"g\h" h'secret' ```multi
line```"#,
        );
        assert!(diagnostics.is_empty());
        let values: Vec<_> = tokens.iter().filter_map(|t| t.value.clone()).collect();
        assert_eq!(values, ["a'b", "c\"d", "e'f", "g\\h", "secret", "multi\nline"]);
    }

    #[test]
    fn unterminated_string_is_reported_at_its_quote() {
        let (tokens, diagnostics) = tokenize("print 'abc");
        assert_eq!(tokens[1].kind, TokenKind::String);
        assert_eq!(diagnostics[0].code, Code::UnterminatedString);
        assert_eq!(diagnostics[0].span, Span::new(6, 7));
    }

    #[test]
    fn comments_and_newlines() {
        let (tokens, _) = tokenize("T // comment\n| take 1");
        assert_eq!(tokens.len(), 5);
        assert!(tokens[1].newline_before);
    }
}
