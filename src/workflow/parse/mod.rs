//! YAML tree -> [`Workflow`]: the top level of both dialects (a bare list of steps,
//! `commands:`/`steps:`, and `mode: mapreduce` with `setup`, `map`, `reduce`, `merge`).

mod env;
mod policy;
mod step;

use crate::workflow::decode::{Decode, Decoder, Fields};
use crate::workflow::diagnostic::Diagnostic;
use crate::workflow::duration::{Duration, Unit};
use crate::workflow::input::{ExprError, Filter, JsonPath, SortSpec, validate_path};
use crate::workflow::interpolate::Template;
use crate::workflow::schema::{
    Body, ErrorPolicy, Isolation, MapPhase, MapReduce, Merge, Parallelism, Setup, Step, Timeout,
    Workflow,
};
use crate::workflow::yaml::{Node, Value};

use self::env::decode_env_map;
use self::policy::apply_policy_keys;

/// The default number of map agents running at once (the old tool's documented default).
pub const DEFAULT_MAX_PARALLEL: u32 = 10;

/// What a phase written as a mapping is missing without `commands`.
const COMMANDS_HINT: &str = "list the phase's steps under `commands:`";

/// Keys of the old tool's workflow composition, which prodigy does not implement.
const COMPOSITION_KEYS: [&str; 6] = [
    "imports",
    "extends",
    "template",
    "parameters",
    "defaults",
    "workflows",
];

/// Decodes a workflow from its YAML tree; `name` is used when the file has none.
pub fn decode_workflow(root: &Node, name: &str, d: &mut Decoder) -> Option<Workflow> {
    match &root.value {
        Value::Seq(_) => {
            let steps = Vec::<Step>::decode(root, d)?;
            Some(Workflow::standard(name, steps))
        }
        Value::Map(_) => {
            let mut f = Fields::new(root, "workflow", d)?;
            let workflow = decode_top(&mut f, name, d);
            f.finish(d);
            workflow
        }
        Value::Null => {
            d.push(
                Diagnostic::error("empty-workflow", Some(root.span), "the workflow file is empty")
                    .with_hint("a workflow is a list of steps, or a mapping with `commands:` or `mode: mapreduce`"),
            );
            None
        }
        _ => {
            d.expected(root, "a list of steps or a workflow mapping");
            None
        }
    }
}

impl Workflow {
    /// A standard workflow of `steps` with every other setting at its default.
    pub fn standard(name: &str, steps: Vec<Step>) -> Workflow {
        Workflow {
            name: name.to_string(),
            description: None,
            body: Body::Standard { steps },
            env: Default::default(),
            secrets: Default::default(),
            env_files: Vec::new(),
            profiles: Default::default(),
            env_passthrough: Vec::new(),
            isolation: Isolation::default(),
            error_policy: ErrorPolicy::default(),
            merge: None,
            handlers: Default::default(),
            max_iterations: 1,
        }
    }
}

