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

/// Finished jobs kept in the journal; older ones are removed once twice as many pile up.
pub const KEEP_FINISHED: usize = 100;

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
    /// `-n` of `run`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_iterations: Option<u32>,
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
        max_iterations: Option<u32>,
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
            max_iterations,
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
        crate::fs::state_dir(root, Path::new("jobs")).map_err(io(&self.dir))?;
        let path = self.path(&record.job_id);
        let mut text = serde_json::to_string_pretty(record).unwrap_or_default();
        text.push('\n');
        crate::fs::write_atomic(&path, text.as_bytes()).map_err(io(&path))
    }

    /// Removes the oldest finished jobs when more than twice [`KEEP_FINISHED`] are
    /// recorded (unfinished ones stay for `resume`).
    pub fn prune(&self) -> Result<(), JournalError> {
        let files = std::fs::read_dir(&self.dir).map_or(0, |entries| entries.count());
        if files <= 2 * KEEP_FINISHED {
            return Ok(());
        }
        let records = self.records()?;
        let mut finished: Vec<(PathBuf, JobRecord)> = records
            .into_iter()
            .filter(|(_, r)| matches!(r.status, JobStatus::Succeeded | JobStatus::Failed))
            .collect();
        finished.sort_by_key(|(_, r)| std::cmp::Reverse(r.started_at));
        for (path, _) in finished.into_iter().skip(KEEP_FINISHED) {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(JournalError::Io { path, source: e });
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Every readable job file of this version, with its path.
    fn records(&self) -> Result<Vec<(PathBuf, JobRecord)>, JournalError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(JournalError::Io {
                    path: self.dir.clone(),
                    source,
                });
            }
        };
        Ok(entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .filter_map(|p| {
                let record = serde_json::from_slice::<JobRecord>(&std::fs::read(&p).ok()?).ok()?;
                Some((p, record))
            })
            .filter(|(_, r)| r.schema_version == JOB_SCHEMA_VERSION)
            .collect())
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
        Ok(self
            .records()?
            .into_iter()
            .map(|(_, r)| r)
            .filter(|r| matches!(r.status, JobStatus::Running | JobStatus::Interrupted))
            .max_by_key(|r| r.started_at))
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, status: JobStatus, age_secs: i64) -> JobRecord {
        let at = Utc::now() - chrono::Duration::seconds(age_secs);
        JobRecord {
            schema_version: JOB_SCHEMA_VERSION,
            job_id: id.to_string(),
            command: "build".to_string(),
            workflow_path: PathBuf::from("/repo/prodigy.yml"),
            root: PathBuf::from("/repo"),
            args: vec!["a".to_string()],
            params: vec!["k=v".to_string()],
            param_file: None,
            profile: Some("ci".to_string()),
            jobs: Some(3),
            keep_going: true,
            targets: vec!["test".to_string()],
            max_iterations: None,
            status,
            pid: 1,
            started_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn a_job_round_trips_and_gives_its_settings_back() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path());
        let job = record("j1", JobStatus::Running, 0);
        journal.save(&job).unwrap();
        assert_eq!(journal.load("j1").unwrap(), job);
        let args = job.job_args();
        assert_eq!(
            (args.args, args.params, args.jobs),
            (job.args, job.params, Some(3))
        );
        assert_eq!(args.path, Some(PathBuf::from("/repo")));
        assert!(dir.path().join(".prodigy/.gitignore").exists());
        assert!(matches!(
            journal.load("nope"),
            Err(JournalError::NoSuchJob(_))
        ));
        assert!(matches!(
            journal.load("../x"),
            Err(JournalError::NoSuchJob(_))
        ));
    }

    #[test]
    fn the_newest_unfinished_job_is_resumed() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path());
        assert_eq!(journal.newest_unfinished().unwrap(), None);
        journal
            .save(&record("old", JobStatus::Interrupted, 60))
            .unwrap();
        journal
            .save(&record("new", JobStatus::Running, 10))
            .unwrap();
        journal
            .save(&record("done", JobStatus::Succeeded, 0))
            .unwrap();
        assert_eq!(journal.newest_unfinished().unwrap().unwrap().job_id, "new");
    }

    #[test]
    fn pruning_keeps_unfinished_and_the_newest_finished_jobs() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path());
        let total = 2 * KEEP_FINISHED + 1;
        for i in 0..total {
            let age = i64::try_from(total - i).unwrap();
            journal
                .save(&record(&format!("j{i}"), JobStatus::Failed, age))
                .unwrap();
        }
        journal
            .save(&record("killed", JobStatus::Running, 10_000))
            .unwrap();
        journal.prune().unwrap();
        assert!(journal.load("killed").is_ok(), "unfinished jobs stay");
        assert!(
            journal.load(&format!("j{}", total - 1)).is_ok(),
            "the newest stays"
        );
        assert!(journal.load("j0").is_err(), "the oldest went");
        let left = std::fs::read_dir(dir.path().join(".prodigy/jobs"))
            .unwrap()
            .count();
        assert_eq!(left, KEEP_FINISHED + 1);
    }
}
