//! Errors of binding and running a query, as diagnostics with spans where the query has one.

use std::fmt;

use vigil_kql_syntax::{Code, Diagnostic, Span};

/// A binding error: a diagnostic, possibly without a position yet (filled in by the caller
/// that knows which part of the query was being bound).
#[derive(Debug, Clone)]
pub struct BindError(pub Diagnostic);

pub type BindResult<T> = Result<T, BindError>;

impl BindError {
    pub fn new(code: Code, span: Span, message: impl Into<String>) -> BindError {
        BindError(Diagnostic::error(code, span, message))
    }

    /// A plan-building failure; these point at the operator being bound once `at` is applied.
    pub fn plan(error: datafusion::error::DataFusionError) -> BindError {
        BindError(Diagnostic::error(Code::Unsupported, Span::default(), first_line(&error.to_string())))
    }

    /// Gives the error a position if it has none.
    pub fn at(mut self, span: Span) -> BindError {
        if self.0.span == Span::default() {
            self.0.span = span;
        }
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> BindError {
        self.0.help = Some(help.into());
        self
    }
}

/// DataFusion messages carry context lines and backtraces; users need the first line.
pub fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or(message).trim().to_string()
}

/// A DataFusion error as one line: the stage that failed (its context) and the root cause, which
/// DataFusion's own text puts on later lines.
pub fn execution_message(error: &datafusion::error::DataFusionError) -> String {
    use datafusion::error::DataFusionError;
    let mut stages = Vec::new();
    let mut current = error;
    while let DataFusionError::Context(stage, inner) = current {
        stages.push(stage.as_str());
        current = inner;
    }
    let cause = first_line(&current.to_string());
    if stages.is_empty() { cause } else { format!("{}: {cause}", stages.join(": ")) }
}

/// Why a query did not produce a result.
#[derive(Debug)]
pub enum QueryError {
    /// The query text does not parse, or does not bind: one or more diagnostics.
    Invalid(Vec<Diagnostic>),
    /// The query is valid but failed while running, for a reason of its own: an invalid regex
    /// in data, a value it cannot convert, a document `externaldata` cannot read.
    Execution(String),
    /// The stored data could not be read (a file, the object store, a damaged segment): the
    /// server's fault, not the query's. The message names files; it is for the server's log.
    Storage(String),
    /// A failure inside the engine that no query should meet: a bug. For the server's log.
    Internal(String),
    /// The query ran past its time limit and was cancelled.
    TimeLimit(std::time::Duration),
    /// The query needed more memory than its limit (in bytes) and was cancelled.
    MemoryLimit { limit: usize, detail: String },
}

impl QueryError {
    /// Renders for people, with carets under the offending text.
    pub fn render(&self, source: &str) -> String {
        match self {
            QueryError::Invalid(diagnostics) => {
                diagnostics.iter().map(|d| d.render(source)).collect::<Vec<_>>().join("\n\n")
            }
            other => format!("error[{}]: {other}", Code::Execution.as_str()),
        }
    }

    /// A failure of DataFusion while running: a memory-pool refusal is the memory limit, whatever
    /// operator met it.
    pub fn from_execution(error: &datafusion::error::DataFusionError, memory_limit: Option<usize>) -> QueryError {
        use datafusion::error::DataFusionError;
        match (error.find_root(), memory_limit) {
            (DataFusionError::ResourcesExhausted(detail), Some(limit)) => {
                QueryError::MemoryLimit { limit, detail: first_line(detail) }
            }
            (DataFusionError::IoError(_) | DataFusionError::ObjectStore(_) | DataFusionError::ParquetError(_), _) => {
                QueryError::Storage(execution_message(error))
            }
            (DataFusionError::Internal(_), _) => QueryError::Internal(execution_message(error)),
            _ => QueryError::Execution(execution_message(error)),
        }
    }
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::Invalid(diagnostics) => {
                let messages: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
                write!(f, "{}", messages.join("; "))
            }
            QueryError::Execution(message) => write!(f, "{message}"),
            QueryError::Storage(message) => write!(f, "the stored data could not be read: {message}"),
            QueryError::Internal(message) => write!(f, "internal error: {message}"),
            QueryError::TimeLimit(limit) => {
                write!(f, "the query ran longer than its time limit of {} and was cancelled", seconds(*limit))
            }
            QueryError::MemoryLimit { limit, detail } => write!(
                f,
                "the query needed more memory than its limit of {} MiB and was cancelled ({detail})",
                limit.div_ceil(1 << 20)
            ),
        }
    }
}

impl std::error::Error for QueryError {}

impl From<BindError> for QueryError {
    fn from(error: BindError) -> QueryError {
        QueryError::Invalid(vec![error.0])
    }
}

fn seconds(duration: std::time::Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds == 1.0 { "1 second".to_string() } else { format!("{seconds} seconds") }
}
