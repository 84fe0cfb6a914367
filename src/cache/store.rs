//! `CacheStore`: the cache directory of one project. Blobs and entries are written
//! without a lock (content-addressed, renamed into place); reads create nothing; a
//! corrupt file is a miss plus a warning, never an error or a panic.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use super::digest::{digest_bytes, parse_hex, to_hex};
use super::entry::ActionEntry;
use super::lock::CacheLock;
use super::{CacheError, CacheWarning, io_error};
use crate::graph::node::Digest;

/// The cache under `<root>/.prodigy/cache/`.
#[derive(Debug)]
pub struct CacheStore {
    root: PathBuf,
    dir: PathBuf,
    warnings: Mutex<Vec<CacheWarning>>,
}

/// How much the cache holds. `bytes` counts entries and blobs (what `gc` can free), not
/// the index or the lock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Action entries.
    pub entries: u64,
    /// Blobs.
    pub blobs: u64,
    /// Bytes of entries and blobs.
    pub bytes: u64,
}

/// One file found by [`CacheStore::walk`].
#[derive(Debug)]
pub(crate) struct Found {
    pub path: PathBuf,
    /// The blob's digest or the entry's key; `None` for a temp file.
    pub digest: Option<Digest>,
    pub len: u64,
    pub modified: SystemTime,
    /// A leftover temp file of an interrupted write (`.<name>.tmp-...`).
    pub temp: bool,
}

impl CacheStore {
    /// The cache of the project at `root`. Does no I/O: directories are created by the
    /// first write.
    pub fn open(root: &Path) -> CacheStore {
        CacheStore {
            root: root.to_path_buf(),
            dir: root.join(".prodigy").join("cache"),
            warnings: Mutex::new(Vec::new()),
        }
    }

