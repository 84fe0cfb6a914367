//! Runs a sealed plan: the ready queue decides what may start, a rayon pool of `jobs`
//! threads (not the global pool) runs nodes, workers send messages over one channel,
//! and this thread alone updates the queue, the variables and the event sink.
//!
//! Fail-fast by default: after a failed step nothing new starts (running nodes finish),
//! and the nodes that never started are reported as cancelled. `keep_going` skips only
//! the failed node's dependents. A failed map item never blocks reduce; the error
//! policy decides whether the job stops. Ctrl-C / SIGTERM cancel running nodes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::cancel::CancelToken;
use super::event::Event;
use super::outcome::{Cost, Failure, NodeResult, NodeStatus, OutputTail};
use super::queue::{Finish, ReadyQueue};
use super::step::{Runtime, StepCx, run_node_steps};
use super::vars::Vars;
use crate::graph::{NodeKind, Plan, PlanNode, Work};
use crate::workflow::interpolate::Phase;
use crate::workflow::schema::{ErrorPolicy, ItemFailure};

/// How a plan is run.
pub struct Settings<'a> {
    /// Nodes running at once.
    pub jobs: usize,
    /// After a failed step, keep running what does not depend on it.
    pub keep_going: bool,
    /// What failed map items do to the job.
    pub policy: &'a ErrorPolicy,
    /// The workflow root.
    pub root: &'a std::path::Path,
    /// The claude CLI.
    pub claude_bin: &'a str,
    /// TERM -> KILL grace period.
    pub grace: Duration,
    /// The job id (seeds claude session ids).
    pub job_id: &'a str,
    /// Stops everything.
    pub cancel: &'a CancelToken,
    /// Stream output lines as events (`-v`).
    pub stream_output: bool,
    /// Environment for every command.
    pub env: Arc<Vec<(String, String)>>,
    /// HEAD when the job started, when the workflow uses git context variables.
    pub git_base: Option<Option<git2::Oid>>,
}

/// Map item results, for `${map.*}` in reduce.
#[derive(Debug, Default)]
pub struct MapTally {
    /// Items that finished (any status).
    pub total: usize,
    /// Items that succeeded.
    pub successful: usize,
    /// Items that failed.
    pub failed: usize,
    /// Items skipped by `on_item_failure: skip`.
    pub skipped: usize,
    results: Vec<Value>,
}

impl MapTally {
    fn record(&mut self, id: &str, index: usize, result: &NodeResult) {
        self.total += 1;
        let (status, error) = match &result.status {
            NodeStatus::Succeeded => {
                self.successful += 1;
                ("success", None)
            }
            NodeStatus::Failed(f) => {
                self.failed += 1;
                (
                    "failed",
                    Some(f.message.chars().take(200).collect::<String>()),
                )
            }
            NodeStatus::Skipped { .. } | NodeStatus::Cancelled { .. } => ("skipped", None),
        };
        self.results.push(json!({"item_id": id, "item_index": index, "status": status, "error": error, "output": result.output.stdout}));
    }

    fn set_vars(&self, vars: &mut Vars) {
        let rate = if self.total == 0 {
            0.0
        } else {
            self.successful as f64 / self.total as f64 * 100.0
        };
        vars.set(
            "map",
            json!({
                "total": self.total,
                "successful": self.successful,
                "failed": self.failed,
                "skipped": self.skipped,
                "success_rate": (rate * 10.0).round() / 10.0,
                "results": self.results,
                "results_json": Value::Array(self.results.clone()).to_string(),
            }),
        );
    }
}

/// Why a run stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// A step failed (fail-fast).
    StepFailed(String),
    /// The error policy stopped the job.
    Policy(String),
    /// Ctrl-C or SIGTERM.
    Interrupted,
}

/// What running a plan produced.
#[derive(Debug, Default)]
pub struct Report {
    /// Variables after the run (captures of step nodes).
    pub vars: Vars,
    /// Why it stopped early, if it did.
    pub stopped: Option<StopReason>,
    /// Map results.
    pub map: MapTally,
}

enum Message {
    Event(Event),
    Done {
        pos: usize,
        result: NodeResult,
        vars: Option<Vars>,
    },
}

