//! Storing a node's run: its outputs (inline when short, else blobs), the action
//! entry, the index record, and the output digest its dependents' keys hold.

use std::collections::BTreeMap;

use chrono::Utc;
use serde_json::{Value, json};

use super::Memo;
use crate::cache::{
    ActionEntry, ActionKey, CacheError, Digest, EntryStatus, IndexEntry, InputStamp, to_hex,
};
use crate::exec::outcome::{Failure, NodeResult, NodeStatus};
use crate::exec::repo_change::{self, Change};
use crate::graph::PlanNode;
use crate::graph::hash::digest_of;

impl Memo {
    #[expect(
        clippy::too_many_arguments,
        reason = "one entry gathers everything a run produced"
    )]
    pub(super) fn store_result(
        &mut self,
        node: &PlanNode,
        result: &NodeResult,
        (key, digest): (ActionKey, Digest),
        captures: (BTreeMap<String, Value>, BTreeMap<String, Value>),
        change: Change,
        output: Digest,
        stamps: Vec<InputStamp>,
    ) -> Result<(), CacheError> {
        let Some(lock) = &self.lock else {
            return Ok(());
        };
        let (status, failure) = match &result.status {
            NodeStatus::Failed(f) => (EntryStatus::Failed, Some(f)),
            _ => (EntryStatus::Succeeded, None),
        };
        let patch_blob = match &change.patch {
            Some(patch) => Some(self.store.put_blob(patch)?),
            None => None,
        };
        if status == EntryStatus::Succeeded && !change.commits.is_empty() {
            let _ = repo_change::keep_alive(&self.root, &to_hex(&digest), &change);
        }
        let (stdout_blob, stdout_text) = self.store.put_output(&result.output.stdout)?;
        let (stderr_blob, stderr_text) = self.store.put_output(&result.output.stderr)?;
        let entry = ActionEntry {
            schema_version: crate::cache::CACHE_SCHEMA_VERSION,
            key: key.to_json(),
            key_digest: digest,
            status,
            failure_kind: failure.map(|f| f.kind.name().to_string()),
            exit_code: failure.and_then(|f: &Failure| f.exit_code),
            duration_ms: u64::try_from(result.duration.as_millis()).unwrap_or(u64::MAX),
            stdout_blob,
            stderr_blob,
            stdout_text,
            stderr_text,
            captures: captures.0,
            capture_meta: captures.1,
            outputs: BTreeMap::new(),
            patch_blob,
            output_digest: output,
            commits: change.commits,
            created_at: Utc::now(),
        };
        self.store.put_entry(&entry, lock)?;
        let record = IndexEntry {
            key: digest,
            output,
            status,
            failure_kind: entry.failure_kind.clone(),
            finished_at: entry.created_at,
            inputs: stamps,
        };
        let id = format!("{}{}", self.prefix, node.id);
        self.append(id, record)
    }
}

/// A node's output digest: its status, stdout, captures, repository change (never
/// times or the whole tree) and, for a map item, the item it worked on; so a
/// dependency that re-ran with the same output leaves its dependents cached.
pub(super) fn output_digest(
    result: &NodeResult,
    captures: &(BTreeMap<String, Value>, BTreeMap<String, Value>),
    change: &Digest,
    item: Option<String>,
) -> Digest {
    let status = match &result.status {
        NodeStatus::Failed(f) => json!({"failed": f.kind.name()}),
        NodeStatus::Skipped { .. } => json!("skipped"),
        _ => json!("succeeded"),
    };
    digest_of(&(
        status,
        &result.output.stdout,
        &captures.0,
        to_hex(change),
        item,
    ))
}
