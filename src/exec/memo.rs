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
use serde_json::{Value, json};

use super::outcome::{Failure, NodeResult, NodeStatus, OutputTail};
use super::repo_change::{self, Change, TreeState};
use super::vars::Vars;
use crate::cache::{
    ACTION_KEY_VERSION, ActionEntry, ActionKey, CacheError, CacheLock, CacheStore, Digest,
    DirtyReason, EntryStatus, Index, IndexEntry, InputError, InputStamp, Inputs, dependency,
    digest_bytes, explain, to_hex,
};
use crate::graph::hash::{digest_of, env_digest};
use crate::graph::{NodeKind, Plan, PlanNode, Work};
use crate::workflow::interpolate::Phase;
use crate::workflow::schema::{Step, Workflow};

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
    /// `--args`, `--param`.
    pub arguments: Value,
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

/// A node's cache status before a build, for `--dry-run`, `--check` and `graph`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheStatus {
    /// Its stored result would be replayed.
    Cached,
    /// It would run, for this reason.
    Dirty(String),
    /// Its key depends on a node that has to run first (or on items known at run time).
    Pending(String),
}

impl CacheStatus {
    /// `cached`, `dirty`, `pending`.
    pub fn word(&self) -> &'static str {
        match self {
            CacheStatus::Cached => "cached",
            CacheStatus::Dirty(_) => "dirty",
            CacheStatus::Pending(_) => "pending",
        }
    }

    /// Why it is dirty or pending.
    pub fn reason(&self) -> Option<&str> {
        match self {
            CacheStatus::Cached => None,
            CacheStatus::Dirty(r) | CacheStatus::Pending(r) => Some(r),
        }
    }
}

