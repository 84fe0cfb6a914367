//! Runs a sealed plan: the ready queue decides what may start, a rayon pool of `jobs`
//! threads (not the global pool) runs nodes, workers send messages over one channel,
//! and this thread alone (the coordinator) updates the queue, the variables, the error
//! policy and the event sink.
//!
//! Fail-fast by default: after a failed step nothing new starts (running nodes finish),
//! and the nodes that never started are reported as cancelled. `keep_going` skips only
//! the failed node's dependents. A failed map item never blocks reduce; the error
//! policy decides: retries with backoff (the item waits without holding a worker), the
//! circuit breaker (while open, items are rejected as `circuit_open` without running),
//! and the stop rules in `tally`. Ctrl-C / SIGTERM cancel running nodes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::backoff;
use super::breaker::Breaker;
use super::cancel::CancelToken;
use super::event::Event;
use super::memo::{Lookup, Memo};
use super::node::run_node;
use super::outcome::{Cost, Failure, FailureKind, NodeResult, NodeStatus, OutputTail};
use super::queue::{Finish, ReadyQueue};
use super::step::{not_retried, should_retry};
use super::tally::{MapTally, policy_stop};
use super::vars::Vars;
use crate::graph::{NodeKind, Plan, PlanNode, Work};
use crate::workflow::schema::{ErrorPolicy, ItemFailure, RetryPolicy};

/// How a plan is run.
#[derive(Clone)]
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
    /// When every node of this plan must be done (setup `timeout`).
    pub deadline: Option<Instant>,
    /// Time limit of each map item (`agent_timeout_secs`).
    pub agent_timeout: Option<Duration>,
    /// Keep every item's result for `${map.results}`.
    pub keep_results: bool,
    /// `prodigy build TARGET...`: run only these node ids and what they need.
    pub targets: Option<&'a [String]>,
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

/// What workers send the coordinator.
pub enum Message {
    /// Something to report.
    Event(Event),
    /// A node finished.
    Done {
        /// Its position in plan order.
        pos: usize,
        /// What it produced.
        result: NodeResult,
        /// Its variables (not for map items, whose variables stay theirs).
        vars: Option<Vars>,
    },
}

