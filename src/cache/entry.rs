//! `ActionEntry`: what one run of one node key produced, stored as
//! `entries/<2 hex>/<key hex>.json`. A hit replays it: captures restored, commits
//! re-applied, stdout available to `--explain` and the summary.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::CACHE_SCHEMA_VERSION;
use super::digest::{hex, hex_map, hex_option};
use crate::graph::node::Digest;

/// How a node's run ended, as the cache sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryStatus {
    /// A hit for the next build with the same key.
    Succeeded,
    /// Recorded so that it is re-run (and shown as in the DLQ); never a hit.
    Failed,
}

/// The cached result of one node key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionEntry {
    /// [`super::CACHE_SCHEMA_VERSION`]; an entry of another version is a miss.
    pub schema_version: u32,
    /// The full `NodeKey` as JSON, so `--explain` can diff it with a new key.
    pub key: serde_json::Value,
    /// The key's digest: the entry's name.
    #[serde(with = "hex")]
    pub key_digest: Digest,
    /// Only [`EntryStatus::Succeeded`] entries are hits.
    pub status: EntryStatus,
    /// The failure kind (`timeout`, `command_failed`...) of a failed run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_kind: Option<String>,
    /// The exit code of the last command, when there was one.
    pub exit_code: Option<i32>,
    /// How long the run took.
    pub duration_ms: u64,
    /// The blob of stdout.
    #[serde(with = "hex")]
    pub stdout_blob: Digest,
    /// The blob of stderr.
    #[serde(with = "hex")]
    pub stderr_blob: Digest,
    /// Variables the node captured, restored on a hit.
    pub captures: BTreeMap<String, serde_json::Value>,
    /// Facts about captures (`${name.exit_code}`...), restored with them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub capture_meta: BTreeMap<String, serde_json::Value>,
    /// Declared output files: path relative to the workflow root -> blob.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", with = "hex_map")]
    pub outputs: BTreeMap<String, Digest>,
    /// The blob of the patch the node made to the tree, if it made one.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "hex_option")]
    pub patch_blob: Option<Digest>,
    /// The node's output digest (status, stdout, captures, outputs, change): what its
    /// dependents' keys hold.
    #[serde(with = "hex")]
    pub output_digest: Digest,
    /// Commit ids the node made, oldest first; the caller keeps them alive with refs
    /// under `refs/prodigy/`.
    pub commits: Vec<String>,
    /// When the entry was written; `gc --max-age` counts from here.
    pub created_at: DateTime<Utc>,
}

impl ActionEntry {
    /// True when a build may replay this entry instead of running the node.
    pub fn is_hit(&self) -> bool {
        self.status == EntryStatus::Succeeded
    }

    /// Reads the entry file of `key`: `Ok(None)` for an entry of another schema version
    /// (a silent miss), `Err` with a message for a corrupt one (a miss and a warning).
    pub fn decode(bytes: &[u8], key: &Digest) -> Result<Option<ActionEntry>, String> {
        #[derive(Deserialize)]
        struct Version {
            schema_version: u32,
        }
        match serde_json::from_slice::<ActionEntry>(bytes) {
            Ok(entry) if entry.schema_version != CACHE_SCHEMA_VERSION => Ok(None),
            Ok(entry) if entry.key_digest == *key => Ok(Some(entry)),
            Ok(entry) => Err(format!(
                "entry names key `{}`, not its file name",
                super::to_hex(&entry.key_digest)
            )),
            Err(_)
                if serde_json::from_slice::<Version>(bytes)
                    .is_ok_and(|v| v.schema_version != CACHE_SCHEMA_VERSION) =>
            {
                Ok(None)
            }
            Err(e) => Err(format!("corrupt cache entry ({e})")),
        }
    }

    /// Every blob the entry keeps alive (for `gc`).
    pub fn blobs(&self) -> impl Iterator<Item = Digest> + '_ {
        [self.stdout_blob, self.stderr_blob]
            .into_iter()
            .chain(self.outputs.values().copied())
            .chain(self.patch_blob)
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    /// A succeeded entry for `key_digest` whose stdout and stderr are `blob`.
    pub fn entry(key_digest: Digest, blob: Digest, created_at: DateTime<Utc>) -> ActionEntry {
        ActionEntry {
            schema_version: CACHE_SCHEMA_VERSION,
            key: serde_json::json!({"schema_version": 1, "kind": "step", "definition": "d"}),
            key_digest,
            status: EntryStatus::Succeeded,
            failure_kind: None,
            exit_code: Some(0),
            duration_ms: 12,
            stdout_blob: blob,
            stderr_blob: blob,
            captures: BTreeMap::from([("version".to_string(), serde_json::json!("1.2.3"))]),
            capture_meta: BTreeMap::new(),
            outputs: BTreeMap::new(),
            patch_blob: None,
            output_digest: Digest([0; 32]),
            commits: vec!["c0ffee".to_string()],
            created_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let key = Digest([0xab; 32]);
            let _ = ActionEntry::decode(&bytes, &key);
            let mut prefixed = br#"{"schema_version":1,"key":"#.to_vec();
            prefixed.extend_from_slice(&bytes);
            prop_assert!(!matches!(ActionEntry::decode(&prefixed, &key), Ok(Some(_))));
        }
    }
}
