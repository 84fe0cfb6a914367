//! `prodigy cache stats|gc|clean` on caches made by real builds: stats reads without
//! creating anything, gc honours its limits (never dropping what the last build of a
//! node needs) and refuses bad ones, clean empties the cache and waits for a process
//! holding the lock. Also how a build reads a damaged entry pack or a version 1 cache.

use std::fs::OpenOptions;
use std::time::Duration;

use serde_json::json;

use crate::support::{Output, Test};

const PACK: &str = ".prodigy/cache/entries.pack";

/// Three steps printing a word (kept inline in their entries), then one printing the
/// numbers FIRST.. in 20 lines of 300 digits: over 4 KiB, so a blob.
fn workflow(first: u32) -> String {
    format!(
        "name: cached\nisolation: none\ncommands:\n  - shell: echo one\n  - shell: echo two\n  \
         - shell: echo three\n  - shell: printf '%0300d\\n' $(seq {first} {})\n",
        first + 19
    )
}

/// The stdout the cache keeps of the last step of [`workflow`] (its last 20 lines).
fn seq(first: u32) -> String {
    let lines: Vec<String> = (first..first + 20).map(|n| format!("{n:0300}")).collect();
    lines.join("\n")
}

/// `.prodigy/cache/blobs/<2 hex>/<62 hex>` of the blob of `content`.
fn blob_path(content: &str) -> String {
    let hex = blake3::hash(content.as_bytes()).to_hex().to_string();
    format!(".prodigy/cache/blobs/{}/{}", &hex[..2], &hex[2..])
}

/// Two builds, the second with the last step changed: the cache holds 5 entries (one
/// of them, the last step's first result, no longer used by any node) and 2 blobs (the
/// `seq` outputs); the last build hit 3 nodes and ran 1.
fn old_and_new() -> Output {
    let first = Test::new()
        .file("prodigy.yml", workflow(1))
        .arg("build")
        .run_limited();
    first.success().stderr_has("4 ran, 0 cached");
    first.write("prodigy.yml", workflow(2));
    let second = first.next().arg("build").run_limited();
    second.success().stderr_has("1 ran, 3 cached");
    second
}

