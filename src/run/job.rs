//! Running a job for `prodigy run` and `prodigy dlq retry`: prepares it, owns the
//! reporter and the DLQ recorder (the one thread that consumes events), prints the
//! summary and turns the outcome into an exit code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::cache::CacheError;
use crate::config::Env;
use crate::dlq::DlqStore;
use crate::dlq::recorder::Recorder;
use crate::error::{Error, ExitCode};
use crate::exec::cancel::CancelToken;
use crate::exec::job::{self, JobOptions};
use crate::exec::memo::{CacheMode, Memo, MemoError, MemoSetup};
use crate::exec::scheduler::StopReason;
use crate::exec::signals;
use crate::report::human::{Reporter, Style};
use crate::report::mask::Masker;
use crate::workflow::Workflow;
use crate::workflow::schema::Isolation;

/// Everything one job run needs from the command line.
pub struct JobRequest<'a> {
    /// The workflow.
    pub workflow: &'a Workflow,
    /// Its file (recorded in the DLQ index so `dlq retry` can find it).
    pub workflow_path: &'a Path,
    /// The workflow root.
    pub root: &'a Path,
    /// The job id (a new one, or the retried job's).
    pub job_id: String,
    /// `Some` for `dlq retry`: only these items (with their original positions).
    pub retry: Option<Vec<(usize, serde_json::Value)>>,
    /// `-j` / `--max-parallel`.
    pub jobs: Option<usize>,
    /// `--keep-going`.
    pub keep_going: bool,
    /// `-v`.
    pub verbose: bool,
    /// `--args`.
    pub args: &'a [String],
    /// `--param` / `--param-file`.
    pub params: &'a BTreeMap<String, serde_json::Value>,
    /// `--profile`.
    pub profile: Option<&'a str>,
    /// `--summary-json`.
    pub summary_json: Option<&'a Path>,
    /// `--events`.
    pub events: Option<&'a Path>,
    /// For `dlq retry`: the variables the job's setup captured.
    pub setup_vars: Option<&'a serde_json::Value>,
    /// What the job does with the build cache.
    pub cache: CacheRequest<'a>,
}

/// The build cache settings of a job.
pub struct CacheRequest<'a> {
    /// Record only (`run`), or replay fresh results (`build`).
    pub mode: CacheMode,
    /// `--explain`: say why each node runs.
    pub explain: bool,
    /// Wait for the cache lock (`--no-wait` turns this off).
    pub wait: bool,
    /// `TARGET...`.
    pub targets: Option<&'a [String]>,
    /// `--replay-output`: cached nodes print their stored output.
    pub replay_output: bool,
}

