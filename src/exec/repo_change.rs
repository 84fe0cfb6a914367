//! What a node did to the git repository, and replaying it on a cache hit.
//!
//! The executor calls [`tree_digest`] for the node's cache key (the files it starts
//! from), [`capture`] before and after the node runs, [`change`] to turn the two states
//! into a [`Change`] stored in the cache entry, and [`keep_alive`] so the recorded
//! commits survive `git gc`. On a later hit, [`replay`] re-applies the change without
//! running anything: the commits, then the uncommitted patch.
//!
//! The change's digest (the node's "output" for its dependants) hashes commit messages
//! and diffs, never commit ids, times or signatures, so the same change made again on
//! another day, or in another clone, has the same digest.

use std::path::{Path, PathBuf};

use git2::{
    Commit, DiffFormat, DiffOptions, ErrorCode, IndexAddOption, Oid, Repository, Sort, Status,
    StatusOptions, Tree,
};
use serde::{Deserialize, Serialize};

use crate::graph::node::Digest;

mod replay;
mod walk;

pub use replay::replay;

/// The directory prodigy keeps its own state in; never part of a node's effect.
const STATE_DIR: &str = ".prodigy";

/// Why the repository could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// A git operation failed.
    #[error("cannot {action} in the git repository at `{}`: {source}", path.display())]
    Git {
        /// What was being done (`read the index`).
        action: &'static str,
        /// The directory the operation was asked for.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: git2::Error,
    },
    /// A file or directory could not be read.
    #[error("cannot read `{}`: {source}; check that it exists and is readable", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A change to a repository was to be recorded, replayed or kept outside one.
    #[error(
        "`{}` is not inside a git work tree, but the cached change is to one; \
         run the node instead of replaying it",
        path.display()
    )]
    NotARepository {
        /// The directory.
        path: PathBuf,
    },
    /// A recorded commit id does not name a commit in the repository.
    #[error(
        "commit `{commit}` recorded in the cache is not in the repository at `{}` (pruned, \
         or the cache comes from another clone); run the node instead of replaying it",
        path.display()
    )]
    MissingCommit {
        /// The recorded id.
        commit: String,
        /// The repository's directory.
        path: PathBuf,
    },
    /// A recorded commit does not apply onto HEAD; nothing was changed.
    #[error(
        "replaying commit `{commit}` onto `HEAD` in `{}` conflicts: {message}; the \
         repository was left as it was, run the node instead of replaying it",
        path.display()
    )]
    Conflict {
        /// The recorded commit that conflicts.
        commit: String,
        /// The repository's directory.
        path: PathBuf,
        /// Which files conflict, or git's reason.
        message: String,
    },
    /// Local changes to files the replayed commits change; nothing was changed.
    #[error(
        "local changes to `{files}` in `{}` would be overwritten by replaying the cached \
         commits; the repository was left as it was, commit or stash them, or run the node",
        path.display()
    )]
    LocalChanges {
        /// The repository's directory.
        path: PathBuf,
        /// The files in the way, joined with `` `, ` ``.
        files: String,
    },
    /// The recorded uncommitted changes do not apply to the working files.
    #[error(
        "the cached uncommitted changes do not apply to the working files in `{}`: \
         {source}; run the node instead of replaying it",
        path.display()
    )]
    PatchDoesNotApply {
        /// The repository's directory.
        path: PathBuf,
        /// git's reason.
        #[source]
        source: git2::Error,
    },
    /// The node's effect cannot be recorded for a replay; the caller does not cache it.
    #[error(
        "cannot record what the node did to the repository: {reason}; its result is not cached"
    )]
    Unrecordable {
        /// What the node did that a replay cannot reproduce.
        reason: String,
    },
    /// The name given to [`keep_alive`] cannot be part of a ref name.
    #[error(
        "`refs/prodigy/cache/{name}` is not a valid git ref name; use letters, digits, \
         `-` and `_`"
    )]
    InvalidRefName {
        /// The name given.
        name: String,
    },
}

/// HEAD and a tree object of the working files (tracked + untracked-not-ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeState {
    /// The commit HEAD points at; `None` on an unborn branch.
    pub head: Option<Oid>,
    /// A tree of every working file git does not ignore, outside `.prodigy/`.
    pub tree: Oid,
}

