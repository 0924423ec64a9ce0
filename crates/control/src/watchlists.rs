//! Watchlists: lists of items from CSV, looked up with `_GetWatchlist('alias')`.
//!
//! As in Sentinel, every change to an item is kept: creating a watchlist records each item,
//! replacing its CSV records the items that changed, came or went (an item keeps its id while
//! its search key stays), and deleting it records every item as deleted. The `Watchlist` table
//! shows these changes; `_GetWatchlist` keeps each item's newest one.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::Serialize;
use sqlx::Row;
use vigil_catalog::WatchlistItemRow;

use crate::{Control, ControlError, Result};

/// Sentinel's limit for a watchlist uploaded from a local file.
pub const MAX_CSV_BYTES: usize = 3_800_000;
/// More columns than any real watchlist has; each is a column of every `_GetWatchlist` result.
pub const MAX_COLUMNS: usize = 200;

/// What a watchlist is, without its items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Watchlist {
    pub alias: String,
    pub watchlist_id: String,
    pub display_name: String,
    pub description: String,
    pub provider: String,
    pub source: String,
    pub items_search_key: String,
    pub columns: Vec<String>,
    pub labels: Vec<String>,
    /// Nanoseconds since the epoch.
    pub created: i64,
    pub updated: i64,
    pub updated_by: String,
    pub item_count: usize,
}

/// A watchlist to create or replace, with its items as CSV (Sentinel's `rawContent`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewWatchlist {
    pub alias: String,
    pub display_name: String,
    pub description: String,
    pub provider: String,
    pub source: String,
    pub items_search_key: String,
    pub labels: Vec<String>,
    pub raw_content: String,
    /// Lines before the header (a title line, say).
    pub lines_to_skip: usize,
}

/// Why a watchlist's CSV was refused: the part of the request at fault and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchlistError {
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for WatchlistError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for WatchlistError {}

impl From<WatchlistError> for ControlError {
    fn from(error: WatchlistError) -> ControlError {
        ControlError::Invalid(error.to_string())
    }
}

/// A watchlist CSV's header and its rows, each a map of column to value.
pub type CsvTable = (Vec<String>, Vec<BTreeMap<String, String>>);

/// The CSV's header and rows, after the checks Sentinel makes: a header of unique, non-empty
/// names that includes the search key, and rows as wide as the header.
pub fn parse_csv(raw: &str, lines_to_skip: usize, search_key: &str) -> std::result::Result<CsvTable, WatchlistError> {
    let failed = |field: &str, message: String| WatchlistError { field: field.to_string(), message };
    if raw.len() > MAX_CSV_BYTES {
        return Err(failed("rawContent", format!("is {} bytes; at most {MAX_CSV_BYTES} are allowed", raw.len())));
    }
    let raw = raw.strip_prefix('\u{feff}').unwrap_or(raw);
    let mut skipped = raw;
    for _ in 0..lines_to_skip {
        skipped = skipped.split_once('\n').map(|(_, rest)| rest).unwrap_or("");
    }
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(skipped.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| failed("rawContent", format!("the header line is not valid CSV: {e}")))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if header.is_empty() || header.iter().all(String::is_empty) {
        return Err(failed("rawContent", "has no header line".into()));
    }
    if header.len() > MAX_COLUMNS {
        return Err(failed("rawContent", format!("has {} columns; at most {MAX_COLUMNS} are allowed", header.len())));
    }
    for (index, name) in header.iter().enumerate() {
        if name.is_empty() {
            return Err(failed("rawContent", format!("column {} of the header has no name", index + 1)));
        }
        if header[..index].contains(name) {
            return Err(failed("rawContent", format!("the header names column '{name}' twice")));
        }
    }
    if !header.iter().any(|h| h == search_key) {
        return Err(failed(
            "itemsSearchKey",
            format!("'{search_key}' is not a column of the CSV; its columns are {}", header.join(", ")),
        ));
    }
    let mut rows = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let line = lines_to_skip + index + 2;
        let record = record.map_err(|e| failed("rawContent", format!("line {line} is not valid CSV: {e}")))?;
        if record.iter().all(|field| field.trim().is_empty()) {
            continue;
        }
        if record.len() != header.len() {
            return Err(failed(
                "rawContent",
                format!("line {line} has {} fields; the header has {}", record.len(), header.len()),
            ));
        }
        rows.push(header.iter().cloned().zip(record.iter().map(str::to_string)).collect());
    }
    Ok((header, rows))
}

