//! The command line as the user typed it (clap derive types only).
//!
//! Nothing below `run.rs` sees these types: they are turned into validated settings there.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Run YAML workflows of shell and AI-agent steps like a build tool.
#[derive(Debug, Parser)]
#[command(name = "prodigy", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check workflow files and report every problem at once (exit 0 valid, 2 invalid).
    Validate(ValidateArgs),
    /// Show the compiled DAG of a workflow.
    Graph(GraphArgs),
    /// Run a workflow (`--dry-run` prints the plan and runs nothing).
    Run(RunArgs),
    /// Build a workflow incrementally: run only the nodes whose inputs changed.
    Build(BuildArgs),
    /// Continue an interrupted `run` or `build`: completed nodes are cache hits.
    Resume(ResumeArgs),
    /// Inspect and trim the build cache.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Print the JSON Schema of the workflow format.
    Schema,
    /// Inspect, retry, export and clear the dead-letter queue of failed map items.
    #[command(subcommand)]
    Dlq(DlqCommand),
}

/// `prodigy dlq ...`.
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List the items in the DLQ (of one job, or of every job).
    List {
        /// Only this job.
        job: Option<String>,
        /// Shared options.
        #[command(flatten)]
        common: DlqArgs,
    },
    /// Show one item with its whole failure history.
    Show {
        /// The item id (`item_3`, or the value of the map's `item_id` field).
        item: String,
        /// The job, when several have this item.
        #[arg(long)]
        job: Option<String>,
        /// Shared options.
        #[command(flatten)]
        common: DlqArgs,
    },
    /// Counts by error kind, the most common errors, failure patterns and what to do.
    Stats {
        /// Only this job.
        job: Option<String>,
        /// Shared options.
        #[command(flatten)]
        common: DlqArgs,
    },
    /// Run a job's DLQ items again with the original agent template; successes leave the DLQ.
    Retry {
        /// The job whose items to retry.
        job: String,
        /// Items running at once (default: the workflow's `max_parallel`).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        max_parallel: Option<u32>,
        /// List what would be retried and run nothing.
        #[arg(long)]
        dry_run: bool,
        /// Retry only items matching this filter expression (the map `filter` language).
        #[arg(long)]
        filter: Option<String>,
        /// Stream step output.
        #[arg(short = 'v', long)]
        verbose: bool,
        /// Shared options.
        #[command(flatten)]
        common: DlqArgs,
    },
    /// Write every item with its history as JSON or CSV.
    Export {
        /// Only this job.
        job: Option<String>,
        /// The format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Json)]
        format: ExportFormat,
        /// Write to this file instead of stdout.
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
        /// Shared options.
        #[command(flatten)]
        common: DlqArgs,
    },
    /// Remove a job's items (or every job's) from the DLQ.
    Clear {
        /// Only this job.
        job: Option<String>,
        /// Shared options.
        #[command(flatten)]
        common: DlqArgs,
    },
}

/// Options of every `dlq` command.
#[derive(Debug, Args)]
pub struct DlqArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// The repository whose `.prodigy/` to read (default: the current git work tree).
    #[arg(short = 'p', long = "path")]
    pub path: Option<PathBuf>,
}

/// Formats of `dlq export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// An array of items with their history.
    Json,
    /// One row per attempt.
    Csv,
}

/// Options shared by every command that reads a workflow.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Report unknown keys as warnings instead of errors.
    #[arg(long)]
    pub allow_unknown: bool,
}

/// `prodigy validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Workflow files to check.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Output format of the diagnostics.
    #[arg(long, value_enum, default_value_t = DiagnosticFormat::Human)]
    pub format: DiagnosticFormat,
    /// Loading options.
    #[command(flatten)]
    pub load: LoadArgs,
}

/// How `validate` prints diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiagnosticFormat {
    /// `file:line:col`, a source line and a caret.
    Human,
    /// One JSON object per file, one per line.
    Json,
}

/// `prodigy graph`.
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The workflow file.
    pub workflow: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
    pub format: GraphFormat,
    /// Show every map item instead of collapsing large maps into one group.
    #[arg(long)]
    pub expand: bool,
    /// Loading options.
    #[command(flatten)]
    pub load: LoadArgs,
}

/// Formats of `prodigy graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// An indented list of nodes with their dependencies.
    Text,
    /// Graphviz DOT.
    Dot,
    /// A Mermaid flowchart.
    Mermaid,
    /// Nodes and edges as JSON.
    Json,
}

