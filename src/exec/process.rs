//! Running one child process: spawn, stream its output, wait, and kill it cleanly.
//!
//! Every step's process goes through [`run`]; the scheduler (via `action.rs` and `job.rs`)
//! builds a [`CommandSpec`] and turns the [`ProcessOutput`] into a step outcome.
//!
//! Design:
//!
//! - **Own process group.** Each child is the leader of a new process group
//!   (`process_group(0)`), so a timeout, a fail-fast cancel or Ctrl-C can signal the
//!   whole tree with one `killpg`, including `sh -c 'a & b'` and whatever `make` forks.
//!   It also keeps the terminal's Ctrl-C away from children: [`super::signals`] turns it
//!   into a cancel, and we do the killing, in order.
//! - **TERM, grace, KILL.** On timeout or cancel the group gets SIGTERM, then up to
//!   `grace` to exit, then SIGKILL. After the leader is reaped, however it ended, the group
//!   gets a final SIGKILL so no background grandchild outlives its step. (A process that
//!   leaves the group, e.g. with `setsid`, is out of reach by design; we stop waiting for
//!   its copy of our pipes after [`READER_GRACE`].)
//! - **Direct exec.** A [`Program::Shell`] command with no shell syntax ([`needs_shell`])
//!   is split on blanks and exec'd directly, as make does: dash does not exec the last
//!   command of `sh -c`, so this saves one process per step. It is invisible otherwise: if
//!   the direct spawn fails (not found, not executable, no shebang), the command is rerun
//!   through `sh -c`, so the user gets exactly sh's behaviour (exit 127, its message).
//! - **Output.** Two detached reader threads own the pipes and send chunks over a bounded
//!   channel; the calling thread splits lines, calls `on_line` and fills capped buffers.
//!   Waiting on that channel doubles as the sleep between `try_wait` polls, so output
//!   arrives live, and a trivial command returns as soon as its pipes close. Readers are
//!   detached (not scoped) so a pipe held open by an escaped process cannot hang a step.

use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group, test_kill_process_group};

pub use super::cancel::CancelToken;

/// The default time between SIGTERM and SIGKILL.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(2);
/// The default cap on captured bytes, per stream.
pub const DEFAULT_MAX_OUTPUT: usize = 64 << 20;
/// How long to wait for the output pipes to close once the process group is gone.
pub const READER_GRACE: Duration = Duration::from_secs(1);

/// The first poll interval; it doubles up to [`POLL_MAX`]. Short, because a trivial
/// command must cost about a millisecond in total.
const POLL_START: Duration = Duration::from_micros(100);
const POLL_MAX: Duration = Duration::from_millis(16);
/// Bytes per pipe read; also the unit sent over the channel.
const CHUNK: usize = 64 << 10;
/// Chunks in flight per run before readers block (bounds memory, keeps backpressure).
const CHANNEL_CHUNKS: usize = 16;
/// An unterminated line longer than this is passed to `on_line` in pieces.
const MAX_LINE: usize = 1 << 20;

/// Characters that mean a command needs `sh`: quoting, expansion, globbing, redirection,
/// pipes, lists, comments, assignments, job control and grouping.
const SHELL_CHARS: &[char] = &[
    '|', '&', ';', '<', '>', '(', ')', '$', '`', '\\', '"', '\'', '*', '?', '[', ']', '#', '~',
    '=', '%', '{', '}', '!', '\n',
];

/// First words that are shell builtins or keywords (GNU make's list for sh plus the
/// keywords and bash-isms): they do not exist as programs, or behave differently as one.
const SHELL_WORDS: &[&str] = &[
    ".", ":", "alias", "bg", "break", "builtin", "case", "cd", "command", "continue", "declare",
    "do", "done", "elif", "else", "esac", "eval", "exec", "exit", "export", "fc", "fg", "fi",
    "for", "function", "getopts", "hash", "if", "in", "jobs", "let", "local", "logout", "popd",
    "pushd", "read", "readonly", "return", "select", "set", "shift", "source", "then", "time",
    "times", "trap", "type", "typeset", "ulimit", "umask", "unalias", "unset", "until", "wait",
    "while",
];

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Program {
    /// A shell command line: exec'd directly when [`needs_shell`] says it can be,
    /// otherwise run as `sh -c <command>`.
    Shell(String),
    /// A program and its arguments, exec'd directly (PATH is searched for the program).
    Argv(Vec<String>),
}

