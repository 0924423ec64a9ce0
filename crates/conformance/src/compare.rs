//! Compares a result with a table as the KQL reference prints it: every cell is text, in the
//! page's formatting. Numbers compare with the precision printed, datetimes and timespans as
//! instants and durations, dynamic values as JSON values (a string is never equal to a number),
//! and rows in order only when the query orders them. The only wildcards are the page's own
//! cuts: a `...` cell (a row cut short) and a last row of `...` (rows left out).

use serde_json::Value as Json;
use vigil_kql::ResultTable;
use vigil_kql_functions::{KqlType, Value};
use vigil_kql_syntax::literal::{parse_datetime, parse_timespan};

/// A printed cell, cleaned of the page's markup.
pub fn clean_cell(cell: &str) -> String {
    let mut text = cell.trim().to_string();
    if text.len() >= 2 && text.starts_with('`') && text.ends_with('`') {
        text = text[1..text.len() - 1].to_string();
    }
    if text.len() >= 2 && text.starts_with('<') && text.ends_with('>') && !text.contains("<br>") {
        text = text[1..text.len() - 1].to_string();
    }
    text.replace("\\|", "|")
        .replace("<br>", "\n")
        .replace("&nbsp;", "")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
        .trim()
        .to_string()
}

/// A column name as printed: without backticks, and without a `Column:type` suffix.
pub fn clean_column(name: &str) -> String {
    clean_cell(name).trim_matches('`').to_string()
}

/// Does the printed cell show this value?
pub fn cell_matches(expected: &str, value: &Value, ty: KqlType) -> bool {
    let expected = clean_cell(expected);
    if expected == "..." {
        return true;
    }
    if value.is_null() {
        return expected.is_empty() || expected.eq_ignore_ascii_case("null");
    }
    match (value, ty) {
        (Value::Bool(v), _) => match expected.to_ascii_lowercase().as_str() {
            "true" => *v,
            "false" => !*v,
            _ => false,
        },
        (Value::Int(_) | Value::Long(_) | Value::Real(_) | Value::Decimal(_), _) => {
            numbers_match(&expected, value.as_f64().unwrap_or(f64::NAN))
        }
        (Value::DateTime(actual), _) => parse_datetime(&expected).is_some_and(|e| (e - actual).abs() < 100),
        (Value::Timespan(actual), _) => parse_timespan(&expected).is_some_and(|e| (e - actual).abs() < 100),
        (Value::Dynamic(actual), _) => dynamic_matches(&expected, actual),
        (other, _) => {
            // Pages show a no-break space as a space.
            let text = other.to_kql_string().replace('\u{a0}', " ");
            text.trim() == expected || text.replace("\r\n", "\n").trim() == expected
        }
    }
}

/// A number matches if it equals the printed one to the printed precision.
fn numbers_match(expected: &str, actual: f64) -> bool {
    let text = expected.replace(',', "");
    let printed = match text.as_str() {
        "NaN" => return actual.is_nan(),
        "∞" | "Infinity" | "+∞" | "inf" => return actual == f64::INFINITY,
        "-∞" | "-Infinity" | "-inf" => return actual == f64::NEG_INFINITY,
        _ => match text.parse::<f64>() {
            Ok(value) => value,
            Err(_) => return false,
        },
    };
    if printed == actual {
        return true;
    }
    let decimals =
        text.split_once('.').map(|(_, f)| f.trim_end_matches(|c: char| !c.is_ascii_digit()).len()).unwrap_or(0) as i32;
    let tolerance = (0.5 * 10f64.powi(-decimals)).max(printed.abs() * 1e-12);
    (printed - actual).abs() <= tolerance * 1.000_001
}

/// A dynamic value matches the JSON text of the same value; a dynamic string also matches its
/// text printed bare, as the pages print it.
fn dynamic_matches(expected: &str, actual: &Json) -> bool {
    if let Ok(json) = serde_json::from_str::<Json>(expected)
        && json_equal(&json, actual)
    {
        return true;
    }
    matches!(actual, Json::String(s) if s.trim() == expected)
}