/// A node's effect on the repository.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Change {
    /// Commits the node made (HEAD moved from before.head to after.head), oldest first,
    /// as hex ids.
    pub commits: Vec<String>,
    /// Changes left uncommitted, as a binary-safe git patch from the tree of the last
    /// commit (or the starting tree) to the working files; `None` when there are none.
    pub patch: Option<Vec<u8>>,
}

impl Change {
    /// True when the node changed nothing in the repository.
    pub fn is_empty(&self) -> bool {
        self.commits.is_empty() && self.patch.is_none()
    }
}

/// Wraps a git error with what was being done and where.
fn git<'a>(action: &'static str, root: &'a Path) -> impl FnOnce(git2::Error) -> RepoError + 'a {
    move |source| RepoError::Git {
        action,
        path: root.to_path_buf(),
        source,
    }
}

/// The repository holding `root`, or `None` outside one (or in a bare one).
fn open(root: &Path) -> Result<Option<Repository>, RepoError> {
    match Repository::discover(root) {
        Ok(repo) if repo.workdir().is_some() => Ok(Some(repo)),
        Ok(_) => Ok(None),
        Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
        Err(e) => Err(git("open the repository", root)(e)),
    }
}

/// The repository holding `root`; an error outside one.
fn open_required(root: &Path) -> Result<Repository, RepoError> {
    open(root)?.ok_or_else(|| RepoError::NotARepository {
        path: root.to_path_buf(),
    })
}

/// True for `.prodigy` and anything under it (a work-tree-relative path).
fn is_state_path(path: &[u8]) -> bool {
    path.strip_prefix(STATE_DIR.as_bytes())
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(b"/"))
}

/// The content digest of the working tree a node starts from: every tracked file and
/// every untracked file that is not ignored, by path, mode and git blob id, without the
/// paths in `exclude` (relative to `root`) and anything under `.prodigy/`. In a git
/// repository it covers the whole work tree holding `root`; it writes nothing (no
/// objects, no index). Outside git: every regular file and symlink under `root`, by
/// path and content, skipping `.git` and `.prodigy`.
pub fn tree_digest(root: &Path, exclude: &[PathBuf]) -> Result<Digest, RepoError> {
    match open(root)? {
        Some(repo) => git_tree_digest(&repo, root, exclude),
        None => walk::dir_digest(root, exclude),
    }
}

/// [`tree_digest`] in a repository: the index entries, corrected by `statuses()` for
/// files changed, deleted or untracked in the working directory.
fn git_tree_digest(
    repo: &Repository,
    root: &Path,
    exclude: &[PathBuf],
) -> Result<Digest, RepoError> {
    use std::collections::BTreeMap;
    let workdir = repo.workdir().unwrap_or(root);
    let excluded = excluded_paths(workdir, root, exclude);
    let index = repo.index().map_err(git("read the index", root))?;
    let mut files: BTreeMap<Vec<u8>, (u32, Oid)> = index
        .iter()
        .map(|entry| (entry.path, (entry.mode, entry.id)))
        .collect();
    let mut options = StatusOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false)
        .exclude_submodules(true);
    let statuses = repo
        .statuses(Some(&mut options))
        .map_err(git("read the status of the working files", root))?;
    let changed = Status::WT_NEW | Status::WT_MODIFIED | Status::WT_TYPECHANGE | Status::CONFLICTED;
    for entry in statuses.iter() {
        let path = entry.path_bytes().to_vec();
        let status = entry.status();
        if status.contains(Status::WT_DELETED) {
            files.remove(&path);
        } else if status.intersects(changed) {
            let file = workdir.join(bytes_to_path(&path));
            match walk::blob_of(&file)? {
                Some(blob) => files.insert(path, blob),
                None => files.remove(&path),
            };
        }
    }
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"prodigy-tree-git-v1\0");
    for (path, (mode, id)) in &files {
        if is_state_path(path) || is_excluded(path, &excluded) {
            continue;
        }
        hash_field(&mut hasher, path);
        hasher.update(&mode.to_le_bytes());
        hash_field(&mut hasher, id.as_bytes());
    }
    Ok(Digest(*hasher.finalize().as_bytes()))
}

