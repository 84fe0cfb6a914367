//! A small builder for CLI tests, in the style of casey/just's `tests/test.rs`: write
//! files into a fresh `git init` repository in a temp dir, run the real `prodigy`
//! binary there, and assert on its exit code, stdout, stderr and files.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use tempfile::TempDir;

/// The root of this repository (fixtures under `testdata/` resolve against it).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A `testdata/workflows/<dir>` directory of this repository.
pub fn fixtures(dir: &str) -> PathBuf {
    repo_root().join("testdata/workflows").join(dir)
}

/// The `.yml` files of a fixture directory, sorted, as paths relative to the repo root.
pub fn fixture_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures(dir))
        .unwrap_or_else(|e| panic!("cannot list fixtures in {dir}: {e}"))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .map(|p| p.strip_prefix(repo_root()).expect("under the repo").into())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in testdata/workflows/{dir}");
    files
}

/// One invocation of `prodigy`: where it runs, with what files and arguments.
pub struct Test {
    /// Keeps the temp dir alive; `None` when running in the repo root.
    tempdir: Option<TempDir>,
    /// The repository files are written to.
    root: PathBuf,
    /// Where prodigy runs (the root, or a directory in it).
    cwd: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
}

impl Test {
    /// A test in a fresh temp dir holding an empty git repository.
    pub fn new() -> Test {
        let tempdir = tempfile::Builder::new()
            .prefix("prodigy-test")
            .tempdir()
            .expect("create a temp dir");
        let root = tempdir.path().to_path_buf();
        git(&root, &["init", "--quiet"]);
        Test {
            tempdir: Some(tempdir),
            cwd: root.clone(),
            root,
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// A test that runs in this repository's root, for the committed fixtures.
    pub fn in_repo() -> Test {
        Test {
            tempdir: None,
            root: repo_root().to_path_buf(),
            cwd: repo_root().to_path_buf(),
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// Writes `contents` to `path` (relative to the test dir), creating directories.
    pub fn file(self, path: &str, contents: impl AsRef<[u8]>) -> Test {
        assert!(self.tempdir.is_some(), "never write files into the repo");
        let path = self.root.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent dirs");
        }
        std::fs::write(&path, contents).expect("write test file");
        self
    }

    /// Appends one argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Test {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    /// Appends arguments.
    pub fn args<I, S>(mut self, args: I) -> Test
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// Sets an environment variable for the run.
    pub fn env(mut self, key: &str, value: &str) -> Test {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Runs prodigy in `dir` (relative to the test dir, created if needed).
    pub fn current_dir(mut self, dir: &str) -> Test {
        assert!(self.tempdir.is_some(), "only inside a test dir");
        self.cwd = self.root.join(dir);
        std::fs::create_dir_all(&self.cwd).expect("create the working dir");
        self
    }

    /// The test's repository (the temp dir, or this repo for [`Test::in_repo`]).
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Runs `prodigy` with the arguments given so far.
    pub fn run(self) -> Output {
        let mut cmd = assert_cmd::cargo::cargo_bin_cmd!("prodigy");
        cmd.current_dir(&self.cwd)
            .args(&self.args)
            .env_remove("GITHUB_ACTIONS")
            .env("NO_COLOR", "1")
            // A hang (an alias bomb, a cycle) fails the test instead of stalling CI.
            .timeout(std::time::Duration::from_secs(120));
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run prodigy");
        Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            stderr_bytes: out.stderr,
            command: format!("prodigy {}", join(&self.args)),
            root: self.root,
            _tempdir: self.tempdir,
        }
    }
}

fn join(args: &[OsString]) -> String {
    let parts: Vec<String> = args.iter().map(|a| a.to_string_lossy().into()).collect();
    parts.join(" ")
}

/// Runs git in `dir`, panicking with its output when it fails.
pub fn git(dir: &Path, args: &[&str]) {
    let out = StdCommand::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("git is on PATH");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What a run of `prodigy` produced; the assertions print everything on failure.
pub struct Output {
    /// The exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// stdout, lossily decoded.
    pub stdout: String,
    /// stderr, lossily decoded.
    pub stderr: String,
    /// stderr as bytes.
    pub stderr_bytes: Vec<u8>,
    command: String,
    root: PathBuf,
    _tempdir: Option<TempDir>,
}

impl Output {
    fn report(&self) -> String {
        format!(
            "command: {}\nexit code: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command,
            self.code,
            clip(&self.stdout),
            clip(&self.stderr)
        )
    }

    /// Asserts the exit code.
    #[track_caller]
    pub fn code(&self, expected: i32) -> &Output {
        assert_eq!(
            self.code,
            Some(expected),
            "wrong exit code\n{}",
            self.report()
        );
        self.no_panic()
    }

    /// Asserts exit code 0.
    #[track_caller]
    pub fn success(&self) -> &Output {
        self.code(0)
    }

    /// Asserts that prodigy did not panic.
    #[track_caller]
    pub fn no_panic(&self) -> &Output {
        assert!(
            !self.stderr.contains("panicked"),
            "prodigy panicked\n{}",
            self.report()
        );
        self
    }

    /// Asserts stdout exactly.
    #[track_caller]
    pub fn stdout_eq(&self, expected: &str) -> &Output {
        assert_eq!(
            self.stdout,
            expected,
            "unexpected stdout\n{}",
            self.report()
        );
        self
    }

    /// Asserts stderr exactly.
    #[track_caller]
    pub fn stderr_eq(&self, expected: &str) -> &Output {
        assert_eq!(
            self.stderr,
            expected,
            "unexpected stderr\n{}",
            self.report()
        );
        self
    }

    /// Asserts that stdout contains `needle`.
    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Output {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}\n{}",
            self.report()
        );
        self
    }

    /// Asserts that stderr contains `needle`.
    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Output {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}\n{}",
            self.report()
        );
        self
    }

