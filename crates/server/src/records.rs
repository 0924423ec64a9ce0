//! The Logs Ingestion API's data path without HTTP: a request's JSON records become one Arrow
//! batch typed by the stream declaration, the DCR's `transformKql` runs over the whole batch
//! as the table `source`, and its output is coerced to the destination table's columns.
//! Any record that does not fit fails the whole request, naming the record and the column.

use std::borrow::Cow;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, new_null_array};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::record_batch::RecordBatch;
use serde_json::value::RawValue;
use vigil_control::DataFlow;
use vigil_kql::{Engine, MemoryCatalog, RunOptions};
use vigil_kql_functions::types::arrow_schema;
use vigil_kql_functions::value::{ColumnReader, ValueBuilder, convert, parse_decimal};
use vigil_kql_functions::{KqlColumn, KqlType, Value};

/// Why a request body could not become a batch; each maps to its own error code.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordsError {
    /// Not JSON at all.
    Json(String),
    /// JSON, but not an array of records.
    NotArray,
    /// A record that does not fit the stream's columns: which one, and why.
    Record(String),
}

/// Builds the batch of a request's records (a JSON array of objects) for a stream's declared
/// columns, in one pass over the body without building a JSON tree: values are read as raw
/// JSON slices of the body and written straight into Arrow builders. Fields the declaration
/// does not name are dropped, as Azure does; a missing field is null.
pub fn records_to_batch(columns: &[KqlColumn], body: &[u8]) -> Result<RecordBatch, RecordsError> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'[') {
        return Err(match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
            Ok(_) => RecordsError::NotArray,
            Err(e) => RecordsError::Json(e.to_string()),
        });
    }
    let mut decoder = Decoder {
        columns,
        builders: columns.iter().map(|c| ValueBuilder::new(c.ty, 1024)).collect(),
        failure: None,
        records: 0,
        text: String::new(),
    };
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let parsed =
        serde::Deserializer::deserialize_seq(&mut deserializer, &mut decoder).and_then(|()| deserializer.end());
    if let Some(failure) = decoder.failure {
        return Err(RecordsError::Record(failure));
    }
    parsed.map_err(|e| RecordsError::Json(e.to_string()))?;
    let arrays: Vec<ArrayRef> = decoder.builders.into_iter().map(ValueBuilder::finish).collect();
    RecordBatch::try_new(arrow_schema(columns), arrays).map_err(|e| RecordsError::Json(e.to_string()))
}

struct Decoder<'c> {
    columns: &'c [KqlColumn],
    builders: Vec<ValueBuilder>,
    /// The first record error; deserialization stops at it.
    failure: Option<String>,
    records: usize,
    /// Scratch for unescaping and minifying, reused across cells.
    text: String,
}

impl<'de> serde::de::Visitor<'de> for &mut Decoder<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON array of records")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut cells: Vec<Option<&'de RawValue>> = vec![None; self.columns.len()];
        while let Some(record) = seq.next_element::<RecordFields<'de>>()? {
            let index = self.records;
            self.records += 1;
            let Some(fields) = record.0 else {
                return Err(self.fail(format!("record at index {index} is not a JSON object")));
            };
            cells.iter_mut().for_each(|c| *c = None);
            for (key, raw) in fields {
                // Declared columns are few; a later duplicate key wins, as in a JSON object.
                if let Some(position) = self.columns.iter().position(|c| c.name == *key) {
                    cells[position] = Some(raw);
                }
            }
            for (position, cell) in cells.iter().enumerate() {
                let column = &self.columns[position];
                let appended = match cell {
                    None => {
                        self.builders[position].append(&Value::Null);
                        Ok(())
                    }
                    Some(raw) => append_raw(&mut self.builders[position], column.ty, raw.get(), &mut self.text),
                };
                if let Err(expected) = appended {
                    let value = cell.map(|r| r.get()).unwrap_or_default();
                    let message = format!(
                        "record at index {index}: column '{}' expects {expected}, got {}",
                        column.name,
                        preview(value)
                    );
                    return Err(self.fail(message));
                }
            }
        }
        Ok(())
    }
}

