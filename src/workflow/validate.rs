//! Checks that need the whole decoded workflow: step ids and `needs` (unknown,
//! duplicate, cycles naming every step on the cycle) and `${...}` variables used where
//! they can never have a value.

use std::collections::BTreeMap;

use petgraph::algo::tarjan_scc;
use petgraph::graph::DiGraph;

use super::diagnostic::Diagnostic;
use super::interpolate::{Phase, ScopeProblem, Template, check_scope};
use super::schema::{Action, Body, ForeachInput, Step, Workflow};
use crate::suggest::suggest;

/// Every problem of `workflow` that decoding alone cannot see.
pub fn validate(workflow: &Workflow) -> Vec<Diagnostic> {
    check(workflow, Decoded::Whole)
}

/// Like [`validate`], for a workflow decoded in part: some steps failed to decode and
/// their errors are already reported. A `needs` naming a missing step may name one of
/// those, so it is not reported; everything else is.
pub fn validate_partial(workflow: &Workflow) -> Vec<Diagnostic> {
    check(workflow, Decoded::Partly)
}

/// Whether every step of the file made it into the workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decoded {
    Whole,
    Partly,
}

fn check(workflow: &Workflow, decoded: Decoded) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    for (phase, steps) in phases(workflow) {
        check_ids_and_needs(steps, decoded, &mut diags);
        for step in steps {
            check_variables(step, phase, false, &mut diags);
        }
    }
    diags
}

/// The step lists of a workflow with the phase each runs in.
pub fn phases(workflow: &Workflow) -> Vec<(Phase, &[Step])> {
    let mut out: Vec<(Phase, &[Step])> = match &workflow.body {
        Body::Standard { steps } => vec![(Phase::Standard, steps)],
        Body::MapReduce(mr) => {
            let mut v: Vec<(Phase, &[Step])> = Vec::new();
            if let Some(setup) = &mr.setup {
                v.push((Phase::Setup, &setup.commands));
            }
            v.push((Phase::Map, &mr.map.agent_template));
            v.push((Phase::Reduce, &mr.reduce));
            v
        }
    };
    if let Some(merge) = &workflow.merge {
        out.push((Phase::Merge, &merge.commands));
    }
    out.extend(
        workflow
            .handlers
            .values()
            .map(|steps| (Phase::Map, &steps[..])),
    );
    out
}

fn check_ids_and_needs(steps: &[Step], decoded: Decoded, diags: &mut Vec<Diagnostic>) {
    let mut ids: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, step) in steps.iter().enumerate() {
        let Some(id) = step.id.as_deref() else {
            continue;
        };
        if let Some(first) = ids.insert(id, i) {
            diags.push(
                Diagnostic::error(
                    "duplicate-id",
                    Some(step.span),
                    format!("duplicate step id `{id}`"),
                )
                .with_hint(format!(
                    "step ids are unique; `{id}` is first used at line {}",
                    steps[first].span.line
                )),
            );
            ids.insert(id, first);
        }
    }
    let mut graph = DiGraph::<usize, ()>::new();
    let nodes: Vec<_> = (0..steps.len()).map(|i| graph.add_node(i)).collect();
    for (i, step) in steps.iter().enumerate() {
        for need in step.needs.iter().flatten() {
            match ids.get(need.as_str()) {
                Some(&j) => {
                    graph.add_edge(nodes[j], nodes[i], ());
                }
                None if decoded == Decoded::Partly => {}
                None => {
                    let hint = match suggest(need, ids.keys().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None if ids.is_empty() => "no step in this phase has an `id`".to_string(),
                        None => format!(
                            "known ids: {}",
                            ids.keys().copied().collect::<Vec<_>>().join(", ")
                        ),
                    };
                    diags.push(
                        Diagnostic::error(
                            "unknown-need",
                            Some(step.span),
                            format!("`needs` names unknown step `{need}`"),
                        )
                        .with_hint(hint),
                    );
                }
            }
        }
    }
    for scc in tarjan_scc(&graph) {
        let self_loop = scc.len() == 1 && graph.contains_edge(scc[0], scc[0]);
        if scc.len() < 2 && !self_loop {
            continue;
        }
        let mut members: Vec<usize> = scc.iter().map(|n| graph[*n]).collect();
        members.sort_unstable();
        let names: Vec<String> = members
            .iter()
            .map(|&i| format!("`{}`", steps[i].id.as_deref().unwrap_or("?")))
            .collect();
        let cycle = names.join(" -> ") + " -> " + &names[0];
        diags.push(
            Diagnostic::error(
                "cycle",
                Some(steps[members[0]].span),
                format!("the steps' `needs` form a cycle: {cycle}"),
            )
            .with_hint("remove one of these `needs` so the steps can run in some order"),
        );
    }
}

