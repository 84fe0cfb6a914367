//! Tests of `process.rs`.

use std::sync::Mutex;

use super::*;

fn shell(cmd: &str) -> CommandSpec {
    let mut spec = CommandSpec::new(Program::Shell(cmd.to_string()), std::env::temp_dir());
    // No test may hang: every run is bounded.
    spec.timeout = Some(Duration::from_secs(20));
    spec
}

fn argv(args: &[&str]) -> CommandSpec {
    let mut spec = shell("");
    spec.program = Program::Argv(args.iter().map(|a| a.to_string()).collect());
    spec
}

fn run_ok(spec: &CommandSpec) -> ProcessOutput {
    run(spec, &CancelToken::new(), None).expect("the process starts")
}

/// Live processes whose command line contains `marker` (zombies have an empty one).
fn processes_with(marker: &str) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .filter(|cmdline| {
            String::from_utf8_lossy(cmdline)
                .replace('\0', " ")
                .contains(marker)
        })
        .count()
}

/// Waits (bounded) for every process carrying `marker` to be gone.
fn assert_none_left(marker: &str) {
    let until = Instant::now() + Duration::from_secs(2);
    while processes_with(marker) > 0 && Instant::now() < until {
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        processes_with(marker),
        0,
        "a `{marker}` process outlived its step"
    );
}

#[test]
fn needs_shell_only_for_shell_syntax_and_builtins() {
    let table = [
        ("true", false),
        ("false", false),
        ("cargo build --release", false),
        ("  ls\t-la  ", false),
        ("./script.sh arg", false),
        ("echo hello", false),
        ("test -f Cargo.toml", false),
        ("", true),
        ("   ", true),
        ("echo a | wc", true),
        ("a && b", true),
        ("a; b", true),
        ("cat < in", true),
        ("echo > out", true),
        ("(cd x)", true),
        ("echo $HOME", true),
        ("echo `date`", true),
        ("echo a\\ b", true),
        ("echo \"a b\"", true),
        ("echo 'a b'", true),
        ("ls *.rs", true),
        ("ls ?", true),
        ("ls [ab]", true),
        ("echo # comment", true),
        ("ls ~", true),
        ("FOO=bar cmd", true),
        ("kill %1", true),
        ("echo {a,b}", true),
        ("! false", true),
        ("echo a\necho b", true),
        ("cd src", true),
        ("export X", true),
        ("if", true),
        ("for", true),
        ("exit 3", true),
        ("set -e", true),
        (". ./env.sh", true),
        ("source env.sh", true),
        ("eval x", true),
        ("exec cmd", true),
        ("ulimit -n", true),
        ("umask 022", true),
        ("alias x", true),
        ("read x", true),
        ("wait", true),
        ("trap x INT", true),
        ("cdrom", false),
    ];
    for (cmd, expected) in table {
        assert_eq!(needs_shell(cmd), expected, "needs_shell({cmd:?})");
    }
}

#[test]
fn exit_codes_are_reported() {
    assert_eq!(run_ok(&shell("true")).termination, Termination::Exited(0));
    assert_eq!(run_ok(&shell("false")).termination, Termination::Exited(1));
    assert_eq!(run_ok(&shell("exit 3")).termination, Termination::Exited(3));
    assert_eq!(
        run_ok(&argv(&["sh", "-c", "exit 7"])).termination,
        Termination::Exited(7)
    );
}

#[test]
fn a_missing_command_through_the_shell_exits_127() {
    // Direct exec fails, so sh runs it and reports it, exactly as without direct exec.
    let out = run_ok(&shell("prodigy-no-such-command-x1 --flag"));
    assert_eq!(out.termination, Termination::Exited(127));
    assert!(out.stderr.contains("not found"), "{}", out.stderr);
    let out = run_ok(&shell("prodigy-no-such-command-x1 > /dev/null"));
    assert_eq!(out.termination, Termination::Exited(127));
}

#[test]
fn a_missing_program_via_argv_is_not_found() {
    let err = run(
        &argv(&["prodigy-no-such-command-x2"]),
        &CancelToken::new(),
        None,
    )
    .unwrap_err();
    assert!(
        matches!(err, ProcessError::NotFound { ref program } if program == "prodigy-no-such-command-x2")
    );
    assert_eq!(
        err.to_string(),
        "command `prodigy-no-such-command-x2` not found: is it installed and on PATH?"
    );
}