    /// Asserts that stderr does not contain `needle`.
    #[track_caller]
    pub fn stderr_lacks(&self, needle: &str) -> &Output {
        assert!(
            !self.stderr.contains(needle),
            "stderr has {needle:?}\n{}",
            self.report()
        );
        self
    }

    /// The first line of stderr.
    pub fn first_stderr_line(&self) -> &str {
        self.stderr.lines().next().unwrap_or("")
    }

    /// stdout parsed as one JSON document.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON: {e}\n{}", self.report()))
    }

    /// stdout parsed as JSON Lines.
    #[track_caller]
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("not a JSON line: {e}: {line}\n{}", self.report()))
            })
            .collect()
    }

    /// Whether `path` (relative to the test's repository) exists.
    pub fn exists(&self, path: &str) -> bool {
        self.root.join(path).exists()
    }
}

/// Keeps failure messages readable when an output is huge.
fn clip(text: &str) -> String {
    const MAX: usize = 4000;
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..end], text.len())
}

/// True for a string of exactly `len` lowercase hex digits.
pub fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The nodes of a `graph --format json` / `--dry-run=json` document as `(id, node)`.
pub fn nodes(plan: &serde_json::Value) -> Vec<(String, serde_json::Value)> {
    plan["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("no `nodes` array in {plan}"))
        .iter()
        .map(|n| (n["id"].as_str().expect("node id").to_string(), n.clone()))
        .collect()
}

/// The `needs` of the node `id` in a JSON plan.
pub fn needs(plan: &serde_json::Value, id: &str) -> Vec<String> {
    let (_, node) = nodes(plan)
        .into_iter()
        .find(|(n, _)| n == id)
        .unwrap_or_else(|| panic!("no node `{id}` in {plan}"));
    node["needs"]
        .as_array()
        .expect("needs array")
        .iter()
        .map(|n| n.as_str().expect("need id").to_string())
        .collect()
}

// Helpers for the `prodigy run` tests (`tests/cli/run_*.rs`).

/// The fake `claude` CLI of `testdata/` (its header documents the modes).
pub fn fake_claude() -> PathBuf {
    repo_root().join("testdata/fake-claude")
}

/// How long a run test may take before it is killed and fails.
pub const RUN_LIMIT: std::time::Duration = std::time::Duration::from_secs(20);

impl Test {
    /// Writes `flow.yml` and queues `run flow.yml`; claude, if any step calls it, is the fake.
    pub fn workflow(self, yaml: &str) -> Test {
        self.file("flow.yml", yaml)
            .env("PRODIGY_CLAUDE_BIN", &fake_claude().to_string_lossy())
            .args(["run", "flow.yml"])
    }

    /// Runs prodigy like [`Test::run`], without the variables in `remove` (after `env`),
    /// killing it after `limit`.
    pub fn run_with(self, limit: std::time::Duration, remove: &[&str]) -> Output {
        let mut cmd = assert_cmd::cargo::cargo_bin_cmd!("prodigy");
        cmd.current_dir(&self.cwd)
            .args(&self.args)
            .env_remove("GITHUB_ACTIONS")
            .env("NO_COLOR", "1")
            .timeout(limit);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        for k in remove {
            cmd.env_remove(k);
        }
        let out = cmd.output().expect("run prodigy");
        Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            stderr_bytes: out.stderr,
            command: format!("prodigy {}", join(&self.args)),
            root: self.root,
            _tempdir: self.tempdir,
        }
    }

    /// Runs prodigy, killing it after [`RUN_LIMIT`].
    pub fn run_limited(self) -> Output {
        self.run_with(RUN_LIMIT, &[])
    }

    /// Starts prodigy in the background, stderr piped; see [`Running`].
    pub fn spawn(self) -> Running {
        let mut cmd = StdCommand::new(env!("CARGO_BIN_EXE_prodigy"));
        cmd.current_dir(&self.cwd)
            .args(&self.args)
            .env_remove("GITHUB_ACTIONS")
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start prodigy");
        Running {
            child: Some(child),
            command: format!("prodigy {}", join(&self.args)),
            root: self.root,
            tempdir: self.tempdir,
        }
    }
}

