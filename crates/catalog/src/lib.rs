//! What a workspace's KQL can name, and where the binder finds it.
//!
//! A workspace answers to its tables (the standard Log Analytics tables, embedded in
//! `standard`, and custom tables), its saved functions and its watchlists. The binder reaches
//! all of them through the `Catalog` trait, so the same binder serves the CLI (files), the
//! server (storage segments and the control plane) and tests (memory).
//!
//! Architecture invariant: this crate knows table schemas and definitions, not the binder,
//! storage or HTTP; the store and the control plane depend on it instead of on the engine.

pub mod builtin;
pub mod function;
pub mod open;
pub mod schema;
pub mod standard;
pub mod time_range;
pub mod workspace;

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use vigil_kql_functions::{KqlColumn, types::arrow_schema};

pub use function::{Function, WatchlistSchema};
pub use open::OpenColumns;
pub use schema::{SchemaError, TableSchema, load_schemas, parse_table_json, table_from_json};
pub use time_range::time_range_catalog;
pub use workspace::{Definitions, DefinitionsSource, WatchlistItemRow, WorkspaceCatalog};

/// A table as the binder sees it: its KQL columns and where its rows come from.
#[derive(Clone)]
pub struct Table {
    pub name: String,
    pub columns: Vec<KqlColumn>,
    pub provider: Arc<dyn TableProvider>,
    /// Columns the table has without listing them (see `open`).
    pub open: Option<OpenColumns>,
}

impl Table {
    /// A table with a schema's columns and no rows.
    pub fn empty(schema: &TableSchema) -> Table {
        let provider = MemTable::try_new(arrow_schema(&schema.columns), vec![vec![]])
            .expect("an empty table of a schema's own columns");
        Table {
            name: schema.name.clone(),
            columns: schema.columns.clone(),
            provider: Arc::new(provider),
            open: schema.open,
        }
    }
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table").field("name", &self.name).field("columns", &self.columns).finish()
    }
}

pub trait Catalog: Send + Sync {
    fn table(&self, name: &str) -> Option<Table>;
    fn table_names(&self) -> Vec<String>;

    /// The tables `search` and `union *` read: those that may hold rows. A workspace's
    /// standard tables that no row has reached are left out.
    fn populated_table_names(&self) -> Vec<String> {
        self.table_names()
    }

    /// A saved function of the workspace.
    fn function(&self, _name: &str) -> Option<Arc<Function>> {
        None
    }

    fn function_names(&self) -> Vec<String> {
        Vec::new()
    }

    /// The shape of a watchlist, for `_GetWatchlist('alias')`.
    fn watchlist(&self, _alias: &str) -> Option<Arc<WatchlistSchema>> {
        None
    }
}

/// Tables held in memory or registered from files, functions and watchlists, by name.
#[derive(Default, Clone)]
pub struct MemoryCatalog {
    tables: BTreeMap<String, Table>,
    /// Standard tables added empty and not replaced since: they hold no rows to search.
    empty_standard: std::collections::BTreeSet<String>,
    functions: BTreeMap<String, Arc<Function>>,
    watchlists: BTreeMap<String, Arc<WatchlistSchema>>,
}

impl MemoryCatalog {
    pub fn new() -> MemoryCatalog {
        MemoryCatalog::default()
    }

    pub fn add(&mut self, table: Table) {
        self.empty_standard.remove(&table.name);
        self.tables.insert(table.name.clone(), table);
    }

    /// Adds a table of record batches whose Arrow schema matches `columns`.
    pub fn add_batches(&mut self, name: &str, columns: Vec<KqlColumn>, batches: Vec<RecordBatch>) -> Result<()> {
        let schema: SchemaRef = batches.first().map(|b| b.schema()).unwrap_or_else(|| arrow_schema(&columns));
        let provider = MemTable::try_new(schema, vec![batches])?;
        self.add(Table { name: name.to_string(), columns, provider: Arc::new(provider), open: None });
        Ok(())
    }

    /// Adds a table with a schema's columns (completed by the standard table of its name, if
    /// any) and no rows, for checking queries.
    pub fn add_schema(&mut self, schema: &TableSchema) {
        self.add(Table::empty(&standard::complete(schema)));
    }

    /// Adds every standard Log Analytics table, empty.
    pub fn add_standard_tables(&mut self) {
        for schema in standard::tables() {
            self.add(Table::empty(schema));
            self.empty_standard.insert(schema.name.clone());
        }
    }

    pub fn add_function(&mut self, function: Function) {
        self.functions.insert(function.name.clone(), Arc::new(function));
    }

    pub fn add_watchlist(&mut self, watchlist: WatchlistSchema) {
        self.watchlists.insert(watchlist.alias.clone(), Arc::new(watchlist));
    }
}

impl Catalog for MemoryCatalog {
    fn table(&self, name: &str) -> Option<Table> {
        self.tables.get(name).cloned()
    }

    fn table_names(&self) -> Vec<String> {
        self.tables.keys().cloned().collect()
    }

    fn populated_table_names(&self) -> Vec<String> {
        self.tables.keys().filter(|name| !self.empty_standard.contains(*name)).cloned().collect()
    }

    fn function(&self, name: &str) -> Option<Arc<Function>> {
        self.functions.get(name).cloned().or_else(|| builtin::function(name))
    }

    fn function_names(&self) -> Vec<String> {
        self.functions.keys().cloned().chain(builtin::function_names().cloned()).collect()
    }

    fn watchlist(&self, alias: &str) -> Option<Arc<WatchlistSchema>> {
        self.watchlists.get(alias).cloned()
    }
}