fn len(out: &Output, path: &str) -> u64 {
    std::fs::metadata(out.abs(path)).map_or(0, |m| m.len())
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
    let built = old_and_new();
    let job = built.job_id();
    let bytes =
        len(&built, PACK) + len(&built, &blob_path(&seq(1))) + len(&built, &blob_path(&seq(2)));
    assert!(bytes > 2 * seq(1).len() as u64, "both blobs exist");
    let out = built.next().args(["cache", "stats", "--json"]).run();
    out.success();
    let mut stats = out.json();
    let finished_at = stats["last_run"]
        .as_object_mut()
        .and_then(|run| run.remove("finished_at"));
    assert!(finished_at.is_some_and(|t| t.is_string()), "{stats}");
    assert_eq!(
        stats,
        json!({
            "schema_version": 2,
            "entries": 5,
            "blobs": 2,
            "bytes": bytes,
            "last_run": {
                "job_id": job,
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
        .next()
        .args(["cache", "stats"])
        .run()
        .success()
        .stdout_has("build cache: 5 entries, 2 blobs, ")
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
fn gc_max_age_removes_a_result_no_node_uses_once_it_is_older() {
    let young = old_and_new()
        .next()
        .args(["cache", "gc", "--max-age", "1h"])
        .run();
    young
        .success()
        .stdout_has("removed 0 entries and 0 blobs (0 B); kept 5 entries and 2 blobs (");
    let old = young.next().args(["cache", "gc", "--max-age", "0s"]).run();
    old.success()
        .stdout_has("removed 1 entry and 1 blob (")
        .stdout_has("; kept 4 entries and 1 blob (");
    assert!(!old.exists(&blob_path(&seq(1))) && old.exists(&blob_path(&seq(2))));
    let noop = old.next().arg("build").run_limited();
    noop.success().stderr_has("0 ran, 4 cached");
    noop.write("prodigy.yml", workflow(1));
    let reverted = noop.next().arg("build").run_limited();
    reverted.success().stderr_has("1 ran, 3 cached");
}

#[test]
fn gc_max_size_1_keeps_only_what_the_index_references() {
    let out = old_and_new()
        .next()
        .args(["cache", "gc", "--max-size", "1"])
        .run();
    out.success()
        .stdout_has("removed 1 entry and 1 blob (")
        .stdout_has("; kept 4 entries and 1 blob (");
    // Without the index nothing is referenced: everything goes.
    out.remove(".prodigy/cache/index.bin");
    let all = out.next().args(["cache", "gc", "--max-size", "1"]).run();
    all.success()
        .stdout_has("removed 4 entries and 1 blob (")
        .stdout_has("; kept 0 entries and 0 blobs (0 B)\n");
    assert!(!all.exists(PACK) && !all.exists(&blob_path(&seq(2))));
}

#[test]
fn gc_without_limits_removes_only_blobs_no_entry_uses() {
    let built = old_and_new();
    // What a build killed between a blob and its entry leaves behind.
    built.write(&blob_path("orphan"), "orphan");
    let out = built.next().args(["cache", "gc"]).run();
    out.success()
        .stdout_has("removed 0 entries and 1 blob (6 B); kept 5 entries and 2 blobs (");
    assert!(!out.exists(&blob_path("orphan")));
    assert!(out.exists(&blob_path(&seq(1))) && out.exists(&blob_path(&seq(2))));
}

#[test]
fn gc_with_a_bad_limit_exits_2_naming_the_accepted_forms() {
    let built = old_and_new();
    let pack = built.read_bytes(PACK);
    let out = built
        .next()
        .args(["cache", "gc", "--max-size", "12Q"])
        .run();
    out.code(2)
        .stderr_has("invalid --max-size `12Q`")
        .stderr_has("`500M`, `1.5G`, `2048K`");
    assert_eq!(out.read_bytes(PACK), pack, "nothing is removed");
    Test::new()
        .args(["cache", "gc", "--max-age", "30"])
        .run()
        .code(2)
        .stderr_has("invalid --max-age `30`")
        .stderr_has("`30d`, `12h`, `90m`");
}

#[test]
fn clean_removes_everything_and_stats_then_shows_zeros() {
    let out = old_and_new().next().args(["cache", "clean"]).run();
    out.success()
        .stdout_has("removed 5 entries and 2 blobs (")
        .stderr_eq("");
    for gone in [
        PACK,
        ".prodigy/cache/index.bin",
        ".prodigy/cache/last-run.json",
    ] {
        assert!(!out.exists(gone), "{gone} is still there");
    }
    assert!(!out.exists(&blob_path(&seq(2))));
    let stats = out.next().args(["cache", "stats"]).run();
    stats
        .success()
        .stdout_eq("build cache: 0 entries, 0 blobs, 0 B\nno build recorded yet\n");
    stats
        .next()
        .arg("build")
        .run_limited()
        .success()
        .stderr_has("4 ran, 0 cached");
}

#[test]
fn clean_waits_for_the_process_holding_the_lock() {
    let pid = std::process::id();
    let built = old_and_new();
    built.write(".prodigy/cache/.lock", format!("{pid}\n"));
    let pack = built.abs(PACK);
    let lock = OpenOptions::new()
        .read(true)
        .write(true)
        .open(built.abs(".prodigy/cache/.lock"))
        .expect("open the lock file");
    lock.lock().expect("take the cache lock");
    let running = built.next().args(["cache", "clean"]).spawn();
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        pack.exists(),
        "clean removed entries while the lock was held"
    );
    drop(lock);
    let out = running.wait(Duration::from_secs(60));
    out.success()
        .stderr_has(&format!(
            "waiting for the build cache lock held by pid {pid}...\n"
        ))
        .stdout_has("removed 5 entries and 2 blobs (");
    assert!(!pack.exists());
}

#[test]
fn a_damaged_entry_is_a_miss_with_a_warning_and_runs_again() {
    let built = old_and_new();
    let mut pack = built.read_bytes(PACK);
    // Inside the JSON of the last frame: the second build's `printf` step.
    let at = pack.len() - 20;
    pack[at] ^= 0x01;
    built.write(PACK, &pack);
    let again = built.next().arg("build").run_limited();
    again
        .success()
        .stderr_has("entries.pack: damaged entry frame; treated as a miss")
        .stderr_has("1 ran, 3 cached");
    let next = again.next().arg("build").run_limited();
    next.success()
        .stderr_lacks("warning")
        .stderr_has("0 ran, 4 cached");
    let grown = next.read_bytes(PACK).len();
    let gc = next.next().args(["cache", "gc"]).run();
    gc.success().stdout_has("removed 0 entries and 0 blobs (");
    assert!(
        gc.read_bytes(PACK).len() < grown,
        "the damaged frame is gone"
    );
}

#[test]
fn a_version_1_cache_is_ignored_by_a_build_and_removed_by_gc() {
    let v1_entry = ".prodigy/cache/entries/ab/abcdef.json";
    let built = Test::new()
        .file("prodigy.yml", workflow(1))
        .file(".prodigy/.gitignore", "*\n")
        .file(".prodigy/cache/index.bin", b"PRDGYIDX\x01\x00\x00\x00")
        .file(v1_entry, "{\"schema_version\": 1}")
        .file(&blob_path("v1 output"), "v1 output")
        .arg("build")
        .run_limited();
    built
        .success()
        .stderr_has("cache index has schema version 1, this prodigy reads version 2")
        .stderr_has("4 ran, 0 cached");
    let stats = built.next().args(["cache", "stats"]).run();
    stats
        .success()
        .stdout_has("build cache: 4 entries, 2 blobs, ");
    let gc = stats.next().args(["cache", "gc"]).run();
    gc.success()
        .stdout_has("removed 0 entries and 1 blob (9 B); kept 4 entries and 1 blob (");
    assert!(!gc.exists(".prodigy/cache/entries") && !gc.exists(&blob_path("v1 output")));
}
