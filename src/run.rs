//! Turns the parsed command line into work: one function per subcommand.

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
        Command::Schema => schema(),
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
    let stdout = std::io::stdout();
    for path in &args.files {
        let (name, diags) = match workflow::source::read(path) {
            Ok(source) => {
                let checked = workflow::check(&source, (&args.load).into());
                if args.format == DiagnosticFormat::Human {
                    for d in &checked.diagnostics {
                        eprint!("{}", diagnostic::render(d, &source.name(), &source.text));
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
                    eprintln!("error: {e}");
                }
                (path.display().to_string(), vec![diag])
            }
        };
        let errors = diags.iter().filter(|d| d.is_error()).count();
        invalid |= errors > 0;
        match args.format {
            DiagnosticFormat::Json => {
                let line = diagnostic::to_json(&name, &diags).to_string();
                writeln!(stdout.lock(), "{line}").map_err(write_error)?;
            }
            DiagnosticFormat::Human if errors == 0 => {
                let warnings = diags.len();
                let note = if warnings == 0 {
                    String::new()
                } else {
                    format!(" ({warnings} warning{})", plural(warnings))
                };
                writeln!(stdout.lock(), "{name}: valid{note}").map_err(write_error)?;
            }
            DiagnosticFormat::Human => {
                eprintln!("{name}: {errors} error{} found", plural(errors));
            }
        }
    }
    Ok(if invalid {
        ExitCode::Invalid
    } else {
        ExitCode::Success
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
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
        eprint!("{}", diagnostic::render(d, &source.name(), &source.text));
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
) -> Result<Plan, Error> {
    let (_, workflow) = load(path, load_args)?;
    let root = crate::config::workflow_root(path, root);
    crate::graph::plan(
        workflow,
        PlanOptions {
            root: &root,
            profile: None,
        },
    )
    .map_err(Error::from)
}

/// `prodigy graph WORKFLOW --format ...`.
fn graph(args: &GraphArgs) -> Result<ExitCode, Error> {
    let plan = compile(&args.workflow, &args.load, None)?;
    let text = match args.format {
        GraphFormat::Text => report::graph::text(&plan, args.expand),
        GraphFormat::Dot => report::graph::dot(&plan, args.expand),
        GraphFormat::Mermaid => report::graph::mermaid(&plan, args.expand),
        GraphFormat::Json => report::graph::json(&plan).to_string() + "\n",
    };
    print_stdout(&text)
}

/// `prodigy run WORKFLOW`: with `--dry-run`, prints the plan and runs nothing.
fn run_workflow(args: &RunArgs) -> Result<ExitCode, Error> {
    let plan = compile(&args.workflow, &args.load, args.path.as_deref())?;
    match args.dry_run {
        Some(PlanFormat::Text) => print_stdout(&report::plan::text(&plan)),
        Some(PlanFormat::Json) => print_stdout(&(report::graph::json(&plan).to_string() + "\n")),
        None => Err(Error::Usage {
            message: "running workflows is not available in this build yet; use `--dry-run` to see the plan".into(),
        }),
    }
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
