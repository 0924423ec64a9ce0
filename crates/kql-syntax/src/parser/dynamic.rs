//! The content of `dynamic(...)` literals: JSON, relaxed the way KQL relaxes it (single-quoted
//! strings, nested `datetime(...)`/`timespan(...)`/`guid(...)` literals, timespan literals such
//! as `1d`), turned into canonical JSON text.

use crate::literal;

type DResult<T> = Result<T, (usize, String)>;

/// Canonical JSON text of a dynamic literal's content, or the byte offset and reason it is invalid.
pub fn parse_dynamic(text: &str) -> DResult<String> {
    let mut parser =
        DynamicParser { bytes: text.as_bytes(), text, pos: 0, out: String::with_capacity(text.len()), depth: 0 };
    parser.skip_space();
    if parser.pos == parser.bytes.len() {
        return Err((0, "expected a value".into()));
    }
    parser.value()?;
    parser.skip_space();
    if parser.pos != parser.bytes.len() {
        return Err((parser.pos, "unexpected text after the value".into()));
    }
    Ok(parser.out)
}

struct DynamicParser<'a> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
    out: String,
    depth: usize,
}

impl DynamicParser<'_> {
    fn skip_space(&mut self) {
        loop {
            while self.bytes.get(self.pos).is_some_and(|b| b.is_ascii_whitespace()) {
                self.pos += 1;
            }
            if self.text[self.pos..].starts_with("//") {
                while self.bytes.get(self.pos).is_some_and(|&b| b != b'\n') {
                    self.pos += 1;
                }
                continue;
            }
            return;
        }
    }

    fn fail<T>(&self, message: &str) -> DResult<T> {
        Err((self.pos, message.to_string()))
    }

    fn value(&mut self) -> DResult<()> {
        self.depth += 1;
        if self.depth > 64 {
            return self.fail("nested too deeply");
        }
        self.skip_space();
        let result = match self.bytes.get(self.pos) {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"' | b'\'') => {
                // Adjacent string literals concatenate, as they do outside dynamic literals.
                let mut value = self.string()?;
                loop {
                    let before_space = self.pos;
                    self.skip_space();
                    if matches!(self.bytes.get(self.pos), Some(b'"' | b'\'')) {
                        value.push_str(&self.string()?);
                    } else {
                        self.pos = before_space;
                        break;
                    }
                }
                write_json_string(&mut self.out, &value);
                Ok(())
            }
            // An obfuscated string (`h'...'`, `h@'...'`) is the string itself.
            Some(b'h' | b'H')
                if matches!(self.bytes.get(self.pos + 1), Some(b'"' | b'\'' | b'@'))
                    && (self.bytes[self.pos + 1] != b'@'
                        || matches!(self.bytes.get(self.pos + 2), Some(b'"' | b'\''))) =>
            {
                self.pos += 1;
                self.depth -= 1;
                return self.value();
            }
            Some(b'@') if matches!(self.bytes.get(self.pos + 1), Some(b'"' | b'\'')) => {
                self.pos += 1;
                let value = self.verbatim_string()?;
                write_json_string(&mut self.out, &value);
                Ok(())
            }
            Some(b) if b.is_ascii_digit() || *b == b'-' || *b == b'+' || *b == b'.' => self.number(),
            Some(b) if b.is_ascii_alphabetic() => self.word(),
            Some(_) => self.fail("expected a value"),
            None => self.fail("unexpected end of the dynamic literal"),
        };
        self.depth -= 1;
        result
    }

    fn object(&mut self) -> DResult<()> {
        self.pos += 1;
        self.out.push('{');
        self.skip_space();
        if self.bytes.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            self.out.push('}');
            return Ok(());
        }
        let mut first = true;
        loop {
            self.skip_space();
            if !first {
                self.out.push(',');
            }
            first = false;
            let key = match self.bytes.get(self.pos) {
                Some(b'"' | b'\'') => self.string()?,
                Some(b) if b.is_ascii_alphabetic() || *b == b'_' => {
                    let start = self.pos;
                    while self.bytes.get(self.pos).is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_') {
                        self.pos += 1;
                    }
                    self.text[start..self.pos].to_string()
                }
                _ => return self.fail("expected a property name"),
            };
            write_json_string(&mut self.out, &key);
            self.skip_space();
            if self.bytes.get(self.pos) != Some(&b':') {
                return self.fail("expected ':' after the property name");
            }
            self.pos += 1;
            self.out.push(':');
            self.value()?;
            self.skip_space();
            match self.bytes.get(self.pos) {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_space();
                    // A trailing comma before `}` is tolerated.
                    if self.bytes.get(self.pos) == Some(&b'}') {
                        self.pos += 1;
                        self.out.push('}');
                        return Ok(());
                    }
                }
                Some(b'}') => {
                    self.pos += 1;
                    self.out.push('}');
                    return Ok(());
                }
                _ => return self.fail("expected ',' or '}' in the object"),
            }
        }
    }

    fn array(&mut self) -> DResult<()> {
        self.pos += 1;
        self.out.push('[');
        self.skip_space();
        if self.bytes.get(self.pos) == Some(&b']') {
            self.pos += 1;
            self.out.push(']');
            return Ok(());
        }
        let mut first = true;
        loop {
            if !first {
                self.out.push(',');
            }
            first = false;
            self.value()?;
            self.skip_space();
            match self.bytes.get(self.pos) {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_space();
                    if self.bytes.get(self.pos) == Some(&b']') {
                        self.pos += 1;
                        self.out.push(']');
                        return Ok(());
                    }
                }
                Some(b']') => {
                    self.pos += 1;
                    self.out.push(']');
                    return Ok(());
                }
                _ => return self.fail("expected ',' or ']' in the array"),
            }
        }
    }

    fn string(&mut self) -> DResult<String> {
        let quote = self.bytes[self.pos];
        let start = self.pos;
        self.pos += 1;
        let mut value = String::new();
        loop {
            let Some(c) = self.text[self.pos..].chars().next() else {
                self.pos = start;
                return self.fail("unterminated string");
            };
            self.pos += c.len_utf8();
            if c as u32 == u32::from(quote) {
                return Ok(value);
            }
            if c != '\\' {
                value.push(c);
                continue;
            }
            let Some(escaped) = self.text[self.pos..].chars().next() else {
                return self.fail("unterminated string");
            };
            self.pos += escaped.len_utf8();
            match escaped {
                'n' => value.push('\n'),
                't' => value.push('\t'),
                'r' => value.push('\r'),
                'b' => value.push('\u{8}'),
                'f' => value.push('\u{c}'),
                'u' => {
                    let hex = self.text.get(self.pos..self.pos + 4).unwrap_or("");
                    let code =
                        u32::from_str_radix(hex, 16).map_err(|_| (self.pos, "invalid \\u escape".to_string()))?;
                    self.pos += 4;
                    value.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                }
                other => value.push(other),
            }
        }
    }

    fn verbatim_string(&mut self) -> DResult<String> {
        let quote = self.bytes[self.pos] as char;
        self.pos += 1;
        let mut value = String::new();
        loop {
            let Some(c) = self.text[self.pos..].chars().next() else {
                return self.fail("unterminated string");
            };
            self.pos += c.len_utf8();
            if c == quote {
                if self.text[self.pos..].starts_with(quote) {
                    self.pos += 1;
                    value.push(c);
                    continue;
                }
                return Ok(value);
            }
            value.push(c);
        }
    }

    fn number(&mut self) -> DResult<()> {
        let start = self.pos;
        if matches!(self.bytes.get(self.pos), Some(b'-' | b'+')) {
            self.pos += 1;
        }
        while self.bytes.get(self.pos).is_some_and(|b| {
            b.is_ascii_alphanumeric()
                || *b == b'.'
                || ((*b == b'-' || *b == b'+') && matches!(self.bytes[self.pos - 1], b'e' | b'E'))
        }) {
            self.pos += 1;
        }
        let text = &self.text[start..self.pos];
        let unsigned = text.trim_start_matches('+');
        if let Some(hex) = unsigned.strip_prefix("0x") {
            let value = i64::from_str_radix(hex, 16).map_err(|_| (start, format!("invalid number '{text}'")))?;
            self.out.push_str(&value.to_string());
            return Ok(());
        }
        if unsigned.parse::<i64>().is_ok() {
            self.out.push_str(unsigned);
            return Ok(());
        }
        if let Ok(value) = unsigned.parse::<f64>() {
            if !value.is_finite() {
                return Err((start, format!("invalid number '{text}'")));
            }
            write_json_real(&mut self.out, value);
            return Ok(());
        }
        if let Some(nanos) = literal::parse_timespan_with_unit(unsigned) {
            write_json_string(&mut self.out, &literal::format_timespan(nanos));
            return Ok(());
        }
        Err((start, format!("invalid number '{text}'")))
    }

    /// `true`, `false`, `null`, or a nested typed literal such as `datetime(2020-01-01)`.
    fn word(&mut self) -> DResult<()> {
        let start = self.pos;
        while self.bytes.get(self.pos).is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_') {
            self.pos += 1;
        }
        let word = &self.text[start..self.pos];
        match word {
            "true" | "false" | "null" => {
                self.out.push_str(word);
                return Ok(());
            }
            _ => {}
        }
        self.skip_space();
        if self.bytes.get(self.pos) != Some(&b'(') {
            return Err((start, format!("unexpected '{word}'; expected a JSON value")));
        }
        if word == "dynamic" {
            // A dynamic literal inside another is its value.
            self.pos += 1;
            self.value()?;
            self.skip_space();
            if self.bytes.get(self.pos) != Some(&b')') {
                return self.fail("expected ')' to close the nested dynamic(...)");
            }
            self.pos += 1;
            return Ok(());
        }
        let content_start = self.pos + 1;
        let Some(length) = self.text[content_start..].find(')') else {
            return Err((start, format!("'{word}(' is never closed")));
        };
        let content = self.text[content_start..content_start + length].trim();
        let content = content.trim_matches(|c| c == '"' || c == '\'');
        self.pos = content_start + length + 1;
        if content == "null" {
            self.out.push_str("null");
            return Ok(());
        }
        match word {
            "datetime" | "date" => match literal::parse_datetime(content) {
                Some(nanos) => write_json_string(&mut self.out, &literal::format_datetime_ticks(nanos)),
                None => return Err((start, format!("invalid datetime '{content}'"))),
            },
            "timespan" | "time" => match literal::parse_timespan(content) {
                Some(nanos) => write_json_string(&mut self.out, &literal::format_timespan(nanos)),
                None => return Err((start, format!("invalid timespan '{content}'"))),
            },
            "guid" => write_json_string(&mut self.out, &content.to_ascii_lowercase()),
            "int" | "long" => match content.parse::<i64>() {
                Ok(value) => self.out.push_str(&value.to_string()),
                Err(_) => return Err((start, format!("invalid {word} '{content}'"))),
            },
            "real" | "double" => match content.parse::<f64>() {
                Ok(value) if value.is_finite() => write_json_real(&mut self.out, value),
                _ => return Err((start, format!("invalid {word} '{content}'"))),
            },
            "bool" => self.out.push_str(if content.eq_ignore_ascii_case("true") { "true" } else { "false" }),
            _ => return Err((start, format!("unexpected '{word}' in a dynamic literal"))),
        }
        Ok(())
    }
}

