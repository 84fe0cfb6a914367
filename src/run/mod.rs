//! Turns the parsed command line into work: one function per subcommand.

mod build;
mod cache;
mod dlq;
mod job;

use std::io::Write;

use crate::cli::{
    Cli, Command, DiagnosticFormat, GraphArgs, GraphFormat, LoadArgs, PlanFormat, RunArgs,
    ValidateArgs,
};
use crate::error::{Error, ExitCode};
use crate::graph::{Plan, PlanOptions};
use crate::report::{self, diagnostic};
use crate::workflow::{self, LoadOptions, Workflow};

/// Runs one prodigy command and returns the exit code it earned.
pub fn run(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Command::Validate(args) => validate(&args),
        Command::Graph(args) => graph(&args),
        Command::Run(args) => run_workflow(&args),
        Command::Build(args) => build::build(&args),
        Command::Resume(args) => build::resume(&args),
        Command::Cache(command) => cache::run(command),
        Command::Schema => schema(),
        Command::Dlq(command) => dlq::run(command),
    }
}

impl From<&LoadArgs> for LoadOptions {
    fn from(args: &LoadArgs) -> Self {
        LoadOptions {
            allow_unknown: args.allow_unknown,
        }
    }
}

/// `prodigy validate FILE...`: every file, every problem; exit 2 when any has errors.
fn validate(args: &ValidateArgs) -> Result<ExitCode, Error> {
    let mut invalid = false;
    for path in &args.files {
        let (name, diags) = match workflow::source::read(path) {
            Ok(source) => {
                let checked = workflow::check(&source, (&args.load).into());
                if args.format == DiagnosticFormat::Human {
                    for d in &checked.diagnostics {
                        report::eprint(&diagnostic::render(d, &source.name(), &source.text));
                    }
                }
                (source.name(), checked.diagnostics)
            }
            Err(e) => {
                let diag = crate::workflow::diagnostic::Diagnostic::error(
                    "unreadable",
                    None,
                    e.to_string(),
                );
                if args.format == DiagnosticFormat::Human {
                    report::eprint(&format!("error: {e}\n"));
                }
                (path.display().to_string(), vec![diag])
            }
        };
        let errors = diags.iter().filter(|d| d.is_error()).count();
        invalid |= errors > 0;
        match args.format {
            DiagnosticFormat::Json => {
                print_stdout(&format!("{}\n", diagnostic::to_json(&name, &diags)))?;
            }
            DiagnosticFormat::Human if errors == 0 => {
                let note = match diags.len() {
                    0 => String::new(),
                    n => format!(" ({})", report::plural(n, "warning")),
                };
                print_stdout(&format!("{name}: valid{note}\n"))?;
            }
            DiagnosticFormat::Human => {
                report::eprint(&format!(
                    "{name}: {} found\n",
                    report::plural(errors, "error")
                ));
            }
        }
    }
    Ok(if invalid {
        ExitCode::Invalid
    } else {
        ExitCode::Success
    })
}

fn write_error(source: std::io::Error) -> Error {
    Error::Write {
        path: "<stdout>".into(),
        source,
    }
}

/// Reads and checks a workflow for commands that need a valid one; prints its
/// diagnostics to stderr, and fails with exit code 2 when it has errors.
pub fn load(
    path: &std::path::Path,
    args: &LoadArgs,
) -> Result<(workflow::Source, Workflow), Error> {
    let source = workflow::source::read(path)?;
    let checked = workflow::check(&source, args.into());
    for d in &checked.diagnostics {
        report::eprint(&diagnostic::render(d, &source.name(), &source.text));
    }
    match checked.workflow {
        Some(w) => Ok((source, w)),
        None => Err(Error::Invalid {
            file: source.name(),
            errors: checked.diagnostics.iter().filter(|d| d.is_error()).count(),
        }),
    }
}

/// Loads, checks and compiles a workflow into a sealed plan.
fn compile(
    path: &std::path::Path,
    load_args: &LoadArgs,
    root: Option<&std::path::Path>,
    profile: Option<&str>,
) -> Result<Plan, Error> {
    let (_, workflow) = load(path, load_args)?;
    let root = crate::config::workflow_root(path, root);
    let env = crate::config::Env::read();
    let options = PlanOptions {
        root: &root,
        profile,
        stage: crate::graph::Stage::Whole,
        os_env: &env.os_env,
    };
    crate::graph::plan(workflow, options).map_err(Error::from)
}

