//! Git context variables: what the last step changed (`${step.files_changed}`,
//! `${step.commits}`, ...) and what the job changed so far (`${workflow.*}`), as
//! space-separated strings like the 0.4 tool. Computed only for workflows that use them.

use std::collections::BTreeSet;
use std::path::Path;

use git2::{DiffOptions, Oid, Repository};
use serde_json::{Value, json};

/// The names that turn tracking on when a workflow mentions them.
const FIELDS: [&str; 8] = [
    "files_added",
    "files_modified",
    "files_deleted",
    "files_changed",
    "commits",
    "commit_count",
    "insertions",
    "deletions",
];

/// True when `text` (the workflow's steps as JSON) uses a git context variable.
pub fn is_used(text: &str) -> bool {
    FIELDS
        .iter()
        .any(|f| text.contains(&format!("step.{f}")) || text.contains(&format!("workflow.{f}")))
}

/// The commit HEAD points at in the repository holding `root`.
pub fn head(root: &Path) -> Option<Oid> {
    Repository::discover(root).ok()?.head().ok()?.target()
}

/// The changes since `base` (commits made, and files changed in them and in the
/// working tree), as variables: `{files_added, files_modified, ..., commit_count}`.
pub fn changes_since(root: &Path, base: Option<Oid>) -> Option<Value> {
    let repo = Repository::discover(root).ok()?;
    let head = repo.head().ok().and_then(|h| h.target());
    let mut commits = Vec::new();
    if let Some(head) = head {
        let mut walk = repo.revwalk().ok()?;
        walk.push(head).ok()?;
        if let Some(base) = base {
            let _ = walk.hide(base);
        }
        commits = walk
            .filter_map(Result::ok)
            .map(|oid| oid.to_string())
            .collect();
    }
    let base_tree = base
        .and_then(|b| repo.find_commit(b).ok())
        .and_then(|c| c.tree().ok());
    let mut options = DiffOptions::new();
    options.include_untracked(true).recurse_untracked_dirs(true);
    let diff = repo
        .diff_tree_to_workdir_with_index(base_tree.as_ref(), Some(&mut options))
        .ok()?;
    let (mut added, mut modified, mut deleted) =
        (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for delta in diff.deltas() {
        let path = delta
            .new_file()
            .path()
            .or(delta.old_file().path())
            .map(|p| p.display().to_string());
        let Some(path) = path else { continue };
        match delta.status() {
            git2::Delta::Added | git2::Delta::Untracked => added.insert(path),
            git2::Delta::Deleted => deleted.insert(path),
            _ => modified.insert(path),
        };
    }
    let stats = diff.stats().ok();
    let join = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join(" ");
    let changed: BTreeSet<String> = added
        .iter()
        .chain(&modified)
        .chain(&deleted)
        .cloned()
        .collect();
    Some(json!({
        "files_added": join(&added),
        "files_modified": join(&modified),
        "files_deleted": join(&deleted),
        "files_changed": join(&changed),
        "commits": commits.join(" "),
        "commit_count": commits.len(),
        "insertions": stats.as_ref().map_or(0, git2::DiffStats::insertions),
        "deletions": stats.as_ref().map_or(0, git2::DiffStats::deletions),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        let ok = std::process::Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap()
            .status
            .success();
        assert!(ok, "git {args:?}");
    }

    #[test]
    fn reports_commits_and_files_since_a_base() {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q"]);
        std::fs::write(dir.path().join("a.txt"), "one\n").unwrap();
        git(dir.path(), &["add", "."]);
        git(dir.path(), &["commit", "-qm", "first"]);
        let base = head(dir.path());
        std::fs::write(dir.path().join("a.txt"), "one\ntwo\n").unwrap();
        std::fs::write(dir.path().join("b.txt"), "new\n").unwrap();
        git(dir.path(), &["add", "a.txt"]);
        git(dir.path(), &["commit", "-qm", "second"]);
        let changes = changes_since(dir.path(), base).unwrap();
        assert_eq!(changes["commit_count"], 1);
        assert_eq!(changes["files_modified"], "a.txt");
        assert_eq!(changes["files_added"], "b.txt");
        assert_eq!(changes["files_changed"], "a.txt b.txt");
        assert_eq!(changes["insertions"], 1);
        assert!(is_used("echo ${step.files_changed}"));
        assert!(!is_used("echo ${step.name}"));
    }
}