/// JSON values equal by value: numbers numerically (the pages print 1.0 as 1).
fn json_equal(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
            _ => false,
        },
        (Json::Array(x), Json::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b)),
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

/// Why a result differs from the expected table, or `None` when it matches.
pub fn compare(
    table: &ResultTable,
    columns: &[String],
    rows: &[Vec<String>],
    ordered: bool,
    check_names: bool,
) -> Option<String> {
    let actual_names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
    let expected_names: Vec<String> = columns.iter().map(|c| clean_column(c)).collect();
    if check_names && actual_names != expected_names {
        return Some(format!("columns {actual_names:?}, expected {expected_names:?}"));
    }
    if !check_names && actual_names.len() != expected_names.len() {
        return Some(format!("{} columns, expected {}", actual_names.len(), expected_names.len()));
    }
    let actual = table.rows();
    // A last row of `...` cells: the page left the remaining rows out.
    let cut = rows.last().is_some_and(|row| !row.is_empty() && row.iter().all(|cell| clean_cell(cell) == "..."));
    let rows = if cut { &rows[..rows.len() - 1] } else { rows };
    if actual.len() != rows.len() && !(cut && actual.len() > rows.len()) {
        let at_least = if cut { "at least " } else { "" };
        return Some(format!("{} rows, expected {at_least}{}", actual.len(), rows.len()));
    }
    let row_matches = |expected: &[String], actual: &[Value]| {
        expected.iter().zip(actual).zip(&table.columns).all(|((e, a), c)| cell_matches(e, a, c.ty))
    };
    if ordered {
        for (index, (expected, actual)) in rows.iter().zip(&actual).enumerate() {
            if !row_matches(expected, actual) {
                return Some(format!("row {index} is {}, expected {:?}", show(actual), expected));
            }
        }
        return None;
    }
    let mut used = vec![false; actual.len()];
    for expected in rows {
        match (0..actual.len()).find(|&i| !used[i] && row_matches(expected, &actual[i])) {
            Some(i) => used[i] = true,
            None => {
                return Some(format!(
                    "no row matches {expected:?}; rows are {}",
                    actual.iter().map(|r| show(r)).collect::<Vec<_>>().join(" | ")
                ));
            }
        }
    }
    None
}

fn show(row: &[Value]) -> String {
    format!("[{}]", row.iter().map(|v| v.to_kql_string()).collect::<Vec<_>>().join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_to_printed_precision() {
        assert!(numbers_match("0.999999999999959", 0.999_999_999_999_958_8));
        assert!(numbers_match("2077.09090909091", 2_077.090_909_090_909));
        assert!(!numbers_match("20.5", 20.4));
        assert!(numbers_match("-∞", f64::NEG_INFINITY));
    }

    #[test]
    fn cells_are_cleaned() {
        assert_eq!(clean_cell("`Hello, World!`"), "Hello, World!");
        assert_eq!(clean_cell("[<br>  \"a\"<br>]"), "[\n  \"a\"\n]");
        assert_eq!(clean_cell("<https://bing.com>"), "https://bing.com");
        assert_eq!(clean_cell("a \\| b"), "a | b", "the page escapes pipes inside cells");
    }

    #[test]
    fn dynamic_values_compare_as_json() {
        assert!(dynamic_matches("[1, 2.0]", &serde_json::json!([1.0, 2])));
        assert!(dynamic_matches("{\"a\": 1}", &serde_json::json!({"a": 1})));
        assert!(!dynamic_matches("[1, 3]", &serde_json::json!([1, 2])));
        assert!(!dynamic_matches("[\"1\"]", &serde_json::json!([1])), "a string is not a number");
        assert!(dynamic_matches("abc", &serde_json::json!("abc")));
    }
}
