//! The committed fixtures under `testdata/workflows/`: every valid workflow validates
//! and compiles into a graph; every invalid one fails with exactly the diagnostics in
//! its `NAME.expected` file. `PRODIGY_BLESS=1 cargo test fixtures` rewrites those files
//! from the binary's output; read the diff before committing it.

use std::path::Path;

use crate::support::{Test, fixture_files, fixtures};

/// Valid fixtures that `prodigy graph` cannot compile yet, with the ignored test that
/// shows the bug. Remove an entry when its test passes.
const GRAPH_BUGS: &[(&str, &str)] = &[];

/// Invalid fixtures whose diagnostics are not yet what a user should see, so they have
/// no `.expected` file to bless; each names the ignored test that shows the problem.
const AWAITING_BETTER_MESSAGES: &[(&str, &str)] = &[];

fn file_name(path: &Path) -> &str {
    path.file_name()
        .and_then(|n| n.to_str())
        .expect("a UTF-8 file name")
}

#[test]
fn every_valid_fixture_validates() {
    let files = fixture_files("valid");
    let output = Test::in_repo().arg("validate").args(&files).run();
    output.success().stderr_lacks("error:");
    for file in &files {
        let line = format!("{}: valid", file.display());
        assert!(
            output.stdout.lines().any(|l| l.starts_with(&line)),
            "`{line}` missing from stdout:\n{}",
            output.stdout
        );
    }
}

#[test]
fn every_valid_fixture_compiles_into_a_graph() {
    let mut failures = Vec::new();
    for file in fixture_files("valid") {
        if GRAPH_BUGS.iter().any(|(name, _)| *name == file_name(&file)) {
            continue;
        }
        let output = Test::in_repo().arg("graph").arg(&file).run();
        output.no_panic();
        if output.code != Some(0) || output.stdout.is_empty() {
            failures.push(format!(
                "{}: exit {:?}\n{}",
                file.display(),
                output.code,
                output.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn known_bug_lists_name_existing_fixtures() {
    for (name, test) in GRAPH_BUGS {
        assert!(fixtures("valid").join(name).is_file(), "{name} ({test})");
    }
    for (name, test) in AWAITING_BETTER_MESSAGES {
        let fixture = fixtures("invalid").join(name);
        assert!(fixture.is_file(), "{name} ({test})");
        assert!(
            !fixture.with_extension("expected").exists(),
            "{name} has an .expected file; remove it from AWAITING_BETTER_MESSAGES"
        );
    }
}

#[test]
fn every_invalid_fixture_fails_with_its_expected_diagnostics() {
    let bless = std::env::var_os("PRODIGY_BLESS").is_some_and(|v| v == "1");
    let mut failures = Vec::new();
    for file in fixture_files("invalid") {
        if AWAITING_BETTER_MESSAGES
            .iter()
            .any(|(name, _)| *name == file_name(&file))
        {
            continue;
        }
        let output = Test::in_repo().arg("validate").arg(&file).run();
        output.code(2).stdout_eq("");
        let expected_path = crate::support::repo_root()
            .join(&file)
            .with_extension("expected");
        if bless {
            std::fs::write(&expected_path, &output.stderr).expect("write .expected");
            continue;
        }
        match std::fs::read_to_string(&expected_path) {
            Ok(expected) if expected == output.stderr => {}
            Ok(expected) => failures.push(format!(
                "{}: stderr differs from {}\n--- expected ---\n{expected}--- actual ---\n{}",
                file.display(),
                file_name(&expected_path),
                output.stderr
            )),
            Err(_) => failures.push(format!(
                "{}: no {} file (run with PRODIGY_BLESS=1, then read it)",
                file.display(),
                file_name(&expected_path)
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_expected_file_has_its_fixture() {
    let dir = fixtures("invalid");
    for entry in std::fs::read_dir(&dir).expect("list invalid fixtures") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "expected") {
            assert!(
                path.with_extension("yml").is_file(),
                "{} has no .yml fixture",
                path.display()
            );
        }
    }
}

/// The brief's list of problems each has its own fixture, so that none is dropped.
#[test]
fn invalid_fixtures_cover_every_listed_problem() {
    let names: Vec<String> = fixture_files("invalid")
        .iter()
        .map(|f| file_name(f).trim_end_matches(".yml").to_string())
        .collect();
    for required in [
        "unknown-key-in-step",
        "unknown-key-in-map",
        "unknown-key-at-top-level",
        "unknown-key-in-error-policy",
        "wrong-types",
        "missing-map-input",
        "missing-agent-template",
        "missing-commands",
        "unknown-needs",
        "duplicate-ids",
        "cycle",
        "bad-durations",
        "bad-filter",
        "bad-sort-by",
        "bad-json-path",
        "item-outside-map",
        "map-total-outside-reduce",
        "map-field-typo",
        "max-parallel-zero",
        "bad-capture-format",
        "bad-on-item-failure",
        "bad-error-collection",
        "bad-backoff-type",
        "bad-isolation",
        "bad-write-file-format",
        "write-file-path-escape",
        "failure-threshold-percent",
        "conflicting-commands",
        "empty",
        "yaml-syntax-error",
        "duplicate-yaml-keys",
        "multiple-errors",
    ] {
        assert!(
            names.iter().any(|n| n == required),
            "no fixture {required}.yml"
        );
    }
}
