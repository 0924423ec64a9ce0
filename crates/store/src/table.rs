//! A table's state in memory: its schema, its live segments and its memtables, and the rules
//! for its names, its schema's evolution and the batches appended to it.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, TimestampNanosecondArray, new_null_array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use vigil_kql_functions::{KqlColumn, KqlType};

use crate::clock::RECEIVED_COLUMN;
use crate::error::StoreError;
use crate::segment::Segment;

/// The column that orders and partitions a table's rows in time, as in Azure Monitor.
pub(crate) const TIME_COLUMN: &str = "TimeGenerated";

/// Retention of a table defined without one, in days: Log Analytics' default for Sentinel.
pub(crate) const DEFAULT_RETENTION_DAYS: u32 = 90;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct TableKey {
    pub workspace: String,
    pub table: String,
}

impl TableKey {
    pub fn new(workspace: &str, table: &str) -> TableKey {
        TableKey { workspace: workspace.to_string(), table: table.to_string() }
    }
}

impl fmt::Display for TableKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.workspace, self.table)
    }
}

/// Appended batches not yet in Parquet, each already durable in the WAL. Batches keep the
/// schema they were appended with; readers conform them to the table's schema.
#[derive(Debug, Default, Clone)]
pub(crate) struct Memtable {
    pub batches: Vec<RecordBatch>,
    pub bytes: usize,
    /// The LSN of the newest batch: once this memtable is in segments, the table's
    /// `flushed_lsn`.
    pub max_lsn: u64,
}

impl Memtable {
    pub fn push(&mut self, lsn: u64, batch: RecordBatch, bytes: usize) {
        self.bytes += bytes;
        self.max_lsn = self.max_lsn.max(lsn);
        self.batches.push(batch);
    }

    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// Adds a newer memtable's batches after this one's.
    pub fn absorb(&mut self, newer: Memtable) {
        self.bytes += newer.bytes;
        self.max_lsn = self.max_lsn.max(newer.max_lsn);
        self.batches.extend(newer.batches);
    }
}

pub(crate) struct TableState {
    pub columns: Vec<KqlColumn>,
    /// The columns as queries see them.
    pub schema: SchemaRef,
    /// The columns and the ingestion time, as memtables and segments hold them.
    pub stored_schema: SchemaRef,
    pub retention_days: u32,
    /// Every append to this table with an LSN up to this one is in a segment.
    pub flushed_lsn: u64,
    /// Live segments, as the catalog lists them.
    pub segments: Vec<Segment>,
    /// Where appends go.
    pub active: Memtable,
    /// Being written to Parquet by a flush, or left by one that failed; still queryable.
    pub frozen: Option<Memtable>,
}

impl TableState {
    pub fn new(columns: Vec<KqlColumn>, retention_days: u32, flushed_lsn: u64) -> TableState {
        let schema = vigil_kql_functions::types::arrow_schema(&columns);
        TableState {
            stored_schema: stored_schema(&columns),
            columns,
            schema,
            retention_days,
            flushed_lsn,
            segments: Vec::new(),
            active: Memtable::default(),
            frozen: None,
        }
    }

    pub fn set_columns(&mut self, columns: Vec<KqlColumn>) {
        self.schema = vigil_kql_functions::types::arrow_schema(&columns);
        self.stored_schema = stored_schema(&columns);
        self.columns = columns;
    }

    /// Every unflushed batch, oldest first.
    pub fn memtable_batches(&self) -> Vec<RecordBatch> {
        let frozen = self.frozen.iter().flat_map(|m| m.batches.iter());
        frozen.chain(self.active.batches.iter()).cloned().collect()
    }
}

/// A table's columns followed by its ingestion time.
pub(crate) fn stored_schema(columns: &[KqlColumn]) -> SchemaRef {
    let mut with_received = columns.to_vec();
    with_received.push(KqlColumn::new(RECEIVED_COLUMN, KqlType::DateTime));
    vigil_kql_functions::types::arrow_schema(&with_received)
}

