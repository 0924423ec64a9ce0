//! Query results and their three renderings: the Log Analytics query API's JSON, CSV, and an
//! aligned text table for people.

use datafusion::arrow::record_batch::RecordBatch;
use serde_json::{Value as Json, json};
use vigil_kql_functions::types::arrow_schema;
use vigil_kql_functions::value::{ColumnReader, ValueBuilder, convert, format_decimal, format_real};
use vigil_kql_functions::{KqlColumn, KqlType, Value};
use vigil_kql_syntax::literal::{format_datetime, format_timespan};

use crate::relation::Render;

#[derive(Debug, Clone)]
pub struct ResultTable {
    pub name: String,
    pub columns: Vec<KqlColumn>,
    pub batches: Vec<RecordBatch>,
    pub render: Option<Render>,
}

impl ResultTable {
    pub fn row_count(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// Every row as values of the columns' KQL types.
    pub fn rows(&self) -> Vec<Vec<Value>> {
        let mut rows = Vec::with_capacity(self.row_count());
        for batch in &self.batches {
            let readers: Vec<Option<ColumnReader>> =
                self.columns.iter().enumerate().map(|(i, c)| ColumnReader::new(batch.column(i), c.ty).ok()).collect();
            for row in 0..batch.num_rows() {
                rows.push(readers.iter().map(|r| r.as_ref().map(|r| r.value(row)).unwrap_or(Value::Null)).collect());
            }
        }
        rows
    }
}

#[derive(Debug, Clone)]
pub struct QueryResult {
    pub tables: Vec<ResultTable>,
    /// Why the tables hold only part of the result (a result-size limit), if they do.
    pub partial: Option<String>,
}

/// A cell as the Log Analytics API returns it.
pub fn cell_json(value: &Value, ty: KqlType) -> Json {
    match value {
        Value::Null if ty == KqlType::String => Json::String(String::new()),
        Value::Null => Json::Null,
        Value::Bool(v) => Json::Bool(*v),
        Value::Int(v) => json!(v),
        Value::Long(v) => json!(v),
        Value::Real(v) if v.is_finite() => json!(v),
        Value::Real(v) => Json::String(format_real(*v)),
        Value::Decimal(v) => Json::String(format_decimal(*v)),
        Value::String(s) | Value::Guid(s) => Json::String(s.clone()),
        Value::DateTime(v) => Json::String(format_datetime(*v)),
        Value::Timespan(v) => Json::String(format_timespan(*v)),
        Value::Dynamic(json) => json.clone(),
    }
}

/// A cell as text, for CSV and the table view.
pub fn cell_text(value: &Value) -> String {
    match value {
        Value::Dynamic(Json::String(s)) => Json::String(s.clone()).to_string(),
        Value::Dynamic(json) => json.to_string(),
        other => other.to_kql_string(),
    }
}

impl QueryResult {
    /// `{"tables":[{"name","columns":[{"name","type"}],"rows":[[...]]}]}`, and `render` (the
    /// visualization the first table asked for) as the query API answers with `include-render`.
    pub fn to_json(&self) -> Json {
        let tables: Vec<Json> = self
            .tables
            .iter()
            .map(|table| {
                let columns: Vec<Json> =
                    table.columns.iter().map(|c| json!({"name": c.name, "type": c.ty.name()})).collect();
                let rows: Vec<Json> = table
                    .rows()
                    .iter()
                    .map(|row| Json::Array(row.iter().zip(&table.columns).map(|(v, c)| cell_json(v, c.ty)).collect()))
                    .collect();
                json!({"name": table.name, "columns": columns, "rows": rows})
            })
            .collect();
        let mut object = json!({ "tables": tables });
        if let Some(render) = self.tables.first().and_then(|t| t.render.as_ref()) {
            let mut properties = serde_json::Map::new();
            properties.insert("visualization".to_string(), Json::String(render.visualization.clone()));
            for (name, value) in &render.properties {
                properties.insert(name.clone(), value.clone());
            }
            object["render"] = Json::Object(properties);
        }
        if let Some(reason) = &self.partial {
            // Log Analytics answers a cut result with the rows it kept and this error beside them.
            object["error"] = json!({
                "code": "PartialError",
                "message": "There were some errors when processing your query.",
                "details": [{
                    "code": "EngineError",
                    "message": "Something went wrong processing your query on the server.",
                    "innererror": {"code": "-2133196797", "message": reason, "severity": 2, "severityName": "Error"},
                }],
            });
        }
        object
    }

