//! File-system helpers: atomic writes (temp file, fsync, rename), so a crash never
//! leaves a half-written file.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically: a temp file in the same directory, fsync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    replace(path, bytes, true)
}

/// Like [`write_atomic`] without the fsync: a reader (and a process killed after the
/// call) sees the old file or the whole new one; a power loss may lose the new one,
/// so only for files whose loss is harmless and whose readers check what they read
/// (the build cache: a lost entry is a miss). Made durable later with [`sync_fs`].
pub fn write_atomic_unsynced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    replace(path, bytes, false)
}

/// Flushes every pending write of the file system holding `dir` to disk (`syncfs`).
pub fn sync_fs(dir: &Path) -> std::io::Result<()> {
    let handle = std::fs::File::open(dir)?;
    rustix::fs::syncfs(&handle).map_err(std::io::Error::from)
}

/// A temp file in the same directory, written (and fsynced when `sync`), renamed.
fn replace(path: &Path, bytes: &[u8], sync: bool) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.tmp-{}-{}", std::process::id(), unique()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        if sync {
            file.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A number unique within this process, for temp-file names.
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Creates `<root>/.prodigy/` (which git-ignores itself with a `.gitignore` of `*`)
/// and the directory `sub` inside it; returns the latter.
pub fn state_dir(root: &Path, sub: &Path) -> std::io::Result<std::path::PathBuf> {
    let prodigy = root.join(".prodigy");
    match std::fs::create_dir(&prodigy) {
        Ok(()) => write_atomic(&prodigy.join(".gitignore"), b"*\n")?,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let dir = prodigy.join(sub);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
