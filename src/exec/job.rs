//! One run of a workflow ("a job"): resolves the declared environment and arguments,
//! runs setup, reads the map's items (a file or a command, after setup), then runs the
//! map and reduce; a standard workflow is one plan.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::cancel::CancelToken;
use super::event::Event;
use super::memo::Memo;
use super::outcome::{Failure, FailureKind};
use super::process::{self, CommandSpec, Program, Termination};
use super::scheduler::{self, Settings, StopReason};
use super::tally::MapTally;
use super::vars::Vars;
use crate::graph::{self, PlanError, PlanOptions, Stage};
use crate::workflow::input::parse_root;
use crate::workflow::schema::{Body, EnvValue, MapReduce, Parallelism, Secret, Timeout, Workflow};

/// How long a map input command may run.
pub const INPUT_COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

/// Settings of a job from the command line and the environment.
pub struct JobOptions<'a> {
    /// The workflow root.
    pub root: &'a Path,
    /// `-j`: overrides `max_parallel`.
    pub jobs: Option<usize>,
    /// `--keep-going`.
    pub keep_going: bool,
    /// The claude CLI (`PRODIGY_CLAUDE_BIN`).
    pub claude_bin: &'a str,
    /// `-v`: stream output.
    pub stream_output: bool,
    /// `--args`: `$ARG`, `$1`..`$9`.
    pub args: &'a [String],
    /// `--param K=V`.
    pub params: &'a BTreeMap<String, Value>,
    /// `--profile`.
    pub profile: Option<&'a str>,
    /// The OS environment, read once by `config`.
    pub os_env: Arc<BTreeMap<String, String>>,
    /// The job id.
    pub job_id: &'a str,
    /// TERM -> KILL grace period.
    pub grace: Duration,
    /// `prodigy build TARGET...`: only these nodes and what they need.
    pub targets: Option<&'a [String]>,
    /// Items (as JSON text) in the workflow's DLQ: their nodes run as `dlq` nodes.
    pub dlq_items: &'a std::collections::HashSet<String>,
}

/// Why a job could not run at all (failures of nodes are reported as events instead).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The plan could not be built.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The map's input could not be read.
    #[error("map input: {0}")]
    Input(String),
    /// A declared env value could not be computed.
    #[error("env `{name}`: {message}")]
    Env {
        /// The variable.
        name: String,
        /// What went wrong.
        message: String,
    },
    /// `max_parallel` names a variable that is not a positive number.
    #[error("max_parallel `{0}` is not a positive number")]
    Parallelism(String),
}

/// What a job did.
#[derive(Debug, Default)]
pub struct JobOutcome {
    /// Why it stopped early.
    pub stopped: Option<StopReason>,
    /// Map results.
    pub map: MapTally,
    /// Map items that ran again as `dlq` nodes (items of the DLQ found in the input).
    pub dlq_nodes: usize,
}

/// A job ready to run: its variables, environment, parallelism and secret values.
pub struct Prepared {
    vars: Vars,
    env: Arc<Vec<(String, String)>>,
    jobs: usize,
    /// The values of every secret, for masking.
    pub secrets: Vec<String>,
}

impl Prepared {
    /// Adds variables (setup's captures, when `dlq retry` runs items without setup).
    pub fn set_vars(&mut self, json: &Value) {
        self.vars.set_all(json);
    }
}

/// Resolves the declared environment, arguments and parallelism of `workflow`.
pub fn prepare(
    workflow: &Workflow,
    options: &JobOptions,
    cancel: &CancelToken,
) -> Result<Prepared, JobError> {
    let mut vars = Vars::new(Arc::clone(&options.os_env));
    set_arguments(&mut vars, workflow, options);
    let env = resolve_env(workflow, options, &mut vars, cancel)?;
    let secrets = env
        .iter()
        .filter(|(name, _)| {
            workflow.secrets.contains_key(name.as_str())
                || matches!(
                    workflow.env.get(name.as_str()),
                    Some(EnvValue::Secret { .. })
                )
        })
        .map(|(_, value)| value.clone())
        .collect();
    let jobs = match (&workflow.body, options.jobs) {
        (_, Some(j)) => j,
        (Body::MapReduce(mr), None) => parallelism(&mr.map.max_parallel, &vars)?,
        (Body::Standard { .. }, None) => {
            std::thread::available_parallelism().map_or(4, |n| n.get())
        }
    };
    Ok(Prepared {
        vars,
        env: Arc::new(env),
        jobs,
        secrets,
    })
}

