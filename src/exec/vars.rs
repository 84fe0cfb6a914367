//! The variables a step sees: captures, `shell.output`, `item.*`, `map.*`, `env.*`,
//! arguments; and rendering `${...}` templates against them.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::workflow::interpolate::{Segment, Template, VarPath};

/// Why a template could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The template's `${...}` syntax is malformed.
    #[error("cannot interpolate `{text}`: {message}")]
    Syntax {
        /// The template (first line).
        text: String,
        /// What is wrong.
        message: String,
    },
    /// A variable has no value and no default.
    #[error("undefined variable `${{{path}}}`{}", suggestion.as_ref().map(|s| format!(" (did you mean `${{{s}}}`?)")).unwrap_or_default())]
    Undefined {
        /// The variable.
        path: String,
        /// A defined name that looks like it.
        suggestion: Option<String>,
    },
}

/// Facts about a capture, readable as `${name.exit_code}` and friends.
const META_FIELDS: [&str; 4] = ["exit_code", "success", "duration", "stderr"];

/// A set of variables; cheap to clone for each node (the OS environment is shared).
#[derive(Debug, Clone, Default)]
pub struct Vars {
    values: BTreeMap<String, Value>,
    meta: BTreeMap<String, BTreeMap<String, Value>>,
    os_env: Arc<BTreeMap<String, String>>,
    /// Roots set since the last `take_changes`, so a node hands back only what it set
    /// (a parallel branch must not write back stale copies of other variables).
    touched: std::collections::BTreeSet<String>,
}

impl Vars {
    /// Variables that can also read `${env.X}` from `os_env`.
    pub fn new(os_env: Arc<BTreeMap<String, String>>) -> Self {
        Vars {
            values: BTreeMap::new(),
            meta: BTreeMap::new(),
            os_env,
            touched: Default::default(),
        }
    }

    /// Sets `name`, which may be dotted (`shell.output` sets field `output` of `shell`).
    pub fn set(&mut self, name: &str, value: Value) {
        let mut parts = name.split('.');
        let root = parts.next().unwrap_or(name).to_string();
        self.touched.insert(root.clone());
        let rest: Vec<&str> = parts.collect();
        if rest.is_empty() {
            self.values.insert(root, value);
            return;
        }
        let mut slot = self
            .values
            .entry(root)
            .or_insert_with(|| Value::Object(Default::default()));
        for part in rest {
            if !slot.is_object() {
                *slot = Value::Object(Default::default());
            }
            let Value::Object(map) = slot else { return };
            slot = map.entry(part.to_string()).or_insert(Value::Null);
        }
        *slot = value;
    }

    /// Records facts (`exit_code`, `success`, `duration`, `stderr`) about capture `name`.
    pub fn set_meta(&mut self, name: &str, field: &str, value: Value) {
        self.touched.insert(name.to_string());
        self.meta
            .entry(name.to_string())
            .or_default()
            .insert(field.to_string(), value);
    }

    /// The value of root `name` (to restore it later with `restore`).
    pub fn root(&self, name: &str) -> Option<Value> {
        self.values.get(name).cloned()
    }

    /// Sets root `name` back to `value`, or removes it.
    pub fn restore(&mut self, name: &str, value: Option<Value>) {
        match value {
            Some(v) => self.set(name, v),
            None => {
                self.values.remove(name);
            }
        }
    }