/// Everything [`run`] needs to start and bound one process.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    /// The program or command line.
    pub program: Program,
    /// The working directory; a relative path is relative to prodigy's own.
    pub cwd: PathBuf,
    /// Variables set on top of the inherited environment (or the empty one).
    pub env: Vec<(String, String)>,
    /// Start from an empty environment instead of prodigy's. `PATH` is still passed
    /// (unless `env` overrides it), otherwise neither we nor `sh` could find commands.
    pub clear_env: bool,
    /// Kill the process group after this long; the run ends as [`Termination::TimedOut`].
    pub timeout: Option<Duration>,
    /// Time between SIGTERM and SIGKILL when killing ([`DEFAULT_GRACE`]).
    pub grace: Duration,
    /// Bytes kept per stream ([`DEFAULT_MAX_OUTPUT`]); the rest is read and dropped
    /// (but still passed to `on_line`).
    pub max_output: usize,
}

impl CommandSpec {
    /// A spec with the inherited environment, no timeout and the default limits.
    pub fn new(program: Program, cwd: impl Into<PathBuf>) -> Self {
        Self {
            program,
            cwd: cwd.into(),
            env: Vec::new(),
            clear_env: false,
            timeout: None,
            grace: DEFAULT_GRACE,
            max_output: DEFAULT_MAX_OUTPUT,
        }
    }
}

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// The child's standard output.
    Stdout,
    /// The child's standard error.
    Stderr,
}

/// Receives each output line as it arrives, on the thread that called [`run`]: without
/// its `\n` (a `\r` is kept), lossy UTF-8; a final unterminated line is passed at the
/// end, and a line longer than 1 MiB in pieces. `Sync` so one callback can serve runs on many worker threads.
pub type OnLine<'a> = &'a (dyn Fn(Stream, &str) + Sync);

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Termination {
    /// It exited with this code.
    Exited(i32),
    /// A signal it did not handle killed it (not sent by us).
    Signaled(i32),
    /// We killed its group because the spec's timeout passed.
    TimedOut,
    /// We killed its group because the cancel token was cancelled.
    Cancelled,
}

/// The result of a process that started.
#[derive(Debug, Clone)]
pub struct ProcessOutput {
    /// How it ended.
    pub termination: Termination,
    /// Captured standard output (lossy UTF-8, at most `max_output` bytes of it).
    pub stdout: String,
    /// Captured standard error (lossy UTF-8, at most `max_output` bytes of it).
    pub stderr: String,
    /// Whether either stream went over `max_output` and lost its tail.
    pub truncated: bool,
    /// From just before the spawn to the end of output collection.
    pub duration: Duration,
}

