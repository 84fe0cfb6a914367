//! `prodigy validate`: exit codes, the human and JSON formats, `--allow-unknown`, and
//! messages that are not yet what a user should see (ignored, named `bug:`).

use crate::support::Test;

const VALID: &str = "- shell: cargo test\n";
const TWO_ERRORS: &str = "\
commands:
  - shell: cargo test
    timout: 30
  - shell: cargo build
    capture_format: xml
";
const ONE_WARNING: &str = "\
- claude: /prodigy-coverage
  analysis:
    max_cache_age: 300
";

#[test]
fn a_valid_file_prints_valid_and_exits_0() {
    Test::new()
        .file("flow.yml", VALID)
        .args(["validate", "flow.yml"])
        .run()
        .success()
        .stdout_eq("flow.yml: valid\n")
        .stderr_eq("");
}

#[test]
fn every_file_is_checked_and_one_invalid_file_fails_the_run() {
    let output = Test::new()
        .file("good.yml", VALID)
        .file("bad.yml", TWO_ERRORS)
        .file("also-good.yml", VALID)
        .args(["validate", "good.yml", "bad.yml", "also-good.yml"])
        .run();
    output
        .code(2)
        .stdout_eq("good.yml: valid\nalso-good.yml: valid\n")
        .stderr_has("error: unknown key `timout` in a step\n  --> bad.yml:3:5")
        .stderr_has("error: unknown capture format `xml`\n  --> bad.yml:5:21")
        .stderr_has("bad.yml: 2 errors found\n");
}

#[test]
fn warnings_are_shown_but_do_not_fail() {
    Test::new()
        .file("flow.yml", ONE_WARNING)
        .args(["validate", "flow.yml"])
        .run()
        .success()
        .stdout_eq("flow.yml: valid (1 warning)\n")
        .stderr_has("warning: `analysis` is accepted for compatibility but ignored")
        .stderr_has("  --> flow.yml:2:3");
}

#[test]
fn allow_unknown_turns_unknown_keys_into_warnings() {
    let flow = "- shell: make\n  timout: 5\n";
    Test::new()
        .file("flow.yml", flow)
        .args(["validate", "flow.yml"])
        .run()
        .code(2)
        .stderr_has("error: unknown key `timout` in a step");
    Test::new()
        .file("flow.yml", flow)
        .args(["validate", "--allow-unknown", "flow.yml"])
        .run()
        .success()
        .stdout_eq("flow.yml: valid (1 warning)\n")
        .stderr_has("warning: unknown key `timout` in a step")
        .stderr_has("= hint: did you mean `timeout`?");
}

#[test]
fn an_unknown_key_with_no_close_match_lists_the_known_keys() {
    Test::new()
        .file("flow.yml", "- shell: make\n  zzzzzzzz: 1\n")
        .args(["validate", "flow.yml"])
        .run()
        .code(2)
        .stderr_has("error: unknown key `zzzzzzzz` in a step")
        .stderr_has("= hint: known keys: ")
        .stderr_has("timeout");
}

#[test]
fn validate_without_files_is_a_usage_error() {
    Test::new()
        .arg("validate")
        .run()
        .code(2)
        .stderr_has("FILES");
}

#[test]
fn json_format_prints_one_object_per_file_per_line() {
    let output = Test::new()
        .file("good.yml", VALID)
        .file("bad.yml", TWO_ERRORS)
        .file("warn.yml", ONE_WARNING)
        .args([
            "validate", "--format", "json", "good.yml", "bad.yml", "warn.yml",
        ])
        .run();
    output.code(2).stderr_eq("");
    let lines = output.json_lines();
    assert_eq!(lines.len(), 3, "{}", output.stdout);

    let good = &lines[0];
    assert_eq!(good["file"], "good.yml");
    assert_eq!(good["valid"], true);
    assert_eq!(good["errors"], 0);
    assert_eq!(good["warnings"], 0);
    assert_eq!(good["diagnostics"], serde_json::json!([]));

    let bad = &lines[1];
    assert_eq!(bad["file"], "bad.yml");
    assert_eq!(bad["valid"], false);
    assert_eq!(bad["errors"], 2);
    let diags = bad["diagnostics"].as_array().expect("diagnostics");
    assert_eq!(diags.len(), 2);
    let first = &diags[0];
    assert_eq!(first["severity"], "error");
    assert_eq!(first["code"], "unknown-key");
    assert_eq!(first["line"], 3);
    assert_eq!(first["column"], 5);
    assert_eq!(first["message"], "unknown key `timout` in a step");
    assert_eq!(first["hint"], "did you mean `timeout`?");
    assert_eq!(diags[1]["code"], "unknown-value");
    assert_eq!(diags[1]["line"], 5);
    assert_eq!(diags[1]["column"], 21);

    let warn = &lines[2];
    assert_eq!(warn["valid"], true);
    assert_eq!(warn["errors"], 0);
    assert_eq!(warn["warnings"], 1);
    assert_eq!(warn["diagnostics"][0]["severity"], "warning");
    assert_eq!(warn["diagnostics"][0]["code"], "ignored-key");
}

