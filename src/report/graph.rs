//! Renders a [`Plan`] as text, Graphviz DOT, Mermaid or JSON (`prodigy graph`).
//!
//! Large maps collapse into one group node in text, DOT and Mermaid unless `expand` is
//! set; JSON always lists every node.

use std::fmt::Write as _;

use petgraph::graph::NodeIndex;
use serde_json::json;

use crate::exec::memo::CacheStatus;
use crate::graph::{NodeKind, Plan, PlanNode, Work};

/// Each node's cache status by id; empty when the cache could not be read.
pub type Statuses = std::collections::HashMap<String, CacheStatus>;
use crate::workflow::schema::{Action, Step};

/// Maps with more items than this collapse into one group unless expanded.
pub const COLLAPSE_AFTER: usize = 8;

/// A short description of what a node does, for people.
pub fn label(plan: &Plan, node: &PlanNode) -> String {
    match &node.work {
        Work::Step { .. } => plan.step(node).map_or_else(String::new, step_label),
        Work::Item { item, .. } => truncate(&match item {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }),
        Work::Pending { reason } => format!("expands at run time: {}", reason.describe()),
    }
}

/// `shell: cargo test`, or the step's name when it has one.
pub fn step_label(step: &Step) -> String {
    if let Some(name) = &step.name {
        return truncate(name);
    }
    let text = match &step.action {
        Action::Shell(c) => format!("shell: {c}"),
        Action::Claude(c) => format!("claude: {c}"),
        Action::WriteFile(w) => format!("write_file: {}", w.path),
        Action::Foreach(_) => "foreach".to_string(),
        Action::GoalSeek(g) => format!("goal_seek: {}", g.goal),
        Action::Ignored(key) => format!("{key} (ignored)"),
    };
    truncate(&text)
}

fn truncate(text: &str) -> String {
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let more = text.trim().lines().count() > 1;
    if line.chars().count() > 60 {
        format!("{}…", line.chars().take(59).collect::<String>())
    } else if more {
        format!("{line} …")
    } else {
        line.to_string()
    }
}

/// A node to draw: one plan node, or a collapsed run of map items.
enum Shown<'p> {
    Node(NodeIndex, &'p PlanNode),
    Items {
        first: &'p PlanNode,
        last: &'p PlanNode,
        count: usize,
        members: Vec<NodeIndex>,
    },
}

/// The nodes to draw, in topological order, with big maps collapsed.
fn shown(plan: &Plan, expand: bool) -> Vec<Shown<'_>> {
    let items: Vec<(NodeIndex, &PlanNode)> =
        plan.nodes().filter(|(_, n)| n.kind.is_item()).collect();
    let collapse = !expand && items.len() > COLLAPSE_AFTER;
    let mut out = Vec::new();
    let mut placed = false;
    for (index, node) in plan.nodes() {
        if collapse && node.kind.is_item() {
            if !placed {
                placed = true;
                out.push(Shown::Items {
                    first: items[0].1,
                    last: items[items.len() - 1].1,
                    count: items.len(),
                    members: {
                        let mut m: Vec<NodeIndex> = items.iter().map(|(i, _)| *i).collect();
                        m.sort_unstable();
                        m
                    },
                });
            }
            continue;
        }
        out.push(Shown::Node(index, node));
    }
    out
}

/// Ids to draw for the dependencies of `index`, with collapsed items as one name.
fn shown_deps(plan: &Plan, shown: &[Shown], index: NodeIndex) -> Vec<String> {
    let mut deps: Vec<String> = Vec::new();
    for dep in plan.dependencies(index) {
        let name = group_of(shown, dep).unwrap_or_else(|| plan.node(dep).id.clone());
        if !deps.contains(&name) {
            deps.push(name);
        }
    }
    deps
}

fn group_of(shown: &[Shown], index: NodeIndex) -> Option<String> {
    shown.iter().find_map(|s| match s {
        Shown::Items { members, .. } if members.binary_search(&index).is_ok() => {
            Some(GROUP_ID.to_string())
        }
        _ => None,
    })
}

/// The id of a collapsed map group.
const GROUP_ID: &str = "map/*";