/// Checks the `${...}` variables of a step and of the steps nested in it.
fn check_variables(step: &Step, phase: Phase, in_foreach: bool, diags: &mut Vec<Diagnostic>) {
    for (field, text) in templated_fields(step) {
        check_template(step, field, text, phase, in_foreach, diags);
    }
    let nested_foreach = in_foreach || matches!(step.action, Action::Foreach(_));
    for child in nested_steps(step) {
        let in_loop = nested_foreach && is_foreach_body(step, child);
        check_variables(child, phase, in_foreach || in_loop, diags);
    }
}

fn is_foreach_body(parent: &Step, child: &Step) -> bool {
    match &parent.action {
        Action::Foreach(f) => f.steps.iter().any(|s| std::ptr::eq(s, child)),
        _ => false,
    }
}

/// Steps nested in a step: handlers, repairs, loop bodies.
pub fn nested_steps(step: &Step) -> Vec<&Step> {
    let mut out: Vec<&Step> = Vec::new();
    out.extend(step.on_success.as_deref());
    if let Some(f) = &step.on_failure {
        out.extend(&f.commands);
    }
    out.extend(step.on_exit_code.values());
    if let Some(v) = &step.validate {
        out.extend(&v.commands);
        if let Some(o) = &v.on_incomplete {
            out.extend(&o.commands);
        }
    }
    if let Action::Foreach(f) = &step.action {
        out.extend(&f.steps);
    }
    out
}

/// The fields of a step that prodigy interpolates, by name.
fn templated_fields(step: &Step) -> Vec<(&'static str, &str)> {
    let mut out = Vec::new();
    match &step.action {
        Action::Shell(c) => out.push(("shell", c.as_str())),
        Action::Claude(c) => out.push(("claude", c.as_str())),
        Action::WriteFile(w) => {
            out.push(("write_file.path", w.path.as_str()));
            out.push(("write_file.content", w.content.as_str()));
        }
        Action::Foreach(f) => {
            if let ForeachInput::Command(c) = &f.input {
                out.push(("foreach", c.as_str()));
            }
        }
        Action::GoalSeek(g) => out.push(("goal_seek.validate", g.validate.as_str())),
        Action::Ignored(_) => {}
    }
    out.extend(step.when.as_deref().map(|w| ("when", w)));
    out.extend(step.working_dir.as_deref().map(|w| ("working_dir", w)));
    out.extend(step.env.values().map(|v| ("env", v.as_str())));
    out
}

fn check_template(
    step: &Step,
    field: &str,
    text: &str,
    phase: Phase,
    in_foreach: bool,
    diags: &mut Vec<Diagnostic>,
) {
    let template = match Template::parse(text) {
        Ok(t) => t,
        Err(e) => {
            // The old tool left malformed `${...}` text alone; we warn, and refuse at run time.
            diags.push(
                Diagnostic::warning(
                    "bad-interpolation",
                    Some(step.span),
                    format!("in `{field}`: {e} (at character {})", e.offset() + 1),
                )
                .with_hint(e.hint()),
            );
            return;
        }
    };
    for var in template.vars() {
        let Err(problem) = check_scope(&var.path, phase) else {
            continue;
        };
        let loop_item = in_foreach && matches!(problem, ScopeProblem::OnlyInMap { .. });
        if loop_item || var.default.is_some() {
            continue;
        }
        diags.push(
            Diagnostic::error(
                "variable-scope",
                Some(step.span),
                format!("in `{field}`: {problem}"),
            )
            .with_hint(problem.hint()),
        );
    }
}
