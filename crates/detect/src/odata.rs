//! OData `$filter` support for the Defender-compatible alerts and incidents APIs.
//!
//! Parses the subset of OData v4 `$filter` that Microsoft Defender's alerts and
//! incidents endpoints accept and translates it into a SQLite `WHERE` clause with
//! positional `?` parameters:
//!
//! - comparisons `prop eq|ne|gt|ge|lt|le value` and `prop in ('a', 'b')`;
//! - `and`, `or`, `not` and parentheses, with precedence not > comparison > and > or;
//! - values: `'quoted'` strings (`''` escapes a quote), `null`, integers, and
//!   DateTimeOffset literals, bare (`2024-01-02T03:04:05Z`, `2024-01-02T03:04:05.123+02:00`,
//!   `2024-01-02`) or quoted. Date-times become UTC text with seven fractional digits
//!   (`2024-01-02T03:04:05.1230000Z`), the form the store keeps, so text order is time order.
//!
//! Functions (`contains`, `startswith`, ...), arithmetic, lambdas and property paths are
//! rejected with a positioned error. Column expressions come only from the caller's
//! [`Property`] table and every value is bound, so no input can inject SQL.

use std::fmt;

const MAX_FILTER_CHARS: usize = 4096;
/// Bounds recursion so hostile input gets an error instead of a stack overflow.
const MAX_NESTING: usize = 32;
const SUPPORTED_OPERATORS: &str = "eq, ne, gt, ge, lt, le, in";
const KEYWORDS: &[&str] = &["and", "or", "not", "eq", "ne", "gt", "ge", "lt", "le", "in", "null"];

/// The kind of value a filterable property holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertyKind {
    Text,
    DateTime,
    Integer,
}

/// A property clients may filter on, and the SQL expression it maps to.
#[derive(Debug, Clone, Copy)]
pub struct Property {
    pub name: &'static str,
    pub sql: &'static str,
    pub kind: PropertyKind,
}

/// A value bound to a `?` placeholder, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Text(String),
    Integer(i64),
}

/// A rejected filter. `message` is complete and already names `position`
/// (a 0-based char offset into the filter), so it can be shown as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ODataError {
    pub message: String,
    pub position: usize,
}

impl fmt::Display for ODataError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "$filter: {}", self.message)
    }
}

impl std::error::Error for ODataError {}

/// A translated filter: `sql` is a boolean expression whose `?` placeholders bind `params`.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlFilter {
    pub sql: String,
    pub params: Vec<SqlValue>,
}

/// Translates `$orderby` (`property [asc|desc]`, comma-separated) into an SQL `ORDER BY` list.
pub fn order_by_to_sql(text: &str, properties: &[Property]) -> Result<String, ODataError> {
    let mut terms = Vec::new();
    let mut offset = 0;
    for part in text.split(',') {
        let trimmed = part.trim();
        let position = offset + part.len() - part.trim_start().len();
        offset += part.len() + 1;
        let mut words = trimmed.split_whitespace();
        let Some(name) = words.next() else {
            return fail(position, "an empty $orderby term", "write 'property asc' or 'property desc'");
        };
        let property = properties.iter().find(|p| p.name.eq_ignore_ascii_case(name)).ok_or_else(|| {
            let mut names: Vec<&str> = properties.iter().map(|p| p.name).collect();
            names.sort_by_key(|n| n.to_ascii_lowercase());
            ODataError {
                message: format!(
                    "unknown property '{name}' at position {position}; sortable properties: {}",
                    names.join(", ")
                ),
                position,
            }
        })?;
        let direction = match words.next().map(str::to_ascii_lowercase).as_deref() {
            None | Some("asc") => "ASC",
            Some("desc") => "DESC",
            Some(other) => return fail(position, format!("unknown direction '{other}'"), "use asc or desc"),
        };
        if words.next().is_some() {
            return fail(position, format!("too many words in '{trimmed}'"), "write 'property asc' or 'property desc'");
        }
        terms.push(format!("{} {direction}", property.sql));
    }
    Ok(terms.join(", "))
}

/// Parses `filter` and translates it for `properties`.
pub fn filter_to_sql(filter: &str, properties: &[Property]) -> Result<SqlFilter, ODataError> {
    let length = filter.chars().count();
    if length > MAX_FILTER_CHARS {
        let hint = format!("it is {length} characters long");
        return fail(MAX_FILTER_CHARS, format!("filter exceeds the {MAX_FILTER_CHARS}-character limit"), &hint);
    }
    let tokens = tokenize(filter)?;
    if tokens.is_empty() {
        return fail(0, "empty filter", "expected a comparison such as severity eq 'High'");
    }
    let mut parser = Parser { tokens, cursor: 0, end_position: length, properties, params: Vec::new() };
    let sql = parser.or_expression(0)?;
    if let Some(extra) = parser.peek() {
        return unexpected(extra, "'and', 'or' or the end of the filter");
    }
    Ok(SqlFilter { sql, params: parser.params })
}

