//! Where the binder finds tables. The planner reaches data only through this trait, so the
//! same binder serves the CLI (files), the server (storage segments) and tests (memory).

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use vigil_kql_functions::{KqlColumn, types::arrow_schema};

/// A table as the binder sees it: its KQL columns and where its rows come from.
#[derive(Clone)]
pub struct Table {
    pub name: String,
    pub columns: Vec<KqlColumn>,
    pub provider: Arc<dyn TableProvider>,
    /// Other names queries may use for a column: `(alias, column)`.
    pub aliases: Vec<(String, String)>,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table").field("name", &self.name).field("columns", &self.columns).finish()
    }
}

pub trait Catalog: Send + Sync {
    fn table(&self, name: &str) -> Option<Table>;
    fn table_names(&self) -> Vec<String>;
}

/// Tables held in memory or registered from files, by name.
#[derive(Default, Clone)]
pub struct MemoryCatalog {
    tables: BTreeMap<String, Table>,
}

impl MemoryCatalog {
    pub fn new() -> MemoryCatalog {
        MemoryCatalog::default()
    }

    pub fn add(&mut self, table: Table) {
        self.tables.insert(table.name.clone(), table);
    }

    /// Adds a table of record batches whose Arrow schema matches `columns`.
    pub fn add_batches(&mut self, name: &str, columns: Vec<KqlColumn>, batches: Vec<RecordBatch>) -> Result<()> {
        let schema: SchemaRef = batches.first().map(|b| b.schema()).unwrap_or_else(|| arrow_schema(&columns));
        let provider = MemTable::try_new(schema, vec![batches])?;
        self.add(Table { name: name.to_string(), columns, provider: Arc::new(provider), aliases: Vec::new() });
        Ok(())
    }

    /// Adds a table with a schema's columns and aliases and no rows, for checking queries.
    pub fn add_schema(&mut self, schema: &crate::schema::TableSchema) -> Result<()> {
        self.add_batches(&schema.name, schema.columns.clone(), vec![])?;
        if let Some(table) = self.tables.get_mut(&schema.name) {
            table.aliases = schema.aliases();
        }
        Ok(())
    }
}

impl Catalog for MemoryCatalog {
    fn table(&self, name: &str) -> Option<Table> {
        self.tables.get(name).cloned()
    }

    fn table_names(&self) -> Vec<String> {
        self.tables.keys().cloned().collect()
    }
}
