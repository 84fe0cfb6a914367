//! What running a step or a node produced. A failure is data: counted, reported and
//! turned into the exit code, never an `Err` that stops the run.

use std::time::Duration;

use serde::Serialize;

/// Why a step failed, as a kind that reports and error policies can count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// A command exited non-zero.
    CommandFailed,
    /// A command was not found or could not start.
    CommandNotFound,
    /// The step ran past its timeout.
    Timeout,
    /// A `${...}` variable was undefined or malformed.
    Interpolation,
    /// `commit_required` and no commit was made.
    NoCommit,
    /// `validate` stayed below its threshold.
    Incomplete,
    /// claude is not logged in or not authorised.
    Authentication,
    /// claude hit a rate limit or an overloaded API.
    RateLimit,
    /// claude stopped at its budget.
    Budget,
    /// claude's output could not be understood.
    AgentError,
    /// A file could not be read or written.
    Io,
    /// A `when` condition or captured value could not be evaluated.
    Evaluation,
    /// Stopped by Ctrl-C, SIGTERM or fail-fast.
    Cancelled,
    /// Not started because the circuit breaker was open.
    CircuitOpen,
}

impl FailureKind {
    /// The snake_case name used in the DLQ, JSON output and `retry_on:` lists.
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::CommandFailed => "command_failed",
            FailureKind::CommandNotFound => "command_not_found",
            FailureKind::Timeout => "timeout",
            FailureKind::Interpolation => "interpolation",
            FailureKind::NoCommit => "no_commit",
            FailureKind::Incomplete => "incomplete",
            FailureKind::Authentication => "authentication",
            FailureKind::RateLimit => "rate_limit",
            FailureKind::Budget => "budget",
            FailureKind::AgentError => "agent_error",
            FailureKind::Io => "io",
            FailureKind::Evaluation => "evaluation",
            FailureKind::Cancelled => "cancelled",
            FailureKind::CircuitOpen => "circuit_open",
        }
    }

    /// Fatal kinds are never retried: retrying cannot fix a missing login, a missing
    /// command, a bad variable or an exhausted budget.
    pub fn is_fatal(self) -> bool {
        matches!(
            self,
            FailureKind::Authentication
                | FailureKind::CommandNotFound
                | FailureKind::Interpolation
                | FailureKind::Budget
                | FailureKind::Cancelled
        )
    }

    /// True for kinds worth retrying automatically: timeouts, rate limits, an open
    /// circuit. Fatal kinds (authentication, a missing command, a bad variable) are not.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            FailureKind::Timeout | FailureKind::RateLimit | FailureKind::CircuitOpen
        )
    }
}

/// A failure with what a person needs to act on it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    /// The kind.
    pub kind: FailureKind,
    /// What went wrong, in one line.
    pub message: String,
    /// The exit code, when a process exited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
}

impl Failure {
    /// A failure of `kind`.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
            exit_code: None,
        }
    }
}

/// Token and money use of claude calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Cost {
    /// US dollars.
    pub usd: f64,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Cached input tokens read.
    pub cache_read_tokens: u64,
    /// claude calls.
    pub calls: u64,
}

impl Cost {
    /// Adds `other` into this.
    pub fn add(&mut self, other: &Cost) {
        self.usd += other.usd;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cache_read_tokens += other.cache_read_tokens;
        self.calls += other.calls;
    }
}

/// How a node ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum NodeStatus {
    /// Every step succeeded (or was allowed to fail).
    Succeeded,
    /// Not run: the result of an earlier run with the same key was replayed.
    Cached,
    /// A step failed.
    Failed(Failure),
    /// Not run: a `when` was false, or a dependency failed.
    Skipped {
        /// Why.
        reason: String,
    },
    /// Never started or stopped because the job stopped.
    Cancelled {
        /// Why.
        reason: String,
    },
}

/// The output of the last command of a node, kept for failure reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutputTail {
    /// The last lines of stdout.
    pub stdout: String,
    /// The last lines of stderr.
    pub stderr: String,
}

impl OutputTail {
    /// Keeps the last `lines` lines of each stream.
    pub fn new(stdout: &str, stderr: &str, lines: usize) -> Self {
        OutputTail {
            stdout: tail(stdout, lines),
            stderr: tail(stderr, lines),
        }
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Everything a finished node reports.
#[derive(Debug, Clone)]
pub struct NodeResult {
    /// How it ended.
    pub status: NodeStatus,
    /// Wall time.
    pub duration: Duration,
    /// claude use.
    pub cost: Cost,
    /// Output of the last command.
    pub output: OutputTail,
    /// Steps that failed but were allowed to.
    pub warnings: Vec<String>,
}
