//! Workflow -> a sealed DAG of nodes, each with a content hash.

pub mod build;
pub mod hash;
pub mod items;
pub mod node;

#[cfg(test)]
mod proptests;

pub use build::{Plan, PlanError, PlanOptions, Stage, plan};
pub use node::{Digest, NodeKind, PlanNode, Work};