/// A process that could not be started (or waited for).
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The command line has no program in it.
    #[error("empty command: there is no program to run")]
    EmptyCommand,
    /// The program is not on PATH (or the path given does not exist).
    #[error("command `{program}` not found: is it installed and on PATH?")]
    NotFound {
        /// The program as given.
        program: String,
    },
    /// The program exists but cannot be executed.
    #[error("permission denied running `{program}`: is it an executable file (`chmod +x`)?")]
    PermissionDenied {
        /// The program as given.
        program: String,
    },
    /// The working directory does not exist or is not a directory.
    #[error("cannot run `{program}` in `{}`: the working directory does not exist or is not a directory", path.display())]
    WorkingDir {
        /// The program as given.
        program: String,
        /// The working directory as given.
        path: PathBuf,
    },
    /// Any other failure to spawn, read or wait (out of processes, threads, ...).
    #[error("cannot run `{program}`: {source}")]
    Io {
        /// The program as given.
        program: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// The conventional exit code: `Exited(n)` is `n`, `Signaled(s)` is `128 + s` (as shells
/// report it); a timeout or cancel has none.
pub fn exit_code(t: &Termination) -> Option<i32> {
    match *t {
        Termination::Exited(code) => Some(code),
        Termination::Signaled(signal) => Some(128 + signal),
        Termination::TimedOut | Termination::Cancelled => None,
    }
}

/// Whether a [`Program::Shell`] command needs `sh -c`, or can be split on blanks and
/// exec'd directly with the same meaning.
///
/// It needs the shell if it contains any of `` |&;<>()$`\"'*?[]#~=%{}! `` or a newline,
/// if it is blank, or if its first word is a shell builtin or keyword (`cd`, `export`,
/// `if`, `exit`, `.`, ...). Programs that also exist as files (`true`, `echo`, `test`)
/// are exec'd.
pub fn needs_shell(cmd: &str) -> bool {
    if cmd.contains(SHELL_CHARS) {
        return true;
    }
    match words(cmd).next() {
        None => true,
        Some(first) => SHELL_WORDS.contains(&first),
    }
}

/// Splits like sh does for a command without quotes: on spaces and tabs only.
fn words(cmd: &str) -> impl Iterator<Item = &str> {
    cmd.split([' ', '\t']).filter(|w| !w.is_empty())
}

/// Runs `spec` to completion, streaming each output line to `on_line` as it arrives.
///
/// Returns `Err` only if the process could not be started; every way a started process
/// can end (including timeout and cancel) is a [`Termination`]. When it returns, the
/// child's whole process group has been killed and reaped.
pub fn run(
    spec: &CommandSpec,
    cancel: &CancelToken,
    on_line: Option<OnLine<'_>>,
) -> Result<ProcessOutput, ProcessError> {
    let start = Instant::now();
    let (mut child, program) = spawn(spec)?;
    let io_error = |source| ProcessError::Io {
        program: program.clone(),
        source,
    };
    let Some(pgid) = i32::try_from(child.id()).ok().and_then(Pid::from_raw) else {
        reap_after_kill(&mut child);
        return Err(io_error(io::Error::other(
            "the child has an invalid process id",
        )));
    };
    let mut pump = match Pump::start(&mut child, spec.max_output, on_line) {
        Ok(pump) => pump,
        Err(source) => {
            let _ = kill_process_group(pgid, Signal::KILL);
            reap_after_kill(&mut child);
            return Err(io_error(source));
        }
    };
    let waited = wait(&mut child, pgid, spec, cancel, start, &mut pump);
    // Whatever happened, nothing of the group survives the step. (Linux does not reuse a
    // pgid while any member lives, so this cannot hit a stranger short of pid wrap-around.)
    let _ = kill_process_group(pgid, Signal::KILL);
    let termination = match waited {
        Ok(t) => t,
        Err(source) => {
            reap_after_kill(&mut child);
            return Err(io_error(source));
        }
    };
    pump.drain(Instant::now() + READER_GRACE);
    let (stdout, stderr, truncated) = pump.finish();
    Ok(ProcessOutput {
        termination,
        stdout,
        stderr,
        truncated,
        duration: start.elapsed(),
    })
}

/// Spawns the child; returns it with the program name for error messages.
fn spawn(spec: &CommandSpec) -> Result<(Child, String), ProcessError> {
    match &spec.program {
        Program::Argv(argv) => match argv.split_first() {
            Some((program, args)) if !program.is_empty() => spawn_one(spec, program, args),
            _ => Err(ProcessError::EmptyCommand),
        },
        Program::Shell(cmd) if !needs_shell(cmd) => {
            let mut words = words(cmd);
            let program = words.next().ok_or(ProcessError::EmptyCommand)?;
            let args: Vec<&str> = words.collect();
            // Direct exec is only an optimisation: on any failure but a bad working
            // directory (which sh would hit too), let sh decide.
            spawn_one(spec, program, &args).or_else(|error| match error {
                ProcessError::WorkingDir { .. } => Err(error),
                _ => spawn_one(spec, "sh", &["-c", cmd]),
            })
        }
        Program::Shell(cmd) => spawn_one(spec, "sh", &["-c", cmd]),
    }
}

fn spawn_one(
    spec: &CommandSpec,
    program: &str,
    args: &[impl AsRef<OsStr>],
) -> Result<(Child, String), ProcessError> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(&spec.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if spec.clear_env {
        cmd.env_clear();
        // Process plumbing, not configuration: without PATH nothing could be found.
        if let Some(path) = std::env::var_os("PATH") {
            cmd.env("PATH", path);
        }
    }
    cmd.envs(spec.env.iter().map(|(k, v)| (k, v)));
    match cmd.spawn() {
        Ok(child) => Ok((child, program.to_string())),
        Err(source) => Err(spawn_error(spec, program, source)),
    }
}

fn spawn_error(spec: &CommandSpec, program: &str, source: io::Error) -> ProcessError {
    let program = program.to_string();
    // A missing working directory also reports ENOENT; check it first.
    if !spec.cwd.is_dir() {
        return ProcessError::WorkingDir {
            program,
            path: spec.cwd.clone(),
        };
    }
    match source.kind() {
        io::ErrorKind::NotFound => ProcessError::NotFound { program },
        io::ErrorKind::PermissionDenied => ProcessError::PermissionDenied { program },
        _ => ProcessError::Io { program, source },
    }
}

/// Polls the child until it exits, the timeout passes or `cancel` fires; collects output
/// in between. On timeout or cancel, kills the group and reaps the leader.
fn wait(
    child: &mut Child,
    pgid: Pid,
    spec: &CommandSpec,
    cancel: &CancelToken,
    start: Instant,
    pump: &mut Pump,
) -> io::Result<Termination> {
    let deadline = spec.timeout.map(|t| start + t);
    let mut pause = POLL_START;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(termination(status));
        }
        let now = Instant::now();
        let stop = if cancel.is_cancelled() {
            Some(Termination::Cancelled)
        } else if deadline.is_some_and(|d| now >= d) {
            Some(Termination::TimedOut)
        } else {
            None
        };
        if let Some(stop) = stop {
            terminate(child, pgid, spec.grace, pump)?;
            return Ok(stop);
        }
        let limit = deadline.map_or(pause, |d| pause.min(d - now));
        if pump.pause(limit) {
            // Output or closed pipes: the child is busy or just ended; poll again soon.
            pause = POLL_START;
        } else {
            pause = (pause * 2).min(POLL_MAX);
        }
    }
}

