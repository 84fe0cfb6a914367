//! The DLQ on disk: a corrupt or truncated job file gives a clear error naming the file
//! and line and is never silently emptied (a torn last line, the trace of a crash, is
//! only a warning); the DLQ is shared by the worktrees of a repository; reading a large
//! queue streams it instead of holding its whole history in memory.

use std::process::Command;

use serde_json::Value;

use crate::support::{Output, Test, dlq_file, git};

const WORKFLOW: &str = "name: dlqfiles
isolation: none
mode: mapreduce
map:
  input: items.json
  agent_template:
    - shell: echo ${item} >> started.log; echo err-${item} >&2; exit 1
";

/// A run whose three items fail; returns it with its DLQ file (relative path).
fn failed_run() -> (Output, String) {
    let output = Test::new()
        .file("items.json", "[\"a\", \"b\", \"c\"]")
        .workflow(WORKFLOW)
        .arg("-j1")
        .run_limited();
    output.code(3);
    let file = dlq_file("dlqfiles", &output.job_id());
    assert_eq!(output.read(&file).lines().count(), 3, "one record per item");
    (output, file)
}

/// Replaces line `n` (1-based) of `file` with `with` (no newline added).
fn replace_line(output: &Output, file: &str, n: usize, with: &str) {
    let text = output.read(file);
    let mut lines: Vec<String> = text.lines().map(|l| format!("{l}\n")).collect();
    lines[n - 1] = with.to_string();
    output.write(file, lines.concat());
}

/// Runs `prodigy ARGS`, expecting a failure that names `file` at `line`.
fn refuses(output: Output, args: &[&str], file: &str, line: usize) -> Output {
    let out = output.next().args(args).run_limited();
    out.no_panic();
    assert!(
        matches!(out.code, Some(c) if c != 0),
        "`prodigy {}` succeeded on a corrupt DLQ:\n{}",
        args.join(" "),
        out.stderr
    );
    out.stderr_has(&format!("{file}:{line}: corrupt dead-letter queue entry"));
    out
}

#[test]
fn garbage_in_the_middle_of_a_job_file_is_an_error_naming_the_file_and_line() {
    let (output, file) = failed_run();
    let job = output.job_id();
    replace_line(&output, &file, 2, "garbage{{{ not a record\n");
    let corrupt = output.read_bytes(&file);
    let mut output = output;
    for args in [
        vec!["dlq", "list"],
        vec!["dlq", "list", "--json"],
        vec!["dlq", "show", "item_0"],
        vec!["dlq", "stats", "--json"],
        vec!["dlq", "export", "--format", "csv"],
        vec!["dlq", "retry", &job, "--dry-run"],
        vec!["dlq", "retry", &job],
    ] {
        output = refuses(output, &args, &file, 2);
        assert_eq!(
            output.read_bytes(&file),
            corrupt,
            "`{}` changed the file",
            args.join(" ")
        );
    }
    output.stderr_has("prodigy dlq clear");
    assert_eq!(
        output.log_lines("started.log").len(),
        3,
        "the retry ran items"
    );
    let again = output.next().args(["run", "flow.yml", "-j1"]).run_limited();
    again.code(3);
    assert_eq!(
        again.read_bytes(&file),
        corrupt,
        "a new run changed the old job's file"
    );
}

#[test]
fn a_line_cut_short_in_the_middle_of_a_job_file_is_an_error() {
    let (output, file) = failed_run();
    let second = output
        .read(&file)
        .lines()
        .nth(1)
        .expect("line 2")
        .to_string();
    replace_line(
        &output,
        &file,
        2,
        &format!("{}\n", &second[..second.len() / 2]),
    );
    let before = output.read_bytes(&file);
    let listed = refuses(output, &["dlq", "list", "--json"], &file, 2);
    assert_eq!(listed.read_bytes(&file), before);
}

#[test]
fn a_record_of_another_job_in_a_job_file_is_an_error() {
    let (output, file) = failed_run();
    let first = output
        .read(&file)
        .lines()
        .next()
        .expect("line 1")
        .to_string();
    let mut record: Value = serde_json::from_str(&first).expect("a record");
    record["job_id"] = "someone-else".into();
    replace_line(&output, &file, 3, &format!("{record}\n"));
    refuses(output, &["dlq", "list"], &file, 3);
}

#[test]
fn a_truncated_last_line_is_only_a_warning_and_is_never_cut_off() {
    let (output, file) = failed_run();
    let job = output.job_id();
    let text = output.read(&file);
    let torn = &text[..text.len() - 40];
    output.write(&file, torn);
    let list = output.next().args(["dlq", "list", "--json"]).run_limited();
    list.success()
        .stderr_has("warning: ")
        .stderr_has(&format!("{file}:3: incomplete line ignored"));
    let ids: Vec<Value> = list.json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["item_id"].clone())
        .collect();
    assert_eq!(ids, ["item_0", "item_1"]);
    assert_eq!(list.read(&file), torn, "reading changed the file");
    let retry = list.next().args(["dlq", "retry", &job]).run_limited();
    retry.code(3);
    let after = retry.read(&file);
    assert!(
        after.starts_with(torn),
        "the torn line was cut off by the next write"
    );
    let relist = retry.next().args(["dlq", "list", "--json"]).run_limited();
    relist.success().stderr_has("incomplete line ignored");
    assert_eq!(relist.json()["items"].as_array().map(Vec::len), Some(2));
}

