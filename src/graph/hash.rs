//! Node keys: everything in a node's definition that decides its result, hashed with
//! blake3 over canonical JSON.
//!
//! What enters the key here (known when planning): the key schema version, the node
//! kind, the step definition (or the map's agent template), the environment the
//! workflow declares (secret values only as their hash), the item's JSON for a map
//! item, and the declared `inputs:` patterns. Never absolute paths or the OS
//! environment, so that two checkouts on two machines agree. What can only be known
//! when running (input file contents, dependencies' output digests, the claude
//! version) is added by the cache layer on top of this digest.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;

use super::node::{Digest, NodeKind};
use crate::workflow::schema::{EnvValue, Secret, Step, Workflow};

/// Bump when the key's meaning changes: old cache entries become misses, not errors.
pub const KEY_SCHEMA_VERSION: u32 = 1;

/// The hashed definition of one node.
#[derive(Debug, Serialize)]
pub struct NodeKey<'a> {
    /// [`KEY_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The node kind.
    pub kind: NodeKind,
    /// Digest of the step, or of the agent template for a map item.
    pub definition: Digest,
    /// Digest of the declared environment.
    pub env: Digest,
    /// The map item, for a map-item node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<&'a serde_json::Value>,
}

impl NodeKey<'_> {
    /// The blake3 digest of the key's canonical JSON.
    pub fn digest(&self) -> Digest {
        digest_of(self)
    }
}

/// blake3 of the JSON encoding of `value` (struct fields in declaration order, maps
/// sorted: our maps are `BTreeMap`s, and serde_json objects are sorted).
pub fn digest_of<T: Serialize + ?Sized>(value: &T) -> Digest {
    let mut hasher = HashWriter(blake3::Hasher::new());
    // Writing to a hasher cannot fail, and our types always serialize.
    let _ = serde_json::to_writer(&mut hasher, value);
    Digest(*hasher.0.finalize().as_bytes())
}

struct HashWriter(blake3::Hasher);

impl Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Digest of one step's definition.
pub fn step_digest(step: &Step) -> Digest {
    digest_of(step)
}

/// Digest of a list of steps (the agent template).
pub fn steps_digest(steps: &[Step]) -> Digest {
    digest_of(steps)
}

/// The environment a workflow declares, with secret values replaced by their hash.
#[derive(Serialize)]
struct DeclaredEnv<'a> {
    env: &'a BTreeMap<String, EnvValue>,
    secrets: BTreeMap<&'a str, String>,
    env_files: &'a [String],
    passthrough: BTreeMap<&'a str, Option<&'a str>>,
    profile: Option<(&'a str, &'a BTreeMap<String, EnvValue>)>,
}

/// The environment `workflow` declares, by variable: name -> hex digest of its
/// definition (a profile's overriding the workflow's; a secret's value only hashed;
/// an `env_passthrough` variable's OS value; each env file by its path). What a cache
/// key holds, so that `--explain` can say `env FOO changed`.
pub fn env_map(
    workflow: &Workflow,
    profile: Option<&str>,
    os_env: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    fn hex<T: Serialize + ?Sized>(value: &T) -> String {
        digest_of(value).to_hex()
    }
    let mut map = BTreeMap::new();
    for (name, value) in &workflow.env {
        map.insert(name.clone(), hex(value));
    }
    if let Some(profile) = profile.and_then(|p| workflow.profiles.get(p)) {
        for (name, value) in &profile.env {
            map.insert(name.clone(), hex(value));
        }
    }
    for (name, secret) in &workflow.secrets {
        map.insert(name.clone(), hex(&secret_text(secret)));
    }
    for name in &workflow.env_passthrough {
        map.insert(name.clone(), hex(&os_env.get(name)));
    }
    for file in &workflow.env_files {
        map.insert(format!("env_file:{file}"), hex(file));
    }
    map
}

/// A secret as a key sees it: a value only as its hash, a provider by its reference.
fn secret_text(secret: &Secret) -> String {
    match secret {
        Secret::Value(v) => format!("value:{}", blake3::hash(v.as_bytes()).to_hex()),
        Secret::Provider {
            provider,
            key,
            version,
        } => format!("{provider}:{key}:{}", version.as_deref().unwrap_or("")),
    }
}

/// Digest of the environment `workflow` declares, with the chosen `profile` and the
/// OS values of its `env_passthrough` variables.
pub fn env_digest(
    workflow: &Workflow,
    profile: Option<&str>,
    os_env: &BTreeMap<String, String>,
) -> Digest {
    let secrets = workflow
        .secrets
        .iter()
        .map(|(name, secret)| (name.as_str(), secret_text(secret)))
        .collect();
    let profile = profile
        .and_then(|p| workflow.profiles.get_key_value(p))
        .map(|(k, v)| (k.as_str(), &v.env));
    digest_of(&DeclaredEnv {
        env: &workflow.env,
        secrets,
        env_files: &workflow.env_files,
        passthrough: workflow
            .env_passthrough
            .iter()
            .map(|n| (n.as_str(), os_env.get(n).map(String::as_str)))
            .collect(),
        profile,
    })
}
