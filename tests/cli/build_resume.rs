//! Builds that commit, builds killed with `kill -9`, and `prodigy resume`.

use std::process::Command;
use std::time::Duration;

use crate::support::{Output, Test, git, wait_until};

/// A repo with one commit, a git identity, an ignored log and `prodigy.yml`.
fn repo(yaml: &str) -> Test {
    let test = Test::new()
        .file(".gitignore", "log.txt\n")
        .file("README", "start\n")
        .file("prodigy.yml", yaml)
        .env(
            "PRODIGY_CLAUDE_BIN",
            &crate::support::fake_claude().to_string_lossy(),
        );
    let root = test.path().to_path_buf();
    git(&root, &["config", "user.email", "test@example.com"]);
    git(&root, &["config", "user.name", "Test"]);
    git(&root, &["add", ".gitignore", "README"]);
    git(&root, &["commit", "-qm", "start"]);
    test
}

/// `git <args>` in the test repo, its stdout.
fn git_out(output: &Output, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(output.abs("."))
        .args(args)
        .output()
        .expect("git runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn commits_are_replayed_from_the_cache_without_running_a_step() {
    let yaml = "name: commits
isolation: none
commands:
  - shell: echo one > a.txt && git add a.txt && git commit -qm 'add a' && echo a >> log.txt
  - shell: echo two > b.txt && git add b.txt && git commit -qm 'add b' && echo b >> log.txt
";
    let first = repo(yaml).arg("build").run_limited();
    first.success().stderr_has("2 ran");
    let start = git_out(&first, &["rev-parse", "HEAD~2"]);
    assert_eq!(
        git_out(&first, &["log", "--format=%s", "-3"]),
        "add b\nadd a\nstart\n"
    );

    // The build's own commits are not a change: building again does nothing.
    let same = first.next().arg("build").run_limited();
    same.success().stderr_has("0 ran, 2 cached");
    assert_eq!(git_out(&same, &["rev-list", "--count", "HEAD"]), "3\n");

    // From the starting tree again: the commits come back from the cache.
    git(&same.abs("."), &["reset", "-q", "--hard", start.trim()]);
    assert!(!same.abs("a.txt").exists());
    let replayed = same.next().arg("build").run_limited();
    replayed.success().stderr_has("0 ran, 2 cached");
    assert_eq!(
        replayed.log_lines("log.txt"),
        ["a", "b"],
        "no step ran again"
    );
    assert_eq!(
        git_out(&replayed, &["log", "--format=%s", "-3"]),
        "add b\nadd a\nstart\n"
    );
    assert_eq!(replayed.read("a.txt"), "one\n");
    assert_eq!(replayed.read("b.txt"), "two\n");
    assert_eq!(
        git_out(&replayed, &["status", "--porcelain"]),
        "?? prodigy.yml\n"
    );
}

#[test]
fn an_edit_to_the_tree_reruns_steps_without_declared_inputs() {
    let yaml = "name: tree
isolation: none
commands:
  - shell: cat README >> log.txt
";
    let first = repo(yaml).arg("build").run_limited();
    first.success();
    std::fs::write(first.abs("README"), "edited\n").unwrap();
    let second = first.next().args(["build", "--explain"]).run_limited();
    second
        .success()
        .stderr_has("Dirty step[0]: starting tree changed");
    assert_eq!(second.log_lines("log.txt"), ["start", "edited"]);
}

#[test]
fn a_result_whose_inputs_changed_while_it_ran_is_not_cached() {
    let yaml = "name: racy
isolation: none
commands:
  - shell: echo ran >> log.txt && echo more >> data.txt
    inputs: [data.txt]
";
    let first = repo(yaml)
        .file("data.txt", "x\n")
        .arg("build")
        .run_limited();
    first
        .success()
        .stderr_has("step[0]: result not cached: its inputs changed while it ran");
    let second = first.next().arg("build").run_limited();
    second.success().stderr_has("1 ran");
}

const FORTY: &str = "name: forty
isolation: none
mode: mapreduce
map:
  input: items.json
  json_path: '$[*]'
  max_parallel: 4
  agent_template:
    - shell: sleep 0.1 && echo item ${item.n} >> log.txt
";

fn forty() -> Test {
    let items: Vec<String> = (0..40).map(|i| format!("{{\"n\": {i}}}")).collect();
    repo(FORTY).file("items.json", format!("[{}]", items.join(",")))
}

/// The items that have logged, with how often.
fn logged(output_root: &std::path::Path) -> std::collections::BTreeMap<String, usize> {
    let text = std::fs::read_to_string(output_root.join("log.txt")).unwrap_or_default();
    let mut counts = std::collections::BTreeMap::new();
    for line in text.lines() {
        *counts.entry(line.to_string()).or_insert(0) += 1;
    }
    counts
}

#[test]
fn resume_continues_a_killed_build_running_only_unfinished_items() {
    let running = forty().arg("build").spawn();
    let root = running.root().to_path_buf();
    assert!(wait_until(Duration::from_secs(20), || logged(&root).len() >= 12));
    running.signal("KILL");
    let killed = running.wait(Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300)); // orphaned items finish their line
    let done_before = logged(&root).len();
    assert!(done_before < 40, "killed before the end");
    let resumed = killed.next().arg("resume").run_limited();
    resumed.success().stderr_has("Resuming job forty-");
    let after = logged(&root);
    assert_eq!(after.len(), 40, "every item ran");
    let twice = after.values().filter(|&&n| n > 1).count();
    assert!(
        twice <= 4,
        "only items in flight at the kill ran twice: {after:?}"
    );
    let nothing = resumed.next().arg("resume").run_limited();
    nothing.code(2).stderr_has("no interrupted job to resume");
}

