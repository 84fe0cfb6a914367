//! The file-level half of [`super::tree_digest`]: hashing one working file as git
//! would, and the directory walk used outside a git repository.

use std::io;
use std::path::{Path, PathBuf};

use git2::{ObjectType, Oid};

use super::{RepoError, STATE_DIR, hash_field, is_excluded};
use crate::graph::node::Digest;

/// git's mode for a symlink.
const MODE_LINK: u32 = 0o120_000;
/// git's mode for an executable file.
const MODE_EXEC: u32 = 0o100_755;
/// git's mode for a regular file.
const MODE_FILE: u32 = 0o100_644;

/// The git mode and blob id of the working file at `path` (a symlink is its target);
/// `None` when it is gone or is a directory (a nested repository).
pub(super) fn blob_of(path: &Path) -> Result<Option<(u32, Oid)>, RepoError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(io_error(path, source)),
    };
    let hash_error = |source| RepoError::Git {
        action: "hash a working file",
        path: path.to_path_buf(),
        source,
    };
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(path).map_err(|e| io_error(path, e))?;
        let id = Oid::hash_object(ObjectType::Blob, slash_path(&target).as_bytes())
            .map_err(hash_error)?;
        return Ok(Some((MODE_LINK, id)));
    }
    if !meta.is_file() {
        return Ok(None);
    }
    let id = Oid::hash_file(ObjectType::Blob, path).map_err(hash_error)?;
    Ok(Some((file_mode(&meta), id)))
}

/// [`MODE_EXEC`] for a file with an execute bit, else [`MODE_FILE`].
fn file_mode(meta: &std::fs::Metadata) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o111 != 0 {
            return MODE_EXEC;
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    MODE_FILE
}

/// `path` with `/` between its components, whatever the platform.
pub(super) fn slash_path(path: &Path) -> String {
    path.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn io_error(path: &Path, source: io::Error) -> RepoError {
    RepoError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The digest of every regular file and symlink under `root` outside git, by relative
/// path and content, sorted by path; skips `.git`, `.prodigy` and `exclude`.
pub(super) fn dir_digest(root: &Path, exclude: &[PathBuf]) -> Result<Digest, RepoError> {
    let excluded: Vec<Vec<u8>> = exclude
        .iter()
        .map(|p| slash_path(p.strip_prefix(root).unwrap_or(p)).into_bytes())
        .collect();
    let mut files = Vec::new();
    walk(root, "", &excluded, &mut files)?;
    files.sort();
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"prodigy-tree-dir-v1\0");
    for (path, kind, hash) in &files {
        hash_field(&mut hasher, path.as_bytes());
        hasher.update(&[*kind]);
        hasher.update(hash);
    }
    Ok(Digest(*hasher.finalize().as_bytes()))
}

/// Collects `(relative path, kind, content hash)` under `dir`; kind `f` file, `l` link.
fn walk(
    dir: &Path,
    prefix: &str,
    excluded: &[Vec<u8>],
    files: &mut Vec<(String, u8, [u8; 32])>,
) -> Result<(), RepoError> {
    let entries = std::fs::read_dir(dir).map_err(|e| io_error(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_error(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == ".git" || name == STATE_DIR {
            continue;
        }
        let relative = match prefix {
            "" => name,
            _ => format!("{prefix}/{name}"),
        };
        if is_excluded(relative.as_bytes(), excluded) {
            continue;
        }
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| io_error(&path, e))?;
        if kind.is_dir() {
            walk(&path, &relative, excluded, files)?;
        } else if kind.is_symlink() {
            let target = std::fs::read_link(&path).map_err(|e| io_error(&path, e))?;
            let hash = blake3::hash(slash_path(&target).as_bytes());
            files.push((relative, b'l', *hash.as_bytes()));
        } else if kind.is_file() {
            let mut hasher = blake3::Hasher::new();
            let mut file = std::fs::File::open(&path).map_err(|e| io_error(&path, e))?;
            io::copy(&mut file, &mut hasher).map_err(|e| io_error(&path, e))?;
            files.push((relative, b'f', *hasher.finalize().as_bytes()));
        }
    }
    Ok(())
}
