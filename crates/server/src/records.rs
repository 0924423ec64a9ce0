//! The Logs Ingestion API's data path without HTTP: a request's JSON records become one Arrow
//! batch typed by the stream declaration, the DCR's `transformKql` runs over the whole batch
//! as the table `source`, and its output is coerced to the destination table's columns.
//! Any record that does not fit fails the whole request, naming the record and the column.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, new_null_array};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::record_batch::RecordBatch;
use serde_json::Value as Json;
use vigil_control::DataFlow;
use vigil_kql::{Engine, MemoryCatalog, RunOptions};
use vigil_kql_functions::types::arrow_schema;
use vigil_kql_functions::value::{ColumnReader, ValueBuilder, convert, parse_decimal};
use vigil_kql_functions::{KqlColumn, KqlType, Value};

/// Builds the batch of a request's records for a stream's declared columns. Fields the
/// declaration does not name are dropped, as Azure does; a missing field is null.
pub fn records_to_batch(columns: &[KqlColumn], records: &[Json]) -> Result<RecordBatch, String> {
    let mut builders: Vec<ValueBuilder> = columns.iter().map(|c| ValueBuilder::new(c.ty, records.len())).collect();
    for (index, record) in records.iter().enumerate() {
        let Json::Object(fields) = record else {
            return Err(format!("record at index {index} is not a JSON object"));
        };
        for (column, builder) in columns.iter().zip(builders.iter_mut()) {
            let value = match fields.get(&column.name) {
                None | Some(Json::Null) => Value::Null,
                Some(json) => json_to_value(json, column.ty).map_err(|expected| {
                    format!(
                        "record at index {index}: column '{}' expects {expected}, got {}",
                        column.name,
                        preview(json)
                    )
                })?,
            };
            builder.append(&value);
        }
    }
    let arrays: Vec<ArrayRef> = builders.into_iter().map(ValueBuilder::finish).collect();
    RecordBatch::try_new(arrow_schema(columns), arrays).map_err(|e| e.to_string())
}

/// A JSON value as a column type accepts it; the error is what the type expects.
fn json_to_value(json: &Json, ty: KqlType) -> Result<Value, String> {
    let number_text = |json: &Json| match json {
        Json::Number(n) => Some(n.to_string()),
        Json::String(s) => Some(s.trim().to_string()),
        _ => None,
    };
    let value = match ty {
        KqlType::String => Some(Value::String(match json {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        })),
        KqlType::Dynamic => Some(Value::Dynamic(json.clone())),
        KqlType::Bool => match json {
            Json::Bool(b) => Some(Value::Bool(*b)),
            Json::String(s) if s.eq_ignore_ascii_case("true") => Some(Value::Bool(true)),
            Json::String(s) if s.eq_ignore_ascii_case("false") => Some(Value::Bool(false)),
            Json::Number(n) => n.as_i64().filter(|v| *v == 0 || *v == 1).map(|v| Value::Bool(v == 1)),
            _ => None,
        },
        KqlType::Int => number_text(json).and_then(|t| integer(&t)).and_then(|v| i32::try_from(v).ok()).map(Value::Int),
        KqlType::Long => number_text(json).and_then(|t| integer(&t)).map(Value::Long),
        KqlType::Real => number_text(json).and_then(|t| t.parse::<f64>().ok()).map(Value::Real),
        KqlType::Decimal => number_text(json).and_then(|t| parse_decimal(&t)).map(Value::Decimal),
        KqlType::DateTime | KqlType::Timespan | KqlType::Guid => match json {
            Json::String(_) => Some(convert(&Value::Dynamic(json.clone()), ty)).filter(|v| !v.is_null()),
            _ => None,
        },
    };
    value.ok_or_else(|| type_expectation(ty).to_string())
}

/// Integers, also written as `"42"` or `42.0`.
fn integer(text: &str) -> Option<i64> {
    text.parse::<i64>()
        .ok()
        .or_else(|| text.parse::<f64>().ok().filter(|v| v.fract() == 0.0 && v.abs() < 9.2e18).map(|v| v as i64))
}

