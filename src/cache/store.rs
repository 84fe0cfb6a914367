//! `CacheStore`: the cache directory of one project. Blobs are written without a lock
//! (content-addressed, renamed into place), entries are appended to the pack under it
//! (`pack.rs`); reads create nothing; a corrupt file or frame is a miss plus a warning,
//! never an error or a panic.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use super::digest::{digest_bytes, parse_hex, to_hex};
use super::lock::CacheLock;
use super::pack::{self, Pack};
use super::{CacheError, CacheWarning, io_error};
use crate::graph::node::Digest;

/// The longest stdout or stderr kept inline in its entry; longer ones are blobs.
pub const INLINE_OUTPUT_MAX: usize = 4096;

/// The cache under `<root>/.prodigy/cache/`.
#[derive(Debug)]
pub struct CacheStore {
    root: PathBuf,
    dir: PathBuf,
    warnings: Mutex<Vec<CacheWarning>>,
    pack: Mutex<Pack>,
}

/// How much the cache holds. `bytes` counts the entry pack and blobs (what `gc` can
/// free), not the index or the lock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Action entries: distinct keys in the pack.
    pub entries: u64,
    /// Blobs.
    pub blobs: u64,
    /// Bytes of the pack and blobs.
    pub bytes: u64,
}

/// One file found by [`CacheStore::walk_blobs`].
#[derive(Debug)]
pub(crate) struct Found {
    pub path: PathBuf,
    /// The blob's digest; `None` for a temp file.
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
            pack: Mutex::new(Pack::default()),
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

    /// Takes `.lock`; when another process holds it, calls `on_wait` with its pid and
    /// then blocks (with `wait`) or fails with [`CacheError::Locked`] (without).
    pub fn lock_announced(
        &self,
        wait: bool,
        on_wait: &mut dyn FnMut(Option<u32>),
    ) -> Result<CacheLock, CacheError> {
        match self.lock(false) {
            Err(CacheError::Locked { holder_pid, .. }) if wait => {
                on_wait(holder_pid);
                self.lock(true)
            }
            taken => taken,
        }
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

    /// Stores a node's stdout or stderr: its digest, and the text itself when it is at
    /// most [`INLINE_OUTPUT_MAX`] bytes, to keep inline in the entry (no blob file:
    /// creating one per node was the cost of a map of trivial items).
    pub fn put_output(&self, text: &str) -> Result<(Digest, Option<String>), CacheError> {
        if text.len() <= INLINE_OUTPUT_MAX {
            return Ok((digest_bytes(text.as_bytes()), Some(text.to_string())));
        }
        Ok((self.put_blob(text.as_bytes())?, None))
    }

    /// Counts entries (distinct keys in the pack) and blobs (leftover temp files are
    /// not counted).
    pub fn stats(&self) -> Result<CacheStats, CacheError> {
        let mut stats = CacheStats::default();
        if let Some(bytes) = read_if_exists(&self.pack_path())? {
            stats.entries = pack::scan(&bytes).spans.len() as u64;
            stats.bytes = bytes.len() as u64;
        }
        for found in self.walk_blobs()?.iter().filter(|f| !f.temp) {
            stats.blobs += 1;
            stats.bytes += found.len;
        }
        Ok(stats)
    }

    /// Removes the pack, every blob, the index, `last-run.json`, leftover temp files
    /// and the `entries/` directory of cache version 1 (not the lock); returns what
    /// was there.
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
        *self.pack() = Pack::default();
        for path in [self.pack_path(), self.index_path()] {
            remove_file(&path)?;
        }
        self.remove_last_run(lock)?;
        self.remove_temp_files(None)?;
        Ok(stats)
    }

    /// Removes the temp files of interrupted writes in the cache directory (those
    /// older than `before`, when given).
    pub(crate) fn remove_temp_files(&self, before: Option<SystemTime>) -> Result<(), CacheError> {
        for file in read_dir(&self.dir)? {
            let name = file.file_name().to_string_lossy().into_owned();
            if !(name.starts_with('.') && name.contains(".tmp-")) {
                continue;
            }
            let modified = file.metadata().and_then(|m| m.modified());
            if before.is_none_or(|t| modified.is_ok_and(|m| m < t)) {
                remove_file(&file.path())?;
            }
        }
        Ok(())
    }

    /// `blobs/<2 hex>/<62 hex>`.
    pub(crate) fn blob_path(&self, digest: &Digest) -> PathBuf {
        let hex = to_hex(digest);
        self.dir.join("blobs").join(&hex[..2]).join(&hex[2..])
    }

    /// `entries.pack`.
    pub(crate) fn pack_path(&self) -> PathBuf {
        self.dir.join("entries.pack")
    }

