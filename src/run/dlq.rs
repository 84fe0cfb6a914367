//! `prodigy dlq list|show|stats|retry|export|clear`.

use std::path::{Path, PathBuf};

use super::print_stdout;
use crate::cli::{DlqArgs, DlqCommand, ExportFormat, LoadArgs};
use crate::dlq::{DlqError, DlqItem, DlqStore};
use crate::error::{Error, ExitCode};
use crate::report::dlq as render;
use crate::workflow::input::Filter;

/// Runs one `dlq` subcommand.
pub fn run(command: DlqCommand) -> Result<ExitCode, Error> {
    match command {
        DlqCommand::List { job, common } => {
            let items = latest(&common, job.as_deref())?;
            print(
                &common,
                || render::list_text(&items),
                || render::list_json(&items),
            )
        }
        DlqCommand::Show { item, job, common } => {
            let items = items(&common, job.as_deref())?;
            let found: Vec<&DlqItem> = items.iter().filter(|i| i.item_id == item).collect();
            match found.as_slice() {
                [one] => print(
                    &common,
                    || render::show_text(one),
                    || render::show_json(one),
                ),
                [] => Err(Error::Usage {
                    message: format!(
                        "no item `{item}` in the dead-letter queue; `prodigy dlq list` shows what is there"
                    ),
                }),
                _ => Err(Error::Usage {
                    message: format!(
                        "item `{item}` is in the DLQ of several jobs; name one with --job"
                    ),
                }),
            }
        }
        DlqCommand::Stats { job, common } => {
            let items = latest(&common, job.as_deref())?;
            let stats = crate::dlq::stats(&items, items_total(&common, job.as_deref())?);
            print(
                &common,
                || render::stats_text(&stats),
                || render::stats_json(&stats),
            )
        }
        DlqCommand::Export {
            job,
            format,
            output,
            common,
        } => {
            let items = items(&common, job.as_deref())?;
            let text = match format {
                ExportFormat::Json => {
                    serde_json::to_string_pretty(&render::export_json(&items)).unwrap_or_default()
                        + "\n"
                }
                ExportFormat::Csv => render::export_csv(&items),
            };
            match output {
                Some(path) => crate::fs::write_atomic(&path, text.as_bytes())
                    .map(|()| ExitCode::Success)
                    .map_err(|source| Error::Write { path, source }),
                None => print_stdout(&text),
            }
        }
        DlqCommand::Clear { job, common } => {
            let root = root(&common);
            let mut removed = 0;
            for (store, _) in stores(&root, job.as_deref())? {
                removed += store.clear(job.as_deref())?;
                print_warnings(&store);
            }
            let text = format!(
                "removed {} from the dead-letter queue\n",
                crate::report::plural(removed, "item")
            );
            print(
                &common,
                || text.clone(),
                || serde_json::json!({"schema_version": 1, "removed": removed}),
            )
        }
        DlqCommand::Retry {
            job,
            max_parallel,
            dry_run,
            filter,
            verbose,
            common,
        } => retry(
            &common,
            &job,
            max_parallel,
            dry_run,
            filter.as_deref(),
            verbose,
        ),
    }
}

/// The repository whose `.prodigy/` the commands read: `--path`, else the main work
/// tree of the current git repository (so every linked worktree shares one DLQ).
fn root(common: &DlqArgs) -> PathBuf {
    match &common.path {
        Some(path) => path.clone(),
        None => crate::config::state_root(
            &std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        ),
    }
}

/// The DLQ stores under `root` (with their workflow names), or only the one holding `job`.
fn stores(root: &Path, job: Option<&str>) -> Result<Vec<(DlqStore, String)>, Error> {
    let mut out = Vec::new();
    let mut known = Vec::new();
    for workflow in DlqStore::workflows(root)? {
        let store = DlqStore::open(root, &workflow);
        let jobs = store.jobs()?;
        known.extend(jobs.iter().map(|j| j.job_id.clone()));
        if job.is_none_or(|j| jobs.iter().any(|info| info.job_id == j)) {
            out.push((store, workflow));
        }
    }
    match job {
        Some(job) if out.is_empty() => Err(DlqError::NoSuchJob {
            job: job.to_string(),
            known,
        }
        .into()),
        _ => Ok(out),
    }
}

