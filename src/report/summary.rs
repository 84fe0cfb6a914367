//! The run summary: the fixed summary line, cost totals, and the versioned JSON
//! written by `--summary-json`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::mask::Masker;
use crate::exec::outcome::{Cost, FailureKind, NodeResult, NodeStatus};
use crate::graph::NodeKind;

/// Bump when the summary JSON changes incompatibly.
pub const SUMMARY_SCHEMA_VERSION: u32 = 1;

/// One finished node, as summaries and event files record it.
#[derive(Debug, Clone, Serialize)]
pub struct NodeRecord {
    /// The node id.
    pub id: String,
    /// Its kind.
    pub kind: NodeKind,
    /// `succeeded`, `failed`, `skipped` or `cancelled`.
    pub status: &'static str,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// The failure kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<FailureKind>,
    /// Why it failed, was skipped or cancelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The exit code of the failing command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// claude use.
    pub cost: Cost,
}

impl NodeRecord {
    /// The record of a finished node, with secrets masked.
    pub fn new(id: &str, kind: NodeKind, result: &NodeResult, masker: &Masker) -> Self {
        let (status, error_kind, message, exit_code) = match &result.status {
            NodeStatus::Succeeded => ("succeeded", None, None, None),
            NodeStatus::Cached => ("cached", None, None, None),
            NodeStatus::Failed(f) => (
                "failed",
                Some(f.kind),
                Some(masker.mask(&f.message)),
                f.exit_code,
            ),
            NodeStatus::Skipped { reason } => ("skipped", None, Some(masker.mask(reason)), None),
            NodeStatus::Cancelled { reason } => {
                ("cancelled", None, Some(masker.mask(reason)), None)
            }
        };
        NodeRecord {
            id: id.to_string(),
            kind,
            status,
            duration_ms: result.duration.as_millis() as u64,
            error_kind,
            message,
            exit_code,
            cost: result.cost,
        }
    }
}

/// Counts by outcome.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    /// Nodes that ran and succeeded.
    pub ran: usize,
    /// Nodes replayed from the cache.
    pub cached: usize,
    /// Nodes that failed.
    pub failed: usize,
    /// Nodes skipped.
    pub skipped: usize,
    /// Nodes cancelled or never started.
    pub cancelled: usize,
}

/// What failed, for the summary and `--summary-json`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ErrorMetrics {
    /// Failed nodes by error kind.
    pub by_kind: BTreeMap<String, usize>,
    /// Failed map items / map items that finished (0 without map items).
    pub failure_rate: f64,
    /// The most common error kind, with its count and what to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub most_common: Option<MostCommon>,
}

/// The most common error kind of a run.
#[derive(Debug, Clone, Serialize)]
pub struct MostCommon {
    /// The kind.
    pub kind: String,
    /// How many nodes failed with it.
    pub count: usize,
    /// What to do about it.
    pub hint: String,
}

impl ErrorMetrics {
    fn new(nodes: &[NodeRecord]) -> Self {
        let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
        for kind in nodes.iter().filter_map(|n| n.error_kind) {
            *by_kind.entry(kind.name().to_string()).or_default() += 1;
        }
        let items: Vec<&NodeRecord> = nodes
            .iter()
            .filter(|n| n.kind.is_item() && n.status != "cancelled")
            .collect();
        let failed = items.iter().filter(|n| n.status == "failed").count();
        let failure_rate = if items.is_empty() {
            0.0
        } else {
            failed as f64 / items.len() as f64
        };
        let most_common = by_kind
            .iter()
            .max_by_key(|(_, count)| **count)
            .map(|(kind, count)| MostCommon {
                kind: kind.clone(),
                count: *count,
                hint: crate::dlq::stats::remediation(kind).to_string(),
            });
        ErrorMetrics {
            by_kind,
            failure_rate,
            most_common,
        }
    }
}

/// The whole run, for the summary line and `--summary-json`.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// [`SUMMARY_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The job id.
    pub job_id: String,
    /// The workflow name.
    pub workflow: String,
    /// `succeeded`, `failed`, `items_failed` (finished, with failed map items), `interrupted`.
    pub status: String,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// Counts by outcome.
    pub counts: Counts,
    /// Total claude use.
    pub cost: Cost,
    /// Failures by kind, the failure rate of map items, the most common error.
    pub errors: ErrorMetrics,
    /// Every node.
    pub nodes: Vec<NodeRecord>,
}