/// Runs a prepared job, sending every event to `sink`; `memo` replays and records
/// cached results.
pub fn run(
    workflow: &Workflow,
    prepared: Prepared,
    options: &JobOptions,
    cancel: &CancelToken,
    mut memo: Option<&mut Memo>,
    sink: &mut dyn FnMut(Event),
) -> Result<JobOutcome, JobError> {
    let settings = settings(workflow, &prepared, options, cancel);
    let vars = prepared.vars;
    let plan_options = |stage| PlanOptions {
        root: options.root,
        profile: options.profile,
        stage,
        os_env: &options.os_env,
    };
    let Body::MapReduce(mr) = &workflow.body else {
        // A standard workflow runs `max_iterations` times (legacy `config.max_iterations`),
        // each iteration seeing the captures of the one before; a failure ends the loop.
        let plan = graph::plan(workflow.clone(), plan_options(Stage::Whole))?;
        let mut vars = vars;
        let mut outcome = JobOutcome::default();
        for iteration in 1..=workflow.max_iterations.max(1) {
            vars.set("workflow.iteration", json!(iteration));
            if let Some(memo) = memo.as_deref_mut() {
                memo.set_iteration(iteration);
            }
            let report = scheduler::execute(&plan, &settings, vars, &[], memo.as_deref_mut(), sink);
            outcome = JobOutcome {
                stopped: report.stopped,
                map: report.map,
                dlq_nodes: 0,
            };
            vars = report.vars;
            if outcome.stopped.is_some() {
                break;
            }
        }
        return Ok(outcome);
    };
    let setup_timeout = mr.setup.as_ref().and_then(|s| s.timeout.as_ref());
    let setup_plan = graph::plan(workflow.clone(), plan_options(Stage::Setup))?;
    // Every map item and reduce step needs all of setup: only targets that are all
    // setup steps build part of it.
    let setup_targets = settings
        .targets
        .filter(|targets| targets.iter().all(|t| setup_plan.find(t).is_some()));
    let setup_settings = Settings {
        deadline: resolve_timeout(setup_timeout, &vars)?.map(|t| Instant::now() + t),
        targets: setup_targets,
        ..settings.clone()
    };
    let map_settings = Settings {
        agent_timeout: resolve_timeout(mr.map.agent_timeout.as_ref(), &vars)?,
        ..settings
    };
    let setup = scheduler::execute(
        &setup_plan,
        &setup_settings,
        vars,
        &[],
        memo.as_deref_mut(),
        sink,
    );
    if setup.stopped.is_some() {
        return Ok(JobOutcome {
            stopped: setup.stopped,
            map: setup.map,
            dlq_nodes: 0,
        });
    }
    sink(Event::SetupFinished {
        vars: setup.vars.to_json(),
    });
    let done: Vec<String> = setup_plan.nodes().map(|(_, n)| n.id.clone()).collect();
    let items = load_items(mr, options, &setup.vars, cancel)?;
    let mut plan = graph::plan(workflow.clone(), plan_options(Stage::WithItems(&items)))?;
    let dlq_nodes = plan.mark_dlq(|item| options.dlq_items.contains(&item.to_string()));
    let report = scheduler::execute(&plan, &map_settings, setup.vars, &done, memo, sink);
    Ok(JobOutcome {
        stopped: report.stopped,
        map: report.map,
        dlq_nodes,
    })
}

/// The scheduler settings of a job; phases adjust time limits.
fn settings<'a>(
    workflow: &'a Workflow,
    prepared: &Prepared,
    options: &'a JobOptions,
    cancel: &'a CancelToken,
) -> Settings<'a> {
    let body = serde_json::to_string(&workflow.body).unwrap_or_default();
    Settings {
        jobs: prepared.jobs,
        keep_going: options.keep_going,
        policy: &workflow.error_policy,
        root: options.root,
        claude_bin: options.claude_bin,
        grace: options.grace,
        job_id: options.job_id,
        cancel,
        stream_output: options.stream_output,
        env: Arc::clone(&prepared.env),
        git_base: super::git_context::is_used(&body)
            .then(|| super::git_context::head(options.root)),
        deadline: None,
        agent_timeout: None,
        keep_results: body.contains("map.results"),
        targets: options.targets,
    }
}

/// `$VAR` as `${VAR}`, so settings written either way render as one variable.
fn braced(text: &str) -> String {
    match text.strip_prefix('$') {
        Some(name) if !name.starts_with('{') => format!("${{{name}}}"),
        _ => text.to_string(),
    }
}

/// A phase or agent time limit, resolving `${VAR}` forms.
fn resolve_timeout(timeout: Option<&Timeout>, vars: &Vars) -> Result<Option<Duration>, JobError> {
    match timeout {
        None => Ok(None),
        Some(Timeout::Fixed(d)) => Ok(Some(d.to_std())),
        Some(Timeout::Variable(text)) => {
            let text = braced(text);
            let rendered = vars
                .render(&text)
                .map_err(|e| JobError::Input(e.to_string()))?;
            crate::workflow::duration::parse(&rendered, crate::workflow::duration::Unit::Seconds)
                .map(|d| Some(d.to_std()))
                .ok_or_else(|| {
                    JobError::Input(format!(
                        "timeout `{text}` is `{rendered}`, which is not a duration"
                    ))
                })
        }
    }
}

