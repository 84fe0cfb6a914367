//! `--explain`: the one-line difference between a node's stored key and its new key,
//! both as the JSON of `graph::hash::NodeKey`. Fields are compared in the order a person
//! cares about (format, kind, definition, item, env, inputs, dependencies, claude), then
//! any other field by name; the first difference is the reason.
//!
//! Shapes understood, beyond "the value differs": `definition` as a step's JSON (`action`
//! is the command; any other field is named) or a list of steps; `env` as `{NAME: value}`
//! (nested objects allowed; the deepest all-caps key names the variable); `inputs` as
//! `{path: digest}` or `[{path, digest}]`; `dependencies` as `{node id: output digest}` or
//! `[{id, output}]`. Any other shape gets the field's generic line (`env changed`).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// The fields whose difference is described first, in this order.
const ORDER: [&str; 8] = [
    "schema_version",
    "kind",
    "definition",
    "item",
    "env",
    "inputs",
    "dependencies",
    "claude_version",
];

/// Why `new_key` differs from `old_key`, in one line: `command changed`,
/// `input src/a.rs changed`, `item changed`, `env FOO changed`,
/// `dependency test produced new output`, `key format changed`...
pub fn explain(old_key: &Value, new_key: &Value) -> String {
    let (Some(old), Some(new)) = (old_key.as_object(), new_key.as_object()) else {
        return "key format changed".to_string();
    };
    let others = old.keys().chain(new.keys()).map(String::as_str);
    let mut fields: Vec<&str> = ORDER.to_vec();
    let mut rest: Vec<&str> = others.filter(|f| !ORDER.contains(f)).collect();
    rest.sort_unstable();
    rest.dedup();
    fields.extend(rest);
    let null = Value::Null;
    for field in fields {
        let (a, b) = (old.get(field), new.get(field));
        if a != b {
            return describe(field, a.unwrap_or(&null), b.unwrap_or(&null));
        }
    }
    // Equal JSON under different digests: the encoding itself changed.
    "key format changed".to_string()
}

fn describe(field: &str, old: &Value, new: &Value) -> String {
    match field {
        "schema_version" => "key format changed".to_string(),
        "kind" => "node kind changed".to_string(),
        "definition" => definition(old, new),
        "item" => "item changed".to_string(),
        "env" => match first_env_name(old, new) {
            Some(name) => format!("env {name} changed"),
            None => "env changed".to_string(),
        },
        "inputs" => match first_change(old, new, &["path", "file"]) {
            Some((path, change)) => format!("input {path} {}", change.word("changed")),
            None => "inputs changed".to_string(),
        },
        "dependencies" => match first_change(old, new, &["id", "node"]) {
            Some((id, change)) => format!("dependency {id} {}", change.word("produced new output")),
            None => "dependencies changed".to_string(),
        },
        "claude_version" => "claude version changed".to_string(),
        other => format!("{} changed", other.replace('_', " ")),
    }
}

/// `command changed`, or the step field that changed (`step timeout changed`).
fn definition(old: &Value, new: &Value) -> String {
    match (old, new) {
        (Value::Array(a), Value::Array(b)) => match a.iter().zip(b).find(|(x, y)| x != y) {
            Some((x, y)) => definition(x, y),
            None if a.len() < b.len() => "step added".to_string(),
            None => "step removed".to_string(),
        },
        (Value::Object(a), Value::Object(b)) => {
            const COMMAND: [&str; 5] = ["action", "shell", "command", "run", "cmd"];
            let differs = |k: &str| a.get(k) != b.get(k);
            if COMMAND.iter().any(|k| differs(k)) {
                return "command changed".to_string();
            }
            match union(a, b).into_iter().find(|k| differs(k)) {
                Some(field) => format!("step {field} changed"),
                None => "command changed".to_string(),
            }
        }
        _ => "command changed".to_string(),
    }
}

/// The deepest all-caps key (`FOO`, `API_KEY`) on the path to the first difference,
/// descending through objects.
fn first_env_name(old: &Value, new: &Value) -> Option<String> {
    let (Value::Object(a), Value::Object(b)) = (old, new) else {
        return None;
    };
    let key = union(a, b).into_iter().find(|k| a.get(*k) != b.get(*k))?;
    let null = Value::Null;
    let (x, y) = (a.get(key).unwrap_or(&null), b.get(key).unwrap_or(&null));
    let is_name = !key.is_empty()
        && key.chars().any(|c| c.is_ascii_uppercase())
        && !key.chars().any(|c| c.is_lowercase());
    first_env_name(x, y).or_else(|| is_name.then(|| key.to_string()))
}

/// How one named thing (an input, a dependency) differs.
enum Change {
    Added,
    Removed,
    Changed,
}

impl Change {
    fn word(&self, changed: &str) -> String {
        match self {
            Change::Added => "added".to_string(),
            Change::Removed => "removed".to_string(),
            Change::Changed => changed.to_string(),
        }
    }
}

