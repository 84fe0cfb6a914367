//! `.prodigy/cache/.lock`: one writer at a time. A build holds it from start to end, so
//! a second build of the same project waits (or, with `--no-wait`, stops with
//! [`CacheError::Locked`] naming the holder's pid, which the holder writes into the
//! file). The lock is std's `File::lock` (advisory, released by the OS when the holder
//! dies, even after `kill -9`), so a stale lock file never blocks anyone.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{CacheError, io_error};

/// Proof that this process holds the cache lock; released on drop. Index writes, `gc`
/// and `clean` take a `&CacheLock`.
#[derive(Debug)]
pub struct CacheLock {
    path: PathBuf,
    // Held for its lock, which the OS releases when the file is closed.
    _file: File,
}

impl CacheLock {
    /// Takes the exclusive lock `<cache_dir>/.lock` (the directory must exist; see
    /// [`super::CacheStore::lock`]). With `wait`, blocks until the holder releases it;
    /// without, fails with [`CacheError::Locked`]. A caller that wants to say "waiting
    /// for pid N" tries without waiting first, prints, then waits.
    pub fn acquire(cache_dir: &Path, wait: bool) -> Result<CacheLock, CacheError> {
        let path = cache_dir.join(".lock");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io_error(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) if !wait => {
                return Err(CacheError::Locked {
                    holder_pid: Self::holder(cache_dir),
                    path,
                });
            }
            Err(TryLockError::WouldBlock) => file.lock().map_err(|e| io_error(&path, e))?,
            Err(TryLockError::Error(e)) => return Err(io_error(&path, e)),
        }
        // Only the holder writes, so the pid is never interleaved with another's.
        file.set_len(0)
            .and_then(|()| (&file).write_all(format!("{}\n", std::process::id()).as_bytes()))
            .map_err(|e| io_error(&path, e))?;
        Ok(CacheLock { path, _file: file })
    }

    /// The pid the current (or last) holder wrote into `<cache_dir>/.lock`, if readable.
    pub fn holder(cache_dir: &Path) -> Option<u32> {
        let text = std::fs::read_to_string(cache_dir.join(".lock")).ok()?;
        text.trim().parse().ok()
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    #[test]
    fn second_acquire_without_wait_names_the_holder_pid() {
        let dir = tempfile::tempdir().unwrap();
        let held = CacheLock::acquire(dir.path(), false).unwrap();
        let err = CacheLock::acquire(dir.path(), false).unwrap_err();
        match err {
            CacheError::Locked { holder_pid, path } => {
                assert_eq!(holder_pid, Some(std::process::id()));
                assert_eq!(path, held.path());
            }
            other => panic!("expected Locked, got {other}"),
        }
        drop(held);
        CacheLock::acquire(dir.path(), false).expect("free again after drop");
    }

    #[test]
    fn acquire_with_wait_blocks_until_the_holder_releases() {
        let dir = tempfile::tempdir().unwrap();
        let held = CacheLock::acquire(dir.path(), false).unwrap();
        let (tx, rx) = mpsc::channel();
        let cache_dir = dir.path().to_path_buf();
        let waiter = std::thread::spawn(move || {
            let lock = CacheLock::acquire(&cache_dir, true);
            tx.send(lock.is_ok()).unwrap();
        });
        assert!(
            rx.recv_timeout(Duration::from_millis(200)).is_err(),
            "the waiter must block while the lock is held"
        );
        drop(held);
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(true));
        waiter.join().unwrap();
    }
}
