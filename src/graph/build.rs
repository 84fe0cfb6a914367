//! Workflow -> sealed [`Plan`]: one node per step of setup, standard and reduce lists,
//! one per map item (or one pending node when items come at run time), with edges from
//! `needs` or list order, each node hashed.
//!
//! A [`PlanBuilder`] is mutable; [`PlanBuilder::seal`] checks that the graph is acyclic
//! and freezes it into a [`Plan`], the only form the rest of prodigy accepts.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use rayon::prelude::*;

use super::hash::{KEY_SCHEMA_VERSION, NodeKey, env_digest, step_digest, steps_digest};
use super::items::{self, Items, ItemsLoadError};
use super::node::{Digest, NodeKind, PlanNode, Work};
use crate::workflow::interpolate::Phase;
use crate::workflow::schema::{Body, EnvValue, MapReduce, Step, Workflow};

/// Why a workflow could not be compiled into a plan.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Two nodes would have the same id.
    #[error(
        "two nodes are named `{id}`; step ids must be unique across setup, reduce and the workflow"
    )]
    DuplicateId {
        /// The id.
        id: String,
    },
    /// A `needs` entry names no step of its phase.
    #[error("step `{step}` needs `{need}`, which is not a step of the same phase")]
    UnknownNeed {
        /// The step.
        step: String,
        /// The missing id.
        need: String,
    },
    /// The graph has a cycle.
    #[error("the graph has a cycle: {}", nodes.join(" -> "))]
    Cycle {
        /// Every node on the cycle, the first repeated at the end.
        nodes: Vec<String>,
    },
    /// The map's `item_id` field is missing from an item.
    #[error("map item {index} has no `{field}` field, which `item_id` names")]
    MissingItemId {
        /// The item's position.
        index: usize,
        /// The field.
        field: String,
    },
    /// Two items have the same `item_id`.
    #[error("two map items have `{field}` = `{value}`; `item_id` must name each item uniquely")]
    DuplicateItemId {
        /// The field.
        field: String,
        /// The repeated value.
        value: String,
    },
    /// The map's items could not be read.
    #[error(transparent)]
    Items(#[from] ItemsLoadError),
}

impl PlanError {
    /// True when the machine, not the workflow, is at fault (exit code 4).
    pub fn is_environment(&self) -> bool {
        matches!(self, PlanError::Items(ItemsLoadError::Read { .. }))
    }
}

/// Settings that shape a plan.
#[derive(Debug, Clone, Copy)]
pub struct PlanOptions<'a> {
    /// The workflow root: map input files and `inputs:` are relative to it.
    pub root: &'a Path,
    /// The env profile chosen with `--profile`.
    pub profile: Option<&'a str>,
    /// Which part of a map-reduce to plan.
    pub stage: Stage<'a>,
    /// The OS environment: values of `env_passthrough` variables enter node keys.
    pub os_env: &'a BTreeMap<String, String>,
}

