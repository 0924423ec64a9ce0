//! A workspace as queries see it: stored rows, over the definitions that say what exists.
//!
//! A name resolves to the workspace's stored table when rows have arrived, else to its
//! definition (a custom table, or a standard table) with no rows. Saved functions and watchlists
//! come from the definitions; the `Watchlist` table is built from the watchlists' items.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringArray, TimestampNanosecondArray};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use vigil_kql_functions::types::arrow_schema;

use crate::{Catalog, Function, Table, TableSchema, WatchlistSchema, standard};

/// The name of the table watchlist items are read from.
pub const WATCHLIST_TABLE: &str = "Watchlist";

/// One change to a watchlist item, as a row of the `Watchlist` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchlistItemRow {
    pub alias: String,
    pub watchlist_id: String,
    pub watchlist_name: String,
    pub provider: String,
    pub source: String,
    pub item_id: String,
    pub search_key: String,
    /// The item's columns as a JSON object.
    pub properties: String,
    /// `Create`, `Update` or `Delete`.
    pub status: String,
    /// When the change was made, nanoseconds since the epoch.
    pub changed_at: i64,
    pub created_at: i64,
    pub changed_by: String,
}

/// What a workspace defines besides its stored rows.
#[derive(Debug, Clone, Default)]
pub struct Definitions {
    pub tenant_id: String,
    pub workspace_id: String,
    /// Custom tables, and standard tables redefined.
    pub tables: BTreeMap<String, TableSchema>,
    /// Saved functions by every name they answer to.
    pub functions: BTreeMap<String, Arc<Function>>,
    pub watchlists: BTreeMap<String, Arc<WatchlistSchema>>,
    pub watchlist_items: Vec<WatchlistItemRow>,
}

impl Definitions {
    /// A table's definition: its own, else the standard table of that name.
    pub fn table(&self, name: &str) -> Option<&TableSchema> {
        self.tables.get(name).or_else(|| standard::table(name))
    }

    /// The rows of the `Watchlist` table, in the standard table's columns.
    fn watchlist_table(&self) -> Table {
        let schema = standard::table(WATCHLIST_TABLE).expect("the standard Watchlist table");
        let rows = &self.watchlist_items;
        let text = |f: &dyn Fn(&WatchlistItemRow) -> String| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
        };
        let time = |f: &dyn Fn(&WatchlistItemRow) -> i64| -> ArrayRef {
            Arc::new(TimestampNanosecondArray::from_iter_values(rows.iter().map(f)))
        };
        let nulls =
            |ty: vigil_kql_functions::KqlType| datafusion::arrow::array::new_null_array(&ty.arrow(), rows.len());
        let columns: Vec<ArrayRef> = schema
            .columns
            .iter()
            .map(|column| match column.name.as_str() {
                "AzureTenantId" => text(&|_| self.tenant_id.clone()),
                "TenantId" => text(&|_| self.workspace_id.clone()),
                "Type" => text(&|_| WATCHLIST_TABLE.to_string()),
                "SourceSystem" => text(&|_| "Vigil".to_string()),
                "CreatedBy" | "UpdatedBy" => text(&|r| serde_json::json!({ "name": r.changed_by }).to_string()),
                "CreatedTimeUTC" => time(&|r| r.created_at),
                "LastUpdatedTimeUTC" | "_DTTimestamp" | "TimeGenerated" => time(&|r| r.changed_at),
                "_DTItemId" | "WatchlistItemId" => text(&|r| r.item_id.clone()),
                "_DTItemStatus" => text(&|r| r.status.clone()),
                "_DTItemType" => text(&|_| "watchlist-item".to_string()),
                "SearchKey" => text(&|r| r.search_key.clone()),
                "WatchlistAlias" => text(&|r| r.alias.clone()),
                "WatchlistId" => text(&|r| r.watchlist_id.clone()),
                "WatchlistName" => text(&|r| r.watchlist_name.clone()),
                "WatchlistItem" => text(&|r| r.properties.clone()),
                "Provider" => text(&|r| r.provider.clone()),
                "Source" => text(&|r| r.source.clone()),
                "_IsBillable" => text(&|_| "False".to_string()),
                "CorrelationId" | "DefaultDuration" | "Notes" | "Tags" | "WatchlistCategory" => {
                    text(&|_| String::new())
                }
                _ => nulls(column.ty),
            })
            .collect();
        let arrow = arrow_schema(&schema.columns);
        let batch = RecordBatch::try_new(arrow.clone(), columns).expect("columns built from the schema");
        let provider = MemTable::try_new(arrow, vec![vec![batch]]).expect("a batch of the schema");
        Table { name: schema.name.clone(), columns: schema.columns.clone(), provider: Arc::new(provider), open: None }
    }
}

