//! A catalog seen through a time range: what the query API's `timespan` does.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::TableProvider;
use datafusion::common::{ScalarValue, TableReference};
use datafusion::datasource::provider_as_source;
use datafusion::datasource::view::ViewTable;
use datafusion::logical_expr::{LogicalPlanBuilder, ident, lit};

use crate::workspace::WATCHLIST_TABLE;
use crate::{Catalog, Function, Table, WatchlistSchema};

/// The catalog's tables restricted to rows with a `TimeGenerated` in `[start, end]`
/// (nanoseconds). The filter reaches each table's scan, so a store prunes segments with it.
/// Watchlists are not events: their items stay whole whatever the range, as in Sentinel,
/// where a rule's period does not cut a watchlist.
pub fn time_range_catalog(inner: Arc<dyn Catalog>, start: i64, end: i64) -> Arc<dyn Catalog> {
    Arc::new(TimeRangeCatalog { inner, start, end })
}

struct TimeRangeCatalog {
    inner: Arc<dyn Catalog>,
    start: i64,
    end: i64,
}

impl Catalog for TimeRangeCatalog {
    fn table(&self, name: &str) -> Option<Table> {
        let table = self.inner.table(name)?;
        if name == WATCHLIST_TABLE {
            return Some(table);
        }
        let schema = table.provider.schema();
        let Ok(field) = schema.field_with_name("TimeGenerated") else {
            return Some(table);
        };
        let DataType::Timestamp(_, zone) = field.data_type() else {
            return Some(table);
        };
        let bound = |ns: i64| lit(ScalarValue::TimestampNanosecond(Some(ns), zone.clone()));
        let filter = ident("TimeGenerated").gt_eq(bound(self.start)).and(ident("TimeGenerated").lt_eq(bound(self.end)));
        let plan =
            LogicalPlanBuilder::scan(TableReference::bare(name), provider_as_source(table.provider.clone()), None)
                .and_then(|builder| builder.filter(filter))
                .and_then(|builder| builder.build())
                .expect("a filter on a timestamp column of the table's own schema");
        let provider: Arc<dyn TableProvider> = Arc::new(ViewTable::new(plan, None));
        Some(Table { provider, ..table })
    }

    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    fn populated_table_names(&self) -> Vec<String> {
        self.inner.populated_table_names()
    }

    fn function(&self, name: &str) -> Option<Arc<Function>> {
        self.inner.function(name)
    }

    fn function_names(&self) -> Vec<String> {
        self.inner.function_names()
    }

    fn watchlist(&self, alias: &str) -> Option<Arc<WatchlistSchema>> {
        self.inner.watchlist(alias)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryCatalog;
    use datafusion::arrow::array::{Int64Array, TimestampNanosecondArray};
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::prelude::SessionContext;
    use vigil_kql_functions::{KqlColumn, KqlType, types::arrow_schema};

    const HOUR: i64 = 3_600_000_000_000;

    #[tokio::test]
    async fn the_time_range_filters_tables_with_time_generated() {
        let columns = vec![KqlColumn::new("TimeGenerated", KqlType::DateTime), KqlColumn::new("n", KqlType::Long)];
        let batch = RecordBatch::try_new(
            arrow_schema(&columns),
            vec![
                Arc::new(TimestampNanosecondArray::from(vec![HOUR, 3 * HOUR])),
                Arc::new(Int64Array::from(vec![1, 2])),
            ],
        )
        .unwrap();
        let mut inner = MemoryCatalog::new();
        inner.add_batches("T", columns, vec![batch]).unwrap();
        inner.add_function(Function { name: "f".into(), parameters: String::new(), body: "T".into() });
        let catalog = time_range_catalog(Arc::new(inner), 2 * HOUR, 4 * HOUR);
        assert!(catalog.function("f").is_some(), "functions pass through");
        let table = catalog.table("T").unwrap();
        let context = SessionContext::new();
        let rows: usize = context
            .read_table(table.provider)
            .unwrap()
            .collect()
            .await
            .unwrap()
            .iter()
            .map(RecordBatch::num_rows)
            .sum();
        assert_eq!(rows, 1);
    }
}
