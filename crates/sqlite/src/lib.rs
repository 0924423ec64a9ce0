//! How Vigil opens its SQLite databases: one set of durable connection settings, and schemas
//! that evolve by numbered steps so that a data dir written by an earlier release opens.
//!
//! A database records in `PRAGMA user_version` how many steps of its schema have run. Opening
//! runs the steps it lacks, in order, in one transaction. The first step of a database that
//! existed before versioning is its schema as it was then, written to be idempotent (`IF NOT
//! EXISTS`), so that such databases (version 0) open too. Steps are never edited, only added.

use std::path::Path;
use std::time::Duration;

use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

/// Why a database could not be opened or brought up to date.
#[derive(Debug)]
pub enum OpenError {
    Sqlite {
        database: String,
        source: sqlx::Error,
    },
    /// The file was written by a newer release, whose schema this one does not know.
    Newer {
        database: String,
        version: i64,
        known: usize,
    },
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Sqlite { database, source } => write!(f, "{database}: {source}"),
            OpenError::Newer { database, version, known } => write!(
                f,
                "{database} is at schema version {version}, newer than this release knows ({known}); \
                 use the release that wrote it"
            ),
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OpenError::Sqlite { source, .. } => Some(source),
            OpenError::Newer { .. } => None,
        }
    }
}

/// Opens (creating if needed) a database with write-ahead logging and full synchronous
/// commits, and brings its schema up to `steps`.
pub async fn open(path: &Path, steps: &[&str]) -> Result<SqlitePool, OpenError> {
    let database = path.display().to_string();
    let failed = |source| OpenError::Sqlite { database: database.clone(), source };
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await.map_err(failed)?;
    migrate(&pool, steps, &database).await?;
    Ok(pool)
}

/// Runs the steps a database lacks.
pub async fn migrate(pool: &SqlitePool, steps: &[&str], database: &str) -> Result<(), OpenError> {
    let failed = |source| OpenError::Sqlite { database: database.to_string(), source };
    // Take the write lock first (waiting out other writers with the busy timeout): a deferred
    // transaction that reads the version and then writes fails at once if another process
    // (`vigil serve` beside an admin command) committed in between.
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(failed)?;
    let version: i64 = sqlx::query("PRAGMA user_version").fetch_one(&mut *tx).await.map_err(failed)?.get(0);
    if version > steps.len() as i64 {
        return Err(OpenError::Newer { database: database.to_string(), version, known: steps.len() });
    }
    for step in &steps[version as usize..] {
        sqlx::raw_sql(step).execute(&mut *tx).await.map_err(failed)?;
    }
    // PRAGMA takes no bound parameters; the value is this release's own count.
    sqlx::raw_sql(&format!("PRAGMA user_version = {}", steps.len())).execute(&mut *tx).await.map_err(failed)?;
    tx.commit().await.map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRST: &str = "CREATE TABLE IF NOT EXISTS t (a INTEGER);";
    const SECOND: &str = "ALTER TABLE t ADD COLUMN b TEXT NOT NULL DEFAULT 'x';";

    #[tokio::test]
    async fn steps_run_once_in_order_and_a_newer_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.db");
        let pool = open(&path, &[FIRST]).await.unwrap();
        sqlx::query("INSERT INTO t (a) VALUES (1)").execute(&pool).await.unwrap();
        pool.close().await;
        let pool = open(&path, &[FIRST, SECOND]).await.unwrap();
        let b: String = sqlx::query("SELECT b FROM t").fetch_one(&pool).await.unwrap().get(0);
        assert_eq!(b, "x");
        pool.close().await;
        // Opening again runs nothing (the ALTER would fail if it ran twice).
        open(&path, &[FIRST, SECOND]).await.unwrap().close().await;
        let error = open(&path, &[FIRST]).await.unwrap_err();
        assert!(error.to_string().contains("newer than this release knows"), "{error}");
    }

    #[tokio::test]
    async fn opening_waits_for_another_writer_instead_of_failing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shared.db");
        let server = open(&path, &[FIRST]).await.unwrap();
        let mut write = server.begin().await.unwrap();
        sqlx::query("INSERT INTO t (a) VALUES (1)").execute(&mut *write).await.unwrap();
        let (opened, ()) = tokio::join!(open(&path, &[FIRST]), async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            write.commit().await.unwrap();
        });
        opened.expect("the second opener waits for the first writer");
    }

    #[tokio::test]
    async fn a_database_from_before_versioning_opens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let old = open(&path, &[]).await.unwrap();
        sqlx::raw_sql(FIRST).execute(&old).await.unwrap();
        sqlx::raw_sql("PRAGMA user_version = 0").execute(&old).await.unwrap();
        old.close().await;
        open(&path, &[FIRST, SECOND]).await.unwrap().close().await;
    }
}