/// `kill -9` at 10 pseudo-random moments; after each, the next build loses no
/// completed item and finds no corrupt file.
#[test]
fn kill_9_at_random_moments_loses_no_completed_item() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut output = forty().arg("build").run_limited();
    output.success();
    let root = output.abs(".");
    for round in 0..10 {
        // Change every item, so each round has 40 items to run again.
        let items: Vec<String> = (0..40)
            .map(|i| format!("{{\"n\": {i}, \"round\": {round}}}"))
            .collect();
        std::fs::write(root.join("items.json"), format!("[{}]", items.join(","))).unwrap();
        std::fs::write(root.join("log.txt"), "").unwrap();
        let delay = Duration::from_millis(next() % 1200);
        let running = output.next().arg("build").spawn();
        std::thread::sleep(delay);
        running.signal("KILL");
        let killed = running.wait(Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(300));
        let before = logged(&root);
        let after_kill = killed.next().arg("build").run_limited();
        after_kill.success().stderr_lacks("warning");
        let ran_again = logged(&root);
        assert_eq!(
            ran_again.len(),
            40,
            "seed {seed} round {round}: every item done"
        );
        let repeated: Vec<&String> = before
            .keys()
            .filter(|k| ran_again.get(*k).copied().unwrap_or(0) > 1)
            .collect();
        assert!(
            repeated.len() <= 4,
            "seed {seed} round {round} (kill after {delay:?}): completed items ran again: {repeated:?}"
        );
        let check = after_kill.next().args(["build", "--check"]).run_limited();
        check.success();
        output = check;
    }
}

#[test]
fn a_killed_build_that_committed_resumes_without_committing_again() {
    let yaml = "name: halfway
isolation: none
commands:
  - shell: echo one > a.txt && git add a.txt && git commit -qm 'add a' && echo a >> log.txt
  - shell: sleep 30
  - shell: echo done >> log.txt
";
    let running = repo(yaml).arg("build").spawn();
    let root = running.root().to_path_buf();
    assert!(wait_until(Duration::from_secs(20), || {
        std::fs::read_to_string(root.join("log.txt")).is_ok_and(|t| t.contains('a'))
    }));
    std::thread::sleep(Duration::from_millis(300));
    running.signal("KILL");
    let killed = running.wait(Duration::from_secs(10));
    crate::support::processes_with("sleep 30")
        .iter()
        .for_each(|pid| {
            let _ = Command::new("kill").args(["-9", pid]).status();
        });
    std::fs::write(root.join("prodigy.yml"), yaml.replace("sleep 30", "true")).unwrap();
    let resumed = killed.next().args(["build", "--explain"]).run_limited();
    resumed.success().stderr_has("Cached step[0]");
    assert_eq!(resumed.log_lines("log.txt"), ["a", "done"]);
    assert_eq!(
        git_out(&resumed, &["log", "--format=%s"]),
        "add a\nstart\n",
        "the commit is not made twice"
    );
}

#[test]
fn parallel_steps_that_commit_are_run_again_rather_than_cached_wrongly() {
    let yaml = "name: parallel
isolation: none
commands:
  - id: a
    shell: sleep 0.3 && echo a > a.txt && git add a.txt && git commit -qm a
  - id: b
    needs: []
    shell: sleep 0.3 && echo b >> log.txt
";
    let first = repo(yaml).args(["build", "-j", "2"]).run_limited();
    first
        .success()
        .stderr_has("a: result not cached: it changed the repository while another step ran");
}

#[test]
fn cache_clean_drops_the_refs_that_kept_cached_commits() {
    let yaml = "name: refs
isolation: none
commands:
  - shell: echo one > a.txt && git add a.txt && git commit -qm 'add a'
";
    let built = repo(yaml).arg("build").run_limited();
    built.success();
    let refs = |o: &Output| git_out(o, &["for-each-ref", "--format=%(refname)", "refs/prodigy/"]);
    assert_eq!(
        refs(&built).lines().count(),
        1,
        "the cached commit is kept alive"
    );
    let gc = built.next().args(["cache", "gc"]).run_limited();
    gc.success();
    assert_eq!(
        refs(&gc).lines().count(),
        1,
        "gc keeps what the index references"
    );
    let clean = gc.next().args(["cache", "clean"]).run_limited();
    clean.success();
    assert_eq!(refs(&clean), "");
}

#[test]
fn two_jobs_started_together_get_different_ids_and_journals() {
    let test = repo("name: twins\nisolation: none\ncommands:\n  - shell: echo twin >> log.txt\n");
    let root = test.path().to_path_buf();
    let a = test.arg("build").spawn();
    let b = Test::new()
        .args(["run", "-p"])
        .arg(&root)
        .arg(root.join("prodigy.yml"))
        .spawn();
    let (a, b) = (
        a.wait(Duration::from_secs(20)),
        b.wait(Duration::from_secs(20)),
    );
    a.success();
    b.success();
    assert_ne!(a.job_id(), b.job_id());
    let journals = std::fs::read_dir(root.join(".prodigy/jobs"))
        .unwrap()
        .count();
    assert_eq!(journals, 2);
}
