//! Queries run on a runtime of their own, apart from the one serving requests: a query's
//! partitions keep their threads busy for as long as it runs, and on the serving runtime they
//! would hold up every other request (ingestion, tokens, the console) of every tenant behind
//! them. On their own threads, the operating system shares the cores between serving and
//! querying, and the serving runtime stays responsive however heavy the queries are.

use std::future::Future;

use tokio::runtime::{Handle, Runtime};
use tokio::task::JoinHandle;

use crate::error::ApiError;

pub struct QueryRuntime {
    handle: Handle,
    /// Taken in `drop`, to shut it down without blocking.
    runtime: Option<Runtime>,
}

impl QueryRuntime {
    /// A runtime with one worker thread per core, each at a lower priority than the serving
    /// threads.
    pub fn new() -> std::io::Result<QueryRuntime> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .thread_name("vigil-query")
            .on_thread_start(lower_priority)
            .enable_all()
            .build()?;
        Ok(QueryRuntime { handle: runtime.handle().clone(), runtime: Some(runtime) })
    }

    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Runs `work` on the query runtime and waits for it. If the caller stops waiting (the
    /// client went away), the work is cancelled too.
    pub async fn run<T: Send + 'static>(&self, work: impl Future<Output = T> + Send + 'static) -> Result<T, ApiError> {
        let mut task = CancelOnDrop(self.handle.spawn(work));
        let outcome = (&mut task.0).await;
        outcome.map_err(|e| ApiError::internal(format!("the query task stopped: {e}")))
    }
}

impl Drop for QueryRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // Dropped from async code (the server's state at shutdown, a test's end), where
            // waiting for the threads is not allowed.
            runtime.shutdown_background();
        }
    }
}

/// Lowers the calling thread's priority. Linux keeps a nice value per thread (elsewhere it
/// would be the whole process's, so it is left alone there).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(None, QUERY_NICENESS) {
        tracing::warn!("cannot lower the priority of a query thread: {e}");
    }
}

#[cfg(target_os = "linux")]
const QUERY_NICENESS: i32 = 10;

struct CancelOnDrop<T>(JoinHandle<T>);

impl<T> Drop for CancelOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
