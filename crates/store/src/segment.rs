//! Segments: immutable Parquet files of one table's rows from one UTC hour, sorted by time,
//! at `{workspace}/{table}/{YYYY-MM-DD}/{HH}/{uuid}.parquet` in the segment store.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::{SortOptions, concat_batches, max, min, sort_to_indices, take_record_batch};
use datafusion::arrow::datatypes::{SchemaRef, TimestampNanosecondType};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::metadata::SortingColumn;
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};

use crate::clock::RECEIVED_COLUMN;
use crate::error::StoreError;
use crate::table::{TableKey, conform_batch, time_column_index};

pub(crate) const HOUR_NANOS: i64 = 3_600_000_000_000;
/// Rows per row group: small enough that row-group statistics prune within an hour.
const ROW_GROUP_ROWS: usize = 128 * 1024;
const ZSTD_LEVEL: i32 = 3;

/// A segment as `Store::segments` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// The object's path in the segment store.
    pub path: String,
    /// The earliest and latest `TimeGenerated` in the segment; `None` for tables without one.
    pub min_time: Option<DateTime<Utc>>,
    pub max_time: Option<DateTime<Utc>>,
    pub rows: u64,
    pub bytes: u64,
}

/// A live segment as the catalog records it. Times are nanoseconds since the epoch.
#[derive(Debug, Clone)]
pub(crate) struct Segment {
    pub id: i64,
    pub path: String,
    /// The UTC hour (hours since the epoch) the segment's rows belong to.
    pub hour: i64,
    pub min_time: Option<i64>,
    pub max_time: Option<i64>,
    /// The earliest and latest ingestion time; `None` for segments written before it was kept.
    pub received: Option<(i64, i64)>,
    pub rows: u64,
    pub bytes: u64,
    pub created_at: i64,
}

impl Segment {
    pub fn info(&self) -> SegmentInfo {
        SegmentInfo {
            path: self.path.clone(),
            min_time: self.min_time.map(DateTime::from_timestamp_nanos),
            max_time: self.max_time.map(DateTime::from_timestamp_nanos),
            rows: self.rows,
            bytes: self.bytes,
        }
    }

    /// Whether the segment may hold rows with a time in `[lower, upper]` (either end open when
    /// `None`). Segments without time bounds always may.
    pub fn overlaps(&self, lower: Option<i64>, upper: Option<i64>) -> bool {
        let (Some(min_time), Some(max_time)) = (self.min_time, self.max_time) else {
            return true;
        };
        lower.is_none_or(|lower| max_time >= lower) && upper.is_none_or(|upper| min_time <= upper)
    }

    /// Whether the segment may hold rows received in `(after, until]`.
    pub fn received_within(&self, after: i64, until: i64) -> bool {
        self.received.is_none_or(|(min, max)| max > after && min <= until)
    }
}

/// A segment written to memory, ready to be put in the segment store.
pub(crate) struct EncodedSegment {
    pub path: String,
    pub data: Bytes,
    pub hour: i64,
    pub min_time: Option<i64>,
    pub max_time: Option<i64>,
    pub received: Option<(i64, i64)>,
    pub rows: u64,
}

/// Turns batches (of `schema` or an older version of it) into segments: sorted by time and one
/// per UTC hour when the table has a time column; rows without a time, and tables without a
/// time column, go to `fallback_hour`.
pub(crate) fn encode_segments(
    key: &TableKey,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    fallback_hour: i64,
) -> Result<Vec<EncodedSegment>, StoreError> {
    let failed = |e: &dyn std::fmt::Display| StoreError::Io(format!("cannot build a segment of table {key}: {e}"));
    let conformed =
        batches.iter().map(|b| conform_batch(b, schema)).collect::<Result<Vec<_>, _>>().map_err(|e| failed(&e))?;
    let rows = concat_batches(schema, &conformed).map_err(|e| failed(&e))?;
    if rows.num_rows() == 0 {
        return Ok(Vec::new());
    }
    let Some(time_index) = time_column_index(schema) else {
        return Ok(vec![encode_segment(key, &rows, fallback_hour, None, None).map_err(|e| failed(&e))?]);
    };
    let order =
        sort_to_indices(rows.column(time_index), Some(SortOptions { descending: false, nulls_first: true }), None)
            .map_err(|e| failed(&e))?;
    let sorted = take_record_batch(&rows, &order).map_err(|e| failed(&e))?;
    let times = sorted.column(time_index).as_primitive::<TimestampNanosecondType>();
    let mut segments = Vec::new();
    let untimed = times.null_count();
    if untimed > 0 {
        let slice = sorted.slice(0, untimed);
        segments.push(encode_segment(key, &slice, fallback_hour, None, Some(time_index)).map_err(|e| failed(&e))?);
    }
    let mut start = untimed;
    while start < sorted.num_rows() {
        let hour = times.value(start).div_euclid(HOUR_NANOS);
        let next_hour_start = (hour + 1).saturating_mul(HOUR_NANOS);
        // Sorted: the hour's rows are the run before the first time in the next hour.
        let length = times.values()[start..].partition_point(|t| *t < next_hour_start);
        let bounds = Some((times.value(start), times.value(start + length - 1)));
        let slice = sorted.slice(start, length);
        segments.push(encode_segment(key, &slice, hour, bounds, Some(time_index)).map_err(|e| failed(&e))?);
        start += length;
    }
    Ok(segments)
}

