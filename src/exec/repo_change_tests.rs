//! Tests of `repo_change.rs`, on real repositories in temporary directories.

use std::path::Path;
use std::process::Command;

use tempfile::TempDir;

use super::*;

/// Runs `git` in `dir` with a fixed identity and dates from `date` (seconds), and
/// returns its trimmed stdout; panics with stderr on failure.
fn git_at(dir: &Path, date: u64, args: &[&str]) -> String {
    let stamp = format!("{date} +0000");
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Ada")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "Ada")
        .env("GIT_COMMITTER_EMAIL", "ada@example.com")
        .env("GIT_AUTHOR_DATE", &stamp)
        .env("GIT_COMMITTER_DATE", &stamp)
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn git(dir: &Path, args: &[&str]) -> String {
    git_at(dir, 1_700_000_000, args)
}

fn write(dir: &Path, path: &str, content: &str) {
    let path = dir.join(path);
    std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
    std::fs::write(path, content).expect("write");
}

fn read(dir: &Path, path: &str) -> String {
    std::fs::read_to_string(dir.join(path)).expect("read")
}

/// A repository with one commit holding `a.txt`, `b.txt` and a `.gitignore` of `*.log`.
fn repo() -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    git(root, &["init", "-q", "-b", "main"]);
    git(root, &["config", "user.name", "Ada"]);
    git(root, &["config", "user.email", "ada@example.com"]);
    write(root, "a.txt", "one\ntwo\nthree\n");
    write(root, "b.txt", "bee\n");
    write(root, ".gitignore", "*.log\n");
    commit_all(root, "start");
    dir
}

fn commit_all(root: &Path, message: &str) {
    commit_all_at(root, 1_700_000_000, message);
}

fn commit_all_at(root: &Path, date: u64, message: &str) {
    git_at(root, date, &["add", "-A"]);
    git_at(root, date, &["commit", "-q", "-m", message]);
}

fn head(root: &Path) -> String {
    git(root, &["rev-parse", "HEAD"])
}

fn digest(root: &Path) -> Digest {
    tree_digest(root, &[]).expect("tree digest")
}

fn state(root: &Path) -> TreeState {
    capture(root).expect("capture").expect("a git repository")
}

/// Captures, runs `node`, captures again, and returns the change and its digest.
fn record(root: &Path, node: impl FnOnce(&Path)) -> Result<(Change, Digest), RepoError> {
    let before = state(root);
    node(root);
    let after = state(root);
    change(root, &before, &after)
}

/// A node that makes two commits on `a.txt`, dated `date`.
fn two_commits(date: u64) -> impl FnOnce(&Path) {
    move |root: &Path| {
        write(root, "a.txt", "one\ntwo\nthree\nfour\n");
        commit_all_at(root, date, "add four");
        write(root, "c.txt", "sea\n");
        commit_all_at(root, date + 1, "add c");
    }
}

/// Records [`two_commits`] as a node's change, then resets to where it started (as a
/// later build from the same tree finds it); returns the change and that start.
fn two_commits_undone(root: &Path) -> (Change, String) {
    let start = head(root);
    let (change, _) = record(root, two_commits(1_700_000_100)).expect("change");
    git(root, &["reset", "-q", "--hard", &start]);
    (change, start)
}

fn messages(root: &Path, count: usize) -> Vec<String> {
    let log = git(root, &["log", "--format=%s", &format!("-{count}")]);
    log.lines().map(str::to_string).collect()
}

fn is_clean(root: &Path) -> bool {
    git(root, &["status", "--porcelain"]).is_empty()
}

// ---- tree_digest ----

#[test]
fn tree_digest_is_equal_for_two_clones_at_different_paths() {
    let origin = repo();
    let clone = tempfile::tempdir().expect("tempdir");
    let target = clone.path().join("elsewhere");
    git(
        clone.path(),
        &[
            "clone",
            "-q",
            &origin.path().display().to_string(),
            "elsewhere",
        ],
    );
    write(origin.path(), "new.txt", "untracked\n");
    write(&target, "new.txt", "untracked\n");
    assert_eq!(digest(origin.path()), digest(&target));
}

#[test]
fn tree_digest_changes_when_a_tracked_file_is_edited() {
    let dir = repo();
    let start = digest(dir.path());
    write(dir.path(), "a.txt", "edited\n");
    assert_ne!(digest(dir.path()), start);
}