/// What `put_watchlist` checks before writing anything: the alias, the search key and the CSV.
/// Returns the CSV's columns and rows.
pub fn check_watchlist(new: &NewWatchlist) -> std::result::Result<CsvTable, WatchlistError> {
    validate_alias(&new.alias)?;
    if new.items_search_key.trim().is_empty() {
        return Err(WatchlistError { field: "itemsSearchKey".into(), message: "is required".into() });
    }
    parse_csv(&new.raw_content, new.lines_to_skip, &new.items_search_key)
}

fn validate_alias(alias: &str) -> std::result::Result<(), WatchlistError> {
    let mut chars = alias.chars();
    let valid = alias.len() <= 100
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
    if valid {
        Ok(())
    } else {
        Err(WatchlistError {
            field: "watchlistAlias".into(),
            message: format!(
                "'{alias}' is not a valid alias: letters, digits, '_' or '-', starting with a letter or digit"
            ),
        })
    }
}

fn now_nanos() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

impl Control {
    /// Creates a watchlist, or replaces an existing one's settings and items. Nothing changes
    /// when the CSV is refused.
    pub async fn put_watchlist(&self, workspace_id: &str, new: &NewWatchlist, actor: &str) -> Result<Watchlist> {
        let (columns, rows) = check_watchlist(new)?;
        let now = now_nanos();
        let mut tx = self.begin().await?;
        let existing =
            sqlx::query("SELECT watchlist_id, created_at FROM watchlists WHERE workspace_id = ? AND alias = ?")
                .bind(workspace_id)
                .bind(&new.alias)
                .fetch_optional(&mut *tx)
                .await?;
        let (watchlist_id, created) = match existing {
            Some(row) => (row.get::<String, _>(0), row.get::<i64, _>(1)),
            None => (uuid::Uuid::new_v4().to_string(), now),
        };
        // Items that live on keep their ids, matched by search key in order of appearance.
        let mut live: HashMap<String, VecDeque<(String, i64, String)>> = HashMap::new();
        for (item_id, search_key, created_at, properties) in current_items(&mut tx, workspace_id, &new.alias).await? {
            live.entry(search_key).or_default().push_back((item_id, created_at, properties));
        }
        let display_name = if new.display_name.trim().is_empty() { &new.alias } else { &new.display_name };
        sqlx::query(
            "INSERT INTO watchlists (workspace_id, alias, watchlist_id, display_name, description, provider, source,
                 search_key, columns, labels, created_at, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (workspace_id, alias) DO UPDATE SET display_name = excluded.display_name,
                 description = excluded.description, provider = excluded.provider, source = excluded.source,
                 search_key = excluded.search_key, columns = excluded.columns, labels = excluded.labels,
                 updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        )
        .bind(workspace_id)
        .bind(&new.alias)
        .bind(&watchlist_id)
        .bind(display_name)
        .bind(&new.description)
        .bind(if new.provider.is_empty() { "Custom" } else { &new.provider })
        .bind(&new.source)
        .bind(&new.items_search_key)
        .bind(serde_json::to_string(&columns).expect("strings serialize"))
        .bind(serde_json::to_string(&new.labels).expect("strings serialize"))
        .bind(created)
        .bind(now)
        .bind(actor)
        .execute(&mut *tx)
        .await?;
        for row in &rows {
            let search_key = row.get(&new.items_search_key).cloned().unwrap_or_default();
            let properties = serde_json::to_string(row).expect("strings serialize");
            let (item_id, created_at, status) = match live.get_mut(&search_key).and_then(VecDeque::pop_front) {
                // Unchanged: nothing to record.
                Some((_, _, old)) if old == properties => continue,
                Some((id, created_at, _)) => (id, created_at, "Update"),
                None => (uuid::Uuid::new_v4().to_string(), now, "Create"),
            };
            insert_item(
                &mut tx,
                workspace_id,
                &new.alias,
                &item_id,
                &search_key,
                &properties,
                status,
                now,
                created_at,
                actor,
            )
            .await?;
        }
        for (search_key, gone) in live {
            for (item_id, created_at, properties) in gone {
                insert_item(
                    &mut tx,
                    workspace_id,
                    &new.alias,
                    &item_id,
                    &search_key,
                    &properties,
                    "Delete",
                    now,
                    created_at,
                    actor,
                )
                .await?;
            }
        }
        tx.commit().await?;
        self.watchlist(workspace_id, &new.alias)
            .await?
            .ok_or_else(|| ControlError::Vanished(format!("watchlist '{}'", new.alias)))
    }

