//! Map item results as the job goes: counts for `${map.*}` in reduce, and the error
//! policy's stop rules (`stop`, `continue_on_failure`, `max_failures`, `failure_threshold`).

use serde_json::{Value, json};

use super::outcome::{NodeResult, NodeStatus};
use super::vars::Vars;
use crate::workflow::schema::{ErrorPolicy, ItemFailure};

/// Map item results, for `${map.*}` in reduce.
#[derive(Debug, Default)]
pub struct MapTally {
    /// Items the map has (finished or not).
    pub planned: usize,
    /// Items that finished (any status).
    pub total: usize,
    /// Items that succeeded.
    pub successful: usize,
    /// Items that failed.
    pub failed: usize,
    /// Items skipped (`on_item_failure: skip`, or every step's `when` false).
    pub skipped: usize,
    /// Items cancelled (the job stopped, or Ctrl-C).
    pub cancelled: usize,
    /// Keep each item's result for `${map.results}` (only when the workflow uses it, so
    /// memory does not grow with the number of items otherwise).
    keep_results: bool,
    results: Vec<Value>,
}

impl MapTally {
    /// An empty tally for a map of `planned` items; `keep_results` keeps each item's
    /// result for `${map.results}`.
    pub fn new(planned: usize, keep_results: bool) -> Self {
        MapTally {
            planned,
            keep_results,
            ..MapTally::default()
        }
    }

    /// Counts a finished item.
    pub fn record(&mut self, id: &str, index: usize, result: &NodeResult) {
        self.total += 1;
        let (status, error) = match &result.status {
            NodeStatus::Succeeded | NodeStatus::Cached => {
                self.successful += 1;
                ("success", None)
            }
            NodeStatus::Failed(f) => {
                self.failed += 1;
                (
                    "failed",
                    Some(f.message.chars().take(200).collect::<String>()),
                )
            }
            NodeStatus::Skipped { .. } => {
                self.skipped += 1;
                ("skipped", None)
            }
            NodeStatus::Cancelled { .. } => {
                self.cancelled += 1;
                ("cancelled", None)
            }
        };
        if !self.keep_results {
            return;
        }
        self.results.push(json!({"item_id": id, "item_index": index, "status": status, "error": error, "output": result.output.stdout}));
    }

    /// Sets `${map.*}`.
    pub fn set_vars(&self, vars: &mut Vars) {
        let rate = if self.total == 0 {
            0.0
        } else {
            self.successful as f64 / self.total as f64 * 100.0
        };
        vars.set(
            "map",
            json!({
                "total": self.total,
                "successful": self.successful,
                "failed": self.failed,
                "skipped": self.skipped,
                "cancelled": self.cancelled,
                "success_rate": (rate * 10.0).round() / 10.0,
                "results": self.results,
                "results_json": Value::Array(self.results.clone()).to_string(),
            }),
        );
    }
}

/// How many items must finish before `failure_threshold` is judged.
pub const MIN_SAMPLE: usize = 5;

/// Why the error policy stops the job after a failed item, if it does.
/// `failed_now` says whether the item that just finished failed: the rate is judged
/// after every item, the other rules only after a failure.
pub fn policy_stop(policy: &ErrorPolicy, map: &MapTally, failed_now: bool) -> Option<String> {
    if failed_now {
        failure_stop(policy, map)
    } else {
        None
    }
    .or_else(|| rate_stop(policy, map))
}

fn failure_stop(policy: &ErrorPolicy, map: &MapTally) -> Option<String> {
    if policy.on_item_failure == ItemFailure::Stop {
        return Some("a map item failed and on_item_failure is `stop`".into());
    }
    if !policy.continue_on_failure {
        return Some("a map item failed and continue_on_failure is false".into());
    }
    if let Some(max) = policy.max_failures
        && map.failed >= max as usize
    {
        return Some(format!(
            "{} map items failed (max_failures: {max})",
            map.failed
        ));
    }
    None
}

fn rate_stop(policy: &ErrorPolicy, map: &MapTally) -> Option<String> {
    // The rate is over the items finished so far, judged once a sample of
    // `MIN_SAMPLE` items (or the whole map, if smaller) has finished: one early failure
    // must not read as "100% failed".
    let items = map.total;
    let sample = MIN_SAMPLE.min(map.planned.max(1));
    if let Some(threshold) = policy.failure_threshold
        && items >= sample
    {
        let rate = map.failed as f64 / items as f64;
        if rate > threshold {
            return Some(format!(
                "failure rate {:.0}% ({} of {} items) is above failure_threshold {:.0}%",
                rate * 100.0,
                map.failed,
                items,
                threshold * 100.0
            ));
        }
    }
    None
}
