//! The build cache as the scheduler uses it: for a node about to run, its full key and
//! whether a stored result can be replayed instead; for a node that ran, its entry,
//! its index record and its output digest. Lives on the coordinating thread, which is
//! the only writer of the cache (brief section 2).
//!
//! Keys follow brief section 4 (see `cache::key`). A step without `inputs:` is keyed by
//! the tree the build started from; the build's own changes do not count against it:
//! when the tree is exactly what the last build left (recorded as the `#tree` record of
//! the index), the last build's starting tree stands in, and hits do not re-apply
//! changes that are already there. So `prodigy build` twice runs nothing even when
//! steps commit, and a build from the original tree replays the commits.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use chrono::Utc;
use serde_json::Value;

use super::outcome::{NodeResult, NodeStatus};
use super::repo_change::{self, Change, TreeState};
use super::vars::Vars;
use crate::cache::{
    ActionKey, CacheError, CacheLock, CacheStore, Digest, DirtyReason, EntryStatus, Index,
    IndexEntry, InputError, InputStamp, Inputs, digest_bytes, to_hex,
};
use crate::graph::hash::env_map;
use crate::graph::{NodeKind, Plan, PlanNode};
use crate::workflow::schema::Workflow;

mod key;
mod replay;
mod status;
mod store;

pub use status::CacheStatus;

/// What a job does with the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMode {
    /// `run`, `dlq retry`: run every node, record every result.
    Record,
    /// `build`: replay fresh nodes, run the rest and record them; `force` runs all.
    Build {
        /// `--force`.
        force: bool,
    },
}

/// Why the build cache could not be used.
#[derive(Debug, thiserror::Error)]
pub enum MemoError {
    /// The cache directory could not be read or written, or is locked.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// Declared inputs could not be read.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The starting tree could not be read.
    #[error("cannot read the starting tree: {0}")]
    Tree(#[from] repo_change::RepoError),
}

/// What opening the cache needs.
pub struct MemoSetup<'a> {
    /// The workflow root: inputs and the starting tree are read here.
    pub root: &'a Path,
    /// The cache directory's project (shared by linked worktrees).
    pub state_root: &'a Path,
    /// The workflow.
    pub workflow: &'a Workflow,
    /// The workflow file, relative to the root when inside it (not part of the tree:
    /// its steps are in the keys already).
    pub workflow_file: Option<PathBuf>,
    /// `--profile`.
    pub profile: Option<&'a str>,
    /// The OS environment (for `env_passthrough`).
    pub os_env: &'a BTreeMap<String, String>,
    /// `--args`.
    pub args: &'a [String],
    /// `--param` values.
    pub params: &'a BTreeMap<String, Value>,
    /// The claude CLI (its `--version` enters claude nodes' keys).
    pub claude_bin: &'a str,
    /// Record or build.
    pub mode: CacheMode,
}

/// What `lookup` decided for a node.
pub enum Lookup {
    /// A stored result replaces running the node.
    Hit(Box<(NodeResult, Option<Vars>)>),
    /// The node must run; the reason is known when asked for (`--explain`).
    Run(Option<DirtyReason>),
}

/// A node that is running: what its record needs.
struct Running {
    key: Option<(ActionKey, Digest)>,
    stamps: Vec<InputStamp>,
    before: Option<TreeState>,
    /// Another step ran beside it: a change to the repository cannot be told apart.
    overlapped: bool,
}

/// Counts for the summary and `cache stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoTally {
    /// Nodes replayed from the cache.
    pub hits: u64,
    /// Nodes that ran.
    pub ran: u64,
    /// Results not cached: `cache: false`, inputs changed while running, unrecordable
    /// repository changes.
    pub not_cached: u64,
}