/// Runs only the given map items of a map-reduce workflow (`dlq retry`): no setup, no
/// reduce, the agent template per item with the job's env.
pub fn retry(
    workflow: &Workflow,
    prepared: Prepared,
    options: &JobOptions,
    items: &[(usize, Value)],
    cancel: &CancelToken,
    memo: Option<&mut Memo>,
    sink: &mut dyn FnMut(Event),
) -> Result<JobOutcome, JobError> {
    let Body::MapReduce(mr) = &workflow.body else {
        return Err(JobError::Input(
            "only map-reduce workflows have DLQ items to retry".into(),
        ));
    };
    let settings = Settings {
        keep_going: true,
        git_base: None,
        agent_timeout: resolve_timeout(mr.map.agent_timeout.as_ref(), &prepared.vars)?,
        keep_results: false,
        ..settings(workflow, &prepared, options, cancel)
    };
    let plan_options = PlanOptions {
        root: options.root,
        profile: options.profile,
        stage: Stage::Retry(items),
        os_env: &options.os_env,
    };
    let plan = graph::plan(workflow.clone(), plan_options)?;
    let mut memo = memo;
    if let Some(memo) = memo.as_deref_mut() {
        // The items need setup as in the job, though setup does not run again: they are
        // keyed with its last recorded output, so a build after this sees them.
        let setup = graph::plan(
            workflow.clone(),
            PlanOptions {
                stage: Stage::Setup,
                ..plan_options
            },
        )?;
        let last = setup.nodes().last().map(|(_, n)| n.id.clone());
        memo.items_need(last.into_iter().collect());
    }
    let report = scheduler::execute(&plan, &settings, prepared.vars, &[], memo, sink);
    Ok(JobOutcome {
        stopped: report.stopped,
        map: report.map,
        dlq_nodes: 0,
    })
}

/// `$ARG`, `$1`..`$9`, `--param` values and `${workflow.name}`.
fn set_arguments(vars: &mut Vars, workflow: &Workflow, options: &JobOptions) {
    if let Some(first) = options.args.first() {
        vars.set("ARG", Value::String(first.clone()));
    }
    for (i, arg) in options.args.iter().take(9).enumerate() {
        vars.set(&(i + 1).to_string(), Value::String(arg.clone()));
    }
    for (name, value) in options.params {
        vars.set(name, value.clone());
    }
    vars.set(
        "workflow",
        json!({"name": workflow.name, "job_id": options.job_id}),
    );
}

/// Computes the declared environment: env files, `env`, the profile, secrets and
/// passthrough variables. Also sets `${env.X}` for each.
fn resolve_env(
    workflow: &Workflow,
    options: &JobOptions,
    vars: &mut Vars,
    cancel: &CancelToken,
) -> Result<Vec<(String, String)>, JobError> {
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    for file in &workflow.env_files {
        let path = options.root.join(file);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        env.extend(parse_env_file(&text));
    }
    let mut declared: Vec<(&String, &EnvValue)> = workflow.env.iter().collect();
    if let Some(profile) = options.profile.and_then(|p| workflow.profiles.get(p)) {
        declared.extend(profile.env.iter());
    }
    // Values may use `${env.X}` of other declared values in any order: resolve in
    // passes until every value resolves or a pass makes no progress.
    let mut pending = declared;
    while !pending.is_empty() {
        let mut unresolved = Vec::new();
        let mut last_error = None;
        for (name, value) in &pending {
            vars.set("env", json!(env));
            match env_value(name, value, options, vars, cancel) {
                Ok(text) => {
                    env.insert((*name).clone(), text);
                }
                Err(e) => {
                    last_error = Some(e);
                    unresolved.push((*name, *value));
                }
            }
        }
        if unresolved.len() == pending.len() {
            return Err(
                last_error.unwrap_or_else(|| JobError::Input("env could not be resolved".into()))
            );
        }
        pending = unresolved;
    }
    for (name, secret) in &workflow.secrets {
        vars.set("env", json!(env));
        let text = match secret {
            Secret::Value(v) => render_env(name, &v.replace("${env:", "${env."), vars)?,
            Secret::Provider { provider, key, .. } if provider == "env" => {
                options.os_env.get(key).cloned().unwrap_or_default()
            }
            Secret::Provider { provider, key, .. } if provider == "file" => {
                std::fs::read_to_string(options.root.join(key))
                    .map(|t| t.trim_end().to_string())
                    .map_err(|e| JobError::Env {
                        name: name.clone(),
                        message: format!("cannot read secret file `{key}`: {e}"),
                    })?
            }
            Secret::Provider { provider, .. } => {
                return Err(JobError::Env {
                    name: name.clone(),
                    message: format!(
                        "secret provider `{provider}` is not supported; use `env` or `file`"
                    ),
                });
            }
        };
        env.insert(name.clone(), text);
    }
    for name in &workflow.env_passthrough {
        if let Some(value) = options.os_env.get(name) {
            env.insert(name.clone(), value.clone());
        }
    }
    vars.set("env", json!(env));
    Ok(env.into_iter().collect())
}

