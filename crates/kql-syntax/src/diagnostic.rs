//! Diagnostics: what went wrong, where, and what would have been right.
//!
//! A diagnostic carries a byte span into the query text. Rendering turns the span into
//! `line:column` and draws the offending line with a caret under it, the way rustc does.

use std::fmt;

/// A half-open byte range `[start, end)` into the query text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start: start as u32, end: end as u32 }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span { start: self.start.min(other.start), end: self.end.max(other.end) }
    }

    pub fn is_empty(self) -> bool {
        self.end <= self.start
    }

    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// A stable code per kind of problem, so tools can match on it and docs can explain it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// KS001: a token that cannot appear here.
    UnexpectedToken,
    /// KS002: the query ended where more was needed.
    UnexpectedEnd,
    /// KS003: a string literal without its closing quote.
    UnterminatedString,
    /// KS004: a bracket without its partner.
    UnbalancedBracket,
    /// KS005: a literal whose text is not a valid value of its type.
    InvalidLiteral,
    /// KS006: a character that is not part of the language.
    InvalidCharacter,
    /// KS007: an operator name after `|` that KQL does not have.
    UnknownOperator,
    /// KB001: a name that does not resolve to a column, table, variable or function.
    UnknownName,
    /// KB002: an expression whose type does not fit where it is used.
    TypeMismatch,
    /// KB003: a function called with the wrong number or kind of arguments.
    BadArguments,
    /// KB004: a construct the engine understands but does not run.
    Unsupported,
    /// KB005: a table or tabular function the workspace does not have (its solution, parser
    /// or custom table is not installed).
    UnknownTable,
    /// KE001: an error raised while running the query.
    Execution,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::UnexpectedToken => "KS001",
            Code::UnexpectedEnd => "KS002",
            Code::UnterminatedString => "KS003",
            Code::UnbalancedBracket => "KS004",
            Code::InvalidLiteral => "KS005",
            Code::InvalidCharacter => "KS006",
            Code::UnknownOperator => "KS007",
            Code::UnknownName => "KB001",
            Code::TypeMismatch => "KB002",
            Code::BadArguments => "KB003",
            Code::Unsupported => "KB004",
            Code::UnknownTable => "KB005",
            Code::Execution => "KE001",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: Code,
    pub message: String,
    pub span: Span,
    /// A hint such as "did you mean 'Username'?".
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic { severity: Severity::Error, code, message: message.into(), span, help: None }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Renders for people: `error[KS001]: message` then `--> line:col`, the source line and a caret.
    pub fn render(&self, source: &str) -> String {
        let position = LineCol::of(source, self.span.start as usize);
        let line_text = source.lines().nth(position.line - 1).unwrap_or("");
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let gutter = position.line.to_string();
        let pad = " ".repeat(gutter.len());
        let caret_start: usize =
            line_text.chars().take(position.column - 1).map(|c| if c == '\t' { 4 } else { 1 }).sum();
        let span_chars =
            source.get(self.span.range()).map(|s| s.lines().next().unwrap_or("").chars().count()).unwrap_or(0).max(1);
        let shown_line = line_text.replace('\t', "    ");
        let mut out = format!(
            "{severity}[{}]: {}\n{pad}--> {}:{}\n{pad} |\n{gutter} | {shown_line}\n{pad} | {}{}",
            self.code.as_str(),
            self.message,
            position.line,
            position.column,
            " ".repeat(caret_start),
            "^".repeat(span_chars)
        );
        if let Some(help) = &self.help {
            out.push_str(&format!("\n{pad} = help: {help}"));
        }
        out
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        if let Some(help) = &self.help {
            write!(f, " ({help})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

/// A 1-based line and column (in characters) of a byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineCol {
    pub line: usize,
    pub column: usize,
}

impl LineCol {
    pub fn of(source: &str, offset: usize) -> LineCol {
        let offset = offset.min(source.len());
        let before = source.get(..offset).unwrap_or(source);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let column = before[line_start..].chars().count() + 1;
        LineCol { line, column }
    }
}

/// The closest candidate by edit distance, if it is close enough to be a plausible typo.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_lowercase();
    let limit = (name.chars().count() / 3).clamp(1, 3);
    candidates
        .into_iter()
        .map(|candidate| (edit_distance(&lower, &candidate.to_lowercase()), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_line_column_and_caret() {
        let source = "T\n| where x ==\n| take 1";
        let diagnostic = Diagnostic::error(Code::UnexpectedToken, Span::new(15, 16), "expected an expression");
        let rendered = diagnostic.render(source);
        assert!(rendered.contains("--> 3:1"), "{rendered}");
        assert!(rendered.ends_with("3 | | take 1\n  | ^"), "{rendered}");
    }

    #[test]
    fn suggests_close_names_only() {
        let names = ["Username", "TimeGenerated", "Computer"];
        assert_eq!(suggest("Usernme", names), Some("Username"));
        assert_eq!(suggest("timegenerated", names), Some("TimeGenerated"));
        assert_eq!(suggest("Elephant", names), None);
    }
}