/// The batch with its rows' ingestion time as a last column.
pub(crate) fn with_received(batch: RecordBatch, received: i64) -> Result<RecordBatch, ArrowError> {
    let (schema, mut columns, rows) = batch.into_parts();
    let mut fields: Vec<_> = schema.fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new(RECEIVED_COLUMN, DataType::Timestamp(TimeUnit::Nanosecond, None), false)));
    columns.push(Arc::new(TimestampNanosecondArray::from_value(received, rows)));
    let schema = Schema::new_with_metadata(fields, schema.metadata().clone());
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    RecordBatch::try_new_with_options(Arc::new(schema), columns, &options)
}

/// Workspace and table names become object-store path segments, so they are restricted to
/// characters that are safe there and cannot climb out of the store (`..`, `/`).
pub(crate) fn check_name(what: &str, name: &str) -> Result<(), StoreError> {
    let valid_characters = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if name.is_empty() || name.len() > 256 || name.starts_with('.') || !valid_characters {
        return Err(StoreError::Schema(format!(
            "invalid {what} name '{name}': use 1 to 256 letters, digits, '_', '-' or '.', not starting with '.'"
        )));
    }
    Ok(())
}

/// The columns of a table after a definition: the existing columns in their order, then the
/// requested columns that are new. Existing columns must all be requested with their type.
pub(crate) fn evolve_columns(
    table: &str,
    existing: &[KqlColumn],
    requested: &[KqlColumn],
) -> Result<Vec<KqlColumn>, StoreError> {
    if requested.is_empty() {
        return Err(StoreError::Schema(format!("table '{table}' needs at least one column")));
    }
    for (index, column) in requested.iter().enumerate() {
        if column.name.is_empty() {
            return Err(StoreError::Schema(format!("column {} of table '{table}' has an empty name", index + 1)));
        }
        if requested[..index].iter().any(|earlier| earlier.name == column.name) {
            return Err(StoreError::Schema(format!("table '{table}' defines column '{}' twice", column.name)));
        }
    }
    for column in existing {
        match requested.iter().find(|r| r.name == column.name) {
            None => {
                return Err(StoreError::Schema(format!(
                    "column '{}' of table '{table}' is missing from the new definition; columns cannot be removed",
                    column.name
                )));
            }
            Some(r) if r.ty != column.ty => {
                return Err(StoreError::Schema(format!(
                    "column '{}' of table '{table}' is {}; changing its type to {} is not supported",
                    column.name, column.ty, r.ty
                )));
            }
            Some(_) => {}
        }
    }
    let mut columns = existing.to_vec();
    columns.extend(requested.iter().filter(|r| !existing.iter().any(|e| e.name == r.name)).cloned());
    Ok(columns)
}

/// Checks that an appended batch has the table's columns, in order, with their Arrow types.
pub(crate) fn check_batch_schema(table: &str, columns: &[KqlColumn], batch: &Schema) -> Result<(), StoreError> {
    let expected: Vec<String> = columns.iter().map(|c| format!("{}:{}", c.name, c.ty)).collect();
    if batch.fields().len() != columns.len() {
        return Err(StoreError::Schema(format!(
            "the batch has {} columns but table '{table}' has {}: ({})",
            batch.fields().len(),
            columns.len(),
            expected.join(", ")
        )));
    }
    for (index, (field, column)) in batch.fields().iter().zip(columns).enumerate() {
        let expected_type = column.ty.arrow();
        if field.name() != &column.name || field.data_type() != &expected_type {
            return Err(StoreError::Schema(format!(
                "column {} of the batch is '{}' of Arrow type {}, but table '{table}' has '{}' of type {} \
                 (Arrow {expected_type}) there",
                index + 1,
                field.name(),
                field.data_type(),
                column.name,
                column.ty
            )));
        }
    }
    Ok(())
}