/// A prodigy run in the background; killed if the test panics before it ends.
pub struct Running {
    child: Option<std::process::Child>,
    command: String,
    root: PathBuf,
    tempdir: Option<TempDir>,
}

impl Running {
    /// The test's repository.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The process id of prodigy.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, std::process::Child::id)
    }

    /// Sends `signal` (e.g. `"INT"`) to prodigy alone, with kill(1).
    pub fn signal(&self, signal: &str) {
        let status = StdCommand::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {} failed", self.pid());
    }

    /// Waits at most `limit` for prodigy to exit (else kills it and panics).
    #[track_caller]
    pub fn wait(mut self, limit: std::time::Duration) -> Output {
        let mut child = self.child.take().expect("a running child");
        let exited = wait_until(limit, || child.try_wait().expect("poll prodigy").is_some());
        if !exited {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{} did not exit within {limit:?}", self.command);
        }
        let out = child.wait_with_output().expect("collect prodigy output");
        Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            stderr_bytes: out.stderr,
            command: self.command.clone(),
            root: self.root.clone(),
            _tempdir: self.tempdir.take(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Output {
    /// The text of `path` (relative to the test's repository); panics when missing.
    #[track_caller]
    pub fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.root.join(path))
            .unwrap_or_else(|e| panic!("cannot read {path}: {e}\n{}", self.report()))
    }

    /// The lines of `path`, or none when it does not exist (a side-effect log).
    pub fn log_lines(&self, path: &str) -> Vec<String> {
        std::fs::read_to_string(self.root.join(path))
            .map(|t| t.lines().map(String::from).collect())
            .unwrap_or_default()
    }

    /// The absolute path of `path` in the test's repository.
    pub fn abs(&self, path: &str) -> PathBuf {
        self.root.join(path)
    }

    /// How many stderr lines start (after indentation) with `prefix`.
    pub fn stderr_lines_starting(&self, prefix: &str) -> usize {
        self.stderr
            .lines()
            .filter(|l| l.trim_start().starts_with(prefix))
            .count()
    }

    /// `path` parsed as JSON Lines.
    #[track_caller]
    pub fn json_lines_of(&self, path: &str) -> Vec<serde_json::Value> {
        self.read(path)
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| {
                    panic!("{path}: not a JSON line: {e}: {l}\n{}", self.report())
                })
            })
            .collect()
    }

    /// `path` parsed as one JSON document.
    #[track_caller]
    pub fn json_of(&self, path: &str) -> serde_json::Value {
        serde_json::from_str(&self.read(path))
            .unwrap_or_else(|e| panic!("{path} is not JSON: {e}\n{}", self.report()))
    }

    /// Panics with `message` and the run's output.
    #[track_caller]
    pub fn fail(&self, message: &str) -> ! {
        panic!("{message}\n{}", self.report())
    }
}

/// The command lines (arguments joined by spaces) of live processes that contain `marker`.
pub fn processes_with(marker: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            // A zombie has exited; only its parent's wait is missing.
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                !s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
        })
        .filter_map(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).ok())
        .map(|raw| {
            String::from_utf8_lossy(&raw)
                .replace('\0', " ")
                .trim_end()
                .to_string()
        })
        .filter(|line| line.contains(marker))
        .collect()
}