/// Runs `plan`, skipping the nodes named in `done`; `sink` receives every event.
pub fn execute(
    plan: &Plan,
    settings: &Settings,
    vars: Vars,
    done: &[String],
    sink: &mut dyn FnMut(Event),
) -> Report {
    let nodes: Vec<(petgraph::graph::NodeIndex, &PlanNode)> = plan.nodes().collect();
    let position: BTreeMap<petgraph::graph::NodeIndex, usize> = nodes
        .iter()
        .enumerate()
        .map(|(p, (i, _))| (*i, p))
        .collect();
    let deps: Vec<Vec<usize>> = nodes
        .iter()
        .map(|(i, _)| plan.dependencies(*i).iter().map(|d| position[d]).collect())
        .collect();
    let mut queue = ReadyQueue::new(&deps);
    for (pos, (_, node)) in nodes.iter().enumerate() {
        if done.contains(&node.id) {
            queue.mark_done(pos);
        }
    }
    let item_total = nodes
        .iter()
        .filter(|(_, n)| n.kind == NodeKind::MapItem)
        .count();
    sink(Event::Planned {
        nodes: nodes.len() - done.len(),
    });
    let mut report = Report {
        vars,
        ..Report::default()
    };
    let pool = match rayon::ThreadPoolBuilder::new()
        .num_threads(settings.jobs.max(1))
        .build()
    {
        Ok(pool) => pool,
        Err(e) => {
            report.stopped = Some(StopReason::Policy(format!(
                "cannot start worker threads: {e}"
            )));
            return report;
        }
    };
    let (tx, rx) = mpsc::channel::<Message>();
    pool.in_place_scope(|scope| {
        loop {
            if settings.cancel.is_cancelled() && report.stopped.is_none() {
                report.stopped = Some(StopReason::Interrupted);
                cancel_rest(&mut queue, &nodes, "interrupted", sink);
            }
            while queue.running() < settings.jobs.max(1) {
                let Some(pos) = queue.pop_ready() else { break };
                let node = nodes[pos].1;
                let mut node_vars = report.vars.clone();
                if node.kind == NodeKind::Reduce {
                    report.map.set_vars(&mut node_vars);
                }
                sink(Event::NodeStarted {
                    id: node.id.clone(),
                    kind: node.kind,
                });
                let tx = tx.clone();
                scope.spawn(move |_| {
                    let (result, vars) = run_node(plan, node, settings, node_vars, item_total, &tx);
                    let _ = tx.send(Message::Done { pos, result, vars });
                });
            }
            if queue.is_finished() {
                break;
            }
            let message = match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(m) => m,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            match message {
                Message::Event(event) => sink(event),
                Message::Done { pos, result, vars } => {
                    finish_node(
                        &mut queue,
                        &nodes,
                        pos,
                        result,
                        vars,
                        settings,
                        &mut report,
                        sink,
                    );
                }
            }
        }
    });
    report
}

/// Updates the queue, variables, tallies and policy after a node finished.
#[expect(
    clippy::too_many_arguments,
    reason = "the coordinator's state is passed explicitly rather than hidden in a struct"
)]
fn finish_node(
    queue: &mut ReadyQueue,
    nodes: &[(petgraph::graph::NodeIndex, &PlanNode)],
    pos: usize,
    result: NodeResult,
    vars: Option<Vars>,
    settings: &Settings,
    report: &mut Report,
    sink: &mut dyn FnMut(Event),
) {
    let node = nodes[pos].1;
    let failed = matches!(result.status, NodeStatus::Failed(_));
    let cancelled = matches!(
        result.status,
        NodeStatus::Failed(Failure {
            kind: super::outcome::FailureKind::Cancelled,
            ..
        })
    );
    if let Some(v) = vars.filter(|_| !failed) {
        report.vars.extend(&v);
    }
    let mut result = result;
    if node.kind == NodeKind::MapItem {
        if failed && settings.policy.on_item_failure == ItemFailure::Skip {
            result.status = NodeStatus::Skipped {
                reason: format!(
                    "failed and skipped by on_item_failure: skip ({})",
                    failure_message(&result.status)
                ),
            };
            report.map.skipped += 1;
        }
        if let Work::Item { index, .. } = &node.work {
            report.map.record(&node.id, *index, &result);
        }
    }
    let blocks = failed && node.kind != NodeKind::MapItem;
    let skipped = queue.finish(
        pos,
        if failed {
            Finish::Failed { blocks }
        } else {
            Finish::Succeeded
        },
    );
    sink(Event::NodeFinished {
        id: node.id.clone(),
        kind: node.kind,
        result,
    });
    for s in skipped {
        let (_, n) = nodes[s];
        sink(Event::NodeFinished {
            id: n.id.clone(),
            kind: n.kind,
            result: not_run(NodeStatus::Skipped {
                reason: format!("needs `{}`, which failed", node.id),
            }),
        });
    }
    if cancelled || report.stopped.is_some() {
        return;
    }
    let stop = if blocks && !settings.keep_going {
        Some(StopReason::StepFailed(node.id.clone()))
    } else if node.kind == NodeKind::MapItem && failed {
        policy_stop(settings.policy, &report.map)
    } else {
        None
    };
    if let Some(reason) = stop {
        let why = match &reason {
            StopReason::StepFailed(id) => {
                format!("not started: `{id}` failed (fail-fast; use --keep-going to continue)")
            }
            StopReason::Policy(why) => format!("not started: {why}"),
            StopReason::Interrupted => "interrupted".to_string(),
        };
        report.stopped = Some(reason);
        cancel_rest(queue, nodes, &why, sink);
    }
}

fn failure_message(status: &NodeStatus) -> String {
    match status {
        NodeStatus::Failed(f) => f.message.clone(),
        _ => String::new(),
    }
}

