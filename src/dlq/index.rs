//! `index.json`: the small, versioned list of a workflow's jobs (workflow file, root,
//! timestamps). Rewritten whole with `crate::fs::write_atomic` under the DLQ lock that
//! `store.rs` holds; read with a version check before anything else.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::record::JobInfo;
use super::{DLQ_SCHEMA_VERSION, DlqError, io_error};

/// The file's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Index {
    /// [`DLQ_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Jobs by id.
    pub jobs: BTreeMap<String, Entry>,
}

/// One job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub workflow_path: PathBuf,
    pub root: PathBuf,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items_total: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<serde_json::Value>,
}

impl Default for Index {
    fn default() -> Self {
        Index {
            schema_version: DLQ_SCHEMA_VERSION,
            jobs: BTreeMap::new(),
        }
    }
}

impl Index {
    /// Reads `path`; a missing file is an empty index.
    pub fn load(path: &Path) -> Result<Index, DlqError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Index::default()),
            Err(e) => return Err(io_error(path, e)),
        };
        let corrupt = |line: usize, message: String| DlqError::Corrupt {
            path: path.to_path_buf(),
            line,
            message,
        };
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| corrupt(e.line(), format!("not JSON: {e}")))?;
        let Some(found) = value.get("schema_version").and_then(Value::as_u64) else {
            return Err(corrupt(1, "no `schema_version` field".to_string()));
        };
        if found != u64::from(DLQ_SCHEMA_VERSION) {
            return Err(DlqError::Version {
                path: path.to_path_buf(),
                found: u32::try_from(found).unwrap_or(u32::MAX),
                supported: DLQ_SCHEMA_VERSION,
            });
        }
        serde_json::from_value(value).map_err(|e| corrupt(1, format!("not a DLQ index: {e}")))
    }

    /// Writes the index atomically.
    pub fn save(&self, path: &Path) -> Result<(), DlqError> {
        let mut bytes = serde_json::to_vec_pretty(self).map_err(|e| DlqError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(e),
        })?;
        bytes.push(b'\n');
        crate::fs::write_atomic(path, &bytes).map_err(|e| io_error(path, e))
    }

    /// Adds `info`, or updates an existing entry keeping its `created_at`.
    pub fn register(&mut self, info: &JobInfo) {
        let created_at = self
            .jobs
            .get(&info.job_id)
            .map_or(info.created_at, |e| e.created_at.min(info.created_at));
        let items_total = info
            .items_total
            .or_else(|| self.jobs.get(&info.job_id).and_then(|e| e.items_total));
        let entry = Entry {
            workflow_path: info.workflow_path.clone(),
            root: info.root.clone(),
            created_at,
            updated_at: info.updated_at,
            items_total,
            context: info
                .context
                .clone()
                .or_else(|| self.jobs.get(&info.job_id).and_then(|e| e.context.clone())),
        };
        self.jobs.insert(info.job_id.clone(), entry);
    }

    /// Every job, oldest first.
    pub fn infos(&self) -> Vec<JobInfo> {
        let mut infos: Vec<JobInfo> = self
            .jobs
            .iter()
            .map(|(id, e)| JobInfo {
                job_id: id.clone(),
                workflow_path: e.workflow_path.clone(),
                root: e.root.clone(),
                created_at: e.created_at,
                updated_at: e.updated_at,
                items_total: e.items_total,
                context: e.context.clone(),
            })
            .collect();
        infos.sort_by(|a, b| (a.created_at, &a.job_id).cmp(&(b.created_at, &b.job_id)));
        infos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(job: &str, minute: u32, update: u32) -> JobInfo {
        let at = |m: u32| {
            DateTime::parse_from_rfc3339(&format!("2025-01-01T00:{m:02}:00Z"))
                .unwrap()
                .with_timezone(&Utc)
        };
        JobInfo {
            job_id: job.to_string(),
            workflow_path: PathBuf::from("flow.yml"),
            root: PathBuf::from("/repo"),
            created_at: at(minute),
            updated_at: at(update),
            items_total: None,
            context: None,
        }
    }

    #[test]
    fn register_is_idempotent_and_keeps_created_at() {
        let mut index = Index::default();
        index.register(&info("b", 5, 5));
        index.register(&info("a", 1, 1));
        index.register(&info("b", 9, 9));
        let infos = index.infos();
        assert_eq!(infos.len(), 2);
        assert_eq!(infos[0].job_id, "a");
        assert_eq!(infos[1], info("b", 5, 9));
    }

    #[test]
    fn round_trips_and_rejects_other_versions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.json");
        let mut index = Index::default();
        index.register(&info("a", 1, 2));
        index.save(&path).unwrap();
        assert_eq!(Index::load(&path).unwrap(), index);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"schema_version\": 1"), "{text}");

        std::fs::write(&path, r#"{"schema_version": 99, "jobs": {}}"#).unwrap();
        let err = Index::load(&path).unwrap_err();
        assert!(
            matches!(
                err,
                DlqError::Version {
                    found: 99,
                    supported: 1,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("index.json"), "{err}");
    }
}