    /// `<root>/.prodigy/cache`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Warnings from reads so far (corrupt files, foreign index versions), emptied.
    pub fn take_warnings(&self) -> Vec<CacheWarning> {
        std::mem::take(&mut *self.warnings.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Takes `.lock`, creating the cache directory; see [`CacheLock::acquire`].
    pub fn lock(&self, wait: bool) -> Result<CacheLock, CacheError> {
        self.ensure_dir()?;
        CacheLock::acquire(&self.dir, wait)
    }

    /// Stores `bytes` and returns their blake3 digest. Content already stored is not
    /// written again.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<Digest, CacheError> {
        let digest = digest_bytes(bytes);
        let path = self.blob_path(&digest);
        if std::fs::metadata(&path).is_ok_and(|m| m.len() == bytes.len() as u64) {
            return Ok(digest);
        }
        self.write_unsynced(&path, bytes)?;
        Ok(digest)
    }

    /// The blob named `digest`, or `None` when it is missing or corrupt (a warning; the
    /// bad file is removed so that the next put writes it again).
    pub fn get_blob(&self, digest: &Digest) -> Result<Option<Vec<u8>>, CacheError> {
        let path = self.blob_path(digest);
        let Some(bytes) = read_if_exists(&path)? else {
            return Ok(None);
        };
        if digest_bytes(&bytes) == *digest {
            return Ok(Some(bytes));
        }
        self.warn(
            &path,
            "blob content does not match its digest; treated as a miss",
        );
        let _ = std::fs::remove_file(&path);
        Ok(None)
    }

    /// Stores `entry` under its `key_digest`, replacing an earlier entry of that key.
    pub fn put_entry(&self, entry: &ActionEntry) -> Result<(), CacheError> {
        let path = self.entry_path(&entry.key_digest);
        let mut bytes = serde_json::to_vec(entry).map_err(|e| io_error(&path, e.into()))?;
        bytes.push(b'\n');
        self.write_unsynced(&path, &bytes)
    }

    /// The entry of `key`, or `None`: missing, of another schema version (silent), or
    /// corrupt (a warning).
    pub fn get_entry(&self, key: &Digest) -> Result<Option<ActionEntry>, CacheError> {
        let path = self.entry_path(key);
        let Some(bytes) = read_if_exists(&path)? else {
            return Ok(None);
        };
        match ActionEntry::decode(&bytes, key) {
            Ok(entry) => Ok(entry),
            Err(message) => {
                self.warn(&path, &format!("{message}; treated as a miss"));
                Ok(None)
            }
        }
    }

    /// Counts entries and blobs (leftover temp files are not counted).
    pub fn stats(&self) -> Result<CacheStats, CacheError> {
        let mut stats = CacheStats::default();
        for found in self.walk("entries")?.iter().filter(|f| !f.temp) {
            stats.entries += 1;
            stats.bytes += found.len;
        }
        for found in self.walk("blobs")?.iter().filter(|f| !f.temp) {
            stats.blobs += 1;
            stats.bytes += found.len;
        }
        Ok(stats)
    }

    /// Removes every entry, blob, the index and `last-run.json` (not the lock); returns
    /// what was there.
    pub fn clean(&self, lock: &CacheLock) -> Result<CacheStats, CacheError> {
        debug_assert_eq!(lock.path(), self.dir.join(".lock"));
        let stats = self.stats()?;
        for sub in ["entries", "blobs"] {
            let path = self.dir.join(sub);
            match std::fs::remove_dir_all(&path) {
                Err(e) if e.kind() != ErrorKind::NotFound => return Err(io_error(&path, e)),
                _ => {}
            }
        }
        let index = self.index_path();
        match std::fs::remove_file(&index) {
            Err(e) if e.kind() != ErrorKind::NotFound => return Err(io_error(&index, e)),
            _ => {}
        }
        self.remove_last_run(lock)?;
        Ok(stats)
    }

    /// `blobs/<2 hex>/<62 hex>`.
    pub(crate) fn blob_path(&self, digest: &Digest) -> PathBuf {
        let hex = to_hex(digest);
        self.dir.join("blobs").join(&hex[..2]).join(&hex[2..])
    }

    /// `entries/<2 hex>/<key hex>.json`.
    pub(crate) fn entry_path(&self, key: &Digest) -> PathBuf {
        let hex = to_hex(key);
        self.dir
            .join("entries")
            .join(&hex[..2])
            .join(format!("{hex}.json"))
    }

    /// `index.bin`.
    pub(crate) fn index_path(&self) -> PathBuf {
        self.dir.join("index.bin")
    }

    pub(crate) fn warn(&self, path: &Path, message: &str) {
        let mut all = self.warnings.lock().unwrap_or_else(PoisonError::into_inner);
        all.push(CacheWarning {
            path: path.to_path_buf(),
            message: message.to_string(),
        });
    }

    /// Writes `path` atomically and durably, creating its directories (and
    /// `.prodigy/.gitignore`).
    pub(crate) fn write(&self, path: &Path, bytes: &[u8]) -> Result<(), CacheError> {
        self.ensure_parent(path)?;
        crate::fs::write_atomic(path, bytes).map_err(|e| io_error(path, e))
    }

    /// Writes a blob or entry atomically without an fsync of its own (one per node
    /// cost more than the node in a map of trivial items): a killed build loses none,
    /// readers verify what they read, and [`CacheStore::sync`] makes them durable.
    fn write_unsynced(&self, path: &Path, bytes: &[u8]) -> Result<(), CacheError> {
        self.ensure_parent(path)?;
        crate::fs::write_atomic_unsynced(path, bytes).map_err(|e| io_error(path, e))
    }

    /// Flushes what this build wrote to disk (called once, when a job ends).
    pub fn sync(&self, lock: &CacheLock) -> Result<(), CacheError> {
        debug_assert_eq!(lock.path(), self.dir.join(".lock"));
        crate::fs::sync_fs(&self.dir).map_err(|e| io_error(&self.dir, e))
    }

    fn ensure_parent(&self, path: &Path) -> Result<(), CacheError> {
        self.ensure_dir()?;
        match path.parent() {
            Some(parent) => std::fs::create_dir_all(parent).map_err(|e| io_error(parent, e)),
            None => Ok(()),
        }
    }

    /// Creates `.prodigy/` (git-ignoring itself with `*` when new) and the cache dir.
    fn ensure_dir(&self) -> Result<(), CacheError> {
        if self.dir.is_dir() {
            return Ok(());
        }
        let prodigy = self.root.join(".prodigy");
        match std::fs::create_dir(&prodigy) {
            Ok(()) => {
                let ignore = prodigy.join(".gitignore");
                crate::fs::write_atomic(&ignore, b"*\n").map_err(|e| io_error(&ignore, e))?;
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_error(&prodigy, e)),
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| io_error(&self.dir, e))
    }

    /// Every blob or entry (named by a digest) and temp file in the shard directories of
    /// `sub` (`entries` or `blobs`); other files are not the cache's and are left alone.
    pub(crate) fn walk(&self, sub: &str) -> Result<Vec<Found>, CacheError> {
        let mut found = Vec::new();
        let top = self.dir.join(sub);
        for shard in read_dir(&top)? {
            let shard_name = shard.file_name().to_string_lossy().into_owned();
            for file in read_dir(&shard.path())? {
                let path = file.path();
                let meta = file.metadata().map_err(|e| io_error(&path, e))?;
                if !meta.is_file() {
                    continue;
                }
                let file_name = file.file_name().to_string_lossy().into_owned();
                let temp = file_name.starts_with('.');
                let digest = match file_name.strip_suffix(".json") {
                    Some(key) if sub == "entries" => parse_hex(key),
                    _ => parse_hex(&format!("{shard_name}{file_name}")),
                };
                if digest.is_none() && !temp {
                    continue;
                }
                found.push(Found {
                    path,
                    digest,
                    len: meta.len(),
                    modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    temp,
                });
            }
        }
        Ok(found)
    }
}

/// The entries of `dir` that are directories or files; none when it does not exist.
fn read_dir(dir: &Path) -> Result<Vec<std::fs::DirEntry>, CacheError> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| io_error(dir, e)),
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
            Ok(Vec::new())
        }
        Err(e) => Err(io_error(dir, e)),
    }
}

