//! What commands print on standard output.
//!
//! A reader that stops early (`vigil content list | grep -q name`, `| head`) closes the pipe; that is
//! the reader's choice, not a failure of the command, so it ends the command quietly with success, as
//! `ripgrep` and `git` do. Any other write error is reported.

use std::io::{ErrorKind, Write};

use serde_json::Value as Json;

use crate::Failure;

/// Writes `text` as it is.
pub fn text(text: &str) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()).map_err(|error| match error.kind() {
        ErrorKind::BrokenPipe => Failure::OutputClosed,
        _ => Failure::Query(format!("cannot write to standard output: {error}")),
    })
}

/// Writes `value` as indented JSON and a newline.
pub fn json(value: &Json) -> Result<(), Failure> {
    let rendered = serde_json::to_string_pretty(value)
        .map_err(|error| Failure::Query(format!("cannot render the result as JSON: {error}")))?;
    text(&format!("{rendered}\n"))
}
