//! Tables from files for `vigil query --table NAME=FILE`: JSON lines, a JSON array, CSV,
//! Parquet, or a folder of Parquet files, with KQL types taken from a schema file or inferred
//! from the values.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::prelude::SessionContext;
use serde_json::Value as Json;
use vigil_catalog::{MemoryCatalog, Table, TableSchema};
use vigil_kql_functions::value::{ValueBuilder, convert};
use vigil_kql_functions::{KqlColumn, KqlType, Value};

/// Rows per record batch of tables read from text formats.
const BATCH_ROWS: usize = 8192;

/// Adds the table in `path` (a file, or a folder of Parquet files) as `name`, typed by `schema`
/// when one is given.
pub async fn add_file(
    catalog: &mut MemoryCatalog,
    context: &SessionContext,
    name: &str,
    path: &Path,
    schema: Option<&TableSchema>,
) -> Result<(), String> {
    if path.is_dir() {
        return add_parquet(catalog, context, name, path, schema).await;
    }
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match extension.as_str() {
        "parquet" => add_parquet(catalog, context, name, path, schema).await,
        "jsonl" | "ndjson" | "json" | "csv" => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let records = match extension.as_str() {
                "csv" => read_csv(&text).map_err(|e| format!("{}: {e}", path.display()))?,
                "json" => read_json_array(&text).map_err(|e| format!("{}: {e}", path.display()))?,
                _ => read_json_lines(&text).map_err(|e| format!("{}: {e}", path.display()))?,
            };
            let columns = match schema {
                Some(schema) => schema.columns.clone(),
                None => infer_columns(&records, extension == "csv"),
            };
            let batches = to_batches(&columns, &records)?;
            catalog.add_batches(name, columns, batches).map_err(|e| e.to_string())
        }
        other => Err(format!(
            "{}: unsupported file type '.{other}'; use .jsonl, .json, .csv, .parquet or a folder of .parquet files",
            path.display()
        )),
    }
}

