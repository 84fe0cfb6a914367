//! prodigy's one integration test binary: every test runs the real `prodigy` binary
//! on workflow files and asserts what a user sees (exit code, stdout, stderr, files).
//!
//! The modules live under `tests/cli/` so that Cargo builds one binary, not one per file.

mod support;

#[path = "cli/bad_input.rs"]
mod bad_input;
#[path = "cli/build.rs"]
mod build;
#[path = "cli/build_resume.rs"]
mod build_resume;
#[path = "cli/cache_cmd.rs"]
mod cache_cmd;
#[path = "cli/dry_run.rs"]
mod dry_run;
#[path = "cli/errors_backoff.rs"]
mod errors_backoff;
#[path = "cli/errors_breaker.rs"]
mod errors_breaker;
#[path = "cli/errors_classify.rs"]
mod errors_classify;
#[path = "cli/errors_command.rs"]
mod errors_command;
#[path = "cli/errors_dlq.rs"]
mod errors_dlq;
#[path = "cli/errors_dlq_files.rs"]
mod errors_dlq_files;
#[path = "cli/errors_policy.rs"]
mod errors_policy;
#[path = "cli/fixtures.rs"]
mod fixtures;
#[path = "cli/graph.rs"]
mod graph;
#[path = "cli/hash.rs"]
mod hash;
#[path = "cli/map_input.rs"]
mod map_input;
#[path = "cli/regressions.rs"]
mod regressions;
#[path = "cli/run_actions.rs"]
mod run_actions;
#[path = "cli/run_basics.rs"]
mod run_basics;
#[path = "cli/run_claude.rs"]
mod run_claude;
#[path = "cli/run_env.rs"]
mod run_env;
#[path = "cli/run_fields.rs"]
mod run_fields;
#[path = "cli/run_map.rs"]
mod run_map;
#[path = "cli/run_policy.rs"]
mod run_policy;
#[path = "cli/run_recovery.rs"]
mod run_recovery;
#[path = "cli/run_report.rs"]
mod run_report;
#[path = "cli/run_signals.rs"]
mod run_signals;
#[path = "cli/run_vars.rs"]
mod run_vars;
#[path = "cli/schema.rs"]
mod schema;
#[path = "cli/validate.rs"]
mod validate;