/// The build cache of one job.
pub struct Memo {
    store: CacheStore,
    lock: Option<CacheLock>,
    index: Index,
    mode: CacheMode,
    prefix: String,
    root: PathBuf,
    env: BTreeMap<String, String>,
    arguments: Value,
    iteration: u32,
    tree: Tree,
    inputs: Inputs,
    claude_bin: String,
    claude_version: Option<String>,
    definitions: HashMap<key::Site, key::Definition>,
    /// The digest of the arguments for this iteration.
    arguments_digest: Option<String>,
    outputs: HashMap<String, Digest>,
    running: HashMap<String, Running>,
    reasons: bool,
    keep_results: bool,
    /// Hits need their stored output (`--replay-output`).
    replay_output: bool,
    /// What map items depend on when the plan does not say (`dlq retry`).
    item_deps: Option<Vec<String>>,
    exclude: Vec<PathBuf>,
    /// Index records appended by this job (the index is compacted at the end if any).
    appended: usize,
    /// What this job did with the cache.
    pub tally: MemoTally,
    /// Results that were not cached, and why (for the summary).
    pub notes: Vec<String>,
}

/// The starting tree, and whether the tree already holds the last build's changes.
struct Tree {
    digest: String,
    applied: bool,
}

/// The index id of the tree record.
const TREE_RECORD: &str = "#tree";

impl Memo {
    /// Opens the cache for a job that runs: takes the lock (`on_wait` is called with
    /// the holder's pid before blocking; `wait: false` fails instead).
    pub fn open(
        setup: MemoSetup,
        wait: bool,
        on_wait: &mut dyn FnMut(Option<u32>),
    ) -> Result<Memo, MemoError> {
        let store = CacheStore::open(setup.state_root);
        let lock = store.lock_announced(wait, on_wait)?;
        Self::new(setup, store, Some(lock))
    }

    /// Opens the cache to decide only (`--dry-run`, `--check`): no lock, no writes.
    pub fn read_only(setup: MemoSetup) -> Result<Memo, MemoError> {
        let store = CacheStore::open(setup.state_root);
        let mut memo = Self::new(setup, store, None)?;
        memo.reasons = true;
        Ok(memo)
    }

    fn new(
        setup: MemoSetup,
        store: CacheStore,
        lock: Option<CacheLock>,
    ) -> Result<Memo, MemoError> {
        let index = store.load_index()?;
        let prefix = format!("{}/", setup.workflow.name);
        let exclude: Vec<PathBuf> = setup.workflow_file.into_iter().collect();
        let current = to_hex(&repo_change::tree_digest(setup.root, &exclude)?);
        let tree = match index.nodes.get(&format!("{prefix}{TREE_RECORD}")) {
            Some(last) if to_hex(&last.output) == current && last.key != last.output => Tree {
                digest: to_hex(&last.key),
                applied: true,
            },
            _ => Tree {
                digest: current,
                applied: false,
            },
        };
        let inputs = Inputs::new(setup.root, index.nodes.values().flat_map(|e| &e.inputs));
        Ok(Memo {
            env: env_map(setup.workflow, setup.profile, setup.os_env),
            arguments: serde_json::json!({
                "args": setup.args,
                "params": setup.params,
                "name": setup.workflow.name,
            }),
            iteration: 1,
            root: setup.root.to_path_buf(),
            claude_bin: setup.claude_bin.to_string(),
            claude_version: None,
            definitions: HashMap::new(),
            arguments_digest: None,
            outputs: HashMap::new(),
            running: HashMap::new(),
            reasons: false,
            keep_results: serde_json::to_string(&setup.workflow.body)
                .is_ok_and(|b| b.contains("map.results")),
            exclude,
            replay_output: false,
            item_deps: None,
            appended: 0,
            tally: MemoTally::default(),
            notes: Vec::new(),
            mode: setup.mode,
            prefix,
            tree,
            inputs,
            index,
            store,
            lock,
        })
    }

    /// Asks `lookup` to say why each dirty node runs (`--explain`).
    pub fn explain_reasons(&mut self) {
        self.reasons = true;
    }