/// Runs the job and returns its exit code.
pub fn execute(request: JobRequest) -> Result<ExitCode, Error> {
    let env = Env::read();
    let workflow = request.workflow;
    let carried = carried_items(&request)?;
    let dlq_items: std::collections::HashSet<String> =
        carried.iter().map(|i| i.item.to_string()).collect();
    let options = JobOptions {
        root: request.root,
        jobs: request.jobs,
        keep_going: request.keep_going,
        claude_bin: &env.claude_bin,
        stream_output: request.verbose,
        args: request.args,
        params: request.params,
        profile: request.profile,
        os_env: std::sync::Arc::clone(&env.os_env),
        job_id: &request.job_id,
        grace: std::time::Duration::from_secs(2),
        targets: request.cache.targets,
        dlq_items: &dlq_items,
    };
    let cancel = CancelToken::new();
    signals::cancel_on_signals(&cancel).map_err(|source| Error::Write {
        path: "<signal handlers>".into(),
        source,
    })?;
    let mut prepared = job::prepare(workflow, &options, &cancel)?;
    if let Some(vars) = request.setup_vars {
        prepared.set_vars(vars);
    }
    let masker = Masker::new(prepared.secrets.clone());
    let events = match request.events {
        Some(path) => Some(std::fs::File::create(path).map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })?),
        None => None,
    };
    let style = Style {
        color: env.color,
        progress: env.progress,
        verbose: request.verbose,
        collection: workflow.error_policy.error_collection,
        replay_output: request.cache.replay_output,
    };
    let mut reporter = Reporter::new(style, masker.clone(), &request.job_id, events);
    let mut recorder = recorder(&request, masker)?;
    if let Some(recorder) = recorder.as_mut() {
        recorder.carry(&carried);
    }
    let mut memo = open_memo(&request, &env)?;
    match &memo {
        Some(memo) => {
            for warning in memo.take_warnings() {
                reporter.line(&format!("warning: {warning}"));
            }
        }
        None => reporter.line(
            "warning: another prodigy process holds the build cache; this run's results \
             are not recorded (a later `prodigy build` runs them again)",
        ),
    }
    if workflow.isolation == Isolation::Worktree {
        reporter.line("warning: worktree isolation is not implemented yet; steps run in place in the workflow root (set `isolation: none` to silence this)");
    }
    let verb = match (&request.retry, request.cache.mode) {
        (Some(_), _) => "Retrying DLQ items of",
        (None, CacheMode::Build { .. }) => "Building",
        (None, CacheMode::Record) => "Running",
    };
    reporter.line(&format!(
        "{verb} workflow `{}` (job {})",
        workflow.name, request.job_id
    ));
    let mut dlq_error = None;
    let mut sink = |event: crate::exec::event::Event| {
        if let Some(recorder) = recorder.as_mut()
            && let Err(e) = recorder.record(&event)
        {
            dlq_error.get_or_insert(e);
        }
        reporter.handle(event);
    };
    let outcome = match &request.retry {
        Some(items) => job::retry(
            workflow,
            prepared,
            &options,
            items,
            &cancel,
            memo.as_mut(),
            &mut sink,
        )?,
        None => job::run(
            workflow,
            prepared,
            &options,
            &cancel,
            memo.as_mut(),
            &mut sink,
        )?,
    };
    if let Some(memo) = memo.as_mut() {
        if let Err(e) = memo.finish(&request.job_id) {
            reporter.line(&format!(
                "warning: the build cache could not be updated: {e}"
            ));
        }
        for note in memo.notes.iter().chain(&memo.take_warnings()) {
            reporter.line(&format!("warning: {note}"));
        }
    }
    let missing = dlq_items.len().saturating_sub(outcome.dlq_nodes);
    if outcome.stopped.is_none() && missing > 0 {
        reporter.line(&format!(
            "note: {} in the DLQ no longer in the map's input; `prodigy dlq list` shows \
             them, `prodigy dlq retry JOB` runs them, `prodigy dlq clear` drops them",
            crate::report::plural(missing, "item")
        ));
    }
    if request.retry.is_none()
        && let Some(recorder) = recorder.as_ref()
        && let Err(e) = recorder.record_total(outcome.map.planned)
    {
        dlq_error.get_or_insert(e);
    }
    if let Some(e) = dlq_error {
        reporter.line(&format!(
            "error: the dead-letter queue could not be written: {e}"
        ));
    }
    let (status, code) = verdict(&outcome, &reporter.records);
    let summary = reporter.finish(&workflow.name, status);
    reporter.line(&summary.line());
    for line in [summary.errors_line(), summary.cost_line()]
        .into_iter()
        .flatten()
    {
        reporter.line(&line);
    }
    if outcome.map.failed > 0 {
        reporter.line(&format!(
            "{} kept in the dead-letter queue: `prodigy dlq list {}`, `prodigy dlq retry {}`",
            crate::report::plural(outcome.map.failed, "failed item"),
            request.job_id,
            request.job_id
        ));
    }
    if let Some(path) = request.summary_json {
        let text = serde_json::to_string_pretty(&summary).unwrap_or_default() + "\n";
        crate::fs::write_atomic(path, text.as_bytes()).map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })?;
    }
    Ok(code)
}

