//! The `--dry-run` plan for people: one line per node with its hash, kind and label.

use std::fmt::Write as _;

use super::graph::label;
use crate::exec::memo::CacheStatus;
use crate::graph::{NodeKind, Plan, PlanNode};

/// One line per node in run order, then a count by kind. Nothing is run.
pub fn text(plan: &Plan) -> String {
    let width = plan.nodes().map(|(_, n)| n.id.len()).max().unwrap_or(0);
    let mut out = format!(
        "Plan for workflow `{}` (dry run: nothing is executed)\n",
        plan.workflow().name
    );
    let mut counts = [0usize; 5];
    for (_, node) in plan.nodes() {
        counts[node.kind as usize] += 1;
        let _ = writeln!(
            out,
            "  {:<width$}  {}  {:<11}  {}",
            node.id,
            node.digest.short(),
            node.kind.as_str(),
            label(plan, node)
        );
    }
    let kinds = [
        NodeKind::Step,
        NodeKind::MapItem,
        NodeKind::MapPending,
        NodeKind::Reduce,
        NodeKind::Dlq,
    ];
    let parts: Vec<String> = kinds
        .iter()
        .zip(counts)
        .filter(|(_, c)| *c > 0)
        .map(|(k, c)| format!("{c} {}", k.as_str()))
        .collect();
    let _ = writeln!(
        out,
        "{} would run: {}",
        super::plural(plan.len(), "node"),
        parts.join(", ")
    );
    out
}
/// The `build --dry-run` plan: each node's cache status and why, then the counts.
pub fn build_text(plan: &Plan, rows: &[(&PlanNode, &CacheStatus)]) -> String {
    let width = rows.iter().map(|(n, _)| n.id.len()).max().unwrap_or(0);
    let mut out = format!(
        "Build plan for workflow `{}` (dry run: nothing is executed)\n",
        plan.workflow().name
    );
    let mut counts = [0usize; 3];
    for (node, status) in rows {
        let slot = match status {
            CacheStatus::Cached => 0,
            CacheStatus::Dirty(_) => 1,
            CacheStatus::Pending(_) => 2,
        };
        counts[slot] += 1;
        let why = match status {
            CacheStatus::Cached => String::new(),
            CacheStatus::Dirty(reason) => format!(": {reason}"),
            CacheStatus::Pending(reason) => format!(" ({reason})"),
        };
        let _ = writeln!(
            out,
            "  {:<7}  {:<width$}  {}{why}",
            status.word(),
            node.id,
            label(plan, node)
        );
    }
    let _ = writeln!(
        out,
        "{}: {} cached, {} dirty, {} pending",
        super::plural(rows.len(), "node"),
        counts[0],
        counts[1],
        counts[2]
    );
    out
}

/// `build --dry-run=json`: the graph JSON with each node's `cache` status and reason.
pub fn build_json(plan: &Plan, rows: &[(&PlanNode, &CacheStatus)]) -> serde_json::Value {
    let statuses: super::graph::Statuses = rows
        .iter()
        .map(|(n, s)| (n.id.clone(), (*s).clone()))
        .collect();
    let mut value = super::graph::json(plan, &statuses);
    if let Some(nodes) = value["nodes"].as_array_mut() {
        nodes.retain(|n| n["id"].as_str().is_some_and(|id| statuses.contains_key(id)));
    }
    value["node_count"] = serde_json::json!(rows.len());
    value
}
