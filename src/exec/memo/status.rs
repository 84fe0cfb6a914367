//! Cache statuses before a build (`--dry-run`, `--check`, `prodigy graph`): decided
//! in plan order without running or writing anything.

use std::collections::HashMap;

use super::{Lookup, Memo};
use crate::graph::{Plan, PlanNode, Work};

/// A node's cache status before a build, for `--dry-run`, `--check` and `graph`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheStatus {
    /// Its stored result would be replayed.
    Cached,
    /// It would run, for this reason.
    Dirty(String),
    /// Its key depends on a node that has to run first (or on items known at run time).
    Pending(String),
}

impl CacheStatus {
    /// `cached`, `dirty`, `pending`.
    pub fn word(&self) -> &'static str {
        match self {
            CacheStatus::Cached => "cached",
            CacheStatus::Dirty(_) => "dirty",
            CacheStatus::Pending(_) => "pending",
        }
    }

    /// Why it is dirty or pending.
    pub fn reason(&self) -> Option<&str> {
        match self {
            CacheStatus::Cached => None,
            CacheStatus::Dirty(r) | CacheStatus::Pending(r) => Some(r),
        }
    }
}

impl Memo {
    /// The cache status of every node of `plan`, in plan order, deciding without
    /// running or writing anything (the memo should be [`Memo::read_only`]).
    pub fn decide_plan(&mut self, plan: &Plan) -> Vec<CacheStatus> {
        let mut states: HashMap<&str, CacheStatus> = HashMap::new();
        let mut order = Vec::new();
        for (index, node) in plan.nodes() {
            let deps: Vec<&PlanNode> = plan
                .dependencies(index)
                .into_iter()
                .map(|d| plan.node(d))
                .collect();
            let blocked = deps
                .iter()
                .find(|d| !matches!(states.get(d.id.as_str()), Some(CacheStatus::Cached)));
            let status = match (&node.work, blocked) {
                (_, Some(dep)) => CacheStatus::Pending(format!("after {}", dep.id)),
                (Work::Pending { .. }, None) => {
                    CacheStatus::Pending("items known at run time".to_string())
                }
                _ => {
                    let ids: Vec<&str> = deps.iter().map(|d| d.id.as_str()).collect();
                    match self.lookup(plan, node, &ids) {
                        Lookup::Hit(..) => CacheStatus::Cached,
                        Lookup::Run(reason) => CacheStatus::Dirty(
                            reason.map_or_else(|| "not cached".to_string(), |r| r.to_string()),
                        ),
                    }
                }
            };
            states.insert(&node.id, status.clone());
            order.push(status);
        }
        order
    }
}