#[test]
fn tree_digest_changes_when_a_tracked_file_is_deleted() {
    let dir = repo();
    let start = digest(dir.path());
    std::fs::remove_file(dir.path().join("b.txt")).expect("remove");
    assert_ne!(digest(dir.path()), start);
}

#[test]
fn tree_digest_changes_when_an_untracked_file_is_added() {
    let dir = repo();
    let start = digest(dir.path());
    write(dir.path(), "dir/new.txt", "new\n");
    assert_ne!(digest(dir.path()), start);
}

#[test]
fn tree_digest_ignores_ignored_files_the_state_dir_and_excluded_paths() {
    let dir = repo();
    let root = dir.path();
    let start = digest(root);
    write(root, "build.log", "ignored\n");
    write(root, ".prodigy/cache/entry.json", "{}\n");
    assert_eq!(digest(root), start);
    let exclude = [PathBuf::from("workflow.yml")];
    let without = tree_digest(root, &exclude).expect("digest");
    write(root, "workflow.yml", "commands: []\n");
    assert_eq!(tree_digest(root, &exclude).expect("digest"), without);
    assert_ne!(digest(root), start, "without the exclusion it counts");
}

#[test]
fn tree_digest_outside_git_walks_the_directory() {
    let one = tempfile::tempdir().expect("tempdir");
    let two = tempfile::tempdir().expect("tempdir");
    for dir in [one.path(), two.path()] {
        write(dir, "a.txt", "same\n");
        write(dir, "sub/b.txt", "same too\n");
    }
    write(one.path(), ".prodigy/state", "mine\n");
    write(one.path(), "workflow.yml", "mine\n");
    let exclude = [PathBuf::from("workflow.yml")];
    let digest_of = |dir: &Path| tree_digest(dir, &exclude).expect("digest");
    assert_eq!(digest_of(one.path()), digest_of(two.path()));
    write(two.path(), "sub/b.txt", "different\n");
    assert_ne!(digest_of(one.path()), digest_of(two.path()));
}

/// Files under `.git/objects`, and the index file's bytes.
fn git_dir_snapshot(root: &Path) -> (usize, Vec<u8>) {
    fn count(dir: &Path) -> usize {
        std::fs::read_dir(dir)
            .expect("read dir")
            .map(|entry| {
                let path = entry.expect("entry").path();
                if path.is_dir() { count(&path) } else { 1 }
            })
            .sum()
    }
    let index = std::fs::read(root.join(".git/index")).expect("index");
    (count(&root.join(".git/objects")), index)
}

#[test]
fn tree_digest_writes_nothing() {
    let dir = repo();
    let root = dir.path();
    write(root, "a.txt", "edited\n");
    write(root, "new.txt", "untracked\n");
    let before = git_dir_snapshot(root);
    digest(root);
    assert_eq!(git_dir_snapshot(root), before);
}

// ---- capture + change ----

#[test]
fn capture_outside_git_is_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(capture(dir.path()).expect("capture"), None);
}

#[test]
fn capture_leaves_the_index_file_alone() {
    let dir = repo();
    let root = dir.path();
    write(root, "new.txt", "untracked\n");
    let index = std::fs::read(root.join(".git/index")).expect("index");
    state(root);
    assert_eq!(
        std::fs::read(root.join(".git/index")).expect("index"),
        index
    );
    assert_eq!(git(root, &["status", "--porcelain"]), "?? new.txt");
}

#[test]
fn change_of_a_no_op_node_is_empty() {
    let dir = repo();
    let (change, _) = record(dir.path(), |_| {}).expect("change");
    assert!(change.is_empty());
}

#[test]
fn change_of_an_uncommitted_edit_is_a_patch_only() {
    let dir = repo();
    let (change, _) = record(dir.path(), |root| write(root, "a.txt", "edited\n")).expect("change");
    assert!(change.commits.is_empty());
    let patch = String::from_utf8(change.patch.expect("a patch")).expect("utf-8");
    assert!(patch.contains("diff --git a/a.txt b/a.txt"), "{patch}");
    assert!(patch.contains("+edited"), "{patch}");
}

#[test]
fn change_of_an_ignored_file_or_the_state_dir_is_empty() {
    let dir = repo();
    let (change, _) = record(dir.path(), |root| {
        write(root, "run.log", "ignored\n");
        write(root, ".prodigy/cache/blob", "state\n");
    })
    .expect("change");
    assert!(change.is_empty(), "{change:?}");
}

