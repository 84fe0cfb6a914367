//! [`replay`]: re-applying a recorded [`Change`] on a cache hit. Everything that can
//! fail for a reason in the repository (a conflicting commit, local changes in the
//! way, a patch that does not apply) is found before the first file or ref is written.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use git2::{ApplyLocation, Commit, Diff, DiffFile, FileMode, Index, Oid, Repository};

use super::{
    Change, RepoError, find_recorded, first_parent_tree, git, head_commit, open_required, tree_of,
    walk,
};

/// Re-applies a recorded change as the node would have: each commit onto HEAD (HEAD
/// just moves to it when HEAD is its parent, else it is cherry-picked with its author,
/// committer and message), then the patch onto the working files. The branch HEAD names
/// moves; a detached HEAD moves itself. On a conflict, local changes in the way, or a
/// patch that does not apply, nothing is changed.
pub fn replay(root: &Path, change: &Change) -> Result<(), RepoError> {
    if change.is_empty() {
        return Ok(());
    }
    let repo = open_required(root)?;
    let patch = change
        .patch
        .as_deref()
        .map(Diff::from_buffer)
        .transpose()
        .map_err(not_applying(root))?;
    let start = head_commit(&repo, root)?;
    let mut tip = start;
    for hex in &change.commits {
        tip = Some(pick(&repo, root, tip, hex)?);
    }
    if let Some(tip) = tip.filter(|_| !change.commits.is_empty()) {
        let paths = paths_to_check_out(&repo, root, start, tip)?;
        if let Some(patch) = &patch {
            check_patch(&repo, root, tip, patch, &paths)?;
        }
        check_out(&repo, root, tip, &paths)?;
        move_head(&repo, root, tip)?;
    }
    if let Some(patch) = &patch {
        // All or nothing: git_apply computes every file before writing one.
        repo.apply(patch, ApplyLocation::WorkDir, None)
            .map_err(not_applying(root))?;
    }
    Ok(())
}

fn not_applying(root: &Path) -> impl FnOnce(git2::Error) -> RepoError + '_ {
    move |source| RepoError::PatchDoesNotApply {
        path: root.to_path_buf(),
        source,
    }
}

/// The recorded commit `hex` on top of `tip`, as an object (no ref moves): the commit
/// itself when `tip` is its parent, else a cherry-pick of it.
fn pick(repo: &Repository, root: &Path, tip: Option<Oid>, hex: &str) -> Result<Oid, RepoError> {
    let commit = find_recorded(repo, root, hex)?;
    if commit.parent_ids().next() == tip {
        return Ok(commit.id());
    }
    // `merge_trees` rather than `cherrypick_commit`, which refuses root commits.
    let ancestor = first_parent_tree(repo, root, &commit)?;
    let ours = tree_of(repo, root, tip)?;
    let theirs = commit.tree().map_err(git("read a commit's tree", root))?;
    let mut merged = repo
        .merge_trees(&ancestor, &ours, &theirs, None)
        .map_err(git("cherry-pick a commit", root))?;
    if merged.has_conflicts() {
        return Err(RepoError::Conflict {
            commit: hex.to_string(),
            path: root.to_path_buf(),
            message: conflicting_paths(&merged),
        });
    }
    let tree = merged
        .write_tree_to(repo)
        .and_then(|id| repo.find_tree(id))
        .map_err(git("write a cherry-picked tree", root))?;
    let parent = tip
        .map(|id| repo.find_commit(id))
        .transpose()
        .map_err(git("read a commit", root))?;
    let parents: Vec<&Commit<'_>> = parent.iter().collect();
    let message = String::from_utf8_lossy(commit.message_bytes());
    repo.commit(
        None,
        &commit.author(),
        &commit.committer(),
        &message,
        &tree,
        &parents,
    )
    .map_err(git("write a cherry-picked commit", root))
}

/// `conflicts in `a.txt`, `b.txt``.
fn conflicting_paths(index: &Index) -> String {
    let paths: BTreeSet<String> = index
        .conflicts()
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|c| c.our.or(c.their).or(c.ancestor))
        .map(|entry| String::from_utf8_lossy(&entry.path).into_owned())
        .collect();
    let paths: Vec<String> = paths.into_iter().collect();
    format!("conflicts in `{}`", paths.join("`, `"))
}

