//! `ActionKey`: everything that decides one node's result when it is about to run,
//! hashed with blake3 over its canonical JSON to name its cache entry. The plan's
//! definition digests (`graph::hash`) are its base; what is only known at run time is
//! added here: declared input contents or the starting tree, the dependencies' *output*
//! digests (early cutoff), the arguments and the claude version.
//!
//! The key is stored as JSON beside the entry, so [`super::explain`] can diff an old
//! and a new key; its field names are the words `--explain` prints (`starting_tree`
//! becomes `starting tree changed`).

use std::collections::BTreeMap;

use serde::Serialize;

use super::digest::to_hex;
use crate::graph::hash::digest_of;
use crate::graph::node::Digest;

/// Bump when the key's meaning changes: old entries become misses, never errors.
pub const ACTION_KEY_VERSION: u32 = 1;

/// The full key of one node run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionKey {
    /// [`ACTION_KEY_VERSION`].
    pub schema_version: u32,
    /// `step`, `map-item`, `reduce`.
    pub kind: &'static str,
    /// The step, or the agent template and failure handlers of a map item (hex digest).
    pub definition: String,
    /// A map item's canonical JSON (hex digest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// The declared environment: name -> hex digest of its definition (secret values
    /// only hashed), so `--explain` can name the variable that changed.
    pub env: BTreeMap<String, String>,
    /// `--args`, `--param`, the workflow's name and the iteration (hex digest).
    pub arguments: String,
    /// Declared `inputs:`: path relative to the workflow root -> content digest (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inputs: Option<BTreeMap<String, String>>,
    /// For a step without `inputs:`: the digest of the tree the build started from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starting_tree: Option<String>,
    /// Each dependency's id and output digest.
    pub dependencies: Vec<Dependency>,
    /// `claude --version`, for nodes with a claude step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claude_version: Option<String>,
}

/// A dependency as its dependents' keys see it: its output, not its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dependency {
    /// The node id.
    pub id: String,
    /// Its output digest (hex).
    pub output: String,
}

impl ActionKey {
    /// The digest naming the key's cache entry.
    pub fn digest(&self) -> Digest {
        digest_of(self)
    }

    /// The key as JSON, stored beside the entry for `--explain`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// A dependency entry of `id` with output `output`.
pub fn dependency(id: &str, output: &Digest) -> Dependency {
    Dependency {
        id: id.to_string(),
        output: to_hex(output),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::explain;

    fn key() -> ActionKey {
        ActionKey {
            schema_version: ACTION_KEY_VERSION,
            kind: "step",
            definition: "d1".into(),
            item: None,
            env: BTreeMap::from([("FOO".into(), "f1".into())]),
            arguments: "a1".into(),
            inputs: Some(BTreeMap::from([("src/a.rs".into(), "aa".into())])),
            starting_tree: None,
            dependencies: vec![dependency("build", &Digest([1; 32]))],
            claude_version: None,
        }
    }

    #[test]
    fn every_field_changes_the_digest_and_explains_itself() {
        let base = key();
        type Edit = Box<dyn Fn(&mut ActionKey)>;
        let cases: Vec<(Edit, &str)> = vec![
            (Box::new(|k| k.definition = "d2".into()), "command changed"),
            (Box::new(|k| k.item = Some("i".into())), "item changed"),
            (Box::new(|k| k.arguments = "a2".into()), "arguments changed"),
            (
                Box::new(|k| {
                    k.env.insert("FOO".into(), "f2".into());
                }),
                "env FOO changed",
            ),
            (
                Box::new(|k| k.inputs = Some(BTreeMap::from([("src/a.rs".into(), "ab".into())]))),
                "input src/a.rs changed",
            ),
            (
                Box::new(|k| k.dependencies = vec![dependency("build", &Digest([2; 32]))]),
                "dependency build produced new output",
            ),
            (
                Box::new(|k| k.starting_tree = Some("t".into())),
                "starting tree changed",
            ),
            (
                Box::new(|k| k.claude_version = Some("2.0".into())),
                "claude version changed",
            ),
        ];
        for (change, why) in cases {
            let mut new = base.clone();
            change(&mut new);
            assert_ne!(new.digest(), base.digest(), "{why}");
            assert_eq!(explain(&base.to_json(), &new.to_json()), why);
        }
        assert_eq!(key().digest(), base.digest(), "the digest is stable");
    }
}