fn render_env(name: &str, text: &str, vars: &Vars) -> Result<String, JobError> {
    vars.render(text).map_err(|e| JobError::Env {
        name: name.to_string(),
        message: e.to_string(),
    })
}

fn env_value(
    name: &str,
    value: &EnvValue,
    options: &JobOptions,
    vars: &Vars,
    cancel: &CancelToken,
) -> Result<String, JobError> {
    match value {
        EnvValue::Static(text) => render_env(name, text, vars),
        EnvValue::Secret { value, .. } => render_env(name, value, vars),
        EnvValue::Conditional {
            condition,
            when_true,
            when_false,
        } => {
            let condition = render_env(name, condition, vars)?;
            let chosen = super::condition::evaluate(&condition).map_err(|e| JobError::Env {
                name: name.into(),
                message: e.to_string(),
            })?;
            render_env(name, if chosen { when_true } else { when_false }, vars)
        }
        EnvValue::Command { command, .. } => {
            let command = render_env(name, command, vars)?;
            let out = run_command(&command, options.root, cancel).map_err(|f| JobError::Env {
                name: name.into(),
                message: f.message,
            })?;
            Ok(out.trim_end().to_string())
        }
    }
}

/// `KEY=VALUE` lines; `#` comments and blank lines are skipped; quotes are removed.
fn parse_env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("export ").unwrap_or(l).split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_string(),
                v.trim().trim_matches(|c| c == '"' || c == '\'').to_string(),
            )
        })
        .collect()
}

fn parallelism(p: &Parallelism, vars: &Vars) -> Result<usize, JobError> {
    match p {
        Parallelism::Count(n) => Ok(*n as usize),
        Parallelism::Variable(text) => {
            let text = braced(text);
            let rendered = vars
                .render(&text)
                .map_err(|_| JobError::Parallelism(text.clone()))?;
            rendered
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or(JobError::Parallelism(rendered))
        }
    }
}

/// Runs a helper command (map input, env command) in the root, with a time limit.
fn run_command(command: &str, root: &Path, cancel: &CancelToken) -> Result<String, Failure> {
    let spec = CommandSpec {
        program: Program::Shell(command.to_string()),
        cwd: root.to_path_buf(),
        env: Vec::new(),
        clear_env: false,
        timeout: Some(INPUT_COMMAND_TIMEOUT),
        grace: Duration::from_secs(2),
        max_output: 256 << 20,
    };
    let out = process::run(&spec, cancel, None)
        .map_err(|e| Failure::new(FailureKind::CommandNotFound, e.to_string()))?;
    match out.termination {
        Termination::Exited(0) => Ok(out.stdout),
        other => Err(Failure::new(
            FailureKind::CommandFailed,
            format!(
                "`{command}` failed ({other:?}): {}",
                super::outcome::tail(&out.stderr, 3)
            ),
        )),
    }
}

/// Reads the map's items after setup: the input file, or the input command's output.
fn load_items(
    mr: &MapReduce,
    options: &JobOptions,
    vars: &Vars,
    cancel: &CancelToken,
) -> Result<Vec<Value>, JobError> {
    let input = vars
        .render(mr.map.input.trim())
        .map_err(|e| JobError::Input(e.to_string()))?;
    let text = if graph::items::is_file_input(options.root, &input) {
        std::fs::read_to_string(options.root.join(&input))
            .map_err(|e| JobError::Input(format!("cannot read `{input}`: {e}")))?
    } else {
        run_command(&input, options.root, cancel).map_err(|f| JobError::Input(f.message))?
    };
    let root = parse_root(&text).map_err(|e| JobError::Input(format!("`{input}`: {e}")))?;
    let pipeline = graph::items::pipeline(&mr.map).map_err(|e| JobError::Input(e.to_string()))?;
    Ok(pipeline.apply(root))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_files_accept_comments_quotes_and_export() {
        let parsed = parse_env_file("# c\nA=1\nexport B=\"two words\"\n\nC='x'\nbad line\n");
        assert_eq!(
            parsed,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "x".into())
            ]
        );
    }
}