fn decode_top(f: &mut Fields, default_name: &str, d: &mut Decoder) -> Option<Workflow> {
    let name = f
        .opt::<String>("name", d)
        .unwrap_or_else(|| default_name.to_string());
    let mode = f.raw("mode");
    let is_mapreduce = match mode.map(|m| (m, m.as_str())) {
        None => f.node().get("map").is_some(),
        Some((_, Some("mapreduce" | "map-reduce" | "map_reduce"))) => true,
        Some((_, Some("standard"))) => false,
        Some((m, _)) => {
            d.error_at(
                m,
                "unknown-value",
                format!("unknown mode `{}`", m.scalar_text()),
            );
            d.hint("use `mapreduce`, or leave `mode` out for a standard workflow");
            return None;
        }
    };
    let body = if is_mapreduce {
        decode_mapreduce(f, d)
    } else {
        decode_standard(f, d)
    };
    let mut workflow = Workflow::standard(&name, Vec::new());
    workflow.description = f.opt("description", d);
    workflow.env = f
        .raw("env")
        .and_then(|n| decode_env_map(n, d))
        .unwrap_or_default();
    workflow.secrets = f
        .raw("secrets")
        .and_then(|n| decode_env_map(n, d))
        .unwrap_or_default();
    workflow.env_files = f.opt("env_files", d).unwrap_or_default();
    workflow.profiles = f.opt("profiles", d).unwrap_or_default();
    workflow.env_passthrough = f.opt("env_passthrough", d).unwrap_or_default();
    workflow.isolation = f
        .raw("isolation")
        .and_then(|n| decode_isolation(n, d))
        .unwrap_or_default();
    workflow.merge = f.raw("merge").and_then(|n| decode_merge(n, d));
    workflow.handlers = f.opt("handlers", d).unwrap_or_default();
    if is_mapreduce {
        let mut policy = f.opt::<ErrorPolicy>("error_policy", d).unwrap_or_default();
        apply_policy_keys(f, &mut policy, d);
        workflow.error_policy = policy;
    }
    check_custom_handler(f.node(), &workflow, d);
    legacy_config(f, &mut workflow, d);
    for key in COMPOSITION_KEYS {
        f.ignored(key, "workflow composition is not implemented", d);
    }
    workflow.body = body?;
    Some(workflow)
}

fn decode_standard(f: &mut Fields, d: &mut Decoder) -> Option<Body> {
    let steps = match (f.raw("commands"), f.raw("steps")) {
        (Some(c), None) => Vec::<Step>::decode(c, d)?,
        (None, Some(s)) => Vec::<Step>::decode(s, d)?,
        (Some(_), Some(s)) => {
            d.error_at(
                s,
                "conflicting-keys",
                "a workflow has `commands` or `steps`, not both",
            );
            return None;
        }
        (None, None) => {
            d.push(
                Diagnostic::error("missing-key", Some(f.node().span), "the workflow has no steps")
                    .with_hint("add `commands:` with a list of steps, or `mode: mapreduce` with a `map:` phase"),
            );
            return None;
        }
    };
    Some(Body::Standard { steps })
}

fn decode_mapreduce(f: &mut Fields, d: &mut Decoder) -> Option<Body> {
    let setup = f.raw("setup").and_then(|n| decode_setup(n, d));
    let map = f.req_with_hint::<MapPhase>(
        "map",
        "`map` has the `input` items and the `agent_template` steps each item runs",
        d,
    );
    let reduce = f
        .raw("reduce")
        .and_then(|n| phase_steps(n, "reduce phase", d));
    Some(Body::MapReduce(Box::new(MapReduce {
        setup,
        map: map?,
        reduce: reduce.unwrap_or_default(),
    })))
}

/// A phase written as a list of steps or as `{commands: [...]}`.
fn phase_steps(node: &Node, what: &'static str, d: &mut Decoder) -> Option<Vec<Step>> {
    if let Value::Map(_) = node.value {
        let mut f = Fields::new(node, what, d)?;
        let steps = f.req_with_hint("commands", COMMANDS_HINT, d);
        f.finish(d);
        return steps;
    }
    Vec::<Step>::decode(node, d)
}

fn decode_setup(node: &Node, d: &mut Decoder) -> Option<Setup> {
    if let Value::Seq(_) = node.value {
        return Some(Setup {
            commands: Vec::<Step>::decode(node, d)?,
            timeout: None,
            capture_outputs: Default::default(),
        });
    }
    let mut f = Fields::new(node, "setup phase", d)?;
    let commands = f.req_with_hint("commands", COMMANDS_HINT, d);
    let timeout = f.raw("timeout").and_then(|n| decode_timeout(n, d));
    let capture_outputs = f.opt("capture_outputs", d).unwrap_or_default();
    f.finish(d);
    Some(Setup {
        commands: commands?,
        timeout,
        capture_outputs,
    })
}