/// Runs `plan`, skipping the nodes named in `done`; `sink` receives every event. With
/// a `memo`, a node whose stored result is fresh is replayed instead of run, and what
/// runs is recorded.
pub fn execute(
    plan: &Plan,
    settings: &Settings,
    vars: Vars,
    done: &[String],
    memo: Option<&mut Memo>,
    sink: &mut dyn FnMut(Event),
) -> Report {
    let nodes: Vec<&PlanNode> = plan.nodes().map(|(_, n)| n).collect();
    let position: BTreeMap<petgraph::graph::NodeIndex, usize> =
        plan.nodes().enumerate().map(|(p, (i, _))| (i, p)).collect();
    let deps: Vec<Vec<usize>> = plan
        .nodes()
        .map(|(i, _)| plan.dependencies(i).iter().map(|d| position[d]).collect())
        .collect();
    let mut queue = ReadyQueue::new(&deps);
    let wanted = settings.targets.map(|t| plan.needed_by(t));
    let mut skipped = 0;
    for ((index, _), (pos, node)) in plan.nodes().zip(nodes.iter().enumerate()) {
        let unwanted = wanted.as_ref().is_some_and(|w| !w.contains(&index));
        if done.contains(&node.id) || unwanted {
            queue.mark_done(pos);
            skipped += 1;
        }
    }
    sink(Event::Planned {
        nodes: nodes.len() - skipped,
    });
    let item_total = nodes.iter().filter(|n| n.kind.is_item()).count();
    let nodes_len = nodes.len();
    let mut co = Coordinator {
        item_total,
        nodes,
        queue,
        settings,
        report: Report {
            vars,
            map: MapTally::new(item_total, settings.keep_results),
            ..Report::default()
        },
        breaker: settings.policy.circuit_breaker.clone().map(Breaker::new),
        retry: item_retry(settings.policy),
        attempts: HashMap::new(),
        trials: Default::default(),
        started: HashMap::new(),
        waiting: Vec::new(),
        deps,
        memo,
        looked_up: vec![false; nodes_len],
        sink,
    };
    let pool = match rayon::ThreadPoolBuilder::new()
        .num_threads(settings.jobs.max(1))
        .build()
    {
        Ok(pool) => pool,
        Err(e) => {
            co.report.stopped = Some(StopReason::Policy(format!(
                "cannot start worker threads: {e}"
            )));
            return co.report;
        }
    };
    let (tx, rx) = mpsc::channel::<Message>();
    pool.in_place_scope(|scope| {
        loop {
            if settings.cancel.is_cancelled() && co.report.stopped.is_none() {
                co.stop(StopReason::Interrupted, "interrupted");
            }
            for (pos, attempt) in co.due_retries() {
                co.spawn(scope, plan, &tx, pos, attempt);
            }
            while let Some((pos, attempt)) = co.next_to_start(plan) {
                co.spawn(scope, plan, &tx, pos, attempt);
            }
            if co.queue.is_finished() {
                break;
            }
            match rx.recv_timeout(co.poll_interval()) {
                Ok(Message::Event(event)) => (co.sink)(event),
                Ok(Message::Done { pos, result, vars }) => co.finish(pos, result, vars),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
    });
    co.report
}

/// Item-level retries: `on_item_failure: retry` (default 3 attempts) or `retry_config`.
fn item_retry(policy: &ErrorPolicy) -> Option<RetryPolicy> {
    match (&policy.retry_config, &policy.on_item_failure) {
        (Some(config), _) => Some(config.clone()),
        (None, ItemFailure::Retry) => Some(RetryPolicy {
            attempts: 3,
            backoff: crate::workflow::schema::Backoff::Exponential {
                initial: crate::workflow::duration::Duration { millis: 1000 },
                multiplier: 2.0,
                max_delay: Some(crate::workflow::duration::Duration { millis: 30_000 }),
            },
            jitter: false,
            jitter_factor: 0.3,
            retry_on: Vec::new(),
            retry_budget: None,
        }),
        (None, _) => None,
    }
}

/// The coordinator's state: one per plan run, owned by the coordinating thread.
struct Coordinator<'p, 's> {
    nodes: Vec<&'p PlanNode>,
    queue: ReadyQueue,
    settings: &'p Settings<'p>,
    report: Report,
    breaker: Option<Breaker>,
    retry: Option<RetryPolicy>,
    attempts: HashMap<usize, u32>,
    /// Items admitted as half-open trials by the circuit breaker.
    trials: std::collections::HashSet<usize>,
    started: HashMap<usize, Instant>,
    /// Items waiting for a retry: (when, position).
    waiting: Vec<(Instant, usize)>,
    item_total: usize,
    /// Each node's dependencies, by position.
    deps: Vec<Vec<usize>>,
    /// The build cache, when results are cached.
    memo: Option<&'s mut Memo>,
    /// Nodes the cache has decided (a node is asked once, however often it is peeked).
    looked_up: Vec<bool>,
    sink: &'s mut dyn FnMut(Event),
}

impl<'p> Coordinator<'p, '_> {
    /// Nodes running on workers (items waiting for a retry hold no worker).
    fn busy(&self) -> usize {
        self.queue.running() - self.waiting.len()
    }

    /// The next node to start, replaying cached nodes and rejecting map items while the
    /// circuit is open.
    fn next_to_start(&mut self, plan: &Plan) -> Option<(usize, u32)> {
        while self.busy() < self.settings.jobs.max(1) {
            let pos = self.queue.peek_ready()?;
            if !std::mem::replace(&mut self.looked_up[pos], true)
                && let Some((result, vars)) = self.lookup(plan, pos)
            {
                self.queue.pop_ready();
                self.finish_cached(pos, result, vars);
                continue;
            }
            let now = Instant::now();
            if self.nodes[pos].kind.is_item()
                && let Some(breaker) = self.breaker.as_mut()
            {
                if breaker.is_saturated(now) {
                    return None;
                }
                match breaker.admit(now) {
                    None => {
                        self.queue.pop_ready();
                        self.reject_open_circuit(pos);
                        continue;
                    }
                    Some(trial) => self.trials.extend(trial.then_some(pos)),
                }
            }
            self.queue.pop_ready();
            return Some((pos, 1));
        }
        None
    }

    /// Asks the cache about a ready node: its replayed result, or `None` to run it.
    fn lookup(&mut self, plan: &Plan, pos: usize) -> Option<(NodeResult, Option<Vars>)> {
        let memo = self.memo.as_mut()?;
        let node = self.nodes[pos];
        let deps: Vec<&str> = self.deps[pos]
            .iter()
            .map(|&d| self.nodes[d].id.as_str())
            .collect();
        match memo.lookup(plan, node, &deps) {
            Lookup::Hit(hit) => Some(*hit),
            Lookup::Run(reason) => {
                if let Some(reason) = reason {
                    (self.sink)(Event::Dirty {
                        id: node.id.clone(),
                        reason: reason.to_string(),
                    });
                }
                None
            }
        }
    }

    /// Finishes a node replayed from the cache.
    fn finish_cached(&mut self, pos: usize, result: NodeResult, vars: Option<Vars>) {
        if self.nodes[pos].kind.is_item() {
            self.finish_item(pos, result);
        } else {
            self.finish(pos, result, vars);
        }
    }

    fn spawn<'scope>(
        &mut self,
        scope: &rayon::Scope<'scope>,
        plan: &'scope Plan,
        tx: &mpsc::Sender<Message>,
        pos: usize,
        attempt: u32,
    ) where
        'p: 'scope,
    {
        let node: &'scope PlanNode = self.nodes[pos];
        let mut vars = self.report.vars.clone();
        if node.kind == NodeKind::Reduce {
            self.report.map.set_vars(&mut vars);
        }
        self.attempts.insert(pos, attempt);
        self.started.insert(pos, Instant::now());
        (self.sink)(Event::NodeStarted {
            id: node.id.clone(),
            kind: node.kind,
        });
        let tx = tx.clone();
        let settings: &'scope Settings<'scope> = self.settings;
        let total = self.item_total;
        scope.spawn(move |_| {
            let (result, vars) = run_node(plan, node, settings, vars, total, attempt, &tx);
            let _ = tx.send(Message::Done { pos, result, vars });
        });
    }

    /// Items whose retry delay has passed.
    fn due_retries(&mut self) -> Vec<(usize, u32)> {
        if self.report.stopped.is_some() {
            return Vec::new();
        }
        let now = Instant::now();
        let free = self.settings.jobs.max(1).saturating_sub(self.busy());
        self.waiting.sort_by_key(|(at, pos)| (*at, *pos));
        let due_count = self
            .waiting
            .iter()
            .take_while(|(at, _)| *at <= now)
            .count()
            .min(free);
        let due: Vec<(Instant, usize)> = self.waiting.drain(..due_count).collect();
        let mut start = Vec::new();
        for (_, pos) in due {
            // A retry goes through the circuit breaker like a new item: rejected while it
            // is open, waiting while every half-open trial slot is taken.
            if let Some(breaker) = self.breaker.as_mut() {
                if breaker.is_saturated(now) {
                    self.waiting.push((now + Duration::from_millis(20), pos));
                    continue;
                }
                match breaker.admit(now) {
                    None => {
                        self.reject_open_circuit(pos);
                        continue;
                    }
                    Some(trial) => self.trials.extend(trial.then_some(pos)),
                }
            }
            start.push((pos, self.attempts.get(&pos).copied().unwrap_or(1) + 1));
        }
        start
    }

    /// How long to wait for a message before looking at timers again.
    fn poll_interval(&self) -> Duration {
        let next = self
            .waiting
            .iter()
            .map(|(at, _)| at.saturating_duration_since(Instant::now()))
            .min();
        next.unwrap_or(Duration::from_millis(100))
            .clamp(Duration::from_millis(1), Duration::from_millis(100))
    }

    /// An item rejected because the circuit breaker is open.
    fn reject_open_circuit(&mut self, pos: usize) {
        let failure = Failure::new(
            FailureKind::CircuitOpen,
            "not started: the circuit breaker is open after consecutive failures",
        );
        let result = not_run(NodeStatus::Failed(failure));
        *self.attempts.entry(pos).or_insert(0) += 1;
        self.finish_item(pos, result);
    }

    /// Records a finished node and applies the policy.
    fn finish(&mut self, pos: usize, result: NodeResult, vars: Option<Vars>) {
        let node = self.nodes[pos];
        if node.kind.is_item() {
            let trial = self.trials.remove(&pos);
            if let Some(breaker) = self.breaker.as_mut()
                && !is_cancelled(&result)
            {
                let success = !matches!(result.status, NodeStatus::Failed(_));
                breaker.record(success, Instant::now(), trial);
            }
            if self.schedule_retry(pos, &result) {
                return;
            }
            self.finish_item(pos, result);
            return;
        }
        if let Some(memo) = self.memo.as_mut() {
            memo.record(node, &result, vars.as_ref());
        }
        let cancelled = is_cancelled(&result);
        let failed = matches!(result.status, NodeStatus::Failed(_)) || cancelled;
        if let Some(v) = vars.filter(|_| !failed) {
            self.report.vars.extend(&v);
        }
        let skipped = self.queue.finish(
            pos,
            if failed {
                Finish::Failed { blocks: true }
            } else {
                Finish::Succeeded
            },
        );
        (self.sink)(Event::NodeFinished {
            id: node.id.clone(),
            kind: node.kind,
            result,
        });
        self.report_skipped(pos, skipped);
        if failed && !cancelled && !self.settings.keep_going && self.report.stopped.is_none() {
            let why = format!(
                "not started: `{}` failed (fail-fast; use --keep-going to continue)",
                node.id
            );
            self.stop(StopReason::StepFailed(node.id.clone()), &why);
        }
    }

    /// Puts a failed item back to wait for its next attempt; false when it is done.
    fn schedule_retry(&mut self, pos: usize, result: &NodeResult) -> bool {
        let (Some(policy), NodeStatus::Failed(failure)) = (&self.retry, &result.status) else {
            return false;
        };
        let attempt = self.attempts.get(&pos).copied().unwrap_or(1);
        if attempt >= policy.attempts || self.report.stopped.is_some() {
            return false;
        }
        if !should_retry(failure, &policy.retry_on) {
            let mut result = result.clone();
            result.status = NodeStatus::Failed(not_retried(failure, &policy.retry_on));
            self.finish_item(pos, result);
            return true;
        }
        let mut delay = backoff::delay(&policy.backoff, attempt);
        let node = self.nodes[pos];
        if policy.jitter {
            delay = backoff::with_jitter(
                delay,
                policy.jitter_factor,
                &format!("{}/{}#{attempt}", self.settings.job_id, node.id),
            );
        }
        (self.sink)(Event::ItemAttempt {
            id: node.id.clone(),
            node: pos_item(node),
            attempt,
            result: result.clone(),
            final_attempt: false,
        });
        (self.sink)(Event::Retrying {
            id: node.id.clone(),
            attempt: attempt + 1,
            delay,
            reason: failure.message.clone(),
        });
        self.waiting.push((Instant::now() + delay, pos));
        true
    }

    /// Records a map item's final result.
    fn finish_item(&mut self, pos: usize, mut result: NodeResult) {
        let node = self.nodes[pos];
        if let Some(memo) = self.memo.as_mut() {
            memo.record(node, &result, None);
        }
        let failed = matches!(result.status, NodeStatus::Failed(_));
        let attempt = self.attempts.get(&pos).copied().unwrap_or(1);
        if failed && self.settings.policy.on_item_failure == ItemFailure::Skip {
            let reason = match &result.status {
                NodeStatus::Failed(f) => f.message.clone(),
                _ => String::new(),
            };
            result.status = NodeStatus::Skipped {
                reason: format!("failed and skipped by on_item_failure: skip ({reason})"),
            };
        }
        (self.sink)(Event::ItemAttempt {
            id: node.id.clone(),
            node: pos_item(node),
            attempt,
            result: result.clone(),
            final_attempt: true,
        });
        if let Work::Item { index, .. } = &node.work {
            self.report.map.record(&node.id, *index, &result);
        }

        let cancelled = is_cancelled(&result);
        self.queue.finish(
            pos,
            if failed {
                Finish::Failed { blocks: false }
            } else {
                Finish::Succeeded
            },
        );
        (self.sink)(Event::NodeFinished {
            id: node.id.clone(),
            kind: node.kind,
            result,
        });
        if !cancelled
            && self.report.stopped.is_none()
            && let Some(why) = policy_stop(self.settings.policy, &self.report.map, failed)
        {
            self.stop(
                StopReason::Policy(why.clone()),
                &format!("not started: {why}"),
            );
        }
    }

    fn report_skipped(&mut self, pos: usize, skipped: Vec<usize>) {
        let id = &self.nodes[pos].id;
        for s in skipped {
            let n = self.nodes[s];
            let result = not_run(NodeStatus::Skipped {
                reason: format!("needs `{id}`, which failed"),
            });
            (self.sink)(Event::NodeFinished {
                id: n.id.clone(),
                kind: n.kind,
                result,
            });
        }
    }

    /// Stops starting nodes; everything not started (and items waiting for a retry)
    /// is reported as cancelled.
    fn stop(&mut self, reason: StopReason, why: &str) {
        if !matches!(reason, StopReason::Interrupted) && !self.settings.keep_going {
            // Fail-fast: running nodes are cancelled too (their process groups killed).
            self.settings.cancel.cancel();
        }
        self.report.stopped = Some(reason);
        let waiting: Vec<usize> = self.waiting.drain(..).map(|(_, pos)| pos).collect();
        let mut never = self.queue.stop();
        for &pos in &waiting {
            self.queue.finish(pos, Finish::Failed { blocks: false });
        }
        never.extend(waiting);
        for pos in never {
            let n = self.nodes[pos];
            let result = not_run(NodeStatus::Cancelled {
                reason: why.to_string(),
            });
            if n.kind.is_item() {
                (self.sink)(Event::ItemAttempt {
                    id: n.id.clone(),
                    node: pos_item(n),
                    attempt: self.attempts.get(&pos).map_or(0, |a| a + 1),
                    result: result.clone(),
                    final_attempt: true,
                });
            }
            (self.sink)(Event::NodeFinished {
                id: n.id.clone(),
                kind: n.kind,
                result,
            });
        }
    }
}

/// The item of a map-item node, for DLQ records.
fn pos_item(node: &PlanNode) -> Option<(usize, serde_json::Value, String)> {
    match &node.work {
        Work::Item { index, item } => Some((*index, item.clone(), node.digest.to_hex())),
        _ => None,
    }
}

fn is_cancelled(result: &NodeResult) -> bool {
    matches!(&result.status, NodeStatus::Cancelled { .. })
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