#[test]
fn change_of_two_commits_lists_them_oldest_first_without_a_patch() {
    let dir = repo();
    let root = dir.path();
    let (change, _) = record(root, two_commits(1_700_000_100)).expect("change");
    let oldest = git(root, &["rev-parse", "HEAD~1"]);
    assert_eq!(change.commits, vec![oldest, head(root)]);
    assert_eq!(change.patch, None);
}

#[test]
fn change_of_a_commit_and_a_leftover_edit_has_both() {
    let dir = repo();
    let root = dir.path();
    let (change, _) = record(root, |root| {
        two_commits(1_700_000_100)(root);
        write(root, "b.txt", "left over\n");
    })
    .expect("change");
    assert_eq!(change.commits.len(), 2);
    let patch = String::from_utf8(change.patch.expect("a patch")).expect("utf-8");
    assert!(patch.contains("+left over"), "{patch}");
    assert!(
        !patch.contains("four"),
        "committed changes are not in the patch: {patch}"
    );
}

#[test]
fn change_digest_is_equal_for_the_same_change_made_at_other_times_in_another_repo() {
    let (one, two) = (repo(), repo());
    let (first, first_digest) = record(one.path(), two_commits(1_700_000_100)).expect("change");
    let (second, second_digest) = record(two.path(), two_commits(1_800_000_000)).expect("change");
    assert_ne!(
        first.commits, second.commits,
        "the dates differ, so the ids do"
    );
    assert_eq!(first_digest, second_digest);
}

#[test]
fn change_digest_differs_for_different_content() {
    let (one, two) = (repo(), repo());
    let (_, first) = record(one.path(), |root| write(root, "a.txt", "x\n")).expect("change");
    let (_, second) = record(two.path(), |root| write(root, "a.txt", "y\n")).expect("change");
    let (_, empty) = record(repo().path(), |_| {}).expect("change");
    assert_ne!(first, second);
    assert_ne!(first, empty);
}

#[test]
fn change_after_a_dirty_start_a_commit_and_a_leftover_edit_is_unrecordable() {
    let dir = repo();
    let root = dir.path();
    write(root, "b.txt", "dirty before the node\n");
    let result = record(root, |root| {
        git(root, &["commit", "-q", "-am", "commit the dirt"]);
        write(root, "a.txt", "left over\n");
    });
    assert!(
        matches!(result, Err(RepoError::Unrecordable { .. })),
        "{result:?}"
    );
}

#[test]
fn dirt_the_node_found_and_left_alone_is_not_part_of_its_change() {
    let dir = repo();
    let root = dir.path();
    write(root, "prodigy.yml", "untracked before and after\n");
    let (change, _) = record(root, |root| {
        write(root, "a.txt", "mine\n");
        git(root, &["add", "a.txt"]);
        git(root, &["commit", "-q", "-m", "add a"]);
    })
    .expect("change");
    assert_eq!(change.commits, vec![head(root)]);
    assert_eq!(change.patch, None, "the untracked file is not the node's");
}

#[test]
fn change_after_a_dirty_start_and_a_commit_of_everything_is_recordable() {
    let dir = repo();
    let root = dir.path();
    write(root, "b.txt", "dirty before the node\n");
    let (change, _) = record(root, |root| commit_all(root, "commit the dirt")).expect("change");
    assert_eq!(change.commits, vec![head(root)]);
    assert_eq!(change.patch, None);
}

#[test]
fn change_after_a_reset_to_an_unrelated_commit_is_unrecordable() {
    let dir = repo();
    let root = dir.path();
    git(root, &["checkout", "-q", "--orphan", "other"]);
    write(root, "a.txt", "unrelated\n");
    commit_all(root, "unrelated");
    let unrelated = head(root);
    git(root, &["checkout", "-q", "main"]);
    let result = record(root, |root| {
        git(root, &["reset", "-q", "--hard", &unrelated]);
    });
    let Err(RepoError::Unrecordable { reason }) = result else {
        panic!("expected Unrecordable, got {result:?}");
    };
    assert!(reason.contains("does not descend"), "{reason}");
}

// ---- replay ----