/// The batch with `schema`'s columns: its own where it has them (by name), nulls for the
/// columns added to the table after it was written.
pub(crate) fn conform_batch(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, ArrowError> {
    if batch.schema().fields() == schema.fields() {
        return Ok(batch.clone());
    }
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|field| match batch.column_by_name(field.name()) {
            Some(column) if column.data_type() == field.data_type() => Ok(column.clone()),
            Some(column) => Err(ArrowError::SchemaError(format!(
                "column '{}' is {} in stored data but {} in the table",
                field.name(),
                column.data_type(),
                field.data_type()
            ))),
            None => Ok(new_null_array(field.data_type(), batch.num_rows())),
        })
        .collect::<Result<_, _>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(Arc::clone(schema), columns, &options)
}

/// The index of the table's time column, when it has one of type datetime.
pub(crate) fn time_column_index(schema: &Schema) -> Option<usize> {
    let index = schema.index_of(TIME_COLUMN).ok()?;
    let is_datetime = schema.field(index).data_type() == &DataType::Timestamp(TimeUnit::Nanosecond, None);
    is_datetime.then_some(index)
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Array, Int64Array};

    use super::*;

    fn columns(spec: &[(&str, KqlType)]) -> Vec<KqlColumn> {
        spec.iter().map(|(name, ty)| KqlColumn::new(*name, *ty)).collect()
    }

    #[test]
    fn evolution_appends_new_columns_after_the_existing_ones() {
        let existing = columns(&[("A", KqlType::Long), ("B", KqlType::String)]);
        let requested = columns(&[("C", KqlType::Real), ("B", KqlType::String), ("A", KqlType::Long)]);
        let evolved = evolve_columns("T", &existing, &requested).expect("evolves");
        assert_eq!(evolved, columns(&[("A", KqlType::Long), ("B", KqlType::String), ("C", KqlType::Real)]));
    }

    #[test]
    fn evolution_rejects_removed_retyped_and_duplicate_columns() {
        let existing = columns(&[("A", KqlType::Long), ("B", KqlType::String)]);
        let removed = evolve_columns("T", &existing, &columns(&[("A", KqlType::Long)])).expect_err("removal");
        assert!(removed.to_string().contains("'B'") && removed.to_string().contains("removed"), "{removed}");
        let retyped = evolve_columns("T", &existing, &columns(&[("A", KqlType::String), ("B", KqlType::String)]))
            .expect_err("type");
        assert!(retyped.to_string().contains("long") && retyped.to_string().contains("string"), "{retyped}");
        let twice = evolve_columns("T", &[], &columns(&[("A", KqlType::Long), ("A", KqlType::Long)])).expect_err("dup");
        assert!(twice.to_string().contains("twice"), "{twice}");
    }

    #[test]
    fn names_that_could_escape_the_segment_store_are_rejected() {
        for bad in ["", "..", "a/b", ".hidden", "a b", "ws\\x"] {
            assert!(check_name("table", bad).is_err(), "{bad:?} accepted");
        }
        for good in ["SecurityEvent", "Custom_CL", "3fa85f64-5717-4562-b3fc-2c963f66afa6", "a.b"] {
            assert!(check_name("table", good).is_ok(), "{good:?} rejected");
        }
    }

    #[test]
    fn old_batches_are_padded_with_nulls_for_new_columns() {
        let old_schema = vigil_kql_functions::types::arrow_schema(&columns(&[("A", KqlType::Long)]));
        let batch = RecordBatch::try_new(old_schema, vec![Arc::new(Int64Array::from(vec![1, 2]))]).expect("batch");
        let new_schema =
            vigil_kql_functions::types::arrow_schema(&columns(&[("A", KqlType::Long), ("B", KqlType::Dynamic)]));
        let padded = conform_batch(&batch, &new_schema).expect("conforms");
        assert_eq!(padded.schema(), new_schema);
        assert_eq!(padded.column(1).null_count(), 2);
        assert_eq!(padded.column(0).len(), 2);
    }
}
