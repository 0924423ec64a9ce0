//! Kernels for KQL's string operators (`contains`, `has`, `startswith`, `=~`, `in~`,
//! `has_any`, `matches regex`...). These are the hot path of hunting queries, so they work on
//! whole arrays and prepare constant right-hand sides once.

use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{ArrayRef, BooleanArray, BooleanBuilder};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, Expr};
use regex::Regex;
use vigil_kql_syntax::ast::{StringOp, StringOpKind};

use crate::conversion::scalar_text;
use crate::strings::{CaseInsensitiveNeedle, StringColumn, has_term, has_term_case_sensitive, text_predicate};
use crate::types::KqlType;
use crate::udf::{Kernel, KqlUdf};

/// A prepared right-hand side of a string operator.
enum Matcher {
    CaseInsensitive(CaseInsensitiveNeedle),
    CaseSensitive(Box<memchr::memmem::Finder<'static>>),
    Regex(Regex),
}

impl Matcher {
    fn new(op: StringOp, needle: &str) -> Result<Matcher> {
        Ok(match op.kind {
            StringOpKind::MatchesRegex => Matcher::Regex(
                Regex::new(needle)
                    .map_err(|e| DataFusionError::Execution(format!("invalid regular expression: {e}")))?,
            ),
            _ if op.case_sensitive => {
                Matcher::CaseSensitive(Box::new(memchr::memmem::Finder::new(needle.as_bytes()).into_owned()))
            }
            _ => Matcher::CaseInsensitive(CaseInsensitiveNeedle::new(needle)),
        })
    }

    fn matches(&self, kind: StringOpKind, haystack: &str) -> bool {
        match (self, kind) {
            (Matcher::Regex(regex), _) => regex.is_match(haystack),
            (Matcher::CaseInsensitive(n), StringOpKind::Contains) => n.contained_in(haystack),
            (Matcher::CaseInsensitive(n), StringOpKind::StartsWith) => n.is_prefix_of(haystack),
            (Matcher::CaseInsensitive(n), StringOpKind::EndsWith) => n.is_suffix_of(haystack),
            (Matcher::CaseInsensitive(n), StringOpKind::Has) => has_term(haystack, n, false, false),
            (Matcher::CaseInsensitive(n), StringOpKind::HasPrefix) => has_term(haystack, n, true, false),
            (Matcher::CaseInsensitive(n), StringOpKind::HasSuffix) => has_term(haystack, n, false, true),
            (Matcher::CaseSensitive(n), StringOpKind::Contains) => n.find(haystack.as_bytes()).is_some(),
            (Matcher::CaseSensitive(n), StringOpKind::StartsWith) => haystack.as_bytes().starts_with(n.needle()),
            (Matcher::CaseSensitive(n), StringOpKind::EndsWith) => haystack.as_bytes().ends_with(n.needle()),
            (Matcher::CaseSensitive(n), StringOpKind::Has) => has_term_case_sensitive(haystack, n, false, false),
            (Matcher::CaseSensitive(n), StringOpKind::HasPrefix) => has_term_case_sensitive(haystack, n, true, false),
            (Matcher::CaseSensitive(n), StringOpKind::HasSuffix) => has_term_case_sensitive(haystack, n, false, true),
            (_, StringOpKind::MatchesRegex) => false,
        }
    }
}

/// `left <op> right` over strings. Nulls read as empty strings, so the result is never null.
pub fn string_predicate(op: StringOp, left: Expr, right: Expr) -> Expr {
    // The right-hand side is nearly always a constant: prepare it (compile a regex) once, not
    // once per batch.
    let prepared = Mutex::new(None);
    let kernel = Kernel::Batch(Arc::new(move |args: &[ColumnarValue], rows| {
        eval_string_predicate(op, &prepared, &args[0], &args[1], rows)
    }));
    let name = match op.kind {
        StringOpKind::Contains => "contains",
        StringOpKind::StartsWith => "startswith",
        StringOpKind::EndsWith => "endswith",
        StringOpKind::Has => "has",
        StringOpKind::HasPrefix => "hasprefix",
        StringOpKind::HasSuffix => "hassuffix",
        StringOpKind::MatchesRegex => "matches_regex",
    };
    let name = format!("{}{name}{}", if op.negated { "!" } else { "" }, if op.case_sensitive { "_cs" } else { "" });
    KqlUdf::new(&name, vec![KqlType::String, KqlType::String], KqlType::Bool, kernel).call(vec![left, right])
}

/// The matcher of the last constant needle, kept by a `string_predicate` call.
type PreparedMatcher = Mutex<Option<(String, Arc<Matcher>)>>;

fn eval_string_predicate(
    op: StringOp,
    prepared: &PreparedMatcher,
    left: &ColumnarValue,
    right: &ColumnarValue,
    rows: usize,
) -> Result<ColumnarValue> {
    let flip = |b: bool| b != op.negated;
    match (left, right) {
        (_, ColumnarValue::Scalar(needle)) => {
            let needle = scalar_text(needle).unwrap_or_default();
            let matcher = {
                let mut last = prepared.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                match &*last {
                    Some((text, matcher)) if *text == needle => Arc::clone(matcher),
                    _ => {
                        let matcher = Arc::new(Matcher::new(op, &needle)?);
                        *last = Some((needle.clone(), Arc::clone(&matcher)));
                        matcher
                    }
                }
            };
            match left {
                ColumnarValue::Scalar(haystack) => {
                    let haystack = scalar_text(haystack).unwrap_or_default();
                    Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(flip(matcher.matches(op.kind, &haystack))))))
                }
                ColumnarValue::Array(array) => {
                    let key = format!("{op:?}\u{0}{needle}");
                    let result =
                        text_predicate(StringColumn::new(array)?, &key, |text| flip(matcher.matches(op.kind, text)));
                    Ok(ColumnarValue::Array(Arc::new(result)))
                }
            }
        }
        _ => {
            let left = left.to_array(rows)?;
            let right = right.to_array(rows)?;
            let haystacks = StringColumn::new(&left)?;
            let needles = StringColumn::new(&right)?;
            let mut builder = BooleanBuilder::with_capacity(rows);
            for row in 0..rows {
                let matcher = Matcher::new(op, needles.text(row))?;
                builder.append_value(flip(matcher.matches(op.kind, haystacks.text(row))));
            }
            Ok(ColumnarValue::Array(Arc::new(builder.finish())))
        }
    }
}