fn group_label(first: &PlanNode, last: &PlanNode, count: usize) -> String {
    format!("{count} map items: {} … {}", first.id, last.id)
}

/// What every format draws for one shown node.
struct Drawn {
    id: String,
    /// `None` for a collapsed group of map items.
    kind: Option<NodeKind>,
    label: String,
    deps: Vec<String>,
    /// `cached`, `dirty: why`, `pending (after x)`; for a group, its counts.
    status: Option<String>,
    /// The class of the status: `cached`, `dirty` or `pending` (the worst of a group).
    class: Option<&'static str>,
}

impl Drawn {
    fn new(plan: &Plan, shown: &[Shown], s: &Shown, statuses: &Statuses) -> Drawn {
        match s {
            Shown::Node(i, n) => {
                let status = statuses.get(&n.id);
                Drawn {
                    id: n.id.clone(),
                    kind: Some(n.kind),
                    label: label(plan, n),
                    deps: shown_deps(plan, shown, *i),
                    status: status.map(describe),
                    class: status.map(CacheStatus::word),
                }
            }
            Shown::Items {
                first,
                last,
                count,
                members,
            } => {
                let (status, class) = group_status(plan, members, statuses);
                Drawn {
                    id: GROUP_ID.to_string(),
                    kind: None,
                    label: group_label(first, last, *count),
                    deps: shown_deps(plan, shown, members[0]),
                    status,
                    class,
                }
            }
        }
    }

    /// The label with the node id on a line of its own (`sep`), except for groups,
    /// and the cache status on the last line.
    fn titled(&self, sep: &str) -> String {
        let title = match self.kind {
            Some(_) => format!("{}{sep}{}", self.id, self.label),
            None => self.label.clone(),
        };
        match &self.status {
            Some(status) => format!("{title}{sep}{status}"),
            None => title,
        }
    }
}

/// `cached`, `dirty: item changed`, `pending (after build)`.
fn describe(status: &CacheStatus) -> String {
    match status {
        CacheStatus::Cached => "cached".to_string(),
        CacheStatus::Dirty(why) => format!("dirty: {why}"),
        CacheStatus::Pending(why) if why.starts_with("after ") => format!("pending {why}"),
        CacheStatus::Pending(why) => format!("pending: {why}"),
    }
}

/// The counts of a collapsed group (`3 cached, 1 dirty`) and its worst class.
fn group_status(
    plan: &Plan,
    members: &[NodeIndex],
    statuses: &Statuses,
) -> (Option<String>, Option<&'static str>) {
    let mut counts: Vec<(&'static str, usize)> = Vec::new();
    for status in members
        .iter()
        .filter_map(|&m| statuses.get(&plan.node(m).id))
    {
        match counts.iter_mut().find(|(w, _)| *w == status.word()) {
            Some((_, n)) => *n += 1,
            None => counts.push((status.word(), 1)),
        }
    }
    if counts.is_empty() {
        return (None, None);
    }
    counts.sort_by_key(|(w, _)| ["cached", "dirty", "pending"].iter().position(|x| x == w));
    let text = counts
        .iter()
        .map(|(w, n)| format!("{n} {w}"))
        .collect::<Vec<_>>()
        .join(", ");
    (Some(text), counts.last().map(|(w, _)| *w))
}

/// The plan as an indented list: one line per node with its kind, label, cache status
/// and needs.
pub fn text(plan: &Plan, expand: bool, statuses: &Statuses) -> String {
    let shown = shown(plan, expand);
    let mut out = format!(
        "workflow `{}`: {}\n",
        plan.workflow().name,
        super::plural(plan.len(), "node")
    );
    for s in &shown {
        let d = Drawn::new(plan, &shown, s, statuses);
        let kind = d.kind.map_or("map-item", NodeKind::as_str);
        let status = d
            .status
            .as_ref()
            .map(|s| format!("  ({s})"))
            .unwrap_or_default();
        let _ = writeln!(out, "{}  [{kind}]  {}{status}", d.id, d.label);
        if !d.deps.is_empty() {
            let _ = writeln!(out, "    needs: {}", d.deps.join(", "));
        }
    }
    out
}

/// The fill colour of a cache status in DOT.
fn fill(class: &str) -> &'static str {
    match class {
        "cached" => "#d8f0d8",
        "dirty" => "#ffe2b8",
        _ => "#e8e8e8",
    }
}