impl Decoder<'_> {
    fn fail<E: serde::de::Error>(&mut self, message: String) -> E {
        let error = E::custom(&message);
        self.failure = Some(message);
        error
    }
}

/// One record's fields as raw JSON slices of the body, or `None` when the element is not an
/// object. Keys borrow from the body unless they hold escapes.
struct RecordFields<'de>(Option<Vec<(Cow<'de, str>, &'de RawValue)>>);

impl<'de> serde::Deserialize<'de> for RecordFields<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = RecordFields<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    fields.push((key.0, map.next_value::<&'de RawValue>()?));
                }
                Ok(RecordFields(Some(fields)))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(RecordFields(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(RecordFields(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(RecordFields(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(RecordFields(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(RecordFields(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(RecordFields(None))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(RecordFields(None))
            }
        }
        deserializer.deserialize_any(Fields)
    }
}

struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> serde::de::Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(key)))
            }
            fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(key.to_string())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Appends one raw JSON value to a column as its type accepts it; the error is what the type
/// expects.
fn append_raw(builder: &mut ValueBuilder, ty: KqlType, raw: &str, text: &mut String) -> Result<(), String> {
    let first = raw.as_bytes().first().copied().unwrap_or(b'n');
    if first == b'n' {
        builder.append(&Value::Null);
        return Ok(());
    }
    // The text of a JSON string into `text`; false when the value is not a string.
    let unquote = |text: &mut String| -> bool {
        text.clear();
        if first != b'"' {
            return false;
        }
        if raw.contains('\\') {
            match serde_json::from_str::<String>(raw) {
                Ok(unescaped) => text.push_str(&unescaped),
                Err(_) => return false,
            }
        } else {
            text.push_str(&raw[1..raw.len() - 1]);
        }
        true
    };
    let value = match ty {
        KqlType::String => {
            if !unquote(text) {
                // Azure stores a number, bool, object or array sent for a string as its JSON.
                minify_json(raw, text);
            }
            builder.append_str(text);
            return Ok(());
        }
        KqlType::Dynamic => {
            minify_json(raw, text);
            builder.append_str(text);
            return Ok(());
        }
        KqlType::Bool => match raw {
            "true" | "1" => Some(Value::Bool(true)),
            "false" | "0" => Some(Value::Bool(false)),
            _ if unquote(text) && text.eq_ignore_ascii_case("true") => Some(Value::Bool(true)),
            _ if unquote(text) && text.eq_ignore_ascii_case("false") => Some(Value::Bool(false)),
            _ => None,
        },
        KqlType::Int | KqlType::Long | KqlType::Real | KqlType::Decimal => {
            let number = if unquote(text) {
                Some(text.trim())
            } else if first == b'-' || first.is_ascii_digit() {
                Some(raw)
            } else {
                None
            };
            number.and_then(|n| match ty {
                KqlType::Int => integer(n).and_then(|v| i32::try_from(v).ok()).map(Value::Int),
                KqlType::Long => integer(n).map(Value::Long),
                KqlType::Real => n.parse::<f64>().ok().map(Value::Real),
                _ => parse_decimal(n).map(Value::Decimal),
            })
        }
        KqlType::DateTime | KqlType::Timespan | KqlType::Guid => {
            if unquote(text) {
                Some(convert(&Value::String(text.clone()), ty)).filter(|v| !v.is_null())
            } else {
                None
            }
        }
    };
    match value {
        Some(value) => {
            builder.append(&value);
            Ok(())
        }
        None => Err(type_expectation(ty).to_string()),
    }
}

/// JSON text without the whitespace between tokens, as `dynamic` values are stored.
fn minify_json(raw: &str, out: &mut String) {
    out.clear();
    let mut in_string = false;
    let mut escaped = false;
    for c in raw.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_ascii_whitespace() {
            out.push(c);
        }
    }
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
fn preview(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// Runs a data flow's transform over a request's batch: its output's columns and rows. `now`
/// is the request's time, what `now()` answers in the transform.
pub async fn transform(
    engine: &Engine,
    flow: &DataFlow,
    stream_columns: &[KqlColumn],
    input: RecordBatch,
    now: i64,
) -> Result<(Vec<KqlColumn>, RecordBatch), String> {
    if is_identity(&flow.transform) {
        return Ok((stream_columns.to_vec(), input));
    }
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
    Ok((table.columns, batch))
}

fn is_identity(transform: &str) -> bool {
    transform.trim().is_empty() || transform.trim() == "source"
}

/// The table a batch is stored in, and what Log Analytics fills in for every row that does
/// not carry it.
pub struct Destination<'a> {
    pub table: &'a str,
    pub columns: &'a [KqlColumn],
    /// `TenantId`: the workspace's id.
    pub workspace_id: &'a str,
    /// The request's time: `TimeGenerated` of rows without one.
    pub now: i64,
    /// A Defender XDR table, whose `Timestamp` and `TimeGenerated` stand in for each other.
    pub defender_timestamp: bool,
}

/// The transform's output as the table stores it: columns by name, converted to the table's
/// types; columns the table lacks are dropped (Azure drops them too) and columns the output
/// lacks are null, except the system columns every row has (`TimeGenerated`, `TenantId`,
/// `Type`, `_ItemId`, and a Defender table's `Timestamp`).
pub fn coerce(columns: &[KqlColumn], batch: &RecordBatch, destination: &Destination) -> Result<RecordBatch, String> {
    let rows = batch.num_rows();
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(destination.columns.len());
    for target in destination.columns {
        let source = columns.iter().position(|c| c.name == target.name);
        let array = match source {
            Some(index) if columns[index].ty == target.ty => batch.column(index).clone(),
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
                            preview(&value.to_json().to_string()),
                            target.ty.name()
                        )
                    })?;
                    builder.append(&converted);
                }
                builder.finish()
            }
            None => new_null_array(&target.ty.arrow(), rows),
        };
        arrays.push(array);
    }
    fill_system_columns(&mut arrays, destination);
    RecordBatch::try_new(arrow_schema(destination.columns), arrays).map_err(|e| e.to_string())
}