fn fail<T>(position: usize, what: impl fmt::Display, hint: &str) -> Result<T, ODataError> {
    let message = match hint {
        "" => format!("{what} at position {position}"),
        _ => format!("{what} at position {position}; {hint}"),
    };
    Err(ODataError { message, position })
}

/// OData keywords are case-sensitive; `AND` or `EQ` is the commonest client mistake.
fn case_hint(word: &str) -> &'static str {
    let lower = word.to_ascii_lowercase();
    if lower != word && KEYWORDS.contains(&lower.as_str()) { " (keywords are lowercase)" } else { "" }
}

fn unexpected<T>(found: &Located, expected: &str) -> Result<T, ODataError> {
    let hint = match &found.token {
        Token::Word(word) => case_hint(word),
        _ => "",
    };
    fail(found.position, format!("unexpected {}", found.token), &format!("expected {expected}{hint}"))
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    /// Unquoted numbers and date-times, classified once the property's kind is known.
    Bare(String),
    /// Runs like `=` or `>=`, kept so the error can say they are not OData operators.
    Symbol(String),
    Open,
    Close,
    Comma,
}

impl fmt::Display for Token {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Word(text) | Self::Bare(text) | Self::Symbol(text) => write!(formatter, "'{text}'"),
            Self::Quoted(text) => write!(formatter, "string '{}'", text.replace('\'', "''")),
            Self::Open => formatter.write_str("'('"),
            Self::Close => formatter.write_str("')'"),
            Self::Comma => formatter.write_str("','"),
        }
    }
}

#[derive(Debug, Clone)]
struct Located {
    token: Token,
    position: usize,
}

fn tokenize(filter: &str) -> Result<Vec<Located>, ODataError> {
    let chars: Vec<char> = filter.chars().collect();
    let scan = |from: usize, accepts: fn(&char) -> bool, make: fn(String) -> Token| {
        let end = from + chars[from..].iter().take_while(|&c| accepts(c)).count();
        (make(chars[from..end].iter().collect()), end)
    };
    let mut tokens = Vec::new();
    let mut index = 0;
    while let Some(&current) = chars.get(index) {
        let (token, end) = match current {
            _ if current.is_whitespace() => {
                index += 1;
                continue;
            }
            '(' => (Token::Open, index + 1),
            ')' => (Token::Close, index + 1),
            ',' => (Token::Comma, index + 1),
            '\'' => read_quoted(&chars, index)?,
            'a'..='z' | 'A'..='Z' | '_' => scan(index, |c| c.is_ascii_alphanumeric() || *c == '_', Token::Word),
            '0'..='9' | '-' => scan(index, |c| c.is_ascii_alphanumeric() || ".:+-".contains(*c), Token::Bare),
            '=' | '<' | '>' | '!' => scan(index, |c| "=<>!".contains(*c), Token::Symbol),
            other => return fail(index, format!("unexpected character '{other}'"), ""),
        };
        tokens.push(Located { token, position: index });
        index = end;
    }
    Ok(tokens)
}

fn read_quoted(chars: &[char], start: usize) -> Result<(Token, usize), ODataError> {
    let mut text = String::new();
    let mut index = start + 1;
    loop {
        match (chars.get(index), chars.get(index + 1)) {
            (None, _) => return fail(start, "unterminated string literal", "close it with ' (write '' for a quote)"),
            (Some('\''), Some('\'')) => {
                text.push('\'');
                index += 2;
            }
            (Some('\''), _) => return Ok((Token::Quoted(text), index + 1)),
            (Some(&other), _) => {
                text.push(other);
                index += 1;
            }
        }
    }
}