/// Every item in the DLQ (of `job`, when given) with only its latest record, streamed.
fn latest(common: &DlqArgs, job: Option<&str>) -> Result<Vec<DlqItem>, Error> {
    let mut items = Vec::new();
    for (store, _) in stores(&root(common), job)? {
        items.extend(store.latest(job)?);
        print_warnings(&store);
    }
    Ok(items)
}

/// Every item in the DLQ (of `job`, when given), printing read warnings.
fn items(common: &DlqArgs, job: Option<&str>) -> Result<Vec<DlqItem>, Error> {
    let mut items = Vec::new();
    for (store, _) in stores(&root(common), job)? {
        items.extend(store.items(job)?);
        print_warnings(&store);
    }
    Ok(items)
}

/// How many map items the selected jobs had, when every one of them recorded it.
fn items_total(common: &DlqArgs, job: Option<&str>) -> Result<Option<usize>, Error> {
    let mut total = Some(0);
    for (store, _) in stores(&root(common), job)? {
        for info in store
            .jobs()?
            .into_iter()
            .filter(|i| job.is_none_or(|j| j == i.job_id))
        {
            total = total.zip(info.items_total).map(|(a, b)| a + b);
        }
    }
    Ok(total)
}

/// Prints what the store noticed while reading (torn or skipped lines).
fn print_warnings(store: &DlqStore) {
    for warning in store.take_warnings() {
        crate::report::eprint(&format!("warning: {warning}\n"));
    }
}

fn print(
    common: &DlqArgs,
    text: impl FnOnce() -> String,
    json: impl FnOnce() -> serde_json::Value,
) -> Result<ExitCode, Error> {
    if common.json {
        print_stdout(&(json().to_string() + "\n"))
    } else {
        print_stdout(&text())
    }
}

/// `dlq retry JOB`: the job's DLQ items run again with the original agent template.
fn retry(
    common: &DlqArgs,
    job: &str,
    max_parallel: Option<u32>,
    dry_run: bool,
    filter: Option<&str>,
    verbose: bool,
) -> Result<ExitCode, Error> {
    let root = root(common);
    let Some((store, _)) = stores(&root, Some(job))?.into_iter().next() else {
        return Err(DlqError::NoSuchJob {
            job: job.to_string(),
            known: Vec::new(),
        }
        .into());
    };
    let info = store
        .jobs()?
        .into_iter()
        .find(|j| j.job_id == job)
        .ok_or_else(|| DlqError::NoSuchJob {
            job: job.to_string(),
            known: Vec::new(),
        })?;
    let filter = filter
        .map(|f| {
            Filter::parse(f).map_err(|e| Error::Usage {
                message: format!("--filter: {} (at character {})", e.message, e.offset + 1),
            })
        })
        .transpose()?;
    let items: Vec<DlqItem> = store
        .latest(Some(job))?
        .into_iter()
        .filter(|i| filter.as_ref().is_none_or(|f| f.matches(&i.item)))
        .collect();
    if dry_run || items.is_empty() {
        let mut text = format!(
            "{} of job {job} would be retried\n",
            crate::report::plural(items.len(), "item")
        );
        text.push_str(&render::list_text(&items));
        return print(common, || text, || render::list_json(&items));
    }
    let (_, workflow) = super::load(
        &info.workflow_path,
        &LoadArgs {
            allow_unknown: true,
        },
    )?;
    let retry: Vec<(usize, serde_json::Value)> = items
        .iter()
        .map(|i| (i.item_index, i.item.clone()))
        .collect();
    // Run the items as the job did: its arguments, parameters, profile and setup captures.
    let context = info.context.clone().unwrap_or_default();
    let args: Vec<String> = serde_json::from_value(context["args"].clone()).unwrap_or_default();
    let params = serde_json::from_value(context["params"].clone()).unwrap_or_default();
    let profile: Option<String> =
        serde_json::from_value(context["profile"].clone()).unwrap_or_default();
    super::job::execute(super::job::JobRequest {
        workflow: &workflow,
        workflow_path: &info.workflow_path,
        root: &info.root,
        job_id: job.to_string(),
        retry: Some(retry),
        jobs: max_parallel.map(|n| n as usize),
        keep_going: true,
        verbose,
        args: &args,
        params: &params,
        profile: profile.as_deref(),
        summary_json: None,
        events: None,
        setup_vars: context.get("setup_vars"),
        cache: super::job::CacheRequest {
            mode: crate::exec::memo::CacheMode::Record,
            explain: false,
            wait: true,
            targets: None,
            replay_output: false,
        },
    })
}
