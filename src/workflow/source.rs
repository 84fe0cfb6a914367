//! Reading a workflow file from disk into text, with clear errors for everything that
//! is not a readable UTF-8 text file.

use std::path::{Path, PathBuf};

use super::yaml::MAX_SOURCE_BYTES;

/// A workflow file's text and the name to show for it.
#[derive(Debug, Clone)]
pub struct Source {
    /// The path as the user gave it (shown in diagnostics).
    pub path: PathBuf,
    /// The whole file.
    pub text: String,
}

impl Source {
    /// The path for messages.
    pub fn name(&self) -> String {
        self.path.display().to_string()
    }
}

/// Why a workflow file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// No such file.
    #[error("workflow file `{}` does not exist", path.display())]
    NotFound {
        /// The missing path.
        path: PathBuf,
    },
    /// The path is a directory.
    #[error("`{}` is a directory, not a workflow file", path.display())]
    IsDirectory {
        /// The directory.
        path: PathBuf,
    },
    /// The file is not UTF-8 text.
    #[error("`{}` is not a UTF-8 text file (invalid byte at offset {offset})", path.display())]
    NotText {
        /// The file.
        path: PathBuf,
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
    /// The file is larger than any workflow should be.
    #[error("`{}` is {size} bytes; workflow files are limited to {MAX_SOURCE_BYTES} bytes", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// Any other I/O error (permissions, ...).
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl LoadError {
    /// True when the problem is the machine, not the input (exit code 4, not 2).
    pub fn is_environment(&self) -> bool {
        matches!(self, LoadError::Io { .. })
    }
}

/// Reads `path` as a workflow file.
pub fn read(path: &Path) -> Result<Source, LoadError> {
    let io = |source: std::io::Error| match source.kind() {
        std::io::ErrorKind::NotFound => LoadError::NotFound {
            path: path.to_path_buf(),
        },
        _ => LoadError::Io {
            path: path.to_path_buf(),
            source,
        },
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_dir() {
        return Err(LoadError::IsDirectory {
            path: path.to_path_buf(),
        });
    }
    if meta.len() > MAX_SOURCE_BYTES as u64 {
        return Err(LoadError::TooLarge {
            path: path.to_path_buf(),
            size: meta.len(),
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    let text = String::from_utf8(bytes).map_err(|e| LoadError::NotText {
        path: path.to_path_buf(),
        offset: e.utf8_error().valid_up_to(),
    })?;
    Ok(Source {
        path: path.to_path_buf(),
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_unreadable_paths() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            read(&dir.path().join("nope.yml")),
            Err(LoadError::NotFound { .. })
        ));
        assert!(matches!(
            read(dir.path()),
            Err(LoadError::IsDirectory { .. })
        ));
        let bin = dir.path().join("bin.yml");
        std::fs::write(&bin, b"a: 1\n\xff\xfe").unwrap();
        assert!(matches!(
            read(&bin),
            Err(LoadError::NotText { offset: 5, .. })
        ));
    }
}
