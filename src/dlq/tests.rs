//! Tests of `DlqStore` against a real directory: round trips, history, resolving,
//! concurrent appends, crash remains, corruption, versions and clearing.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::fixtures::record;
use super::*;

fn at(minute: u32) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("2025-01-02T04:{minute:02}:00Z"))
        .unwrap()
        .with_timezone(&Utc)
}

fn job(id: &str, minute: u32) -> JobInfo {
    JobInfo {
        job_id: id.to_string(),
        workflow_path: PathBuf::from("flows/fix.yml"),
        root: PathBuf::from("/repo"),
        created_at: at(minute),
        updated_at: at(minute),
        items_total: None,
        context: None,
    }
}

fn ids(items: &[DlqItem]) -> Vec<String> {
    items
        .iter()
        .map(|i| format!("{}:{}", i.job_id, i.item_id))
        .collect()
}

fn job_file(root: &Path, job: &str) -> PathBuf {
    root.join(format!(".prodigy/dlq/fix/{job}.jsonl"))
}

#[test]
fn appended_records_read_back_equal_with_history_and_latest_status() {
    let dir = tempfile::tempdir().unwrap();
    let store = DlqStore::open(dir.path(), "fix");
    assert!(store.items(None).unwrap().is_empty());
    assert!(
        !dir.path().join(".prodigy").exists(),
        "reads create nothing"
    );
    let first = record("j1", "item_1", 1, "timeout", "timed out after 30s");
    store
        .append(&[
            first.clone(),
            record("j1", "item_2", 1, "command_failed", "exit code 1"),
        ])
        .unwrap();
    let mut cancelled = record("j1", "item_1", 2, "cancelled", "stopped by Ctrl-C");
    cancelled.status = RecordStatus::Cancelled;
    store.append(std::slice::from_ref(&cancelled)).unwrap();

    let items = store.items(None).unwrap();
    assert_eq!(ids(&items), ["j1:item_1", "j1:item_2"]);
    assert_eq!(items[0].history, [first, cancelled]);
    assert_eq!(items[0].status, RecordStatus::Cancelled);
    assert_eq!(items[0].attempts(), 2);
    assert!(store.take_warnings().is_empty());
    let ignore = std::fs::read_to_string(dir.path().join(".prodigy/.gitignore")).unwrap();
    assert_eq!(ignore.trim(), "*");
    assert_eq!(DlqStore::workflows(dir.path()).unwrap(), ["fix"]);
}

#[test]
fn resolved_items_leave_items_but_stay_in_history() {
    let dir = tempfile::tempdir().unwrap();
    let store = DlqStore::open(dir.path(), "fix");
    store.register_job(&job("j1", 1)).unwrap();
    store
        .append(&[
            record("j1", "item_1", 1, "command_failed", "exit code 1"),
            record("j1", "item_2", 1, "command_failed", "exit code 1"),
        ])
        .unwrap();
    let resolved = store
        .resolve("j1", &["item_1".to_string(), "item_9".to_string()], at(30))
        .unwrap();
    assert_eq!(resolved, 1, "unknown ids are skipped");
    assert_eq!(
        store
            .resolve("j1", &["item_1".to_string()], at(31))
            .unwrap(),
        0
    );
    assert_eq!(ids(&store.items(Some("j1")).unwrap()), ["j1:item_2"]);
    let history = store.history(None).unwrap();
    assert_eq!(ids(&history), ["j1:item_1", "j1:item_2"]);
    let last = history[0].latest();
    assert_eq!(
        (last.status, last.attempt, last.finished_at),
        (RecordStatus::Resolved, 2, at(30))
    );
    assert_eq!(last.correlation_id, "j1/map.item_1");
}

#[test]
fn concurrent_appends_from_two_threads_are_whole_lines() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let root = root.clone();
            std::thread::spawn(move || {
                // A store per thread: separate lock handles, as separate processes have.
                let store = DlqStore::open(&root, "fix");
                for n in 0..50 {
                    let mut r = record("j1", &format!("item_{t}{n:02}"), 1, "timeout", "slow");
                    r.stderr_tail = format!("{t}").repeat(100_000);
                    store.append(&[r]).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let store = DlqStore::open(&root, "fix");
    let items = store.items(None).unwrap();
    assert_eq!(items.len(), 100);
    assert!(store.take_warnings().is_empty());
}

#[test]
fn a_torn_last_line_is_a_warning_and_the_next_append_keeps_it_readable() {
    let dir = tempfile::tempdir().unwrap();
    let store = DlqStore::open(dir.path(), "fix");
    store
        .append(&[record("j1", "item_1", 1, "timeout", "slow")])
        .unwrap();
    let path = job_file(dir.path(), "j1");
    let line = serde_json::to_string(&record("j1", "item_2", 1, "timeout", "slow")).unwrap();
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&line[..line.len() / 2]);
    std::fs::write(&path, &text).unwrap();

    assert_eq!(ids(&store.items(None).unwrap()), ["j1:item_1"]);
    let warnings = store.take_warnings();
    assert_eq!(warnings.len(), 1);
    assert_eq!(
        (warnings[0].path.clone(), warnings[0].line),
        (path.clone(), 2)
    );
    assert!(
        warnings[0].to_string().contains("incomplete line"),
        "{}",
        warnings[0]
    );

    store
        .append(&[record("j1", "item_3", 1, "timeout", "slow")])
        .unwrap();
    assert!(
        std::fs::read_to_string(&path).unwrap().starts_with(&text),
        "never truncated"
    );
    assert_eq!(ids(&store.items(None).unwrap()), ["j1:item_1", "j1:item_3"]);
    assert_eq!(store.take_warnings().len(), 1);
}

#[test]
fn a_garbage_line_in_the_middle_is_corrupt_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let store = DlqStore::open(dir.path(), "fix");
    store
        .append(&[record("j1", "item_1", 1, "timeout", "slow")])
        .unwrap();
    let path = job_file(dir.path(), "j1");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("{not json\n");
    std::fs::write(&path, &text).unwrap();
    store
        .append(&[record("j1", "item_2", 1, "timeout", "slow")])
        .unwrap();

    let err = store.items(None).unwrap_err();
    assert!(
        matches!(&err, DlqError::Corrupt { path: p, line: 2, .. } if *p == path),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains(&format!("{}:2:", path.display())),
        "{message}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap().lines().count(),
        3,
        "nothing dropped"
    );

    // A complete garbage last line is corrupt too; only a line without newline is torn.
    std::fs::write(&path, &text).unwrap();
    assert!(matches!(
        store.items(None),
        Err(DlqError::Corrupt { line: 2, .. })
    ));

    // Clearing must still work on a damaged file.
    assert_eq!(store.clear(Some("j1")).unwrap(), 1);
    assert_eq!(store.take_warnings().len(), 1);
}

