//! `last-run.json`: what the last `run` or `build` did with the cache (hits, nodes that
//! ran, nodes that cannot be cached), so that `prodigy cache stats` can show its hit
//! rate. The build writes it at its end under the cache lock; `stats` reads it without
//! one. Like every cache file it is versioned: another version, or a file that does not
//! parse, reads as "no build recorded", never as an error.

use std::io::ErrorKind;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::lock::CacheLock;
use super::store::{CacheStore, read_if_exists};
use super::{CACHE_SCHEMA_VERSION, CacheError, io_error};

/// `.prodigy/cache/last-run.json`: what the last `run`/`build` did with the cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastRun {
    /// [`CACHE_SCHEMA_VERSION`]; a file of another version reads as none.
    pub schema_version: u32,
    /// The job that wrote it.
    pub job_id: String,
    /// When that job finished.
    pub finished_at: DateTime<Utc>,
    /// Nodes replayed from the cache.
    pub hits: u64,
    /// Cacheable nodes that ran (their key had no succeeded entry).
    pub ran: u64,
    /// Nodes that cannot be cached, so are neither hits nor misses.
    pub not_cached: u64,
}

impl LastRun {
    /// `hits / (hits + ran)`, or `None` when no cacheable node took part.
    pub fn hit_rate(&self) -> Option<f64> {
        let total = self.hits + self.ran;
        (total > 0).then(|| self.hits as f64 / total as f64)
    }

    /// The record in `bytes`: `Ok(None)` for another schema version (silent), `Err` with
    /// a message when it does not parse.
    fn decode(bytes: &[u8]) -> Result<Option<LastRun>, String> {
        #[derive(Deserialize)]
        struct Version {
            schema_version: u32,
        }
        match serde_json::from_slice::<LastRun>(bytes) {
            Ok(run) if run.schema_version == CACHE_SCHEMA_VERSION => Ok(Some(run)),
            Ok(_) => Ok(None),
            Err(_)
                if serde_json::from_slice::<Version>(bytes)
                    .is_ok_and(|v| v.schema_version != CACHE_SCHEMA_VERSION) =>
            {
                Ok(None)
            }
            Err(e) => Err(format!("corrupt last-run record ({e})")),
        }
    }
}

impl CacheStore {
    /// `last-run.json`.
    pub(crate) fn last_run_path(&self) -> PathBuf {
        self.dir().join("last-run.json")
    }

    /// Writes it atomically (caller holds the lock).
    pub fn save_last_run(&self, run: &LastRun, lock: &CacheLock) -> Result<(), CacheError> {
        debug_assert_eq!(lock.path(), self.dir().join(".lock"));
        let path = self.last_run_path();
        let mut bytes = serde_json::to_vec_pretty(run).map_err(|e| io_error(&path, e.into()))?;
        bytes.push(b'\n');
        self.write(&path, &bytes)
    }

    /// None when missing, of another schema version, or corrupt (corrupt: a warning,
    /// see [`CacheStore::take_warnings`]).
    pub fn load_last_run(&self) -> Result<Option<LastRun>, CacheError> {
        let path = self.last_run_path();
        let Some(bytes) = read_if_exists(&path)? else {
            return Ok(None);
        };
        match LastRun::decode(&bytes) {
            Ok(run) => Ok(run),
            Err(message) => {
                self.warn(
                    &path,
                    &format!("{message}; the last build's hit rate is unknown"),
                );
                Ok(None)
            }
        }
    }

    /// Removes it (for `clean`); already gone is fine.
    pub(crate) fn remove_last_run(&self, lock: &CacheLock) -> Result<(), CacheError> {
        debug_assert_eq!(lock.path(), self.dir().join(".lock"));
        let path = self.last_run_path();
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(io_error(&path, e)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn last_run() -> LastRun {
        LastRun {
            schema_version: CACHE_SCHEMA_VERSION,
            job_id: "build-20250102T030405Z-abc123".to_string(),
            finished_at: Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap(),
            hits: 3,
            ran: 1,
            not_cached: 2,
        }
    }

    #[test]
    fn round_trip_and_hit_rate() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::open(dir.path());
        let lock = store.lock(false).unwrap();
        store.save_last_run(&last_run(), &lock).unwrap();
        let loaded = store.load_last_run().unwrap();
        assert_eq!(loaded, Some(last_run()));
        assert_eq!(loaded.unwrap().hit_rate(), Some(0.75));
        let text = std::fs::read_to_string(store.dir().join("last-run.json")).unwrap();
        assert!(
            text.contains("\"job_id\": \"build-20250102T030405Z-abc123\""),
            "{text}"
        );
        assert!(store.take_warnings().is_empty());

        let none = LastRun {
            hits: 0,
            ran: 0,
            ..last_run()
        };
        assert_eq!(none.hit_rate(), None);
    }

    #[test]
    fn missing_is_none_and_reading_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::open(dir.path());
        assert_eq!(store.load_last_run().unwrap(), None);
        assert!(!dir.path().join(".prodigy").exists());
        assert!(store.take_warnings().is_empty());
    }

    #[test]
    fn garbage_is_none_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::open(dir.path());
        store
            .write(&store.last_run_path(), b"{\"schema_ver")
            .unwrap();
        assert_eq!(store.load_last_run().unwrap(), None);
        let warnings = store.take_warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].path, store.last_run_path());
        assert!(
            warnings[0].message.starts_with("corrupt last-run record ("),
            "{warnings:?}"
        );
    }

    #[test]
    fn another_version_is_none_without_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::open(dir.path());
        let lock = store.lock(false).unwrap();
        let newer = LastRun {
            schema_version: CACHE_SCHEMA_VERSION + 1,
            ..last_run()
        };
        store.save_last_run(&newer, &lock).unwrap();
        assert_eq!(store.load_last_run().unwrap(), None);
        store
            .write(
                &store.last_run_path(),
                br#"{"schema_version": 99, "shape": "new"}"#,
            )
            .unwrap();
        assert_eq!(store.load_last_run().unwrap(), None);
        assert!(store.take_warnings().is_empty());
    }

    #[test]
    fn clean_removes_it_and_removing_twice_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::open(dir.path());
        let lock = store.lock(false).unwrap();
        store.save_last_run(&last_run(), &lock).unwrap();
        store.clean(&lock).unwrap();
        assert_eq!(store.load_last_run().unwrap(), None);
        assert!(!store.last_run_path().exists());
        store.remove_last_run(&lock).unwrap();
    }
}
