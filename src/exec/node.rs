//! The worker side of the scheduler: running one node's steps on a pool thread, with
//! the item's variables and `ITEM_*` environment for a map item.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Instant;

use serde_json::{Value, json};

use super::event::Event;
use super::outcome::{Failure, FailureKind, NodeResult, NodeStatus};
use super::scheduler::{Message, Settings};
use super::step::{Runtime, StepCx, run_node_steps};
use super::vars::Vars;
use crate::graph::{Plan, PlanNode, Work};
use crate::workflow::interpolate::Phase;
use crate::workflow::schema::ItemFailure;

/// Runs one node on a worker thread (`attempt` counts item retries from 1).
pub fn run_node(
    plan: &Plan,
    node: &PlanNode,
    settings: &Settings,
    mut vars: Vars,
    item_total: usize,
    attempt: u32,
    tx: &mpsc::Sender<Message>,
) -> (NodeResult, Option<Vars>) {
    let started = Instant::now();
    vars.mark_clean();
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
        session_seed: format!("{}/{}#{attempt}", settings.job_id, node.id),
        grace: settings.grace,
        on_retry: Some(&on_retry),
        git_base: settings.git_base,
        deadline: match node.work {
            Work::Item { .. } => settings.agent_timeout.map(|t| started + t),
            _ => settings.deadline,
        },
    };
    let mut cx = StepCx::new(&rt, vars, env);
    let status = match run_node_steps(&mut cx, steps) {
        Ok(()) if cx.ran == 0 && !steps.is_empty() => NodeStatus::Skipped {
            reason: "`when` is false".into(),
        },
        Ok(()) => NodeStatus::Succeeded,
        Err(f) if f.kind == FailureKind::Cancelled => cancelled_while_running(),
        Err(f) => match custom_handler(plan, settings, node) {
            Some((name, handler)) => run_handler(&mut cx, name, handler, f),
            None => NodeStatus::Failed(f),
        },
    };
    let result = NodeResult {
        status,
        duration: started.elapsed(),
        cost: cx.cost(),
        output: cx.last.clone(),
        warnings: std::mem::take(&mut cx.warnings),
    };
    let keep_vars = !node.kind.is_item();
    (result, keep_vars.then(|| cx.vars.take_changes()))
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

/// The `on_item_failure: custom:<name>` handler for a failed map item.
fn custom_handler<'p>(
    plan: &'p Plan,
    settings: &Settings,
    node: &PlanNode,
) -> Option<(&'p str, &'p [crate::workflow::schema::Step])> {
    let ItemFailure::Custom(name) = &settings.policy.on_item_failure else {
        return None;
    };
    if !node.kind.is_item() {
        return None;
    }
    plan.workflow()
        .handlers
        .get_key_value(name)
        .map(|(k, v)| (k.as_str(), &v[..]))
}

/// Runs a custom handler with `${error.*}` set: success recovers the item.
fn run_handler(
    cx: &mut StepCx,
    name: &str,
    handler: &[crate::workflow::schema::Step],
    failure: Failure,
) -> NodeStatus {
    let kind = failure.kind.name();
    cx.vars.set(
        "error",
        json!({"message": failure.message, "kind": kind, "exit_code": failure.exit_code}),
    );
    match run_node_steps(cx, handler) {
        Ok(()) => {
            cx.warnings.push(format!(
                "recovered by handler `{name}` after: {}",
                failure.message
            ));
            NodeStatus::Succeeded
        }
        Err(h) if h.kind == FailureKind::Cancelled => cancelled_while_running(),
        Err(h) => NodeStatus::Failed(Failure {
            message: format!(
                "{}; handler `{name}` failed too: {}",
                failure.message, h.message
            ),
            ..failure
        }),
    }
}

/// The status of a node whose run was cancelled (Ctrl-C, fail-fast).
fn cancelled_while_running() -> NodeStatus {
    NodeStatus::Cancelled {
        reason: "cancelled while running".into(),
    }
}