/// Writes a JSON string literal with the escapes JSON requires.
pub fn write_json_string(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Writes a real so that it reads back as a real: `1.0`, not `1`.
pub fn write_json_real(out: &mut String, value: f64) {
    if value.fract() == 0.0 && value.abs() < 1e16 {
        out.push_str(&format!("{value:.1}"));
    } else {
        out.push_str(&format!("{value}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relaxed_json() {
        assert_eq!(parse_dynamic("{'a':'b', 'c':123}").unwrap(), r#"{"a":"b","c":123}"#);
        assert_eq!(parse_dynamic("[1, 2.5, -3, null, true]").unwrap(), "[1,2.5,-3,null,true]");
        assert_eq!(
            parse_dynamic(r#"["x", datetime("01-01-2022"), null]"#).unwrap(),
            r#"["x","2022-01-01T00:00:00.0000000Z",null]"#
        );
        assert_eq!(parse_dynamic("[1d, 42.0]").unwrap(), r#"["1.00:00:00",42.0]"#);
        assert_eq!(parse_dynamic("'a'").unwrap(), r#""a""#);
        assert_eq!(parse_dynamic("{}").unwrap(), "{}");
        assert_eq!(
            parse_dynamic("{'a': dynamic({'b': [1]}), 'c': dynamic(null)}").unwrap(),
            r#"{"a":{"b":[1]},"c":null}"#
        );
    }

    #[test]
    fn errors_point_into_the_text() {
        assert_eq!(parse_dynamic("[1, 2").unwrap_err().0, 5);
        assert!(parse_dynamic("{'a' 1}").unwrap_err().1.contains("':'"));
    }
}
