//! `dynamic` values are stored as JSON text (see docs/adr/0001-dynamic-as-json-text.md).
//!
//! Property access (`d.a.b[0]`) is the hot path of Sentinel queries, so it does not parse the
//! document: a scanner skips over everything but the wanted path and returns the slice of
//! text that holds the value.

use serde_json::Value as Json;

/// One step of a property path: `.name`/`['name']` or `[index]` (negative counts from the end).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathStep {
    Key(String),
    Index(i64),
}

/// Parses JSON text; text that is not JSON becomes a JSON string, as `parse_json` does.
pub fn parse_json_lenient(text: &str) -> Json {
    serde_json::from_str(text).unwrap_or_else(|_| Json::String(text.to_string()))
}

/// JSON text of a `parse_json`/`todynamic` argument: the text itself when it is valid JSON
/// (normalized to compact form), else the text as a JSON string. `None` for JSON null.
pub fn to_dynamic_text(text: &str) -> Option<String> {
    match serde_json::from_str::<Json>(text) {
        Ok(Json::Null) => None,
        Ok(json) => Some(if is_compact(text) { text.to_string() } else { json.to_string() }),
        Err(_) => Some(Json::String(text.to_string()).to_string()),
    }
}

/// True when the text has no insignificant whitespace (so it needs no normalizing).
fn is_compact(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else if b.is_ascii_whitespace() {
            return false;
        }
    }
    true
}

/// The slice of `text` holding the value at `path`, or `None` when the path does not exist
/// (or the text is not JSON there).
pub fn extract_path<'a>(text: &'a str, path: &[PathStep]) -> Option<&'a str> {
    let mut scanner = Scanner { bytes: text.as_bytes(), pos: 0 };
    let mut start = scanner.value_start()?;
    for step in path {
        scanner.pos = start;
        start = match step {
            PathStep::Key(key) => scanner.find_key(key)?,
            PathStep::Index(index) => scanner.find_index(*index)?,
        };
    }
    scanner.pos = start;
    let end = scanner.skip_value()?;
    Some(&text[start..end])
}

/// The KQL text of a JSON value slice: strings unescaped, JSON null as empty, other values as
/// compact JSON.
pub fn json_slice_to_string(slice: &str) -> String {
    let bytes = slice.as_bytes();
    match bytes.first() {
        Some(b'"') => {
            if !slice[1..slice.len() - 1].contains('\\') {
                slice[1..slice.len() - 1].to_string()
            } else {
                match serde_json::from_str::<String>(slice) {
                    Ok(s) => s,
                    Err(_) => slice.to_string(),
                }
            }
        }
        Some(b'n') if slice == "null" => String::new(),
        Some(b'{' | b'[') if !is_compact(slice) => {
            serde_json::from_str::<Json>(slice).map(|v| v.to_string()).unwrap_or_else(|_| slice.to_string())
        }
        _ => slice.to_string(),
    }
}

/// The JSON text of a value slice, normalized to compact form; `None` for JSON null.
pub fn json_slice_to_dynamic(slice: &str) -> Option<String> {
    if slice == "null" {
        return None;
    }
    if is_compact(slice) {
        Some(slice.to_string())
    } else {
        serde_json::from_str::<Json>(slice).ok().map(|v| v.to_string())
    }
}

struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Scanner<'_> {
    fn skip_ws(&mut self) {
        while self.pos < self.bytes.len() && self.bytes[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn value_start(&mut self) -> Option<usize> {
        self.skip_ws();
        (self.pos < self.bytes.len()).then_some(self.pos)
    }

    /// Skips the value at `pos`; returns the offset just past it.
    fn skip_value(&mut self) -> Option<usize> {
        self.skip_ws();
        match *self.bytes.get(self.pos)? {
            b'"' => self.skip_string(),
            b'{' | b'[' => {
                let mut depth = 0usize;
                while self.pos < self.bytes.len() {
                    match self.bytes[self.pos] {
                        b'"' => {
                            self.skip_string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.pos += 1;
                                return Some(self.pos);
                            }
                        }
                        _ => {}
                    }
                    self.pos += 1;
                }
                None
            }
            _ => {
                let start = self.pos;
                while self.pos < self.bytes.len()
                    && !matches!(self.bytes[self.pos], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                {
                    self.pos += 1;
                }
                (self.pos > start).then_some(self.pos)
            }
        }
    }

    fn skip_string(&mut self) -> Option<usize> {
        self.pos += 1;
        loop {
            let offset = memchr::memchr2(b'"', b'\\', &self.bytes[self.pos..])?;
            self.pos += offset;
            if self.bytes[self.pos] == b'\\' {
                self.pos += 2;
            } else {
                self.pos += 1;
                return Some(self.pos);
            }
        }
    }

    /// The start of the value of `key` in the object at `pos`.
    fn find_key(&mut self, key: &str) -> Option<usize> {
        self.skip_ws();
        if self.bytes.get(self.pos) != Some(&b'{') {
            return None;
        }
        self.pos += 1;
        loop {
            self.skip_ws();
            match self.bytes.get(self.pos)? {
                b'}' => return None,
                b',' => {
                    self.pos += 1;
                    continue;
                }
                b'"' => {}
                _ => return None,
            }
            let key_start = self.pos + 1;
            let key_end = self.skip_string()? - 1;
            let raw_key = &self.bytes[key_start..key_end];
            let matches = if raw_key.contains(&b'\\') {
                serde_json::from_slice::<String>(&self.bytes[key_start - 1..=key_end]).is_ok_and(|k| k == key)
            } else {
                raw_key == key.as_bytes()
            };
            self.skip_ws();
            if self.bytes.get(self.pos) != Some(&b':') {
                return None;
            }
            self.pos += 1;
            self.skip_ws();
            if matches {
                return Some(self.pos);
            }
            self.skip_value()?;
        }
    }

    /// The start of element `index` of the array at `pos`.
    fn find_index(&mut self, index: i64) -> Option<usize> {
        self.skip_ws();
        if self.bytes.get(self.pos) != Some(&b'[') {
            return None;
        }
        self.pos += 1;
        let mut starts = Vec::new();
        loop {
            self.skip_ws();
            match self.bytes.get(self.pos)? {
                b']' => break,
                b',' => {
                    self.pos += 1;
                    continue;
                }
                _ => {}
            }
            if index >= 0 && starts.len() as i64 == index {
                return Some(self.pos);
            }
            starts.push(self.pos);
            self.skip_value()?;
        }
        if index < 0 {
            let from_end = starts.len() as i64 + index;
            return usize::try_from(from_end).ok().and_then(|i| starts.get(i).copied());
        }
        None
    }
}

/// The elements of a JSON array, or `None` when the value is not an array.
pub fn as_array(json: &Json) -> Option<&Vec<Json>> {
    match json {
        Json::Array(items) => Some(items),
        _ => None,
    }
}

/// Kusto compares dynamic values of different numeric kinds by value.
pub fn json_equal(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// The KQL type name `gettype` reports for a JSON value.
pub fn json_type_name(json: &Json) -> &'static str {
    match json {
        Json::Null => "null",
        Json::Bool(_) => "bool",
        Json::Number(n) if n.is_i64() || n.is_u64() => "long",
        Json::Number(_) => "real",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "dictionary",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> PathStep {
        PathStep::Key(k.to_string())
    }

    #[test]
    fn extracts_nested_paths_without_parsing() {
        let text = r#"{"a": {"b": [10, {"c": "x\"y"}, 30]}, "d": null, "e\u0041": 1}"#;
        assert_eq!(extract_path(text, &[key("a"), key("b"), PathStep::Index(0)]), Some("10"));
        assert_eq!(extract_path(text, &[key("a"), key("b"), PathStep::Index(1), key("c")]), Some(r#""x\"y""#));
        assert_eq!(extract_path(text, &[key("a"), key("b"), PathStep::Index(-1)]), Some("30"));
        assert_eq!(extract_path(text, &[key("d")]), Some("null"));
        assert_eq!(extract_path(text, &[key("eA")]), Some("1"));
        assert_eq!(extract_path(text, &[key("missing")]), None);
        assert_eq!(extract_path(text, &[key("a"), PathStep::Index(0)]), None);
        assert_eq!(extract_path("not json", &[key("a")]), None);
    }

    #[test]
    fn slices_to_kql_text() {
        assert_eq!(json_slice_to_string(r#""x\"y""#), "x\"y");
        assert_eq!(json_slice_to_string("null"), "");
        assert_eq!(json_slice_to_string("{ \"a\" : 1 }"), r#"{"a":1}"#);
        assert_eq!(json_slice_to_string("12.5"), "12.5");
    }

    #[test]
    fn parse_json_keeps_non_json_as_string() {
        assert_eq!(to_dynamic_text("{\"a\": 1}").as_deref(), Some(r#"{"a":1}"#));
        assert_eq!(to_dynamic_text("hello").as_deref(), Some(r#""hello""#));
        assert_eq!(to_dynamic_text("null"), None);
    }
}