struct Parser<'a> {
    tokens: Vec<Located>,
    cursor: usize,
    end_position: usize,
    properties: &'a [Property],
    params: Vec<SqlValue>,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&Located> {
        self.tokens.get(self.cursor)
    }

    fn next_is(&self, expected: &Token) -> bool {
        self.peek().is_some_and(|located| &located.token == expected)
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = self.next_is(&Token::Word(keyword.to_owned()));
        self.cursor += usize::from(found);
        found
    }

    /// Consumes the next token, or says what was expected when the filter ran out.
    fn advance(&mut self, expected: &str) -> Result<Located, ODataError> {
        let located = match self.tokens.get(self.cursor) {
            Some(located) => located.clone(),
            None => return fail(self.end_position, "unexpected end of filter", &format!("expected {expected}")),
        };
        self.cursor += 1;
        Ok(located)
    }

    // SQLite's NOT > AND > OR precedence matches OData's, so joining operands
    // without extra parentheses keeps the grouping the client wrote.
    fn or_expression(&mut self, depth: usize) -> Result<String, ODataError> {
        let mut sql = self.and_expression(depth)?;
        while self.eat_keyword("or") {
            sql = format!("{sql} OR {}", self.and_expression(depth)?);
        }
        Ok(sql)
    }

    fn and_expression(&mut self, depth: usize) -> Result<String, ODataError> {
        let mut sql = self.unary(depth)?;
        while self.eat_keyword("and") {
            sql = format!("{sql} AND {}", self.unary(depth)?);
        }
        Ok(sql)
    }

    fn unary(&mut self, depth: usize) -> Result<String, ODataError> {
        let Located { token, position } = self.advance("a comparison, 'not' or '('")?;
        let nested = || match depth {
            MAX_NESTING.. => fail(position, format!("nesting deeper than {MAX_NESTING} levels"), "flatten the filter"),
            _ => Ok(depth + 1),
        };
        match token {
            // Strictly `not` binds tighter than `eq`, but with no boolean properties
            // `not severity eq 'Low'` has only one well-typed reading, so take it.
            Token::Word(word) if word == "not" => Ok(format!("(NOT {})", self.unary(nested()?)?)),
            Token::Open => {
                let inner = self.or_expression(nested()?)?;
                let expected = format!("'and', 'or' or ')' to close '(' at position {position}");
                let close = self.advance(&expected)?;
                match close.token {
                    Token::Close => Ok(format!("({inner})")),
                    _ => unexpected(&close, &expected),
                }
            }
            Token::Word(word) if word != "and" && word != "or" => self.comparison(&word, position),
            other => unexpected(&Located { token: other, position }, "a property name, 'not' or '('"),
        }
    }

    fn comparison(&mut self, name: &str, position: usize) -> Result<String, ODataError> {
        if self.next_is(&Token::Open) {
            return self.string_function(name, position);
        }
        let property = self.property(name, position)?;
        let expected = format!("an operator after '{}' ({SUPPORTED_OPERATORS})", property.name);
        let operator = self.advance(&expected)?;
        let (Token::Word(word) | Token::Symbol(word)) = &operator.token else {
            return unexpected(&operator, &expected);
        };
        let (comparator, ordering) = match word.as_str() {
            "in" => return self.in_list(property),
            "eq" => ("IS", false),
            "ne" => ("IS NOT", false),
            "gt" => (">", true),
            "ge" => (">=", true),
            "lt" => ("<", true),
            "le" => ("<=", true),
            _ => {
                let hint = format!("supported operators: {SUPPORTED_OPERATORS}{}", case_hint(word));
                return fail(operator.position, format!("unknown operator '{word}'"), &hint);
            }
        };
        let column = property.sql;
        let (value, value_position) = self.value(property)?;
        let Some(value) = value else {
            if ordering {
                return fail(value_position, format!("null cannot be ordered with '{word}'"), "use eq null or ne null");
            }
            return Ok(format!("({column} {comparator} NULL)"));
        };
        self.params.push(value);
        let collation = collation_for(property);
        // OData comparisons are two-valued (`null ne 'High'` is true, `null gt x` is false),
        // while SQL's NULL would make `not (severity eq 'Low')` drop rows lacking a severity.
        Ok(match ordering {
            true => format!("({column} IS NOT NULL AND {column} {comparator} ?{collation})"),
            false => format!("({column} {comparator} ?{collation})"),
        })
    }

    /// `contains(p, 'x')`, `startswith(p, 'x')`, `endswith(p, 'x')` on a text property,
    /// case-insensitive as the other text comparisons are.
    fn string_function(&mut self, name: &str, position: usize) -> Result<String, ODataError> {
        let (before, after) = match name.to_ascii_lowercase().as_str() {
            "contains" => ("%", "%"),
            "startswith" => ("", "%"),
            "endswith" => ("%", ""),
            _ => {
                let what = format!("function '{name}' is not supported in $filter");
                return fail(position, what, "use comparisons, contains, startswith or endswith");
            }
        };
        self.advance("'('")?;
        let expected = format!("a text property as the first argument of '{name}'");
        let argument = self.advance(&expected)?;
        let Token::Word(property_name) = &argument.token else {
            return unexpected(&argument, &expected);
        };
        let property = self.property(property_name, argument.position)?;
        if property.kind != PropertyKind::Text {
            return fail(argument.position, format!("'{name}' needs a text property, not '{}'", property.name), "");
        }
        let comma = self.advance("',' between the arguments")?;
        if comma.token != Token::Comma {
            return unexpected(&comma, "',' between the arguments");
        }
        let (value, value_position) = self.value(property)?;
        let Some(SqlValue::Text(text)) = value else {
            return fail(value_position, format!("'{name}' needs a quoted string"), "");
        };
        let close = self.advance("')' after the arguments")?;
        if close.token != Token::Close {
            return unexpected(&close, "')' after the arguments");
        }
        let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        self.params.push(SqlValue::Text(format!("{before}{escaped}{after}")));
        self.params.push(SqlValue::Text("\\".to_owned()));
        let column = property.sql;
        Ok(format!("({column} IS NOT NULL AND {column} LIKE ? ESCAPE ?)"))
    }

    fn in_list(&mut self, property: &Property) -> Result<String, ODataError> {
        let open = self.advance("'(' after 'in'")?;
        if open.token != Token::Open {
            return unexpected(&open, "'(' after 'in'");
        }
        let mut placeholders = Vec::new();
        loop {
            let (value, position) = self.value(property)?;
            let Some(value) = value else {
                let hint = format!("use '{} eq null' instead", property.name);
                return fail(position, "null is not allowed in an 'in' list", &hint);
            };
            self.params.push(value);
            placeholders.push("?");
            let separator = self.advance("',' or ')' in the 'in' list")?;
            match separator.token {
                Token::Comma => {}
                Token::Close => break,
                _ => return unexpected(&separator, "',' or ')' in the 'in' list"),
            }
        }
        let column = property.sql;
        let collation = collation_for(property);
        Ok(format!("({column} IS NOT NULL AND {column}{collation} IN ({}))", placeholders.join(", ")))
    }

    /// Reads one literal and checks it against the property's kind; `None` is `null`.
    fn value(&mut self, property: &Property) -> Result<(Option<SqlValue>, usize), ODataError> {
        let expected = "a value ('quoted string', number, date-time or null)";
        let located = self.advance(expected)?;
        let name = property.name;
        let checked = match (&located.token, property.kind) {
            (Token::Word(word), _) if word == "null" => Ok(None),
            (Token::Word(word), _) if self.next_is(&Token::Open) => {
                Err((format!("function '{word}' is not supported in $filter"), "use a literal value".to_owned()))
            }
            (Token::Quoted(text), PropertyKind::Text) => Ok(Some(SqlValue::Text(text.clone()))),
            (Token::Word(text) | Token::Bare(text), PropertyKind::Text) => {
                Err((format!("'{name}' needs a quoted string, not {text}"), format!("write '{text}'")))
            }
            (Token::Quoted(text), PropertyKind::Integer) => {
                Err((format!("'{name}' needs an integer, not string '{text}'"), "remove the quotes".to_owned()))
            }
            (Token::Bare(text), PropertyKind::Integer) => match text.parse() {
                Ok(number) => Ok(Some(SqlValue::Integer(number))),
                Err(_) => Err((format!("'{text}' is not a 64-bit integer for '{name}'"), String::new())),
            },
            (Token::Quoted(text) | Token::Bare(text), PropertyKind::DateTime) => match parse_datetime(text) {
                Ok(utc) => Ok(Some(SqlValue::Text(utc))),
                Err(reason) => Err((format!("'{text}' is not a valid date-time for '{name}'"), reason.to_owned())),
            },
            _ => return unexpected(&located, expected),
        };
        match checked {
            Ok(value) => Ok((value, located.position)),
            Err((what, hint)) => fail(located.position, what, &hint),
        }
    }

    fn property(&self, name: &str, position: usize) -> Result<&'a Property, ODataError> {
        if let Some(property) = self.properties.iter().find(|property| property.name.eq_ignore_ascii_case(name)) {
            return Ok(property);
        }
        let mut names: Vec<&str> = self.properties.iter().map(|property| property.name).collect();
        names.sort_by_key(|name| name.to_ascii_lowercase());
        fail(position, format!("unknown property '{name}'"), &format!("filterable properties: {}", names.join(", ")))
    }
}