#[test]
fn a_missing_working_directory_is_named() {
    let mut spec = argv(&["true"]);
    spec.cwd = PathBuf::from("/nonexistent/prodigy-dir");
    let err = run(&spec, &CancelToken::new(), None).unwrap_err();
    assert!(matches!(err, ProcessError::WorkingDir { .. }), "{err:?}");
    let mut spec = shell("true");
    spec.cwd = PathBuf::from("/nonexistent/prodigy-dir");
    let err = run(&spec, &CancelToken::new(), None).unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/prodigy-dir"),
        "{err}"
    );
}

#[test]
fn a_non_executable_file_is_permission_denied() {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::temp_dir().join(format!("prodigy-not-executable-{}", std::process::id()));
    std::fs::write(&path, "#!/bin/sh\n").expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let program = path.to_string_lossy().into_owned();
    let err = run(&argv(&[&program]), &CancelToken::new(), None);
    let _ = std::fs::remove_file(&path);
    assert!(
        matches!(err, Err(ProcessError::PermissionDenied { .. })),
        "{err:?}"
    );
    assert!(matches!(
        run(&argv(&[]), &CancelToken::new(), None),
        Err(ProcessError::EmptyCommand)
    ));
}

#[test]
fn stdout_and_stderr_are_captured_separately() {
    let out = run_ok(&shell("echo out; echo err >&2; printf 'no newline'"));
    assert_eq!(out.termination, Termination::Exited(0));
    assert_eq!(out.stdout, "out\nno newline");
    assert_eq!(out.stderr, "err\n");
    assert!(!out.truncated);
    assert_eq!(run_ok(&shell("echo direct   exec")).stdout, "direct exec\n");
}

#[test]
fn on_line_receives_lines_in_order() {
    let lines = Mutex::new(Vec::new());
    let record = |stream: Stream, line: &str| {
        lines.lock().expect("lock").push((stream, line.to_string()));
    };
    let spec =
        shell("for i in 1 2 3 4 5; do echo line$i; sleep 0.01; done; echo oops >&2; printf tail");
    let out = run(&spec, &CancelToken::new(), Some(&record)).expect("runs");
    assert_eq!(out.termination, Termination::Exited(0));
    let lines = lines.into_inner().expect("lock");
    let stdout: Vec<&str> = lines
        .iter()
        .filter(|(s, _)| *s == Stream::Stdout)
        .map(|(_, l)| l.as_str())
        .collect();
    assert_eq!(
        stdout,
        ["line1", "line2", "line3", "line4", "line5", "tail"]
    );
    assert!(lines.contains(&(Stream::Stderr, "oops".to_string())));
}

#[test]
fn large_output_on_both_streams_does_not_deadlock() {
    let lines = Mutex::new([0usize; 2]);
    let counter = |stream: Stream, _: &str| lines.lock().expect("lock")[index(stream)] += 1;
    let spec = shell("seq 1 1500000; head -c 10000000 /dev/zero >&2; seq 1 10");
    let out = run(&spec, &CancelToken::new(), Some(&counter)).expect("runs");
    assert_eq!(out.termination, Termination::Exited(0));
    assert!(out.stdout.len() > 10_000_000, "{}", out.stdout.len());
    assert_eq!(out.stderr.len(), 10_000_000);
    let [stdout_lines, stderr_lines] = *lines.lock().expect("lock");
    assert_eq!(stdout_lines, 1_500_010);
    // One unterminated 10 MB line of NULs, passed on in pieces of about MAX_LINE.
    assert!((9..=10).contains(&stderr_lines), "{stderr_lines}");
}

#[test]
fn output_over_the_cap_is_dropped_and_flagged() {
    let mut spec = shell("head -c 1000000 /dev/zero");
    spec.max_output = 1000;
    let out = run_ok(&spec);
    assert_eq!(out.termination, Termination::Exited(0));
    assert_eq!(out.stdout.len(), 1000);
    assert!(out.truncated);
}

#[test]
fn a_trivial_command_is_fast() {
    let best = (0..20)
        .map(|_| run_ok(&shell("true")).duration)
        .min()
        .unwrap_or_default();
    assert!(
        best < Duration::from_millis(50),
        "`true` took {best:?} at best"
    );
}

#[test]
fn timeout_kills_the_whole_group() {
    let mut spec = shell("sleep 30.1231 & sleep 30.1231");
    spec.timeout = Some(Duration::from_millis(200));
    let started = Instant::now();
    let out = run_ok(&spec);
    assert_eq!(out.termination, Termination::TimedOut);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(exit_code(&out.termination), None);
    assert_none_left("sleep 30.1231");
}

