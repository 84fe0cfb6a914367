//! Turns map item attempts (scheduler events) into DLQ records, on the thread that owns
//! the event stream: failures and cancellations go in, a later success resolves them.

use std::collections::HashMap;

use chrono::Utc;

use super::{DLQ_SCHEMA_VERSION, DlqError, DlqRecord, DlqStore, JobInfo, RecordStatus};
use crate::exec::event::Event;
use crate::exec::outcome::{NodeResult, NodeStatus};
use crate::report::mask::Masker;

/// Writes the attempts of one job to its DLQ.
pub struct Recorder {
    store: DlqStore,
    job: JobInfo,
    job_id: String,
    masker: Masker,
    /// Attempts already recorded per item (from earlier runs of the job, for retries).
    base: HashMap<String, u32>,
    /// Items with a failed or cancelled record, which a success must resolve.
    open: HashMap<String, bool>,
    /// The job is in the DLQ index (it is registered with its first record, so a job
    /// without failures leaves the DLQ untouched).
    registered: bool,
    /// Items of earlier jobs' DLQs that this job runs again (`dlq` nodes), by their
    /// JSON: their records continue under the job and item id they have there.
    carried: HashMap<String, Carried>,
}

/// Where the records of a carried item go.
struct Carried {
    job_id: String,
    item_id: String,
    attempts: u32,
}

impl Recorder {
    /// A recorder for the job (registered in the DLQ index with its first record);
    /// items already in its DLQ continue their attempt count.
    pub fn new(store: DlqStore, job: JobInfo, masker: Masker) -> Result<Self, DlqError> {
        let job_id = job.job_id.clone();
        let job_id = job_id.as_str();
        let mut base = HashMap::new();
        let mut open = HashMap::new();
        let registered = store.jobs()?.iter().any(|j| j.job_id == job_id);
        if registered {
            for item in store.history(Some(job_id))? {
                base.insert(item.item_id.clone(), item.attempts());
                open.insert(item.item_id.clone(), item.latest().status.in_dlq());
            }
        }
        Ok(Recorder {
            store,
            job_id: job_id.to_string(),
            job,
            masker,
            base,
            open,
            registered,
            carried: HashMap::new(),
        })
    }

    /// Items from earlier jobs' DLQs that this job runs again: a success resolves them
    /// in their job, a failure adds to their history there.
    pub fn carry(&mut self, items: &[super::DlqItem]) {
        for item in items.iter().filter(|i| i.job_id != self.job_id) {
            self.carried.insert(
                item.item.to_string(),
                Carried {
                    job_id: item.job_id.clone(),
                    item_id: item.item_id.clone(),
                    attempts: item.latest().attempt,
                },
            );
        }
    }

    /// Records how many items the job's map had, for the failure rate of `dlq stats`
    /// (of a job in the DLQ).
    pub fn record_total(&self, items_total: usize) -> Result<(), DlqError> {
        if !self.registered {
            return Ok(());
        }
        let info = JobInfo {
            items_total: Some(items_total),
            updated_at: Utc::now(),
            ..self.job.clone()
        };
        self.store.register_job(&info)
    }

    /// Records what an event says about a map item (and setup's variables, for
    /// `dlq retry`); other events are ignored.
    pub fn record(&mut self, event: &Event) -> Result<(), DlqError> {
        if let Event::SetupFinished { vars } = event {
            let masked: serde_json::Value =
                serde_json::from_str(&self.masker.mask(&vars.to_string())).unwrap_or_default();
            let mut context = self
                .job
                .context
                .clone()
                .unwrap_or_else(|| serde_json::json!({}));
            context["setup_vars"] = masked;
            self.job.context = Some(context);
            return match self.registered {
                true => self.store.register_job(&self.job),
                false => Ok(()),
            };
        }
        let Event::ItemAttempt {
            id,
            node: Some((index, item, digest)),
            attempt,
            result,
            ..
        } = event
        else {
            return Ok(());
        };
        let own = id.strip_prefix("map/").unwrap_or(id).to_string();
        let carried = self.carried.get(&item.to_string());
        let (job_id, item_id, base, open) = match carried {
            Some(c) => (c.job_id.clone(), c.item_id.clone(), c.attempts, true),
            None => (
                self.job_id.clone(),
                own.clone(),
                self.base.get(&own).copied().unwrap_or(0),
                self.open.get(&own).copied().unwrap_or(false),
            ),
        };
        let (status, kind, message, exit_code) = match &result.status {
            NodeStatus::Failed(f) => (
                RecordStatus::Failed,
                f.kind.name().to_string(),
                f.message.clone(),
                f.exit_code,
            ),
            NodeStatus::Cancelled { reason } => (
                RecordStatus::Cancelled,
                "cancelled".to_string(),
                reason.clone(),
                None,
            ),
            NodeStatus::Succeeded | NodeStatus::Cached if open => (
                RecordStatus::Resolved,
                "resolved".to_string(),
                "succeeded".to_string(),
                None,
            ),
            NodeStatus::Succeeded | NodeStatus::Cached | NodeStatus::Skipped { .. } => {
                return Ok(());
            }
        };
        let retryable = match &result.status {
            NodeStatus::Failed(f) => !f.kind.is_fatal(),
            _ => true,
        };
        let record = self.record_of(
            &job_id,
            &item_id,
            *index,
            item,
            digest,
            base + (*attempt).max(1),
            status,
            kind,
            message,
            exit_code,
            result,
            retryable,
        );
        if carried.is_none() {
            self.open.insert(item_id, status.in_dlq());
        } else if status == RecordStatus::Resolved {
            self.carried.remove(&item.to_string());
        }
        if !self.registered && record.job_id == self.job_id {
            self.store.register_job(&self.job)?;
            self.registered = true;
        }
        self.store.append(&[record])
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "a record has many fields; each comes from a different place"
    )]
    fn record_of(
        &self,
        job_id: &str,
        item_id: &str,
        index: usize,
        item: &serde_json::Value,
        digest: &str,
        attempt: u32,
        status: RecordStatus,
        kind: String,
        message: String,
        exit_code: Option<i32>,
        result: &NodeResult,
        retryable: bool,
    ) -> DlqRecord {
        let finished_at = Utc::now();
        let started_at =
            finished_at - chrono::Duration::from_std(result.duration).unwrap_or_default();
        DlqRecord {
            schema_version: DLQ_SCHEMA_VERSION,
            job_id: job_id.to_string(),
            item_id: item_id.to_string(),
            item: item.clone(),
            item_index: index,
            node_key: digest.to_string(),
            attempt,
            status,
            kind,
            message: self.masker.mask(&message),
            exit_code,
            stderr_tail: self.masker.mask(&result.output.stderr),
            started_at,
            finished_at,
            duration_ms: result.duration.as_millis() as u64,
            correlation_id: format!("{job_id}/map/{item_id}"),
            retryable,
        }
    }
}
