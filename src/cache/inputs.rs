//! Declared `inputs:`: glob patterns relative to the workflow root, expanded to files
//! and hashed by content. A file whose size and mtime match its stamp from the last
//! build is not read again (the digest, never the mtime, decides); each file is hashed
//! at most once per build, however many nodes name it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use globset::{Glob, GlobBuilder, GlobMatcher};

use super::digest::{digest_bytes, to_hex};
use super::freshness::{InputStamp, stamp_matches};

/// The digest a pattern that matches no file contributes to a key.
const NO_MATCH: &str = "no match";

/// Why declared inputs could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// A pattern is not a valid glob.
    #[error("input pattern `{pattern}` is not a valid glob: {message}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
    /// A matched file could not be read.
    #[error("cannot read input `{}`: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// The inputs of one build.
pub struct Inputs {
    root: PathBuf,
    previous: HashMap<String, InputStamp>,
    stamps: HashMap<String, InputStamp>,
    expansions: HashMap<Vec<String>, Vec<Match>>,
    now: SystemTime,
}

/// What one pattern found.
#[derive(Debug, Clone)]
struct Match {
    pattern: String,
    files: Vec<String>,
}

impl Inputs {
    /// Inputs under `root`; `previous` are the stamps of the last build.
    pub fn new<'a>(root: &Path, previous: impl IntoIterator<Item = &'a InputStamp>) -> Self {
        Inputs {
            root: root.to_path_buf(),
            previous: previous
                .into_iter()
                .map(|s| (s.path.clone(), s.clone()))
                .collect(),
            stamps: HashMap::new(),
            expansions: HashMap::new(),
            now: SystemTime::now(),
        }
    }

    /// The key entries of `patterns` (path -> digest hex, or a pattern -> `no match`)
    /// and the stamps of every file they matched.
    pub fn resolve(
        &mut self,
        patterns: &[String],
    ) -> Result<(BTreeMap<String, String>, Vec<InputStamp>), InputError> {
        let matches = self.expand(patterns)?;
        let mut digests = BTreeMap::new();
        let mut stamps = Vec::new();
        for found in matches {
            if found.files.is_empty() {
                digests.insert(found.pattern.clone(), NO_MATCH.to_string());
            }
            for file in &found.files {
                let stamp = self.stamp(file)?;
                digests.insert(file.clone(), to_hex(&stamp.digest));
                stamps.push(stamp);
            }
        }
        stamps.sort_by(|a, b| a.path.cmp(&b.path));
        stamps.dedup_by(|a, b| a.path == b.path);
        Ok((digests, stamps))
    }

    /// True when every file of `stamps` still has the content it had when stamped
    /// (checked after a node ran: a result whose inputs changed is not cached).
    pub fn unchanged(&self, stamps: &[InputStamp]) -> bool {
        stamps.iter().all(|stamp| {
            let path = self.root.join(&stamp.path);
            match std::fs::metadata(&path) {
                Ok(meta) if stamp_matches(stamp, &meta) => true,
                Ok(_) => std::fs::read(&path).is_ok_and(|b| digest_bytes(&b) == stamp.digest),
                Err(_) => false,
            }
        })
    }

    fn expand(&mut self, patterns: &[String]) -> Result<Vec<Match>, InputError> {
        if let Some(found) = self.expansions.get(patterns) {
            return Ok(found.clone());
        }
        let mut found = Vec::new();
        for pattern in patterns {
            found.push(Match {
                pattern: pattern.clone(),
                files: expand_one(&self.root, pattern)?,
            });
        }
        self.expansions.insert(patterns.to_vec(), found.clone());
        Ok(found)
    }

    fn stamp(&mut self, file: &str) -> Result<InputStamp, InputError> {
        if let Some(stamp) = self.stamps.get(file) {
            return Ok(stamp.clone());
        }
        let path = self.root.join(file);
        let read_error = |source| InputError::Read {
            path: path.clone(),
            source,
        };
        let meta = std::fs::metadata(&path).map_err(read_error)?;
        let digest = match self.previous.get(file) {
            Some(old) if stamp_matches(old, &meta) => old.digest,
            _ => digest_bytes(&std::fs::read(&path).map_err(read_error)?),
        };
        let stamp = InputStamp::new(file, &meta, digest, self.now);
        self.stamps.insert(file.to_string(), stamp.clone());
        Ok(stamp)
    }
}

