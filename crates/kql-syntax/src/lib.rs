//! The Kusto Query Language syntax: text to a tree with byte spans, and diagnostics.
//!
//! Architecture invariant: this crate has no dependencies. It knows nothing of schemas,
//! types or execution; the binder in `vigil-kql` gives the tree meaning.

pub mod ast;
pub mod diagnostic;
pub mod lexer;
pub mod literal;
mod parser;

pub use diagnostic::{Code, Diagnostic, LineCol, Severity, Span, suggest};
pub use parser::{OPERATOR_NAMES, Parsed, canonical_type_name, parse};

/// JSON text helpers shared by literal parsing and value formatting.
pub mod json {
    pub use crate::parser::dynamic_json::{write_json_real, write_json_string};
}