impl Summary {
    /// Builds a summary from the records of a job.
    pub fn new(
        job_id: &str,
        workflow: &str,
        status: &str,
        elapsed: Duration,
        nodes: Vec<NodeRecord>,
    ) -> Self {
        let mut counts = Counts::default();
        let mut cost = Cost::default();
        for n in &nodes {
            cost.add(&n.cost);
            match n.status {
                "succeeded" => counts.ran += 1,
                "cached" => counts.cached += 1,
                "failed" => counts.failed += 1,
                "skipped" => counts.skipped += 1,
                _ => counts.cancelled += 1,
            }
        }
        Summary {
            schema_version: SUMMARY_SCHEMA_VERSION,
            job_id: job_id.to_string(),
            workflow: workflow.to_string(),
            status: status.to_string(),
            duration_ms: elapsed.as_millis() as u64,
            counts,
            cost,
            errors: ErrorMetrics::new(&nodes),
            nodes,
        }
    }

    /// `Summary [2.3s] 12 nodes: 9 ran, 0 cached, 1 failed, 2 skipped` (plus cancelled).
    pub fn line(&self) -> String {
        let c = &self.counts;
        let total = self.nodes.len();
        let mut line = format!(
            "Summary [{:.1}s] {}: {} ran, {} cached, {} failed, {} skipped",
            self.duration_ms as f64 / 1000.0,
            super::plural(total, "node"),
            c.ran,
            c.cached,
            c.failed,
            c.skipped
        );
        if c.cancelled > 0 {
            line.push_str(&format!(", {} cancelled", c.cancelled));
        }
        let dlq = self
            .nodes
            .iter()
            .filter(|n| n.kind == NodeKind::Dlq)
            .count();
        if dlq > 0 {
            line.push_str(&format!(" ({dlq} from the DLQ)"));
        }
        line
    }

    /// `Errors: 2 command_failed, 1 timeout; 15.0% of map items failed; most common:
    /// command_failed (look at ...)`, when map items failed.
    pub fn errors_line(&self) -> Option<String> {
        let most = self.errors.most_common.as_ref()?;
        if !self
            .nodes
            .iter()
            .any(|n| n.kind.is_item() && n.status == "failed")
        {
            return None;
        }
        let kinds: Vec<String> = self
            .errors
            .by_kind
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        Some(format!(
            "Errors: {}; {:.1}% of map items failed; most common: {} ({})",
            kinds.join(", "),
            self.errors.failure_rate * 100.0,
            most.kind,
            most.hint
        ))
    }

    /// `Claude: 3 calls, $0.0369, 3600 input / 1020 output tokens`, when claude ran.
    pub fn cost_line(&self) -> Option<String> {
        (self.cost.calls > 0).then(|| {
            format!(
                "Claude: {}, ${:.4}, {} input / {} output tokens ({} cached)",
                super::plural(self.cost.calls as usize, "call"),
                self.cost.usd,
                self.cost.input_tokens,
                self.cost.output_tokens,
                self.cost.cache_read_tokens
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::outcome::{Failure, OutputTail};

    fn result(status: NodeStatus) -> NodeResult {
        NodeResult {
            status,
            duration: Duration::from_millis(5),
            cost: Cost::default(),
            output: OutputTail::default(),
            warnings: vec![],
        }
    }

    #[test]
    fn summary_line_counts_each_outcome() {
        let m = Masker::default();
        let nodes = vec![
            NodeRecord::new("a", NodeKind::Step, &result(NodeStatus::Succeeded), &m),
            NodeRecord::new(
                "b",
                NodeKind::MapItem,
                &result(NodeStatus::Failed(Failure::new(
                    FailureKind::CommandFailed,
                    "exit code 1",
                ))),
                &m,
            ),
            NodeRecord::new(
                "c",
                NodeKind::Reduce,
                &result(NodeStatus::Skipped { reason: "x".into() }),
                &m,
            ),
        ];
        let s = Summary::new("j", "w", "failed", Duration::from_millis(2300), nodes);
        assert_eq!(
            s.line(),
            "Summary [2.3s] 3 nodes: 1 ran, 0 cached, 1 failed, 1 skipped"
        );
        assert_eq!(s.cost_line(), None);
    }
}
