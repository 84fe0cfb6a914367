//! `ActionEntry`: what one run of one node key produced, stored as JSON in a frame of
//! `entries.pack` (`pack.rs`). A hit replays it: captures restored, commits
//! re-applied, stdout available to `--explain` and the summary.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::CACHE_SCHEMA_VERSION;
use super::digest::{hex, hex_map, hex_option};
use super::store::CacheStore;
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
    /// The key's digest, also in the clear in the entry's frame.
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
    /// The digest of stdout: its blob, unless `stdout_text` holds it.
    #[serde(with = "hex")]
    pub stdout_blob: Digest,
    /// The digest of stderr: its blob, unless `stderr_text` holds it.
    #[serde(with = "hex")]
    pub stderr_blob: Digest,
    /// Stdout itself when short (see [`CacheStore::put_output`]); no blob then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout_text: Option<String>,
    /// Stderr itself when short; no blob then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr_text: Option<String>,
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

    /// Reads the entry JSON of `key`: `Ok(None)` for an entry of another schema version
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
                "entry names key `{}`, not the key of its frame",
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

    /// Stdout as the node printed it: inline, or from its blob (empty when the blob is
    /// missing or corrupt, which the store warns about).
    pub fn stdout(&self, store: &CacheStore) -> String {
        output(store, self.stdout_text.as_deref(), &self.stdout_blob)
    }

    /// Stderr, like [`ActionEntry::stdout`].
    pub fn stderr(&self, store: &CacheStore) -> String {
        output(store, self.stderr_text.as_deref(), &self.stderr_blob)
    }

    /// Every blob the entry keeps alive (for `gc`); inline outputs are none.
    pub fn blobs(&self) -> impl Iterator<Item = Digest> + '_ {
        let stdout = self.stdout_text.is_none().then_some(self.stdout_blob);
        let stderr = self.stderr_text.is_none().then_some(self.stderr_blob);
        stdout
            .into_iter()
            .chain(stderr)
            .chain(self.outputs.values().copied())
            .chain(self.patch_blob)
    }
}

/// An output kept `inline`, else the text of its blob.
fn output(store: &CacheStore, inline: Option<&str>, blob: &Digest) -> String {
    match inline {
        Some(text) => text.to_string(),
        None => store
            .get_blob(blob)
            .ok()
            .flatten()
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    /// A succeeded entry for `key_digest` whose stdout and stderr are the blob `blob`.
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
            stdout_text: None,
            stderr_text: None,
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
            let mut prefixed =
                format!(r#"{{"schema_version":{CACHE_SCHEMA_VERSION},"key":"#).into_bytes();
            prefixed.extend_from_slice(&bytes);
            prop_assert!(!matches!(ActionEntry::decode(&prefixed, &key), Ok(Some(_))));
        }
    }
}
