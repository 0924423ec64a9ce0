//! The catalog database (`store.db`, SQLite): table definitions, how far each table is
//! flushed, and the segments. It is the truth about which segments exist: a segment file is
//! part of a table exactly when its row is live here.

use std::path::{Path, PathBuf};

use sqlx::sqlite::SqlitePool;
use sqlx::{Row, Sqlite, Transaction};
use vigil_kql_functions::{KqlColumn, KqlType};

use crate::error::StoreError;
use crate::segment::{EncodedSegment, Segment};
use crate::table::TableKey;

/// Times are nanoseconds since the epoch; LSNs are stored as SQLite integers (i64), which
/// they never outgrow.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tables (
    workspace TEXT NOT NULL,
    name TEXT NOT NULL,
    retention_days INTEGER NOT NULL,
    flushed_lsn INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace, name)
);
CREATE TABLE IF NOT EXISTS columns (
    workspace TEXT NOT NULL,
    table_name TEXT NOT NULL,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    PRIMARY KEY (workspace, table_name, position),
    FOREIGN KEY (workspace, table_name) REFERENCES tables (workspace, name)
);
CREATE TABLE IF NOT EXISTS segments (
    id INTEGER PRIMARY KEY,
    workspace TEXT NOT NULL,
    table_name TEXT NOT NULL,
    path TEXT NOT NULL UNIQUE,
    hour INTEGER NOT NULL,
    min_time INTEGER,
    max_time INTEGER,
    min_received INTEGER,
    max_received INTEGER,
    rows INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    -- Set when compaction or retention drops the segment; its file is deleted a grace period
    -- later, since queries planned before may still read it.
    deleted_at INTEGER,
    FOREIGN KEY (workspace, table_name) REFERENCES tables (workspace, name)
);
CREATE INDEX IF NOT EXISTS segments_by_table ON segments (workspace, table_name) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS segments_deleted ON segments (deleted_at) WHERE deleted_at IS NOT NULL;
";

/// The journal of segment files being written: a path is recorded before its file is put and
/// removed in the transaction that adds its segment. A path still here at open belongs to a
/// flush or compaction that never committed, and is the only file the store ever deletes
/// without a segment row: files it did not write, beside its own, are never touched.
const PENDING_SEGMENTS: &str = "
CREATE TABLE pending_segments (
    path TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL
);
";

/// A table as the catalog has it at start-up.
pub(crate) struct StoredTable {
    pub key: TableKey,
    pub columns: Vec<KqlColumn>,
    pub retention_days: u32,
    pub flushed_lsn: u64,
    pub segments: Vec<Segment>,
}

pub(crate) struct Metadata {
    pool: SqlitePool,
    path: PathBuf,
}

impl Metadata {
    pub async fn open(path: &Path) -> Result<Metadata, StoreError> {
        let pool = vigil_sqlite::open(path, &[SCHEMA, PENDING_SEGMENTS])
            .await
            .map_err(|e| StoreError::Io(format!("cannot open the segment catalog: {e}")))?;
        Ok(Metadata { pool, path: path.to_path_buf() })
    }

    fn failed(&self, doing: &str, error: sqlx::Error) -> StoreError {
        StoreError::Io(format!("catalog database {}: cannot {doing}: {error}", self.path.display()))
    }

    /// Every table with its columns and live segments.
    pub async fn load(&self) -> Result<Vec<StoredTable>, StoreError> {
        let failed = |e| self.failed("read the table definitions", e);
        let table_rows =
            sqlx::query("SELECT workspace, name, retention_days, flushed_lsn FROM tables ORDER BY workspace, name")
                .fetch_all(&self.pool)
                .await
                .map_err(failed)?;
        let mut tables = Vec::with_capacity(table_rows.len());
        for row in table_rows {
            let key = TableKey { workspace: row.try_get(0).map_err(failed)?, table: row.try_get(1).map_err(failed)? };
            let retention_days: i64 = row.try_get(2).map_err(failed)?;
            let flushed_lsn: i64 = row.try_get(3).map_err(failed)?;
            let columns = self.columns(&key).await?;
            let segments = self.live_segments(&key).await?;
            tables.push(StoredTable {
                key,
                columns,
                retention_days: retention_days.clamp(1, i64::from(u32::MAX)) as u32,
                flushed_lsn: flushed_lsn.max(0) as u64,
                segments,
            });
        }
        Ok(tables)
    }

    async fn columns(&self, key: &TableKey) -> Result<Vec<KqlColumn>, StoreError> {
        let failed = |e| self.failed(&format!("read the columns of table {key}"), e);
        let rows =
            sqlx::query("SELECT name, type FROM columns WHERE workspace = ? AND table_name = ? ORDER BY position")
                .bind(&key.workspace)
                .bind(&key.table)
                .fetch_all(&self.pool)
                .await
                .map_err(failed)?;
        rows.into_iter()
            .map(|row| {
                let name: String = row.try_get(0).map_err(failed)?;
                let type_name: String = row.try_get(1).map_err(failed)?;
                let ty = KqlType::from_name(&type_name).ok_or_else(|| {
                    StoreError::Io(format!(
                        "catalog database {}: column '{name}' of table {key} has unknown type '{type_name}'",
                        self.path.display()
                    ))
                })?;
                Ok(KqlColumn::new(name, ty))
            })
            .collect()
    }

