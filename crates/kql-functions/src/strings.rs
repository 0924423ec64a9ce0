//! Uniform read access to Arrow's three string layouts, and the text kernels that KQL's
//! string operators share (ASCII-fast case-insensitive search, term boundaries).

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, LargeStringArray, StringArray, StringViewArray,
};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result};

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

/// Answers of a predicate per string view, for one array at a time (a view means nothing outside
/// its array). Keys and answers sit in separate arrays, so that a probe reads one answer byte
/// and, on a hit, one key; at 4,096 slots the hundreds of distinct values of a dictionary page
/// rarely collide, and a miss past a few probes just evaluates the predicate.
struct ViewCache {
    views: Box<[u128; VIEW_CACHE_SLOTS]>,
    /// 0: empty slot; 1: false; 2: true.
    answers: Box<[u8; VIEW_CACHE_SLOTS]>,
}

const VIEW_CACHE_SLOTS: usize = 1 << 12;
const VIEW_CACHE_PROBES: usize = 8;

impl ViewCache {
    fn new() -> ViewCache {
        ViewCache { views: Box::new([0; VIEW_CACHE_SLOTS]), answers: Box::new([0; VIEW_CACHE_SLOTS]) }
    }

    /// Runs `f` with the thread's cache, emptied (a fresh one if a predicate being evaluated
    /// evaluates another).
    fn with_empty<R>(f: impl FnOnce(&mut ViewCache) -> R) -> R {
        VIEW_CACHE.with(|cell| match cell.try_borrow_mut() {
            Ok(mut cache) => {
                cache.clear();
                f(&mut cache)
            }
            Err(_) => f(&mut ViewCache::new()),
        })
    }

    fn clear(&mut self) {
        self.answers.fill(0);
    }

    #[inline]
    fn home(view: u128) -> usize {
        let mixed = (view as u64) ^ ((view >> 64) as u64);
        (mixed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - VIEW_CACHE_SLOTS.trailing_zeros())) as usize
    }

    #[inline]
    fn get(&self, view: u128) -> Option<bool> {
        let home = Self::home(view);
        for probe in 0..VIEW_CACHE_PROBES {
            let slot = (home + probe) & (VIEW_CACHE_SLOTS - 1);
            match self.answers[slot] {
                0 => return None,
                answer if self.views[slot] == view => return Some(answer == 2),
                _ => {}
            }
        }
        None
    }

    #[inline]
    fn insert(&mut self, view: u128, answer: bool) {
        let home = Self::home(view);
        for probe in 0..VIEW_CACHE_PROBES {
            let slot = (home + probe) & (VIEW_CACHE_SLOTS - 1);
            if self.answers[slot] == 0 {
                self.views[slot] = view;
                self.answers[slot] = 1 + answer as u8;
                return;
            }
        }
    }
}

thread_local! {
    static VIEW_CACHE: std::cell::RefCell<ViewCache> = std::cell::RefCell::new(ViewCache::new());
}

/// Evaluates `predicate` on every row's text (null read as empty, as KQL reads it) into a
/// boolean array without nulls.
///
/// Over string views, rows with the same view hold the same text: a Parquet column decodes each
/// dictionary entry to one view that all its rows share, and a short string is its own view. A
/// small direct-mapped cache keyed by the view therefore evaluates a dictionary-encoded column
/// (user agents, application names, operations: most of what hunting queries filter on) once per
/// distinct value, as a dictionary-aware engine does, and costs one probe per row when the values
/// are all different.
pub fn text_predicate(column: StringColumn<'_>, mut predicate: impl FnMut(&str) -> bool) -> BooleanArray {
    let len = column.len();
    let null_result = if column.null_count() > 0 { predicate("") } else { false };
    let values =
        match column {
            StringColumn::View(array) => {
                let views = array.views();
                let nulls = array.nulls().filter(|n| n.null_count() > 0);
                ViewCache::with_empty(|cache| {
                    let mut evaluate = |row: usize| {
                        let view = views[row];
                        match cache.get(view) {
                            Some(answer) => answer,
                            None => evaluate_and_remember(cache, view, array.value(row), &mut predicate),
                        }
                    };
                    match nulls {
                        None => BooleanBuffer::collect_bool(len, evaluate),
                        Some(nulls) => BooleanBuffer::collect_bool(len, |row| {
                            if nulls.is_null(row) { null_result } else { evaluate(row) }
                        }),
                    }
                })
            }
            other => BooleanBuffer::collect_bool(len, |row| match other.get(row) {
                Some(text) => predicate(text),
                None => null_result,
            }),
        };
    BooleanArray::new(values, None)
}

/// The rare path of `text_predicate`, kept out of line so that the per-row loop inlines.
#[inline(never)]
fn evaluate_and_remember(
    cache: &mut ViewCache,
    view: u128,
    text: &str,
    predicate: &mut impl FnMut(&str) -> bool,
) -> bool {
    let answer = predicate(text);
    cache.insert(view, answer);
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
            let result = text_predicate(StringColumn::new(array).unwrap(), |t| needle.contained_in(t));
            assert_eq!(result.null_count(), 0);
            assert_eq!(result.iter().map(Option::unwrap).collect::<Vec<_>>(), expected);
        }
        let empty = text_predicate(StringColumn::new(&views).unwrap(), str::is_empty);
        assert_eq!(empty.iter().filter(|b| b == &Some(true)).count(), 4_000, "nulls read as empty");
    }

    #[test]
    fn cached_answers_do_not_outlive_their_array() {
        // Same length, same first four bytes, both at offset 0 of buffer 0: equal views over
        // different text, as two batches hand them over one after the other.
        let first: ArrayRef = std::sync::Arc::new(StringViewArray::from_iter_values(["Mozilla firefox 121"]));
        let second: ArrayRef = std::sync::Arc::new(StringViewArray::from_iter_values(["Mozilla chrome 1212"]));
        let needle = CaseInsensitiveNeedle::new("firefox");
        let contains =
            |array: &ArrayRef| text_predicate(StringColumn::new(array).unwrap(), |t| needle.contained_in(t)).value(0);
        assert!(contains(&first));
        assert!(!contains(&second));
        // A predicate that itself evaluates a predicate gets a cache of its own.
        let nested = text_predicate(StringColumn::new(&first).unwrap(), |t| {
            let inner: ArrayRef = std::sync::Arc::new(StringViewArray::from_iter_values([t.to_uppercase()]));
            text_predicate(StringColumn::new(&inner).unwrap(), |u| u.contains("FIREFOX")).value(0)
        });
        assert!(nested.value(0));
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
