//! `prodigy build`, `prodigy resume`, and what `run` shares with them: starting a job
//! from the command line's settings, with its journal under `.prodigy/jobs/`.

use std::path::{Path, PathBuf};

use super::job::{CacheRequest, JobRequest};
use super::{load, params, print_stdout};
use crate::cli::{BuildArgs, JobArgs, PlanFormat, ResumeArgs};
use crate::error::{Error, ExitCode};
use crate::exec::memo::{CacheMode, CacheStatus, Memo, MemoSetup};
use crate::graph::{PlanOptions, Stage};
use crate::jobs::{JobRecord, JobStatus, Journal};
use crate::report;
use crate::workflow::Workflow;

/// The workflow file `build` uses when none is named.
pub const DEFAULT_WORKFLOW: &str = "prodigy.yml";

/// What starts a job: `run`, `build` or `resume`.
pub struct Start<'a> {
    /// The workflow file.
    pub workflow_path: &'a Path,
    /// Its settings.
    pub job: &'a JobArgs,
    /// `-n`.
    pub max_iterations: Option<u32>,
    /// Record (`run`) or build.
    pub mode: CacheMode,
    /// `--explain`.
    pub explain: bool,
    /// `--no-wait` turns this off.
    pub wait: bool,
    /// `TARGET...`.
    pub targets: Vec<String>,
    /// The job id to continue (`resume`), or `None` for a new job.
    pub job_id: Option<String>,
    /// `--replay-output`.
    pub replay_output: bool,
}

/// Loads the workflow and runs the job, keeping its journal.
pub fn start(start: Start) -> Result<ExitCode, Error> {
    let (_, mut workflow) = load(start.workflow_path, &start.job.load)?;
    if let Some(n) = start.max_iterations {
        workflow.max_iterations = n;
    }
    let root = crate::config::workflow_root(start.workflow_path, start.job.path.as_deref());
    let params = params(start.job)?;
    check_profile(&workflow, start.job.profile.as_deref())?;
    let targets = (!start.targets.is_empty()).then_some(start.targets.as_slice());
    if let Some(targets) = targets {
        check_targets(&workflow, start.workflow_path, start.job, &root, targets)?;
    }
    let job_id = start
        .job_id
        .clone()
        .unwrap_or_else(|| crate::config::job_id(&workflow.name));
    let journal = Journal::open(&crate::config::state_root(&root));
    let mut record = JobRecord::new(
        &job_id,
        start.mode,
        start.workflow_path,
        &root,
        start.job,
        &start.targets,
        start.max_iterations,
    );
    journal.save(&record)?;
    journal.prune()?;
    let code = super::job::execute(JobRequest {
        workflow: &workflow,
        workflow_path: start.workflow_path,
        root: &root,
        job_id: job_id.clone(),
        retry: None,
        jobs: start.job.jobs.map(|j| j as usize),
        keep_going: start.job.keep_going,
        verbose: start.job.verbose,
        args: &start.job.args,
        params: &params,
        profile: start.job.profile.as_deref(),
        summary_json: start.job.summary_json.as_deref(),
        events: start.job.events.as_deref(),
        setup_vars: None,
        cache: CacheRequest {
            mode: start.mode,
            explain: start.explain,
            wait: start.wait,
            targets,
            replay_output: start.replay_output,
        },
    });
    record.status = match &code {
        Ok(ExitCode::Interrupted) => JobStatus::Interrupted,
        Ok(ExitCode::Success) => JobStatus::Succeeded,
        _ => JobStatus::Failed,
    };
    record.updated_at = chrono::Utc::now();
    journal.save(&record)?;
    code
}