/// `prodigy run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The workflow file.
    pub workflow: PathBuf,
    /// Print the plan (nodes, dependencies, hashes) and run nothing; `--dry-run=json` for JSON.
    #[arg(long, value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "text")]
    pub dry_run: Option<PlanFormat>,
    /// Answer yes to every prompt (accepted for compatibility; prodigy never prompts).
    #[arg(short = 'y', long = "yes")]
    pub yes: bool,
    /// Run a standard workflow this many times (the old tool's `-n`; default: the
    /// workflow's `config.max_iterations`, else 1).
    #[arg(short = 'n', long = "max-iterations", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_iterations: Option<u32>,
    /// Settings shared with `build`.
    #[command(flatten)]
    pub job: JobArgs,
}

/// `prodigy build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// `[WORKFLOW] [TARGET...]`: the workflow file (default `prodigy.yml`), then node ids
    /// to build with what they need (default: every node). A first word that is not a
    /// file and does not end in `.yml`/`.yaml` is a target.
    #[arg(value_name = "WORKFLOW|TARGET")]
    pub positional: Vec<String>,
    /// Run every node, cached or not (results are still recorded).
    #[arg(long)]
    pub force: bool,
    /// Print one line per node that will run, saying why.
    #[arg(long)]
    pub explain: bool,
    /// Run nothing: exit 0 when everything is up to date, 1 when work is pending.
    #[arg(long, conflicts_with_all = ["force", "dry_run"])]
    pub check: bool,
    /// Print each node's cache status and run nothing, writing nothing;
    /// `--dry-run=json` for JSON.
    #[arg(long, value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "text")]
    pub dry_run: Option<PlanFormat>,
    /// Exit 4 instead of waiting when another build holds the cache lock.
    #[arg(long)]
    pub no_wait: bool,
    /// Print the stored output of cached nodes (by default they print one line).
    #[arg(long)]
    pub replay_output: bool,
    /// Settings shared with `run`.
    #[command(flatten)]
    pub job: JobArgs,
}

/// `prodigy resume`.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The job to continue (default: the newest one that did not finish).
    pub job: Option<String>,
    /// The repository (default: the current directory).
    #[arg(short = 'p', long = "path")]
    pub path: Option<PathBuf>,
    /// Nodes running at once (default: what the job used).
    #[arg(short = 'j', long = "jobs", value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,
    /// Stream every step's output as it runs.
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Exit 4 instead of waiting when another build holds the cache lock.
    #[arg(long)]
    pub no_wait: bool,
}

/// Settings of a job, shared by `run` and `build`.
#[derive(Debug, Args)]
pub struct JobArgs {
    /// Positional arguments for `$ARG` / `$1`..`$9`.
    #[arg(long = "args", value_delimiter = ',')]
    pub args: Vec<String>,
    /// A workflow parameter, `KEY=VALUE` (repeatable).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// A JSON or YAML file of parameters.
    #[arg(long = "param-file")]
    pub param_file: Option<PathBuf>,
    /// The repository to run in (default: the current directory).
    #[arg(short = 'p', long = "path")]
    pub path: Option<PathBuf>,
    /// Nodes running at once (default: the map's `max_parallel`, else the CPU count).
    #[arg(short = 'j', long = "jobs", value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,
    /// After a failed step, keep running everything that does not depend on it.
    #[arg(long)]
    pub keep_going: bool,
    /// Stream every step's output as it runs (otherwise only failed steps show output).
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Choose an env profile defined under `profiles:`.
    #[arg(long)]
    pub profile: Option<String>,
    /// Write a JSON summary of the run to this file.
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,
    /// Write every event of the run to this file as JSON Lines.
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// Loading options.
    #[command(flatten)]
    pub load: LoadArgs,
}

/// `prodigy cache ...`: the build cache under `.prodigy/cache/`.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Entries, bytes, and the hit rate of the last build.
    Stats {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// The repository (default: the current directory).
        #[arg(short = 'p', long = "path")]
        path: Option<PathBuf>,
    },
    /// Remove old entries until the cache fits the limits (the last result of every
    /// node is kept).
    Gc {
        /// Keep at most this much: `500M`, `1G`, `2048K`, or bytes.
        #[arg(long, value_name = "SIZE")]
        max_size: Option<String>,
        /// Remove entries older than this: `30d`, `12h`, `90m`.
        #[arg(long, value_name = "AGE")]
        max_age: Option<String>,
        /// The repository (default: the current directory).
        #[arg(short = 'p', long = "path")]
        path: Option<PathBuf>,
    },
    /// Remove every entry, blob and the index: the next build runs everything.
    Clean {
        /// The repository (default: the current directory).
        #[arg(short = 'p', long = "path")]
        path: Option<PathBuf>,
    },
}

/// Formats of `--dry-run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// One line per node.
    Text,
    /// The whole plan as JSON.
    Json,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
