//! What survives a crash: every acknowledged append exactly once, whether it was still in the
//! WAL, already flushed, or caught in the middle of a flush; torn WAL tails are cut, corrupt
//! frames elsewhere stop the store. A crash is simulated by dropping the store without
//! `close`: the WAL is then as a killed process leaves it.

mod common;

use std::path::{Path, PathBuf};

use vigil_store::{Store, StoreError};

use common::*;

fn wal_files(data_dir: &Path) -> Vec<PathBuf> {
    files_under(&data_dir.join("wal"), "log")
}

/// The WAL file the last store wrote to: the newest with a frame after its 16-byte header.
fn last_written_wal_file(data_dir: &Path) -> PathBuf {
    wal_files(data_dir)
        .into_iter()
        .rev()
        .find(|path| std::fs::metadata(path).map(|m| m.len() > 16).unwrap_or(false))
        .expect("a WAL file with frames")
}

#[tokio::test(flavor = "multi_thread")]
async fn unflushed_appends_are_replayed_once_per_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_with_events_table(dir.path(), "T").await;
    for batch in 0..3 {
        store.append(WORKSPACE, "T", hourly_events(MARCH_1, 4, batch * 4 + 1)).await.expect("append");
    }
    drop(store);

    let store = open(dir.path()).await;
    assert_eq!(event_ids(&store, "T").await, (1..=12).collect::<Vec<_>>());
    store.append(WORKSPACE, "T", hourly_events(MARCH_1, 1, 13)).await.expect("append after recovery");
    drop(store);

    let store = open(dir.path()).await;
    assert_eq!(event_ids(&store, "T").await, (1..=13).collect::<Vec<_>>());
    store.close().await.expect("close flushes");
    // What is left of the WAL holds no frame: at most a file header.
    assert!(wal_files(dir.path()).iter().all(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(u64::MAX) <= 16));

    let store = open(dir.path()).await;
    assert_eq!(event_ids(&store, "T").await, (1..=13).collect::<Vec<_>>());
    assert_eq!(store.stats().memtable_bytes, 0, "everything came from segments");
    store.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn flushed_appends_are_not_replayed_even_if_their_wal_files_survive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_with_events_table(dir.path(), "T").await;
    store.append(WORKSPACE, "T", hourly_events(MARCH_1, 3, 1)).await.expect("append");
    // The WAL as it was before the flush: as if the crash came between the flush's commit and
    // the deletion of the WAL files it made redundant.
    let saved: Vec<(PathBuf, Vec<u8>)> =
        wal_files(dir.path()).into_iter().map(|f| (f.clone(), std::fs::read(&f).expect("read"))).collect();
    store.flush().await.expect("flush");
    store.append(WORKSPACE, "T", hourly_events(MARCH_1, 2, 4)).await.expect("append after the flush");
    drop(store);
    for (path, bytes) in &saved {
        std::fs::write(path, bytes).expect("restore");
    }

    let store = open(dir.path()).await;
    assert_eq!(event_ids(&store, "T").await, vec![1, 2, 3, 4, 5]);
    drop(store);
    let store = open(dir.path()).await;
    assert_eq!(event_ids(&store, "T").await, vec![1, 2, 3, 4, 5]);
    store.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flush_that_fails_for_one_table_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path()).await;
    for table in ["Good", "Bad"] {
        store.define_table(WORKSPACE, table, &event_columns(), None).await.expect("define");
        store.append(WORKSPACE, table, hourly_events(MARCH_1, 3, 1)).await.expect("append");
    }
    // A file where Bad's segment folder must go: its segments cannot be written.
    let blocker = dir.path().join("segments").join(WORKSPACE).join("Bad");
    std::fs::create_dir_all(blocker.parent().expect("parent")).expect("mkdir");
    std::fs::write(&blocker, b"in the way").expect("blocker");
    let error = store.flush().await.expect_err("Bad cannot be flushed");
    assert!(matches!(error, StoreError::Io(_)), "{error:?}");
    assert_eq!(store.segments(WORKSPACE, "Good").len(), 3);
    assert!(store.segments(WORKSPACE, "Bad").is_empty());
    store.append(WORKSPACE, "Bad", hourly_events(MARCH_1, 1, 4)).await.expect("append");
    assert_eq!(event_ids(&store, "Good").await, vec![1, 2, 3]);
    assert_eq!(event_ids(&store, "Bad").await, vec![1, 2, 3, 4]);
    drop(store);

    std::fs::remove_file(&blocker).expect("unblock");
    let store = open(dir.path()).await;
    assert_eq!(event_ids(&store, "Good").await, vec![1, 2, 3]);
    assert_eq!(event_ids(&store, "Bad").await, vec![1, 2, 3, 4]);
    store.flush().await.expect("flush");
    assert_eq!(store.segments(WORKSPACE, "Bad").len(), 3);
    assert_eq!(event_ids(&store, "Bad").await, vec![1, 2, 3, 4]);
    store.close().await.expect("close");

    let store = open(dir.path()).await;
    assert_eq!(event_ids(&store, "Good").await, vec![1, 2, 3]);
    assert_eq!(event_ids(&store, "Bad").await, vec![1, 2, 3, 4]);
    store.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn files_in_the_segment_store_that_the_store_did_not_write_are_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_with_events_table(dir.path(), "T").await;
    store.append(WORKSPACE, "T", hourly_events(MARCH_1, 1, 1)).await.expect("append");
    store.flush().await.expect("flush");
    store.close().await.expect("close");
    let segments_dir = dir.path().join("segments");
    let [segment] = files_under(&segments_dir, "parquet").try_into().expect("one segment");
    // On a shared bucket: another system's file, and one beside Vigil's own segments.
    let foreign = segments_dir.join("other-system").join("data.parquet");
    std::fs::create_dir_all(foreign.parent().expect("parent")).expect("mkdir");
    std::fs::write(&foreign, b"not ours").expect("write");
    let beside = segment.with_file_name("00000000-0000-0000-0000-000000000000.parquet");
    std::fs::copy(&segment, &beside).expect("copy");

    for stored in 1..=2 {
        let store = open(dir.path()).await;
        assert_eq!(count(&store, "T | count").await, stored);
        store.append(WORKSPACE, "T", hourly_events(MARCH_1, 1, stored + 1)).await.expect("append");
        store.flush().await.expect("flush");
        store.compact().await.expect("compact");
        store.close().await.expect("close");
    }
    assert!(foreign.exists() && beside.exists(), "neither is the store's to delete");
}