/// The items in the workflow's DLQ that a build runs again as `dlq` nodes (none for
/// `run` and `dlq retry`, which run what they are given).
fn carried_items(request: &JobRequest) -> Result<Vec<crate::dlq::DlqItem>, Error> {
    let is_map = matches!(
        request.workflow.body,
        crate::workflow::schema::Body::MapReduce(_)
    );
    if request.cache.mode == CacheMode::Record || request.retry.is_some() || !is_map {
        return Ok(Vec::new());
    }
    open_items(request.root, request.workflow)
}

/// The items in the DLQ of `workflow` now (their latest records).
pub fn open_items(root: &Path, workflow: &Workflow) -> Result<Vec<crate::dlq::DlqItem>, Error> {
    let store = DlqStore::open(&crate::config::state_root(root), &workflow.name);
    Ok(store.latest(None)?)
}

/// Opens the build cache for the job. A build waits for another process's lock, with
/// a message (or fails with `--no-wait`); `run` and `dlq retry`, which only record,
/// run without the cache instead (`None`), so two runs in one repository stay parallel.
fn open_memo(request: &JobRequest, env: &Env) -> Result<Option<Memo>, Error> {
    let state_root = crate::config::state_root(request.root);
    let workflow_file = super::build::relative(request.workflow_path, request.root);
    let setup = MemoSetup {
        root: request.root,
        state_root: &state_root,
        workflow: request.workflow,
        workflow_file,
        profile: request.profile,
        os_env: &env.os_env,
        args: request.args,
        params: request.params,
        claude_bin: &env.claude_bin,
        mode: request.cache.mode,
    };
    let mut on_wait =
        |pid: Option<u32>| crate::report::eprint(&crate::report::cache::waiting_text(pid));
    let record_only = request.cache.mode == CacheMode::Record;
    let mut memo = match Memo::open(setup, request.cache.wait && !record_only, &mut on_wait) {
        Err(MemoError::Cache(CacheError::Locked { .. })) if record_only => return Ok(None),
        opened => opened?,
    };
    if request.cache.explain {
        memo.explain_reasons();
    }
    if request.cache.replay_output {
        memo.replay_output();
    }
    Ok(Some(memo))
}

/// The job's status word and exit code: interrupted (130); a failed step or a stop
/// (1); finished with failed map items (3); success (0).
fn verdict(
    outcome: &crate::exec::job::JobOutcome,
    records: &[crate::report::summary::NodeRecord],
) -> (&'static str, ExitCode) {
    let failed_steps = records
        .iter()
        .any(|r| r.status == "failed" && !r.kind.is_item());
    match (&outcome.stopped, failed_steps, outcome.map.failed) {
        (Some(StopReason::Interrupted), _, _) => ("interrupted", ExitCode::Interrupted),
        (Some(_), _, _) | (None, true, _) => ("failed", ExitCode::WorkflowFailed),
        (None, false, n) if n > 0 => ("items_failed", ExitCode::ItemsInDlq),
        _ => ("succeeded", ExitCode::Success),
    }
}

/// The DLQ recorder of a map-reduce job (standard workflows have no items).
fn recorder(request: &JobRequest, masker: Masker) -> Result<Option<Recorder>, Error> {
    if !matches!(
        request.workflow.body,
        crate::workflow::schema::Body::MapReduce(_)
    ) {
        return Ok(None);
    }
    let store = DlqStore::open(
        &crate::config::state_root(request.root),
        &request.workflow.name,
    );
    let now = chrono::Utc::now();
    let workflow_path: PathBuf = std::path::absolute(request.workflow_path)
        .unwrap_or_else(|_| request.workflow_path.to_path_buf());
    let info = crate::dlq::JobInfo {
        job_id: request.job_id.clone(),
        workflow_path,
        root: request.root.to_path_buf(),
        created_at: now,
        updated_at: now,
        items_total: None,
        context: Some(serde_json::json!({
            "args": request.args,
            "params": request.params,
            "profile": request.profile,
        })),
    };
    Ok(Some(Recorder::new(store, info, masker)?))
}
