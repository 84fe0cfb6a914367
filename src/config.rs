//! Validated settings derived from the command line and the environment; the only
//! place that reads environment variables.

use std::path::{Path, PathBuf};

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
}
