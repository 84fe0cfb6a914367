//! The dead-letter queue: map items that failed, or were cancelled before they could
//! finish, kept with their full history so `prodigy dlq ...` can list, explain, retry,
//! export and clear them, and the next build can schedule them again.
//!
//! On disk, under `<root>/.prodigy/dlq/<workflow>/` (shared by every worktree and
//! process that runs the workflow there):
//!
//! ```text
//! .lock              exclusive for writers, shared for readers (std `File::lock`)
//! index.json         {"schema_version": 1, "jobs": {"<job_id>": {workflow_path, root, ...}}}
//! <job_id>.jsonl     append-only, one `DlqRecord` per line, one line per attempt
//! ```
//!
//! Neighbours: `store.rs` is the API; `journal.rs` reads and appends one job file;
//! `index.rs` the job list; `stats.rs` the numbers behind `dlq stats`. The scheduler
//! thread that owns the terminal writes records; `report::dlq` renders what is read.

mod index;
mod journal;
mod record;
pub mod recorder;
pub mod stats;
mod store;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use record::{DlqItem, DlqRecord, JobInfo, RecordStatus};
pub use stats::{DlqStats, stats};
pub use store::DlqStore;

#[cfg(test)]
pub(crate) use record::fixtures;

/// The version of `index.json` and of every record line. Bump on incompatible changes;
/// readers refuse other versions with [`DlqError::Version`].
pub const DLQ_SCHEMA_VERSION: u32 = 1;

/// Why the DLQ could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    /// A file or directory could not be read or written.
    #[error("cannot read or write `{}`: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A line that is neither a record nor the remains of an interrupted write.
    #[error(
        "{}:{line}: corrupt dead-letter queue entry: {message}; fix or delete that line, \
         or run `prodigy dlq clear` to drop the job",
        path.display()
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// A file written by a prodigy with another DLQ format.
    #[error(
        "`{}` has dead-letter queue schema version {found}, but this prodigy reads version \
         {supported}; use the prodigy version that wrote it, or delete the directory to start over",
        path.display()
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// The version it declares.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// A job id that the DLQ does not know.
    #[error("{}", no_such_job(job, known))]
    NoSuchJob {
        /// The id asked for.
        job: String,
        /// The jobs the DLQ has, oldest first.
        known: Vec<String>,
    },
    /// A job id that cannot be a file name.
    #[error(
        "`{job}` is not a valid job id: use letters, digits, `-`, `_` and `.`, \
         not starting with `.`"
    )]
    InvalidJobId {
        /// The id.
        job: String,
    },
}

/// `no job `x` in the dead-letter queue; did you mean `y`?`
fn no_such_job(job: &str, known: &[String]) -> String {
    let mut text = format!("no job `{job}` in the dead-letter queue");
    if let Some(close) = crate::suggest::suggest(job, known.iter().map(String::as_str)) {
        text.push_str(&format!("; did you mean `{close}`?"));
    } else if known.is_empty() {
        text.push_str("; it has no jobs");
    } else {
        let shown: Vec<String> = known
            .iter()
            .rev()
            .take(5)
            .map(|j| format!("`{j}`"))
            .collect();
        let more = known.len().saturating_sub(shown.len());
        text.push_str(&format!("; latest jobs: {}", shown.join(", ")));
        if more > 0 {
            text.push_str(&format!(" and {more} more"));
        }
    }
    text
}

/// `DlqError::Io` for `path`.
pub(crate) fn io_error(path: &Path, source: std::io::Error) -> DlqError {
    DlqError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A problem that did not stop a read: a line cut short by a crash, or (while clearing)
/// a corrupt line that was skipped. Printed as `warning: <path>:<line>: <message>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DlqWarning {
    /// The file.
    pub path: PathBuf,
    /// The 1-based line.
    pub line: usize,
    /// What happened.
    pub message: String,
}

impl DlqWarning {
    pub(crate) fn new(path: &Path, line: usize, message: String) -> Self {
        DlqWarning {
            path: path.to_path_buf(),
            line,
            message,
        }
    }
}

impl std::fmt::Display for DlqWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.message)
    }
}

/// The directory name of `workflow`'s DLQ: letters, digits, `-` and `_` kept, anything
/// else (`/`, `.`, spaces) becomes `-`, so a name can never escape `.prodigy/dlq/`.
/// Idempotent: `dir_name(&dir_name(w)) == dir_name(w)`.
pub fn dir_name(workflow: &str) -> String {
    let name: String = workflow
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if name.is_empty() {
        "workflow".to_string()
    } else {
        name
    }
}

/// True for job ids that are safe file names (prodigy's own ids always are).
pub(crate) fn valid_job_id(job: &str) -> bool {
    !job.is_empty()
        && !job.starts_with('.')
        && job
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}