/// `left =~ right` (or `!~` when `negated`): case-insensitive equality.
pub fn equals_case_insensitive(left: Expr, right: Expr, negated: bool) -> Expr {
    let kernel = Kernel::Batch(Arc::new(move |args: &[ColumnarValue], rows| {
        let flip = move |b: bool| b != negated;
        match (&args[0], &args[1]) {
            (ColumnarValue::Array(array), ColumnarValue::Scalar(needle))
            | (ColumnarValue::Scalar(needle), ColumnarValue::Array(array)) => {
                let text = scalar_text(needle).unwrap_or_default();
                let key = format!("=~{negated}\u{0}{text}");
                let needle = CaseInsensitiveNeedle::new(&text);
                let result = text_predicate(StringColumn::new(array)?, &key, |text| flip(needle.equals(text)));
                Ok(ColumnarValue::Array(Arc::new(result)))
            }
            _ => {
                let left = args[0].to_array(rows)?;
                let right = args[1].to_array(rows)?;
                let (a, b) = (StringColumn::new(&left)?, StringColumn::new(&right)?);
                let result: BooleanArray = (0..rows)
                    .map(|row| Some(flip(CaseInsensitiveNeedle::new(b.text(row)).equals(a.text(row)))))
                    .collect();
                let result: ArrayRef = Arc::new(result);
                if matches!((&args[0], &args[1]), (ColumnarValue::Scalar(_), ColumnarValue::Scalar(_))) {
                    return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?));
                }
                Ok(ColumnarValue::Array(result))
            }
        }
    }));
    let name = if negated { "!~" } else { "=~" };
    KqlUdf::new(name, vec![KqlType::String, KqlType::String], KqlType::Bool, kernel).call(vec![left, right])
}

/// `value in~ (items)`: case-insensitive membership in a list of constant strings.
pub fn in_case_insensitive(value: Expr, items: Vec<String>, negated: bool) -> Expr {
    let lowered: Vec<String> = items.iter().map(|s| s.to_lowercase()).collect();
    let set: std::collections::HashSet<String> = lowered.iter().cloned().collect();
    let identity = lowered.join("\u{1}");
    let key = format!("in~{negated}\u{0}{identity}");
    let kernel = Kernel::Batch(Arc::new(move |args: &[ColumnarValue], rows| {
        let array = args[0].to_array(rows)?;
        let result = text_predicate(StringColumn::new(&array)?, &key, |text| {
            let found = if text.is_ascii() && !text.bytes().any(|b| b.is_ascii_uppercase()) {
                set.contains(text)
            } else {
                set.contains(&text.to_lowercase())
            };
            found != negated
        });
        scalar_or_array(&args[0], Arc::new(result))
    }));
    let name = if negated { "!in~" } else { "in~" };
    KqlUdf::new(name, vec![KqlType::String], KqlType::Bool, kernel).with_identity(identity).call(vec![value])
}

/// `value has_any (terms)` / `has_all`: term matching against a list of constant terms.
pub fn has_any_terms(value: Expr, terms: Vec<String>, all: bool) -> Expr {
    let identity = terms.join("\u{1}");
    let key = format!("has_all={all}\u{0}{identity}");
    let needles: Vec<CaseInsensitiveNeedle> = terms.iter().map(|t| CaseInsensitiveNeedle::new(t)).collect();
    let kernel = Kernel::Batch(Arc::new(move |args: &[ColumnarValue], rows| {
        let array = args[0].to_array(rows)?;
        let result = text_predicate(StringColumn::new(&array)?, &key, |text| {
            if all {
                needles.iter().all(|n| has_term(text, n, false, false))
            } else {
                needles.iter().any(|n| has_term(text, n, false, false))
            }
        });
        scalar_or_array(&args[0], Arc::new(result))
    }));
    let name = if all { "has_all" } else { "has_any" };
    KqlUdf::new(name, vec![KqlType::String], KqlType::Bool, kernel).with_identity(identity).call(vec![value])
}

fn scalar_or_array(input: &ColumnarValue, result: ArrayRef) -> Result<ColumnarValue> {
    match input {
        ColumnarValue::Scalar(_) => Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?)),
        ColumnarValue::Array(_) => Ok(ColumnarValue::Array(result)),
    }
}
