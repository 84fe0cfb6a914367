//! The `--dry-run` plan for people: one line per node with its hash, kind and label.

use std::fmt::Write as _;

use super::graph::label;
use crate::graph::{NodeKind, Plan};

/// One line per node in run order, then a count by kind. Nothing is run.
pub fn text(plan: &Plan) -> String {
    let width = plan.nodes().map(|(_, n)| n.id.len()).max().unwrap_or(0);
    let mut out = format!(
        "Plan for workflow `{}` (dry run: nothing is executed)\n",
        plan.workflow().name
    );
    let mut counts = [0usize; 4];
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
