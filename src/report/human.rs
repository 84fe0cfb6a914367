//! The consumer of job events: status lines (`Ran`, `Failed`, `Skipped`, `Cancelled`),
//! failure output, progress (only on a terminal outside CI), the events file, and the
//! record the summary is built from. The only code that prints while a job runs.

use std::io::Write;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use super::mask::Masker;
use super::summary::{NodeRecord, Summary};
use crate::exec::event::Event;
use crate::exec::outcome::NodeStatus;
use crate::exec::process::Stream;
use crate::graph::NodeKind;
use crate::workflow::schema::ErrorCollection;

/// How the reporter prints.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// ANSI colors (a terminal, and `NO_COLOR` unset).
    pub color: bool,
    /// A progress bar (stderr is a terminal and `CI` is unset).
    pub progress: bool,
    /// `-v`: print every output line as it arrives.
    pub verbose: bool,
    /// When map item failure details are printed (`error_policy.error_collection`).
    pub collection: ErrorCollection,
    /// `--replay-output`: a cached node prints its stored output.
    pub replay_output: bool,
}

/// Consumes events; owns stderr while the job runs.
pub struct Reporter {
    style: Style,
    masker: Masker,
    bar: Option<ProgressBar>,
    events: Option<std::io::BufWriter<std::fs::File>>,
    job_id: String,
    started: Instant,
    running: std::collections::HashSet<String>,
    /// Failure details of map items waiting for `error_collection` to print them.
    pending: Vec<(String, String)>,
    failed: usize,
    /// `Cached` lines not printed yet: they come in bursts, and are written together
    /// with the next other line (one write instead of one per node).
    held: std::cell::RefCell<String>,
    /// Every finished node, in finishing order.
    pub records: Vec<NodeRecord>,
}

/// Held `Cached` lines are written once they reach this size.
const HELD_LIMIT: usize = 64 << 10;