fn decode_merge(node: &Node, d: &mut Decoder) -> Option<Merge> {
    if let Value::Seq(_) = node.value {
        return Some(Merge {
            commands: Vec::<Step>::decode(node, d)?,
            timeout: None,
        });
    }
    let mut f = Fields::new(node, "merge phase", d)?;
    let commands = f.req_with_hint("commands", COMMANDS_HINT, d);
    let timeout = f
        .raw("timeout")
        .and_then(|n| Duration::decode(n, Unit::Seconds, d));
    f.finish(d);
    Some(Merge {
        commands: commands?,
        timeout,
    })
}

fn decode_isolation(node: &Node, d: &mut Decoder) -> Option<Isolation> {
    match node.as_str() {
        Some("worktree") => Some(Isolation::Worktree),
        Some("none") => Some(Isolation::None),
        _ => {
            d.error_at(
                node,
                "unknown-value",
                format!("unknown isolation `{}`", node.scalar_text()),
            );
            d.hint("use `worktree` or `none`");
            None
        }
    }
}

/// The legacy `config:` block: `max_iterations`, `command_timeout`, `environment`.
fn legacy_config(f: &mut Fields, workflow: &mut Workflow, d: &mut Decoder) {
    let Some(node) = f.raw("config") else { return };
    let Some(mut c) = Fields::new(node, "config block", d) else {
        return;
    };
    if let Some(n) = c.raw("max_iterations") {
        workflow.max_iterations = u32::decode(n, d).filter(|n| *n > 0).unwrap_or_else(|| {
            d.error_at(n, "out-of-range", "`max_iterations` must be at least 1");
            1
        });
    }
    if let Some(n) = c.raw("command_timeout")
        && let Some(timeout) = Duration::decode(n, Unit::Seconds, d)
    {
        for step in workflow_steps_mut(workflow) {
            step.timeout.get_or_insert(timeout);
        }
    }
    if let Some(env) = c.raw("environment").and_then(|n| decode_env_map(n, d)) {
        for (k, v) in env {
            workflow.env.entry(k).or_insert(v);
        }
    }
    c.finish(d);
}

fn workflow_steps_mut(workflow: &mut Workflow) -> Vec<&mut Step> {
    match &mut workflow.body {
        Body::Standard { steps } => steps.iter_mut().collect(),
        Body::MapReduce(mr) => mr.map.agent_template.iter_mut().collect(),
    }
}

impl Decode for MapPhase {
    fn decode(node: &Node, d: &mut Decoder) -> Option<Self> {
        let mut f = Fields::new(node, "map phase", d)?;
        let input = f.req_with_hint::<String>(
            "input",
            "`input` is a JSON file or a command that prints the items, e.g. `input: items.json`",
            d,
        );
        let agent_template = match f.raw("agent_template") {
            Some(n) => phase_steps(n, "agent_template", d),
            None => {
                d.error_at(
                    node,
                    "missing-key",
                    "the map phase needs an `agent_template` with the steps each item runs",
                );
                None
            }
        };
        let max_parallel = f.raw("max_parallel").map(|n| decode_parallelism(n, d));
        let agent_timeout = f
            .raw("agent_timeout_secs")
            .and_then(|n| decode_timeout(n, d));
        let phase = MapPhase {
            input: input.unwrap_or_default(),
            json_path: f
                .opt::<String>("json_path", d)
                .filter(|p| !p.trim().is_empty()),
            filter: f.opt("filter", d),
            sort_by: f.opt("sort_by", d),
            distinct: f.opt("distinct", d),
            offset: f.opt("offset", d).unwrap_or(0),
            max_items: f.opt("max_items", d),
            max_parallel: max_parallel
                .flatten()
                .unwrap_or(Parallelism::Count(DEFAULT_MAX_PARALLEL)),
            item_id: f.opt("item_id", d),
            agent_template: Vec::new(),
            agent_timeout,
            timeout_config: f.opt("timeout_config", d),
        };
        check_expressions(&mut f, d);
        f.ignored("timeout_per_agent", "use `agent_timeout_secs`", d);
        f.ignored("retry_on_failure", "use `error_policy.retry_config`", d);
        f.finish(d);
        Some(MapPhase {
            agent_template: agent_template?,
            ..phase
        })
    }
}

