//! How queries see stored tables: a `vigil_catalog::Catalog` per workspace whose tables scan the
//! Parquet segments that may hold the query's time range and the memtables, both taken from
//! one snapshot so that a flush moving rows from one to the other is never seen half done.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{ScalarValue, TableReference, project_schema};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::memory::{DataSourceExec, MemorySourceConfig};
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::provider_as_source;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::datasource::view::ViewTable;
use datafusion::error::Result;
use datafusion::logical_expr::{
    Between, BinaryExpr, Expr, LogicalPlanBuilder, Operator, TableProviderFilterPushDown, TableType,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::union::UnionExec;
use datafusion::prelude::{ident, lit};
use vigil_catalog::{Catalog, Table};

use crate::Store;
use crate::clock::RECEIVED_COLUMN;
use crate::table::{TIME_COLUMN, TableKey, conform_batch, stored_schema};

/// One workspace's tables, all their rows or those received in a window.
pub(crate) struct WorkspaceCatalog {
    pub store: Arc<Store>,
    pub workspace: String,
    /// `(after, until]` in nanoseconds of ingestion time.
    pub received: Option<(i64, i64)>,
}

impl Catalog for WorkspaceCatalog {
    fn table(&self, name: &str) -> Option<Table> {
        let columns = self.store.table_columns(&self.workspace, name)?;
        let key = TableKey::new(&self.workspace, name);
        let provider: Arc<dyn TableProvider> = match self.received {
            None => {
                let schema = vigil_kql_functions::types::arrow_schema(&columns);
                Arc::new(StoredTable { store: self.store.clone(), key, schema, received: None })
            }
            Some(window) => match received_view(&self.store, key, &columns, window) {
                Ok(view) => view,
                Err(error) => {
                    tracing::error!(table = name, %error, "cannot restrict the table to an ingestion window");
                    return None;
                }
            },
        };
        Some(Table { name: name.to_string(), columns, provider, open: None })
    }

    fn table_names(&self) -> Vec<String> {
        self.store.table_names(&self.workspace)
    }
}

/// The rows of a table received in `(after, until]`, without the ingestion time column: a
/// view filtering a scan that prunes segments by their ingestion times.
fn received_view(
    store: &Arc<Store>,
    key: TableKey,
    columns: &[vigil_kql_functions::KqlColumn],
    (after, until): (i64, i64),
) -> Result<Arc<dyn TableProvider>> {
    let table = key.table.clone();
    let scan =
        StoredTable { store: store.clone(), key, schema: stored_schema(columns), received: Some((after, until)) };
    let bound = |nanos: i64| lit(ScalarValue::TimestampNanosecond(Some(nanos), None));
    let window = ident(RECEIVED_COLUMN).gt(bound(after)).and(ident(RECEIVED_COLUMN).lt_eq(bound(until)));
    let plan = LogicalPlanBuilder::scan(TableReference::bare(table), provider_as_source(Arc::new(scan)), None)?
        .filter(window)?
        .project(columns.iter().map(|c| ident(&c.name)))?
        .build()?;
    Ok(Arc::new(ViewTable::new(plan, None)))
}

/// A table's rows as of the scan, in the schema the table had when the query was bound.
struct StoredTable {
    store: Arc<Store>,
    key: TableKey,
    schema: SchemaRef,
    /// Only segments that may hold rows received in `(after, until]` are read.
    received: Option<(i64, i64)>,
}

impl fmt::Debug for StoredTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredTable").field("table", &self.key.to_string()).finish()
    }
}

#[async_trait::async_trait]
impl TableProvider for StoredTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// Every filter is offered for pruning segments by time; DataFusion still applies them all.
    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let range = TimeRange::of_filters(filters);
        let snapshot = self.store.snapshot(&self.key, range.lower, range.upper, self.received);
        let partitions = state.config().target_partitions().max(1);
        let mut inputs: Vec<Arc<dyn ExecutionPlan>> = Vec::new();
        if !snapshot.segments.is_empty() {
            let format = ParquetFormat::default().with_options(state.table_options().parquet.clone());
            let source = format.file_source(TableSchema::from(&self.schema));
            let mut groups = vec![Vec::new(); partitions.min(snapshot.segments.len())];
            let group_count = groups.len();
            for (index, (path, bytes)) in snapshot.segments.into_iter().enumerate() {
                groups[index % group_count].push(PartitionedFile::new(path, bytes));
            }
            let config = FileScanConfigBuilder::new(self.store.segment_store_url(), source)
                .with_file_groups(groups.into_iter().map(FileGroup::new).collect())
                .with_projection_indices(projection.cloned())?
                .with_limit(limit)
                .build();
            inputs.push(format.create_physical_plan(state, config).await?);
        }
        if !snapshot.batches.is_empty() {
            let mut groups = vec![Vec::new(); partitions.min(snapshot.batches.len())];
            let group_count = groups.len();
            for (index, batch) in snapshot.batches.iter().enumerate() {
                groups[index % group_count].push(conform_batch(batch, &self.schema)?);
            }
            let source =
                MemorySourceConfig::try_new(&groups, self.schema.clone(), projection.cloned())?.with_limit(limit);
            inputs.push(DataSourceExec::from_data_source(source));
        }
        if inputs.is_empty() {
            return Ok(Arc::new(EmptyExec::new(project_schema(&self.schema, projection)?)));
        }
        UnionExec::try_new(inputs)
    }
}