#[test]
fn a_command_ignoring_term_is_killed_after_grace() {
    let mut spec = shell("trap '' TERM; sleep 30.2342; echo survived");
    spec.timeout = Some(Duration::from_millis(100));
    spec.grace = Duration::from_millis(300);
    let started = Instant::now();
    let out = run_ok(&spec);
    let elapsed = started.elapsed();
    assert_eq!(out.termination, Termination::TimedOut);
    assert!(
        elapsed >= Duration::from_millis(400),
        "KILLed before the grace period: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    assert!(!out.stdout.contains("survived"));
    assert_none_left("sleep 30.2342");
}

#[test]
fn a_group_that_exits_on_term_does_not_wait_for_grace() {
    let mut spec = shell("sleep 30.2343");
    spec.timeout = Some(Duration::from_millis(50));
    spec.grace = Duration::from_secs(10);
    let out = run_ok(&spec);
    assert_eq!(out.termination, Termination::TimedOut);
    assert!(out.duration < Duration::from_secs(2), "{:?}", out.duration);
}

#[test]
fn cancel_from_another_thread_ends_the_run() {
    let cancel = CancelToken::new();
    let canceller = {
        let cancel = cancel.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(100));
            cancel.cancel();
        })
    };
    let started = Instant::now();
    let out = run(&shell("sleep 30.3453 & wait"), &cancel, None).expect("runs");
    assert_eq!(out.termination, Termination::Cancelled);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    canceller.join().expect("canceller");
    assert_none_left("sleep 30.3453");
}

#[test]
fn background_children_die_with_their_step() {
    let started = Instant::now();
    let out = run_ok(&shell("sleep 30.4564 & sleep 0.1; echo started"));
    assert_eq!(out.termination, Termination::Exited(0));
    assert_eq!(out.stdout, "started\n");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_none_left("sleep 30.4564");
}

#[test]
fn an_escaped_process_holding_the_pipe_does_not_hang_the_step() {
    // setsid leaves our process group, so it survives; its open stdout must not block us.
    let started = Instant::now();
    let out = run_ok(&shell("setsid sleep 3.5675 & sleep 0.2; echo done"));
    assert_eq!(out.termination, Termination::Exited(0));
    assert_eq!(out.stdout, "done\n");
    let elapsed = started.elapsed();
    assert!(
        elapsed < READER_GRACE + Duration::from_millis(800),
        "{elapsed:?}"
    );
}

#[test]
fn a_signal_death_is_signaled() {
    let out = run_ok(&shell("kill -9 $$"));
    assert_eq!(out.termination, Termination::Signaled(9));
    assert_eq!(exit_code(&out.termination), Some(137));
    assert_eq!(exit_code(&Termination::Exited(3)), Some(3));
    assert_eq!(exit_code(&Termination::Cancelled), None);
}

#[test]
fn env_is_applied_and_clear_env_hides_the_rest() {
    let mut spec = argv(&["env"]);
    spec.env = vec![("PRODIGY_TEST_VAR".into(), "42".into())];
    let inherited = run_ok(&spec).stdout;
    assert!(inherited.contains("PRODIGY_TEST_VAR=42\n"));
    spec.clear_env = true;
    let cleared = run_ok(&spec).stdout;
    let mut names: Vec<&str> = cleared
        .lines()
        .filter_map(|l| l.split('=').next())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["PATH", "PRODIGY_TEST_VAR"], "{cleared}");
    // Something prodigy itself has (cargo sets plenty for tests) is hidden.
    if let Some((name, _)) = std::env::vars().find(|(k, _)| k != "PATH") {
        assert!(inherited.contains(&format!("{name}=")));
        assert!(!cleared.contains(&format!("{name}=")));
    }
    // Commands are still found through sh with a cleared environment.
    let mut spec = shell("echo $PRODIGY_TEST_VAR | cat");
    spec.env = vec![("PRODIGY_TEST_VAR".into(), "42".into())];
    spec.clear_env = true;
    assert_eq!(run_ok(&spec).stdout, "42\n");
}

#[test]
fn cwd_is_used() {
    let dir = std::env::temp_dir().canonicalize().expect("temp dir");
    let mut spec = argv(&["pwd"]);
    spec.cwd = dir.clone();
    assert_eq!(run_ok(&spec).stdout.trim_end(), dir.to_string_lossy());
}
