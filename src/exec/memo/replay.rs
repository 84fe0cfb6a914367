//! Cache hits: the stored result of a key, its commits and patch re-applied, its
//! captures restored; and why a node that misses runs.

use chrono::Utc;

use super::Memo;
use crate::cache::{ActionEntry, ActionKey, Digest, DirtyReason, EntryStatus, IndexEntry, explain};
use crate::exec::outcome::{NodeResult, NodeStatus, OutputTail};
use crate::exec::repo_change::{self, Change};
use crate::exec::vars::Vars;
use crate::graph::PlanNode;

impl Memo {
    /// A stored result for `key`: the node's last run when it had this key, else any
    /// entry of this key (a revert back to an earlier state is free too).
    pub(super) fn hit(
        &mut self,
        node: &PlanNode,
        key: &Digest,
    ) -> Option<(NodeResult, Option<Vars>, Digest)> {
        let id = format!("{}{}", self.prefix, node.id);
        let last = self.index.nodes.get(&id);
        let fresh = last.is_some_and(|l| l.key == *key && l.status == EntryStatus::Succeeded);
        let needs_entry = !node.kind.is_item() || self.keep_results || self.replay_output;
        if fresh && !needs_entry {
            let output = last.map(|l| l.output)?;
            return Some((cached(OutputTail::default()), None, output));
        }
        let entry = self
            .store
            .get_entry(key)
            .ok()
            .flatten()
            .filter(ActionEntry::is_hit)?;
        if !fresh && self.lock.is_some() {
            // A hit by content (not by the node's last run): the index learns it.
            let record = IndexEntry {
                key: *key,
                output: entry.output_digest,
                status: EntryStatus::Succeeded,
                failure_kind: None,
                finished_at: Utc::now(),
                inputs: last.map(|l| l.inputs.clone()).unwrap_or_default(),
            };
            if let Err(e) = self.append(id, record) {
                self.notes.push(format!("the build cache index: {e}"));
            }
        }
        let change = Change {
            commits: entry.commits.clone(),
            patch: match entry.patch_blob {
                Some(blob) => Some(self.store.get_blob(&blob).ok().flatten()?),
                None => None,
            },
        };
        if !change.is_empty() && !self.tree.applied {
            if self.lock.is_none() {
                return Some((cached(OutputTail::default()), None, entry.output_digest));
            }
            if let Err(e) = repo_change::replay(&self.root, &change) {
                self.notes.push(format!(
                    "{}: cached change not replayed ({e}); running it",
                    node.id
                ));
                return None;
            }
            self.tree_moved();
        }
        let output = OutputTail {
            stdout: entry.stdout(&self.store),
            stderr: entry.stderr(&self.store),
        };
        let vars = (!node.kind.is_item())
            .then(|| Vars::from_captures(&entry.captures, &entry.capture_meta));
        Some((cached(output), vars, entry.output_digest))
    }

    /// Why a node runs, from its last run and the key it had then.
    pub(super) fn reason(&self, node: &PlanNode, key: &ActionKey) -> DirtyReason {
        let id = format!("{}{}", self.prefix, node.id);
        let new = key.to_json();
        let decided = crate::cache::decide(
            self.index.nodes.get(&id),
            &key.digest(),
            false,
            |last| match self.store.get_entry(&last.key) {
                Ok(Some(old)) => explain(&old.key, &new),
                _ => "its key changed (the earlier result is no longer stored)".to_string(),
            },
        );
        match decided {
            crate::cache::Freshness::Dirty(reason) => reason,
            // Fresh by the index, but its entry is gone or its change cannot be replayed.
            crate::cache::Freshness::Fresh { .. } => DirtyReason::KeyChanged {
                what: "its cached result is missing or cannot be replayed".to_string(),
            },
        }
    }
}

fn cached(output: OutputTail) -> NodeResult {
    NodeResult {
        status: NodeStatus::Cached,
        duration: std::time::Duration::ZERO,
        cost: Default::default(),
        output,
        warnings: Vec::new(),
    }
}
