//! `DlqStore`: one workflow's dead-letter queue on disk. Every write holds an exclusive
//! lock on `.lock` (shared by all processes and worktrees writing this workflow's DLQ);
//! every read holds a shared one, so a reader never sees half of an append. Job files
//! are read one at a time, line by line, so memory follows the largest job, not the DLQ.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};

use super::index::Index;
use super::journal::{self, Mode};
use super::record::{DlqItem, DlqRecord, Grouper, JobInfo, RecordStatus, group};
use super::{DLQ_SCHEMA_VERSION, DlqError, DlqWarning, dir_name, io_error, valid_job_id};

/// One workflow's DLQ under `<root>/.prodigy/dlq/<workflow>/`.
#[derive(Debug)]
pub struct DlqStore {
    root: PathBuf,
    dir: PathBuf,
    warnings: Mutex<Vec<DlqWarning>>,
}

impl DlqStore {
    /// The DLQ of `workflow` (a name, made safe by [`super::dir_name`]) under `root`.
    /// Does no I/O: directories are created by the first write.
    pub fn open(root: &Path, workflow: &str) -> DlqStore {
        DlqStore {
            root: root.to_path_buf(),
            dir: Self::base(root).join(dir_name(workflow)),
            warnings: Mutex::new(Vec::new()),
        }
    }

    /// `<root>/.prodigy/dlq`.
    fn base(root: &Path) -> PathBuf {
        root.join(".prodigy").join("dlq")
    }

