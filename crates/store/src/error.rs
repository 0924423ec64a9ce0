//! The store's one error type. Each variant is a distinct answer for the server to give
//! (503, 404, 400, 429, 503), so callers match on the variant and show the message.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// Reading or writing the WAL, the catalog database or the segment store failed, or the
    /// data found there is corrupt. The message names the file or object and the cause.
    Io(String),
    /// No table of this name is defined in the workspace; the message names both.
    UnknownTable(String),
    /// A table definition or a batch does not fit the table's schema.
    Schema(String),
    /// Memtables hold `max_memtable_bytes` until a flush drains them: retry later.
    Overloaded,
    /// The store has been closed.
    Closed,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Io(message) => write!(f, "storage error: {message}"),
            StoreError::UnknownTable(message) | StoreError::Schema(message) => f.write_str(message),
            StoreError::Overloaded => {
                f.write_str("the store is overloaded: unflushed data is at its limit until a flush completes")
            }
            StoreError::Closed => f.write_str("the store is closed"),
        }
    }
}

impl std::error::Error for StoreError {}

/// An I/O error with what was being done when it happened.
pub(crate) fn io_error(doing: impl fmt::Display, cause: impl fmt::Display) -> StoreError {
    StoreError::Io(format!("{doing}: {cause}"))
}