/// A phase time limit: seconds, a duration with a unit, or (as in the 0.4 format) a
/// `${VAR}` reference that is resolved when the workflow runs.
fn decode_timeout(node: &Node, d: &mut Decoder) -> Option<Timeout> {
    if let Some(text) = node.as_str()
        && (is_bare_variable(text) || Template::parse(text).is_ok_and(|t| !t.is_literal()))
    {
        return Some(Timeout::Variable(text.to_string()));
    }
    Duration::decode(node, Unit::Seconds, d).map(Timeout::Fixed)
}

/// `$NAME`, the braceless form of an env reference.
fn is_bare_variable(text: &str) -> bool {
    text.strip_prefix('$').is_some_and(|name| {
        name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

fn decode_parallelism(node: &Node, d: &mut Decoder) -> Option<Parallelism> {
    let bad = |d: &mut Decoder| {
        d.error_at(
            node,
            "bad-parallel",
            format!(
                "max_parallel must be at least 1, found `{}`",
                node.scalar_text()
            ),
        );
        d.hint("use a number such as 4, or a variable such as `${WORKERS}`");
        None
    };
    match &node.value {
        Value::Int(n) if *n >= 1 => u32::try_from(*n).ok().map(Parallelism::Count),
        Value::Str(s) if s.contains('$') => Some(Parallelism::Variable(s.clone())),
        Value::Str(s) => match s.trim().parse::<u32>() {
            Ok(n) if n >= 1 => Some(Parallelism::Count(n)),
            _ => bad(d),
        },
        _ => bad(d),
    }
}

/// Parses the map's `json_path`, `filter`, `sort_by` and `distinct` now, so that a typo
/// is reported before anything runs.
fn check_expressions(f: &mut Fields, d: &mut Decoder) {
    type Check = fn(&str) -> Result<(), ExprError>;
    let checks: [(&'static str, Check); 4] = [
        ("json_path", |e| JsonPath::parse(e).map(drop)),
        ("filter", |e| Filter::parse(e).map(drop)),
        ("sort_by", |e| SortSpec::parse(e).map(drop)),
        ("distinct", validate_path),
    ];
    for (key, check) in checks {
        let Some(node) = f.raw(key) else { continue };
        let Some(text) = node.as_str() else { continue };
        if text.trim().is_empty() {
            continue;
        }
        if let Err(e) = check(text) {
            // Characters count from 1; a problem past the last one is "at the end".
            let at = if e.offset < text.chars().count() {
                format!("at character {}", e.offset + 1)
            } else {
                "at the end".to_string()
            };
            let mut diag = Diagnostic::error(
                "bad-expression",
                Some(node.span),
                format!("invalid `{key}` {at}: {}", e.message),
            )
            .with_inner_offset(e.offset)
            .with_width(word_len(text, e.offset));
            diag.hint = e.hint;
            d.push(diag);
        }
    }
}

/// How many characters the word at char `offset` of `text` has (a name such as
/// `lenght` or `SIDEWAYS` is underlined whole), or 1 for anything else.
fn word_len(text: &str, offset: usize) -> usize {
    text.chars()
        .skip(offset)
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .count()
        .max(1)
}

/// `on_item_failure: custom:<name>` must name a handler under `handlers:`.
fn check_custom_handler(root: &Node, workflow: &Workflow, d: &mut Decoder) {
    let crate::workflow::schema::ItemFailure::Custom(name) = &workflow.error_policy.on_item_failure
    else {
        return;
    };
    if workflow.handlers.contains_key(name) {
        return;
    }
    let node = root
        .get("on_item_failure")
        .or_else(|| {
            root.get("error_policy")
                .and_then(|p| p.get("on_item_failure"))
        })
        .unwrap_or(root);
    d.error_at(
        node,
        "unknown-handler",
        format!("on_item_failure names handler `{name}`, which `handlers:` does not define"),
    );
    let known: Vec<&str> = workflow.handlers.keys().map(String::as_str).collect();
    d.hint(match crate::suggest::suggest(name, known.iter().copied()) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!("define it as a list of steps: `handlers: {{{name}: [...]}}`"),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::yaml::parse;

    /// Decodes `text`, returning the workflow and every diagnostic's message.
    fn decode(text: &str) -> (Option<Workflow>, Vec<String>) {
        let root = parse(text).unwrap_or_else(|e| panic!("{e:?}"));
        let mut d = Decoder::default();
        let workflow = decode_workflow(&root, "t", &mut d);
        let messages = d.diagnostics.iter().map(|x| x.message.clone()).collect();
        (workflow, messages)
    }

    fn map_reduce(extra_map: &str, extra_top: &str) -> String {
        format!(
            "mode: mapreduce\nmap:\n  input: ls\n{extra_map}  agent_template: [shell: echo]\n{extra_top}"
        )
    }

    #[test]
    fn phase_timeouts_take_env_references() {
        let text = map_reduce(
            "  agent_timeout_secs: $AGENT\n",
            "setup:\n  timeout: \"${SETUP}\"\n  commands: [shell: make]\n",
        );
        let (workflow, messages) = decode(&text);
        assert_eq!(messages, Vec::<String>::new());
        let Some(Body::MapReduce(mr)) = workflow.map(|w| w.body) else {
            panic!("not a map-reduce")
        };
        assert_eq!(
            mr.map.agent_timeout,
            Some(Timeout::Variable("$AGENT".into()))
        );
        let setup_timeout = mr.setup.and_then(|s| s.timeout);
        assert_eq!(setup_timeout, Some(Timeout::Variable("${SETUP}".into())));
    }

    #[test]
    fn phase_timeouts_are_still_durations() {
        let (workflow, _) = decode(&map_reduce("  agent_timeout_secs: 5m\n", ""));
        let Some(Body::MapReduce(mr)) = workflow.map(|w| w.body) else {
            panic!("not a map-reduce")
        };
        let five_minutes = Duration { millis: 300_000 };
        assert_eq!(mr.map.agent_timeout, Some(Timeout::Fixed(five_minutes)));
        let (_, messages) = decode(&map_reduce("  agent_timeout_secs: soon\n", ""));
        assert_eq!(messages, ["`soon` is not a duration"]);
    }

    #[test]
    fn sort_by_errors_stay_inside_the_text() {
        let (_, messages) = decode(&map_reduce("  sort_by: score DESC NULLS MIDDLE\n", ""));
        assert_eq!(
            messages,
            [
                "invalid `sort_by` at character 18: expected `FIRST` or `LAST` after `NULLS`, found `MIDDLE`"
            ]
        );
        let (_, messages) = decode(&map_reduce("  sort_by: score DESC NULLS\n", ""));
        assert_eq!(
            messages,
            ["invalid `sort_by` at the end: expected `FIRST` or `LAST` after `NULLS`"]
        );
    }

    #[test]
    fn a_batch_size_of_zero_is_named() {
        let policy = |value: &str| {
            decode(&map_reduce(
                "",
                &format!("error_policy:\n  error_collection: {value}\n"),
            ))
            .1
        };
        assert_eq!(
            policy("batched:0"),
            ["the error_collection batch size must be at least 1"]
        );
        assert_eq!(policy("batched:many"), ["`batched:many` has no batch size"]);
        assert_eq!(policy("collect"), ["unknown error_collection `collect`"]);
        assert_eq!(policy("batched:5"), Vec::<String>::new());
    }

    #[test]
    fn missing_keys_are_named_with_the_right_article() {
        let (_, messages) = decode("mode: mapreduce\nmap:\n  agent_template: [shell: echo]\n");
        assert_eq!(messages, ["the map phase needs an `input` key"]);
        let (_, messages) = decode(&map_reduce("", "setup:\n  timeout: 5\n"));
        assert_eq!(messages, ["the setup phase needs a `commands` key"]);
    }
}