#[test]
fn json_format_exits_0_when_every_file_is_valid() {
    let output = Test::new()
        .file("a.yml", VALID)
        .file("b.yml", ONE_WARNING)
        .args(["validate", "--format=json", "a.yml", "b.yml"])
        .run();
    output.success().stderr_eq("");
    let lines = output.json_lines();
    assert!(
        lines.iter().all(|l| l["valid"] == true),
        "{}",
        output.stdout
    );
}

#[test]
fn json_format_reports_unreadable_files_as_invalid() {
    let output = Test::new()
        .args(["validate", "--format", "json", "missing.yml"])
        .run();
    output.code(2).stderr_eq("");
    let lines = output.json_lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["file"], "missing.yml");
    assert_eq!(lines[0]["valid"], false);
    assert_eq!(lines[0]["errors"], 1);
    let diag = &lines[0]["diagnostics"][0];
    assert_eq!(diag["code"], "unreadable");
    assert!(
        diag["message"]
            .as_str()
            .is_some_and(|m| m.contains("does not exist")),
        "{diag}"
    );
}

#[test]
fn json_format_gives_yaml_errors_a_position() {
    let output = Test::new()
        .file("flow.yml", "commands:\n  - shell: \"cargo test\n")
        .args(["validate", "--format", "json", "flow.yml"])
        .run();
    output.code(2);
    let diag = &output.json_lines()[0]["diagnostics"][0];
    assert_eq!(diag["code"], "invalid-yaml");
    assert_eq!(diag["line"], 2);
    assert!(diag["hint"].is_string(), "{diag}");
}

// ---- messages that are wrong or unhelpful (ignored until fixed) ----

#[test]
fn duplicate_yaml_keys_are_named_without_parser_internals() {
    Test::new()
        .file("flow.yml", "- shell: a\n  timeout: 30\n  timeout: 60\n")
        .args(["validate", "flow.yml"])
        .run()
        .code(2)
        .stderr_has("duplicate key `timeout`")
        .stderr_has("  --> flow.yml:3:3")
        .stderr_lacks("DuplicateKeyPolicy")
        .stderr_lacks("indentation");
}

#[test]
fn missing_map_input_is_reported_in_plain_english() {
    Test::in_repo()
        .args([
            "validate",
            "testdata/workflows/invalid/missing-map-input.yml",
        ])
        .run()
        .code(2)
        .stderr_has("error: the map phase needs an `input` key")
        .stderr_has("= hint:");
}

#[test]
fn variable_errors_are_reported_alongside_decode_errors() {
    let flow = "\
name: two-kinds
mode: mapreduce
setup:
  - shell: echo ${item}
map:
  input: \"git ls-files\"
  agent_template:
    - shel: echo
";
    Test::new()
        .file("flow.yml", flow)
        .args(["validate", "flow.yml"])
        .run()
        .code(2)
        .stderr_has("`${item}` is not available in the setup phase")
        .stderr_has("unknown key `shel` in a step")
        .stderr_has("flow.yml: 3 errors found");
}

#[test]
fn setup_and_agent_timeouts_accept_env_references() {
    let flow = "\
name: env-timeouts
mode: mapreduce
env:
  SETUP_TIMEOUT: \"900\"
setup:
  timeout: \"${SETUP_TIMEOUT}\"
  commands:
    - shell: echo hi
map:
  input: \"git ls-files\"
  agent_timeout_secs: \"${SETUP_TIMEOUT}\"
  agent_template:
    - shell: echo ${item}
";
    Test::new()
        .file("flow.yml", flow)
        .args(["validate", "flow.yml"])
        .run()
        .success();
}

#[test]
fn sort_by_typo_suggests_the_direction_meant() {
    Test::new()
        .file(
            "flow.yml",
            "mode: mapreduce\nmap:\n  input: ls\n  sort_by: score DSC\n  agent_template: [shell: echo]\n",
        )
        .args(["validate", "flow.yml"])
        .run()
        .code(2)
        .stderr_has("did you mean `DESC`?");
}

#[test]
fn filter_errors_point_at_the_offending_character() {
    // `score >= ` is 9 characters; the message says "at character 10".
    Test::new()
        .file(
            "flow.yml",
            "mode: mapreduce\nmap:\n  input: ls\n  filter: \"score >= && ok\"\n  agent_template: [shell: echo]\n",
        )
        .args(["validate", "flow.yml"])
        .run()
        .code(2)
        .stderr_has("at character 10")
        .stderr_has("  --> flow.yml:4:21");
}

#[test]
fn filter_messages_describe_what_was_written() {
    let check = |filter: &str| {
        Test::new()
            .file(
                "flow.yml",
                format!(
                    "mode: mapreduce\nmap:\n  input: ls\n  filter: \"{filter}\"\n  agent_template: [shell: echo]\n"
                ),
            )
            .args(["validate", "flow.yml"])
            .run()
    };
    check("score => 5").code(2).stderr_lacks("`==`");
    check("score >= && ok")
        .code(2)
        .stderr_lacks("quote string values");
    check("(score > 5").code(2).stderr_lacks("offset 0");
}
