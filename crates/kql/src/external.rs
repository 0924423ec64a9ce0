//! `externaldata`: rows read from a document outside the workspace (a threat feed on a web
//! server, a CSV in storage), in the columns the query declares.
//!
//! The engine parses documents; fetching them is its caller's: an `ExternalData` source decides
//! which addresses may be read and how (the server's refuses internal addresses; an offline
//! deployment reads a mirror folder). Without a source, `externaldata` fails when it runs.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use serde_json::Value as Json;
use vigil_kql_functions::value::{ValueBuilder, convert};
use vigil_kql_functions::{KqlColumn, KqlType, Value};

use crate::nodes::Transform;

/// Where `externaldata` documents come from.
pub trait ExternalData: Send + Sync + fmt::Debug {
    /// The bytes of the document at `uri`, or why it cannot be read.
    fn read(&self, uri: &str) -> Result<Vec<u8>, String>;
}

/// How a document's records are laid out (`with (format=...)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Delimited text: CSV, TSV, `;`, `|` or SOH separated.
    Delimited(u8),
    /// One record per line, the whole line in the first column.
    Text,
    /// JSON: an array of objects, or one object per line.
    Json,
}

impl Format {
    /// The format named by `format=`, else the one the URI's extension implies (CSV by default).
    pub fn of(name: Option<&str>, uri: &str) -> Result<Format, String> {
        if let Some(name) = name {
            return Format::named(name).ok_or_else(|| {
                format!("externaldata does not read format '{name}'; use csv, tsv, scsv, psv, txt or json")
            });
        }
        let path = uri.split(['?', '#']).next().unwrap_or(uri);
        let extension = path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
        Ok(Format::named(extension).unwrap_or(Format::Delimited(b',')))
    }

    fn named(name: &str) -> Option<Format> {
        Some(match name.to_ascii_lowercase().as_str() {
            "csv" => Format::Delimited(b','),
            "tsv" | "tsve" => Format::Delimited(b'\t'),
            "scsv" => Format::Delimited(b';'),
            "psv" => Format::Delimited(b'|'),
            "sohsv" => Format::Delimited(0x01),
            "txt" | "raw" => Format::Text,
            "json" | "multijson" | "singlejson" => Format::Json,
            _ => return None,
        })
    }
}

/// The transform that reads the documents when the query runs.
#[derive(Debug)]
pub(crate) struct ExternalRows {
    pub uris: Vec<String>,
    pub format: Option<String>,
    pub ignore_first_record: bool,
    pub columns: Vec<KqlColumn>,
    pub source: Option<Arc<dyn ExternalData>>,
}

impl Transform for ExternalRows {
    fn name(&self) -> &str {
        "externaldata"
    }

    fn per_batch(&self) -> bool {
        false
    }

    fn apply(&self, _batches: Vec<RecordBatch>, schema: &SchemaRef) -> datafusion::common::Result<Vec<RecordBatch>> {
        let failed = |message: String| DataFusionError::Execution(message);
        let Some(source) = &self.source else {
            return Err(failed(format!(
                "externaldata cannot read {}: this engine reads no outside documents",
                self.uris.first().map(String::as_str).unwrap_or("(no URI)")
            )));
        };
        let mut records: Vec<Vec<Value>> = Vec::new();
        for uri in &self.uris {
            let format = Format::of(self.format.as_deref(), uri).map_err(failed)?;
            let bytes = source.read(uri).map_err(|e| failed(format!("externaldata cannot read {uri}: {e}")))?;
            let text = String::from_utf8_lossy(&bytes);
            let parsed = parse_document(&text, format, &self.columns, self.ignore_first_record)
                .map_err(|e| failed(format!("externaldata: {uri}: {e}")))?;
            records.extend(parsed);
        }
        let arrays = self
            .columns
            .iter()
            .enumerate()
            .map(|(index, column)| {
                let mut builder = ValueBuilder::new(column.ty, records.len());
                for record in &records {
                    builder.append(&record[index]);
                }
                builder.finish()
            })
            .collect();
        Ok(vec![RecordBatch::try_new(schema.clone(), arrays)?])
    }
}