    /// For `dlq retry`, whose plan has no setup: map items depend on these nodes, with
    /// the outputs their last runs recorded.
    pub fn items_need(&mut self, ids: Vec<String>) {
        for id in &ids {
            if let Some(last) = self.index.nodes.get(&format!("{}{id}", self.prefix)) {
                self.outputs.insert(id.clone(), last.output);
            }
        }
        self.item_deps = Some(ids);
    }

    /// Makes hits carry their stored output (`--replay-output`).
    pub fn replay_output(&mut self) {
        self.replay_output = true;
    }

    /// Sets the iteration of a standard workflow run `max_iterations` times.
    pub fn set_iteration(&mut self, iteration: u32) {
        self.iteration = iteration;
        self.arguments_digest = None;
    }

    /// Warnings from reading the cache (corrupt files), emptied.
    pub fn take_warnings(&self) -> Vec<String> {
        self.store
            .take_warnings()
            .into_iter()
            .map(|w| w.to_string())
            .collect()
    }

    /// Decides a node whose dependencies (`deps`, ids) have finished: replay or run.
    /// A node that runs is remembered until [`Memo::record`].
    pub fn lookup(&mut self, plan: &Plan, node: &PlanNode, deps: &[&str]) -> Lookup {
        let keyed = match self.key(plan, node, deps) {
            Ok(keyed) => keyed,
            Err(e) => {
                self.notes.push(format!("{}: not cached: {e}", node.id));
                self.remember(node, None, Vec::new());
                return Lookup::Run(None);
            }
        };
        let Some((key, digest, stamps)) = keyed else {
            self.remember(node, None, Vec::new());
            return Lookup::Run(self.reasons.then_some(DirtyReason::Uncached));
        };
        let forced = self.mode == (CacheMode::Build { force: true });
        if self.mode == CacheMode::Record || forced {
            let reason = forced.then_some(DirtyReason::Forced);
            self.remember(node, Some((key, digest)), stamps);
            return Lookup::Run(reason);
        }
        match self.hit(node, &digest) {
            Some((result, vars, output)) => {
                self.outputs.insert(node.id.clone(), output);
                self.tally.hits += 1;
                Lookup::Hit(Box::new((result, vars)))
            }
            None => {
                let reason = self.reasons.then(|| self.reason(node, &key));
                self.remember(node, Some((key, digest)), stamps);
                Lookup::Run(reason)
            }
        }
    }

    /// Records a node that ran (its final attempt); `vars` are a step's captures.
    /// Returns a note when its result could not be cached.
    pub fn record(&mut self, node: &PlanNode, result: &NodeResult, vars: Option<&Vars>) {
        let Some(running) = self.running.remove(&node.id) else {
            return;
        };
        if matches!(result.status, NodeStatus::Cancelled { .. }) {
            return;
        }
        self.tally.ran += 1;
        let change = match &running.before {
            Some(before) => match repo_change::capture(&self.root) {
                Ok(Some(after)) => {
                    repo_change::change(&self.root, before, &after).map_err(|e| e.to_string())
                }
                Ok(None) => Ok((Change::default(), digest_bytes(b""))),
                Err(e) => Err(e.to_string()),
            },
            None => Ok((Change::default(), digest_bytes(b""))),
        };
        let change = change.and_then(|(change, digest)| {
            if running.overlapped && !change.is_empty() {
                return Err(
                    "it changed the repository while another step ran beside it, \
                            so its own changes cannot be told apart"
                        .to_string(),
                );
            }
            Ok((change, digest))
        });
        let (change, change_digest, recordable) = match change {
            Ok((change, digest)) => (change, digest, true),
            Err(e) => {
                self.not_cached(node, &e);
                (Change::default(), digest_bytes(e.as_bytes()), false)
            }
        };
        if !change.is_empty() {
            self.tree_moved();
        }
        let captures = vars.map(Vars::captures).unwrap_or_default();
        let item = running.key.as_ref().and_then(|(k, _)| k.item.clone());
        let output = store::output_digest(result, &captures, &change_digest, item);
        self.outputs.insert(node.id.clone(), output);
        let Some((key, digest)) = running.key.filter(|_| recordable) else {
            return;
        };
        if !self.inputs.unchanged(&running.stamps) {
            self.not_cached(node, "its inputs changed while it ran");
            return;
        }
        if self.lock.is_none() {
            return;
        }
        if let Err(e) = self.store_result(
            node,
            result,
            (key, digest),
            captures,
            change,
            output,
            running.stamps,
        ) {
            self.notes
                .push(format!("{}: result not cached: {e}", node.id));
        }
    }

