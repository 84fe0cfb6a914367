//! `prodigy cache stats|gc|clean` on a cache seeded in its on-disk format (blobs named by
//! blake3 under `blobs/<2 hex>/<62 hex>`, entries as JSON under
//! `entries/<2 hex>/<key>.json`), since no build writes one yet: stats reads without
//! creating anything, gc honours its limits and refuses bad ones, clean empties the
//! cache and waits for a process holding the lock.

use std::fs::OpenOptions;
use std::time::Duration;

use serde_json::json;

use crate::support::Test;

const OLD: &str = "2020-01-02T03:04:05Z";

fn hex(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// `.prodigy/cache/blobs/<2 hex>/<62 hex>` of the blob of `content`.
fn blob_path(content: &str) -> String {
    let hex = hex(content.as_bytes());
    format!(".prodigy/cache/blobs/{}/{}", &hex[..2], &hex[2..])
}

/// `.prodigy/cache/entries/<2 hex>/<key hex>.json` of the entry named `name`.
fn entry_path(name: &str) -> String {
    let hex = hex(name.as_bytes());
    format!(".prodigy/cache/entries/{}/{hex}.json", &hex[..2])
}

/// Writes a blob of `output` and a succeeded entry `name` created at `created_at` whose
/// stdout and stderr are that blob.
fn seed(test: Test, name: &str, output: &str, created_at: &str) -> Test {
    let blob = hex(output.as_bytes());
    let entry = json!({
        "schema_version": 1,
        "key": {"schema_version": 1, "kind": "step", "definition": name},
        "key_digest": hex(name.as_bytes()),
        "status": "succeeded",
        "exit_code": 0,
        "duration_ms": 12,
        "stdout_blob": blob,
        "stderr_blob": blob,
        "captures": {},
        "output_digest": "0".repeat(64),
        "commits": [],
        "created_at": created_at,
    });
    test.file(&blob_path(output), output)
        .file(&entry_path(name), entry.to_string())
}

/// A cache holding an entry from 2020 and one from now, each with its own blob.
fn old_and_new() -> Test {
    let now = chrono::Utc::now().to_rfc3339();
    let test = seed(Test::new(), "old", "old output\n", OLD);
    seed(test, "new", "new output\n", &now)
}

fn last_run(hits: u64, ran: u64) -> String {
    json!({
        "schema_version": 1,
        "job_id": "build-20250102T030405Z-abc123",
        "finished_at": "2025-01-02T03:04:05Z",
        "hits": hits,
        "ran": ran,
        "not_cached": 0,
    })
    .to_string()
}

#[test]
fn stats_without_a_cache_is_zeros_and_creates_nothing() {
    let out = Test::new().args(["cache", "stats"]).run();
    out.success()
        .stdout_eq("build cache: 0 entries, 0 blobs, 0 B\nno build recorded yet\n")
        .stderr_eq("");
    assert!(!out.exists(".prodigy"), "stats must create nothing");
}

#[test]
fn stats_json_counts_entries_blobs_bytes_and_the_last_run() {
    let test = old_and_new().file(".prodigy/cache/last-run.json", last_run(3, 1));
    let files = [
        entry_path("old"),
        entry_path("new"),
        blob_path("old output\n"),
        blob_path("new output\n"),
    ];
    let bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(test.path().join(f)).unwrap().len())
        .sum();
    let out = test.args(["cache", "stats", "--json"]).run();
    out.success();
    assert_eq!(
        out.json(),
        json!({
            "schema_version": 1,
            "entries": 2,
            "blobs": 2,
            "bytes": bytes,
            "last_run": {
                "job_id": "build-20250102T030405Z-abc123",
                "finished_at": "2025-01-02T03:04:05Z",
                "hits": 3,
                "ran": 1,
                "not_cached": 0,
                "hit_rate": 0.75,
            },
        })
    );
    let out = Test::new().args(["cache", "stats", "--json"]).run();
    out.success();
    assert_eq!(out.json()["last_run"], serde_json::Value::Null);
    assert_eq!(out.json()["entries"], 0);
}

#[test]
fn stats_shows_the_hit_rate_of_the_last_build() {
    old_and_new()
        .file(".prodigy/cache/last-run.json", last_run(3, 1))
        .args(["cache", "stats"])
        .run()
        .success()
        .stdout_has("build cache: 2 entries, 2 blobs, ")
        .stdout_has("\nhit rate of the last build: 75% (3 cached, 1 ran)\n");
}