#[test]
fn replay_at_the_same_start_moves_the_branch_to_the_recorded_commits() {
    let dir = repo();
    let root = dir.path();
    let start = head(root);
    let (change, _) = record(root, two_commits(1_700_000_100)).expect("change");
    let recorded_tree = git(root, &["rev-parse", "HEAD^{tree}"]);
    git(root, &["reset", "-q", "--hard", &start]);

    replay(root, &change).expect("replay");

    assert_eq!(git(root, &["rev-parse", "HEAD^{tree}"]), recorded_tree);
    assert_eq!(change.commits.last(), Some(&head(root)), "an exact replay");
    assert_eq!(git(root, &["symbolic-ref", "HEAD"]), "refs/heads/main");
    assert_eq!(messages(root, 2), ["add c", "add four"]);
    assert_eq!(read(root, "c.txt"), "sea\n");
    assert!(is_clean(root));
}

#[test]
fn replay_with_a_detached_head_moves_head() {
    let dir = repo();
    let root = dir.path();
    let start = head(root);
    let (change, _) = record(root, two_commits(1_700_000_100)).expect("change");
    git(root, &["checkout", "-q", "--detach", &start]);

    replay(root, &change).expect("replay");

    assert_eq!(change.commits.last(), Some(&head(root)));
    assert_eq!(
        git(root, &["rev-parse", "main"]),
        head(root),
        "main was moved by the recording"
    );
    assert!(is_clean(root));
}

#[test]
fn replay_onto_another_head_cherry_picks_with_the_same_messages() {
    let dir = repo();
    let root = dir.path();
    let (change, _) = two_commits_undone(root);
    write(root, "other.txt", "another commit\n");
    commit_all(root, "another");
    let other = head(root);

    replay(root, &change).expect("replay");

    assert!(!change.commits.contains(&head(root)), "new ids");
    assert_eq!(messages(root, 3), ["add c", "add four", "another"]);
    assert_eq!(git(root, &["rev-parse", "HEAD~2"]), other);
    assert_eq!(read(root, "a.txt"), "one\ntwo\nthree\nfour\n");
    assert_eq!(read(root, "c.txt"), "sea\n");
    assert_eq!(read(root, "other.txt"), "another commit\n");
    assert_eq!(
        git(root, &["log", "-1", "--format=%an %ae %cn"]),
        "Ada ada@example.com Ada"
    );
    assert!(is_clean(root));
}

#[test]
fn replay_that_conflicts_changes_nothing() {
    let dir = repo();
    let root = dir.path();
    let (change, _) = two_commits_undone(root);
    write(root, "a.txt", "one\ntwo\nthree\nFOUR, differently\n");
    commit_all(root, "conflicting");
    let before = head(root);

    let result = replay(root, &change);

    let Err(RepoError::Conflict {
        commit, message, ..
    }) = result
    else {
        panic!("expected a conflict, got {result:?}");
    };
    assert_eq!(commit, change.commits[0]);
    assert!(message.contains("a.txt"), "{message}");
    assert_eq!(head(root), before);
    assert_eq!(read(root, "a.txt"), "one\ntwo\nthree\nFOUR, differently\n");
    assert!(!root.join("c.txt").exists());
    assert!(is_clean(root));
}

#[test]
fn replay_of_a_patch_edits_adds_and_deletes_working_files() {
    let dir = repo();
    let root = dir.path();
    let binary: Vec<u8> = (0..=255u8).cycle().take(2000).collect();
    let node = |root: &Path| {
        write(root, "a.txt", "one\nTWO\nthree, with no newline at the end");
        write(root, "new/file.txt", "new\n");
        std::fs::write(root.join("blob.bin"), &binary).expect("write");
        std::fs::remove_file(root.join("b.txt")).expect("remove");
    };
    let (change, _) = record(root, node).expect("change");
    let recorded = state(root);
    git(root, &["reset", "-q", "--hard"]);
    git(root, &["clean", "-q", "-fd"]);

    replay(root, &change).expect("replay");

    assert_eq!(state(root), recorded);
    assert_eq!(std::fs::read(root.join("blob.bin")).expect("read"), binary);
    assert!(!root.join("b.txt").exists());
}