/// Fills the cells of the system columns that the source left empty.
fn fill_system_columns(arrays: &mut [ArrayRef], destination: &Destination) {
    let position = |name: &str, ty: KqlType| destination.columns.iter().position(|c| c.name == name && c.ty == ty);
    let time = position("TimeGenerated", KqlType::DateTime);
    let timestamp = position("Timestamp", KqlType::DateTime).filter(|_| destination.defender_timestamp);
    if let (Some(time), Some(timestamp)) = (time, timestamp) {
        // Defender's tables: a row with only one of the two times has it in both.
        let filled_time = fill(&arrays[time], KqlType::DateTime, |row| {
            ColumnReader::new(&arrays[timestamp], KqlType::DateTime).ok().map(|r| r.value(row))
        });
        let filled_timestamp = fill(&arrays[timestamp], KqlType::DateTime, |row| {
            ColumnReader::new(&arrays[time], KqlType::DateTime).ok().map(|r| r.value(row))
        });
        arrays[time] = filled_time;
        arrays[timestamp] = filled_timestamp;
    }
    if let Some(time) = time {
        arrays[time] = fill(&arrays[time], KqlType::DateTime, |_| Some(Value::DateTime(destination.now)));
        if let Some(timestamp) = timestamp {
            arrays[timestamp] = fill(&arrays[timestamp], KqlType::DateTime, |_| Some(Value::DateTime(destination.now)));
        }
    }
    if let Some(tenant) = position("TenantId", KqlType::String) {
        arrays[tenant] =
            fill(&arrays[tenant], KqlType::String, |_| Some(Value::String(destination.workspace_id.into())));
    }
    if let Some(kind) = position("Type", KqlType::String) {
        arrays[kind] = fill(&arrays[kind], KqlType::String, |_| Some(Value::String(destination.table.into())));
    }
    if let Some(item) = position("_ItemId", KqlType::String) {
        arrays[item] = fill(&arrays[item], KqlType::String, |_| Some(Value::String(uuid::Uuid::new_v4().to_string())));
    }
}

