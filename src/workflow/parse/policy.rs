//! Decoding failure handling: step `on_failure` (every form), step `retry`, and the
//! workflow's `error_policy` with its backoff and circuit-breaker settings.
//!
//! Units follow the error-handling guide: a bare number is milliseconds for backoff
//! delays and seconds for timeouts; strings such as `30s`, `1m`, `500ms` work everywhere.

use crate::workflow::decode::{Decode, Decoder, Fields};
use crate::workflow::duration::{Duration, Unit};
use crate::workflow::schema::{
    Action, Backoff, CircuitBreaker, ErrorCollection, ErrorPolicy, ItemFailure, OnFailure,
    RetryPolicy, Step,
};
use crate::workflow::yaml::{Node, Value};

use super::step::commands_of;

/// A handler command written as a string: `/x` is a claude command, anything else shell.
fn handler_step(text: &str, node: &Node) -> Step {
    let action = if text.trim_start().starts_with('/') {
        Action::Claude(text.to_string())
    } else {
        Action::Shell(text.to_string())
    };
    Step::new(action, node)
}

fn on_failure_with(commands: Vec<Step>) -> OnFailure {
    OnFailure {
        commands,
        max_attempts: 1,
        fail_workflow: true,
        retry_original: false,
        commit_required: false,
        strategy: None,
        timeout: None,
        handler_failure_fatal: false,
        ignore_errors: false,
    }
}

/// Every form of `on_failure`: `true`/`false`, a command string, a list of commands
/// or steps, `{claude|shell, max_attempts, fail_workflow}`, the guide's
/// `{command: {claude|shell}, max_attempts, fail_workflow, strategy}`, and the detailed
/// `{commands: [...], strategy, timeout, fail_workflow, handler_failure_fatal}`.
pub fn decode_on_failure(node: &Node, d: &mut Decoder) -> Option<OnFailure> {
    match &node.value {
        Value::Null => None,
        Value::Bool(ignore) => Some(OnFailure {
            ignore_errors: *ignore,
            fail_workflow: !ignore,
            ..on_failure_with(Vec::new())
        }),
        Value::Str(text) => Some(on_failure_with(vec![handler_step(text, node)])),
        Value::Seq(items) => {
            // Like `Vec::decode`: keep the handlers that decode.
            let steps = items
                .iter()
                .filter_map(|item| match &item.value {
                    Value::Str(text) => Some(handler_step(text, item)),
                    _ => Step::decode(item, d),
                })
                .collect();
            Some(on_failure_with(steps))
        }
        Value::Map(_) => decode_on_failure_map(node, d),
        _ => {
            d.expected(
                node,
                "`true`, `false`, a command, a list of commands, or a mapping",
            );
            None
        }
    }
}

fn decode_on_failure_map(node: &Node, d: &mut Decoder) -> Option<OnFailure> {
    let mut f = Fields::new(node, "on_failure handler", d)?;
    let commands = commands_of(&mut f, d);
    let detailed = node.get("commands").is_some();
    let mut out = on_failure_with(commands);
    out.max_attempts = f
        .opt_any(&["max_attempts", "max_retries"], d)
        .unwrap_or(if detailed { 1 } else { 3 });
    out.fail_workflow = f.opt("fail_workflow", d).unwrap_or(false);
    out.retry_original = f.opt("retry_original", d).unwrap_or(false);
    out.commit_required = f.opt("commit_required", d).unwrap_or(false);
    out.strategy = f.opt("strategy", d);
    out.timeout = f
        .raw("timeout")
        .and_then(|n| Duration::decode(n, Unit::Seconds, d));
    out.handler_failure_fatal = f.opt("handler_failure_fatal", d).unwrap_or(false);
    let _: Option<std::collections::BTreeMap<String, String>> = f.opt("capture", d);
    if let Some(s) = f.raw("strategy") {
        check_strategy(s, d);
    }
    f.ignored(
        "on_failure",
        "a handler has no handler of its own; put the steps in `commands`",
        d,
    );
    f.finish(d);
    Some(out)
}