/// The records of a document, each a value per declared column.
pub fn parse_document(
    text: &str,
    format: Format,
    columns: &[KqlColumn],
    ignore_first_record: bool,
) -> Result<Vec<Vec<Value>>, String> {
    let typed = |column: &KqlColumn, text: &str| -> Value {
        if text.is_empty() && column.ty != KqlType::String {
            return Value::Null;
        }
        convert(&Value::String(text.to_string()), column.ty)
    };
    let mut records = Vec::new();
    match format {
        Format::Text => {
            for line in text.lines().skip(usize::from(ignore_first_record)) {
                let mut record = vec![Value::Null; columns.len()];
                if let Some(first) = columns.first() {
                    record[0] = typed(first, line);
                }
                records.push(record);
            }
        }
        Format::Delimited(delimiter) => {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .delimiter(delimiter)
                .from_reader(text.as_bytes());
            for (index, row) in reader.records().enumerate() {
                let row = row.map_err(|e| format!("record {}: {e}", index + 1))?;
                if index == 0 && ignore_first_record {
                    continue;
                }
                records.push(
                    columns
                        .iter()
                        .enumerate()
                        .map(|(i, c)| row.get(i).map(|f| typed(c, f)).unwrap_or(Value::Null))
                        .collect(),
                );
            }
        }
        Format::Json => {
            let trimmed = text.trim_start();
            let objects: Vec<Json> = if trimmed.starts_with('[') {
                serde_json::from_str(trimmed).map_err(|e| format!("not a JSON array: {e}"))?
            } else {
                trimmed
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .enumerate()
                    .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("line {}: not JSON: {e}", i + 1)))
                    .collect::<Result<_, _>>()?
            };
            for object in objects {
                records.push(
                    columns
                        .iter()
                        .map(|c| match object.get(&c.name) {
                            None | Some(Json::Null) => Value::Null,
                            Some(Json::String(text)) => typed(c, text),
                            Some(other) => convert(&Value::Dynamic(other.clone()), c.ty),
                        })
                        .collect(),
                );
            }
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns() -> Vec<KqlColumn> {
        vec![KqlColumn::new("Name", KqlType::String), KqlColumn::new("Count", KqlType::Long)]
    }

    #[test]
    fn documents_read_in_their_format_into_the_declared_columns() {
        let csv = parse_document("Name,Count\n\"a, b\",3\nc,\n", Format::Delimited(b','), &columns(), true).unwrap();
        assert_eq!(
            csv,
            vec![vec![Value::String("a, b".into()), Value::Long(3)], vec![Value::String("c".into()), Value::Null]]
        );
        let text = parse_document("alpha\nbeta\n", Format::Text, &columns(), false).unwrap();
        assert_eq!(text.len(), 2);
        assert_eq!(text[1][0], Value::String("beta".into()));
        let lines =
            parse_document("{\"Name\":\"x\",\"Count\":7}\n{\"Count\":\"8\"}\n", Format::Json, &columns(), false)
                .unwrap();
        assert_eq!(lines[0], vec![Value::String("x".into()), Value::Long(7)]);
        assert_eq!(lines[1][1], Value::Long(8));
        assert!(parse_document("[{", Format::Json, &columns(), false).unwrap_err().contains("not a JSON array"));
    }

    #[test]
    fn the_format_comes_from_the_property_or_the_extension() {
        assert_eq!(Format::of(None, "https://x/feed.tsv?sig=1"), Ok(Format::Delimited(b'\t')));
        assert_eq!(Format::of(Some("txt"), "https://x/feed.csv"), Ok(Format::Text));
        assert_eq!(Format::of(None, "https://x/feed"), Ok(Format::Delimited(b',')));
        assert!(Format::of(Some("parquet"), "https://x/f").is_err());
    }
}