#[test]
fn stats_warns_about_a_corrupt_last_run_record_and_shows_none() {
    Test::new()
        .file(".prodigy/cache/last-run.json", "{\"hits\": 3, \"ra")
        .args(["cache", "stats"])
        .run()
        .success()
        .stdout_has("no build recorded yet")
        .stderr_has("warning: ")
        .stderr_has("last-run.json: corrupt last-run record");
}

#[test]
fn gc_max_age_removes_an_old_entry_and_its_blob_and_keeps_a_new_one() {
    let out = old_and_new().args(["cache", "gc", "--max-age", "1d"]).run();
    out.success()
        .stdout_has("removed 1 entry and 1 blob (")
        .stdout_has("; kept 1 entry and 1 blob (");
    assert!(!out.exists(&entry_path("old")) && !out.exists(&blob_path("old output\n")));
    assert!(out.exists(&entry_path("new")) && out.exists(&blob_path("new output\n")));
}

#[test]
fn gc_max_size_1_removes_every_unreferenced_entry() {
    let out = old_and_new().args(["cache", "gc", "--max-size", "1"]).run();
    out.success()
        .stdout_has("removed 2 entries and 2 blobs (")
        .stdout_has("; kept 0 entries and 0 blobs (0 B)\n");
    for gone in [
        entry_path("old"),
        entry_path("new"),
        blob_path("old output\n"),
    ] {
        assert!(!out.exists(&gone), "{gone} is still there");
    }
}

#[test]
fn gc_without_limits_removes_only_blobs_no_entry_uses() {
    let out = old_and_new()
        .file(&blob_path("orphan"), "orphan")
        .args(["cache", "gc"])
        .run();
    out.success()
        .stdout_has("removed 0 entries and 1 blob (6 B); kept 2 entries and 2 blobs (");
    assert!(!out.exists(&blob_path("orphan")));
    assert!(out.exists(&entry_path("old")) && out.exists(&blob_path("old output\n")));
}

#[test]
fn gc_with_a_bad_limit_exits_2_naming_the_accepted_forms() {
    let out = old_and_new()
        .args(["cache", "gc", "--max-size", "12Q"])
        .run();
    out.code(2)
        .stderr_has("invalid --max-size `12Q`")
        .stderr_has("`500M`, `1.5G`, `2048K`");
    assert!(out.exists(&entry_path("old")), "nothing is removed");
    Test::new()
        .args(["cache", "gc", "--max-age", "30"])
        .run()
        .code(2)
        .stderr_has("invalid --max-age `30`")
        .stderr_has("`30d`, `12h`, `90m`");
}

#[test]
fn clean_removes_everything_and_stats_then_shows_zeros() {
    let out = old_and_new()
        .file(".prodigy/cache/last-run.json", last_run(3, 1))
        .args(["cache", "clean"])
        .run();
    out.success()
        .stdout_has("removed 2 entries and 2 blobs (")
        .stderr_eq("");
    assert!(!out.exists(".prodigy/cache/last-run.json"));
    out.next()
        .args(["cache", "stats"])
        .run()
        .success()
        .stdout_eq("build cache: 0 entries, 0 blobs, 0 B\nno build recorded yet\n");
}

#[test]
fn clean_waits_for_the_process_holding_the_lock() {
    let pid = std::process::id();
    let test = old_and_new().file(".prodigy/cache/.lock", format!("{pid}\n"));
    let entry = test.path().join(entry_path("old"));
    let lock = OpenOptions::new()
        .read(true)
        .write(true)
        .open(test.path().join(".prodigy/cache/.lock"))
        .expect("open the lock file");
    lock.lock().expect("take the cache lock");
    let running = test.args(["cache", "clean"]).spawn();
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        entry.exists(),
        "clean removed entries while the lock was held"
    );
    drop(lock);
    let out = running.wait(Duration::from_secs(60));
    out.success()
        .stderr_has(&format!(
            "waiting for the build cache lock held by pid {pid}...\n"
        ))
        .stdout_has("removed 2 entries and 2 blobs (");
    assert!(!entry.exists());
}