fn check_strategy(node: &Node, d: &mut Decoder) {
    const KNOWN: [&str; 8] = [
        "recovery",
        "fallback",
        "cleanup",
        "custom",
        "fixed",
        "linear",
        "exponential",
        "fibonacci",
    ];
    if let Some(s) = node.as_str()
        && !KNOWN.contains(&s)
    {
        d.error_at(
            node,
            "unknown-value",
            format!("unknown on_failure strategy `{s}`"),
        );
        d.hint(match crate::suggest::suggest(s, KNOWN) {
            Some(m) => format!("did you mean `{m}`?"),
            None => format!("use one of: {}", KNOWN.join(", ")),
        });
    }
}

/// Step `retry`: a number of attempts, or `{attempts, backoff, initial_delay, max_delay,
/// jitter, jitter_factor, retry_on, retry_budget}`.
pub fn decode_step_retry(node: &Node, d: &mut Decoder) -> Option<RetryPolicy> {
    if let Value::Int(_) = node.value {
        let attempts = u32::decode(node, d)?;
        return Some(RetryPolicy {
            attempts,
            ..default_retry()
        });
    }
    let mut f = Fields::new(node, "retry setting", d)?;
    let attempts = f.opt_any(&["attempts", "max_attempts"], d).unwrap_or(3);
    let policy = decode_retry_fields(&mut f, attempts, d);
    f.finish(d);
    Some(policy)
}

fn default_retry() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        backoff: Backoff::Exponential {
            initial: Duration { millis: 1000 },
            multiplier: 2.0,
            max_delay: Some(Duration { millis: 30_000 }),
        },
        jitter: false,
        jitter_factor: 0.3,
        retry_on: Vec::new(),
        retry_budget: None,
    }
}

fn decode_retry_fields(f: &mut Fields, attempts: u32, d: &mut Decoder) -> RetryPolicy {
    let defaults = default_retry();
    let initial = f
        .raw("initial_delay")
        .and_then(|n| Duration::decode(n, Unit::Millis, d));
    let max_delay = f
        .raw("max_delay")
        .and_then(|n| Duration::decode(n, Unit::Millis, d));
    let backoff = f
        .raw("backoff")
        .and_then(|n| decode_backoff(n, initial, max_delay, d))
        .unwrap_or_else(|| match (initial, max_delay) {
            (None, None) => defaults.backoff.clone(),
            _ => Backoff::Exponential {
                initial: initial.unwrap_or(Duration { millis: 1000 }),
                multiplier: 2.0,
                max_delay,
            },
        });
    let retry_on = f
        .raw("retry_on")
        .map(|n| decode_retry_on(n, d))
        .unwrap_or_default();
    RetryPolicy {
        attempts,
        backoff,
        jitter: f.opt("jitter", d).unwrap_or(false),
        jitter_factor: f.opt("jitter_factor", d).unwrap_or(defaults.jitter_factor),
        retry_on,
        retry_budget: f
            .raw("retry_budget")
            .and_then(|n| Duration::decode(n, Unit::Seconds, d)),
    }
}

/// `retry_on: [timeout, network, {pattern: "regex"}]`.
fn decode_retry_on(node: &Node, d: &mut Decoder) -> Vec<String> {
    let Value::Seq(items) = &node.value else {
        d.expected(node, "a list of error kinds");
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| match &item.value {
            Value::Str(s) => Some(s.clone()),
            Value::Map(_) => {
                let mut f = Fields::new(item, "retry_on matcher", d)?;
                let p: Option<String> = f.req("pattern", d);
                f.finish(d);
                p.map(|p| format!("pattern:{p}"))
            }
            _ => {
                d.expected(item, "an error kind or `{pattern: ...}`");
                None
            }
        })
        .collect()
}

