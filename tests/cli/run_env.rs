//! The declared environment at run time: env files, command and conditional values,
//! secret values, profiles, `clear_env`, and values that refer to each other.

use crate::support::Test;

const ENV_FORMS: &str = "isolation: none
env_files: [.env]
env:
  STATIC: plain
  COMPUTED:
    command: echo from-a-command
  PICKED:
    condition: \"${mode} == 'release'\"
    when_true: release-branch
    when_false: debug-branch
profiles:
  ci:
    STATIC: ci-value
commands:
  - shell: echo \"$FROM_FILE|$QUOTED|$STATIC|$COMPUTED|$PICKED\" > env.txt
";

fn env_forms() -> Test {
    Test::new()
        .file(
            ".env",
            "# comment\nFROM_FILE=file-value\nexport QUOTED=\"two words\"\n",
        )
        .workflow(ENV_FORMS)
}

#[test]
fn env_files_commands_and_conditions_set_variables() {
    let output = env_forms().args(["--param", "mode=release"]).run_limited();
    output.success();
    assert_eq!(
        output.read("env.txt"),
        "file-value|two words|plain|from-a-command|release-branch\n"
    );
}

#[test]
fn a_false_condition_picks_the_other_value() {
    let output = env_forms().args(["--param", "mode=dev"]).run_limited();
    output.success();
    assert!(
        output.read("env.txt").ends_with("|debug-branch\n"),
        "{}",
        output.read("env.txt")
    );
}

#[test]
fn a_profile_overrides_the_workflow_env() {
    let output = env_forms()
        .args(["--param", "mode=dev", "--profile", "ci"])
        .run_limited();
    output.success();
    assert!(
        output.read("env.txt").contains("|ci-value|"),
        "{}",
        output.read("env.txt")
    );
}

#[test]
fn an_unknown_profile_is_a_usage_error() {
    let output = env_forms()
        .args(["--param", "mode=dev", "--profile", "nope"])
        .run_limited();
    output
        .code(2)
        .stderr_has("no profile `nope` in the workflow (profiles: ci)");
    assert!(!output.exists("env.txt"));
}

#[test]
fn secret_env_values_are_masked() {
    let output = Test::new()
        .workflow(
            "isolation: none
env:
  API_TOKEN:
    secret: true
    value: sk-live-4711-abcdef
commands:
  - shell: echo \"using $API_TOKEN\"; exit 1
",
        )
        .run_limited();
    output
        .code(1)
        .stderr_has("using ***")
        .stderr_lacks("sk-live-4711-abcdef");
}

#[test]
fn clear_env_starts_from_the_declared_env_only() {
    let output = Test::new()
        .workflow(
            "isolation: none
env:
  DECLARED: yes
commands:
  - shell: echo \"[$FROM_OS][$ONLY][$DECLARED]\" > env.txt
    clear_env: true
    env:
      ONLY: this
",
        )
        .env("FROM_OS", "leaked")
        .run_limited();
    output.success();
    assert_eq!(output.read("env.txt"), "[][this][yes]\n");
}

#[test]
fn env_values_can_use_env_values_declared_before_them() {
    let output = Test::new()
        .workflow(
            "isolation: none
env:
  ZETA: z
  ALPHA: \"${env.ZETA}-a\"
commands:
  - shell: echo $ALPHA > alpha.txt
",
        )
        .run_limited();
    output.success();
    assert_eq!(output.read("alpha.txt"), "z-a\n");
}
