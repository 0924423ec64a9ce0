//! The measurement behind ADR 0001: how `dynamic` values are best held in Arrow.
//!
//! Sign-in records carry JSON property bags (`DeviceDetail`, `LocationDetails`); hunting
//! queries read a few properties from them (`tostring(DeviceDetail.operatingSystem)`) and
//! return whole bags. Three layouts are compared on the same generated bags: JSON text read
//! with the path scanner Vigil uses, JSON text parsed fully (serde_json), and a pre-parsed
//! binary form (MessagePack-like, property names and typed values) that a Variant column
//! would resemble. For each: bytes in Parquet (zstd), time to extract one nested property from
//! every row, and time to turn every value back into JSON text for a query response.

use std::time::Instant;

use serde_json::{Value as Json, json};
use vigil_kql_functions::dynamic::{PathStep, extract_path, json_slice_to_string};

fn bag(index: u64) -> Json {
    let systems = ["Windows 10", "Windows 11", "macOS", "iOS", "Android", "Linux"];
    let browsers = ["Edge 120.0", "Chrome 119.0", "Safari 17", "Firefox 120.0"];
    let countries = ["US", "DE", "JP"];
    json!({
        "deviceId": format!("{:08x}-{:04x}", index * 2_654_435_761 % 4_294_967_291, index % 65_521),
        "displayName": format!("DESKTOP-{:05}", index % 50_000),
        "operatingSystem": systems[(index % 6) as usize],
        "browser": browsers[(index % 4) as usize],
        "isCompliant": index.is_multiple_of(3),
        "isManaged": !index.is_multiple_of(5),
        "trustType": if index.is_multiple_of(2) { "Azure AD joined" } else { "" },
        "location": {"city": format!("City{}", index % 300), "countryOrRegion": countries[(index % 3) as usize],
                     "geoCoordinates": {"latitude": 47.6 + (index % 100) as f64 / 100.0, "longitude": -122.1}}
    })
}

/// A compact binary encoding of JSON, standing in for a pre-parsed layout (Variant, BSON).
fn encode_binary(value: &Json, out: &mut Vec<u8>) {
    match value {
        Json::Null => out.push(0),
        Json::Bool(b) => out.push(if *b { 1 } else { 2 }),
        Json::Number(n) => match n.as_i64() {
            Some(i) => {
                out.push(3);
                out.extend_from_slice(&i.to_le_bytes());
            }
            None => {
                out.push(4);
                out.extend_from_slice(&n.as_f64().unwrap_or(0.0).to_le_bytes());
            }
        },
        Json::String(s) => {
            out.push(5);
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        Json::Array(items) => {
            out.push(6);
            out.extend_from_slice(&(items.len() as u32).to_le_bytes());
            items.iter().for_each(|i| encode_binary(i, out));
        }
        Json::Object(map) => {
            out.push(7);
            out.extend_from_slice(&(map.len() as u32).to_le_bytes());
            for (key, item) in map {
                out.extend_from_slice(&(key.len() as u32).to_le_bytes());
                out.extend_from_slice(key.as_bytes());
                encode_binary(item, out);
            }
        }
    }
}

/// Skips one encoded value, returning the offset past it.
fn skip_binary(bytes: &[u8], at: usize) -> usize {
    let length = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes")) as usize;
    match bytes[at] {
        0..=2 => at + 1,
        3 | 4 => at + 9,
        5 => at + 5 + length(at + 1),
        6 => (0..length(at + 1)).fold(at + 5, |next, _| skip_binary(bytes, next)),
        _ => (0..length(at + 1)).fold(at + 5, |next, _| {
            let key_end = next + 4 + length(next);
            skip_binary(bytes, key_end)
        }),
    }
}

/// The string at a path of keys in an encoded value.
fn binary_get<'a>(bytes: &'a [u8], path: &[&str]) -> Option<&'a str> {
    let mut at = 0;
    for key in path {
        if bytes[at] != 7 {
            return None;
        }
        let count = u32::from_le_bytes(bytes[at + 1..at + 5].try_into().ok()?) as usize;
        let mut next = at + 5;
        let mut found = None;
        for _ in 0..count {
            let key_length = u32::from_le_bytes(bytes[next..next + 4].try_into().ok()?) as usize;
            let name = &bytes[next + 4..next + 4 + key_length];
            let value_at = next + 4 + key_length;
            if name == key.as_bytes() {
                found = Some(value_at);
                break;
            }
            next = skip_binary(bytes, value_at);
        }
        at = found?;
    }
    (bytes[at] == 5).then(|| {
        let length = u32::from_le_bytes(bytes[at + 1..at + 5].try_into().expect("four bytes")) as usize;
        std::str::from_utf8(&bytes[at + 5..at + 5 + length]).unwrap_or("")
    })
}

