//! The top-level error, wrapping each layer's errors, and the exit-code contract.
//!
//! | code | meaning |
//! |------|---------|
//! | 0    | success |
//! | 1    | the workflow ran and failed |
//! | 2    | invalid usage or an invalid workflow file |
//! | 3    | the workflow finished, but items are in the dead-letter queue |
//! | 4    | environment error: git, I/O, a lock held by another run |
//! | 130  | interrupted (Ctrl-C / SIGTERM) |

use std::path::PathBuf;

use crate::graph::PlanError;
use crate::workflow::LoadError;

/// A process exit status with a documented meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything succeeded.
    Success = 0,
    /// The workflow ran and failed.
    WorkflowFailed = 1,
    /// Invalid usage or an invalid workflow file.
    Invalid = 2,
    /// The workflow finished, but items are in the dead-letter queue.
    ItemsInDlq = 3,
    /// git, I/O, or a lock held by another run.
    Environment = 4,
    /// Interrupted by Ctrl-C or SIGTERM.
    Interrupted = 130,
}

impl ExitCode {
    /// The numeric status for `std::process::exit`.
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// Everything that can stop a prodigy command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A workflow file could not be read.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A valid workflow could not be compiled into a plan (bad map input, duplicate ids).
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// A workflow file has errors; they were already printed as diagnostics.
    #[error("{file}: {} found; nothing was run", crate::report::plural(*errors, "error"))]
    Invalid {
        /// The file as the user named it.
        file: String,
        /// How many errors were printed.
        errors: usize,
    },
    /// A job could not start (its environment, its map input, its plan).
    #[error(transparent)]
    Job(#[from] crate::exec::job::JobError),
    /// The dead-letter queue could not be read or written.
    #[error(transparent)]
    Dlq(#[from] crate::dlq::DlqError),
    /// The job journal could not be read or written.
    #[error(transparent)]
    Journal(#[from] crate::jobs::JournalError),
    /// The build cache could not be opened (locked, unreadable, bad `inputs:`).
    #[error(transparent)]
    Memo(#[from] crate::exec::memo::MemoError),
    /// The build cache could not be read or written, or its lock could not be taken.
    #[error(transparent)]
    Cache(#[from] crate::cache::CacheError),
    /// The command line asks for something that cannot be done.
    #[error("{message}")]
    Usage {
        /// What is wrong and what to do instead.
        message: String,
    },
    /// Writing output failed.
    #[error("cannot write `{path}`: {source}")]
    Write {
        /// The file being written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The exit code this error maps to.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Load(e) if e.is_environment() => ExitCode::Environment,
            Error::Plan(e) if e.is_environment() => ExitCode::Environment,
            Error::Plan(_) => ExitCode::Invalid,
            Error::Job(crate::exec::job::JobError::Plan(e)) if e.is_environment() => {
                ExitCode::Environment
            }
            Error::Job(_) => ExitCode::WorkflowFailed,
            Error::Dlq(crate::dlq::DlqError::NoSuchJob { .. }) => ExitCode::Invalid,
            Error::Dlq(_) => ExitCode::Environment,
            Error::Memo(_) => ExitCode::Environment,
            Error::Journal(crate::jobs::JournalError::NoSuchJob(_)) => ExitCode::Invalid,
            Error::Journal(_) => ExitCode::Environment,
            Error::Cache(_) => ExitCode::Environment,
            Error::Load(_) | Error::Invalid { .. } | Error::Usage { .. } => ExitCode::Invalid,
            Error::Write { .. } => ExitCode::Environment,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::cache::CacheError;

    #[test]
    fn cache_errors_and_a_held_cache_lock_are_environment_errors() {
        let io = Error::from(CacheError::Io {
            path: PathBuf::from(".prodigy/cache/index.bin"),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        });
        let locked = Error::from(CacheError::Locked {
            path: PathBuf::from(".prodigy/cache/.lock"),
            holder_pid: Some(42),
        });
        assert_eq!(io.exit_code(), ExitCode::Environment);
        assert_eq!(locked.exit_code(), ExitCode::Environment);
        assert_eq!(ExitCode::Environment.code(), 4);
        let usage = Error::Usage {
            message: "bad".into(),
        };
        assert_eq!(usage.exit_code().code(), 2);
    }
}
