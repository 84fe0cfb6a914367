//! What workers and the scheduler report while a job runs; one thread consumes these
//! and owns the terminal, the summary and the events file.

use std::time::Duration;

use super::outcome::NodeResult;
use super::process::Stream;
use crate::graph::NodeKind;

/// One thing that happened.
#[derive(Debug, Clone)]
pub enum Event {
    /// A plan is about to run `nodes` more nodes.
    Planned {
        /// How many nodes will run (or be skipped or cancelled).
        nodes: usize,
    },
    /// Setup finished with these variables (its captures), for `dlq retry`.
    SetupFinished {
        /// The variables, as JSON (without `env`).
        vars: serde_json::Value,
    },
    /// A node started.
    NodeStarted {
        /// Its id.
        id: String,
        /// Its kind.
        kind: NodeKind,
    },
    /// A node will run, and why (`--explain`).
    Dirty {
        /// The node.
        id: String,
        /// Why it runs: `input src/a.rs changed`, `not run before`...
        reason: String,
    },
    /// A line of output of a running node.
    Output {
        /// The node.
        id: String,
        /// Which stream.
        stream: Stream,
        /// The line, without its newline.
        line: String,
    },
    /// A step of a node will be tried again.
    Retrying {
        /// The node.
        id: String,
        /// The attempt about to start (2 = first retry).
        attempt: u32,
        /// The wait before it.
        delay: Duration,
        /// Why the last attempt failed.
        reason: String,
    },
    /// A map item attempt ended: what the DLQ records. `final_attempt` is false when the
    /// item will be retried.
    ItemAttempt {
        /// The node.
        id: String,
        /// The item: its index, JSON and node digest (hex).
        node: Option<(usize, serde_json::Value, String)>,
        /// The attempt number (1-based; 0 for an item that never started).
        attempt: u32,
        /// What the attempt produced.
        result: NodeResult,
        /// No more attempts follow.
        final_attempt: bool,
    },
    /// A node finished, was skipped, or was cancelled.
    NodeFinished {
        /// Its id.
        id: String,
        /// Its kind.
        kind: NodeKind,
        /// What it produced.
        result: NodeResult,
    },
}
