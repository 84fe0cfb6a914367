//! The JSON Schema of the workflow format (`prodigy schema`, committed as
//! `docs/workflow.schema.json`).
//!
//! It describes the YAML a user writes, which is looser than the typed model (a step is
//! a string or a mapping; phases are lists or `{commands}`), so it is written here from
//! the same key lists the decoder accepts rather than derived from the model.

use serde_json::{Value, json};

/// The schema as pretty-printed JSON with a trailing newline.
pub fn render() -> String {
    let mut text = serde_json::to_string_pretty(&schema()).unwrap_or_default();
    text.push('\n');
    text
}

fn string() -> Value {
    json!({"type": "string"})
}

fn strings() -> Value {
    json!({"type": "array", "items": {"type": "string"}})
}

fn boolean() -> Value {
    json!({"type": "boolean"})
}

fn count() -> Value {
    json!({"type": "integer", "minimum": 0})
}

fn duration() -> Value {
    json!({"$ref": "#/$defs/duration"})
}

fn steps() -> Value {
    json!({"type": "array", "items": {"$ref": "#/$defs/step"}})
}

fn phase() -> Value {
    json!({"anyOf": [steps(), {"type": "object", "properties": {"commands": steps(), "timeout": duration()}, "required": ["commands"], "additionalProperties": false}]})
}

fn env_map() -> Value {
    json!({"type": "object", "additionalProperties": {"$ref": "#/$defs/env_value"}})
}

/// The whole schema.
pub fn schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/prodigy/prodigy/docs/workflow.schema.json",
        "title": "prodigy workflow",
        "description": "A prodigy workflow: a list of steps, a mapping with `commands`, or `mode: mapreduce` with `setup`, `map`, `reduce`.",
        "anyOf": [steps(), {"$ref": "#/$defs/workflow"}],
        "$defs": {
            "duration": {
                "description": "A number in the field's unit (seconds for timeouts, milliseconds for backoff delays), or a string with a unit: `500ms`, `30s`, `5m`, `1h30m`.",
                "anyOf": [{"type": "number", "minimum": 0}, {"type": "string"}]
            },
            "env_value": {"anyOf": [
                {"type": ["string", "number", "boolean"]},
                {"type": "object", "properties": {"command": string(), "cache": boolean()}, "required": ["command"], "additionalProperties": false},
                {"type": "object", "properties": {"condition": string(), "when_true": string(), "when_false": string()}, "required": ["condition", "when_true", "when_false"], "additionalProperties": false},
                {"type": "object", "properties": {"secret": boolean(), "value": string()}, "required": ["value"], "additionalProperties": false}
            ]},
            "workflow": workflow(),
            "step": step(),
            "on_failure": on_failure(),
            "retry": retry(),
            "backoff": backoff(),
            "error_policy": error_policy(),
            "validate": validate(),
        }
    })
}

fn workflow() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "name": string(), "description": string(),
            "mode": {"enum": ["standard", "mapreduce", "map-reduce", "map_reduce"]},
            "commands": steps(), "steps": steps(),
            "env": env_map(),
            "secrets": {"type": "object", "additionalProperties": {"anyOf": [string(), {"type": "object", "properties": {"provider": {}, "key": string(), "version": string(), "secret": boolean(), "value": string()}, "additionalProperties": false}]}},
            "env_files": strings(),
            "profiles": {"type": "object", "additionalProperties": env_map()},
            "env_passthrough": strings(),
            "isolation": {"enum": ["worktree", "none"]},
            "setup": {"anyOf": [steps(), {"type": "object", "properties": {"commands": steps(), "timeout": duration(), "capture_outputs": {"type": "object"}}, "required": ["commands"], "additionalProperties": false}]},
            "map": map(),
            "reduce": phase(),
            "merge": phase(),
            "error_policy": {"$ref": "#/$defs/error_policy"},
            "handlers": {"type": "object", "description": "Named step lists for `on_item_failure: custom:<name>`.", "additionalProperties": steps()},
            "on_item_failure": string(), "continue_on_failure": boolean(), "max_failures": count(),
            "failure_threshold": {"type": "number", "minimum": 0, "maximum": 1},
            "error_collection": string(),
            "config": {"type": "object", "properties": {"max_iterations": {"type": "integer", "minimum": 1}, "command_timeout": duration(), "environment": env_map()}, "additionalProperties": false},
            "imports": {}, "extends": {}, "template": {}, "parameters": {}, "defaults": {}, "workflows": {}
        }
    })
}

fn map() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["input", "agent_template"],
        "properties": {
            "input": {"type": ["string", "number"], "description": "A JSON/JSONL/text file, or a command printing items."},
            "json_path": string(), "filter": string(), "sort_by": string(), "distinct": string(),
            "offset": count(), "max_items": count(),
            "max_parallel": {"anyOf": [{"type": "integer", "minimum": 1}, string()], "default": 10},
            "item_id": string(),
            "agent_template": phase(),
            "agent_timeout_secs": duration(),
            "timeout_config": {"type": "object"},
            "timeout_per_agent": {}, "retry_on_failure": {}
        }
    })
}

fn step() -> Value {
    let mut properties = command_properties();
    if let (Some(all), Value::Object(more)) = (properties.as_object_mut(), step_field_properties())
    {
        all.extend(more);
    }
    json!({"anyOf": [string(), {"type": "object", "additionalProperties": false, "properties": properties}]})
}