impl Reporter {
    /// A reporter for job `job_id`; `events` receives JSON Lines when given.
    pub fn new(style: Style, masker: Masker, job_id: &str, events: Option<std::fs::File>) -> Self {
        let bar = style.progress.then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} nodes, {msg} (eta {eta})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        let mut reporter = Reporter {
            style,
            masker,
            bar,
            events: events.map(std::io::BufWriter::new),
            job_id: job_id.to_string(),
            started: Instant::now(),
            running: Default::default(),
            pending: Vec::new(),
            failed: 0,
            held: Default::default(),
            records: Vec::new(),
        };
        reporter.write_json(serde_json::json!({"event": "job_started"}));
        reporter
    }

    /// Handles one event.
    pub fn handle(&mut self, event: Event) {
        self.write_event(&event);
        match event {
            Event::Planned { nodes } => {
                if let Some(bar) = &self.bar {
                    bar.inc_length(nodes as u64);
                }
            }
            Event::ItemAttempt { .. } | Event::SetupFinished { .. } => {}
            Event::Dirty { id, reason } => {
                let text = format!(
                    "{} {id}: {}",
                    self.verb("Dirty", 35),
                    self.masker.mask(&reason)
                );
                self.line(&text);
            }
            Event::NodeStarted { id, kind } => {
                // Something runs now: what was replayed so far is shown before it.
                self.release();
                if !kind.is_item() {
                    self.flush_failures();
                }
                self.running.insert(id);
                self.update_bar();
            }
            Event::Output { id, stream, line } => {
                if self.style.verbose {
                    let tag = if stream == Stream::Stderr { "!" } else { "|" };
                    self.line(&format!("{id} {tag} {}", self.masker.mask(&line)));
                }
            }
            Event::Retrying {
                id,
                attempt,
                delay,
                reason,
            } => {
                let text = format!(
                    "{} {id}: attempt {attempt} in {:.1}s after: {}",
                    self.verb("Retrying", 33),
                    delay.as_secs_f64(),
                    self.masker.mask(&reason)
                );
                self.line(&text);
            }
            Event::NodeFinished { id, kind, result } => {
                self.running.remove(&id);
                self.failed += usize::from(matches!(result.status, NodeStatus::Failed(_)));
                self.update_bar();
                self.print_result(&id, kind, &result);
                if let Some(bar) = &self.bar {
                    bar.inc(1);
                }
                self.records
                    .push(NodeRecord::new(&id, kind, &result, &self.masker));
            }
        }
    }

    fn update_bar(&self) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!(
                "{} running, {} failed",
                self.running.len(),
                self.failed
            ));
        }
    }

    fn print_result(
        &mut self,
        id: &str,
        kind: NodeKind,
        result: &crate::exec::outcome::NodeResult,
    ) {
        let secs = result.duration.as_secs_f64();
        let dlq = if kind == NodeKind::Dlq { " (dlq)" } else { "" };
        let id = format!("{id}{dlq}");
        let text = match &result.status {
            NodeStatus::Succeeded => format!("{} {id} [{secs:.2}s]", self.verb("Ran", 32)),
            NodeStatus::Cached => {
                let mut text = format!("{} {id}", self.verb("Cached", 36));
                let details = self.details(result);
                if self.style.replay_output && !details.is_empty() {
                    text.push('\n');
                    text.push_str(&details);
                }
                return self.hold(&text);
            }
            NodeStatus::Failed(f) => format!(
                "{} {id} [{secs:.2}s]: {}",
                self.verb("Failed", 31),
                self.masker.mask(&f.message)
            ),
            NodeStatus::Skipped { reason } => {
                format!(
                    "{} {id}: {}",
                    self.verb("Skipped", 33),
                    self.masker.mask(reason)
                )
            }
            NodeStatus::Cancelled { reason } => {
                format!(
                    "{} {id}: {}",
                    self.verb("Cancelled", 33),
                    self.masker.mask(reason)
                )
            }
        };
        self.line(&text);
        for warning in &result.warnings {
            let text = format!(
                "{} {id}: {}",
                self.verb("Warning", 33),
                self.masker.mask(warning)
            );
            self.line(&text);
        }
        if matches!(result.status, NodeStatus::Failed(_)) && !self.style.verbose {
            let details = self.details(result);
            let message = match &result.status {
                NodeStatus::Failed(f) => self.masker.mask(&f.message),
                _ => String::new(),
            };
            match (kind.is_item(), self.style.collection) {
                (true, ErrorCollection::Aggregate) => {
                    self.pending.push((format!("{id}: {message}"), details))
                }
                (true, ErrorCollection::Batched(n)) => {
                    self.pending.push((format!("{id}: {message}"), details));
                    if self.pending.len() >= n as usize {
                        self.flush_failures();
                    }
                }
                _ => {
                    if !details.is_empty() {
                        self.line(&details);
                    }
                }
            }
        }
    }

    /// The indented stdout/stderr tail of a failed node.
    fn details(&self, result: &crate::exec::outcome::NodeResult) -> String {
        let mut blocks = Vec::new();
        for (name, text) in [
            ("stdout", &result.output.stdout),
            ("stderr", &result.output.stderr),
        ] {
            if text.trim().is_empty() {
                continue;
            }
            let mut block = format!("          {name}:");
            for l in self.masker.mask(text).lines() {
                block.push_str("\n          | ");
                block.push_str(l);
            }
            blocks.push(block);
        }
        blocks.join("\n")
    }

    /// Prints the collected failure details of map items (`error_collection`).
    fn flush_failures(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        let mut text = format!("Failures ({}):", pending.len());
        for (id, details) in pending {
            text.push_str(&format!("\n  {id}"));
            if !details.is_empty() {
                text.push('\n');
                text.push_str(&details);
            }
        }
        self.line(&text);
    }

    /// A right-aligned verb, colored on a terminal.
    fn verb(&self, verb: &str, color: u8) -> String {
        if self.style.color {
            format!("\x1b[1;{color}m{verb:>9}\x1b[0m")
        } else {
            format!("{verb:>9}")
        }
    }

    /// Prints a line to stderr above the progress bar (after any held lines).
    pub fn line(&self, text: &str) {
        let mut out = std::mem::take(&mut *self.held.borrow_mut());
        out.push_str(text);
        out.push('\n');
        self.write(&out);
    }

    /// Holds a line to print with the next one (see `held`).
    fn hold(&self, text: &str) {
        let mut held = self.held.borrow_mut();
        held.push_str(text);
        held.push('\n');
        if held.len() >= HELD_LIMIT {
            let out = std::mem::take(&mut *held);
            drop(held);
            self.write(&out);
        }
    }

    /// Writes held lines now.
    fn release(&self) {
        let out = std::mem::take(&mut *self.held.borrow_mut());
        if !out.is_empty() {
            self.write(&out);
        }
    }

    fn write(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| super::eprint(text)),
            None => super::eprint(text),
        }
    }

    fn write_event(&mut self, event: &Event) {
        if self.events.is_none() {
            return;
        }
        let value = match event {
            Event::Planned { nodes } => serde_json::json!({"event": "planned", "nodes": nodes}),
            Event::SetupFinished { .. } => serde_json::json!({"event": "setup_finished"}),
            Event::ItemAttempt {
                id,
                attempt,
                result,
                final_attempt,
                ..
            } => {
                let record =
                    NodeRecord::new(id, crate::graph::NodeKind::MapItem, result, &self.masker);
                serde_json::json!({"event": "item_attempt", "node": id, "attempt": attempt, "final": final_attempt, "result": record})
            }
            Event::NodeStarted { id, kind } => {
                serde_json::json!({"event": "node_started", "node": id, "kind": kind})
            }
            Event::Dirty { id, reason } => {
                serde_json::json!({"event": "node_dirty", "node": id, "reason": reason})
            }
            Event::Output { id, stream, line } => {
                serde_json::json!({"event": "output", "node": id, "stream": if *stream == Stream::Stderr { "stderr" } else { "stdout" }, "line": self.masker.mask(line)})
            }
            Event::Retrying {
                id,
                attempt,
                delay,
                reason,
            } => {
                serde_json::json!({"event": "node_retrying", "node": id, "attempt": attempt, "delay_ms": delay.as_millis() as u64, "reason": self.masker.mask(reason)})
            }
            Event::NodeFinished { id, kind, result } => {
                let record = NodeRecord::new(id, *kind, result, &self.masker);
                serde_json::json!({"event": "node_finished", "node": id, "kind": kind, "result": record})
            }
        };
        self.write_json(value);
    }

    /// Writes one event line with the fields every event has: schema version, time,
    /// job id and correlation id (`<job>/<node>` for node events).
    fn write_json(&mut self, mut value: serde_json::Value) {
        let Some(out) = self.events.as_mut() else {
            return;
        };
        let job = &self.job_id;
        let node = value["node"].as_str().unwrap_or_default().to_string();
        value["schema_version"] = 1.into();
        value["ts"] = chrono::Utc::now().to_rfc3339().into();
        value["job_id"] = job.clone().into();
        value["correlation_id"] = if node.is_empty() {
            job.clone()
        } else {
            format!("{job}/{node}")
        }
        .into();
        let _ = writeln!(out, "{value}");
    }

    /// Ends the progress bar and builds the summary.
    pub fn finish(&mut self, workflow: &str, status: &str) -> Summary {
        self.flush_failures();
        self.release();
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        self.write_json(serde_json::json!({"event": "job_finished", "status": status}));
        if let Some(out) = self.events.as_mut() {
            let _ = out.flush();
        }
        Summary::new(
            &self.job_id,
            workflow,
            status,
            self.started.elapsed(),
            std::mem::take(&mut self.records),
        )
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.release();
    }
}