/// Adds a length-prefixed field, so that no two field lists hash alike.
fn hash_field(hasher: &mut blake3::Hasher, bytes: &[u8]) {
    hasher.update(&(bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

/// `exclude` (relative to `root`) as work-tree-relative `/`-separated paths.
fn excluded_paths(workdir: &Path, root: &Path, exclude: &[PathBuf]) -> Vec<Vec<u8>> {
    let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let root = canonical(root);
    let workdir = canonical(workdir);
    let prefix = root.strip_prefix(&workdir).unwrap_or(Path::new(""));
    let mut paths: Vec<Vec<u8>> = exclude
        .iter()
        .map(|p| {
            let p = p.strip_prefix(&root).unwrap_or(p);
            walk::slash_path(&prefix.join(p)).into_bytes()
        })
        .collect();
    if !prefix.as_os_str().is_empty() {
        paths.push(walk::slash_path(&prefix.join(STATE_DIR)).into_bytes());
    }
    paths
}

/// True when `path` is one of `excluded` or under one of them.
fn is_excluded(path: &[u8], excluded: &[Vec<u8>]) -> bool {
    excluded.iter().any(|ex| {
        path.strip_prefix(ex.as_slice())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(b"/"))
    })
}

/// A git path (bytes, `/`-separated) as a relative `Path`.
fn bytes_to_path(bytes: &[u8]) -> PathBuf {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
    }
    #[cfg(not(unix))]
    {
        PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
    }
}

/// HEAD and a tree of the working files, to compare before and after a node runs.
/// Writes blobs and trees into the object database, never the index file.
/// `Ok(None)` outside a git repository.
pub fn capture(root: &Path) -> Result<Option<TreeState>, RepoError> {
    let Some(repo) = open(root)? else {
        return Ok(None);
    };
    let head = head_commit(&repo, root)?;
    // The repository's index, loaded in memory; it is dropped without `write()`.
    let mut index = repo.index().map_err(git("read the index", root))?;
    let mut skip_state = |path: &Path, _: &[u8]| i32::from(path.starts_with(STATE_DIR));
    index
        .add_all(["*"], IndexAddOption::DEFAULT, Some(&mut skip_state))
        .map_err(git("snapshot the working files", root))?;
    index
        .update_all(["*"], Some(&mut skip_state))
        .map_err(git("snapshot the working files", root))?;
    let tree = index
        .write_tree()
        .map_err(git("write a tree of the working files", root))?;
    Ok(Some(TreeState { head, tree }))
}

/// The commit HEAD points at; `None` on an unborn branch.
fn head_commit(repo: &Repository, root: &Path) -> Result<Option<Oid>, RepoError> {
    match repo.head() {
        Ok(head) => Ok(Some(
            head.peel_to_commit()
                .map_err(git("resolve HEAD", root))?
                .id(),
        )),
        Err(e) if matches!(e.code(), ErrorCode::UnbornBranch | ErrorCode::NotFound) => Ok(None),
        Err(e) => Err(git("resolve HEAD", root)(e)),
    }
}

/// The tree of `commit`, or the empty tree for `None` (an unborn branch).
fn tree_of<'r>(
    repo: &'r Repository,
    root: &Path,
    commit: Option<Oid>,
) -> Result<Tree<'r>, RepoError> {
    let id = match commit {
        Some(id) => repo
            .find_commit(id)
            .map_err(git("read a commit", root))?
            .tree_id(),
        None => empty_tree(repo, root)?,
    };
    repo.find_tree(id).map_err(git("read a tree", root))
}

/// The id of the empty tree, written so that it can be read back.
fn empty_tree(repo: &Repository, root: &Path) -> Result<Oid, RepoError> {
    repo.treebuilder(None)
        .and_then(|builder| builder.write())
        .map_err(git("write the empty tree", root))
}

