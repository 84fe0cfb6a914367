//! The records the DLQ stores (one JSON line per attempt) and the views built from them:
//! `DlqItem` (one item with its history) and `JobInfo` (an index entry). The store in
//! `store.rs` reads and writes them; `stats.rs` and `report::dlq` consume them.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where an item stands after one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    /// The attempt failed; the item is in the DLQ.
    Failed,
    /// The item never started or was interrupted (fail-fast, `max_failures`, Ctrl-C);
    /// it is in the DLQ and counted separately from failures.
    Cancelled,
    /// A later run succeeded; the item has left the DLQ and stays only in the history.
    Resolved,
}

impl RecordStatus {
    /// `failed`, `cancelled` or `resolved`, as JSON and CSV spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordStatus::Failed => "failed",
            RecordStatus::Cancelled => "cancelled",
            RecordStatus::Resolved => "resolved",
        }
    }

    /// True while the item is in the DLQ (its latest record failed or was cancelled).
    pub fn in_dlq(self) -> bool {
        self != RecordStatus::Resolved
    }
}

/// One attempt of one map item, as a line of `<job_id>.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DlqRecord {
    /// Always [`super::DLQ_SCHEMA_VERSION`] when written by this prodigy.
    pub schema_version: u32,
    /// The job that ran the item (the file the record lives in).
    pub job_id: String,
    /// `item_3`, or the value of the map's `item_id` field.
    pub item_id: String,
    /// The item's JSON.
    pub item: Value,
    /// The item's position in the map input.
    pub item_index: usize,
    /// Hex digest of the node's key.
    pub node_key: String,
    /// 1-based count of every run of this item in this job, retries included.
    pub attempt: u32,
    /// What this attempt did to the item.
    pub status: RecordStatus,
    /// The error kind, snake_case (`command_failed`, `timeout`, `circuit_open`, ...).
    pub kind: String,
    /// What went wrong, in one line.
    pub message: String,
    /// The exit code of the failing command, when a process exited.
    pub exit_code: Option<i32>,
    /// The last lines of stderr, already secret-masked by the caller.
    pub stderr_tail: String,
    /// When the attempt started.
    pub started_at: DateTime<Utc>,
    /// When the attempt ended.
    pub finished_at: DateTime<Utc>,
    /// Wall time of the attempt.
    pub duration_ms: u64,
    /// `<job_id>/<node id>`, also the claude session seed.
    pub correlation_id: String,
    /// Whether the kind is worth retrying automatically.
    pub retryable: bool,
}

/// One item of one job with every record it has, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DlqItem {
    /// The job.
    pub job_id: String,
    /// The item id.
    pub item_id: String,
    /// The item's JSON, from the latest record.
    pub item: Value,
    /// The item's position in the map input, from the latest record.
    pub item_index: usize,
    /// The latest record's status.
    pub status: RecordStatus,
    /// Every record of this item, oldest first (append order); never empty.
    pub history: Vec<DlqRecord>,
}

impl DlqItem {
    /// The latest record.
    pub fn latest(&self) -> &DlqRecord {
        // `group` never builds an item without a record.
        &self.history[self.history.len() - 1]
    }

    /// The number of runs so far: the latest record's attempt.
    pub fn attempts(&self) -> u32 {
        self.latest().attempt
    }
}

/// One job of a workflow, as the DLQ index records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobInfo {
    /// The job id.
    pub job_id: String,
    /// The workflow file the job ran.
    pub workflow_path: PathBuf,
    /// The directory the workflow ran in.
    pub root: PathBuf,
    /// When the job was first registered.
    pub created_at: DateTime<Utc>,
    /// When the job was last registered (every run or retry updates it).
    pub updated_at: DateTime<Utc>,
    /// How many map items the job had, once its map ran (for the failure rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items_total: Option<usize>,
    /// What `dlq retry` needs to run items as the job did: its arguments, parameters,
    /// profile and the variables setup captured (secrets masked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<serde_json::Value>,
}