/// `prodigy build [WORKFLOW] [TARGET...]`.
pub fn build(args: &BuildArgs) -> Result<ExitCode, Error> {
    let (workflow_path, targets) = split_positional(&args.positional);
    if workflow_path == Path::new(DEFAULT_WORKFLOW) && !workflow_path.exists() {
        return Err(Error::Usage {
            message: format!(
                "no `{DEFAULT_WORKFLOW}` in this directory: name the workflow to build \
                 (`prodigy build flow.yml [TARGET...]`), or create `{DEFAULT_WORKFLOW}`"
            ),
        });
    }
    if args.check || args.dry_run.is_some() {
        return decide(args, &workflow_path, &targets);
    }
    start(Start {
        workflow_path: &workflow_path,
        job: &args.job,
        max_iterations: None,
        mode: CacheMode::Build { force: args.force },
        explain: args.explain,
        wait: !args.no_wait,
        targets,
        job_id: None,
        replay_output: args.replay_output,
    })
}

/// `prodigy resume [JOB]`: a build of the job's workflow with its settings; what it
/// completed is replayed from the cache.
pub fn resume(args: &ResumeArgs) -> Result<ExitCode, Error> {
    let state_root =
        crate::config::state_root(&args.path.clone().unwrap_or_else(|| PathBuf::from(".")));
    let journal = Journal::open(&state_root);
    let record = match &args.job {
        Some(id) => journal.load(id)?,
        None => journal.newest_unfinished()?.ok_or_else(|| Error::Usage {
            message: "no interrupted job to resume (every recorded job finished); \
                      `prodigy build` runs what is out of date"
                .to_string(),
        })?,
    };
    let mut job = record.job_args();
    job.verbose |= args.verbose;
    if args.jobs.is_some() {
        job.jobs = args.jobs;
    }
    report::eprint(&format!(
        "Resuming job {} of `{}`\n",
        record.job_id,
        record.workflow_path.display()
    ));
    start(Start {
        workflow_path: &record.workflow_path,
        job: &job,
        max_iterations: record.max_iterations,
        mode: CacheMode::Build { force: false },
        explain: false,
        wait: !args.no_wait,
        targets: record.targets.clone(),
        job_id: Some(record.job_id.clone()),
        replay_output: false,
    })
}

/// `[WORKFLOW] [TARGET...]`: the first word is the workflow when it names a file or
/// ends in `.yml`/`.yaml`; otherwise every word is a target of `prodigy.yml`.
fn split_positional(words: &[String]) -> (PathBuf, Vec<String>) {
    match words.split_first() {
        Some((first, rest))
            if Path::new(first).is_file()
                || first.ends_with(".yml")
                || first.ends_with(".yaml") =>
        {
            (PathBuf::from(first), rest.to_vec())
        }
        _ => (PathBuf::from(DEFAULT_WORKFLOW), words.to_vec()),
    }
}

/// `--dry-run` and `--check`: each node's cache status; runs and writes nothing.
fn decide(args: &BuildArgs, workflow_path: &Path, targets: &[String]) -> Result<ExitCode, Error> {
    let (_, workflow) = load(workflow_path, &args.job.load)?;
    let root = crate::config::workflow_root(workflow_path, args.job.path.as_deref());
    let params = params(&args.job)?;
    let cx = KeyContext {
        args: &args.job.args,
        params: &params,
        profile: args.job.profile.as_deref(),
    };
    let (plan, states) = statuses(workflow, workflow_path, &root, cx)?;
    let needed = plan.needed_by(targets);
    let rows: Vec<(&crate::graph::PlanNode, &CacheStatus)> = plan
        .nodes()
        .zip(&states)
        .filter(|((index, _), _)| targets.is_empty() || needed.contains(index))
        .map(|((_, node), status)| (node, status))
        .collect();
    let pending = rows.iter().any(|(_, s)| **s != CacheStatus::Cached);
    if args.check {
        return Ok(if pending {
            ExitCode::WorkflowFailed
        } else {
            ExitCode::Success
        });
    }
    let text = match args.dry_run {
        Some(PlanFormat::Json) => report::plan::build_json(&plan, &rows).to_string() + "\n",
        _ => report::plan::build_text(&plan, &rows),
    };
    print_stdout(&text)
}

