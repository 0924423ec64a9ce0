//! How WAL files are laid out, and reading them back after a crash.
//!
//! A file written by this version starts with a 16-byte header, `VIGILWAL`, then the format
//! version (u32, 2) and four zero bytes, and holds one frame per transaction: every batch one
//! request appends, to one table or several, so a crash keeps all of a transaction or none.
//!
//! ```text
//! frame = [u32 body length][u32 CRC-32 of body][body]
//! body  = [u64 first lsn][i64 received][u32 entries] entry*
//! entry = [u32 length][workspace][u32 length][table][u32 length][Arrow IPC stream]
//! ```
//!
//! The entries of a transaction take consecutive LSNs from `first lsn`. Files without the
//! header were written by version 1, whose frames hold one batch each:
//! `body = [u64 lsn][i64 received][u32 length][workspace][u32 length][table][Arrow IPC stream]`.
//! Integers are little-endian; `received` is the group commit's ingestion time (nanoseconds
//! since the epoch, see `ReceivedClock`), so a replayed row keeps the ingestion time it was
//! acknowledged with.

use std::fs::OpenOptions;
use std::io::{Cursor, Write};
use std::path::Path;

use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::record_batch::RecordBatch;

use super::list_files;
use crate::error::{StoreError, io_error};
use crate::table::TableKey;

pub(crate) const FILE_HEADER: [u8; 16] = *b"VIGILWAL\x02\x00\x00\x00\x00\x00\x00\x00";
const FRAME_HEADER_BYTES: usize = 8;
/// A transaction's body holds at least its first LSN, its ingestion time and its entry count.
const TRANSACTION_PREFIX_BYTES: usize = 20;
/// An entry holds at least three lengths.
const ENTRY_PREFIX_BYTES: usize = 12;
/// A version 1 body holds at least its LSN, its ingestion time and two name lengths.
const V1_MIN_BODY_BYTES: usize = 24;

/// One batch of a transaction, encoded.
pub(crate) struct Entry {
    pub key: TableKey,
    pub ipc: Vec<u8>,
}

/// A batch as Arrow IPC stream bytes, the form it takes in a frame.
pub(crate) fn encode_batch(batch: &RecordBatch) -> Result<Vec<u8>, StoreError> {
    let encode = || {
        let mut writer = StreamWriter::try_new(Vec::new(), &batch.schema())?;
        writer.write(batch)?;
        writer.finish()?;
        writer.into_inner()
    };
    encode().map_err(|e| StoreError::Schema(format!("cannot encode the batch for the WAL: {e}")))
}

/// The size of the body of a frame holding these entries.
pub(crate) fn body_bytes(entries: &[Entry]) -> usize {
    TRANSACTION_PREFIX_BYTES
        + entries
            .iter()
            .map(|e| ENTRY_PREFIX_BYTES + e.key.workspace.len() + e.key.table.len() + e.ipc.len())
            .sum::<usize>()
}

/// The largest body a frame can hold: frame lengths are u32.
pub(crate) const MAX_BODY_BYTES: usize = u32::MAX as usize;

/// Writes one transaction as a frame; returns the bytes written. The caller has checked that
/// `body_bytes(entries)` is at most `MAX_BODY_BYTES`.
pub(crate) fn write_transaction(
    out: &mut impl Write,
    first_lsn: u64,
    received: i64,
    entries: &[Entry],
) -> std::io::Result<u64> {
    let mut prefix = Vec::with_capacity(TRANSACTION_PREFIX_BYTES);
    prefix.extend_from_slice(&first_lsn.to_le_bytes());
    prefix.extend_from_slice(&received.to_le_bytes());
    prefix.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    let entry_prefixes: Vec<Vec<u8>> = entries
        .iter()
        .map(|entry| {
            let mut bytes = Vec::with_capacity(ENTRY_PREFIX_BYTES + entry.key.workspace.len() + entry.key.table.len());
            for name in [&entry.key.workspace, &entry.key.table] {
                bytes.extend_from_slice(&(name.len() as u32).to_le_bytes());
                bytes.extend_from_slice(name.as_bytes());
            }
            bytes.extend_from_slice(&(entry.ipc.len() as u32).to_le_bytes());
            bytes
        })
        .collect();
    let mut checksum = crc32fast::Hasher::new();
    checksum.update(&prefix);
    for (entry, entry_prefix) in entries.iter().zip(&entry_prefixes) {
        checksum.update(entry_prefix);
        checksum.update(&entry.ipc);
    }
    let body_length = body_bytes(entries);
    out.write_all(&(body_length as u32).to_le_bytes())?;
    out.write_all(&checksum.finalize().to_le_bytes())?;
    out.write_all(&prefix)?;
    for (entry, entry_prefix) in entries.iter().zip(&entry_prefixes) {
        out.write_all(entry_prefix)?;
        out.write_all(&entry.ipc)?;
    }
    Ok((FRAME_HEADER_BYTES + body_length) as u64)
}