/// Every backoff spelling: `exponential`, `{type: exponential, initial: 1000, multiplier: 2,
/// max_delay: 30000}`, and the map form `{exponential: {base: 2}}` / `{linear: {increment: 2s}}`.
pub fn decode_backoff(
    node: &Node,
    initial: Option<Duration>,
    max_delay: Option<Duration>,
    d: &mut Decoder,
) -> Option<Backoff> {
    let second = Duration { millis: 1000 };
    let initial_or = initial.unwrap_or(second);
    match &node.value {
        Value::Str(kind) => backoff_of_kind(kind, node, d).map(|kind| match kind {
            "fixed" => Backoff::Fixed { delay: initial_or },
            "linear" => Backoff::Linear {
                initial: initial_or,
                increment: initial_or,
                max_delay,
            },
            "fibonacci" => Backoff::Fibonacci {
                initial: initial_or,
                max_delay,
            },
            _ => Backoff::Exponential {
                initial: initial_or,
                multiplier: 2.0,
                max_delay,
            },
        }),
        Value::Map(entries) if node.get("type").is_none() && entries.len() == 1 => {
            let (key, inner) = &entries[0];
            let kind = backoff_of_kind(&key.scalar_text(), key, d)?;
            backoff_fields(kind, inner, initial_or, max_delay, d)
        }
        Value::Map(_) => {
            let kind_node = node.get("type")?;
            let kind = backoff_of_kind(&kind_node.scalar_text(), kind_node, d)?;
            backoff_fields(kind, node, initial_or, max_delay, d)
        }
        _ => {
            d.expected(
                node,
                "a backoff (`exponential`, or `{type: exponential, initial: 1000}`)",
            );
            None
        }
    }
}

fn backoff_of_kind(kind: &str, node: &Node, d: &mut Decoder) -> Option<&'static str> {
    const KINDS: [&str; 5] = ["fixed", "linear", "exponential", "fibonacci", "custom"];
    let found = KINDS.into_iter().find(|k| *k == kind);
    if found.is_none() {
        d.error_at(
            node,
            "unknown-value",
            format!("unknown backoff type `{kind}`"),
        );
        d.hint("use fixed, linear, exponential or fibonacci");
    }
    found
}

fn backoff_fields(
    kind: &str,
    node: &Node,
    initial: Duration,
    max_delay: Option<Duration>,
    d: &mut Decoder,
) -> Option<Backoff> {
    let mut f = Fields::new(node, "backoff", d)?;
    f.raw("type");
    let ms = |f: &mut Fields, key: &'static str, d: &mut Decoder| {
        f.raw(key).and_then(|n| decode_delay(n, d))
    };
    let max_delay = ms(&mut f, "max_delay", d).or(max_delay);
    let backoff = match kind {
        "fixed" => Backoff::Fixed {
            delay: ms(&mut f, "delay", d).unwrap_or(initial),
        },
        "linear" => {
            let initial = ms(&mut f, "initial", d).unwrap_or(initial);
            Backoff::Linear {
                initial,
                increment: ms(&mut f, "increment", d).unwrap_or(initial),
                max_delay,
            }
        }
        "fibonacci" => Backoff::Fibonacci {
            initial: ms(&mut f, "initial", d).unwrap_or(initial),
            max_delay,
        },
        "custom" => Backoff::Custom {
            delays: f
                .raw("delays")
                .and_then(|n| match &n.value {
                    Value::Seq(items) => items.iter().map(|i| decode_delay(i, d)).collect(),
                    _ => {
                        d.expected(n, "a list of delays");
                        None
                    }
                })
                .unwrap_or_default(),
        },
        _ => Backoff::Exponential {
            initial: ms(&mut f, "initial", d).unwrap_or(initial),
            multiplier: f.opt_any(&["multiplier", "base"], d).unwrap_or(2.0),
            max_delay,
        },
    };
    f.finish(d);
    Some(backoff)
}

/// A backoff delay: milliseconds, a unit string, or serde's `{secs, nanos}`.
fn decode_delay(node: &Node, d: &mut Decoder) -> Option<Duration> {
    if let Value::Map(_) = node.value {
        let mut f = Fields::new(node, "duration", d)?;
        let secs: u64 = f.opt("secs", d).unwrap_or(0);
        let nanos: u64 = f.opt("nanos", d).unwrap_or(0);
        f.finish(d);
        return Some(Duration {
            millis: secs.saturating_mul(1000).saturating_add(nanos / 1_000_000),
        });
    }
    Duration::decode(node, Unit::Millis, d)
}

impl Decode for ErrorPolicy {
    fn decode(node: &Node, d: &mut Decoder) -> Option<Self> {
        let mut policy = ErrorPolicy::default();
        let mut f = Fields::new(node, "error_policy", d)?;
        apply_policy_keys(&mut f, &mut policy, d);
        if let Some(n) = f.raw("circuit_breaker") {
            policy.circuit_breaker = CircuitBreaker::decode(n, d);
        }
        if let Some(n) = f.raw("retry_config") {
            policy.retry_config = Fields::new(n, "retry_config", d).map(|mut r| {
                let attempts = r.opt_any(&["max_attempts", "attempts"], d).unwrap_or(3);
                let p = decode_retry_fields(&mut r, attempts, d);
                r.finish(d);
                p
            });
        }
        f.finish(d);
        Some(policy)
    }
}