/// The first name (sorted) whose value differs between two named collections; `None`
/// when either side is not one.
fn first_change(old: &Value, new: &Value, name_fields: &[&str]) -> Option<(String, Change)> {
    let (a, b) = (named(old, name_fields)?, named(new, name_fields)?);
    let mut names: Vec<&String> = a.keys().chain(b.keys()).collect();
    names.sort_unstable();
    names.dedup();
    names.into_iter().find_map(|name| {
        let change = match (a.get(name), b.get(name)) {
            (None, Some(_)) => Change::Added,
            (Some(_), None) => Change::Removed,
            (Some(x), Some(y)) if x != y => Change::Changed,
            _ => return None,
        };
        Some((name.clone(), change))
    })
}

/// `{name: value}`, `[{<name field>: name, ...}]` or `[[name, value]]` as a map by name.
fn named<'a>(value: &'a Value, name_fields: &[&str]) -> Option<BTreeMap<String, &'a Value>> {
    match value {
        Value::Null => Some(BTreeMap::new()),
        Value::Object(map) => Some(map.iter().map(|(k, v)| (k.clone(), v)).collect()),
        Value::Array(items) => items
            .iter()
            .map(|item| {
                let name = match item {
                    Value::Object(o) => name_fields.iter().find_map(|f| o.get(*f)?.as_str()),
                    Value::Array(pair) => pair.first()?.as_str(),
                    _ => None,
                }?;
                Some((name.to_string(), item))
            })
            .collect(),
        _ => None,
    }
}

/// The keys of both objects, sorted, once each.
fn union<'a>(a: &'a Map<String, Value>, b: &'a Map<String, Value>) -> Vec<&'a str> {
    let mut keys: Vec<&str> = a.keys().chain(b.keys()).map(String::as_str).collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn key() -> Value {
        json!({
            "schema_version": 1,
            "kind": "step",
            "definition": {"action": {"shell": "cargo test"}, "timeout": 30},
            "env": {"env": {"FOO": "1", "BAR": "2"}, "secrets": {"TOKEN": "value:ab"}},
            "item": {"path": "src/a.rs"},
            "inputs": {"src/a.rs": "aa", "src/b.rs": "bb"},
            "dependencies": [{"id": "build", "output": "o1"}, {"id": "lint", "output": "o2"}],
            "claude_version": "1.0.0",
        })
    }

    /// `explain` of the base key against it with `path` set to `value`.
    fn after(path: &[&str], value: Value) -> String {
        let mut new = key();
        let mut slot = &mut new;
        for part in path {
            slot = match part.parse::<usize>() {
                Ok(i) => &mut slot[i],
                Err(_) => &mut slot[*part],
            };
        }
        *slot = value;
        explain(&key(), &new)
    }

    #[test]
    fn names_the_first_meaningful_difference() {
        let cases = [
            (
                after(&["definition", "action"], json!({"shell": "cargo build"})),
                "command changed",
            ),
            (
                after(&["definition", "timeout"], json!(60)),
                "step timeout changed",
            ),
            (after(&["definition"], json!("digest2")), "command changed"),
            (after(&["item", "path"], json!("src/b.rs")), "item changed"),
            (after(&["env", "env", "FOO"], json!("3")), "env FOO changed"),
            (
                after(&["env", "secrets", "TOKEN"], json!("value:cd")),
                "env TOKEN changed",
            ),
            (after(&["env"], json!("digest")), "env changed"),
            (
                after(&["inputs", "src/b.rs"], json!("b2")),
                "input src/b.rs changed",
            ),
            (
                after(&["inputs", "src/c.rs"], json!("cc")),
                "input src/c.rs added",
            ),
            (
                after(&["dependencies", "1", "output"], json!("o3")),
                "dependency lint produced new output",
            ),
            (after(&["schema_version"], json!(2)), "key format changed"),
            (
                after(&["claude_version"], json!("1.0.1")),
                "claude version changed",
            ),
            (after(&["input_tree"], json!("t")), "input tree changed"),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }

    #[test]
    fn the_most_important_difference_wins() {
        let mut new = key();
        new["inputs"]["src/a.rs"] = json!("a2");
        new["definition"]["action"] = json!({"shell": "cargo build"});
        assert_eq!(explain(&key(), &new), "command changed");
    }

    #[test]
    fn other_shapes_get_generic_lines() {
        let mut old = key();
        old["inputs"] = json!([{"path": "src/a.rs", "digest": "aa"}]);
        let mut new = old.clone();
        new["inputs"] = json!([]);
        assert_eq!(explain(&old, &new), "input src/a.rs removed");
        new["inputs"] = json!("digest");
        assert_eq!(explain(&old, &new), "inputs changed");
        assert_eq!(explain(&json!("garbage"), &key()), "key format changed");
        assert_eq!(explain(&key(), &key()), "key format changed");
        let mut steps = key();
        steps["definition"] = json!([{"action": "a"}]);
        let mut more = steps.clone();
        more["definition"] = json!([{"action": "a"}, {"action": "b"}]);
        assert_eq!(explain(&steps, &more), "step added");
    }
}