    /// Records the tree the job ends with (so that the next build knows its own
    /// changes) and what the job did with the cache (`cache stats`).
    pub fn finish(&mut self, job_id: &str) -> Result<(), MemoError> {
        let Some(lock) = &self.lock else {
            return Ok(());
        };
        let last_run = crate::cache::LastRun {
            schema_version: crate::cache::CACHE_SCHEMA_VERSION,
            job_id: job_id.to_string(),
            finished_at: Utc::now(),
            hits: self.tally.hits,
            ran: self.tally.ran,
            not_cached: self.tally.not_cached,
        };
        self.store.save_last_run(&last_run, lock)?;
        let end = repo_change::tree_digest(&self.root, &self.exclude)?;
        if let Some(record) = self.tree_record(end) {
            self.index
                .nodes
                .insert(format!("{}{TREE_RECORD}", self.prefix), record);
            self.appended += 1;
        }
        if self.appended > 0
            && let Some(lock) = &self.lock
        {
            self.store.save_index(&self.index, lock)?;
            if self.store.pack_needs_compacting()? {
                self.store
                    .gc(lock, None, None, &self.index.referenced_keys())?;
            }
            self.store.sync(lock)?;
        }
        Ok(())
    }

    /// Appends a node's latest run to the index (on disk at once: `kill -9` loses
    /// none) and to the copy in memory.
    fn append(&mut self, id: String, record: IndexEntry) -> Result<(), CacheError> {
        if let Some(lock) = &self.lock {
            self.store.append_index([(id.as_str(), &record)], lock)?;
            self.appended += 1;
        }
        self.index.nodes.insert(id, record);
        Ok(())
    }

    /// The `#tree` record: the build's starting tree and the tree it is at now.
    fn tree_record(&self, now: Digest) -> Option<IndexEntry> {
        let start = crate::cache::parse_hex(&self.tree.digest)?;
        (start != now || self.tree.applied).then(|| IndexEntry {
            key: start,
            output: now,
            status: EntryStatus::Succeeded,
            failure_kind: None,
            finished_at: Utc::now(),
            inputs: Vec::new(),
        })
    }

    /// After a node changed the repository (or a hit replayed a change): records the
    /// tree now, so a build killed later knows these changes are its own.
    fn tree_moved(&mut self) {
        let Ok(now) = repo_change::tree_digest(&self.root, &self.exclude) else {
            return;
        };
        if let Some(record) = self.tree_record(now) {
            let id = format!("{}{TREE_RECORD}", self.prefix);
            if let Err(e) = self.append(id, record) {
                self.notes.push(format!("the build cache index: {e}"));
            }
        }
    }

    fn not_cached(&mut self, node: &PlanNode, why: &str) {
        self.tally.not_cached += 1;
        self.notes
            .push(format!("{}: result not cached: {why}", node.id));
    }

    fn remember(
        &mut self,
        node: &PlanNode,
        key: Option<(ActionKey, Digest)>,
        stamps: Vec<InputStamp>,
    ) {
        let before = match node.kind {
            NodeKind::Step | NodeKind::Reduce if self.lock.is_some() => {
                repo_change::capture(&self.root).ok().flatten()
            }
            _ => None,
        };
        let mut overlapped = false;
        if before.is_some() {
            for other in self.running.values_mut().filter(|r| r.before.is_some()) {
                other.overlapped = true;
                overlapped = true;
            }
        }
        self.running.insert(
            node.id.clone(),
            Running {
                key,
                stamps,
                before,
                overlapped,
            },
        );
    }
}
