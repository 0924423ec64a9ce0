//! Uniform read access to Arrow's three string layouts, and the text kernels that KQL's
//! string operators share (ASCII-fast case-insensitive search, term boundaries).

use std::cell::RefCell;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, LargeStringArray, StringArray, StringViewArray,
};
use datafusion::arrow::buffer::{BooleanBuffer, MutableBuffer};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result};

use crate::memo::{MemoTable, ViewCache, ViewMemo, with_memo};

/// A string column in any of Arrow's layouts. Parquet scans produce views; functions produce
/// plain UTF-8; both must be accepted everywhere.
#[derive(Clone, Copy)]
pub enum StringColumn<'a> {
    Utf8(&'a StringArray),
    Large(&'a LargeStringArray),
    View(&'a StringViewArray),
}

impl<'a> StringColumn<'a> {
    pub fn new(array: &'a ArrayRef) -> Result<StringColumn<'a>> {
        Ok(match array.data_type() {
            DataType::Utf8 => StringColumn::Utf8(array.as_string::<i32>()),
            DataType::LargeUtf8 => StringColumn::Large(array.as_string::<i64>()),
            DataType::Utf8View => StringColumn::View(array.as_string_view()),
            other => return Err(DataFusionError::Internal(format!("expected a string column, found {other}"))),
        })
    }

    pub fn len(&self) -> usize {
        match self {
            StringColumn::Utf8(a) => a.len(),
            StringColumn::Large(a) => a.len(),
            StringColumn::View(a) => a.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The text at `row`, or `None` for null.
    #[inline]
    pub fn get(&self, row: usize) -> Option<&'a str> {
        match self {
            StringColumn::Utf8(a) => (!a.is_null(row)).then(|| a.value(row)),
            StringColumn::Large(a) => (!a.is_null(row)).then(|| a.value(row)),
            StringColumn::View(a) => (!a.is_null(row)).then(|| a.value(row)),
        }
    }

    /// The text at `row`, with null read as empty, which is how KQL sees strings.
    #[inline]
    pub fn text(&self, row: usize) -> &'a str {
        self.get(row).unwrap_or("")
    }

    pub fn null_count(&self) -> usize {
        match self {
            StringColumn::Utf8(a) => a.null_count(),
            StringColumn::Large(a) => a.null_count(),
            StringColumn::View(a) => a.null_count(),
        }
    }
}

thread_local! {
    static PREDICATE_MEMOS: MemoTable<String, ViewMemo> = const { RefCell::new(Vec::new()) };
}

/// `ViewCache` answers of a predicate.
const FALSE: u32 = 1;
const TRUE: u32 = 2;

/// Evaluates `predicate` on every row's text (null read as empty, as KQL reads it) into a
/// boolean array without nulls. `key` names the predicate (operator and operands): the same key
/// must mean the same answers.
///
/// Over string views, rows with the same view hold the same text: a Parquet column decodes each
/// dictionary entry to one view that all its rows share, and a short string is its own view. So
/// answers are remembered per view, across the batches of a column chunk: a dictionary-encoded
/// column (user agents, application names, operations: most of what hunting queries filter on)
/// is evaluated once per distinct value, as a dictionary-aware engine does, and a column of
/// distinct values costs one probe per row.
pub fn text_predicate(column: StringColumn<'_>, key: &str, mut predicate: impl FnMut(&str) -> bool) -> BooleanArray {
    let values = match column {
        StringColumn::View(array) => with_memo(&PREDICATE_MEMOS, key.to_string(), ViewMemo::new, |memo| {
            memo.adopt(array);
            answer_views(array, &mut memo.cache, &mut predicate)
        }),
        other => {
            let null_result = if other.null_count() > 0 { predicate("") } else { false };
            BooleanBuffer::collect_bool(other.len(), |row| match other.get(row) {
                Some(text) => predicate(text),
                None => null_result,
            })
        }
    };
    BooleanArray::new(values, None)
}

/// `text_predicate`'s loop over views, 64 rows to a word of the result. A null row reads as view
/// 0, the empty string, so that nulls take the same branch-free path as values.
fn answer_views(
    array: &StringViewArray,
    cache: &mut ViewCache,
    predicate: &mut impl FnMut(&str) -> bool,
) -> BooleanBuffer {
    let views = array.views();
    let mut words = MutableBuffer::new(views.len().div_ceil(64) * 8);
    let valid_chunks = array.nulls().filter(|n| n.null_count() > 0).map(|n| n.inner().bit_chunks());
    let mut valid_words = valid_chunks.as_ref().map(|c| c.iter_padded());
    for (chunk, chunk_views) in views.chunks(64).enumerate() {
        let valid = valid_words.as_mut().map_or(u64::MAX, |w| w.next().unwrap_or(0));
        let mut word = 0u64;
        for (bit, &view) in chunk_views.iter().enumerate() {
            let view = if valid >> bit & 1 == 1 { view } else { 0 };
            let answer = match cache.get_at_home(view) {
                Some(answer) => answer == TRUE,
                None => probe_or_evaluate(cache, view, array, chunk * 64 + bit, predicate),
            };
            word |= (answer as u64) << bit;
        }
        words.push(word);
    }
    BooleanBuffer::new(words.into(), 0, views.len())
}

/// The rare path of `text_predicate`, kept out of line so that the per-row loop inlines.
#[inline(never)]
fn probe_or_evaluate(
    cache: &mut ViewCache,
    view: u128,
    array: &StringViewArray,
    row: usize,
    predicate: &mut impl FnMut(&str) -> bool,
) -> bool {
    if let Some(answer) = cache.get(view) {
        return answer == TRUE;
    }
    let answer = predicate(if view == 0 { "" } else { array.value(row) });
    if cache.is_full() {
        cache.clear();
    }
    cache.insert(view, if answer { TRUE } else { FALSE });
    answer
}

/// Is `c` part of a term? KQL's terms are runs of ASCII letters and digits; every other
/// character, including all non-ASCII ones, separates terms.
#[inline]
pub fn is_term_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// A needle prepared for case-insensitive search: its lower-case form, and, when it is ASCII,
/// a finder for the fast path.
#[derive(Debug, Clone)]
pub struct CaseInsensitiveNeedle {
    lower: String,
    ascii: bool,
    first_lower: u8,
    first_upper: u8,
}

impl CaseInsensitiveNeedle {
    pub fn new(needle: &str) -> CaseInsensitiveNeedle {
        let lower = needle.to_lowercase();
        let ascii = needle.is_ascii();
        let first = lower.as_bytes().first().copied().unwrap_or(0);
        CaseInsensitiveNeedle { ascii, first_lower: first, first_upper: first.to_ascii_uppercase(), lower }
    }

    pub fn is_empty(&self) -> bool {
        self.lower.is_empty()
    }

    pub fn len(&self) -> usize {
        self.lower.len()
    }

    /// Calls `accept(start, end)` for each match in `haystack` until it returns true.
    pub fn find_where(&self, haystack: &str, mut accept: impl FnMut(&str, usize, usize) -> bool) -> bool {
        if self.lower.is_empty() {
            return accept(haystack, 0, 0);
        }
        if !self.ascii || !haystack.is_ascii() && !self.ascii_safe(haystack) {
            let lowered = haystack.to_lowercase();
            let mut from = 0;
            while let Some(offset) = lowered[from..].find(&self.lower) {
                let start = from + offset;
                if accept(&lowered, start, start + self.lower.len()) {
                    return true;
                }
                from = start + lowered[start..].chars().next().map_or(1, char::len_utf8);
            }
            return false;
        }
        let bytes = haystack.as_bytes();
        let needle = self.lower.as_bytes();
        let mut from = 0;
        while from + needle.len() <= bytes.len() {
            let Some(offset) =
                memchr::memchr2(self.first_lower, self.first_upper, &bytes[from..=bytes.len() - needle.len()])
            else {
                return false;
            };
            let start = from + offset;
            if bytes[start..start + needle.len()].eq_ignore_ascii_case(needle)
                && accept(haystack, start, start + needle.len())
            {
                return true;
            }
            from = start + 1;
        }
        false
    }

    /// A non-ASCII haystack can still be searched bytewise for an ASCII needle, since UTF-8
    /// continuation bytes never equal ASCII bytes; lower-casing would only matter for
    /// characters whose lower case is ASCII (the Kelvin sign), which we accept to miss.
    fn ascii_safe(&self, _haystack: &str) -> bool {
        self.ascii
    }

    pub fn contained_in(&self, haystack: &str) -> bool {
        self.find_where(haystack, |_, _, _| true)
    }

    pub fn is_prefix_of(&self, haystack: &str) -> bool {
        if self.ascii {
            let h = haystack.as_bytes();
            h.len() >= self.lower.len() && h[..self.lower.len()].eq_ignore_ascii_case(self.lower.as_bytes())
        } else {
            haystack.to_lowercase().starts_with(&self.lower)
        }
    }

    pub fn is_suffix_of(&self, haystack: &str) -> bool {
        if self.ascii {
            let h = haystack.as_bytes();
            h.len() >= self.lower.len() && h[h.len() - self.lower.len()..].eq_ignore_ascii_case(self.lower.as_bytes())
        } else {
            haystack.to_lowercase().ends_with(&self.lower)
        }
    }

    pub fn equals(&self, haystack: &str) -> bool {
        if self.ascii && haystack.is_ascii() {
            haystack.eq_ignore_ascii_case(&self.lower)
        } else {
            haystack.to_lowercase() == self.lower
        }
    }
}

/// Term matching as KQL's `has`: the needle occurs with a term boundary on each side where
/// the needle itself begins or ends with a term character.
pub fn has_term(haystack: &str, needle: &CaseInsensitiveNeedle, prefix_only: bool, suffix_only: bool) -> bool {
    let needle_bytes = needle.lower.as_bytes();
    if needle_bytes.is_empty() {
        return true;
    }
    let check_before = !suffix_only && is_term_byte(needle_bytes[0]);
    let check_after = !prefix_only && is_term_byte(needle_bytes[needle_bytes.len() - 1]);
    needle.find_where(haystack, |text, start, end| {
        let bytes = text.as_bytes();
        (!check_before || start == 0 || !is_term_byte(bytes[start - 1]))
            && (!check_after || end == bytes.len() || !is_term_byte(bytes[end]))
    })
}

/// Case-sensitive term matching (`has_cs`) with a prepared finder.
pub fn has_term_case_sensitive(
    haystack: &str,
    needle: &memchr::memmem::Finder<'_>,
    prefix_only: bool,
    suffix_only: bool,
) -> bool {
    let needle_bytes = needle.needle();
    if needle_bytes.is_empty() {
        return true;
    }
    let check_before = !suffix_only && is_term_byte(needle_bytes[0]);
    let check_after = !prefix_only && is_term_byte(needle_bytes[needle_bytes.len() - 1]);
    let bytes = haystack.as_bytes();
    needle.find_iter(bytes).any(|start| {
        let end = start + needle_bytes.len();
        (!check_before || start == 0 || !is_term_byte(bytes[start - 1]))
            && (!check_after || end == bytes.len() || !is_term_byte(bytes[end]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn term_matching() {
        let needle = CaseInsensitiveNeedle::new("admin");
        assert!(has_term("the Admin user", &needle, false, false));
        assert!(has_term("admin", &needle, false, false));
        assert!(has_term("x.ADMIN-y", &needle, false, false));
        assert!(!has_term("administrator", &needle, false, false));
        assert!(!has_term("sysadmin", &needle, false, false));
        assert!(has_term("administrator", &needle, true, false));
        assert!(has_term("sysadmin", &needle, false, true));
        assert!(has_term("é admin", &needle, false, false));
    }

    #[test]
    fn cached_predicates_answer_per_row() {
        // Short (inline) and long (buffer) views, repeated as a dictionary decode repeats them,
        // nulls, and many distinct values that collide in the cache.
        let mut texts: Vec<Option<String>> = Vec::new();
        for i in 0..20_000 {
            texts.push(match i % 5 {
                0 => Some("Mozilla/5.0 Firefox/121.0".to_string()),
                1 => Some("short fire".to_string()),
                2 => None,
                3 => Some(format!("distinct value number {i} firefox")),
                _ => Some(format!("other {i}")),
            });
        }
        let views: ArrayRef = std::sync::Arc::new(StringViewArray::from_iter(texts.iter().map(|t| t.as_deref())));
        let plain: ArrayRef = std::sync::Arc::new(StringArray::from_iter(texts.iter().map(|t| t.as_deref())));
        let needle = CaseInsensitiveNeedle::new("FIRE");
        let expected: Vec<bool> = texts.iter().map(|t| needle.contained_in(t.as_deref().unwrap_or(""))).collect();
        for array in [&views, &plain] {
            let result = text_predicate(StringColumn::new(array).unwrap(), "contains FIRE", |t| needle.contained_in(t));
            assert_eq!(result.null_count(), 0);
            assert_eq!(result.iter().map(Option::unwrap).collect::<Vec<_>>(), expected);
        }
        // A slice starts mid-word in the null bitmap.
        let sliced = views.slice(3, 10_001);
        let result = text_predicate(StringColumn::new(&sliced).unwrap(), "contains FIRE", |t| needle.contained_in(t));
        assert_eq!(result.iter().map(Option::unwrap).collect::<Vec<_>>(), expected[3..10_004]);
        let empty = text_predicate(StringColumn::new(&views).unwrap(), "isempty", str::is_empty);
        assert_eq!(empty.iter().filter(|b| b == &Some(true)).count(), 4_000, "nulls read as empty");
    }

    #[test]
    fn cached_answers_do_not_outlive_their_array() {
        // Same length, same first four bytes, both at offset 0 of buffer 0: equal views over
        // different text, as two batches hand them over one after the other.
        let first: ArrayRef = std::sync::Arc::new(StringViewArray::from_iter_values(["Mozilla firefox 121"]));
        let second: ArrayRef = std::sync::Arc::new(StringViewArray::from_iter_values(["Mozilla chrome 1212"]));
        let needle = CaseInsensitiveNeedle::new("firefox");
        let contains = |array: &ArrayRef| {
            text_predicate(StringColumn::new(array).unwrap(), "contains firefox", |t| needle.contained_in(t)).value(0)
        };
        assert!(contains(&first));
        assert!(!contains(&second));
        // A predicate that itself evaluates a predicate gets a cache of its own.
        let nested = text_predicate(StringColumn::new(&first).unwrap(), "outer", |t| {
            let inner: ArrayRef = std::sync::Arc::new(StringViewArray::from_iter_values([t.to_uppercase()]));
            text_predicate(StringColumn::new(&inner).unwrap(), "inner", |u| u.contains("FIREFOX")).value(0)
        });
        assert!(nested.value(0));
    }

    #[test]
    fn answers_follow_the_shared_buffer_and_the_key() {
        // Batches of one column chunk: different views into one buffer of dictionary values.
        let text = "Mozilla firefox 121/Mozilla chrome 1212";
        let buffer = datafusion::arrow::buffer::Buffer::from(text.as_bytes());
        let view = |offset: usize, len: usize| {
            let bytes = &text.as_bytes()[offset..offset + len];
            let prefix = u32::from_le_bytes(bytes[..4].try_into().unwrap());
            len as u128 | (prefix as u128) << 32 | (offset as u128) << 96
        };
        let batch = |views: Vec<u128>| -> ArrayRef {
            std::sync::Arc::new(StringViewArray::try_new(views.into(), vec![buffer.clone()], None).unwrap())
        };
        let (firefox, chrome) = (view(0, 19), view(20, 19));
        let first = batch(vec![firefox; 10]);
        let second = batch([chrome, firefox].repeat(5));
        let evaluated = std::cell::Cell::new(0);
        let run = |array: &ArrayRef, key: &str, needle: &str| {
            let needle = CaseInsensitiveNeedle::new(needle);
            let result = text_predicate(StringColumn::new(array).unwrap(), key, |t| {
                evaluated.set(evaluated.get() + 1);
                needle.contained_in(t)
            });
            result.iter().map(Option::unwrap).collect::<Vec<_>>()
        };
        assert_eq!(run(&first, "contains firefox (buffer test)", "firefox"), vec![true; 10]);
        assert_eq!(run(&second, "contains firefox (buffer test)", "firefox"), [false, true].repeat(5));
        assert_eq!(evaluated.get(), 2, "each distinct value once across both batches");
        assert_eq!(run(&second, "contains chrome (buffer test)", "chrome"), [true, false].repeat(5));
    }

    #[test]
    fn case_insensitive_search() {
        let needle = CaseInsensitiveNeedle::new("LoGoN");
        assert!(needle.contained_in("UserLogonFailed"));
        assert!(!needle.contained_in("UserLogoff"));
        assert!(needle.is_prefix_of("logonx"));
        assert!(needle.is_suffix_of("xLOGON"));
        let unicode = CaseInsensitiveNeedle::new("ÄB");
        assert!(unicode.contained_in("xäbx"));
    }
}