    pub async fn watchlists(&self, workspace_id: &str) -> Result<Vec<Watchlist>> {
        let rows = sqlx::query(
            "SELECT alias, watchlist_id, display_name, description, provider, source, search_key, columns, labels,
                 created_at, updated_at, updated_by FROM watchlists WHERE workspace_id = ? ORDER BY alias",
        )
        .bind(workspace_id)
        .fetch_all(&self.pool)
        .await?;
        let mut watchlists = Vec::with_capacity(rows.len());
        for row in &rows {
            let alias: String = row.get(0);
            let unreadable = |e: serde_json::Error| ControlError::unreadable(format!("watchlist '{alias}'"), e);
            let mut connection = self.pool.acquire().await?;
            let item_count = current_items(&mut connection, workspace_id, &alias).await?.len();
            watchlists.push(Watchlist {
                watchlist_id: row.get(1),
                display_name: row.get(2),
                description: row.get(3),
                provider: row.get(4),
                source: row.get(5),
                items_search_key: row.get(6),
                columns: serde_json::from_str(row.get::<&str, _>(7)).map_err(unreadable)?,
                labels: serde_json::from_str(row.get::<&str, _>(8)).map_err(unreadable)?,
                created: row.get(9),
                updated: row.get(10),
                updated_by: row.get(11),
                item_count,
                alias,
            });
        }
        Ok(watchlists)
    }

    pub async fn watchlist(&self, workspace_id: &str, alias: &str) -> Result<Option<Watchlist>> {
        Ok(self.watchlists(workspace_id).await?.into_iter().find(|w| w.alias == alias))
    }

    /// The current items of a watchlist, each a map of column to value, in the order they
    /// were first created.
    pub async fn watchlist_items(&self, workspace_id: &str, alias: &str) -> Result<Vec<BTreeMap<String, String>>> {
        let mut connection = self.pool.acquire().await?;
        current_items(&mut connection, workspace_id, alias)
            .await?
            .into_iter()
            .map(|(_, _, _, properties)| {
                serde_json::from_str(&properties)
                    .map_err(|e| ControlError::unreadable(format!("an item of watchlist '{alias}'"), e))
            })
            .collect()
    }

    /// Deletes a watchlist: its items are recorded as deleted.
    pub async fn delete_watchlist(&self, workspace_id: &str, alias: &str, actor: &str) -> Result<bool> {
        let now = now_nanos();
        let mut tx = self.begin().await?;
        for (item_id, search_key, created_at, properties) in current_items(&mut tx, workspace_id, alias).await? {
            insert_item(
                &mut tx,
                workspace_id,
                alias,
                &item_id,
                &search_key,
                &properties,
                "Delete",
                now,
                created_at,
                actor,
            )
            .await?;
        }
        let deleted = sqlx::query("DELETE FROM watchlists WHERE workspace_id = ? AND alias = ?")
            .bind(workspace_id)
            .bind(alias)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(deleted > 0)
    }

