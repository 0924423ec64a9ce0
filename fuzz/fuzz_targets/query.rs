//! Whatever the text, running it as a query must end: with a result, a diagnostic or a clear
//! error, never a panic, an abort or a hang. The engine runs with the server's kind of limits
//! (time, memory, result size) over a small table, and the editor's check (`diagnose`, the
//! recovering binder) sees the same text.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use vigil_kql::{Catalog, Engine, MemoryCatalog, QueryLimits, RunOptions};
use vigil_kql_functions::{KqlColumn, KqlType};

struct Harness {
    runtime: tokio::runtime::Runtime,
    engine: Engine,
    catalog: Arc<dyn Catalog>,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let limits = QueryLimits { time: Some(Duration::from_secs(2)), max_rows: 10_000, max_bytes: 4 << 20 };
        let engine = Engine::with_memory_limit(256 << 20).unwrap().with_limits(limits);
        let mut catalog = MemoryCatalog::new();
        let columns = vec![
            KqlColumn::new("TimeGenerated", KqlType::DateTime),
            KqlColumn::new("Account", KqlType::String),
            KqlColumn::new("Count", KqlType::Long),
            KqlColumn::new("Score", KqlType::Real),
            KqlColumn::new("Properties", KqlType::Dynamic),
        ];
        let rows = "datatable(TimeGenerated: datetime, Account: string, Count: long, Score: real, Properties: dynamic) [\
            datetime(2026-01-01T00:00:00Z), 'alice', 3, 0.5, dynamic({\"ip\": \"10.0.0.1\", \"tags\": [1, 2]}),\
            datetime(2026-01-01T01:00:00Z), 'bob', 7, 1.5, dynamic(null),\
            datetime(2026-01-02T00:00:00Z), '', -1, real(nan), dynamic([\"x\"])]";
        let batches = runtime
            .block_on(Engine::new().run(rows, Arc::new(MemoryCatalog::new()), RunOptions::default()))
            .unwrap()
            .tables
            .remove(0)
            .batches;
        catalog.add_batches("Events", columns, batches).unwrap();
        Harness { runtime, engine, catalog: Arc::new(catalog) }
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let harness = harness();
    let (_, diagnostics) = harness.engine.diagnose(&text, harness.catalog.as_ref());
    for diagnostic in &diagnostics {
        assert!(diagnostic.span.end as usize <= text.len(), "a diagnostic points past the text");
    }
    match harness.runtime.block_on(harness.engine.run(&text, harness.catalog.clone(), RunOptions::default())) {
        Ok(result) => {
            let rows: usize = result.tables.iter().flat_map(|t| &t.batches).map(|b| b.num_rows()).sum();
            assert!(rows <= 10_000, "the result limit let {rows} rows through");
        }
        Err(error) => assert!(!error.render(&text).is_empty()),
    }
});
