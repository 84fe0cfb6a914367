//! Validated settings derived from the command line and the environment; the only
//! place that reads environment variables.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What prodigy takes from its environment.
#[derive(Debug, Clone)]
pub struct Env {
    /// The claude CLI: `PRODIGY_CLAUDE_BIN`, default `claude`.
    pub claude_bin: String,
    /// Colors allowed: stderr is a terminal and `NO_COLOR` is unset.
    pub color: bool,
    /// Progress bars allowed: stderr is a terminal and `CI` is unset.
    pub progress: bool,
    /// The whole OS environment, for `${env.X}` and `env_passthrough`.
    pub os_env: Arc<BTreeMap<String, String>>,
}

impl Env {
    /// Reads the environment once.
    pub fn read() -> Self {
        let os_env: BTreeMap<String, String> = std::env::vars().collect();
        let tty = std::io::stderr().is_terminal();
        let set = |name: &str| os_env.get(name).is_some_and(|v| !v.is_empty());
        Env {
            claude_bin: os_env
                .get("PRODIGY_CLAUDE_BIN")
                .filter(|v| !v.is_empty())
                .cloned()
                .unwrap_or_else(|| "claude".into()),
            color: tty && !set("NO_COLOR"),
            progress: tty && !set("CI"),
            os_env: Arc::new(os_env),
        }
    }
}

/// The directory a workflow runs in: map input files, `inputs:` globs and commands are
/// relative to it. `--path` wins; otherwise the git work tree that holds the workflow
/// file; otherwise the current directory (the old tool's rule).
pub fn workflow_root(workflow: &Path, explicit: Option<&Path>) -> PathBuf {
    if let Some(path) = explicit {
        return path.to_path_buf();
    }
    let absolute = std::path::absolute(workflow).unwrap_or_else(|_| workflow.to_path_buf());
    absolute
        .ancestors()
        .skip(1)
        .find(|dir| dir.join(".git").exists())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")))
}

/// Where prodigy keeps its state (`.prodigy/`) for work in `dir`: the main work tree of
/// the git repository holding `dir` (linked worktrees share it), else `dir` itself.
pub fn state_root(dir: &Path) -> PathBuf {
    let common = git2::Repository::discover(dir)
        .ok()
        .map(|repo| repo.commondir().to_path_buf());
    match common {
        Some(git_dir) if git_dir.file_name().is_some_and(|n| n == ".git") => git_dir
            .parent()
            .map_or_else(|| dir.to_path_buf(), Path::to_path_buf),
        _ => dir.to_path_buf(),
    }
}

/// A job id that is unique even for runs started in the same second:
/// `<workflow>-<UTC time>-<6 hex of a hash of time, process and counter>`.
pub fn job_id(workflow: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = chrono::Utc::now();
    let seed = format!(
        "{}-{}-{}",
        now.timestamp_nanos_opt().unwrap_or_default(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let hash = blake3::hash(seed.as_bytes()).to_hex();
    let name: String = workflow
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{name}-{}-{}", now.format("%Y%m%d-%H%M%S"), &hash[..6])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_the_enclosing_git_tree() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".git")).unwrap();
        std::fs::create_dir_all(dir.path().join("flows")).unwrap();
        let flow = dir.path().join("flows/a.yml");
        assert_eq!(workflow_root(&flow, None), dir.path());
        assert_eq!(workflow_root(&flow, Some(Path::new("/x"))), Path::new("/x"));
    }

    #[test]
    fn job_ids_differ_within_one_second() {
        let ids: std::collections::BTreeSet<String> = (0..100).map(|_| job_id("my flow")).collect();
        assert_eq!(ids.len(), 100);
        assert!(ids.iter().all(|id| id.starts_with("my-flow-")));
    }
}
