//! Files that are not workflows at all: every command that reads a workflow exits 2
//! with one clear `error:` line, and never panics or hangs.

use crate::support::{Output, Test};

/// The commands that read a workflow file.
const COMMANDS: [&[&str]; 3] = [&["validate"], &["graph"], &["run", "--dry-run"]];

/// Runs every command on `file` in a test dir prepared by `setup`.
fn each_command(setup: impl Fn() -> Test, file: &str) -> Vec<Output> {
    COMMANDS
        .iter()
        .map(|cmd| setup().args(cmd.iter()).arg(file).run())
        .collect()
}

/// Exit 2, no panic, nothing on stdout, and a first stderr line that starts with
/// `error:`, mentions `phrase` and fits on a terminal line.
#[track_caller]
fn assert_clear_error(outputs: &[Output], phrase: &str) {
    for output in outputs {
        output.code(2).stdout_eq("");
        let first = output.first_stderr_line();
        assert!(
            first.starts_with("error: ") && first.contains(phrase),
            "first stderr line should be `error: ...{phrase}...`, got: {first:.300}"
        );
        assert!(
            first.chars().count() <= 200,
            "the error line is {} characters long: {first:.300}",
            first.chars().count()
        );
    }
}

fn alias_bomb() -> String {
    let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..12 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    text
}

fn deeply_nested() -> String {
    format!("{}{}\n", "[".repeat(10_000), "]".repeat(10_000))
}

/// One line of 1 MiB of YAML-ish junk (deterministic).
fn megabyte_of_junk() -> String {
    const CHARS: &[u8] = b"ab:{}[]-,#&*!|>'\"%@` ";
    let mut state: u32 = 12345;
    (0..1 << 20)
        .map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            CHARS[(state >> 16) as usize % CHARS.len()] as char
        })
        .collect()
}

#[test]
fn a_missing_file() {
    let outputs = each_command(Test::new, "missing.yml");
    assert_clear_error(&outputs, "workflow file `missing.yml` does not exist");
}

#[test]
fn a_directory() {
    let setup = || {
        let test = Test::new();
        std::fs::create_dir(test.path().join("flows.yml")).expect("mkdir");
        test
    };
    let outputs = each_command(setup, "flows.yml");
    assert_clear_error(&outputs, "`flows.yml` is a directory, not a workflow file");
}

#[test]
fn binary_garbage() {
    let bytes: Vec<u8> = b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x01binary"
        .iter()
        .copied()
        .cycle()
        .take(4096)
        .collect();
    let outputs = each_command(|| Test::new().file("image.yml", &bytes), "image.yml");
    assert_clear_error(&outputs, "`image.yml` is not a UTF-8 text file");
}

#[test]
fn a_file_with_nul_bytes() {
    let text = "commands:\n  - shell: \"make\0all\"\n";
    let outputs = each_command(|| Test::new().file("nul.yml", text), "nul.yml");
    assert_clear_error(&outputs, "invalid YAML");
    for output in &outputs {
        output.stderr_has("nul.yml:2:");
    }
}

#[test]
fn an_alias_bomb() {
    let text = alias_bomb();
    let outputs = each_command(|| Test::new().file("bomb.yml", &text), "bomb.yml");
    assert_clear_error(&outputs, "invalid YAML");
}

#[test]
fn ten_thousand_nested_lists() {
    let text = deeply_nested();
    let outputs = each_command(|| Test::new().file("deep.yml", &text), "deep.yml");
    assert_clear_error(&outputs, "invalid YAML");
}

#[test]
fn a_one_line_megabyte_of_junk() {
    let text = megabyte_of_junk();
    let outputs = each_command(|| Test::new().file("junk.yml", &text), "junk.yml");
    assert_clear_error(&outputs, "invalid YAML");
}

#[test]
fn an_empty_file() {
    let outputs = each_command(|| Test::new().file("empty.yml", ""), "empty.yml");
    assert_clear_error(&outputs, "the workflow file is empty");
}

#[test]
fn a_scalar_document() {
    let outputs = each_command(|| Test::new().file("scalar.yml", "42\n"), "scalar.yml");
    assert_clear_error(
        &outputs,
        "expected a list of steps or a workflow mapping, found an integer",
    );
}

// ---- problems (ignored until fixed) ----

#[test]
fn huge_lines_are_not_echoed_in_full() {
    for (name, text) in [
        ("junk.yml", megabyte_of_junk()),
        ("deep.yml", deeply_nested()),
        ("long.yml", "x".repeat(1 << 20)),
    ] {
        for output in each_command(|| Test::new().file(name, &text), name) {
            output.code(2);
            assert!(
                output.stderr.len() < 4096,
                "{name}: stderr is {} bytes",
                output.stderr.len()
            );
        }
    }
}

#[test]
fn alias_bomb_message_is_plain() {
    let text = alias_bomb();
    for output in each_command(|| Test::new().file("bomb.yml", &text), "bomb.yml") {
        let first = output.first_stderr_line().to_string();
        output.code(2);
        assert!(first.contains("alias"), "{first}");
        assert!(!first.contains("Nodes {"), "{first}");
        assert!(!first.ends_with("(used"), "{first}");
    }
}

#[test]
fn control_characters_are_not_echoed_raw() {
    let text = "commands:\n  - shell: \"make\0all\"\n";
    for output in each_command(|| Test::new().file("nul.yml", text), "nul.yml") {
        output.code(2);
        assert!(
            !output.stderr_bytes.contains(&0),
            "stderr has a NUL byte: {:?}",
            output.stderr
        );
    }
}

/// Runs prodigy in `dir` with the read end of stdout or stderr closed at once.
fn run_with_closed_pipe(dir: &std::path::Path, args: &[&str], close_stdout: bool) -> Option<i32> {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_prodigy"))
        .current_dir(dir)
        .args(args)
        .stdout(if close_stdout {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stderr(if close_stdout {
            Stdio::null()
        } else {
            Stdio::piped()
        })
        .spawn()
        .expect("spawn prodigy");
    drop(child.stdout.take());
    drop(child.stderr.take());
    child.wait().expect("wait").code()
}

#[test]
fn a_closed_stdout_pipe_is_a_quiet_success_for_graph() {
    let items: Vec<String> = (0..5000).map(|i| format!("{{\"n\": {i}}}")).collect();
    let test = Test::new().file("items.json", format!("[{}]", items.join(","))).file(
        "flow.yml",
        "mode: mapreduce\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo ${item.n}\n",
    );
    let code = run_with_closed_pipe(test.path(), &["graph", "flow.yml", "--expand"], true);
    assert_eq!(code, Some(0));
}

#[test]
fn a_closed_stdout_pipe_is_a_quiet_success_for_validate() {
    let test = Test::new().file("flow.yml", "- shell: make\n");
    let mut args = vec!["validate"];
    args.extend(std::iter::repeat_n("flow.yml", 5000));
    assert_eq!(run_with_closed_pipe(test.path(), &args, true), Some(0));
}

#[test]
fn a_closed_stderr_pipe_does_not_panic() {
    let test = Test::new().file("junk.yml", megabyte_of_junk());
    let code = run_with_closed_pipe(test.path(), &["validate", "junk.yml"], false);
    assert_eq!(code, Some(2));
}