/// What a job's keys depend on besides the workflow: its arguments and profile.
pub struct KeyContext<'a> {
    /// `--args`.
    pub args: &'a [String],
    /// `--param` values.
    pub params: &'a std::collections::BTreeMap<String, serde_json::Value>,
    /// `--profile`.
    pub profile: Option<&'a str>,
}

/// Compiles the workflow and decides every node's cache status, read-only.
pub fn statuses(
    workflow: Workflow,
    workflow_path: &Path,
    root: &Path,
    cx: KeyContext,
) -> Result<(crate::graph::Plan, Vec<CacheStatus>), Error> {
    let env = crate::config::Env::read();
    let state_root = crate::config::state_root(root);
    let setup = MemoSetup {
        root,
        state_root: &state_root,
        workflow: &workflow,
        workflow_file: relative(workflow_path, root),
        profile: cx.profile,
        os_env: &env.os_env,
        args: cx.args,
        params: cx.params,
        claude_bin: &env.claude_bin,
        mode: CacheMode::Build { force: false },
    };
    let mut memo = Memo::read_only(setup)?;
    let options = PlanOptions {
        root,
        profile: cx.profile,
        stage: Stage::Whole,
        os_env: &env.os_env,
    };
    let mut plan = crate::graph::plan(workflow.clone(), options)?;
    if matches!(workflow.body, crate::workflow::schema::Body::MapReduce(_)) {
        let items = super::job::open_items(root, &workflow)?;
        let texts: std::collections::HashSet<String> =
            items.iter().map(|i| i.item.to_string()).collect();
        plan.mark_dlq(|item| texts.contains(&item.to_string()));
    }
    let states = memo.decide_plan(&plan);
    for warning in memo.take_warnings() {
        report::eprint(&format!("warning: {warning}\n"));
    }
    Ok((plan, states))
}

/// `path` relative to `root`, when it is inside it.
pub fn relative(path: &Path, root: &Path) -> Option<PathBuf> {
    let path = std::path::absolute(path).ok()?;
    let root = std::path::absolute(root).ok()?;
    path.strip_prefix(root).ok().map(Path::to_path_buf)
}

/// Unknown targets are a usage error naming the closest node id.
fn check_targets(
    workflow: &Workflow,
    workflow_path: &Path,
    job: &JobArgs,
    root: &Path,
    targets: &[String],
) -> Result<(), Error> {
    let env = crate::config::Env::read();
    let options = PlanOptions {
        root,
        profile: job.profile.as_deref(),
        stage: Stage::Whole,
        os_env: &env.os_env,
    };
    let plan = crate::graph::plan(workflow.clone(), options)?;
    let pending_map = plan
        .nodes()
        .any(|(_, n)| matches!(n.work, crate::graph::Work::Pending { .. }));
    for target in targets {
        if plan.find(target).is_some() || (pending_map && target.starts_with("map/")) {
            continue;
        }
        let ids = plan.nodes().map(|(_, n)| n.id.as_str());
        let hint = crate::suggest::suggest(target, ids)
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_else(|| "; `prodigy graph` lists the node ids".to_string());
        return Err(Error::Usage {
            message: format!("no node `{target}` in `{}`{hint}", workflow_path.display()),
        });
    }
    Ok(())
}

/// A `--profile` the workflow does not define is a usage error with a suggestion.
pub fn check_profile(workflow: &Workflow, profile: Option<&str>) -> Result<(), Error> {
    let Some(profile) = profile else {
        return Ok(());
    };
    if workflow.profiles.contains_key(profile) {
        return Ok(());
    }
    let known: Vec<&str> = workflow.profiles.keys().map(String::as_str).collect();
    let message = match crate::suggest::suggest(profile, known.iter().copied()) {
        _ if known.is_empty() => {
            format!("no profile `{profile}`: the workflow defines no `profiles:`")
        }
        Some(s) => format!("no profile `{profile}` in the workflow; did you mean `{s}`?"),
        None => format!(
            "no profile `{profile}` in the workflow (profiles: {})",
            known.join(", ")
        ),
    };
    Err(Error::Usage { message })
}