/// The files that differ between `start` and `tip`. Each must be, in the working
/// directory, as at `start` or already as at `tip` (a dirty start that the node
/// committed); any other is a [`RepoError::LocalChanges`].
fn paths_to_check_out(
    repo: &Repository,
    root: &Path,
    start: Option<Oid>,
    tip: Oid,
) -> Result<Vec<PathBuf>, RepoError> {
    let old = tree_of(repo, root, start)?;
    let new = tree_of(repo, root, Some(tip))?;
    let diff = repo
        .diff_tree_to_tree(Some(&old), Some(&new), None)
        .map_err(git("diff two trees", root))?;
    let workdir = repo.workdir().unwrap_or(root);
    let present = |f: &DiffFile<'_>| (!f.id().is_zero()).then(|| f.id());
    let mut paths = Vec::new();
    let mut in_the_way = Vec::new();
    for delta in diff.deltas() {
        let Some(path) = delta.new_file().path().or(delta.old_file().path()) else {
            continue;
        };
        let expected = [delta.old_file(), delta.new_file()];
        // A submodule's files are not ours to compare; checkout only moves its gitlink.
        if expected.iter().all(|f| f.mode() != FileMode::Commit) {
            let found = walk::blob_of(&workdir.join(path))?.map(|(_, id)| id);
            if !expected.iter().any(|f| present(f) == found) {
                in_the_way.push(walk::slash_path(path));
            }
        }
        paths.push(path.to_path_buf());
    }
    local_changes(root, in_the_way)?;
    Ok(paths)
}

/// Checks that `patch` applies to the tree of `tip` and that the working files it
/// touches will be as at `tip` once `checked_out` are written.
fn check_patch(
    repo: &Repository,
    root: &Path,
    tip: Oid,
    patch: &Diff<'_>,
    checked_out: &[PathBuf],
) -> Result<(), RepoError> {
    let tree = tree_of(repo, root, Some(tip))?;
    repo.apply_to_tree(&tree, patch, None)
        .map_err(not_applying(root))?;
    let checked_out: BTreeSet<&Path> = checked_out.iter().map(PathBuf::as_path).collect();
    let workdir = repo.workdir().unwrap_or(root);
    let mut in_the_way = BTreeSet::new();
    for delta in patch.deltas() {
        for path in [delta.old_file().path(), delta.new_file().path()]
            .into_iter()
            .flatten()
            .filter(|path| !checked_out.contains(path))
        {
            let expected = tree.get_path(path).ok().map(|entry| entry.id());
            let found = walk::blob_of(&workdir.join(path))?.map(|(_, id)| id);
            if expected != found {
                in_the_way.insert(walk::slash_path(path));
            }
        }
    }
    local_changes(root, in_the_way.into_iter().collect())
}

/// [`RepoError::LocalChanges`] naming `files`, unless there are none.
fn local_changes(root: &Path, files: Vec<String>) -> Result<(), RepoError> {
    if files.is_empty() {
        return Ok(());
    }
    Err(RepoError::LocalChanges {
        path: root.to_path_buf(),
        files: files.join("`, `"),
    })
}

/// Writes `paths` as they are at `tip`, in the working directory and the index. Forced,
/// because [`paths_to_check_out`] has checked each of them; no other file is touched.
fn check_out(repo: &Repository, root: &Path, tip: Oid, paths: &[PathBuf]) -> Result<(), RepoError> {
    // No paths would mean every path to checkout; there is nothing to write then.
    if paths.is_empty() {
        return Ok(());
    }
    let tree = tree_of(repo, root, Some(tip))?;
    let mut checkout = git2::build::CheckoutBuilder::new();
    checkout.force().disable_pathspec_match(true);
    for path in paths {
        checkout.path(path);
    }
    repo.checkout_tree(tree.as_object(), Some(&mut checkout))
        .map_err(git("check out the replayed commits", root))
}

/// Points the branch HEAD names (even an unborn one), or a detached HEAD, at `tip`.
fn move_head(repo: &Repository, root: &Path, tip: Oid) -> Result<(), RepoError> {
    let head = repo
        .find_reference("HEAD")
        .map_err(git("read HEAD", root))?;
    let branch = head.symbolic_target().map_err(git("read HEAD", root))?;
    let message = "prodigy: replay a cached node's commits";
    match branch {
        Some(branch) => repo.reference(branch, tip, true, message).map(|_| ()),
        None => repo.set_head_detached(tip),
    }
    .map_err(git("move HEAD to the replayed commits", root))
}