fn decode_binary(bytes: &[u8], at: usize) -> (Json, usize) {
    let length = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes")) as usize;
    match bytes[at] {
        0 => (Json::Null, at + 1),
        1 => (Json::Bool(true), at + 1),
        2 => (Json::Bool(false), at + 1),
        3 => (json!(i64::from_le_bytes(bytes[at + 1..at + 9].try_into().expect("eight"))), at + 9),
        4 => (json!(f64::from_le_bytes(bytes[at + 1..at + 9].try_into().expect("eight"))), at + 9),
        5 => {
            let end = at + 5 + length(at + 1);
            (Json::String(String::from_utf8_lossy(&bytes[at + 5..end]).into_owned()), end)
        }
        6 => {
            let mut next = at + 5;
            let mut items = Vec::new();
            for _ in 0..length(at + 1) {
                let (item, after) = decode_binary(bytes, next);
                items.push(item);
                next = after;
            }
            (Json::Array(items), next)
        }
        _ => {
            let mut next = at + 5;
            let mut map = serde_json::Map::new();
            for _ in 0..length(at + 1) {
                let key_end = next + 4 + length(next);
                let key = String::from_utf8_lossy(&bytes[next + 4..key_end]).into_owned();
                let (item, after) = decode_binary(bytes, key_end);
                map.insert(key, item);
                next = after;
            }
            (Json::Object(map), next)
        }
    }
}

fn seconds(started: Instant) -> f64 {
    started.elapsed().as_secs_f64()
}

/// Parquet size of one column of values, zstd-compressed, in bytes.
fn parquet_bytes(array: datafusion::arrow::array::ArrayRef) -> Result<usize, String> {
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::basic::{Compression, ZstdLevel};
    use datafusion::parquet::file::properties::WriterProperties;
    let schema = std::sync::Arc::new(Schema::new(vec![Field::new("v", array.data_type().clone(), false)]));
    let batch = datafusion::arrow::record_batch::RecordBatch::try_new(schema.clone(), vec![array])
        .map_err(|e| e.to_string())?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).map_err(|e| e.to_string())?))
        .build();
    let mut buffer = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut buffer, schema, Some(properties)).map_err(|e| e.to_string())?;
    writer.write(&batch).map_err(|e| e.to_string())?;
    writer.close().map_err(|e| e.to_string())?;
    Ok(buffer.len())
}

pub fn measure(rows: u64) -> Result<(), String> {
    use datafusion::arrow::array::{BinaryArray, StringArray};
    let texts: Vec<String> = (0..rows).map(|i| bag(i).to_string()).collect();
    let binaries: Vec<Vec<u8>> = (0..rows)
        .map(|i| {
            let mut out = Vec::new();
            encode_binary(&bag(i), &mut out);
            out
        })
        .collect();
    let text_bytes = parquet_bytes(std::sync::Arc::new(StringArray::from_iter_values(&texts)))?;
    let binary_bytes = parquet_bytes(std::sync::Arc::new(BinaryArray::from_iter_values(&binaries)))?;
    let path = [PathStep::Key("location".into()), PathStep::Key("countryOrRegion".into())];

    let started = Instant::now();
    let scanned =
        texts.iter().filter(|t| extract_path(t, &path).map(json_slice_to_string).as_deref() == Some("DE")).count();
    let scan_seconds = seconds(started);

    let started = Instant::now();
    let parsed = texts
        .iter()
        .filter(|t| {
            serde_json::from_str::<Json>(t)
                .ok()
                .and_then(|j| j["location"]["countryOrRegion"].as_str().map(|s| s == "DE"))
                == Some(true)
        })
        .count();
    let parse_seconds = seconds(started);

    let started = Instant::now();
    let binary = binaries.iter().filter(|b| binary_get(b, &["location", "countryOrRegion"]) == Some("DE")).count();
    let binary_seconds = seconds(started);
    assert_eq!(scanned, parsed);
    assert_eq!(scanned, binary);

    // Answering a query returns the bags as JSON: free for text, a decode for binary.
    let started = Instant::now();
    let emitted: usize = binaries.iter().map(|b| decode_binary(b, 0).0.to_string().len()).sum();
    let binary_emit_seconds = seconds(started);
    let text_emit: usize = texts.iter().map(String::len).sum();
    assert_eq!(emitted, text_emit);

    println!("dynamic layouts, {rows} property bags of {} bytes of JSON on average:", text_emit / rows as usize);
    println!("| layout | Parquet bytes (zstd) | extract one nested property | back to JSON text |");
    println!("|---|---:|---:|---:|");
    println!("| JSON text, path scanner (chosen) | {text_bytes} | {:.3} s | 0 (stored as JSON) |", scan_seconds);
    println!("| JSON text, full parse (serde_json) | {text_bytes} | {:.3} s | 0 (stored as JSON) |", parse_seconds);
    println!("| binary, pre-parsed | {binary_bytes} | {:.3} s | {:.3} s |", binary_seconds, binary_emit_seconds);
    Ok(())
}