/// Where the current definitions of a workspace come from: the control plane, cached by the
/// server. Background work (the rule scheduler) reads them through this.
pub trait DefinitionsSource: Send + Sync {
    fn definitions<'a>(
        &'a self,
        workspace_id: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Arc<Definitions>, String>> + Send + 'a>>;
}

/// Definitions that do not change while they are used: tests and one-shot commands.
impl DefinitionsSource for Definitions {
    fn definitions<'a>(
        &'a self,
        _workspace_id: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Arc<Definitions>, String>> + Send + 'a>> {
        let definitions = Arc::new(self.clone());
        Box::pin(async move { Ok(definitions) })
    }
}

/// The catalog of one workspace: stored tables (all rows, or those of a window) over its
/// definitions.
pub struct WorkspaceCatalog {
    stored: Arc<dyn Catalog>,
    definitions: Arc<Definitions>,
}

impl WorkspaceCatalog {
    pub fn new(stored: Arc<dyn Catalog>, definitions: Arc<Definitions>) -> WorkspaceCatalog {
        WorkspaceCatalog { stored, definitions }
    }
}

impl Catalog for WorkspaceCatalog {
    fn table(&self, name: &str) -> Option<Table> {
        if name == WATCHLIST_TABLE {
            return Some(self.definitions.watchlist_table());
        }
        let definition = self.definitions.table(name);
        match self.stored.table(name) {
            Some(mut stored) => {
                stored.open = definition.and_then(|d| d.open);
                Some(stored)
            }
            None => definition.map(Table::empty),
        }
    }

    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.stored.table_names();
        names.extend(self.definitions.tables.keys().cloned());
        names.extend(standard::tables().map(|t| t.name.clone()));
        names.sort_unstable();
        names.dedup();
        names
    }

    fn populated_table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.stored.table_names();
        names.extend(self.definitions.tables.keys().cloned());
        names.sort_unstable();
        names.dedup();
        names
    }

    fn function(&self, name: &str) -> Option<Arc<Function>> {
        self.definitions.functions.get(name).cloned().or_else(|| crate::builtin::function(name))
    }

    fn function_names(&self) -> Vec<String> {
        self.definitions.functions.keys().cloned().chain(crate::builtin::function_names().cloned()).collect()
    }

    fn watchlist(&self, alias: &str) -> Option<Arc<WatchlistSchema>> {
        self.definitions.watchlists.get(alias).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryCatalog;

    #[test]
    fn standard_tables_exist_empty_and_stored_ones_win() {
        let mut stored = MemoryCatalog::new();
        let syslog = standard::table("Syslog").unwrap().clone();
        stored.add_schema(&syslog);
        let catalog = WorkspaceCatalog::new(Arc::new(stored), Arc::new(Definitions::default()));
        assert!(catalog.table("SigninLogs").is_some());
        assert!(catalog.table("Nope_CL").is_none());
        let diagnostics = catalog.table("AzureDiagnostics").unwrap();
        assert_eq!(diagnostics.open, Some(crate::OpenColumns::Suffixed));
        assert!(catalog.table_names().iter().any(|n| n == "Watchlist"));
    }

    #[test]
    fn watchlist_items_are_rows_of_the_watchlist_table() {
        let item = WatchlistItemRow {
            alias: "VIP".into(),
            watchlist_id: "w1".into(),
            watchlist_name: "VIP users".into(),
            provider: "Custom".into(),
            source: "vip.csv".into(),
            item_id: "i1".into(),
            search_key: "alice".into(),
            properties: r#"{"User":"alice"}"#.into(),
            status: "Create".into(),
            changed_at: 1,
            created_at: 1,
            changed_by: "owner".into(),
        };
        let definitions = Definitions { watchlist_items: vec![item], ..Definitions::default() };
        let table = WorkspaceCatalog::new(Arc::new(MemoryCatalog::new()), Arc::new(definitions))
            .table(WATCHLIST_TABLE)
            .unwrap();
        assert_eq!(table.name, WATCHLIST_TABLE);
        assert!(table.columns.iter().any(|c| c.name == "WatchlistItem"));
    }
}