/// What changed between two states, and a digest of the change that is equal when a
/// re-run makes the same change (commit messages and diffs; no ids, times or authors).
/// HEAD moved to a commit that does not descend from the old HEAD through first
/// parents, or moved after a dirty start leaving uncommitted changes, is
/// [`RepoError::Unrecordable`].
pub fn change(
    root: &Path,
    before: &TreeState,
    after: &TreeState,
) -> Result<(Change, Digest), RepoError> {
    if before == after {
        return Ok((Change::default(), change_digest(&[], None)));
    }
    let repo = open_required(root)?;
    let mut change = Change::default();
    let mut commit_patches = Vec::new();
    // Uncommitted changes the node found and left as they were (an untracked workflow
    // file, say) are not its own.
    let mut kept_dirt = false;
    if after.head != before.head {
        let Some(after_head) = after.head else {
            return Err(unrecordable("HEAD moved to an unborn branch"));
        };
        let commits = commits_between(&repo, root, before.head, after_head)?;
        let before_head = tree_of(&repo, root, before.head)?;
        let after_head = tree_of(&repo, root, after.head)?;
        let started_clean = before.tree == before_head.id();
        let ended_clean = after.tree == after_head.id();
        if !started_clean && !ended_clean {
            let find = |id| repo.find_tree(id).map_err(git("read a tree", root));
            let dirt_before = patch_text(&repo, root, Some(&before_head), &find(before.tree)?)?;
            let dirt_after = patch_text(&repo, root, Some(&after_head), &find(after.tree)?)?;
            if dirt_before != dirt_after {
                return Err(unrecordable(
                    "it started with uncommitted changes, made commits and left other \
                     uncommitted changes, so a replay cannot tell which changes were its own",
                ));
            }
            kept_dirt = true;
        }
        for commit in &commits {
            let parent = first_parent_tree(&repo, root, commit)?;
            let tree = commit.tree().map_err(git("read a commit's tree", root))?;
            let patch = patch_text(&repo, root, Some(&parent), &tree)?.unwrap_or_default();
            commit_patches.push((commit.message_bytes().to_vec(), patch));
            change.commits.push(commit.id().to_string());
        }
    }
    // Uncommitted changes: from the starting tree, or from the last commit if HEAD moved.
    let base = match after.head == before.head {
        true => before.tree,
        false => tree_of(&repo, root, after.head)?.id(),
    };
    if after.tree != base && !kept_dirt {
        let old = repo.find_tree(base).map_err(git("read a tree", root))?;
        let new = repo
            .find_tree(after.tree)
            .map_err(git("read a tree", root))?;
        change.patch = patch_text(&repo, root, Some(&old), &new)?;
    }
    let digest = change_digest(&commit_patches, change.patch.as_deref());
    Ok((change, digest))
}

fn unrecordable(reason: &str) -> RepoError {
    RepoError::Unrecordable {
        reason: reason.to_string(),
    }
}

/// The commits from `before` (exclusive) to `after` along first parents, oldest first;
/// unrecordable unless that chain starts at `before`.
fn commits_between<'r>(
    repo: &'r Repository,
    root: &Path,
    before: Option<Oid>,
    after: Oid,
) -> Result<Vec<Commit<'r>>, RepoError> {
    if let Some(before) = before {
        let descends = repo
            .graph_descendant_of(after, before)
            .map_err(git("compare commits", root))?;
        if !descends {
            return Err(RepoError::Unrecordable {
                reason: format!(
                    "HEAD moved from `{before}` to `{after}`, which does not descend from it \
                     (a reset or a checkout of another branch)"
                ),
            });
        }
    }
    let walk_error = git("list the commits the node made", root);
    let commits = (|| {
        let mut walk = repo.revwalk()?;
        walk.simplify_first_parent()?;
        walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)?;
        walk.push(after)?;
        if let Some(before) = before {
            walk.hide(before)?;
        }
        walk.map(|id| repo.find_commit(id?))
            .collect::<Result<Vec<_>, _>>()
    })()
    .map_err(walk_error)?;
    // A merge can bring `before` in through a second parent; its first-parent chain
    // then does not start at `before`, and a replay could not rebuild it.
    let mut parent = before;
    for commit in &commits {
        if commit.parent_ids().next() != parent {
            return Err(unrecordable(
                "HEAD moved through a merge whose first parent does not lead back to the \
                 starting commit",
            ));
        }
        parent = Some(commit.id());
    }
    Ok(commits)
}

/// The tree of `commit`'s first parent, or the empty tree for a root commit.
fn first_parent_tree<'r>(
    repo: &'r Repository,
    root: &Path,
    commit: &Commit<'_>,
) -> Result<Tree<'r>, RepoError> {
    tree_of(repo, root, commit.parent_ids().next())
}