/// A node that is running: what its record needs.
struct Running {
    key: Option<(ActionKey, Digest)>,
    stamps: Vec<InputStamp>,
    before: Option<TreeState>,
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
    env: String,
    arguments: Value,
    iteration: u32,
    tree: Tree,
    inputs: Inputs,
    claude_bin: String,
    claude_version: Option<String>,
    definitions: HashMap<(Phase, usize), String>,
    template: Option<String>,
    outputs: HashMap<String, Digest>,
    running: HashMap<String, Running>,
    reasons: bool,
    keep_results: bool,
    exclude: Vec<PathBuf>,
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
        let lock = match store.lock(false) {
            Ok(lock) => lock,
            Err(CacheError::Locked { holder_pid, .. }) if wait => {
                on_wait(holder_pid);
                store.lock(true)?
            }
            Err(e) => return Err(e.into()),
        };
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
        let template = match &setup.workflow.body {
            crate::workflow::schema::Body::MapReduce(mr) => Some(to_hex(&digest_of(&(
                &mr.map.agent_template,
                &setup.workflow.handlers,
                &setup.workflow.error_policy,
            )))),
            crate::workflow::schema::Body::Standard { .. } => None,
        };
        Ok(Memo {
            env: to_hex(&env_digest(setup.workflow, setup.profile, setup.os_env)),
            arguments: setup.arguments,
            iteration: 1,
            root: setup.root.to_path_buf(),
            claude_bin: setup.claude_bin.to_string(),
            claude_version: None,
            definitions: HashMap::new(),
            template,
            outputs: HashMap::new(),
            running: HashMap::new(),
            reasons: false,
            keep_results: serde_json::to_string(&setup.workflow.body)
                .is_ok_and(|b| b.contains("map.results")),
            exclude,
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

    /// Sets the iteration of a standard workflow run `max_iterations` times.
    pub fn set_iteration(&mut self, iteration: u32) {
        self.iteration = iteration;
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
            // `cache: false`: always runs.
            self.remember(node, None, Vec::new());
            return Lookup::Run(None);
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

    /// The cache status of every node of `plan`, in plan order, deciding without
    /// running or writing anything (the memo should be [`Memo::read_only`]).
    pub fn decide_plan(&mut self, plan: &Plan) -> Vec<CacheStatus> {
        let mut states: HashMap<&str, CacheStatus> = HashMap::new();
        let mut order = Vec::new();
        for (index, node) in plan.nodes() {
            let deps: Vec<&PlanNode> = plan
                .dependencies(index)
                .into_iter()
                .map(|d| plan.node(d))
                .collect();
            let blocked = deps
                .iter()
                .find(|d| !matches!(states.get(d.id.as_str()), Some(CacheStatus::Cached)));
            let status = match (&node.work, blocked) {
                (_, Some(dep)) => CacheStatus::Pending(format!("after {}", dep.id)),
                (Work::Pending { .. }, None) => {
                    CacheStatus::Pending("items known at run time".to_string())
                }
                _ => {
                    let ids: Vec<&str> = deps.iter().map(|d| d.id.as_str()).collect();
                    match self.lookup(plan, node, &ids) {
                        Lookup::Hit(..) => CacheStatus::Cached,
                        Lookup::Run(reason) => CacheStatus::Dirty(
                            reason.map_or_else(|| "cache: false".to_string(), |r| r.to_string()),
                        ),
                    }
                }
            };
            states.insert(&node.id, status.clone());
            order.push(status);
        }
        order
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
        let change = match (&running.before, repo_change::capture(&self.root)) {
            (Some(before), Ok(Some(after))) => {
                repo_change::change(&self.root, before, &after).map_err(|e| e.to_string())
            }
            (Some(_), Err(e)) => Err(e.to_string()),
            _ => Ok((Change::default(), digest_bytes(b""))),
        };
        let (change, change_digest, recordable) = match change {
            Ok((change, digest)) => (change, digest, true),
            Err(e) => {
                self.not_cached(node, &e);
                (Change::default(), digest_bytes(e.as_bytes()), false)
            }
        };
        let captures = vars.map(Vars::captures).unwrap_or_default();
        let item = running.key.as_ref().and_then(|(k, _)| k.item.clone());
        let output = output_digest(result, &captures, &change_digest, item);
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
        let Some(start) = crate::cache::parse_hex(&self.tree.digest) else {
            return Ok(());
        };
        let record = IndexEntry {
            key: start,
            output: end,
            status: EntryStatus::Succeeded,
            failure_kind: None,
            finished_at: Utc::now(),
            inputs: Vec::new(),
        };
        let id = format!("{}{TREE_RECORD}", self.prefix);
        self.store.append_index([(id.as_str(), &record)], lock)?;
        Ok(())
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
        self.running.insert(
            node.id.clone(),
            Running {
                key,
                stamps,
                before,
            },
        );
    }

    /// The node's key, digest and input stamps; `None` for `cache: false`.
    fn key(
        &mut self,
        plan: &Plan,
        node: &PlanNode,
        deps: &[&str],
    ) -> Result<Option<(ActionKey, Digest, Vec<InputStamp>)>, MemoError> {
        let steps: Vec<&Step> = match &node.work {
            Work::Step { .. } => plan.step(node).into_iter().collect(),
            Work::Item { .. } => crate::graph::build::phase_steps(plan.workflow(), Phase::Map)
                .iter()
                .collect(),
            Work::Pending { .. } => return Ok(None),
        };
        if steps.iter().any(|s| !s.cache) {
            return Ok(None);
        }
        let (definition, item) = match &node.work {
            Work::Step { phase, index } => (self.step_definition(plan, *phase, *index), None),
            Work::Item { item, .. } => (
                self.template.clone().unwrap_or_default(),
                Some(to_hex(&digest_of(item))),
            ),
            Work::Pending { .. } => return Ok(None),
        };
        let declared: Option<Vec<String>> = match node.work {
            Work::Step { .. } => steps.first().and_then(|s| s.inputs.clone()),
            _ => {
                let all: Vec<String> = steps
                    .iter()
                    .flat_map(|s| s.inputs.iter().flatten().cloned())
                    .collect();
                Some(all)
            }
        };
        let (inputs, stamps, starting_tree) = match declared {
            Some(patterns) if patterns.is_empty() => (None, Vec::new(), None),
            Some(patterns) => {
                let (digests, stamps) = self.inputs.resolve(&patterns)?;
                (Some(digests), stamps, None)
            }
            None => (None, Vec::new(), Some(self.tree.digest.clone())),
        };
        let dependencies = deps
            .iter()
            .map(|id| {
                let output = self.outputs.get(*id).copied().unwrap_or(Digest([0; 32]));
                dependency(id, &output)
            })
            .collect();
        let uses_claude = steps.iter().any(|s| uses_claude(s));
        let key = ActionKey {
            schema_version: ACTION_KEY_VERSION,
            // A `dlq` node is a map item run again: the same key, so it stays cached
            // once it leaves the DLQ.
            kind: if node.kind.is_item() {
                NodeKind::MapItem.as_str()
            } else {
                node.kind.as_str()
            },
            definition,
            item,
            env: self.env.clone(),
            arguments: to_hex(&digest_of(&(&self.arguments, self.iteration))),
            inputs,
            starting_tree,
            dependencies,
            claude_version: uses_claude.then(|| self.claude_version()),
        };
        let digest = key.digest();
        Ok(Some((key, digest, stamps)))
    }

    fn step_definition(&mut self, plan: &Plan, phase: Phase, index: usize) -> String {
        self.definitions
            .entry((phase, index))
            .or_insert_with(|| {
                let step = crate::graph::build::phase_steps(plan.workflow(), phase).get(index);
                to_hex(&digest_of(&step))
            })
            .clone()
    }

    fn claude_version(&mut self) -> String {
        self.claude_version
            .get_or_insert_with(|| super::claude::version(&self.claude_bin))
            .clone()
    }

    /// A stored result for `key`: the node's last run when it had this key, else any
    /// entry of this key (a revert back to an earlier state is free too).
    fn hit(&mut self, node: &PlanNode, key: &Digest) -> Option<(NodeResult, Option<Vars>, Digest)> {
        let id = format!("{}{}", self.prefix, node.id);
        let last = self.index.nodes.get(&id);
        let fresh = last.is_some_and(|l| l.key == *key && l.status == EntryStatus::Succeeded);
        let needs_entry = !node.kind.is_item() || self.keep_results;
        if fresh && !needs_entry {
            let output = last.map(|l| l.output)?;
            return Some((cached(OutputTail::default()), None, output));
        }
        let entry = self
            .store
            .get_entry(key)
            .ok()
            .flatten()
            .filter(ActionEntry::is_hit)?;
        if !fresh && self.lock.is_some() {
            // A hit by content (not by the node's last run): the index learns it.
            let record = IndexEntry {
                key: *key,
                output: entry.output_digest,
                status: EntryStatus::Succeeded,
                failure_kind: None,
                finished_at: Utc::now(),
                inputs: last.map(|l| l.inputs.clone()).unwrap_or_default(),
            };
            if let Some(lock) = &self.lock {
                let _ = self.store.append_index([(id.as_str(), &record)], lock);
            }
        }
        let change = Change {
            commits: entry.commits.clone(),
            patch: match entry.patch_blob {
                Some(blob) => Some(self.store.get_blob(&blob).ok().flatten()?),
                None => None,
            },
        };
        if !change.is_empty() && !self.tree.applied {
            if self.lock.is_none() {
                return Some((cached(OutputTail::default()), None, entry.output_digest));
            }
            if let Err(e) = repo_change::replay(&self.root, &change) {
                self.notes.push(format!(
                    "{}: cached change not replayed ({e}); running it",
                    node.id
                ));
                return None;
            }
        }
        let text = |blob| {
            self.store
                .get_blob(blob)
                .ok()
                .flatten()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        let output = OutputTail {
            stdout: text(&entry.stdout_blob),
            stderr: text(&entry.stderr_blob),
        };
        let vars = (!node.kind.is_item())
            .then(|| Vars::from_captures(&entry.captures, &entry.capture_meta));
        Some((cached(output), vars, entry.output_digest))
    }

    /// Why a node runs, from its last run and the key it had then.
    fn reason(&self, node: &PlanNode, key: &ActionKey) -> DirtyReason {
        let id = format!("{}{}", self.prefix, node.id);
        let new = key.to_json();
        let decided = crate::cache::decide(
            self.index.nodes.get(&id),
            &key.digest(),
            false,
            |last| match self.store.get_entry(&last.key) {
                Ok(Some(old)) => explain(&old.key, &new),
                _ => "its key changed (the earlier result is no longer stored)".to_string(),
            },
        );
        match decided {
            crate::cache::Freshness::Dirty(reason) => reason,
            // Fresh by the index, but its entry is gone or its change cannot be replayed.
            crate::cache::Freshness::Fresh { .. } => DirtyReason::KeyChanged {
                what: "its cached result is missing or cannot be replayed".to_string(),
            },
        }
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one entry gathers everything a run produced"
    )]
    fn store_result(
        &mut self,
        node: &PlanNode,
        result: &NodeResult,
        (key, digest): (ActionKey, Digest),
        captures: (BTreeMap<String, Value>, BTreeMap<String, Value>),
        change: Change,
        output: Digest,
        stamps: Vec<InputStamp>,
    ) -> Result<(), CacheError> {
        let Some(lock) = &self.lock else {
            return Ok(());
        };
        let (status, failure) = match &result.status {
            NodeStatus::Failed(f) => (EntryStatus::Failed, Some(f)),
            _ => (EntryStatus::Succeeded, None),
        };
        let patch_blob = match &change.patch {
            Some(patch) => Some(self.store.put_blob(patch)?),
            None => None,
        };
        if status == EntryStatus::Succeeded && !change.commits.is_empty() {
            let _ = repo_change::keep_alive(&self.root, &to_hex(&digest), &change);
        }
        let entry = ActionEntry {
            schema_version: crate::cache::CACHE_SCHEMA_VERSION,
            key: key.to_json(),
            key_digest: digest,
            status,
            failure_kind: failure.map(|f| f.kind.name().to_string()),
            exit_code: failure.and_then(|f: &Failure| f.exit_code),
            duration_ms: u64::try_from(result.duration.as_millis()).unwrap_or(u64::MAX),
            stdout_blob: self.store.put_blob(result.output.stdout.as_bytes())?,
            stderr_blob: self.store.put_blob(result.output.stderr.as_bytes())?,
            captures: captures.0,
            capture_meta: captures.1,
            outputs: BTreeMap::new(),
            patch_blob,
            output_digest: output,
            commits: change.commits,
            created_at: Utc::now(),
        };
        self.store.put_entry(&entry)?;
        let record = IndexEntry {
            key: digest,
            output,
            status,
            failure_kind: entry.failure_kind.clone(),
            finished_at: entry.created_at,
            inputs: stamps,
        };
        let id = format!("{}{}", self.prefix, node.id);
        self.store.append_index([(id.as_str(), &record)], lock)?;
        self.index.nodes.insert(id, record);
        Ok(())
    }
}

/// A node's output digest: its status, stdout, captures, repository change (never
/// times or the whole tree) and, for a map item, the item it worked on; so a
/// dependency that re-ran with the same output leaves its dependents cached.
fn output_digest(
    result: &NodeResult,
    captures: &(BTreeMap<String, Value>, BTreeMap<String, Value>),
    change: &Digest,
    item: Option<String>,
) -> Digest {
    let status = match &result.status {
        NodeStatus::Failed(f) => json!({"failed": f.kind.name()}),
        NodeStatus::Skipped { .. } => json!("skipped"),
        _ => json!("succeeded"),
    };
    digest_of(&(
        status,
        &result.output.stdout,
        &captures.0,
        to_hex(change),
        item,
    ))
}

fn cached(output: OutputTail) -> NodeResult {
    NodeResult {
        status: NodeStatus::Cached,
        duration: std::time::Duration::ZERO,
        cost: Default::default(),
        output,
        warnings: Vec::new(),
    }
}

/// True when a step (or a handler inside it) runs claude.
fn uses_claude(step: &Step) -> bool {
    serde_json::to_string(step).is_ok_and(|s| s.contains("{\"claude\":\""))
}