fn encode_segment(
    key: &TableKey,
    rows: &RecordBatch,
    hour: i64,
    bounds: Option<(i64, i64)>,
    sorted_by: Option<usize>,
) -> Result<EncodedSegment, datafusion::parquet::errors::ParquetError> {
    let sorting =
        sorted_by.map(|index| vec![SortingColumn { column_idx: index as i32, descending: false, nulls_first: true }]);
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(ZSTD_LEVEL)?))
        .set_dictionary_enabled(true)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_sorting_columns(sorting)
        .build();
    let mut writer = ArrowWriter::try_new(Vec::new(), rows.schema(), Some(properties))?;
    writer.write(rows)?;
    let data = writer.into_inner()?;
    let received = rows.column_by_name(RECEIVED_COLUMN).and_then(|column| {
        let times = column.as_primitive_opt::<TimestampNanosecondType>()?;
        Some((min(times)?, max(times)?))
    });
    Ok(EncodedSegment {
        path: segment_path(key, hour),
        data: Bytes::from(data),
        hour,
        min_time: bounds.map(|(min, _)| min),
        max_time: bounds.map(|(_, max)| max),
        received,
        rows: rows.num_rows() as u64,
    })
}

fn segment_path(key: &TableKey, hour: i64) -> String {
    let hour_directory = DateTime::from_timestamp(hour.saturating_mul(3600), 0)
        .map(|start| start.format("%Y-%m-%d/%H").to_string())
        .unwrap_or_else(|| format!("hour-{hour}"));
    format!("{}/{}/{hour_directory}/{}.parquet", key.workspace, key.table, uuid::Uuid::new_v4())
}

/// The rows of a segment file.
pub(crate) fn decode_segment(data: Bytes) -> Result<Vec<RecordBatch>, datafusion::parquet::errors::ParquetError> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(data)?.build()?;
    Ok(reader.collect::<Result<Vec<_>, _>>()?)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Int64Array, TimestampNanosecondArray};
    use vigil_kql_functions::{KqlColumn, KqlType};

    use super::*;

    #[test]
    fn rows_are_sorted_and_split_by_utc_hour() {
        let schema = vigil_kql_functions::types::arrow_schema(&[
            KqlColumn::new("TimeGenerated", KqlType::DateTime),
            KqlColumn::new("N", KqlType::Long),
        ]);
        let base = 480_000 * HOUR_NANOS; // 2024-10-04T00:00:00Z
        let times = vec![Some(base + HOUR_NANOS + 5), Some(base + 10), None, Some(base + 1), Some(base + HOUR_NANOS)];
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(TimestampNanosecondArray::from(times)), Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5]))],
        )
        .expect("batch");
        let key = TableKey::new("ws", "T");
        let segments = encode_segments(&key, &schema, &[batch], 7).expect("encodes");
        let summary: Vec<_> = segments.iter().map(|s| (s.hour, s.min_time, s.max_time, s.rows)).collect();
        assert_eq!(
            summary,
            vec![
                (7, None, None, 1),
                (480_000, Some(base + 1), Some(base + 10), 2),
                (480_001, Some(base + HOUR_NANOS), Some(base + HOUR_NANOS + 5), 2),
            ]
        );
        assert!(segments[1].path.starts_with("ws/T/2024-10-04/00/"), "{}", segments[1].path);
        assert!(segments[2].path.starts_with("ws/T/2024-10-04/01/"), "{}", segments[2].path);
        let rows = decode_segment(segments[1].data.clone()).expect("decodes");
        let numbers: Vec<i64> =
            rows[0].column(1).as_primitive::<datafusion::arrow::datatypes::Int64Type>().values().to_vec();
        assert_eq!(numbers, vec![4, 2]);
    }
}