/// SIGTERM to the group, up to `grace` for the whole group to exit, then SIGKILL.
/// Returns once the leader is reaped.
fn terminate(child: &mut Child, pgid: Pid, grace: Duration, pump: &mut Pump) -> io::Result<()> {
    let _ = kill_process_group(pgid, Signal::TERM);
    let until = Instant::now() + grace;
    let mut reaped = false;
    let mut pause = POLL_START;
    loop {
        reaped = reaped || child.try_wait()?.is_some();
        // The group is empty only once the (zombie) leader is reaped.
        if reaped && group_is_gone(pgid) {
            return Ok(());
        }
        let now = Instant::now();
        if now >= until {
            break;
        }
        pump.pause(pause.min(until - now));
        pause = (pause * 2).min(POLL_MAX);
    }
    let _ = kill_process_group(pgid, Signal::KILL);
    if !reaped {
        child.wait()?;
    }
    Ok(())
}

fn group_is_gone(pgid: Pid) -> bool {
    test_kill_process_group(pgid) == Err(rustix::io::Errno::SRCH)
}

/// Best-effort cleanup on an error path: the child was already sent SIGKILL.
fn reap_after_kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn termination(status: ExitStatus) -> Termination {
    match (status.code(), status.signal()) {
        (Some(code), _) => Termination::Exited(code),
        (None, Some(signal)) => Termination::Signaled(signal),
        // `try_wait` does not report stopped children, so this cannot happen.
        (None, None) => Termination::Exited(-1),
    }
}

type Chunk = (Stream, Vec<u8>);

/// The receiving end of the reader threads plus the output being collected.
struct Pump<'a> {
    rx: Receiver<Chunk>,
    /// False once both readers have hit end of file (or we stopped waiting for them).
    open: bool,
    sink: Sink<'a>,
}

impl<'a> Pump<'a> {
    fn start(
        child: &mut Child,
        max_output: usize,
        on_line: Option<OnLine<'a>>,
    ) -> io::Result<Self> {
        let (tx, rx) = mpsc::sync_channel(CHANNEL_CHUNKS);
        if let Some(out) = child.stdout.take() {
            read_in_thread(Stream::Stdout, out, tx.clone())?;
        }
        if let Some(err) = child.stderr.take() {
            read_in_thread(Stream::Stderr, err, tx)?;
        }
        Ok(Self {
            rx,
            open: true,
            sink: Sink::new(max_output, on_line),
        })
    }