    async fn live_segments(&self, key: &TableKey) -> Result<Vec<Segment>, StoreError> {
        let failed = |e| self.failed(&format!("read the segments of table {key}"), e);
        let rows = sqlx::query(
            "SELECT id, path, hour, min_time, max_time, rows, bytes, created_at, min_received, max_received FROM segments
             WHERE workspace = ? AND table_name = ? AND deleted_at IS NULL ORDER BY hour, id",
        )
        .bind(&key.workspace)
        .bind(&key.table)
        .fetch_all(&self.pool)
        .await
        .map_err(failed)?;
        rows.into_iter()
            .map(|row| -> Result<Segment, sqlx::Error> {
                let rows: i64 = row.try_get(5)?;
                let bytes: i64 = row.try_get(6)?;
                let min_received: Option<i64> = row.try_get(8)?;
                let max_received: Option<i64> = row.try_get(9)?;
                Ok(Segment {
                    id: row.try_get(0)?,
                    path: row.try_get(1)?,
                    hour: row.try_get(2)?,
                    min_time: row.try_get(3)?,
                    max_time: row.try_get(4)?,
                    received: min_received.zip(max_received),
                    rows: rows.max(0) as u64,
                    bytes: bytes.max(0) as u64,
                    created_at: row.try_get(7)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(failed)
    }

    /// Creates the table or replaces its columns and retention.
    pub async fn define_table(
        &self,
        key: &TableKey,
        columns: &[KqlColumn],
        retention_days: u32,
    ) -> Result<(), StoreError> {
        let failed = |e| self.failed(&format!("save the definition of table {key}"), e);
        let mut transaction = self.pool.begin().await.map_err(failed)?;
        sqlx::query(
            "INSERT INTO tables (workspace, name, retention_days) VALUES (?, ?, ?)
             ON CONFLICT (workspace, name) DO UPDATE SET retention_days = excluded.retention_days",
        )
        .bind(&key.workspace)
        .bind(&key.table)
        .bind(i64::from(retention_days))
        .execute(&mut *transaction)
        .await
        .map_err(failed)?;
        sqlx::query("DELETE FROM columns WHERE workspace = ? AND table_name = ?")
            .bind(&key.workspace)
            .bind(&key.table)
            .execute(&mut *transaction)
            .await
            .map_err(failed)?;
        for (position, column) in columns.iter().enumerate() {
            sqlx::query("INSERT INTO columns (workspace, table_name, position, name, type) VALUES (?, ?, ?, ?, ?)")
                .bind(&key.workspace)
                .bind(&key.table)
                .bind(position as i64)
                .bind(&column.name)
                .bind(column.ty.name())
                .execute(&mut *transaction)
                .await
                .map_err(failed)?;
        }
        transaction.commit().await.map_err(failed)
    }

    /// Records a flush in one transaction: the new segments, and that the table is in
    /// segments up to `flushed_lsn`.
    pub async fn commit_flush(
        &self,
        key: &TableKey,
        added: &[EncodedSegment],
        flushed_lsn: u64,
        now: i64,
    ) -> Result<Vec<Segment>, StoreError> {
        let failed = |e| self.failed(&format!("record a flush of table {key}"), e);
        let mut transaction = self.pool.begin().await.map_err(failed)?;
        let segments = insert_segments(&mut transaction, key, added, now).await.map_err(failed)?;
        forget_pending(&mut transaction, added.iter().map(|s| s.path.as_str())).await.map_err(failed)?;
        sqlx::query("UPDATE tables SET flushed_lsn = ? WHERE workspace = ? AND name = ?")
            .bind(flushed_lsn as i64)
            .bind(&key.workspace)
            .bind(&key.table)
            .execute(&mut *transaction)
            .await
            .map_err(failed)?;
        transaction.commit().await.map_err(failed)?;
        Ok(segments)
    }

    /// Swaps compacted segments for their replacement in one transaction.
    pub async fn replace_segments(
        &self,
        key: &TableKey,
        removed: &[i64],
        added: &[EncodedSegment],
        now: i64,
    ) -> Result<Vec<Segment>, StoreError> {
        let failed = |e| self.failed(&format!("record a compaction of table {key}"), e);
        let mut transaction = self.pool.begin().await.map_err(failed)?;
        mark_deleted(&mut transaction, removed, now).await.map_err(failed)?;
        let segments = insert_segments(&mut transaction, key, added, now).await.map_err(failed)?;
        forget_pending(&mut transaction, added.iter().map(|s| s.path.as_str())).await.map_err(failed)?;
        transaction.commit().await.map_err(failed)?;
        Ok(segments)
    }

    pub async fn drop_segments(&self, ids: &[i64], now: i64) -> Result<(), StoreError> {
        let failed = |e| self.failed("drop expired segments", e);
        let mut transaction = self.pool.begin().await.map_err(failed)?;
        mark_deleted(&mut transaction, ids, now).await.map_err(failed)?;
        transaction.commit().await.map_err(failed)
    }

    /// Dropped segments whose files may be deleted: dropped at or before `cutoff`.
    pub async fn dropped_before(&self, cutoff: i64) -> Result<Vec<(i64, String)>, StoreError> {
        sqlx::query("SELECT id, path FROM segments WHERE deleted_at IS NOT NULL AND deleted_at <= ? ORDER BY id")
            .bind(cutoff)
            .fetch_all(&self.pool)
            .await
            .and_then(|rows| rows.iter().map(|row| Ok((row.try_get(0)?, row.try_get(1)?))).collect::<Result<_, _>>())
            .map_err(|e| self.failed("list dropped segments", e))
    }

    /// Removes the rows of dropped segments whose files are gone.
    pub async fn forget_segments(&self, ids: &[i64]) -> Result<(), StoreError> {
        let failed = |e| self.failed("remove deleted segments", e);
        let mut transaction = self.pool.begin().await.map_err(failed)?;
        for id in ids {
            sqlx::query("DELETE FROM segments WHERE id = ?")
                .bind(id)
                .execute(&mut *transaction)
                .await
                .map_err(failed)?;
        }
        transaction.commit().await.map_err(failed)
    }

    /// Records that segment files are about to be put at these paths.
    pub async fn journal_pending(&self, paths: &[&str], now: i64) -> Result<(), StoreError> {
        let failed = |e| self.failed("journal the segments being written", e);
        let mut transaction = self.pool.begin().await.map_err(failed)?;
        for path in paths {
            sqlx::query("INSERT OR IGNORE INTO pending_segments (path, created_at) VALUES (?, ?)")
                .bind(path)
                .bind(now)
                .execute(&mut *transaction)
                .await
                .map_err(failed)?;
        }
        transaction.commit().await.map_err(failed)
    }

    /// Removes paths from the journal: their files are deleted, or were never put.
    pub async fn forget_pending(&self, paths: &[&str]) -> Result<(), StoreError> {
        let failed = |e| self.failed("update the journal of segments being written", e);
        let mut transaction = self.pool.begin().await.map_err(failed)?;
        forget_pending(&mut transaction, paths.iter().copied()).await.map_err(failed)?;
        transaction.commit().await.map_err(failed)
    }

    /// Journaled paths that no segment row took up: files of writes that never committed.
    pub async fn uncommitted_pending(&self) -> Result<Vec<String>, StoreError> {
        sqlx::query(
            "SELECT path FROM pending_segments WHERE path NOT IN (SELECT path FROM segments) ORDER BY created_at, path",
        )
        .fetch_all(&self.pool)
        .await
        .and_then(|rows| rows.iter().map(|row| row.try_get(0)).collect::<Result<_, _>>())
        .map_err(|e| self.failed("read the journal of segments being written", e))
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

async fn insert_segments(
    transaction: &mut Transaction<'_, Sqlite>,
    key: &TableKey,
    added: &[EncodedSegment],
    now: i64,
) -> Result<Vec<Segment>, sqlx::Error> {
    let mut segments = Vec::with_capacity(added.len());
    for segment in added {
        let bytes = segment.data.len() as u64;
        let inserted = sqlx::query(
            "INSERT INTO segments (workspace, table_name, path, hour, min_time, max_time, rows, bytes, created_at,
                                   min_received, max_received)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&key.workspace)
        .bind(&key.table)
        .bind(&segment.path)
        .bind(segment.hour)
        .bind(segment.min_time)
        .bind(segment.max_time)
        .bind(segment.rows as i64)
        .bind(bytes as i64)
        .bind(now)
        .bind(segment.received.map(|(min, _)| min))
        .bind(segment.received.map(|(_, max)| max))
        .execute(&mut **transaction)
        .await?;
        segments.push(Segment {
            id: inserted.last_insert_rowid(),
            path: segment.path.clone(),
            hour: segment.hour,
            min_time: segment.min_time,
            max_time: segment.max_time,
            received: segment.received,
            rows: segment.rows,
            bytes,
            created_at: now,
        });
    }
    Ok(segments)
}

async fn forget_pending(
    transaction: &mut Transaction<'_, Sqlite>,
    paths: impl Iterator<Item = &str>,
) -> Result<(), sqlx::Error> {
    for path in paths {
        sqlx::query("DELETE FROM pending_segments WHERE path = ?").bind(path).execute(&mut **transaction).await?;
    }
    Ok(())
}

async fn mark_deleted(transaction: &mut Transaction<'_, Sqlite>, ids: &[i64], now: i64) -> Result<(), sqlx::Error> {
    for id in ids {
        sqlx::query("UPDATE segments SET deleted_at = ? WHERE id = ?")
            .bind(now)
            .bind(id)
            .execute(&mut **transaction)
            .await?;
    }
    Ok(())
}