#[test]
fn other_schema_versions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = DlqStore::open(dir.path(), "fix");
    store.register_job(&job("j1", 1)).unwrap();
    let index = dir.path().join(".prodigy/dlq/fix/index.json");
    std::fs::write(&index, r#"{"schema_version": 99, "jobs": {}}"#).unwrap();
    let err = store.jobs().unwrap_err();
    assert!(
        matches!(
            err,
            DlqError::Version {
                found: 99,
                supported: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("schema version 99"), "{err}");
    assert!(matches!(store.items(None), Err(DlqError::Version { .. })));

    std::fs::remove_file(&index).unwrap();
    let mut line = serde_json::to_value(record("j1", "item_1", 1, "timeout", "slow")).unwrap();
    line["schema_version"] = 2.into();
    std::fs::write(job_file(dir.path(), "j1"), format!("{line}\n")).unwrap();
    assert!(matches!(
        store.items(None),
        Err(DlqError::Version { found: 2, .. })
    ));

    let mut old = record("j1", "item_1", 1, "timeout", "slow");
    old.schema_version = 0;
    assert!(matches!(
        store.append(&[old]),
        Err(DlqError::Version { found: 0, .. })
    ));
}

#[test]
fn jobs_are_registered_idempotently_and_unknown_ones_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let store = DlqStore::open(dir.path(), "fix");
    store
        .register_job(&job("fix-20250102-040000-abc123", 2))
        .unwrap();
    store
        .register_job(&job("fix-20250101-040000-def456", 1))
        .unwrap();
    let mut again = job("fix-20250102-040000-abc123", 9);
    again.updated_at = at(10);
    store.register_job(&again).unwrap();
    let jobs = store.jobs().unwrap();
    let job_ids: Vec<&str> = jobs.iter().map(|j| j.job_id.as_str()).collect();
    assert_eq!(
        job_ids,
        ["fix-20250101-040000-def456", "fix-20250102-040000-abc123"]
    );
    assert_eq!((jobs[1].created_at, jobs[1].updated_at), (at(2), at(10)));

    let err = store.items(Some("fix-20250102-040000-abc124")).unwrap_err();
    assert!(
        matches!(&err, DlqError::NoSuchJob { known, .. } if known.len() == 2),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("did you mean `fix-20250102-040000-abc123`?"),
        "{err}"
    );
    let bad = store.append(&[record("../x", "item_1", 1, "timeout", "slow")]);
    assert!(matches!(bad, Err(DlqError::InvalidJobId { .. })));
    assert_eq!(dir_name("../x y"), "---x-y");
}

#[test]
fn clear_removes_one_job_or_all_and_counts_items_in_the_dlq() {
    let dir = tempfile::tempdir().unwrap();
    let store = DlqStore::open(dir.path(), "fix");
    assert_eq!(store.clear(None).unwrap(), 0);
    store.register_job(&job("j1", 1)).unwrap();
    store.register_job(&job("j2", 2)).unwrap();
    store
        .append(&[
            record("j1", "item_1", 1, "timeout", "slow"),
            record("j1", "item_2", 1, "timeout", "slow"),
            record("j2", "item_1", 1, "timeout", "slow"),
        ])
        .unwrap();
    store.resolve("j1", &["item_2".to_string()], at(5)).unwrap();
    assert_eq!(store.clear(Some("j1")).unwrap(), 1);
    assert!(!job_file(dir.path(), "j1").exists());
    assert_eq!(ids(&store.history(None).unwrap()), ["j2:item_1"]);
    assert!(matches!(
        store.clear(Some("j1")),
        Err(DlqError::NoSuchJob { .. })
    ));
    assert_eq!(store.clear(None).unwrap(), 1);
    assert!(store.jobs().unwrap().is_empty());
    assert!(store.history(None).unwrap().is_empty());
}

#[test]
fn append_waits_for_the_lock_another_writer_holds() {
    let dir = tempfile::tempdir().unwrap();
    let store = DlqStore::open(dir.path(), "fix");
    store.register_job(&job("j1", 1)).unwrap();
    let held = std::fs::File::open(dir.path().join(".prodigy/dlq/fix/.lock")).unwrap();
    held.lock().unwrap();
    let root = dir.path().to_path_buf();
    let writer = std::thread::spawn(move || {
        let store = DlqStore::open(&root, "fix");
        store.append(&[record("j1", "item_1", 1, "timeout", "slow")])
    });
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(
        !job_file(dir.path(), "j1").exists(),
        "appended while the lock was held"
    );
    held.unlock().unwrap();
    writer.join().unwrap().unwrap();
    assert_eq!(ids(&store.items(None).unwrap()), ["j1:item_1"]);
}