/// The plan as a Graphviz digraph; nodes are filled by cache status.
pub fn dot(plan: &Plan, expand: bool, statuses: &Statuses) -> String {
    let shown = shown(plan, expand);
    let mut out = format!(
        "digraph {} {{\n  rankdir=TB;\n  node [shape=box, fontname=\"Helvetica\"];\n",
        dot_quote(&plan.workflow().name)
    );
    let mut edges = String::new();
    for s in &shown {
        let d = Drawn::new(plan, &shown, s, statuses);
        let shape = d.kind.map_or("box3d", shape);
        let style = d
            .class
            .map(|c| format!(", style=filled, fillcolor=\"{}\"", fill(c)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {} [label={}, shape={shape}{style}];",
            dot_quote(&d.id),
            dot_quote(&d.titled("\n"))
        );
        for dep in &d.deps {
            let _ = writeln!(edges, "  {} -> {};", dot_quote(dep), dot_quote(&d.id));
        }
    }
    out.push_str(&edges);
    out.push_str("}\n");
    out
}

fn shape(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::Step => "box",
        NodeKind::MapItem | NodeKind::Dlq => "component",
        NodeKind::MapPending => "box3d",
        NodeKind::Reduce => "invhouse",
    }
}

fn dot_quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The plan as a Mermaid flowchart; nodes get a class by cache status.
pub fn mermaid(plan: &Plan, expand: bool, statuses: &Statuses) -> String {
    let shown = shown(plan, expand);
    let mut names: Vec<String> = Vec::new();
    let mut out = String::from("flowchart TD\n");
    let mut edges = String::new();
    let mut classes = String::new();
    for (n, s) in shown.iter().enumerate() {
        let d = Drawn::new(plan, &shown, s, statuses);
        if let Some(class) = d.class {
            let _ = writeln!(classes, "  class n{n} {class}");
        }
        let text = d.titled("<br/>");
        let (id, deps) = (d.id, d.deps);
        names.push(id);
        let _ = writeln!(out, "  n{n}[\"{}\"]", mermaid_escape(&text));
        for dep in deps {
            if let Some(d) = names.iter().position(|x| *x == dep) {
                let _ = writeln!(edges, "  n{d} --> n{n}");
            }
        }
    }
    out.push_str(&edges);
    if !classes.is_empty() {
        for class in ["cached", "dirty", "pending"] {
            let _ = writeln!(out, "  classDef {class} fill:{}", fill(class));
        }
        out.push_str(&classes);
    }
    out
}

fn mermaid_escape(text: &str) -> String {
    text.replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
        .replace("#lt;br/#gt;", "<br/>")
}

/// The whole plan as JSON: every node with its kind, label, dependencies, hash and
/// cache status (`"cache": {"status", "reason"}`, when known).
pub fn json(plan: &Plan, statuses: &Statuses) -> serde_json::Value {
    let nodes: Vec<serde_json::Value> = plan
        .nodes()
        .map(|(index, node)| {
            let mut value = json!({
                "id": node.id,
                "kind": node.kind,
                "label": label(plan, node),
                "needs": plan.dependencies(index).into_iter().map(|d| plan.node(d).id.clone()).collect::<Vec<_>>(),
                "hash": node.digest,
            });
            if let Work::Item { index, item } = &node.work {
                value["item_index"] = json!(index);
                value["item"] = item.clone();
            }
            if let Work::Pending { reason } = &node.work {
                value["pending"] = json!(reason);
            }
            if let Some(status) = statuses.get(&node.id) {
                value["cache"] = json!({"status": status.word(), "reason": status.reason()});
            }
            value
        })
        .collect();
    json!({
        "schema_version": 1,
        "workflow": plan.workflow().name,
        "node_count": plan.len(),
        "nodes": nodes,
    })
}