/// The binary-safe patch (`git diff --binary`) from `old` to `new`; `None` when equal.
fn patch_text(
    repo: &Repository,
    root: &Path,
    old: Option<&Tree<'_>>,
    new: &Tree<'_>,
) -> Result<Option<Vec<u8>>, RepoError> {
    // Explicit options so that a user's diff config never changes the bytes (or digest).
    let mut options = DiffOptions::new();
    options
        .show_binary(true)
        .context_lines(3)
        .id_abbrev(40)
        .old_prefix("a/")
        .new_prefix("b/");
    let diff = repo
        .diff_tree_to_tree(old, Some(new), Some(&mut options))
        .map_err(git("diff two trees", root))?;
    if diff.deltas().len() == 0 {
        return Ok(None);
    }
    let mut text = Vec::new();
    diff.print(DiffFormat::Patch, |_, _, line| {
        if matches!(line.origin(), '+' | '-' | ' ') {
            text.push(line.origin() as u8);
        }
        text.extend_from_slice(line.content());
        true
    })
    .map_err(git("print a diff", root))?;
    Ok(Some(text))
}

/// The digest of a change: each commit's message and patch, then the uncommitted patch.
fn change_digest(commits: &[(Vec<u8>, Vec<u8>)], patch: Option<&[u8]>) -> Digest {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"prodigy-repo-change-v1\0");
    hasher.update(&(commits.len() as u64).to_le_bytes());
    for (message, diff) in commits {
        hash_field(&mut hasher, message);
        hash_field(&mut hasher, diff);
    }
    match patch {
        Some(patch) => hash_field(hasher.update(&[1]), patch),
        None => {
            hasher.update(&[0]);
        }
    }
    Digest(*hasher.finalize().as_bytes())
}

/// Keeps a change's commits alive for later replays: points `refs/prodigy/cache/<name>`
/// at the last commit. Does nothing for a change without commits.
pub fn keep_alive(root: &Path, name: &str, change: &Change) -> Result<(), RepoError> {
    let Some(last) = change.commits.last() else {
        return Ok(());
    };
    let refname = format!("refs/prodigy/cache/{name}");
    if !git2::Reference::is_valid_name(&refname) {
        return Err(RepoError::InvalidRefName {
            name: name.to_string(),
        });
    }
    let repo = open_required(root)?;
    let id = find_recorded(&repo, root, last)?.id();
    repo.reference(&refname, id, true, "prodigy: keep a cached node's commits")
        .map_err(git("write a ref", root))?;
    Ok(())
}

/// Deletes the refs `refs/prodigy/cache/<name>` for which `keep(name)` is false (after
/// `cache gc` dropped their entries, or `cache clean`); returns how many went. Nothing
/// to do outside a git repository.
pub fn prune_refs(root: &Path, keep: &dyn Fn(&str) -> bool) -> Result<usize, RepoError> {
    let Some(repo) = open(root)? else {
        return Ok(0);
    };
    let refs = repo
        .references_glob("refs/prodigy/cache/*")
        .map_err(git("list refs", root))?;
    let mut doomed = Vec::new();
    for reference in refs {
        let reference = reference.map_err(git("read a ref", root))?;
        let Ok(name) = reference.name() else {
            continue;
        };
        let short = name.trim_start_matches("refs/prodigy/cache/");
        if !keep(short) {
            doomed.push(name.to_string());
        }
    }
    for name in &doomed {
        let mut reference = repo.find_reference(name).map_err(git("read a ref", root))?;
        reference.delete().map_err(git("delete a ref", root))?;
    }
    Ok(doomed.len())
}

/// The recorded commit `hex`, or [`RepoError::MissingCommit`].
fn find_recorded<'r>(
    repo: &'r Repository,
    root: &Path,
    hex: &str,
) -> Result<Commit<'r>, RepoError> {
    let missing = || RepoError::MissingCommit {
        commit: hex.to_string(),
        path: root.to_path_buf(),
    };
    let id = Oid::from_str(hex).map_err(|_| missing())?;
    repo.find_commit(id).map_err(|_| missing())
}

#[cfg(test)]
#[path = "repo_change_tests.rs"]
mod tests;