    /// Waits up to `limit` for output. Returns true if there was some, or the pipes just
    /// closed; false after a quiet `limit`.
    fn pause(&mut self, limit: Duration) -> bool {
        if !self.open {
            thread::sleep(limit);
            return false;
        }
        match self.rx.recv_timeout(limit) {
            Ok((stream, chunk)) => {
                self.sink.push(stream, &chunk);
                true
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => {
                self.open = false;
                true
            }
        }
    }

    /// Collects the rest of the output, until both pipes close or `until` passes.
    fn drain(&mut self, until: Instant) {
        while self.open {
            let now = Instant::now();
            if now >= until {
                // An escaped process holds the pipe; its reader thread ends with it.
                self.open = false;
                break;
            }
            self.pause(until - now);
        }
    }

    fn finish(self) -> (String, String, bool) {
        self.sink.finish()
    }
}

/// Reads `pipe` to its end on a detached thread, sending chunks to `tx`.
fn read_in_thread(
    stream: Stream,
    mut pipe: impl Read + Send + 'static,
    tx: SyncSender<Chunk>,
) -> io::Result<()> {
    let name = match stream {
        Stream::Stdout => "prodigy-stdout",
        Stream::Stderr => "prodigy-stderr",
    };
    // The handle is dropped: the thread is detached (see the module docs).
    thread::Builder::new().name(name.into()).spawn(move || {
        let mut buf = vec![0; CHUNK];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if tx.send((stream, buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    })?;
    Ok(())
}

/// Capped buffers and line splitting for `on_line`.
struct Sink<'a> {
    max: usize,
    on_line: Option<OnLine<'a>>,
    /// Captured bytes, indexed by [`index`].
    out: [Vec<u8>; 2],
    /// The unterminated end of the last chunk, per stream (only with `on_line`).
    partial: [Vec<u8>; 2],
    truncated: bool,
}

fn index(stream: Stream) -> usize {
    match stream {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    }
}

impl<'a> Sink<'a> {
    fn new(max: usize, on_line: Option<OnLine<'a>>) -> Self {
        Self {
            max,
            on_line,
            out: [Vec::new(), Vec::new()],
            partial: [Vec::new(), Vec::new()],
            truncated: false,
        }
    }

    fn push(&mut self, stream: Stream, chunk: &[u8]) {
        let out = &mut self.out[index(stream)];
        let room = self.max.saturating_sub(out.len());
        if chunk.len() > room {
            self.truncated = true;
        }
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if let Some(on_line) = self.on_line {
            split_lines(stream, chunk, &mut self.partial[index(stream)], on_line);
        }
    }

    fn finish(self) -> (String, String, bool) {
        if let Some(on_line) = self.on_line {
            for stream in [Stream::Stdout, Stream::Stderr] {
                let partial = &self.partial[index(stream)];
                if !partial.is_empty() {
                    on_line(stream, &String::from_utf8_lossy(partial));
                }
            }
        }
        let [stdout, stderr] = self.out;
        (lossy(stdout), lossy(stderr), self.truncated)
    }
}

/// Calls `on_line` for each complete line (without its `\n`), carrying the unterminated
/// tail over in `partial`.
fn split_lines(
    stream: Stream,
    chunk: &[u8],
    partial: &mut Vec<u8>,
    on_line: &dyn Fn(Stream, &str),
) {
    let mut rest = chunk;
    while let Some(end) = rest.iter().position(|&b| b == b'\n') {
        let line = &rest[..end];
        rest = &rest[end + 1..];
        if partial.is_empty() {
            on_line(stream, &String::from_utf8_lossy(line));
        } else {
            partial.extend_from_slice(line);
            on_line(stream, &String::from_utf8_lossy(partial));
            partial.clear();
        }
    }
    partial.extend_from_slice(rest);
    if partial.len() >= MAX_LINE {
        on_line(stream, &String::from_utf8_lossy(partial));
        partial.clear();
    }
}

fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
#[path = "process_tests.rs"]
mod tests;