/// Defender's enum values (`High`, `InProgress`) arrive in any case from clients.
fn collation_for(property: &Property) -> &'static str {
    if property.kind == PropertyKind::Text { " COLLATE NOCASE" } else { "" }
}

struct Reader<'a> {
    bytes: &'a [u8],
    index: usize,
}

impl Reader<'_> {
    fn number(&mut self, width: usize, reason: &'static str) -> Result<i64, &'static str> {
        let digits =
            self.bytes.get(self.index..self.index + width).filter(|digits| digits.iter().all(u8::is_ascii_digit));
        let digits = digits.ok_or(reason)?;
        self.index += width;
        Ok(digits.iter().fold(0, |total, digit| total * 10 + i64::from(digit - b'0')))
    }

    fn eat(&mut self, accepted: &[u8]) -> Option<u8> {
        let byte = *self.bytes.get(self.index).filter(|byte| accepted.contains(byte))?;
        self.index += 1;
        Some(byte)
    }

    fn at_end(&self) -> bool {
        self.index >= self.bytes.len()
    }
}

fn ensure(condition: bool, reason: &'static str) -> Result<(), &'static str> {
    if condition { Ok(()) } else { Err(reason) }
}

/// Normalises an OData date or DateTimeOffset to `YYYY-MM-DDThh:mm:ss.fffffffZ` in UTC.
fn parse_datetime(text: &str) -> Result<String, &'static str> {
    let mut input = Reader { bytes: text.as_bytes(), index: 0 };
    let year = input.number(4, "expected a four-digit year")?;
    input.eat(b"-").ok_or("expected '-' after the year")?;
    let month = input.number(2, "expected a two-digit month")?;
    input.eat(b"-").ok_or("expected '-' after the month")?;
    let day = input.number(2, "expected a two-digit day")?;
    ensure((1..=12).contains(&month), "month must be 01 to 12")?;
    ensure((1..=days_in_month(year, month)).contains(&day), "no such day in that month")?;
    let (mut second_of_day, mut ticks, mut offset_seconds) = (0, 0, 0);
    if !input.at_end() {
        input.eat(b"Tt").ok_or("expected 'T' between date and time")?;
        let hour = input.number(2, "expected a two-digit hour")?;
        input.eat(b":").ok_or("expected ':' after the hour")?;
        let minute = input.number(2, "expected two-digit minutes")?;
        let second = if input.eat(b":").is_some() { input.number(2, "expected two-digit seconds")? } else { 0 };
        ensure(hour < 24 && minute < 60 && second < 60, "time of day out of range")?;
        second_of_day = hour * 3600 + minute * 60 + second;
        if input.eat(b".").is_some() {
            let fraction_start = input.index;
            while input.eat(b"0123456789").is_some() {}
            let fraction = &input.bytes[fraction_start..input.index];
            ensure(!fraction.is_empty(), "expected digits after '.'")?;
            // The store keeps 100 ns ticks like .NET, so digits past the seventh are dropped.
            let padded = fraction.iter().chain(b"000000").take(7);
            ticks = padded.fold(0, |total, digit| total * 10 + i64::from(digit - b'0'));
        }
        offset_seconds = match input.eat(b"Zz+-").ok_or("expected a time zone, Z or +hh:mm or -hh:mm")? {
            b'Z' | b'z' => 0,
            sign => {
                let hours = input.number(2, "expected a two-digit offset hour")?;
                input.eat(b":").ok_or("expected ':' in the time-zone offset")?;
                let minutes = input.number(2, "expected two-digit offset minutes")?;
                ensure(hours < 24 && minutes < 60, "time-zone offset out of range")?;
                (hours * 3600 + minutes * 60) * if sign == b'-' { -1 } else { 1 }
            }
        };
        ensure(input.at_end(), "unexpected characters after the time zone")?;
    }
    let utc_seconds = days_from_civil(year, month, day) * 86_400 + second_of_day - offset_seconds;
    let (year, month, day) = civil_from_days(utc_seconds.div_euclid(86_400));
    ensure((1..=9999).contains(&year), "year out of range 0001 to 9999 in UTC")?;
    let second_of_day = utc_seconds.rem_euclid(86_400);
    let (hour, minute, second) = (second_of_day / 3600, second_of_day % 3600 / 60, second_of_day % 60);
    Ok(format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{ticks:07}Z"))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    match month {
        2 => 28 + i64::from(leap),
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's algorithm,
/// which counts years from March so the leap day falls at the end).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let (era, year_of_era) = (year.div_euclid(400), year.rem_euclid(400));
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let (era, day_of_era) = (days.div_euclid(146_097), days.rem_euclid(146_097));
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let march_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * march_month + 2) / 5 + 1;
    let month = if march_month < 10 { march_month + 3 } else { march_month - 9 };
    (era * 400 + year_of_era + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROPERTIES: &[Property] = &[
        Property { name: "alertCreationTime", sql: "alert_creation_time", kind: PropertyKind::DateTime },
        Property { name: "lastUpdateTime", sql: "last_update_time", kind: PropertyKind::DateTime },
        Property { name: "severity", sql: "severity", kind: PropertyKind::Text },
        Property { name: "status", sql: "status", kind: PropertyKind::Text },
        Property { name: "assignedTo", sql: "assigned_to", kind: PropertyKind::Text },
        Property { name: "incidentId", sql: "incident_id", kind: PropertyKind::Integer },
    ];

    fn translate(filter: &str) -> (String, Vec<SqlValue>) {
        let translated = filter_to_sql(filter, PROPERTIES).unwrap();
        (translated.sql, translated.params)
    }

    fn text(value: &str) -> SqlValue {
        SqlValue::Text(value.to_owned())
    }

    #[test]
    fn defender_documentation_samples() {
        let (sql, params) = translate("alertCreationTime ge 2019-11-22T00:00:00Z");
        assert_eq!(sql, "(alert_creation_time IS NOT NULL AND alert_creation_time >= ?)");
        assert_eq!(params, [text("2019-11-22T00:00:00.0000000Z")]);
        let (sql, params) = translate("severity eq 'High' and status eq 'New'");
        assert_eq!(sql, "(severity IS ? COLLATE NOCASE) AND (status IS ? COLLATE NOCASE)");
        assert_eq!(params, [text("High"), text("New")]);
        let (sql, params) = translate("status in ('New','InProgress')");
        assert_eq!(sql, "(status IS NOT NULL AND status COLLATE NOCASE IN (?, ?))");
        assert_eq!(params, [text("New"), text("InProgress")]);
        assert_eq!(translate("not (severity eq 'Low')").0, "(NOT ((severity IS ? COLLATE NOCASE)))");
        assert_eq!(translate("assignedTo eq null"), ("(assigned_to IS NULL)".to_owned(), vec![]));
        assert_eq!(translate("assignedTo ne null").0, "(assigned_to IS NOT NULL)");
        assert_eq!(translate("severity ne 'Low'").0, "(severity IS NOT ? COLLATE NOCASE)");
    }

    #[test]
    fn datetimes_normalise_to_utc_with_seven_fraction_digits() {
        let cases = [
            ("2024-03-01T10:00:00.5+01:00", "2024-03-01T09:00:00.5000000Z"),
            ("2024-01-02T03:04:05.123Z", "2024-01-02T03:04:05.1230000Z"),
            ("2024-01-02T03:04:05.123456789Z", "2024-01-02T03:04:05.1234567Z"),
            ("2024-01-02T03:04:05+02:00", "2024-01-02T01:04:05.0000000Z"),
            ("2024-01-01T00:30:00+01:00", "2023-12-31T23:30:00.0000000Z"),
            ("2024-02-28T23:00:00-01:30", "2024-02-29T00:30:00.0000000Z"),
            ("2024-01-02T03:04Z", "2024-01-02T03:04:00.0000000Z"),
            ("2024-01-02", "2024-01-02T00:00:00.0000000Z"),
        ];
        for (literal, expected) in cases {
            let (sql, params) = translate(&format!("lastUpdateTime gt {literal}"));
            assert_eq!(sql, "(last_update_time IS NOT NULL AND last_update_time > ?)");
            assert_eq!(params, [text(expected)], "{literal}");
            assert_eq!(translate(&format!("lastUpdateTime gt '{literal}'")).1, [text(expected)], "quoted {literal}");
        }
    }

    #[test]
    fn civil_day_arithmetic_round_trips() {
        assert_eq!((days_from_civil(1970, 1, 1), days_from_civil(2000, 3, 1)), (0, 11_017));
        for days in (days_from_civil(1, 1, 1)..=days_from_civil(9999, 12, 31)).step_by(97) {
            let (year, month, day) = civil_from_days(days);
            assert_eq!(days_from_civil(year, month, day), days);
        }
    }

    #[test]
    fn precedence_case_and_integers() {
        let (sql, params) = translate("severity eq 'a' or SEVERITY eq 'b' and not Status ge 'c'");
        let expected = "(severity IS ? COLLATE NOCASE) OR (severity IS ? COLLATE NOCASE) \
                        AND (NOT (status IS NOT NULL AND status >= ? COLLATE NOCASE))";
        assert_eq!((sql.as_str(), params), (expected, vec![text("a"), text("b"), text("c")]));
        let (sql, _) = translate("(severity eq 'a' or severity eq 'b') and status eq 'c'");
        assert_eq!(
            sql,
            "((severity IS ? COLLATE NOCASE) OR (severity IS ? COLLATE NOCASE)) AND (status IS ? COLLATE NOCASE)"
        );
        let (sql, params) = translate("incidentId le -42 or incidentId in (1, 9223372036854775807)");
        let expected =
            "(incident_id IS NOT NULL AND incident_id <= ?) OR (incident_id IS NOT NULL AND incident_id IN (?, ?))";
        assert_eq!(sql, expected);
        assert_eq!(params, [SqlValue::Integer(-42), SqlValue::Integer(1), SqlValue::Integer(i64::MAX)]);
    }

    #[test]
    fn quotes_are_unescaped_and_never_reach_the_sql() {
        let (sql, params) = translate("severity eq 'x'' OR 1=1 --'");
        assert_eq!((sql.as_str(), params), ("(severity IS ? COLLATE NOCASE)", vec![text("x' OR 1=1 --")]));
        assert_eq!(translate("assignedTo eq 'Ünïcödé 日本'").1, [text("Ünïcödé 日本")]);
    }

    #[test]
    fn unknown_property_lists_the_filterable_ones() {
        let error = filter_to_sql("severty eq 'High'", &PROPERTIES[..4]).unwrap_err();
        let expected = "$filter: unknown property 'severty' at position 0; \
                        filterable properties: alertCreationTime, lastUpdateTime, severity, status";
        assert_eq!((error.to_string().as_str(), error.position), (expected, 0));
    }

    #[test]
    fn errors_are_positioned_and_explained() {
        let ops = "eq, ne, gt, ge, lt, le, in";
        let cases = [
            ("", 0, "empty filter at position 0; expected a comparison such as severity eq 'High'".to_owned()),
            (" \t ", 0, "empty filter at position 0; expected a comparison such as severity eq 'High'".to_owned()),
            ("severity equals 'x'", 9, format!("unknown operator 'equals' at position 9; supported operators: {ops}")),
            ("severity EQ 'x'", 9, format!("unknown operator 'EQ' at position 9; supported operators: {ops} (keywords are lowercase)")),
            ("severity = 'x'", 9, format!("unknown operator '=' at position 9; supported operators: {ops}")),
            ("severity 'x'", 9, format!("unexpected string 'x' at position 9; expected an operator after 'severity' ({ops})")),
            ("severity", 8, format!("unexpected end of filter at position 8; expected an operator after 'severity' ({ops})")),
            ("severity eq 'Hi", 12, "unterminated string literal at position 12; close it with ' (write '' for a quote)".to_owned()),
            ("severity eq", 11, "unexpected end of filter at position 11; expected a value ('quoted string', number, date-time or null)".to_owned()),
            ("severity eq 'x' and", 19, "unexpected end of filter at position 19; expected a comparison, 'not' or '('".to_owned()),
            ("severity eq 'x' status eq 'y'", 16, "unexpected 'status' at position 16; expected 'and', 'or' or the end of the filter".to_owned()),
            ("severity eq 'x' AND status eq 'y'", 16, "unexpected 'AND' at position 16; expected 'and', 'or' or the end of the filter (keywords are lowercase)".to_owned()),
            ("severity eq 'x')", 15, "unexpected ')' at position 15; expected 'and', 'or' or the end of the filter".to_owned()),
            ("(severity eq 'x'", 16, "unexpected end of filter at position 16; expected 'and', 'or' or ')' to close '(' at position 0".to_owned()),
            ("and severity eq 'x'", 0, "unexpected 'and' at position 0; expected a property name, 'not' or '('".to_owned()),
            ("severity eq 'x'; drop", 15, "unexpected character ';' at position 15".to_owned()),
            ("$filter=severity eq 'x'", 0, "unexpected character '$' at position 0".to_owned()),
            ("sévérité eq 'x'", 1, "unexpected character 'é' at position 1".to_owned()),
            ("tolower(severity) eq 'high'", 0, "function 'tolower' is not supported in $filter at position 0; use comparisons, contains, startswith or endswith".to_owned()),
            ("contains(incidentId, '1')", 9, "'contains' needs a text property, not 'incidentId' at position 9".to_owned()),
            ("contains(severity 'H')", 18, "unexpected string 'H' at position 18; expected ',' between the arguments".to_owned()),
            ("alertCreationTime ge now()", 21, "function 'now' is not supported in $filter at position 21; use a literal value".to_owned()),
            ("incidentId eq '5'", 14, "'incidentId' needs an integer, not string '5' at position 14; remove the quotes".to_owned()),
            ("incidentId eq 99999999999999999999", 14, "'99999999999999999999' is not a 64-bit integer for 'incidentId' at position 14".to_owned()),
            ("incidentId eq abc", 14, "unexpected 'abc' at position 14; expected a value ('quoted string', number, date-time or null)".to_owned()),
            ("severity eq High", 12, "'severity' needs a quoted string, not High at position 12; write 'High'".to_owned()),
            ("severity eq 5", 12, "'severity' needs a quoted string, not 5 at position 12; write '5'".to_owned()),
            ("alertCreationTime gt null", 21, "null cannot be ordered with 'gt' at position 21; use eq null or ne null".to_owned()),
            ("status in ('New', null)", 18, "null is not allowed in an 'in' list at position 18; use 'status eq null' instead".to_owned()),
            ("status in 'New'", 10, "unexpected string 'New' at position 10; expected '(' after 'in'".to_owned()),
            ("status in ()", 11, "unexpected ')' at position 11; expected a value ('quoted string', number, date-time or null)".to_owned()),
            ("status in ('a' 'b')", 15, "unexpected string 'b' at position 15; expected ',' or ')' in the 'in' list".to_owned()),
        ];
        for (filter, position, message) in cases {
            let error = filter_to_sql(filter, PROPERTIES).unwrap_err();
            assert_eq!((error.message, error.position), (message, position), "filter: {filter}");
        }
    }

    #[test]
    fn string_functions_match_case_insensitively_with_wildcards_escaped() {
        let (sql, params) = translate("contains(severity, '50%_x') and startswith(status, 'New')");
        assert_eq!(
            sql,
            "(severity IS NOT NULL AND severity LIKE ? ESCAPE ?) AND (status IS NOT NULL AND status LIKE ? ESCAPE ?)"
        );
        assert_eq!(params, [text("%50\\%\\_x%"), text("\\"), text("New%"), text("\\")]);
    }

    #[test]
    fn order_by_names_properties_and_directions() {
        assert_eq!(order_by_to_sql("severity desc, incidentId", PROPERTIES).unwrap(), "severity DESC, incident_id ASC");
        let error = order_by_to_sql("severity up", PROPERTIES).unwrap_err();
        assert_eq!(error.position, 0);
        assert!(error.message.contains("unknown direction 'up'"), "{}", error.message);
        assert!(order_by_to_sql("x desc", PROPERTIES).unwrap_err().message.contains("unknown property 'x'"));
        assert!(order_by_to_sql("severity,", PROPERTIES).unwrap_err().message.contains("empty"));
    }

    #[test]
    fn invalid_datetimes_say_why() {
        let cases = [
            ("'yesterday'", "expected a four-digit year"),
            ("2024", "expected '-' after the year"),
            ("2023-02-29", "no such day in that month"),
            ("2024-13-01", "month must be 01 to 12"),
            ("2024-01-02T25:00:00Z", "time of day out of range"),
            ("2024-01-02T03:04:05", "expected a time zone, Z or +hh:mm or -hh:mm"),
            ("2024-01-02T03:04:05.Z", "expected digits after '.'"),
            ("2024-01-02T03:04:05+1:00", "expected a two-digit offset hour"),
            ("2024-01-02T03:04:05Zjunk", "unexpected characters after the time zone"),
            ("9999-12-31T23:00:00-02:00", "year out of range 0001 to 9999 in UTC"),
        ];
        for (literal, reason) in cases {
            let error = filter_to_sql(&format!("alertCreationTime ge {literal}"), PROPERTIES).unwrap_err();
            let shown = literal.trim_matches('\'');
            let expected =
                format!("'{shown}' is not a valid date-time for 'alertCreationTime' at position 21; {reason}");
            assert_eq!((error.message, error.position), (expected, 21));
        }
    }

    #[test]
    fn nesting_and_length_are_bounded() {
        let nested = |depth: usize| format!("{}severity eq 'x'{}", "(".repeat(depth), ")".repeat(depth));
        assert!(filter_to_sql(&nested(MAX_NESTING), PROPERTIES).is_ok());
        let too_deep = "nesting deeper than 32 levels at position {} ; flatten the filter";
        for (filter, position) in [(nested(MAX_NESTING + 1), 32), ("not ".repeat(1000), 128), ("(".repeat(4000), 32)] {
            let error = filter_to_sql(&filter, PROPERTIES).unwrap_err();
            assert_eq!(error.message, too_deep.replace("{} ", &position.to_string()));
        }
        let error = filter_to_sql(&format!("severity eq '{}'", "x".repeat(5000)), PROPERTIES).unwrap_err();
        let expected = "filter exceeds the 4096-character limit at position 4096; it is 5014 characters long";
        assert_eq!((error.message.as_str(), error.position), (expected, 4096));
        let at_limit = format!("severity eq '{}'", "é".repeat(MAX_FILTER_CHARS - 14));
        assert!(filter_to_sql(&at_limit, PROPERTIES).is_ok());
    }

    /// Builds a filter the grammar accepts, so mutating it reaches deep into the parser.
    fn valid_filter(next: &mut impl FnMut() -> usize, depth: usize) -> String {
        match next() % if depth > 3 { 4 } else { 7 } {
            0 => format!("severity eq '{}'", ["High", "x''y", "日本", ""][next() % 4]),
            1 => format!("alertCreationTime ge 2024-0{}-02T03:04:05.{}+01:00", 1 + next() % 9, next() % 1000),
            2 => format!("incidentId lt {} or assignedTo ne null", (next() % 2000) as i64 - 1000),
            3 => "Status in ('New','Resolved')".to_owned(),
            4 => format!("not ({})", valid_filter(next, depth + 1)),
            5 => format!("{} and {}", valid_filter(next, depth + 1), valid_filter(next, depth + 1)),
            _ => format!("({} or {})", valid_filter(next, depth + 1), valid_filter(next, depth + 1)),
        }
    }

    #[test]
    fn garbage_never_panics_and_never_leaks_into_sql() {
        const FRAGMENTS: &[&str] = &[
            "severity",
            " eq ",
            " gt ",
            " in ",
            " and ",
            "not ",
            "(",
            ")",
            ",",
            "'",
            "''",
            "'x'",
            "null",
            "5",
            "-",
            "+",
            "2024-01-02T03:04:05Z",
            ":",
            ".",
            "T",
            "é",
            "日本",
            "🦀",
            "contains(",
            "=",
            "\t",
            "EQ",
            "$",
            "99999999999999999999",
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 1) as usize
        };
        for round in 0..30_000 {
            let mut filter = valid_filter(&mut next, 0);
            assert!(filter_to_sql(&filter, PROPERTIES).is_ok(), "{filter}");
            let mut chars: Vec<char> = filter.chars().collect();
            for _ in 0..1 + next() % 3 {
                let at = next() % (chars.len() + 1);
                match round % 3 {
                    0 => drop(chars.splice(at..(at + 1 + next() % 3).min(chars.len()), [])),
                    1 => drop(chars.splice(at..at, FRAGMENTS[next() % FRAGMENTS.len()].chars())),
                    _ => {
                        chars = (0..next() % 24)
                            .map(|_| FRAGMENTS[next() % FRAGMENTS.len()])
                            .collect::<String>()
                            .chars()
                            .collect()
                    }
                }
            }
            filter = chars.into_iter().collect();
            match filter_to_sql(&filter, PROPERTIES) {
                Ok(translated) => {
                    assert_eq!(translated.sql.matches('?').count(), translated.params.len(), "{filter}");
                    assert!(!translated.sql.contains('\''), "{filter} -> {}", translated.sql);
                }
                Err(error) => assert!(error.position <= filter.chars().count(), "{filter}: {error}"),
            }
        }
    }
}