/// Which part of a map-reduce workflow a plan covers.
#[derive(Debug, Clone, Copy)]
pub enum Stage<'a> {
    /// Everything; items are read from the input file when they can be (graph, dry run).
    Whole,
    /// Only the setup steps (run first, since setup may write the input).
    Setup,
    /// Everything, with the items read when the job ran setup.
    WithItems(&'a [serde_json::Value]),
    /// Only these map items, with their original positions (`dlq retry`): no setup,
    /// no reduce.
    Retry(&'a [(usize, serde_json::Value)]),
}

/// A sealed, acyclic plan: nodes in a fixed topological order.
#[derive(Debug)]
pub struct Plan {
    workflow: Arc<Workflow>,
    graph: DiGraph<PlanNode, ()>,
    order: Vec<NodeIndex>,
    by_id: HashMap<String, NodeIndex>,
}

impl Plan {
    /// The workflow the plan was compiled from.
    pub fn workflow(&self) -> &Workflow {
        &self.workflow
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True for a plan with no nodes.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Nodes in topological order (stable for the same workflow and inputs).
    pub fn nodes(&self) -> impl Iterator<Item = (NodeIndex, &PlanNode)> {
        self.order.iter().map(|&i| (i, &self.graph[i]))
    }

    /// The node at `index`.
    pub fn node(&self, index: NodeIndex) -> &PlanNode {
        &self.graph[index]
    }

    /// The node named `id`.
    pub fn find(&self, id: &str) -> Option<NodeIndex> {
        self.by_id.get(id).copied()
    }

    /// The nodes `index` depends on, in a stable order.
    pub fn dependencies(&self, index: NodeIndex) -> Vec<NodeIndex> {
        let mut deps: Vec<NodeIndex> = self
            .graph
            .neighbors_directed(index, petgraph::Direction::Incoming)
            .collect();
        deps.sort_unstable();
        deps
    }

    /// The nodes named in `targets` and every node they need, directly or not.
    pub fn needed_by(&self, targets: &[String]) -> std::collections::HashSet<NodeIndex> {
        let mut needed = std::collections::HashSet::new();
        let mut stack: Vec<NodeIndex> = targets.iter().filter_map(|t| self.find(t)).collect();
        while let Some(index) = stack.pop() {
            if needed.insert(index) {
                stack.extend(self.dependencies(index));
            }
        }
        needed
    }

    /// Marks the map items for which `in_dlq` holds as `dlq` nodes (items that failed
    /// in an earlier run and are scheduled again); returns how many.
    pub fn mark_dlq(&mut self, in_dlq: impl Fn(&serde_json::Value) -> bool) -> usize {
        let mut marked = 0;
        for node in self.graph.node_weights_mut() {
            if let (NodeKind::MapItem, Work::Item { item, .. }) = (node.kind, &node.work)
                && in_dlq(item)
            {
                node.kind = NodeKind::Dlq;
                marked += 1;
            }
        }
        marked
    }

    /// The step a node runs, for step and reduce nodes.
    pub fn step(&self, node: &PlanNode) -> Option<&Step> {
        let Work::Step { phase, index } = node.work else {
            return None;
        };
        phase_steps(&self.workflow, phase).get(index)
    }
}

/// The step list of `phase` in `workflow`.
pub fn phase_steps(workflow: &Workflow, phase: Phase) -> &[Step] {
    match (&workflow.body, phase) {
        (Body::Standard { steps }, Phase::Standard) => steps,
        (Body::MapReduce(mr), Phase::Setup) => mr.setup.as_ref().map_or(&[], |s| &s.commands),
        (Body::MapReduce(mr), Phase::Map) => &mr.map.agent_template,
        (Body::MapReduce(mr), Phase::Reduce) => &mr.reduce,
        (_, Phase::Merge) => workflow.merge.as_ref().map_or(&[], |m| &m.commands),
        _ => &[],
    }
}

/// Compiles `workflow` into a sealed plan.
pub fn plan(workflow: Workflow, options: PlanOptions) -> Result<Plan, PlanError> {
    let mut builder = PlanBuilder::new(env_digest(&workflow, options.profile, options.os_env));
    match &workflow.body {
        Body::Standard { steps } => {
            builder.add_phase(Phase::Standard, NodeKind::Step, "step", steps, &[])?;
        }
        Body::MapReduce(mr) => {
            builder.add_mapreduce(mr, options, &static_env(&workflow, options))?
        }
    }
    builder.seal(workflow)
}

/// A plan under construction.
pub struct PlanBuilder {
    graph: DiGraph<PlanNode, ()>,
    by_id: HashMap<String, NodeIndex>,
    env: Digest,
}

impl PlanBuilder {
    /// An empty builder; `env` is the digest of the declared environment.
    pub fn new(env: Digest) -> Self {
        PlanBuilder {
            graph: DiGraph::new(),
            by_id: HashMap::new(),
            env,
        }
    }

    fn add(&mut self, node: PlanNode) -> Result<NodeIndex, PlanError> {
        if self.by_id.contains_key(&node.id) {
            return Err(PlanError::DuplicateId { id: node.id });
        }
        let id = node.id.clone();
        let index = self.graph.add_node(node);
        self.by_id.insert(id, index);
        Ok(index)
    }

    fn key(&self, kind: NodeKind, definition: Digest, item: Option<&serde_json::Value>) -> Digest {
        NodeKey {
            schema_version: KEY_SCHEMA_VERSION,
            kind,
            definition,
            env: self.env,
            item,
        }
        .digest()
    }

    /// Adds one node per step; steps without `needs` follow the step before them, and
    /// the first (or one with `needs: []`) follows `entry`. Returns the phase's sinks.
    fn add_phase(
        &mut self,
        phase: Phase,
        kind: NodeKind,
        prefix: &str,
        steps: &[Step],
        entry: &[NodeIndex],
    ) -> Result<Vec<NodeIndex>, PlanError> {
        let mut local: HashMap<&str, NodeIndex> = HashMap::new();
        let mut nodes = Vec::with_capacity(steps.len());
        for (index, step) in steps.iter().enumerate() {
            let id = step
                .id
                .clone()
                .unwrap_or_else(|| format!("{prefix}[{index}]"));
            let digest = self.key(kind, step_digest(step), None);
            let node = self.add(PlanNode {
                id,
                kind,
                work: Work::Step { phase, index },
                digest,
            })?;
            if let Some(step_id) = &step.id {
                local.insert(step_id, node);
            }
            nodes.push(node);
        }
        let mut has_dependents = vec![false; steps.len()];
        for (index, step) in steps.iter().enumerate() {
            let deps: Vec<NodeIndex> = match &step.needs {
                Some(needs) if !needs.is_empty() => needs
                    .iter()
                    .map(|n| {
                        local
                            .get(n.as_str())
                            .copied()
                            .ok_or_else(|| PlanError::UnknownNeed {
                                step: self.graph[nodes[index]].id.clone(),
                                need: n.clone(),
                            })
                    })
                    .collect::<Result<_, _>>()?,
                Some(_) => entry.to_vec(),
                None if index == 0 => entry.to_vec(),
                None => vec![nodes[index - 1]],
            };
            for dep in deps {
                if let Some(pos) = nodes.iter().position(|n| *n == dep) {
                    has_dependents[pos] = true;
                }
                self.graph.add_edge(dep, nodes[index], ());
            }
        }
        let sinks: Vec<NodeIndex> = nodes
            .iter()
            .zip(&has_dependents)
            .filter(|(_, d)| !**d)
            .map(|(n, _)| *n)
            .collect();
        Ok(if steps.is_empty() {
            entry.to_vec()
        } else {
            sinks
        })
    }

    fn add_mapreduce(
        &mut self,
        mr: &MapReduce,
        options: PlanOptions,
        env: &BTreeMap<String, String>,
    ) -> Result<(), PlanError> {
        if let Stage::Retry(items) = options.stage {
            self.add_items(mr, items.to_vec(), &[])?;
            return Ok(());
        }
        let setup = mr.setup.as_ref().map_or(&[][..], |s| &s.commands[..]);
        let setup_sinks = self.add_phase(Phase::Setup, NodeKind::Step, "setup", setup, &[])?;
        let items = match options.stage {
            Stage::Setup => return Ok(()),
            Stage::WithItems(items) => Items::Known(items.to_vec()),
            Stage::Retry(_) => return Ok(()),
            Stage::Whole => items::load(options.root, mr, env)?,
        };
        let map_nodes = match items {
            Items::Known(items) => {
                self.add_items(mr, items.into_iter().enumerate().collect(), &setup_sinks)?
            }
            Items::Pending(reason) => {
                let digest = self.key(
                    NodeKind::MapPending,
                    steps_digest(&mr.map.agent_template),
                    None,
                );
                let node = self.add(PlanNode {
                    id: "map".into(),
                    kind: NodeKind::MapPending,
                    work: Work::Pending { reason },
                    digest,
                })?;
                for &dep in &setup_sinks {
                    self.graph.add_edge(dep, node, ());
                }
                vec![node]
            }
        };
        let entry = if map_nodes.is_empty() {
            setup_sinks
        } else {
            map_nodes
        };
        self.add_phase(
            Phase::Reduce,
            NodeKind::Reduce,
            "reduce",
            &mr.reduce,
            &entry,
        )?;
        Ok(())
    }

    fn add_items(
        &mut self,
        mr: &MapReduce,
        items: Vec<(usize, serde_json::Value)>,
        deps: &[NodeIndex],
    ) -> Result<Vec<NodeIndex>, PlanError> {
        let template = steps_digest(&mr.map.agent_template);
        let ids = item_ids(mr.map.item_id.as_deref(), &items)?;
        let digests: Vec<Digest> = items
            .par_iter()
            .map(|(_, item)| self.key(NodeKind::MapItem, template, Some(item)))
            .collect();
        let mut nodes = Vec::with_capacity(items.len());
        for (((index, item), id), digest) in items.into_iter().zip(ids).zip(digests) {
            let node = self.add(PlanNode {
                id,
                kind: NodeKind::MapItem,
                work: Work::Item { index, item },
                digest,
            })?;
            for &dep in deps {
                self.graph.add_edge(dep, node, ());
            }
            nodes.push(node);
        }
        Ok(nodes)
    }

    /// Checks the graph is acyclic and freezes it, with `workflow`, into a [`Plan`].
    pub fn seal(self, workflow: Workflow) -> Result<Plan, PlanError> {
        let order = stable_toposort(&self.graph).ok_or_else(|| {
            let cycle = tarjan_scc(&self.graph)
                .into_iter()
                .find(|c| c.len() > 1)
                .unwrap_or_default();
            let mut nodes: Vec<String> = cycle
                .iter()
                .rev()
                .map(|&i| self.graph[i].id.clone())
                .collect();
            if let Some(first) = nodes.first().cloned() {
                nodes.push(first);
            }
            PlanError::Cycle { nodes }
        })?;
        Ok(Plan {
            workflow: Arc::new(workflow),
            graph: self.graph,
            order,
            by_id: self.by_id,
        })
    }
}

/// Kahn's algorithm that always takes the ready node added first, so the order follows
/// the workflow file (setup, items in input order, reduce). `None` on a cycle.
fn stable_toposort(graph: &DiGraph<PlanNode, ()>) -> Option<Vec<NodeIndex>> {
    let mut missing: Vec<usize> = graph
        .node_indices()
        .map(|i| {
            graph
                .neighbors_directed(i, petgraph::Direction::Incoming)
                .count()
        })
        .collect();
    let mut ready: BinaryHeap<Reverse<NodeIndex>> = graph
        .node_indices()
        .filter(|i| missing[i.index()] == 0)
        .map(Reverse)
        .collect();
    let mut order = Vec::with_capacity(graph.node_count());
    while let Some(Reverse(node)) = ready.pop() {
        order.push(node);
        for next in graph.neighbors_directed(node, petgraph::Direction::Outgoing) {
            missing[next.index()] -= 1;
            if missing[next.index()] == 0 {
                ready.push(Reverse(next));
            }
        }
    }
    (order.len() == graph.node_count()).then_some(order)
}

/// The env values known when planning: the workflow's static `env` and the
/// passthrough variables' OS values.
fn static_env(workflow: &Workflow, options: PlanOptions) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = workflow
        .env
        .iter()
        .chain(
            options
                .profile
                .and_then(|p| workflow.profiles.get(p))
                .into_iter()
                .flat_map(|p| p.env.iter()),
        )
        .filter_map(|(k, v)| match v {
            EnvValue::Static(s) => Some((k.clone(), s.clone())),
            _ => None,
        })
        .collect();
    for name in &workflow.env_passthrough {
        if let Some(value) = options.os_env.get(name) {
            env.insert(name.clone(), value.clone());
        }
    }
    env
}

/// `map/item_<n>`, or `map/<value of the item_id field>`.
fn item_ids(
    field: Option<&str>,
    items: &[(usize, serde_json::Value)],
) -> Result<Vec<String>, PlanError> {
    let Some(field) = field else {
        return Ok(items.iter().map(|(i, _)| format!("map/item_{i}")).collect());
    };
    let mut seen = HashMap::with_capacity(items.len());
    items
        .iter()
        .map(|(index, item)| {
            let index = *index;
            let value = crate::workflow::input::item_get(item, field)
                .filter(|v| !v.is_null())
                .ok_or_else(|| PlanError::MissingItemId {
                    index,
                    field: field.to_string(),
                })?;
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if seen.insert(text.clone(), index).is_some() {
                return Err(PlanError::DuplicateItemId {
                    field: field.to_string(),
                    value: text,
                });
            }
            Ok(format!("map/{text}"))
        })
        .collect()
}
