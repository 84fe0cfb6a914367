//! The job journal: one JSON file per `run` or `build` under `.prodigy/jobs/`, written
//! atomically when the job starts and when it ends. A job whose file still says
//! `running` was killed; `prodigy resume` finds it and builds it again with the same
//! settings. What each node finished with is in the cache index, appended as nodes
//! finish, so a resumed job replays every completed node.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::cli::{JobArgs, LoadArgs};
use crate::exec::memo::CacheMode;

/// The version of job files; files of another version are skipped.
pub const JOB_SCHEMA_VERSION: u32 = 1;

/// Why the journal could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// A job file could not be read or written.
    #[error("cannot read or write the job journal `{}`: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// No job has this id.
    #[error("no job `{0}` in the journal; `ls .prodigy/jobs` lists the recorded jobs")]
    NoSuchJob(String),
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Started and not finished: running now, or killed.
    Running,
    /// Stopped by Ctrl-C or a signal.
    Interrupted,
    /// Finished with failures.
    Failed,
    /// Finished.
    Succeeded,
}

/// One job: enough to run it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// [`JOB_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The job id.
    pub job_id: String,
    /// `run` or `build`.
    pub command: String,
    /// The workflow file (absolute).
    pub workflow_path: PathBuf,
    /// The workflow root.
    pub root: PathBuf,
    /// `--args`.
    pub args: Vec<String>,
    /// `--param` as typed.
    pub params: Vec<String>,
    /// `--param-file`.
    pub param_file: Option<PathBuf>,
    /// `--profile`.
    pub profile: Option<String>,
    /// `-j`.
    pub jobs: Option<u32>,
    /// `--keep-going`.
    pub keep_going: bool,
    /// `TARGET...`.
    pub targets: Vec<String>,
    /// Where it is.
    pub status: JobStatus,
    /// The process running it.
    pub pid: u32,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When its file was last written.
    pub updated_at: DateTime<Utc>,
}

impl JobRecord {
    /// A new, running job.
    pub fn new(
        job_id: &str,
        mode: CacheMode,
        workflow_path: &Path,
        root: &Path,
        job: &JobArgs,
        targets: &[String],
    ) -> JobRecord {
        let now = Utc::now();
        JobRecord {
            schema_version: JOB_SCHEMA_VERSION,
            job_id: job_id.to_string(),
            command: match mode {
                CacheMode::Record => "run",
                CacheMode::Build { .. } => "build",
            }
            .to_string(),
            workflow_path: std::path::absolute(workflow_path)
                .unwrap_or_else(|_| workflow_path.to_path_buf()),
            root: std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf()),
            args: job.args.clone(),
            params: job.params.clone(),
            param_file: job
                .param_file
                .as_ref()
                .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone())),
            profile: job.profile.clone(),
            jobs: job.jobs,
            keep_going: job.keep_going,
            targets: targets.to_vec(),
            status: JobStatus::Running,
            pid: std::process::id(),
            started_at: now,
            updated_at: now,
        }
    }

    /// The job's settings, to run it again.
    pub fn job_args(&self) -> JobArgs {
        JobArgs {
            args: self.args.clone(),
            params: self.params.clone(),
            param_file: self.param_file.clone(),
            path: Some(self.root.clone()),
            jobs: self.jobs,
            keep_going: self.keep_going,
            verbose: false,
            profile: self.profile.clone(),
            summary_json: None,
            events: None,
            load: LoadArgs {
                allow_unknown: true,
            },
        }
    }
}

/// The journal directory of a project.
pub struct Journal {
    dir: PathBuf,
}

impl Journal {
    /// The journal under `<state_root>/.prodigy/jobs/`; creates nothing.
    pub fn open(state_root: &Path) -> Journal {
        Journal {
            dir: state_root.join(".prodigy").join("jobs"),
        }
    }

    /// Writes a job's file atomically.
    pub fn save(&self, record: &JobRecord) -> Result<(), JournalError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| JournalError::Io { path, source }
        };
        let root = self
            .dir
            .parent()
            .and_then(Path::parent)
            .unwrap_or(Path::new("."));
        crate::fs::state_dir(root, "jobs").map_err(io(&self.dir))?;
        let path = self.path(&record.job_id);
        let mut text = serde_json::to_string_pretty(record).unwrap_or_default();
        text.push('\n');
        crate::fs::write_atomic(&path, text.as_bytes()).map_err(io(&path))
    }

    /// The job `id`.
    pub fn load(&self, id: &str) -> Result<JobRecord, JournalError> {
        let valid = !id.is_empty()
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        let path = self.path(id);
        match std::fs::read(&path) {
            Ok(bytes) if valid => {
                serde_json::from_slice(&bytes).map_err(|_| JournalError::NoSuchJob(id.to_string()))
            }
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(JournalError::Io { path, source: e })
            }
            _ => Err(JournalError::NoSuchJob(id.to_string())),
        }
    }

    /// The newest job that did not finish (killed or interrupted).
    pub fn newest_unfinished(&self) -> Result<Option<JobRecord>, JournalError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(JournalError::Io {
                    path: self.dir.clone(),
                    source,
                });
            }
        };
        let newest = entries
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| std::fs::read(e.path()).ok())
            .filter_map(|b| serde_json::from_slice::<JobRecord>(&b).ok())
            .filter(|r| r.schema_version == JOB_SCHEMA_VERSION)
            .filter(|r| matches!(r.status, JobStatus::Running | JobStatus::Interrupted))
            .max_by_key(|r| r.started_at);
        Ok(newest)
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }
}