#[test]
fn a_corrupt_index_is_an_error_naming_it() {
    let (output, _) = failed_run();
    let index = ".prodigy/dlq/dlqfiles/index.json";
    output.write(index, "{\"schema_version\": 1, \"jobs\": [oops");
    let list = output.next().args(["dlq", "list"]).run_limited();
    list.no_panic().stderr_has(index).stderr_has("corrupt");
    assert_ne!(list.code, Some(0));
    assert_eq!(list.read(index), "{\"schema_version\": 1, \"jobs\": [oops");
}

#[test]
fn dlq_clear_removes_a_damaged_job_only_when_asked() {
    let (output, file) = failed_run();
    let job = output.job_id();
    replace_line(&output, &file, 2, "garbage\n");
    let refused = refuses(output, &["dlq", "list"], &file, 2);
    refused.stderr_has("or run `prodigy dlq clear` to drop the job");
    let cleared = refused.next().args(["dlq", "clear", &job]).run_limited();
    cleared
        .success()
        .stdout_has("removed 2 items from the dead-letter queue");
    assert!(!cleared.exists(&file));
}

#[test]
fn dlq_clear_reports_the_corrupt_lines_it_skips() {
    let (output, file) = failed_run();
    let job = output.job_id();
    replace_line(&output, &file, 2, "garbage\n");
    output
        .next()
        .args(["dlq", "clear", &job])
        .run_limited()
        .success()
        .stderr_has("warning: ")
        .stderr_has(&format!("{file}:2: skipped"));
}

#[test]
fn the_dlq_is_shared_across_the_worktrees_of_a_repository() {
    let test = Test::new()
        .file("items.json", "[\"a\"]")
        .file("flow.yml", WORKFLOW);
    let root = test.path().to_path_buf();
    git(&root, &["add", "-A"]);
    git(
        &root,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-qm",
            "flow",
        ],
    );
    git(&root, &["worktree", "add", "-q", "wt"]);
    let main_run = test.args(["run", "flow.yml"]).run_limited();
    main_run.code(3);
    let main_job = main_run.job_id();
    let from_worktree = main_run
        .next()
        .current_dir("wt")
        .args(["dlq", "list", "--json"])
        .run_limited();
    from_worktree.success();
    assert_eq!(
        from_worktree.json()["items"][0]["job_id"],
        main_job.as_str(),
        "the worktree does not see the failure recorded in the main checkout"
    );
    let worktree_run = from_worktree
        .next()
        .current_dir("wt")
        .args(["run", "flow.yml"])
        .run_limited();
    worktree_run.code(3);
    let worktree_job = worktree_run.job_id();
    let from_main = worktree_run
        .next()
        .args(["dlq", "list", "--json"])
        .run_limited();
    from_main.success();
    let jobs: Vec<Value> = from_main.json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["job_id"].clone())
        .collect();
    assert_eq!(jobs, [main_job, worktree_job], "one DLQ for both checkouts");
}

/// Peak resident memory (KiB) of `prodigy ARGS` run in `dir`, measured by Python's
/// `getrusage(RUSAGE_CHILDREN)` (Python's own memory is not counted).
fn peak_rss_kib(dir: &std::path::Path, args: &[&str]) -> u64 {
    let out = Command::new("python3")
        .current_dir(dir)
        .arg("-c")
        .arg(
            "import resource, subprocess, sys\n\
             r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n\
             print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n",
        )
        .arg(env!("CARGO_BIN_EXE_prodigy"))
        .args(args)
        .output()
        .expect("python3 is on PATH (the fake claude needs it too)");
    let text = String::from_utf8_lossy(&out.stdout);
    let parts: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(
        parts.first().copied(),
        Some("0"),
        "prodigy {args:?} failed: {text}"
    );
    parts[1].parse().expect("max RSS")
}

#[test]
fn reading_a_large_queue_streams_it_instead_of_holding_it_in_memory() {
    // 4 items x 4000 failed attempts with 4 KB stderr tails: a 64 MB job file.
    let (output, file) = failed_run();
    let template: Value =
        serde_json::from_str(output.read(&file).lines().next().expect("a record"))
            .expect("a record");
    let tail = "x".repeat(4000);
    let mut big = String::new();
    for attempt in 1..=4000u32 {
        for item in 0..4usize {
            let mut record = template.clone();
            record["item_id"] = format!("item_{item}").into();
            record["item_index"] = item.into();
            record["attempt"] = attempt.into();
            record["stderr_tail"] = tail.clone().into();
            big.push_str(&record.to_string());
            big.push('\n');
        }
    }
    output.write(&file, &big);
    let root = output.abs("");
    for args in [["dlq", "list", "--json"], ["dlq", "stats", "--json"]] {
        let kib = peak_rss_kib(&root, &args);
        assert!(
            kib < 48 * 1024,
            "`prodigy {}` on a 64 MB queue peaked at {} MB",
            args.join(" "),
            kib / 1024
        );
    }
}