/// Whether the error policy stops the job after a failed item.
fn policy_stop(policy: &ErrorPolicy, map: &MapTally) -> Option<StopReason> {
    if policy.on_item_failure == ItemFailure::Stop {
        return Some(StopReason::Policy(
            "a map item failed and on_item_failure is `stop`".into(),
        ));
    }
    if !policy.continue_on_failure {
        return Some(StopReason::Policy(
            "a map item failed and continue_on_failure is false".into(),
        ));
    }
    if let Some(max) = policy.max_failures
        && map.failed >= max as usize
    {
        return Some(StopReason::Policy(format!(
            "{} map items failed (max_failures: {max})",
            map.failed
        )));
    }
    None
}

fn cancel_rest(
    queue: &mut ReadyQueue,
    nodes: &[(petgraph::graph::NodeIndex, &PlanNode)],
    why: &str,
    sink: &mut dyn FnMut(Event),
) {
    for pos in queue.stop() {
        let node = nodes[pos].1;
        sink(Event::NodeFinished {
            id: node.id.clone(),
            kind: node.kind,
            result: not_run(NodeStatus::Cancelled {
                reason: why.to_string(),
            }),
        });
    }
}

fn not_run(status: NodeStatus) -> NodeResult {
    NodeResult {
        status,
        duration: Duration::ZERO,
        cost: Cost::default(),
        output: OutputTail::default(),
        warnings: Vec::new(),
    }
}

/// Runs one node on a worker thread.
fn run_node(
    plan: &Plan,
    node: &PlanNode,
    settings: &Settings,
    mut vars: Vars,
    item_total: usize,
    tx: &mpsc::Sender<Message>,
) -> (NodeResult, Option<Vars>) {
    let started = Instant::now();
    let id = node.id.clone();
    let on_line = |stream, line: &str| {
        let _ = tx.send(Message::Event(Event::Output {
            id: id.clone(),
            stream,
            line: line.to_string(),
        }));
    };
    let on_retry = |attempt, delay, reason: &str| {
        let _ = tx.send(Message::Event(Event::Retrying {
            id: id.clone(),
            attempt,
            delay,
            reason: reason.to_string(),
        }));
    };
    let mut env = settings.env.clone();
    let steps = match &node.work {
        Work::Step { .. } => plan
            .step(node)
            .map(std::slice::from_ref)
            .unwrap_or_default(),
        Work::Item { index, item } => {
            let mut with_item = env.as_ref().clone();
            item_vars(&mut vars, &mut with_item, node, *index, item, item_total);
            env = Arc::new(with_item);
            crate::graph::build::phase_steps(plan.workflow(), Phase::Map)
        }
        Work::Pending { .. } => &[],
    };
    let rt = Runtime {
        root: settings.root,
        claude_bin: settings.claude_bin,
        cancel: settings.cancel,
        on_line: if settings.stream_output {
            Some(&on_line)
        } else {
            None
        },
        session_seed: format!("{}/{}", settings.job_id, node.id),
        grace: settings.grace,
        on_retry: Some(&on_retry),
        git_base: settings.git_base,
    };
    let mut cx = StepCx::new(&rt, vars, env);
    let status = match run_node_steps(&mut cx, steps) {
        Ok(()) => NodeStatus::Succeeded,
        Err(f) => NodeStatus::Failed(f),
    };
    let result = NodeResult {
        status,
        duration: started.elapsed(),
        cost: cx.cost(),
        output: cx.last.clone(),
        warnings: std::mem::take(&mut cx.warnings),
    };
    let keep_vars = node.kind != NodeKind::MapItem;
    (result, keep_vars.then_some(cx.vars))
}

/// `${item}`, `${item_index}`, ... and the `ITEM_*` environment of a map item.
fn item_vars(
    vars: &mut Vars,
    env: &mut Vec<(String, String)>,
    node: &PlanNode,
    index: usize,
    item: &Value,
    total: usize,
) {
    let item_id = node.id.strip_prefix("map/").unwrap_or(&node.id).to_string();
    vars.set("item", item.clone());
    vars.set("item_json", Value::String(item.to_string()));
    vars.set("item_index", json!(index));
    vars.set("item_total", json!(total));
    vars.set("item_id", Value::String(item_id.clone()));
    env.push(("ITEM_JSON".into(), item.to_string()));
    env.push(("ITEM_INDEX".into(), index.to_string()));
    env.push(("ITEM_ID".into(), item_id));
    match item {
        Value::Object(map) => {
            for (key, value) in map {
                let name: String = key
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() {
                            c.to_ascii_uppercase()
                        } else {
                            '_'
                        }
                    })
                    .collect();
                env.push((
                    format!("ITEM_{name}"),
                    crate::workflow::interpolate::value_text(value),
                ));
            }
        }
        other => env.push((
            "ITEM".into(),
            crate::workflow::interpolate::value_text(other),
        )),
    }
}
