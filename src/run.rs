//! Turns the parsed command line into work: one function per subcommand.

use std::io::Write;

use crate::cli::{Cli, Command, DiagnosticFormat, LoadArgs, ValidateArgs};
use crate::error::{Error, ExitCode};
use crate::report::diagnostic;
use crate::workflow::{self, LoadOptions, Workflow};

/// Runs one prodigy command and returns the exit code it earned.
pub fn run(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Command::Validate(args) => validate(&args),
        _ => Err(Error::Usage {
            message: "x".into(),
        }),
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