    /// This store's view of the pack (see `pack.rs`).
    pub(crate) fn pack(&self) -> MutexGuard<'_, Pack> {
        self.pack.lock().unwrap_or_else(PoisonError::into_inner)
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

    /// Writes a blob atomically without an fsync of its own (one per node cost more
    /// than the node in a map of trivial items): a killed build loses none, readers
    /// verify what they read, and [`CacheStore::sync`] makes them durable.
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
        crate::fs::state_dir(&self.root, Path::new("cache"))
            .map(drop)
            .map_err(|e| io_error(&self.dir, e))
    }

    /// Every blob (named by its digest) and temp file in the shard directories of
    /// `blobs/`; other files are not the cache's and are left alone.
    pub(crate) fn walk_blobs(&self) -> Result<Vec<Found>, CacheError> {
        let mut found = Vec::new();
        for shard in read_dir(&self.dir.join("blobs"))? {
            let shard_name = shard.file_name().to_string_lossy().into_owned();
            for file in read_dir(&shard.path())? {
                let path = file.path();
                let meta = file.metadata().map_err(|e| io_error(&path, e))?;
                if !meta.is_file() {
                    continue;
                }
                let file_name = file.file_name().to_string_lossy().into_owned();
                let temp = file_name.starts_with('.');
                let digest = parse_hex(&format!("{shard_name}{file_name}"));
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

/// Deletes `path`; already gone is fine.
pub(crate) fn remove_file(path: &Path) -> Result<(), CacheError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(io_error(path, e)),
        _ => Ok(()),
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
    fn small_outputs_stay_inline_and_large_ones_are_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::open(dir.path());
        let small = "x".repeat(INLINE_OUTPUT_MAX);
        let (digest, inline) = store.put_output(&small).unwrap();
        assert_eq!(
            (digest, inline.as_deref()),
            (digest_bytes(small.as_bytes()), Some(&*small))
        );
        assert_eq!(
            store.stats().unwrap(),
            CacheStats::default(),
            "no blob file"
        );
        let large = "y".repeat(INLINE_OUTPUT_MAX + 1);
        let (digest, inline) = store.put_output(&large).unwrap();
        assert_eq!(inline, None);
        assert_eq!(store.get_blob(&digest).unwrap(), Some(large.into_bytes()));

        let mut both = entry(key(1), digest, Utc::now());
        assert_eq!(both.stdout(&store), both.stderr(&store));
        both.stdout_text = Some("inline\n".to_string());
        both.stdout_blob = digest_bytes(b"inline\n");
        assert_eq!(both.stdout(&store), "inline\n");
        assert_eq!(
            both.blobs().collect::<Vec<_>>(),
            [digest],
            "inline is no blob"
        );
    }

    #[test]
    fn clean_removes_everything_but_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::open(dir.path());
        let blob = store.put_blob(b"x").unwrap();
        let lock = store.lock(false).unwrap();
        store
            .put_entry(&entry(key(1), blob, Utc::now()), &lock)
            .unwrap();
        store
            .put_entry(&entry(key(1), blob, Utc::now()), &lock)
            .unwrap();
        store
            .save_index(&super::super::Index::default(), &lock)
            .unwrap();
        let run = super::super::LastRun {
            schema_version: super::super::CACHE_SCHEMA_VERSION,
            job_id: "build-1".to_string(),
            finished_at: Utc::now(),
            hits: 1,
            ran: 0,
            not_cached: 0,
        };
        store.save_last_run(&run, &lock).unwrap();
        let old = store
            .dir()
            .join("entries/07")
            .join(format!("{}.json", to_hex(&key(7))));
        std::fs::create_dir_all(old.parent().unwrap()).unwrap();
        std::fs::write(&old, "{}").unwrap();
        std::fs::write(store.dir().join(".entries.pack.tmp-1-0"), "half").unwrap();
        let before = store.stats().unwrap();
        assert_eq!(
            (before.entries, before.blobs),
            (1, 1),
            "version 1 entries are ignored"
        );
        let pack_len = std::fs::metadata(store.pack_path()).unwrap().len();
        assert_eq!(before.bytes, pack_len + 1);

        let removed = store.clean(&lock).unwrap();
        assert_eq!(removed, before);
        assert_eq!(store.stats().unwrap(), CacheStats::default());
        assert_eq!(store.get_entry(&key(1)).unwrap(), None);
        let left: Vec<_> = std::fs::read_dir(store.dir()).unwrap().collect();
        assert_eq!(left.len(), 1, "only .lock is left: {left:?}");
        store
            .put_entry(&entry(key(2), blob, Utc::now()), &lock)
            .unwrap();
        assert!(
            CacheStore::open(dir.path())
                .get_entry(&key(2))
                .unwrap()
                .is_some()
        );
    }
}