/// The policy keys that may also stand at the top of a map-reduce workflow (shortcuts).
pub fn apply_policy_keys(f: &mut Fields, policy: &mut ErrorPolicy, d: &mut Decoder) {
    if let Some(n) = f.raw("on_item_failure") {
        policy.on_item_failure = decode_item_failure(n, d).unwrap_or(ItemFailure::Dlq);
    }
    if let Some(c) = f.opt("continue_on_failure", d) {
        policy.continue_on_failure = c;
    }
    if let Some(m) = f.opt("max_failures", d) {
        policy.max_failures = Some(m);
    }
    if let Some(n) = f.raw("failure_threshold") {
        policy.failure_threshold = f64::decode(n, d).filter(|t| {
            let ok = (0.0..=1.0).contains(t);
            if !ok {
                d.error_at(
                    n,
                    "out-of-range",
                    format!("failure_threshold {t} is not a rate from 0.0 to 1.0"),
                );
                d.hint("write 20% as 0.2");
            }
            ok
        });
    }
    if let Some(n) = f.raw("error_collection") {
        policy.error_collection = decode_collection(n, d).unwrap_or(ErrorCollection::Aggregate);
    }
}

fn decode_item_failure(node: &Node, d: &mut Decoder) -> Option<ItemFailure> {
    let text = String::decode(node, d)?;
    Some(match text.as_str() {
        "dlq" => ItemFailure::Dlq,
        "retry" => ItemFailure::Retry,
        "skip" => ItemFailure::Skip,
        "stop" => ItemFailure::Stop,
        other => match other.strip_prefix("custom:") {
            Some(name) if !name.trim().is_empty() => ItemFailure::Custom(name.trim().to_string()),
            _ => {
                d.error_at(
                    node,
                    "unknown-value",
                    format!("unknown on_item_failure `{other}`"),
                );
                d.hint("use dlq, retry, skip, stop or custom:<handler_name>");
                return None;
            }
        },
    })
}

fn decode_collection(node: &Node, d: &mut Decoder) -> Option<ErrorCollection> {
    let text = String::decode(node, d)?;
    match text.as_str() {
        "aggregate" => return Some(ErrorCollection::Aggregate),
        "immediate" => return Some(ErrorCollection::Immediate),
        _ => {}
    }
    // `batched:N` is a known form; only its number can be wrong.
    match text
        .strip_prefix("batched:")
        .map(|n| n.trim().parse::<u32>())
    {
        Some(Ok(n)) if n > 0 => return Some(ErrorCollection::Batched(n)),
        Some(Ok(_)) => {
            d.error_at(
                node,
                "out-of-range",
                "the error_collection batch size must be at least 1",
            );
            d.hint("write `batched:N` with N of 1 or more, e.g. `batched:10`");
        }
        Some(Err(_)) => {
            d.error_at(node, "unknown-value", format!("`{text}` has no batch size"));
            d.hint("write `batched:N` with N a whole number of 1 or more, e.g. `batched:10`");
        }
        None => {
            d.error_at(
                node,
                "unknown-value",
                format!("unknown error_collection `{text}`"),
            );
            d.hint("use aggregate, immediate or batched:N");
        }
    }
    None
}

impl Decode for CircuitBreaker {
    fn decode(node: &Node, d: &mut Decoder) -> Option<Self> {
        let mut f = Fields::new(node, "circuit_breaker", d)?;
        let breaker = CircuitBreaker {
            failure_threshold: f.opt("failure_threshold", d).unwrap_or(5),
            success_threshold: f.opt("success_threshold", d).unwrap_or(3),
            timeout: f
                .raw("timeout")
                .and_then(|n| Duration::decode(n, Unit::Seconds, d))
                .unwrap_or(Duration { millis: 30_000 }),
            half_open_requests: f.opt("half_open_requests", d).unwrap_or(3),
        };
        f.finish(d);
        Some(breaker)
    }
}