/// The keys that say what a step runs.
fn command_properties() -> Value {
    json!({
        "shell": string(), "claude": string(), "command": string(),
        "write_file": {"type": "object", "properties": {"path": string(), "content": string(), "format": {"enum": ["text", "json", "yaml"]}, "mode": string(), "create_dirs": boolean()}, "required": ["path", "content"], "additionalProperties": false},
        "foreach": {"type": "object", "properties": {"foreach": {"anyOf": [string(), strings()]}, "input": {"anyOf": [string(), strings()]}, "parallel": {"anyOf": [boolean(), {"type": "integer", "minimum": 1}]}, "do": steps(), "continue_on_error": boolean(), "max_items": count()}, "required": ["do"], "additionalProperties": false},
        "goal_seek": {"type": "object"}, "test": {"type": "object"}, "analyze": {}, "handler": {}
    })
}

/// The fields every step may have.
fn step_field_properties() -> Value {
    json!({
        "id": string(), "name": string(), "description": string(),
        "needs": strings(), "inputs": strings(), "cache": boolean(),
        "when": string(), "timeout": duration(),
        "env": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
        "clear_env": boolean(), "temporary": boolean(),
        "working_dir": string(), "cwd": string(),
        "capture": string(), "capture_output": {"type": ["boolean", "string"]},
        "capture_format": {"enum": ["string", "text", "number", "json", "lines", "boolean", "bool"]},
        "capture_streams": {"anyOf": [{"enum": ["stdout", "stderr", "both"]}, {"type": "object", "properties": {"stdout": boolean(), "stderr": boolean(), "exit_code": boolean(), "success": boolean(), "duration": boolean()}, "additionalProperties": false}]},
        "output_file": string(),
        "on_success": {"$ref": "#/$defs/step"},
        "on_failure": {"$ref": "#/$defs/on_failure"},
        "on_exit_code": {"type": "object", "additionalProperties": {"$ref": "#/$defs/step"}},
        "retry": {"$ref": "#/$defs/retry"},
        "commit_required": boolean(),
        "validate": {"$ref": "#/$defs/validate"},
        "outputs": {"type": "object", "additionalProperties": {"type": "object", "properties": {"file_pattern": string()}, "required": ["file_pattern"]}},
        "allow_failure": boolean(), "continue_on_error": boolean(),
        "model": string(), "permission_mode": string(), "allowed_tools": strings(), "max_budget_usd": {"type": "number"},
        "args": strings(), "options": {"type": "object"}, "metadata": {"type": "object"},
        "analysis": {}, "commit_config": {}, "auto_commit": {}, "step_validate": {}, "skip_validation": {}, "validation_timeout": {}, "ignore_validation_failure": {}
    })
}

fn on_failure() -> Value {
    json!({"anyOf": [boolean(), string(), {"type": "array", "items": {"anyOf": [string(), {"$ref": "#/$defs/step"}]}}, {
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "shell": string(), "claude": string(),
            "command": {"anyOf": [string(), {"type": "object", "properties": {"shell": string(), "claude": string()}}]},
            "commands": steps(),
            "max_attempts": count(), "max_retries": count(),
            "fail_workflow": boolean(), "retry_original": boolean(), "commit_required": boolean(),
            "strategy": {"enum": ["recovery", "fallback", "cleanup", "custom", "fixed", "linear", "exponential", "fibonacci"]},
            "timeout": duration(), "handler_failure_fatal": boolean(), "capture": {"type": "object"}, "on_failure": {}
        }
    }]})
}

fn backoff() -> Value {
    json!({"anyOf": [
        {"enum": ["fixed", "linear", "exponential", "fibonacci"]},
        {"type": "object", "properties": {
            "type": {"enum": ["fixed", "linear", "exponential", "fibonacci", "custom"]},
            "delay": duration(), "initial": duration(), "increment": duration(),
            "multiplier": {"type": "number"}, "base": {"type": "number"}, "max_delay": duration(),
            "delays": {"type": "array", "items": duration()}
        }, "additionalProperties": false},
        {"type": "object", "minProperties": 1, "maxProperties": 1}
    ]})
}

fn retry() -> Value {
    json!({"anyOf": [{"type": "integer", "minimum": 1}, {
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "attempts": count(), "max_attempts": count(), "backoff": {"$ref": "#/$defs/backoff"},
            "initial_delay": duration(), "max_delay": duration(), "jitter": boolean(),
            "jitter_factor": {"type": "number"}, "retry_on": {"type": "array"}, "retry_budget": duration()
        }
    }]})
}

fn error_policy() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "on_item_failure": {"description": "dlq, retry, skip, stop or custom:<handler_name>", "type": "string"},
            "continue_on_failure": boolean(),
            "max_failures": count(),
            "failure_threshold": {"type": "number", "minimum": 0, "maximum": 1},
            "error_collection": {"description": "aggregate, immediate or batched:N", "type": "string"},
            "circuit_breaker": {"type": "object", "properties": {"failure_threshold": count(), "success_threshold": count(), "timeout": duration(), "half_open_requests": count()}, "additionalProperties": false},
            "retry_config": {"$ref": "#/$defs/retry"}
        }
    })
}

fn validate() -> Value {
    let on_incomplete = json!({"anyOf": [steps(), {"type": "object", "additionalProperties": false, "properties": {
        "claude": string(), "shell": string(), "command": string(), "commands": steps(), "prompt": string(),
        "max_attempts": count(), "fail_workflow": boolean(), "commit_required": boolean()
    }}]});
    json!({"anyOf": [steps(), {"type": "object", "additionalProperties": false, "properties": {
        "claude": string(), "shell": string(), "command": string(), "commands": steps(),
        "result_file": string(), "threshold": {"type": "number", "minimum": 0, "maximum": 100},
        "timeout": duration(), "expected_schema": {}, "on_incomplete": on_incomplete
    }}]})
}