fn type_expectation(ty: KqlType) -> &'static str {
    match ty {
        KqlType::Bool => "a bool (true or false)",
        KqlType::Int => "an int (a whole number between -2147483648 and 2147483647)",
        KqlType::Long => "a long (a whole number)",
        KqlType::Real => "a real (a number)",
        KqlType::Decimal => "a decimal (a number)",
        KqlType::DateTime => "a datetime (an ISO 8601 string such as \"2024-05-01T10:00:00Z\")",
        KqlType::Timespan => "a timespan (a string such as \"01:30:00\")",
        KqlType::Guid => "a guid (a string such as \"74be27de-1e4e-49d9-b579-fe0b331d3642\")",
        KqlType::String => "a string",
        KqlType::Dynamic => "any JSON value",
    }
}

/// The start of an offending value, so an error names it without echoing a huge record.
fn preview(json: &Json) -> String {
    let text = json.to_string();
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// Runs a data flow's transform over a request's batch and coerces the result to the table's
/// columns. `now` is the request's time: `now()` in the transform, and `TimeGenerated` for
/// rows that leave it empty.
pub async fn transform(
    engine: &Engine,
    flow: &DataFlow,
    stream_columns: &[KqlColumn],
    input: RecordBatch,
    table_columns: &[KqlColumn],
    now: i64,
) -> Result<RecordBatch, String> {
    let (columns, batch) = if is_identity(&flow.transform) {
        (stream_columns.to_vec(), input)
    } else {
        let mut catalog = MemoryCatalog::new();
        catalog.add_batches("source", stream_columns.to_vec(), vec![input]).map_err(|e| e.to_string())?;
        let options = RunOptions { now: Some(now), ..RunOptions::default() };
        let result = engine
            .run(&flow.transform, Arc::new(catalog), options)
            .await
            .map_err(|e| format!("the DCR's transformKql failed: {}", e.render(&flow.transform)))?;
        let table = result.tables.into_iter().next().ok_or("the DCR's transformKql returned no table")?;
        let schema = arrow_schema(&table.columns);
        let batch = concat_batches(&schema, &table.batches).map_err(|e| e.to_string())?;
        (table.columns, batch)
    };
    coerce(&columns, &batch, table_columns, now)
}

fn is_identity(transform: &str) -> bool {
    transform.trim().is_empty() || transform.trim() == "source"
}

/// The transform's output as the table stores it: columns by name, converted to the table's
/// types; columns the table lacks are dropped (Azure drops them too) and columns the output
/// lacks are null.
fn coerce(columns: &[KqlColumn], batch: &RecordBatch, table: &[KqlColumn], now: i64) -> Result<RecordBatch, String> {
    let rows = batch.num_rows();
    let mut arrays = Vec::with_capacity(table.len());
    for target in table {
        let source = columns.iter().position(|c| c.name == target.name);
        let fills_time = target.name == "TimeGenerated" && target.ty == KqlType::DateTime;
        let array = match source {
            Some(index) if columns[index].ty == target.ty && !(fills_time && batch.column(index).null_count() > 0) => {
                batch.column(index).clone()
            }
            Some(index) => {
                let reader = ColumnReader::new(batch.column(index), columns[index].ty).map_err(|e| e.to_string())?;
                let mut builder = ValueBuilder::new(target.ty, rows);
                for row in 0..rows {
                    let value = reader.value(row);
                    let converted = coerce_value(&value, target.ty).ok_or_else(|| {
                        format!(
                            "record at index {row}: column '{}' of the transform's output is {} and its value {} does not convert to the table's type {}",
                            target.name,
                            columns[index].ty.name(),
                            preview(&value.to_json()),
                            target.ty.name()
                        )
                    })?;
                    let converted = if fills_time && converted.is_null() { Value::DateTime(now) } else { converted };
                    builder.append(&converted);
                }
                builder.finish()
            }
            None if fills_time => {
                let mut builder = ValueBuilder::new(KqlType::DateTime, rows);
                (0..rows).for_each(|_| builder.append(&Value::DateTime(now)));
                builder.finish()
            }
            None => new_null_array(&target.ty.arrow(), rows),
        };
        arrays.push(array);
    }
    RecordBatch::try_new(arrow_schema(table), arrays).map_err(|e| e.to_string())
}

/// KQL's conversion, but refusing to turn a value into null or to wrap an int.
fn coerce_value(value: &Value, ty: KqlType) -> Option<Value> {
    if value.is_null() {
        return Some(Value::Null);
    }
    if ty == KqlType::Int {
        return value.as_i64().and_then(|v| i32::try_from(v).ok()).map(Value::Int);
    }
    let converted = convert(value, ty);
    (!converted.is_null()).then_some(converted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn columns(spec: &[(&str, KqlType)]) -> Vec<KqlColumn> {
        spec.iter().map(|(n, t)| KqlColumn::new(*n, *t)).collect()
    }

    #[test]
    fn records_are_typed_by_the_declaration() {
        let declared =
            columns(&[("n", KqlType::Int), ("t", KqlType::DateTime), ("d", KqlType::Dynamic), ("s", KqlType::String)]);
        let records = vec![
            json!({"n": 1, "t": "2024-05-01T10:00:00Z", "d": {"a": 1}, "s": "x", "extra": true}),
            json!({"n": "2", "s": 5}),
        ];
        let batch = records_to_batch(&declared, &records).unwrap();
        assert_eq!(batch.num_rows(), 2);
        let s = ColumnReader::new(batch.column(3), KqlType::String).unwrap();
        assert_eq!(s.value(1), Value::String("5".into()));
        let n = ColumnReader::new(batch.column(0), KqlType::Int).unwrap();
        assert_eq!(n.value(1), Value::Int(2));
        assert!(batch.column(1).is_null(1));
    }

    #[test]
    fn a_record_that_does_not_fit_names_itself_and_its_column() {
        let declared = columns(&[("enterprise_id", KqlType::Int)]);
        let error =
            records_to_batch(&declared, &[json!({"enterprise_id": 1}), json!({"enterprise_id": "abc"})]).unwrap_err();
        assert_eq!(
            error,
            "record at index 1: column 'enterprise_id' expects an int (a whole number between -2147483648 and 2147483647), got \"abc\""
        );
        let error = records_to_batch(&declared, &[json!({"enterprise_id": 3_000_000_000i64})]).unwrap_err();
        assert!(error.contains("record at index 0"), "{error}");
        let error = records_to_batch(&declared, &[json!(5)]).unwrap_err();
        assert_eq!(error, "record at index 0 is not a JSON object");
        let timed = columns(&[("t", KqlType::DateTime)]);
        assert!(records_to_batch(&timed, &[json!({"t": "yesterday"})]).unwrap_err().contains("expects a datetime"));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_transform_renames_and_time_generated_is_filled() {
        let stream = columns(&[("audit_event", KqlType::String), ("enterprise_id", KqlType::Long)]);
        let table = columns(&[
            ("TimeGenerated", KqlType::DateTime),
            ("AuditEvent", KqlType::String),
            ("EnterpriseId", KqlType::Int),
        ]);
        let input = records_to_batch(&stream, &[json!({"audit_event": "login", "enterprise_id": 7})]).unwrap();
        let flow = DataFlow {
            stream: "Custom-S".into(),
            transform: "source | project-rename AuditEvent = audit_event, EnterpriseId = enterprise_id".into(),
            table: "T_CL".into(),
        };
        let now = 1_700_000_000_000_000_000;
        let output = transform(&Engine::new(), &flow, &stream, input, &table, now).await.unwrap();
        let time = ColumnReader::new(output.column(0), KqlType::DateTime).unwrap();
        assert_eq!(time.value(0), Value::DateTime(now));
        assert_eq!(
            ColumnReader::new(output.column(1), KqlType::String).unwrap().value(0),
            Value::String("login".into())
        );
        assert_eq!(ColumnReader::new(output.column(2), KqlType::Int).unwrap().value(0), Value::Int(7));

        let too_big = records_to_batch(&stream, &[json!({"enterprise_id": 5_000_000_000i64})]).unwrap();
        let error = transform(&Engine::new(), &flow, &stream, too_big, &table, now).await.unwrap_err();
        assert!(error.contains("column 'EnterpriseId'") && error.contains("record at index 0"), "{error}");
    }
}