/// `prodigy graph WORKFLOW --format ...`.
fn graph(args: &GraphArgs) -> Result<ExitCode, Error> {
    let (_, workflow) = load(&args.workflow, &args.load)?;
    let root = crate::config::workflow_root(&args.workflow, None);
    let cx = build::KeyContext {
        args: &[],
        params: &Default::default(),
        profile: None,
    };
    let (plan, statuses) = match build::statuses(workflow, &args.workflow, &root, cx) {
        Ok((plan, states)) => {
            let ids = plan.nodes().map(|(_, n)| n.id.clone());
            let statuses: report::graph::Statuses = ids.zip(states).collect();
            (plan, statuses)
        }
        Err(e @ (Error::Plan(_) | Error::Job(_))) => return Err(e),
        Err(e) => {
            report::eprint(&format!("warning: cache status unknown: {e}\n"));
            let plan = compile(&args.workflow, &args.load, None, None)?;
            (plan, Default::default())
        }
    };
    let text = match args.format {
        GraphFormat::Text => report::graph::text(&plan, args.expand, &statuses),
        GraphFormat::Dot => report::graph::dot(&plan, args.expand, &statuses),
        GraphFormat::Mermaid => report::graph::mermaid(&plan, args.expand, &statuses),
        GraphFormat::Json => report::graph::json(&plan, &statuses).to_string() + "\n",
    };
    print_stdout(&text)
}

/// `prodigy run WORKFLOW`: runs every node (`--dry-run` prints the plan instead).
fn run_workflow(args: &RunArgs) -> Result<ExitCode, Error> {
    if let Some(format) = args.dry_run {
        let plan = compile(
            &args.workflow,
            &args.job.load,
            args.job.path.as_deref(),
            args.job.profile.as_deref(),
        )?;
        let text = match format {
            PlanFormat::Text => report::plan::text(&plan),
            PlanFormat::Json => report::graph::json(&plan, &Default::default()).to_string() + "\n",
        };
        return print_stdout(&text);
    }
    build::start(build::Start {
        workflow_path: &args.workflow,
        job: &args.job,
        max_iterations: args.max_iterations,
        mode: crate::exec::memo::CacheMode::Record,
        explain: false,
        wait: true,
        targets: Vec::new(),
        job_id: None,
        replay_output: false,
    })
}

/// `--param K=V` and `--param-file` values; values that parse as JSON keep their type.
fn params(
    args: &crate::cli::JobArgs,
) -> Result<std::collections::BTreeMap<String, serde_json::Value>, Error> {
    let mut out = std::collections::BTreeMap::new();
    if let Some(path) = &args.param_file {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Usage {
            message: format!("cannot read --param-file `{}`: {e}", path.display()),
        })?;
        let node = crate::workflow::yaml::parse(&text).map_err(|e| Error::Usage {
            message: format!("--param-file `{}`: {}", path.display(), e.message),
        })?;
        match node.to_json() {
            serde_json::Value::Object(map) => out.extend(map),
            _ => {
                return Err(Error::Usage {
                    message: format!(
                        "--param-file `{}` must hold a mapping of names to values",
                        path.display()
                    ),
                });
            }
        }
    }
    for param in &args.params {
        let Some((key, value)) = param.split_once('=') else {
            return Err(Error::Usage {
                message: format!("--param `{param}` must look like KEY=VALUE"),
            });
        };
        let value = serde_json::from_str(value)
            .unwrap_or_else(|_| serde_json::Value::String(value.to_string()));
        out.insert(key.trim().to_string(), value);
    }
    Ok(out)
}

/// `prodigy schema`: the JSON Schema of the workflow format.
fn schema() -> Result<ExitCode, Error> {
    print_stdout(&crate::workflow::json_schema::render())
}

/// Writes to stdout; a closed pipe (`prodigy graph | head`) is a quiet success.
fn print_stdout(text: &str) -> Result<ExitCode, Error> {
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(write_error(e)),
        _ => Ok(ExitCode::Success),
    }
}
