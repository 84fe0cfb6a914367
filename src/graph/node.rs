//! The nodes of a plan: what each runs and how it is named.

use serde::Serialize;

use crate::workflow::interpolate::Phase;

/// What kind of work a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeKind {
    /// One step of a standard workflow or of `setup`.
    Step,
    /// One map item: the whole agent template for that item.
    MapItem,
    /// The map, when its items are known only at run time (a command, or setup's output).
    MapPending,
    /// One step of `reduce`; the first waits for every map item.
    Reduce,
    /// A map item that failed in an earlier run (it is in the DLQ), scheduled again.
    Dlq,
}

impl NodeKind {
    /// The name used in every output format.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Step => "step",
            NodeKind::MapItem => "map-item",
            NodeKind::MapPending => "map-pending",
            NodeKind::Reduce => "reduce",
            NodeKind::Dlq => "dlq",
        }
    }

    /// True for the nodes that run one map item (`map-item` and `dlq`).
    pub fn is_item(self) -> bool {
        matches!(self, NodeKind::MapItem | NodeKind::Dlq)
    }
}

/// What a node runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    /// Step `index` of the step list of `phase`.
    Step {
        /// setup, standard or reduce.
        phase: Phase,
        /// Position in that phase's list.
        index: usize,
    },
    /// The agent template for one item.
    Item {
        /// Position after the input pipeline (`${item_index}`).
        index: usize,
        /// The item.
        item: serde_json::Value,
    },
    /// The map, expanded when the workflow runs.
    Pending {
        /// Why the items are not known yet.
        reason: PendingReason,
    },
}

/// Why a map's items are not known when planning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PendingReason {
    /// `input` is a command.
    Command,
    /// `input` is a file that setup writes (or may write: it does not exist yet).
    WrittenBySetup,
    /// `input` uses variables known only at run time.
    Variables,
}

impl PendingReason {
    /// A phrase for people: "expands at run time: ...".
    pub fn describe(&self) -> &'static str {
        match self {
            PendingReason::Command => "the input is a command",
            PendingReason::WrittenBySetup => "setup writes the input file",
            PendingReason::Variables => "the input uses variables set at run time",
        }
    }
}

/// A 32-byte blake3 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// Full lowercase hex.
    pub fn to_hex(&self) -> String {
        blake3::Hash::from_bytes(self.0).to_hex().to_string()
    }

    /// The first 12 hex characters, for people.
    pub fn short(&self) -> String {
        self.to_hex()[..12].to_string()
    }
}

impl std::fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Digest({})", self.short())
    }
}

impl Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

/// One node of a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanNode {
    /// Stable, human-readable id: `setup[0]`, `map/item_17`, `reduce[1]`, `test`.
    pub id: String,
    /// Its kind.
    pub kind: NodeKind,
    /// What it runs.
    pub work: Work,
    /// The digest of everything in the node's definition that decides its result.
    pub digest: Digest,
}