#[test]
fn replay_of_commits_and_a_patch_applies_both() {
    let dir = repo();
    let root = dir.path();
    let start = head(root);
    let (change, _) = record(root, |root| {
        two_commits(1_700_000_100)(root);
        write(root, "b.txt", "left over\n");
    })
    .expect("change");
    let recorded = state(root);
    git(root, &["reset", "-q", "--hard", &start]);
    git(root, &["clean", "-q", "-fd"]);

    replay(root, &change).expect("replay");

    assert_eq!(state(root), recorded);
    assert_eq!(git(root, &["status", "--porcelain"]), "M b.txt");
}

#[test]
fn replay_after_a_dirty_start_committed_by_the_node_ends_clean() {
    let dir = repo();
    let root = dir.path();
    let start = head(root);
    write(root, "b.txt", "dirty before the node\n");
    write(root, "untracked.txt", "also dirty\n");
    let (change, _) = record(root, |root| commit_all(root, "commit the dirt")).expect("change");
    git(root, &["reset", "-q", "--hard", &start]);
    write(root, "b.txt", "dirty before the node\n");
    write(root, "untracked.txt", "also dirty\n");

    replay(root, &change).expect("replay");

    assert_eq!(change.commits.last(), Some(&head(root)));
    assert!(is_clean(root), "{}", git(root, &["status", "--porcelain"]));
}

#[test]
fn replay_of_a_missing_commit_says_so() {
    let dir = repo();
    let change = Change {
        commits: vec!["0123456789abcdef0123456789abcdef01234567".to_string()],
        patch: None,
    };
    let result = replay(dir.path(), &change);
    assert!(
        matches!(result, Err(RepoError::MissingCommit { .. })),
        "{result:?}"
    );
}

#[test]
fn keep_alive_keeps_the_commits_through_gc() {
    let dir = repo();
    let root = dir.path();
    let start = head(root);
    let (change, _) = record(root, two_commits(1_700_000_100)).expect("change");
    keep_alive(root, "node-1", &change).expect("keep alive");
    git(root, &["reset", "-q", "--hard", &start]);
    git(root, &["reflog", "expire", "--expire=now", "--all"]);
    git(root, &["gc", "-q", "--prune=now"]);

    let last = change.commits.last().expect("commits");
    assert_eq!(
        &git(root, &["rev-parse", "refs/prodigy/cache/node-1"]),
        last
    );
    assert_eq!(git(root, &["cat-file", "-t", &change.commits[0]]), "commit");
    replay(root, &change).expect("replay after gc");
    assert_eq!(&head(root), last);
}

#[test]
fn prune_refs_deletes_only_the_refs_not_kept() {
    let dir = repo();
    let root = dir.path();
    let (change, _) = record(root, two_commits(1_700_000_100)).expect("change");
    keep_alive(root, "kept", &change).expect("keep alive");
    keep_alive(root, "dropped", &change).expect("keep alive");
    assert_eq!(prune_refs(root, &|name| name == "kept").expect("prune"), 1);
    let refs = git(
        root,
        &["for-each-ref", "--format=%(refname)", "refs/prodigy/"],
    );
    assert_eq!(refs, "refs/prodigy/cache/kept");
    let plain = tempfile::tempdir().expect("temp dir");
    assert_eq!(
        prune_refs(plain.path(), &|_| false).expect("outside git"),
        0
    );
}

#[test]
fn keep_alive_rejects_a_name_that_is_not_a_ref_name() {
    let dir = repo();
    let root = dir.path();
    let (change, _) = record(root, two_commits(1_700_000_100)).expect("change");
    let result = keep_alive(root, "bad name..", &change);
    assert!(
        matches!(result, Err(RepoError::InvalidRefName { .. })),
        "{result:?}"
    );
    keep_alive(root, "anything goes", &Change::default()).expect("no commits: nothing to keep");
}

#[test]
fn replay_over_a_local_change_to_a_committed_file_changes_nothing() {
    let dir = repo();
    let root = dir.path();
    let (change, start) = two_commits_undone(root);
    write(root, "a.txt", "local edit\n");
    write(root, "b.txt", "unrelated local edit\n");

    let result = replay(root, &change);

    let Err(RepoError::LocalChanges { files, .. }) = result else {
        panic!("expected LocalChanges, got {result:?}");
    };
    assert_eq!(files, "a.txt");
    assert_eq!(head(root), start);
    assert_eq!(read(root, "a.txt"), "local edit\n");
    assert!(!root.join("c.txt").exists());
}