/// One batch read back.
pub(crate) struct WalRecord {
    pub lsn: u64,
    /// Ingestion time of the append, nanoseconds since the epoch.
    pub received: i64,
    pub key: TableKey,
    pub batch: RecordBatch,
    /// The batch's size in the frame. A decoded batch's columns share the frame's buffer,
    /// which `get_array_memory_size` would count once per column.
    pub encoded_bytes: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Version {
    /// One batch per frame, no file header.
    V1,
    /// One transaction per frame, after `FILE_HEADER`.
    V2,
}

/// Why the bytes at an offset are not a valid frame.
enum BadFrame {
    /// Fewer bytes than a header: the file ends inside one.
    ShortHeader,
    /// The header claims more bytes than the file has.
    PastEnd {
        length: usize,
    },
    Checksum {
        frame_end: usize,
    },
    /// The checksum matched but the body does not decode.
    Body {
        problem: String,
    },
}

impl BadFrame {
    fn describe(&self) -> String {
        match self {
            BadFrame::ShortHeader => "the file ends inside a frame header".to_string(),
            BadFrame::PastEnd { length } => format!("the frame claims {length} bytes, past the end of the file"),
            BadFrame::Checksum { .. } => "the frame's checksum does not match its contents".to_string(),
            BadFrame::Body { problem, .. } => format!("the frame does not decode: {problem}"),
        }
    }

    /// Whether this is what a crash in the middle of writing the file's last group leaves: a
    /// frame cut short, or one that reaches the end of the file but whose bytes did not all
    /// reach the disk, or zeros that a file system extended the file with.
    fn is_torn_tail(&self, rest: &[u8]) -> bool {
        match self {
            BadFrame::ShortHeader | BadFrame::PastEnd { .. } => true,
            BadFrame::Checksum { frame_end } => *frame_end == rest.len() || rest.iter().all(|b| *b == 0),
            BadFrame::Body { .. } => rest.iter().all(|b| *b == 0),
        }
    }
}

fn parse_frame(bytes: &[u8], version: Version) -> Result<(Vec<WalRecord>, usize), BadFrame> {
    let (Some(length), Some(checksum)) = (read_u32(bytes, 0), read_u32(bytes, 4)) else {
        return Err(BadFrame::ShortHeader);
    };
    let length = length as usize;
    let frame_end = FRAME_HEADER_BYTES + length;
    let Some(body) = bytes.get(FRAME_HEADER_BYTES..frame_end) else {
        return Err(BadFrame::PastEnd { length });
    };
    if crc32fast::hash(body) != checksum {
        return Err(BadFrame::Checksum { frame_end });
    }
    let records = match version {
        Version::V1 => parse_v1_body(body).map(|record| vec![record]),
        Version::V2 => parse_transaction(body),
    };
    Ok((records.map_err(|problem| BadFrame::Body { problem })?, frame_end))
}

/// Reads the little-endian integers and length-prefixed fields of a body.
struct BodyReader<'a> {
    body: &'a [u8],
    position: usize,
}

impl<'a> BodyReader<'a> {
    fn take(&mut self, length: usize, what: &str) -> Result<&'a [u8], String> {
        let bytes = self.body.get(self.position..self.position + length).ok_or_else(|| format!("{what} is cut off"))?;
        self.position += length;
        Ok(bytes)
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        let bytes = self.take(4, what)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn u64(&mut self, what: &str) -> Result<u64, String> {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(self.take(8, what)?);
        Ok(u64::from_le_bytes(bytes))
    }

    fn name(&mut self, what: &str) -> Result<String, String> {
        let length = self.u32(&format!("the {what} name's length"))? as usize;
        let name = self.take(length, &format!("the {what} name"))?;
        String::from_utf8(name.to_vec()).map_err(|_| format!("the {what} name is not UTF-8"))
    }

    fn key(&mut self) -> Result<TableKey, String> {
        Ok(TableKey { workspace: self.name("workspace")?, table: self.name("table")? })
    }
}