/// The rows of a table a scan reads: segment paths and sizes, and memtable batches.
pub(crate) struct Snapshot {
    pub segments: Vec<(String, u64)>,
    pub batches: Vec<datafusion::arrow::record_batch::RecordBatch>,
}

/// The `TimeGenerated` range a query's filters allow, in nanoseconds, both ends inclusive
/// (a strict bound is widened to inclusive: the filter itself still runs).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct TimeRange {
    pub lower: Option<i64>,
    pub upper: Option<i64>,
}

impl TimeRange {
    pub fn of_filters(filters: &[Expr]) -> TimeRange {
        let mut range = TimeRange::default();
        for filter in filters {
            range.narrow(filter);
        }
        range
    }

    fn narrow(&mut self, filter: &Expr) {
        match filter {
            Expr::BinaryExpr(BinaryExpr { left, op: Operator::And, right }) => {
                self.narrow(left);
                self.narrow(right);
            }
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                if is_time_column(left)
                    && let Some(time) = timestamp_literal(right)
                {
                    self.compare(*op, time);
                } else if is_time_column(right)
                    && let Some(time) = timestamp_literal(left)
                    && let Some(op) = op.swap()
                {
                    self.compare(op, time);
                }
            }
            Expr::Between(Between { expr, negated: false, low, high }) if is_time_column(expr) => {
                if let Some(low) = timestamp_literal(low) {
                    self.compare(Operator::GtEq, low);
                }
                if let Some(high) = timestamp_literal(high) {
                    self.compare(Operator::LtEq, high);
                }
            }
            _ => {}
        }
    }

    /// Narrows by `TimeGenerated <op> time`.
    fn compare(&mut self, op: Operator, time: i64) {
        let raise_lower = |lower: &mut Option<i64>| *lower = Some(lower.map_or(time, |l| l.max(time)));
        let drop_upper = |upper: &mut Option<i64>| *upper = Some(upper.map_or(time, |u| u.min(time)));
        match op {
            Operator::Eq => {
                raise_lower(&mut self.lower);
                drop_upper(&mut self.upper);
            }
            Operator::Gt | Operator::GtEq => raise_lower(&mut self.lower),
            Operator::Lt | Operator::LtEq => drop_upper(&mut self.upper),
            _ => {}
        }
    }
}

fn is_time_column(expr: &Expr) -> bool {
    matches!(expr, Expr::Column(column) if column.name == TIME_COLUMN)
}

/// A timestamp literal in nanoseconds since the epoch.
fn timestamp_literal(expr: &Expr) -> Option<i64> {
    let Expr::Literal(value, _) = expr else {
        return None;
    };
    match value {
        ScalarValue::TimestampNanosecond(Some(v), _) => Some(*v),
        ScalarValue::TimestampMicrosecond(Some(v), _) => Some(v.saturating_mul(1_000)),
        ScalarValue::TimestampMillisecond(Some(v), _) => Some(v.saturating_mul(1_000_000)),
        ScalarValue::TimestampSecond(Some(v), _) => Some(v.saturating_mul(1_000_000_000)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The column, named without the SQL case folding of `col`.
    fn col(name: &str) -> Expr {
        ident(name)
    }

    fn time(nanos: i64) -> Expr {
        lit(ScalarValue::TimestampNanosecond(Some(nanos), None))
    }

    #[test]
    fn bounds_come_from_comparisons_with_timestamp_literals() {
        let range = TimeRange::of_filters(&[col(TIME_COLUMN).gt_eq(time(10)), col(TIME_COLUMN).lt(time(20))]);
        assert_eq!(range, TimeRange { lower: Some(10), upper: Some(20) });
        let mirrored = TimeRange::of_filters(&[time(15).lt(col(TIME_COLUMN))]);
        assert_eq!(mirrored, TimeRange { lower: Some(15), upper: None });
        let equal = TimeRange::of_filters(&[col(TIME_COLUMN).eq(time(7))]);
        assert_eq!(equal, TimeRange { lower: Some(7), upper: Some(7) });
    }

    #[test]
    fn conjunctions_and_between_narrow_the_range() {
        let filter = col(TIME_COLUMN).between(time(5), time(50)).and(col(TIME_COLUMN).gt(time(8)));
        assert_eq!(TimeRange::of_filters(&[filter]), TimeRange { lower: Some(8), upper: Some(50) });
    }

    #[test]
    fn other_filters_leave_the_range_open() {
        let filters = [
            col(TIME_COLUMN).gt(time(1)).or(col(TIME_COLUMN).lt(time(0))),
            col("Other").gt(time(3)),
            col(TIME_COLUMN).not_between(time(1), time(2)),
            col(TIME_COLUMN).not_eq(time(4)),
            col(TIME_COLUMN).gt(lit(5i64)),
        ];
        assert_eq!(TimeRange::of_filters(&filters), TimeRange::default());
    }
}