#[test]
fn replay_keeps_local_changes_to_other_files() {
    let dir = repo();
    let root = dir.path();
    let (change, _) = two_commits_undone(root);
    write(root, "b.txt", "unrelated local edit\n");

    replay(root, &change).expect("replay");

    assert_eq!(change.commits.last(), Some(&head(root)));
    assert_eq!(read(root, "b.txt"), "unrelated local edit\n");
    assert_eq!(git(root, &["status", "--porcelain"]), "M b.txt");
}

#[test]
fn replay_with_a_patch_over_a_local_change_changes_nothing() {
    let dir = repo();
    let root = dir.path();
    let start = head(root);
    let (change, _) = record(root, |root| {
        two_commits(1_700_000_100)(root);
        write(root, "b.txt", "left over\n");
    })
    .expect("change");
    git(root, &["reset", "-q", "--hard", &start]);
    git(root, &["clean", "-q", "-fd"]);
    write(root, "b.txt", "local edit\n");

    let result = replay(root, &change);

    assert!(
        matches!(&result, Err(RepoError::LocalChanges { files, .. }) if files == "b.txt"),
        "{result:?}"
    );
    assert_eq!(head(root), start);
    assert!(!root.join("c.txt").exists());
    assert_eq!(read(root, "b.txt"), "local edit\n");
}

#[test]
fn replay_into_an_unborn_branch_replays_the_root_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    git(root, &["init", "-q", "-b", "main"]);
    let (change, _) = record(root, |root| {
        write(root, "first.txt", "first\n");
        commit_all(root, "first");
    })
    .expect("change");
    let recorded = head(root);
    git(root, &["checkout", "-q", "--orphan", "fresh"]);
    git(root, &["rm", "-q", "-rf", "."]);

    replay(root, &change).expect("replay");

    assert_eq!(head(root), recorded);
    assert_eq!(git(root, &["symbolic-ref", "HEAD"]), "refs/heads/fresh");
    assert_eq!(read(root, "first.txt"), "first\n");
    assert!(is_clean(root));
}

#[test]
fn tree_digest_from_a_subdirectory_excludes_paths_relative_to_it() {
    let dir = repo();
    let root = dir.path();
    write(root, "sub/workflow.yml", "one\n");
    commit_all(root, "add a workflow");
    let sub = root.join("sub");
    let exclude = [PathBuf::from("workflow.yml")];
    let start = tree_digest(&sub, &exclude).expect("digest");
    write(root, "sub/workflow.yml", "two\n");
    assert_eq!(tree_digest(&sub, &exclude).expect("digest"), start);
    write(
        root,
        "a.txt",
        "a file outside the subdirectory still counts\n",
    );
    assert_ne!(tree_digest(&sub, &exclude).expect("digest"), start);
}

#[test]
fn change_through_a_merge_of_the_start_into_another_line_is_unrecordable() {
    let dir = repo();
    let root = dir.path();
    git(root, &["checkout", "-q", "-b", "side"]);
    write(root, "side.txt", "side\n");
    commit_all(root, "side");
    git(root, &["checkout", "-q", "main"]);
    write(root, "main.txt", "main\n");
    commit_all(root, "main");
    let result = record(root, |root| {
        // `main` ends at a merge whose first parent is `side`, which forked before it.
        git(root, &["checkout", "-q", "side"]);
        git(root, &["merge", "-q", "--no-ff", "-m", "merge", "main"]);
        let merged = head(root);
        git(root, &["checkout", "-q", "main"]);
        git(root, &["merge", "-q", "--ff-only", &merged]);
    });
    let Err(RepoError::Unrecordable { reason }) = result else {
        panic!("expected Unrecordable, got {result:?}");
    };
    assert!(reason.contains("first parent"), "{reason}");
}

#[test]
fn change_through_a_merge_into_the_start_lists_its_first_parent_line() {
    let dir = repo();
    let root = dir.path();
    git(root, &["checkout", "-q", "-b", "side"]);
    write(root, "side.txt", "side\n");
    commit_all(root, "side");
    git(root, &["checkout", "-q", "main"]);
    let (change, _) = record(root, |root| {
        write(root, "main.txt", "main\n");
        commit_all(root, "main");
        git(
            root,
            &["merge", "-q", "--no-ff", "-m", "merge side", "side"],
        );
    })
    .expect("change");
    assert_eq!(change.commits.len(), 2, "{change:?}");
    assert_eq!(change.commits.last(), Some(&head(root)));
}