fn decode_batch(ipc: &[u8]) -> Result<RecordBatch, String> {
    let reader = StreamReader::try_new(Cursor::new(ipc), None).map_err(|e| e.to_string())?;
    let schema = reader.schema();
    let batches = reader.collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?;
    concat_batches(&schema, &batches).map_err(|e| e.to_string())
}

fn parse_transaction(body: &[u8]) -> Result<Vec<WalRecord>, String> {
    let mut reader = BodyReader { body, position: 0 };
    let first_lsn = reader.u64("the first LSN")?;
    let received = reader.u64("the ingestion time")? as i64;
    let count = reader.u32("the entry count")? as usize;
    // Each entry takes at least its prefix, so a count the body cannot hold is corruption,
    // not a reason to reserve memory.
    if count > body.len() / ENTRY_PREFIX_BYTES {
        return Err(format!("{count} entries cannot fit in a body of {} bytes", body.len()));
    }
    let mut records = Vec::with_capacity(count);
    for lsn in (first_lsn..).take(count) {
        let key = reader.key()?;
        let length = reader.u32("the batch's length")? as usize;
        let ipc = reader.take(length, "the batch")?;
        records.push(WalRecord { lsn, received, key, batch: decode_batch(ipc)?, encoded_bytes: length });
    }
    if reader.position != body.len() {
        return Err(format!("{} bytes follow the last entry", body.len() - reader.position));
    }
    Ok(records)
}

fn parse_v1_body(body: &[u8]) -> Result<WalRecord, String> {
    if body.len() < V1_MIN_BODY_BYTES {
        return Err(format!("a body of {} bytes is shorter than the smallest possible", body.len()));
    }
    let mut reader = BodyReader { body, position: 0 };
    let lsn = reader.u64("the LSN")?;
    let received = reader.u64("the ingestion time")? as i64;
    let key = reader.key()?;
    let ipc = &body[reader.position..];
    Ok(WalRecord { lsn, received, key, batch: decode_batch(ipc)?, encoded_bytes: ipc.len() })
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let slice = bytes.get(at..at + 4)?;
    Some(u32::from_le_bytes([slice[0], slice[1], slice[2], slice[3]]))
}

/// Reads every frame of every WAL file in `dir` in order and passes each batch to `apply`. A
/// torn frame at the end of the last file (a crash while writing it: never acknowledged) is
/// truncated away, whole transaction and all; a bad frame anywhere else is corruption and an
/// error naming the file and offset. Returns the sequence number of the last file, if any.
pub(crate) fn replay(
    dir: &Path,
    mut apply: impl FnMut(WalRecord) -> Result<(), StoreError>,
) -> Result<Option<u64>, StoreError> {
    let files = list_files(dir)?;
    let last_seq = files.last().map(|(seq, _)| *seq);
    for (seq, path) in &files {
        let is_last = Some(*seq) == last_seq;
        let bytes = std::fs::read(path).map_err(|e| io_error(format!("cannot read WAL file {}", path.display()), e))?;
        let (version, mut offset) = if bytes.starts_with(&FILE_HEADER) {
            (Version::V2, FILE_HEADER.len())
        } else if !bytes.is_empty() && FILE_HEADER.starts_with(&bytes) && is_last {
            // A crash while the file was being created: it holds no frame yet.
            truncate(path, 0)?;
            continue;
        } else {
            (Version::V1, 0)
        };
        while offset < bytes.len() {
            let rest = &bytes[offset..];
            match parse_frame(rest, version) {
                Ok((records, frame_length)) => {
                    for record in records {
                        apply(record)?;
                    }
                    offset += frame_length;
                }
                Err(bad) if is_last && bad.is_torn_tail(rest) => {
                    tracing::warn!(
                        file = %path.display(),
                        offset,
                        discarded_bytes = rest.len(),
                        "truncating a torn write at the end of the WAL: {}",
                        bad.describe()
                    );
                    truncate(path, offset as u64)?;
                    break;
                }
                Err(bad) => {
                    return Err(StoreError::Io(format!(
                        "WAL file {} is corrupt at offset {offset}: {}; only the end of the last file can be a torn \
                         write, so this is damage to acknowledged data (move the file aside to start without it)",
                        path.display(),
                        bad.describe()
                    )));
                }
            }
        }
    }
    Ok(last_seq)
}

fn truncate(path: &Path, length: u64) -> Result<(), StoreError> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|file| {
            file.set_len(length)?;
            file.sync_all()
        })
        .map_err(|e| io_error(format!("cannot truncate the torn end of WAL file {}", path.display()), e))
}