/// Two appends of two events each, then a crash; returns the WAL file holding them.
async fn crash_after_two_appends(data_dir: &Path) -> PathBuf {
    let store = open_with_events_table(data_dir, "T").await;
    store.append(WORKSPACE, "T", hourly_events(MARCH_1, 2, 1)).await.expect("append");
    store.append(WORKSPACE, "T", hourly_events(MARCH_1, 2, 3)).await.expect("append");
    drop(store);
    last_written_wal_file(data_dir)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partly_written_frame_after_the_last_one_is_cut_away() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wal = crash_after_two_appends(dir.path()).await;
    // A crash while writing a third frame: some of its bytes reached the disk.
    let clean = std::fs::read(&wal).expect("read");
    let mut torn = clean.clone();
    torn.extend_from_slice(&[0x40, 0x01, 0, 0, 0xDE, 0xAD, 0xBE, 0xEF, 1, 2, 3]);
    std::fs::write(&wal, &torn).expect("write");

    let store = open(dir.path()).await;
    assert_eq!(event_ids(&store, "T").await, vec![1, 2, 3, 4]);
    assert_eq!(std::fs::read(&wal).expect("read"), clean, "the torn bytes are truncated");
    store.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_last_frame_cut_short_is_cut_away() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wal = crash_after_two_appends(dir.path()).await;
    let clean = std::fs::read(&wal).expect("read");
    std::fs::write(&wal, &clean[..clean.len() - 10]).expect("cut");

    let store = open(dir.path()).await;
    assert_eq!(event_ids(&store, "T").await, vec![1, 2]);
    store.append(WORKSPACE, "T", hourly_events(MARCH_1, 1, 5)).await.expect("append after recovery");
    drop(store);
    let store = open(dir.path()).await;
    assert_eq!(event_ids(&store, "T").await, vec![1, 2, 5]);
    store.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_frame_before_the_end_stops_the_store_with_its_location() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_with_events_table(dir.path(), "T").await;
    for batch in 0..3 {
        store.append(WORKSPACE, "T", hourly_events(MARCH_1, 2, batch * 2 + 1)).await.expect("append");
    }
    drop(store);
    let wal = last_written_wal_file(dir.path());
    let mut bytes = std::fs::read(&wal).expect("read");
    bytes[40] ^= 0x55;
    std::fs::write(&wal, &bytes).expect("write");

    let Err(error) = Store::open(config(dir.path())).await else {
        panic!("a corrupt WAL must not open");
    };
    let StoreError::Io(message) = &error else { panic!("expected an Io error, got {error:?}") };
    assert!(message.contains(&wal.display().to_string()), "{message}");
    // The first frame follows the file's 16-byte header.
    assert!(message.contains("offset 16"), "{message}");
    assert!(message.contains("checksum"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_appends_share_fsyncs_and_all_survive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_with_events_table(dir.path(), "T").await;
    let tasks: Vec<_> = (0..64)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move { store.append(WORKSPACE, "T", hourly_events(MARCH_1, 10, task * 10)).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("task ran").expect("append acknowledged");
    }
    let stats = store.stats();
    assert_eq!(stats.appends, 64);
    assert!(stats.wal_syncs < stats.appends, "group commit shares fsyncs: {stats:?}");
    assert_eq!(count(&store, "T | count").await, 640);
    assert_eq!(count(&store, "T | distinct EventID | count").await, 640);
    drop(store);

    let store = open(dir.path()).await;
    assert_eq!(event_ids(&store, "T").await, (0..640).collect::<Vec<_>>());
    store.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_data_directory_is_used_by_one_open_store_at_a_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path()).await;
    let Err(error) = Store::open(config(dir.path())).await else {
        panic!("a second store on the same data directory must not open");
    };
    assert!(matches!(&error, StoreError::Io(m) if m.contains("in use")), "{error:?}");
    store.close().await.expect("close");
    let reopened = open(dir.path()).await;
    reopened.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn batches_appended_together_are_stored_together_or_not_at_all() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path()).await;
    for table in ["A", "B"] {
        store.define_table(WORKSPACE, table, &event_columns(), None).await.expect("define");
    }
    let error = store
        .append_all(vec![
            (WORKSPACE, "A", hourly_events(MARCH_1, 2, 1)),
            (WORKSPACE, "Missing", hourly_events(MARCH_1, 1, 3)),
        ])
        .await
        .expect_err("one table does not exist");
    assert!(matches!(error, StoreError::UnknownTable(_)), "{error:?}");
    assert_eq!(count(&store, "A | count").await, 0, "nothing of a refused transaction is stored");

    store
        .append_all(vec![
            (WORKSPACE, "A", hourly_events(MARCH_1, 2, 1)),
            (WORKSPACE, "B", hourly_events(MARCH_1, 1, 3)),
        ])
        .await
        .expect("append both");
    let wal = last_written_wal_file(dir.path());
    drop(store);
    // A crash part-way through writing the transaction: only some of its bytes are on disk.
    let bytes = std::fs::read(&wal).expect("read");
    std::fs::write(&wal, &bytes[..bytes.len() - 20]).expect("cut");
    let store = open(dir.path()).await;
    assert_eq!((count(&store, "A | count").await, count(&store, "B | count").await), (0, 0));
    store.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_workspace_at_its_share_of_unflushed_rows_leaves_room_for_the_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    let one_batch = hourly_events(MARCH_1, 100, 1).get_array_memory_size();
    let config = vigil_store::StoreConfig {
        max_memtable_bytes: 1 << 30,
        max_workspace_memtable_bytes: 4 * one_batch,
        ..config(dir.path())
    };
    let store = Store::open(config).await.expect("opens");
    for workspace in ["flood", "quiet"] {
        store.define_table(workspace, "T", &event_columns(), None).await.expect("define");
    }
    let mut accepted = 0;
    let refused = loop {
        match store.append("flood", "T", hourly_events(MARCH_1, 100, 1)).await {
            Ok(()) => accepted += 1,
            Err(error) => break error,
        }
        assert!(accepted < 100, "the flooding workspace is never refused");
    };
    assert_eq!(refused, StoreError::Overloaded);
    assert!(accepted >= 2, "{accepted}");
    store.append("quiet", "T", hourly_events(MARCH_1, 100, 1)).await.expect("another workspace has room");
    store.flush().await.expect("flush");
    store.append("flood", "T", hourly_events(MARCH_1, 100, 1)).await.expect("room again after a flush");
    store.close().await.expect("close");
}