/// The bytes of `path`, or `None` when it does not exist.
pub(crate) fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>, CacheError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::super::CACHE_SCHEMA_VERSION;
    use super::super::entry::fixtures::entry;
    use super::*;

    fn key(n: u8) -> Digest {
        Digest([n; 32])
    }

    #[test]
    fn blobs_round_trip_deduplicated_and_reads_create_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::open(dir.path());
        assert_eq!(store.get_blob(&key(1)).unwrap(), None);
        assert!(
            !dir.path().join(".prodigy").exists(),
            "reads create nothing"
        );

        let digest = store.put_blob(b"hello\n").unwrap();
        assert_eq!(to_hex(&digest), blake3::hash(b"hello\n").to_hex().as_str());
        assert_eq!(store.put_blob(b"hello\n").unwrap(), digest);
        assert_eq!(store.get_blob(&digest).unwrap().unwrap(), b"hello\n");
        let stats = store.stats().unwrap();
        assert_eq!((stats.blobs, stats.bytes), (1, 6));
        let path = store.blob_path(&digest);
        let hex = to_hex(&digest);
        assert!(path.ends_with(format!("blobs/{}/{}", &hex[..2], &hex[2..])));
        let ignore = std::fs::read_to_string(dir.path().join(".prodigy/.gitignore")).unwrap();
        assert_eq!(ignore, "*\n");
        assert!(store.take_warnings().is_empty());
    }

    #[test]
    fn corrupt_blob_is_a_miss_with_a_warning_and_is_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::open(dir.path());
        let digest = store.put_blob(b"stdout").unwrap();
        std::fs::write(store.blob_path(&digest), b"stdoun").unwrap();
        assert_eq!(store.get_blob(&digest).unwrap(), None);
        let warnings = store.take_warnings();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].message.contains("does not match its digest"));
        store.put_blob(b"stdout").unwrap();
        assert_eq!(store.get_blob(&digest).unwrap().unwrap(), b"stdout");
    }

    #[test]
    fn entries_round_trip_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::open(dir.path());
        let blob = store.put_blob(b"").unwrap();
        let written = entry(key(7), blob, Utc::now());
        assert_eq!(store.get_entry(&key(7)).unwrap(), None);
        store.put_entry(&written).unwrap();
        assert_eq!(store.get_entry(&key(7)).unwrap(), Some(written.clone()));
        assert!(
            store
                .entry_path(&key(7))
                .ends_with(format!("entries/07/{}.json", to_hex(&key(7))))
        );
        assert_eq!(store.stats().unwrap().entries, 1);
        assert!(written.is_hit());
    }

    #[test]
    fn foreign_versions_are_silent_misses_and_corrupt_entries_warn() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::open(dir.path());
        let mut newer = entry(key(1), key(2), Utc::now());
        newer.schema_version = CACHE_SCHEMA_VERSION + 1;
        store.put_entry(&newer).unwrap();
        assert_eq!(store.get_entry(&key(1)).unwrap(), None);
        let path = store.entry_path(&key(3));
        store
            .write(&path, br#"{"schema_version": 99, "shape": "new"}"#)
            .unwrap();
        assert_eq!(store.get_entry(&key(3)).unwrap(), None);
        assert!(store.take_warnings().is_empty());

        store
            .write(&store.entry_path(&key(4)), b"{\"schema_")
            .unwrap();
        let moved = entry(key(5), key(2), Utc::now());
        let bytes = serde_json::to_vec(&moved).unwrap();
        store.write(&store.entry_path(&key(6)), &bytes).unwrap();
        assert_eq!(store.get_entry(&key(4)).unwrap(), None);
        assert_eq!(store.get_entry(&key(6)).unwrap(), None);
        let warnings = store.take_warnings();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].to_string().contains("corrupt cache entry"));
        assert!(warnings[1].message.contains("not its file name"));
    }

    #[test]
    fn clean_removes_everything_but_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::open(dir.path());
        let blob = store.put_blob(b"x").unwrap();
        store.put_entry(&entry(key(1), blob, Utc::now())).unwrap();
        let lock = store.lock(false).unwrap();
        let removed = store.clean(&lock).unwrap();
        assert_eq!((removed.entries, removed.blobs), (1, 1));
        assert_eq!(store.stats().unwrap(), CacheStats::default());
        let left: Vec<_> = std::fs::read_dir(store.dir()).unwrap().collect();
        assert_eq!(left.len(), 1, "only .lock is left");
    }
}