    /// The directory of this workflow's DLQ.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every workflow under `root` that has a DLQ directory, sorted.
    pub fn workflows(root: &Path) -> Result<Vec<String>, DlqError> {
        let base = Self::base(root);
        let entries = match std::fs::read_dir(&base) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(&base, e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_error(&base, e))?;
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                names.extend(entry.file_name().to_str().map(str::to_string));
            }
        }
        names.sort();
        Ok(names)
    }

    /// Warnings from reads so far (torn lines, lines skipped while clearing), emptied.
    pub fn take_warnings(&self) -> Vec<DlqWarning> {
        std::mem::take(&mut *self.warnings.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Adds `info` to the index, or updates its entry (`updated_at`, paths; the first
    /// `created_at` is kept). Idempotent.
    pub fn register_job(&self, info: &JobInfo) -> Result<(), DlqError> {
        check_job_id(&info.job_id)?;
        let _lock = self.lock_exclusive()?;
        let path = self.index_path();
        let mut index = Index::load(&path)?;
        index.register(info);
        index.save(&path)
    }

    /// Every registered job, oldest first.
    pub fn jobs(&self) -> Result<Vec<JobInfo>, DlqError> {
        let Some(_lock) = self.lock_shared()? else {
            return Ok(Vec::new());
        };
        Ok(Index::load(&self.index_path())?.infos())
    }

    /// Appends `records` (any jobs) to their job files: one `write_all` of whole lines and
    /// one `sync_data` per job file, under the exclusive lock.
    pub fn append(&self, records: &[DlqRecord]) -> Result<(), DlqError> {
        let mut by_job: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
        for record in records {
            check_job_id(&record.job_id)?;
            if record.schema_version != DLQ_SCHEMA_VERSION {
                return Err(DlqError::Version {
                    path: self.job_path(&record.job_id),
                    found: record.schema_version,
                    supported: DLQ_SCHEMA_VERSION,
                });
            }
            let bytes = by_job.entry(&record.job_id).or_default();
            serde_json::to_writer(&mut *bytes, record).map_err(|e| DlqError::Io {
                path: self.job_path(&record.job_id),
                source: std::io::Error::other(e),
            })?;
            bytes.push(b'\n');
        }
        if by_job.is_empty() {
            return Ok(());
        }
        let _lock = self.lock_exclusive()?;
        for (job, bytes) in by_job {
            journal::append(&self.job_path(job), &bytes)?;
        }
        Ok(())
    }

    /// Items in the DLQ now (latest record failed or cancelled), each with its full
    /// history, of one job or of all (oldest job first, then by item index).
    pub fn items(&self, job: Option<&str>) -> Result<Vec<DlqItem>, DlqError> {
        self.read(job, false, |item| item.status.in_dlq())
    }

    /// Items in the DLQ now, each with only its latest record (enough for listing,
    /// stats and retry); the files are streamed, so a long history is never in memory.
    pub fn latest(&self, job: Option<&str>) -> Result<Vec<DlqItem>, DlqError> {
        self.read(job, true, |item| item.status.in_dlq())
    }

    /// Every item ever recorded, resolved ones included.
    pub fn history(&self, job: Option<&str>) -> Result<Vec<DlqItem>, DlqError> {
        self.read(job, false, |_| true)
    }

    /// Marks items of `job_id` as having left the DLQ: appends a `resolved` record per item
    /// that is in it now. The record's `attempt` is that of the run that succeeded, the
    /// latest attempt + 1 (a caller that knows the exact attempt can `append` its own
    /// `Resolved` record instead); other fields are copied from the latest record.
    /// Ids that are not in the DLQ (unknown, already resolved) are skipped. Returns how
    /// many items were resolved.
    pub fn resolve(
        &self,
        job_id: &str,
        item_ids: &[String],
        at: DateTime<Utc>,
    ) -> Result<usize, DlqError> {
        let Some(_lock) = self.lock_if_exists(true)? else {
            return Err(self.no_such_job(job_id, Vec::new()));
        };
        self.select(Some(job_id))?;
        let path = self.job_path(job_id);
        let mut warnings = Vec::new();
        let records = journal::read(&path, job_id, Mode::Strict, &mut warnings);
        self.warn(warnings);
        let items = group(job_id, records?);
        let mut bytes = Vec::new();
        let mut resolved = 0;
        for item in items
            .iter()
            .filter(|i| i.status.in_dlq() && item_ids.contains(&i.item_id))
        {
            let latest = item.latest();
            let record = DlqRecord {
                attempt: latest.attempt + 1,
                status: RecordStatus::Resolved,
                kind: "resolved".to_string(),
                message: format!("succeeded on attempt {}", latest.attempt + 1),
                exit_code: None,
                stderr_tail: String::new(),
                started_at: at,
                finished_at: at,
                duration_ms: 0,
                retryable: false,
                ..latest.clone()
            };
            serde_json::to_writer(&mut bytes, &record)
                .map_err(|e| io_error(&path, std::io::Error::other(e)))?;
            bytes.push(b'\n');
            resolved += 1;
        }
        if resolved > 0 {
            journal::append(&path, &bytes)?;
        }
        Ok(resolved)
    }

    /// Removes the file and index entry of one job, or of every job. Returns how many
    /// items were in the DLQ (resolved ones are not counted). Works on damaged files:
    /// corrupt lines become warnings.
    pub fn clear(&self, job: Option<&str>) -> Result<usize, DlqError> {
        let Some(_lock) = self.lock_if_exists(true)? else {
            return match job {
                Some(job) => Err(self.no_such_job(job, Vec::new())),
                None => Ok(0),
            };
        };
        let index_path = self.index_path();
        let mut index = Index::load(&index_path)?;
        let jobs = self.select(job)?;
        let mut removed = 0;
        for job in &jobs {
            let path = self.job_path(job);
            let mut warnings = Vec::new();
            let records = journal::read(&path, job, Mode::Lenient, &mut warnings);
            self.warn(warnings);
            removed += group(job, records?)
                .iter()
                .filter(|i| i.status.in_dlq())
                .count();
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io_error(&path, e));
                }
                _ => {}
            }
            index.jobs.remove(job);
        }
        index.save(&index_path)?;
        Ok(removed)
    }

    /// Reads the items of `job` (or all jobs) that `keep` accepts, one job file at a time.
    fn read(
        &self,
        job: Option<&str>,
        latest_only: bool,
        keep: impl Fn(&DlqItem) -> bool,
    ) -> Result<Vec<DlqItem>, DlqError> {
        let Some(_lock) = self.lock_shared()? else {
            return match job {
                Some(job) => Err(self.no_such_job(job, Vec::new())),
                None => Ok(Vec::new()),
            };
        };
        let mut out = Vec::new();
        for job in self.select(job)? {
            let mut warnings = Vec::new();
            let mut grouper = Grouper::new(&job, latest_only);
            let read = journal::read_each(
                &self.job_path(&job),
                &job,
                Mode::Strict,
                &mut warnings,
                |r| grouper.add(r),
            );
            self.warn(warnings);
            read?;
            out.extend(grouper.finish().into_iter().filter(|i| keep(i)));
        }
        Ok(out)
    }

    /// The jobs a command addresses: `job` if known, or every known job.
    fn select(&self, job: Option<&str>) -> Result<Vec<String>, DlqError> {
        let known = self.known_jobs()?;
        match job {
            None => Ok(known),
            Some(job) if known.iter().any(|k| k == job) => Ok(vec![job.to_string()]),
            Some(job) => Err(self.no_such_job(job, known)),
        }
    }

    /// Jobs in the index (oldest first), then jobs that only have a file (by name).
    fn known_jobs(&self) -> Result<Vec<String>, DlqError> {
        let mut known: Vec<String> = Index::load(&self.index_path())?
            .infos()
            .into_iter()
            .map(|info| info.job_id)
            .collect();
        let entries = std::fs::read_dir(&self.dir).map_err(|e| io_error(&self.dir, e))?;
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_error(&self.dir, e))?;
            let name = entry.file_name();
            let Some(job) = name.to_str().and_then(|n| n.strip_suffix(".jsonl")) else {
                continue;
            };
            if valid_job_id(job) && !known.iter().any(|k| k == job) {
                files.push(job.to_string());
            }
        }
        files.sort();
        known.extend(files);
        Ok(known)
    }

    fn no_such_job(&self, job: &str, known: Vec<String>) -> DlqError {
        DlqError::NoSuchJob {
            job: job.to_string(),
            known,
        }
    }

    fn warn(&self, warnings: Vec<DlqWarning>) {
        if !warnings.is_empty() {
            let mut all = self.warnings.lock().unwrap_or_else(PoisonError::into_inner);
            all.extend(warnings);
        }
    }

    fn job_path(&self, job: &str) -> PathBuf {
        self.dir.join(format!("{job}.jsonl"))
    }

    fn index_path(&self) -> PathBuf {
        self.dir.join("index.json")
    }

    /// Creates the DLQ directory (and `.prodigy/` with a `.gitignore` of `*`), then takes
    /// the exclusive lock.
    fn lock_exclusive(&self) -> Result<File, DlqError> {
        let state = self.root.join(".prodigy");
        let sub = self.dir.strip_prefix(&state).unwrap_or(Path::new("dlq"));
        crate::fs::state_dir(&self.root, sub).map_err(|e| io_error(&self.dir, e))?;
        self.lock(true)
    }

    /// The shared lock, or `None` when the DLQ does not exist yet.
    fn lock_shared(&self) -> Result<Option<File>, DlqError> {
        self.lock_if_exists(false)
    }

    /// A lock of the existing DLQ directory, or `None` when there is none.
    fn lock_if_exists(&self, exclusive: bool) -> Result<Option<File>, DlqError> {
        if !self.dir.is_dir() {
            return Ok(None);
        }
        self.lock(exclusive).map(Some)
    }

    /// Blocks until `.lock` is held; released when the returned file is dropped.
    fn lock(&self, exclusive: bool) -> Result<File, DlqError> {
        let path = self.dir.join(".lock");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            // A read-only DLQ can still be read under a shared lock.
            .or_else(|e| if exclusive { Err(e) } else { File::open(&path) })
            .map_err(|e| io_error(&path, e))?;
        let locked = if exclusive {
            file.lock()
        } else {
            file.lock_shared()
        };
        locked.map_err(|e| io_error(&path, e))?;
        Ok(file)
    }
}

/// `InvalidJobId` unless `job` is a safe file name.
fn check_job_id(job: &str) -> Result<(), DlqError> {
    if valid_job_id(job) {
        Ok(())
    } else {
        Err(DlqError::InvalidJobId {
            job: job.to_string(),
        })
    }
}