/// The files `pattern` names, sorted: a plain path is that file or every file under
/// that directory; a glob (`*`, `?`, `[...]`, `{a,b}`, `**`) is matched from its
/// longest literal directory. `.git` and `.prodigy` are never inputs.
fn expand_one(root: &Path, pattern: &str) -> Result<Vec<String>, InputError> {
    let pattern = pattern.trim_start_matches("./");
    let is_glob = pattern.contains(['*', '?', '[', '{']);
    let mut files = Vec::new();
    if !is_glob {
        walk(root, Path::new(pattern), &mut |_| true, &mut files);
        files.sort();
        return Ok(files);
    }
    let matcher = glob(pattern)?;
    let start: PathBuf = Path::new(pattern)
        .components()
        .take_while(|c| {
            !c.as_os_str()
                .to_string_lossy()
                .contains(['*', '?', '[', '{'])
        })
        .collect();
    walk(root, &start, &mut |rel| matcher.is_match(rel), &mut files);
    files.sort();
    Ok(files)
}

fn glob(pattern: &str) -> Result<GlobMatcher, InputError> {
    let glob: Result<Glob, _> = GlobBuilder::new(pattern).literal_separator(true).build();
    glob.map(|g| g.compile_matcher())
        .map_err(|e| InputError::Pattern {
            pattern: pattern.to_string(),
            message: e.kind().to_string(),
        })
}

/// Adds the regular files at or under `rel` (relative to `root`) that `keep` accepts.
fn walk(root: &Path, rel: &Path, keep: &mut dyn FnMut(&str) -> bool, out: &mut Vec<String>) {
    let skip = rel
        .components()
        .any(|c| c.as_os_str() == ".git" || c.as_os_str() == ".prodigy");
    if skip {
        return;
    }
    let path = root.join(rel);
    let Ok(meta) = std::fs::metadata(&path) else {
        return;
    };
    if meta.is_file() {
        let text = rel.to_string_lossy().replace('\\', "/");
        if keep(&text) {
            out.push(text);
        }
        return;
    }
    if !meta.is_dir() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(&path) else {
        return;
    };
    for entry in entries.flatten() {
        walk(root, &rel.join(entry.file_name()), keep, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    fn names(dir: &Path, patterns: &[&str]) -> Vec<String> {
        let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        let (digests, _) = Inputs::new(dir, []).resolve(&patterns).unwrap();
        digests.into_keys().collect()
    }

    #[test]
    fn patterns_expand_to_sorted_files() {
        let dir = tree(&[
            ("src/a.rs", "a"),
            ("src/deep/b.rs", "b"),
            ("src/c.txt", "c"),
            ("Cargo.toml", "t"),
            (".git/config", "g"),
            (".prodigy/cache/x", "x"),
        ]);
        let d = dir.path();
        assert_eq!(names(d, &["src/*.rs"]), ["src/a.rs"]);
        assert_eq!(names(d, &["src/**/*.rs"]), ["src/a.rs", "src/deep/b.rs"]);
        assert_eq!(
            names(d, &["src"]),
            ["src/a.rs", "src/c.txt", "src/deep/b.rs"]
        );
        assert_eq!(names(d, &["./Cargo.toml"]), ["Cargo.toml"]);
        assert_eq!(names(d, &["**/*.toml"]), ["Cargo.toml"]);
        assert_eq!(names(d, &["missing/*.rs"]), ["missing/*.rs"]);
        assert_eq!(names(d, &["**/config", "**/x"]), ["**/config", "**/x"]);
    }

    #[test]
    fn digests_follow_content_not_metadata() {
        let dir = tree(&[("a.txt", "one")]);
        let patterns = vec!["a.txt".to_string()];
        let (first, stamps) = Inputs::new(dir.path(), []).resolve(&patterns).unwrap();
        let inputs = Inputs::new(dir.path(), &stamps);
        assert!(inputs.unchanged(&stamps));
        std::fs::write(dir.path().join("a.txt"), "one").unwrap();
        let (touched, _) = Inputs::new(dir.path(), &stamps).resolve(&patterns).unwrap();
        assert_eq!(touched, first, "rewriting the same bytes changes nothing");
        std::fs::write(dir.path().join("a.txt"), "two").unwrap();
        assert!(!inputs.unchanged(&stamps));
        let (edited, _) = Inputs::new(dir.path(), &stamps).resolve(&patterns).unwrap();
        assert_ne!(edited, first);
    }

    #[test]
    fn a_bad_glob_names_the_pattern() {
        let dir = tree(&[]);
        let err = Inputs::new(dir.path(), [])
            .resolve(&["src/[a".to_string()])
            .unwrap_err();
        assert!(err.to_string().contains("`src/[a`"), "{err}");
    }
}