/// Polls `check` every 20 ms until it holds or `limit` passes; returns whether it held.
pub fn wait_until(limit: std::time::Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

// Helpers for the error-handling and DLQ tests (`tests/cli/errors_*.rs`).

impl Output {
    /// Another invocation in the same repository, which stays alive with it (the DLQ,
    /// logs and counters of the earlier run are still there); claude is the fake.
    pub fn next(self) -> Test {
        Test {
            tempdir: self._tempdir,
            cwd: self.root.clone(),
            root: self.root,
            args: Vec::new(),
            env: vec![("PRODIGY_CLAUDE_BIN".into(), fake_claude().into_os_string())],
        }
    }

    /// The job id from the `Running workflow `name` (job ID)` line.
    #[track_caller]
    pub fn job_id(&self) -> String {
        self.stderr
            .lines()
            .find_map(|l| l.split("(job ").nth(1))
            .and_then(|rest| rest.split(')').next())
            .map(str::to_string)
            .unwrap_or_else(|| self.fail("no `(job ID)` in stderr"))
    }

    /// The stderr lines, in order.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }

    /// The index of the first stderr line containing `needle`.
    #[track_caller]
    pub fn stderr_line_index(&self, needle: &str) -> usize {
        self.stderr
            .lines()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| self.fail(&format!("no stderr line contains {needle:?}")))
    }

    /// The text of `path` (relative to the repository) as bytes; panics when missing.
    #[track_caller]
    pub fn read_bytes(&self, path: &str) -> Vec<u8> {
        std::fs::read(self.root.join(path))
            .unwrap_or_else(|e| panic!("cannot read {path}: {e}\n{}", self.report()))
    }

    /// Writes `contents` to `path` (relative to the repository) between two runs.
    pub fn write(&self, path: &str, contents: impl AsRef<[u8]>) {
        let path = self.root.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent dirs");
        }
        std::fs::write(path, contents).expect("write a file between runs");
    }

    /// Removes the file `path` (relative to the repository) between two runs.
    pub fn remove(&self, path: &str) {
        std::fs::remove_file(self.root.join(path)).expect("remove a file between runs");
    }
}

/// The DLQ file of job `job` of workflow `workflow`, relative to the repository.
pub fn dlq_file(workflow: &str, job: &str) -> String {
    format!(".prodigy/dlq/{workflow}/{job}.jsonl")
}

/// A shell script that fails its first `fails` runs and then succeeds, counting runs in
/// the file named by its first argument (`sh flaky.sh count.${item}`).
pub fn flaky_script(fails: u32) -> String {
    format!(
        "#!/bin/sh\nn=$(cat \"$1\" 2>/dev/null || echo 0)\nn=$((n + 1))\necho $n > \"$1\"\n\
         echo \"run $n\"\nif [ $n -le {fails} ]; then echo \"flaky failure $n\" >&2; exit 1; fi\n"
    )
}

/// Milliseconds since the epoch of an event's `ts` (RFC 3339 with fractions).
#[track_caller]
pub fn ts_ms(event: &serde_json::Value) -> f64 {
    let ts = event["ts"]
        .as_str()
        .unwrap_or_else(|| panic!("event without `ts`: {event}"));
    let at = chrono::DateTime::parse_from_rfc3339(ts)
        .unwrap_or_else(|e| panic!("`ts` {ts:?} is not RFC 3339: {e}"));
    at.timestamp_micros() as f64 / 1000.0
}

/// The events named `event` of node `node` (any node when empty), in file order.
pub fn events_of<'a>(
    events: &'a [serde_json::Value],
    event: &str,
    node: &str,
) -> Vec<&'a serde_json::Value> {
    events
        .iter()
        .filter(|e| e["event"] == event && (node.is_empty() || e["node"] == node))
        .collect()
}

/// The most intervals `(start, end)` that overlap at one instant.
pub fn max_overlap(intervals: &[(u128, u128)]) -> usize {
    intervals
        .iter()
        .map(|&(start, _)| {
            intervals
                .iter()
                .filter(|&&(s, e)| s <= start && start < e)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// `(start, end)` pairs in nanoseconds from a log of `START <key> <ns>` / `END <key> <ns>`
/// lines (written with `date +%s%N`), by key.
#[track_caller]
pub fn intervals(lines: &[String]) -> Vec<(u128, u128)> {
    let mut starts = std::collections::BTreeMap::new();
    let mut out = Vec::new();
    for line in lines {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [what, key, ns] = parts[..] else {
            panic!("bad interval line {line:?}");
        };
        let ns: u128 = ns
            .parse()
            .unwrap_or_else(|_| panic!("bad time in {line:?}"));
        match what {
            "START" => {
                starts.insert(key.to_string(), ns);
            }
            "END" => {
                let start = starts
                    .remove(key)
                    .unwrap_or_else(|| panic!("END before START: {line:?}"));
                out.push((start, ns));
            }
            _ => panic!("bad interval line {line:?}"),
        }
    }
    out
}

/// The fake claude's invocation log (`FAKE_CLAUDE_LOG`), one JSON object per call.
pub fn claude_calls(log: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("fake-claude logs JSON lines"))
        .collect()
}
