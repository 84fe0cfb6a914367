//! `prodigy schema`: the JSON Schema editors use. It is committed as
//! `docs/workflow.schema.json`, must match the binary, and must accept every valid
//! fixture (checked with a small validator for the keywords the schema uses).

use serde_json::Value;

use crate::support::{Test, fixture_files, repo_root};

fn schema() -> Value {
    let output = Test::new().arg("schema").run();
    output.success().stderr_eq("");
    output.json()
}

#[test]
fn schema_matches_the_committed_file() {
    let output = Test::new().arg("schema").run();
    output.success();
    let committed =
        std::fs::read_to_string(repo_root().join("docs/workflow.schema.json")).unwrap_or_default();
    assert!(
        output.stdout == committed,
        "docs/workflow.schema.json is out of date; run `cargo run -- schema > docs/workflow.schema.json`"
    );
}

#[test]
fn schema_is_a_2020_12_schema_with_a_step_definition() {
    let schema = schema();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let step = &schema["$defs"]["step"];
    assert!(step.is_object(), "no $defs.step");
    let text = step.to_string();
    for key in [
        "shell",
        "claude",
        "write_file",
        "foreach",
        "on_failure",
        "timeout",
    ] {
        assert!(
            text.contains(&format!("\"{key}\"")),
            "$defs.step lacks {key}"
        );
    }
    assert!(schema["$defs"]["workflow"].is_object(), "no $defs.workflow");
}

#[test]
fn every_valid_fixture_conforms_to_the_schema() {
    let schema = schema();
    let mut failures = Vec::new();
    for file in fixture_files("valid") {
        let text = std::fs::read_to_string(repo_root().join(&file)).expect("fixture");
        let doc = yaml_to_json(&text);
        if let Err(e) = validate(&schema, &schema, &doc, "") {
            failures.push(format!("{}: {e}", file.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_schema_rejects_unknown_keys_and_bad_enums() {
    let schema = schema();
    for (yaml, why) in [
        ("- shell: make\n  timout: 5\n", "unknown step key"),
        ("nmae: x\ncommands: []\n", "unknown top-level key"),
        (
            "- shell: make\n  capture_format: xml\n",
            "bad capture_format",
        ),
        (
            "- write_file: {path: a, content: b, format: toml}\n",
            "bad format",
        ),
        ("- foreach: {foreach: [a]}\n", "foreach without do"),
        (
            "mode: mapreduce\nmap: {input: x, agent_template: [], json_pth: y}\n",
            "typo in map",
        ),
        (
            "mode: mapreduce\nmap: {input: x, agent_template: []}\nerror_policy: {max_failure: 1}\n",
            "typo in error_policy",
        ),
        (
            "- shell: make\n  on_failure: {claude: /fix, max_attempt: 2}\n",
            "typo in on_failure",
        ),
        (
            "- shell: make\n  retry: {attempts: 2, backof: fixed}\n",
            "typo in retry",
        ),
    ] {
        let doc = yaml_to_json(yaml);
        assert!(
            validate(&schema, &schema, &doc, "").is_err(),
            "the schema accepts a {why}: {yaml}"
        );
    }
}

/// YAML -> JSON the way editors see it: non-string keys become strings.
fn yaml_to_json(text: &str) -> Value {
    let yaml: serde_json::Value = serde_saphyr::from_str(text)
        .or_else(|_| serde_saphyr::from_str::<YamlValue>(text).map(YamlValue::into_json))
        .unwrap_or_else(|e| panic!("not YAML: {e}"));
    yaml
}

/// A YAML value whose mapping keys may be any scalar.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum YamlValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<YamlValue>),
    Map(std::collections::BTreeMap<YamlKey, YamlValue>),
}

#[derive(serde::Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(untagged)]
enum YamlKey {
    Int(i64),
    Str(String),
}

impl YamlValue {
    fn into_json(self) -> Value {
        match self {
            YamlValue::Null => Value::Null,
            YamlValue::Bool(b) => Value::Bool(b),
            YamlValue::Int(i) => Value::from(i),
            YamlValue::Float(f) => Value::from(f),
            YamlValue::Str(s) => Value::String(s),
            YamlValue::Seq(items) => items.into_iter().map(YamlValue::into_json).collect(),
            YamlValue::Map(entries) => Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| {
                        let key = match k {
                            YamlKey::Int(i) => i.to_string(),
                            YamlKey::Str(s) => s,
                        };
                        (key, v.into_json())
                    })
                    .collect(),
            ),
        }
    }
}

/// Validates `value` against `schema` for the keywords `prodigy schema` uses; returns
/// the first problem with its JSON path.
fn validate(root: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let Some(obj) = schema.as_object() else {
        return Ok(()); // `true` / `{}`-like
    };
    if let Some(Value::String(r)) = obj.get("$ref") {
        let name = r.strip_prefix("#/$defs/").expect("local $ref");
        validate(root, &root["$defs"][name], value, at)?;
    }
    if let Some(Value::Array(options)) = obj.get("anyOf") {
        let errors: Vec<String> = options
            .iter()
            .filter_map(|s| validate(root, s, value, at).err())
            .collect();
        if errors.len() == options.len() {
            return Err(format!(
                "{at}: matches no alternative ({})",
                errors.join(" | ")
            ));
        }
    }
    if let Some(t) = obj.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !types.iter().any(|t| has_type(value, t)) {
            return Err(format!("{at}: expected {types:?}, found {value}"));
        }
    }
    if let Some(Value::Array(options)) = obj.get("enum")
        && !options.contains(value)
    {
        return Err(format!("{at}: {value} is not one of {options:?}"));
    }
    if let Some(n) = value.as_f64() {
        if obj
            .get("minimum")
            .and_then(Value::as_f64)
            .is_some_and(|m| n < m)
        {
            return Err(format!("{at}: {n} is below the minimum"));
        }
        if obj
            .get("maximum")
            .and_then(Value::as_f64)
            .is_some_and(|m| n > m)
        {
            return Err(format!("{at}: {n} is above the maximum"));
        }
    }
    if let Value::Array(items) = value
        && let Some(item_schema) = obj.get("items")
    {
        for (i, item) in items.iter().enumerate() {
            validate(root, item_schema, item, &format!("{at}[{i}]"))?;
        }
    }
    if let Value::Object(map) = value {
        validate_object(root, obj, map, at)?;
    }
    Ok(())
}

fn validate_object(
    root: &Value,
    schema: &serde_json::Map<String, Value>,
    map: &serde_json::Map<String, Value>,
    at: &str,
) -> Result<(), String> {
    let properties = schema.get("properties").and_then(Value::as_object);
    for (key, v) in map {
        let path = format!("{at}.{key}");
        match (
            properties.and_then(|p| p.get(key)),
            schema.get("additionalProperties"),
        ) {
            (Some(s), _) => validate(root, s, v, &path)?,
            (None, Some(Value::Bool(false))) => return Err(format!("{path}: unknown key")),
            (None, Some(s)) => validate(root, s, v, &path)?,
            (None, None) => {}
        }
    }
    for key in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !map.contains_key(key) {
            return Err(format!("{at}: missing `{key}`"));
        }
    }
    let len = map.len() as u64;
    if schema
        .get("minProperties")
        .and_then(Value::as_u64)
        .is_some_and(|m| len < m)
    {
        return Err(format!("{at}: too few keys"));
    }
    if schema
        .get("maxProperties")
        .and_then(Value::as_u64)
        .is_some_and(|m| len > m)
    {
        return Err(format!("{at}: too many keys"));
    }
    Ok(())
}

fn has_type(value: &Value, t: &str) -> bool {
    match t {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => false,
    }
}