    /// Every change to every item of the workspace's watchlists, oldest first: the rows of the
    /// `Watchlist` table.
    pub async fn watchlist_changes(&self, workspace_id: &str) -> Result<Vec<WatchlistItemRow>> {
        let rows = sqlx::query(
            "SELECT i.alias, COALESCE(w.watchlist_id, ''), COALESCE(w.display_name, i.alias), COALESCE(w.provider, ''),
                 COALESCE(w.source, ''), i.item_id, i.search_key, i.properties, i.status, i.changed_at, i.created_at,
                 i.changed_by
             FROM watchlist_items i LEFT JOIN watchlists w ON w.workspace_id = i.workspace_id AND w.alias = i.alias
             WHERE i.workspace_id = ? ORDER BY i.seq",
        )
        .bind(workspace_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| WatchlistItemRow {
                alias: r.get(0),
                watchlist_id: r.get(1),
                watchlist_name: r.get(2),
                provider: r.get(3),
                source: r.get(4),
                item_id: r.get(5),
                search_key: r.get(6),
                properties: r.get(7),
                status: r.get(8),
                changed_at: r.get(9),
                created_at: r.get(10),
                changed_by: r.get(11),
            })
            .collect())
    }
}

/// `(item id, search key, created at, properties)` of each live item of a watchlist: the newest
/// change of each item, unless it deleted the item.
async fn current_items(
    connection: &mut sqlx::SqliteConnection,
    workspace_id: &str,
    alias: &str,
) -> Result<Vec<(String, String, i64, String)>> {
    let rows = sqlx::query(
        "SELECT item_id, search_key, created_at, properties, status FROM watchlist_items
         WHERE seq IN (SELECT MAX(seq) FROM watchlist_items WHERE workspace_id = ? AND alias = ? GROUP BY item_id)
         ORDER BY created_at, seq",
    )
    .bind(workspace_id)
    .bind(alias)
    .fetch_all(&mut *connection)
    .await?;
    Ok(rows
        .iter()
        .filter(|r| r.get::<&str, _>(4) != "Delete")
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect())
}

#[allow(clippy::too_many_arguments)]
async fn insert_item(
    connection: &mut sqlx::SqliteConnection,
    workspace_id: &str,
    alias: &str,
    item_id: &str,
    search_key: &str,
    properties: &str,
    status: &str,
    changed_at: i64,
    created_at: i64,
    actor: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO watchlist_items (workspace_id, alias, item_id, search_key, properties, status, changed_at,
             created_at, changed_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(workspace_id)
    .bind(alias)
    .bind(item_id)
    .bind(search_key)
    .bind(properties)
    .bind(status)
    .bind(changed_at)
    .bind(created_at)
    .bind(actor)
    .execute(&mut *connection)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_is_read_with_the_checks_sentinel_makes() {
        let (columns, rows) = parse_csv("\u{feff}name,owner\r\nalpha,ann\r\n\r\nbeta,bob\r\n", 0, "name").unwrap();
        assert_eq!(columns, ["name", "owner"]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1]["owner"], "bob");
        let (_, skipped) = parse_csv("a title line\nname\nx\n", 1, "name").unwrap();
        assert_eq!(skipped[0]["name"], "x");
    }

    #[test]
    fn bad_csv_says_where_and_why() {
        let error = parse_csv("name,owner\nalpha\n", 0, "name").unwrap_err();
        assert_eq!(error.to_string(), "rawContent: line 2 has 1 fields; the header has 2");
        let error = parse_csv("name,owner\n", 0, "Name").unwrap_err();
        assert_eq!(error.field, "itemsSearchKey");
        assert!(error.message.contains("'Name' is not a column") && error.message.contains("name, owner"));
        assert!(parse_csv("a,a\n", 0, "a").unwrap_err().message.contains("twice"));
        assert!(parse_csv("a,\n", 0, "a").unwrap_err().message.contains("column 2 of the header has no name"));
        let huge = "a\n".repeat(MAX_CSV_BYTES);
        assert!(parse_csv(&huge, 0, "a").unwrap_err().message.contains("at most"));
    }
}