    /// The variables as a JSON object, without the declared env (which holds secrets).
    pub fn to_json(&self) -> Value {
        Value::Object(
            self.values
                .iter()
                .filter(|(k, _)| *k != "env")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }

    /// The variables and their facts, as stored in a cache entry (without `env`).
    pub fn captures(&self) -> (BTreeMap<String, Value>, BTreeMap<String, Value>) {
        let values = self
            .values
            .iter()
            .filter(|(k, _)| *k != "env")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let meta = self
            .meta
            .iter()
            .map(|(k, v)| (k.clone(), Value::Object(v.clone().into_iter().collect())))
            .collect();
        (values, meta)
    }

    /// Variables restored from a cache entry's captures (see [`Vars::captures`]).
    pub fn from_captures(values: &BTreeMap<String, Value>, meta: &BTreeMap<String, Value>) -> Vars {
        let meta = meta
            .iter()
            .map(|(k, v)| {
                let fields = v
                    .as_object()
                    .map(|o| o.iter().map(|(f, x)| (f.clone(), x.clone())).collect())
                    .unwrap_or_default();
                (k.clone(), fields)
            })
            .collect();
        Vars {
            values: values.clone(),
            meta,
            ..Vars::default()
        }
    }

    /// Sets every root of a JSON object made by `to_json`.
    pub fn set_all(&mut self, json: &Value) {
        if let Value::Object(map) = json {
            for (k, v) in map {
                self.values.insert(k.clone(), v.clone());
            }
        }
    }

    /// Forgets which variables were set so far (a node starts from here).
    pub fn mark_clean(&mut self) {
        self.touched.clear();
    }

    /// Only the variables set since `mark_clean`, to merge into the job's variables.
    pub fn take_changes(&mut self) -> Vars {
        let touched = std::mem::take(&mut self.touched);
        Vars {
            values: self
                .values
                .iter()
                .filter(|(k, _)| touched.contains(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            meta: self
                .meta
                .iter()
                .filter(|(k, _)| touched.contains(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            os_env: Arc::clone(&self.os_env),
            touched: Default::default(),
        }
    }

    /// Copies every variable of `other` into this set.
    pub fn extend(&mut self, other: &Vars) {
        for (k, v) in &other.values {
            self.values.insert(k.clone(), v.clone());
        }
        for (k, v) in &other.meta {
            self.meta.insert(k.clone(), v.clone());
        }
    }

    /// The value of a variable path.
    pub fn get(&self, path: &VarPath) -> Option<Value> {
        if path.root == "env"
            && let [Segment::Field(name)] = path.segments.as_slice()
        {
            let declared = self.values.get("env").and_then(|e| e.get(name)).cloned();
            return declared.or_else(|| self.os_env.get(name).map(|v| Value::String(v.clone())));
        }
        if let Some(value) = self
            .values
            .get(&path.root)
            .and_then(|root| path.get_in(root))
        {
            return Some(value.clone());
        }
        let dotted = dotted_name(path);
        if let Some(value) = self.values.get(&dotted) {
            return Some(value.clone());
        }
        match path.segments.as_slice() {
            // A bare `${NAME}` that is no prodigy variable is an environment variable:
            // the workflow's declared env first, then the OS environment.
            [] => self
                .values
                .get("env")
                .and_then(|e| e.get(&path.root))
                .cloned()
                .or_else(|| {
                    self.os_env
                        .get(&path.root)
                        .map(|v| Value::String(v.clone()))
                }),
            [Segment::Field(field)] if META_FIELDS.contains(&field.as_str()) => self
                .meta
                .get(&path.root)
                .and_then(|m| m.get(field))
                .cloned(),
            _ => None,
        }
    }

    /// Every defined name, for did-you-mean suggestions.
    pub fn names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for (root, value) in &self.values {
            names.push(root.clone());
            if let Value::Object(map) = value {
                names.extend(map.keys().map(|k| format!("{root}.{k}")));
            }
        }
        names
    }

    /// Renders `text`, substituting every `${...}`; undefined variables are errors.
    pub fn render(&self, text: &str) -> Result<String, RenderError> {
        let template = Template::parse(text).map_err(|e| RenderError::Syntax {
            text: text.lines().next().unwrap_or("").to_string(),
            message: e.to_string(),
        })?;
        template
            .render(&|path| self.get(path))
            .map_err(|undefined| {
                let names = self.names();
                let undefined = undefined.suggest_from(names.iter().map(String::as_str));
                RenderError::Undefined {
                    path: undefined.path.to_string(),
                    suggestion: undefined.suggestion,
                }
            })
    }
}

/// `a.b` for a path of fields only (captures may be named with dots).
fn dotted_name(path: &VarPath) -> String {
    let mut name = path.root.clone();
    for s in &path.segments {
        match s {
            Segment::Field(f) => {
                name.push('.');
                name.push_str(f);
            }
            Segment::Index(i) => name.push_str(&format!("[{i}]")),
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars() -> Vars {
        let mut os = BTreeMap::new();
        os.insert("HOME".to_string(), "/home/x".to_string());
        Vars::new(Arc::new(os))
    }

    #[test]
    fn renders_nested_items_captures_and_env() {
        let mut v = vars();
        v.set("item", json!({"name": "a.rs", "tags": ["x", "y"]}));
        v.set("shell.output", json!("ok"));
        v.set("count", json!(3));
        let text = v
            .render("${item.name} ${item.tags[1]} ${shell.output} ${count} ${env.HOME}")
            .unwrap();
        assert_eq!(text, "a.rs y ok 3 /home/x");
    }

    #[test]
    fn undefined_variables_are_errors_with_suggestions() {
        let mut v = vars();
        v.set("item", json!({"name": "a"}));
        let err = v.render("echo ${item.nme}").unwrap_err();
        assert_eq!(
            err,
            RenderError::Undefined {
                path: "item.nme".into(),
                suggestion: Some("item.name".into())
            }
        );
        assert_eq!(v.render("${missing:-fallback}").unwrap(), "fallback");
    }

    #[test]
    fn capture_facts_are_readable() {
        let mut v = vars();
        v.set("out", json!("text"));
        v.set_meta("out", "exit_code", json!(0));
        assert_eq!(v.render("${out}:${out.exit_code}").unwrap(), "text:0");
    }

    #[test]
    fn bare_names_fall_back_to_declared_then_os_env() {
        let mut v = vars();
        v.set("env", json!({"LEVEL": "3"}));
        assert_eq!(
            v.render("${LEVEL} ${HOME} ${NOPE:-x}").unwrap(),
            "3 /home/x x"
        );
    }

    #[test]
    fn declared_env_wins_over_os_env() {
        let mut v = vars();
        v.set("env", json!({"HOME": "/declared"}));
        assert_eq!(v.render("${env.HOME}").unwrap(), "/declared");
    }
}