    /// Reads the Log Analytics query API's JSON back into a result, as `vigil query --server`
    /// receives it, so that it renders as a local result does.
    pub fn from_json(json: &Json) -> Result<QueryResult, String> {
        let tables = json.get("tables").and_then(Json::as_array).ok_or("the response has no \"tables\" array")?;
        let mut result = Vec::with_capacity(tables.len());
        for table in tables {
            let name = table.get("name").and_then(Json::as_str).unwrap_or("PrimaryResult").to_string();
            let columns: Vec<KqlColumn> = table
                .get("columns")
                .and_then(Json::as_array)
                .ok_or("a table has no \"columns\" array")?
                .iter()
                .map(|c| {
                    let name = c.get("name").and_then(Json::as_str).ok_or("a column has no name")?;
                    let ty =
                        c.get("type").and_then(Json::as_str).and_then(KqlType::from_name).unwrap_or(KqlType::Dynamic);
                    Ok(KqlColumn::new(name, ty))
                })
                .collect::<Result<_, String>>()?;
            let rows = table.get("rows").and_then(Json::as_array).ok_or("a table has no \"rows\" array")?;
            let mut builders: Vec<ValueBuilder> = columns.iter().map(|c| ValueBuilder::new(c.ty, rows.len())).collect();
            for row in rows {
                let cells = row.as_array().ok_or("a row is not an array")?;
                for ((builder, column), cell) in builders.iter_mut().zip(&columns).zip(cells) {
                    builder.append(&convert(&Value::Dynamic(cell.clone()), column.ty));
                }
            }
            let arrays = builders.into_iter().map(ValueBuilder::finish).collect();
            let batch = RecordBatch::try_new(arrow_schema(&columns), arrays).map_err(|e| e.to_string())?;
            result.push(ResultTable { name, columns, batches: vec![batch], render: None });
        }
        let partial = json.pointer("/error/details/0/innererror/message").and_then(Json::as_str).map(str::to_string);
        Ok(QueryResult { tables: result, partial })
    }

    /// RFC 4180 CSV of the primary table, with a header row.
    pub fn to_csv(&self) -> String {
        let Some(table) = self.tables.first() else { return String::new() };
        let mut out = String::new();
        let header: Vec<String> = table.columns.iter().map(|c| csv_field(&c.name)).collect();
        out.push_str(&header.join(","));
        out.push_str("\r\n");
        for row in table.rows() {
            let fields: Vec<String> = row.iter().map(|v| csv_field(&cell_text(v))).collect();
            out.push_str(&fields.join(","));
            out.push_str("\r\n");
        }
        out
    }

    /// Each table as aligned columns under a header, for reading in a terminal.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        for (index, table) in self.tables.iter().enumerate() {
            if self.tables.len() > 1 {
                if index > 0 {
                    out.push('\n');
                }
                out.push_str(&format!("{}\n", table.name));
            }
            let rows: Vec<Vec<String>> =
                table.rows().iter().map(|r| r.iter().map(|v| cell_text(v).replace('\n', " ")).collect()).collect();
            let widths: Vec<usize> = table
                .columns
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    rows.iter()
                        .map(|r| r[i].chars().count())
                        .chain(std::iter::once(c.name.chars().count()))
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let line = |cells: Vec<&str>| -> String {
                cells
                    .iter()
                    .zip(&widths)
                    .map(|(cell, width)| format!("{cell:<width$}"))
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_string()
            };
            out.push_str(&line(table.columns.iter().map(|c| c.name.as_str()).collect()));
            out.push('\n');
            out.push_str(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "));
            out.push('\n');
            for row in &rows {
                out.push_str(&line(row.iter().map(String::as_str).collect()));
                out.push('\n');
            }
            out.push_str(&format!("({} row{})\n", rows.len(), if rows.len() == 1 { "" } else { "s" }));
        }
        out
    }
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_string() }
}