async fn add_parquet(
    catalog: &mut MemoryCatalog,
    context: &SessionContext,
    name: &str,
    path: &Path,
    schema: Option<&TableSchema>,
) -> Result<(), String> {
    let absolute = std::fs::canonicalize(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    // A listing URL names a folder only with a trailing slash.
    let location = if absolute.is_dir() {
        format!("{}/", absolute.to_string_lossy())
    } else {
        absolute.to_string_lossy().into_owned()
    };
    let url = ListingTableUrl::parse(location).map_err(|e| e.to_string())?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .infer_schema(&context.state())
        .await
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let arrow_schema =
        config.file_schema.clone().ok_or_else(|| format!("{}: no Parquet files with a schema", path.display()))?;
    let provider = ListingTable::try_new(config).map_err(|e| e.to_string())?;
    let columns = match schema {
        Some(schema) => schema.columns.clone(),
        None => arrow_schema
            .fields()
            .iter()
            .map(|f| {
                KqlType::of_field(f).map(|ty| KqlColumn::new(f.name().clone(), ty)).ok_or_else(|| {
                    format!(
                        "{}: column '{}' has type {} which KQL has no type for",
                        path.display(),
                        f.name(),
                        f.data_type()
                    )
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let open = schema.and_then(|s| s.open);
    catalog.add(Table { name: name.to_string(), columns, provider: Arc::new(provider), open });
    Ok(())
}

type Record = Vec<(String, Json)>;

fn read_json_lines(text: &str) -> Result<Vec<Record>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| match serde_json::from_str::<Json>(line) {
            Ok(Json::Object(map)) => Ok(map.into_iter().collect()),
            Ok(_) => Err(format!("line {}: expected a JSON object", index + 1)),
            Err(e) => Err(format!("line {}: {e}", index + 1)),
        })
        .collect()
}

fn read_json_array(text: &str) -> Result<Vec<Record>, String> {
    match serde_json::from_str::<Json>(text).map_err(|e| e.to_string())? {
        Json::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(index, item)| match item {
                Json::Object(map) => Ok(map.into_iter().collect()),
                _ => Err(format!("element {index}: expected a JSON object")),
            })
            .collect(),
        _ => Err("expected a JSON array of objects".into()),
    }
}

fn read_csv(text: &str) -> Result<Vec<Record>, String> {
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(text.as_bytes());
    let headers: Vec<String> = reader.headers().map_err(|e| e.to_string())?.iter().map(str::to_string).collect();
    reader
        .records()
        .map(|record| {
            let record = record.map_err(|e| e.to_string())?;
            Ok(headers.iter().cloned().zip(record.iter().map(|v| Json::String(v.to_string()))).collect())
        })
        .collect()
}

/// Column types from the values: the narrowest type every non-null value fits. Text from CSV
/// may also be a number, boolean or datetime.
fn infer_columns(records: &[Record], text_values: bool) -> Vec<KqlColumn> {
    let mut columns: Vec<(String, Option<KqlType>)> = Vec::new();
    for record in records {
        for (key, value) in record {
            let ty = value_type(value, text_values);
            match columns.iter_mut().find(|(name, _)| name == key) {
                Some((_, existing)) => *existing = widen(*existing, ty),
                None => columns.push((key.clone(), ty)),
            }
        }
    }
    columns.into_iter().map(|(name, ty)| KqlColumn::new(name, ty.unwrap_or(KqlType::String))).collect()
}

fn value_type(value: &Json, text_values: bool) -> Option<KqlType> {
    Some(match value {
        Json::Null => return None,
        Json::Bool(_) => KqlType::Bool,
        Json::Number(n) if n.is_i64() || n.is_u64() => KqlType::Long,
        Json::Number(_) => KqlType::Real,
        Json::String(s) if s.is_empty() && text_values => return None,
        Json::String(s) if text_values && s.parse::<i64>().is_ok() => KqlType::Long,
        Json::String(s) if text_values && s.parse::<f64>().is_ok() => KqlType::Real,
        Json::String(s) if text_values && (s == "true" || s == "false") => KqlType::Bool,
        Json::String(s) if looks_like_datetime(s) => KqlType::DateTime,
        Json::String(_) => KqlType::String,
        Json::Array(_) | Json::Object(_) => KqlType::Dynamic,
    })
}

/// ISO 8601 dates (`2024-01-31`, `2024-01-31T10:00:00Z`) become datetimes.
fn looks_like_datetime(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() >= 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes[..4].iter().all(u8::is_ascii_digit)
        && vigil_kql_syntax::literal::parse_datetime(text).is_some()
}

fn widen(existing: Option<KqlType>, new: Option<KqlType>) -> Option<KqlType> {
    match (existing, new) {
        (None, t) | (t, None) => t,
        (Some(a), Some(b)) if a == b => Some(a),
        (Some(a), Some(b)) if a.is_numeric() && b.is_numeric() => KqlType::numeric_promotion(a, b),
        (Some(KqlType::Dynamic), _) | (_, Some(KqlType::Dynamic)) => Some(KqlType::Dynamic),
        _ => Some(KqlType::String),
    }
}

fn to_batches(columns: &[KqlColumn], records: &[Record]) -> Result<Vec<RecordBatch>, String> {
    let schema = vigil_kql_functions::types::arrow_schema(columns);
    records
        .chunks(BATCH_ROWS)
        .map(|chunk| {
            let mut builders: Vec<ValueBuilder> =
                columns.iter().map(|c| ValueBuilder::new(c.ty, chunk.len())).collect();
            for record in chunk {
                for (column, builder) in columns.iter().zip(builders.iter_mut()) {
                    let value =
                        record.iter().find(|(k, _)| *k == column.name).map(|(_, v)| v.clone()).unwrap_or(Json::Null);
                    let value = match (&value, column.ty) {
                        (Json::String(s), KqlType::Dynamic) => Value::Dynamic(serde_json::from_str(s).unwrap_or(value)),
                        _ => convert(&Value::Dynamic(value), column.ty),
                    };
                    builder.append(&value);
                }
            }
            RecordBatch::try_new(schema.clone(), builders.into_iter().map(ValueBuilder::finish).collect())
                .map_err(|e| e.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_types_from_json_values() {
        let records = read_json_lines(
            "{\"t\":\"2024-01-02T03:04:05Z\",\"n\":1,\"x\":1.5,\"s\":\"a\",\"d\":{\"k\":1}}\n{\"n\":2,\"x\":2,\"b\":true}",
        )
        .unwrap();
        let columns = infer_columns(&records, false);
        let types: Vec<(&str, KqlType)> = columns.iter().map(|c| (c.name.as_str(), c.ty)).collect();
        assert_eq!(
            types,
            [
                ("t", KqlType::DateTime),
                ("n", KqlType::Long),
                ("x", KqlType::Real),
                ("s", KqlType::String),
                ("d", KqlType::Dynamic),
                ("b", KqlType::Bool)
            ]
        );
    }

    #[test]
    fn csv_values_are_typed() {
        let records = read_csv("a,b,c\n1,x,2.5\n2,y,\n").unwrap();
        let types: Vec<KqlType> = infer_columns(&records, true).iter().map(|c| c.ty).collect();
        assert_eq!(types, [KqlType::Long, KqlType::String, KqlType::Real]);
    }

    #[test]
    fn bad_lines_are_reported_with_their_number() {
        assert_eq!(read_json_lines("{\"a\":1}\n[1]").unwrap_err(), "line 2: expected a JSON object");
    }
}