/// `array` with its null (or, for strings, empty) cells replaced by `value(row)`.
fn fill(array: &ArrayRef, ty: KqlType, value: impl Fn(usize) -> Option<Value>) -> ArrayRef {
    let Ok(reader) = ColumnReader::new(array, ty) else { return array.clone() };
    let empty = |v: &Value| v.is_null() || matches!(v, Value::String(s) if s.is_empty());
    if !(0..array.len()).any(|row| empty(&reader.value(row))) {
        return array.clone();
    }
    let mut builder = ValueBuilder::new(ty, array.len());
    for row in 0..array.len() {
        let current = reader.value(row);
        let chosen = if empty(&current) { value(row).filter(|v| !empty(v)).unwrap_or(current) } else { current };
        builder.append(&chosen);
    }
    builder.finish()
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

    fn to_body(records: &[serde_json::Value]) -> Vec<u8> {
        serde_json::to_vec(records).unwrap()
    }

    fn record_error(columns: &[KqlColumn], records: &[serde_json::Value]) -> String {
        match records_to_batch(columns, &to_body(records)) {
            Err(RecordsError::Record(message)) => message,
            other => panic!("expected a record error, got {other:?}"),
        }
    }

    #[test]
    fn bodies_that_are_not_arrays_of_records_are_told_apart() {
        let declared = columns(&[("a", KqlType::String)]);
        assert_eq!(records_to_batch(&declared, b"{\"a\": 1}").unwrap_err(), RecordsError::NotArray);
        assert!(matches!(records_to_batch(&declared, b"[{\"a\": ").unwrap_err(), RecordsError::Json(_)));
        assert!(matches!(records_to_batch(&declared, b"[] x").unwrap_err(), RecordsError::Json(_)));
        assert_eq!(records_to_batch(&declared, b" [ ] ").unwrap().num_rows(), 0);
    }

    #[test]
    fn dynamic_values_are_minified_and_strings_unescaped() {
        let declared =
            columns(&[("d", KqlType::Dynamic), ("s", KqlType::String), ("b", KqlType::Bool), ("r", KqlType::Real)]);
        let body = br#"[{"d": {"a b": [1, 2], "c": "x \" y"}, "s": "tab\there", "b": "TRUE", "r": "2.5"},
                        {"s": {"k": 1}, "d": "text", "d": 7}]"#;
        let batch = records_to_batch(&declared, body).unwrap();
        let d = ColumnReader::new(batch.column(0), KqlType::Dynamic).unwrap();
        assert_eq!(d.value(0), Value::Dynamic(json!({"a b": [1, 2], "c": "x \" y"})));
        assert_eq!(d.value(1), Value::Dynamic(json!(7)), "a later duplicate key wins");
        let s = ColumnReader::new(batch.column(1), KqlType::String).unwrap();
        assert_eq!(s.value(0), Value::String("tab\there".into()));
        assert_eq!(s.value(1), Value::String("{\"k\":1}".into()));
        assert_eq!(ColumnReader::new(batch.column(2), KqlType::Bool).unwrap().value(0), Value::Bool(true));
        assert_eq!(ColumnReader::new(batch.column(3), KqlType::Real).unwrap().value(0), Value::Real(2.5));
    }

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
        let batch = records_to_batch(&declared, &to_body(&records)).unwrap();
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
        let error = record_error(&declared, &[json!({"enterprise_id": 1}), json!({"enterprise_id": "abc"})]);
        assert_eq!(
            error,
            "record at index 1: column 'enterprise_id' expects an int (a whole number between -2147483648 and 2147483647), got \"abc\""
        );
        let error = record_error(&declared, &[json!({"enterprise_id": 3_000_000_000i64})]);
        assert!(error.contains("record at index 0"), "{error}");
        let error = record_error(&declared, &[json!(5)]);
        assert_eq!(error, "record at index 0 is not a JSON object");
        let timed = columns(&[("t", KqlType::DateTime)]);
        assert!(record_error(&timed, &[json!({"t": "yesterday"})]).contains("expects a datetime"));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_transform_renames_and_time_generated_is_filled() {
        let stream = columns(&[("audit_event", KqlType::String), ("enterprise_id", KqlType::Long)]);
        let table = columns(&[
            ("TimeGenerated", KqlType::DateTime),
            ("AuditEvent", KqlType::String),
            ("EnterpriseId", KqlType::Int),
        ]);
        let input =
            records_to_batch(&stream, &to_body(&[json!({"audit_event": "login", "enterprise_id": 7})])).unwrap();
        let flow = DataFlow {
            stream: "Custom-S".into(),
            transform: "source | project-rename AuditEvent = audit_event, EnterpriseId = enterprise_id".into(),
            table: "T_CL".into(),
        };
        let now = 1_700_000_000_000_000_000;
        let destination =
            Destination { table: "T_CL", columns: &table, workspace_id: "ws-1", now, defender_timestamp: false };
        let (fields, batch) = transform(&Engine::new(), &flow, &stream, input, now).await.unwrap();
        let output = coerce(&fields, &batch, &destination).unwrap();
        let time = ColumnReader::new(output.column(0), KqlType::DateTime).unwrap();
        assert_eq!(time.value(0), Value::DateTime(now));
        assert_eq!(
            ColumnReader::new(output.column(1), KqlType::String).unwrap().value(0),
            Value::String("login".into())
        );
        assert_eq!(ColumnReader::new(output.column(2), KqlType::Int).unwrap().value(0), Value::Int(7));

        let too_big = records_to_batch(&stream, &to_body(&[json!({"enterprise_id": 5_000_000_000i64})])).unwrap();
        let (fields, batch) = transform(&Engine::new(), &flow, &stream, too_big, now).await.unwrap();
        let error = coerce(&fields, &batch, &destination).unwrap_err();
        assert!(error.contains("column 'EnterpriseId'") && error.contains("record at index 0"), "{error}");
    }

    #[test]
    fn system_columns_are_filled_as_log_analytics_fills_them() {
        let table = columns(&[
            ("TimeGenerated", KqlType::DateTime),
            ("Timestamp", KqlType::DateTime),
            ("TenantId", KqlType::String),
            ("Type", KqlType::String),
            ("_ItemId", KqlType::String),
            ("ActionType", KqlType::String),
        ]);
        let sent = columns(&[("Timestamp", KqlType::DateTime), ("TimeGenerated", KqlType::DateTime)]);
        let body = to_body(&[
            json!({"Timestamp": "2024-05-01T10:00:00Z"}),
            json!({"TimeGenerated": "2024-05-02T10:00:00Z"}),
            json!({}),
        ]);
        let batch = records_to_batch(&sent, &body).unwrap();
        let now = 1_700_000_000_000_000_000;
        let defender =
            Destination { table: "DeviceEvents", columns: &table, workspace_id: "ws-1", now, defender_timestamp: true };
        let output = coerce(&sent, &batch, &defender).unwrap();
        let read = |column: usize, ty: KqlType| {
            let reader = ColumnReader::new(output.column(column), ty).unwrap();
            (0..3).map(|row| reader.value(row)).collect::<Vec<_>>()
        };
        let may_1 = Value::DateTime(1_714_557_600_000_000_000);
        let may_2 = Value::DateTime(1_714_644_000_000_000_000);
        assert_eq!(read(0, KqlType::DateTime), vec![may_1.clone(), may_2.clone(), Value::DateTime(now)]);
        assert_eq!(read(1, KqlType::DateTime), vec![may_1, may_2, Value::DateTime(now)]);
        assert!(read(2, KqlType::String).iter().all(|v| *v == Value::String("ws-1".into())));
        assert!(read(3, KqlType::String).iter().all(|v| *v == Value::String("DeviceEvents".into())));
        let items = read(4, KqlType::String);
        assert!(items.iter().all(|v| matches!(v, Value::String(s) if uuid::Uuid::parse_str(s).is_ok())), "{items:?}");
        assert!(items[0] != items[1] && items[1] != items[2], "every row has its own _ItemId");
        assert_eq!(output.column(5).null_count(), 3, "a column nobody sent stays empty");

        // Elsewhere `Timestamp` is a column like any other.
        let other = Destination { table: "Keeper_CL", defender_timestamp: false, ..defender };
        let output = coerce(&sent, &batch, &other).unwrap();
        assert!(output.column(1).is_null(2));
    }
}