/// Groups one job's records (in file order) into items, ordered by item index then id.
pub(crate) fn group(job_id: &str, records: Vec<DlqRecord>) -> Vec<DlqItem> {
    let mut grouper = Grouper::new(job_id, false);
    records.into_iter().for_each(|r| grouper.add(r));
    grouper.finish()
}

/// Builds items from a stream of records; with `latest_only`, each item keeps only its
/// latest record, so a long history is never held in memory.
pub(crate) struct Grouper {
    job_id: String,
    latest_only: bool,
    items: std::collections::HashMap<String, DlqItem>,
}

impl Grouper {
    pub(crate) fn new(job_id: &str, latest_only: bool) -> Self {
        Grouper {
            job_id: job_id.to_string(),
            latest_only,
            items: Default::default(),
        }
    }

    pub(crate) fn add(&mut self, record: DlqRecord) {
        let job_id = &self.job_id;
        let item = self
            .items
            .entry(record.item_id.clone())
            .or_insert_with(|| DlqItem {
                job_id: job_id.clone(),
                item_id: record.item_id.clone(),
                item: record.item.clone(),
                item_index: record.item_index,
                status: record.status,
                history: Vec::new(),
            });
        item.item = record.item.clone();
        item.item_index = record.item_index;
        item.status = record.status;
        if self.latest_only {
            item.history.clear();
        }
        item.history.push(record);
    }

    pub(crate) fn finish(self) -> Vec<DlqItem> {
        let mut items: Vec<DlqItem> = self.items.into_values().collect();
        items.sort_by(|a, b| (a.item_index, &a.item_id).cmp(&(b.item_index, &b.item_id)));
        items
    }
}

/// Builders for tests here, in the store and in the renderers.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    /// A failed attempt of `item` in `job`, finished `attempt` minutes after a fixed time.
    pub(crate) fn record(
        job: &str,
        item: &str,
        attempt: u32,
        kind: &str,
        message: &str,
    ) -> DlqRecord {
        let start = DateTime::parse_from_rfc3339("2025-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc)
            + chrono::Duration::minutes(i64::from(attempt));
        let index = item.trim_start_matches("item_").parse().unwrap_or(0);
        DlqRecord {
            schema_version: super::super::DLQ_SCHEMA_VERSION,
            job_id: job.to_string(),
            item_id: item.to_string(),
            item: serde_json::json!({ "file": format!("src/{item}.rs") }),
            item_index: index,
            node_key: "ab12cd34".to_string(),
            attempt,
            status: RecordStatus::Failed,
            kind: kind.to_string(),
            message: message.to_string(),
            exit_code: (kind == "command_failed").then_some(1),
            stderr_tail: "error: boom\nhelp: fix it".to_string(),
            started_at: start,
            finished_at: start + chrono::Duration::milliseconds(1500),
            duration_ms: 1500,
            correlation_id: format!("{job}/map.{item}"),
            retryable: kind == "timeout",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::record;
    use super::*;

    #[test]
    fn groups_history_oldest_first_with_the_latest_status() {
        let mut resolved = record("j", "item_1", 2, "resolved", "succeeded");
        resolved.status = RecordStatus::Resolved;
        let items = group(
            "j",
            vec![
                record("j", "item_2", 1, "timeout", "timed out after 30s"),
                record("j", "item_1", 1, "command_failed", "exit code 1"),
                resolved,
                record("j", "item_2", 2, "command_failed", "exit code 2"),
            ],
        );
        let ids: Vec<&str> = items.iter().map(|i| i.item_id.as_str()).collect();
        assert_eq!(ids, ["item_1", "item_2"]);
        assert_eq!(items[0].status, RecordStatus::Resolved);
        assert_eq!(items[1].status, RecordStatus::Failed);
        assert_eq!(items[1].attempts(), 2);
        let kinds: Vec<&str> = items[1].history.iter().map(|r| r.kind.as_str()).collect();
        assert_eq!(kinds, ["timeout", "command_failed"]);
    }

    #[test]
    fn status_is_snake_case() {
        assert_eq!(
            serde_json::to_string(&RecordStatus::Cancelled).unwrap(),
            "\"cancelled\""
        );
        assert!(!RecordStatus::Resolved.in_dlq());
    }
}
