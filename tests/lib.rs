//! prodigy's one integration test binary: every test runs the real `prodigy` binary
//! on workflow files and asserts what a user sees (exit code, stdout, stderr, files).
//!
//! The modules live under `tests/cli/` so that Cargo builds one binary, not one per file.

mod support;

#[path = "cli/bad_input.rs"]
mod bad_input;
#[path = "cli/dry_run.rs"]
mod dry_run;
#[path = "cli/fixtures.rs"]
mod fixtures;
#[path = "cli/graph.rs"]
mod graph;
#[path = "cli/hash.rs"]
mod hash;
#[path = "cli/map_input.rs"]
mod map_input;
#[path = "cli/schema.rs"]
mod schema;
#[path = "cli/validate.rs"]
mod validate;
