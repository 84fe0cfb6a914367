//! The typed workflow model: what a workflow file means, after decoding.
//!
//! Both dialects of the 0.4 format (standard and map-reduce, whose step types differed)
//! decode into these one set of types, so every step field means the same thing in every
//! phase. Types serialize to canonical JSON (for node keys and `graph --format json`) and
//! describe the YAML format as a JSON Schema (`prodigy schema`).

use std::collections::BTreeMap;

use serde::Serialize;

use super::duration::Duration;
use super::yaml::Span;

/// A whole workflow file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Workflow {
    /// The workflow's name (the file stem when not given).
    pub name: String,
    /// What it does, for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Standard steps, or the phases of a map-reduce.
    pub body: Body,
    /// Environment for every step.
    pub env: BTreeMap<String, EnvValue>,
    /// Secret variables: exported like env, masked as `***` in all output.
    pub secrets: BTreeMap<String, Secret>,
    /// `.env` files loaded before `env`.
    pub env_files: Vec<String>,
    /// Named sets of env overrides, chosen with `--profile`.
    pub profiles: BTreeMap<String, Profile>,
    /// OS environment variables that steps may see and that enter node keys.
    pub env_passthrough: Vec<String>,
    /// Where steps run: a git worktree (default) or in place.
    pub isolation: Isolation,
    /// What happens when map items fail.
    pub error_policy: ErrorPolicy,
    /// Steps that merge the session's work back (both modes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merge: Option<Merge>,
    /// Named step lists for `on_item_failure: custom:<name>`, run for a failed map item.
    pub handlers: BTreeMap<String, Vec<Step>>,
    /// How many times to repeat the workflow (legacy `config.max_iterations`).
    pub max_iterations: u32,
}

/// The steps of a workflow.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum Body {
    /// A list of steps run in order (or by their `needs`).
    Standard {
        /// The steps.
        steps: Vec<Step>,
    },
    /// setup -> one agent per work item -> reduce.
    #[serde(rename = "mapreduce")]
    MapReduce(Box<MapReduce>),
}

/// The phases of a map-reduce workflow.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapReduce {
    /// Steps that run once before the map (they may write the input file).
    pub setup: Option<Setup>,
    /// The map phase.
    pub map: MapPhase,
    /// Steps that run once after every item finished (failed ones included).
    pub reduce: Vec<Step>,
}

/// The setup phase.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Setup {
    /// The steps.
    pub commands: Vec<Step>,
    /// A time limit for the whole phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Timeout>,
    /// Named captures of setup step output (legacy form: `name: step_index`).
    pub capture_outputs: BTreeMap<String, serde_json::Value>,
}

/// The map phase: where items come from and what each agent runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapPhase {
    /// A JSON file (relative to the workflow root) or a command printing items.
    pub input: String,
    /// RFC 9535 JSONPath selecting the items inside the input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json_path: Option<String>,
    /// Keep only items matching this expression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Order items: `score DESC, name ASC NULLS LAST`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort_by: Option<String>,
    /// Drop items whose value at this path was already seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distinct: Option<String>,
    /// Skip this many items.
    pub offset: usize,
    /// Take at most this many items.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_items: Option<usize>,
    /// How many agents run at once (default 10); may be a `${VAR}` resolved at run time.
    pub max_parallel: Parallelism,
    /// The field of an item that names it (`map/<value>` node ids).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
    /// The steps each agent runs for its item.
    pub agent_template: Vec<Step>,
    /// A time limit per agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_timeout: Option<Timeout>,
    /// Finer timeout settings (accepted as written; see `agent_timeout`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_config: Option<serde_json::Value>,
}

/// A parallelism limit.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Parallelism {
    /// A fixed number (at least 1).
    Count(u32),
    /// A `${VAR}` or `$VAR` reference resolved when the workflow runs.
    Variable(String),
}

/// A time limit that the 0.4 format let a workflow take from its env.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Timeout {
    /// A fixed duration.
    Fixed(Duration),
    /// A `${VAR}` or `$VAR` reference, resolved to a duration when the workflow runs.
    Variable(String),
}

/// The merge phase.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Merge {
    /// The steps.
    pub commands: Vec<Step>,
    /// A time limit for the phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

/// Where steps run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    /// A git worktree per session, and per map worker.
    #[default]
    Worktree,
    /// The current checkout, in place (the CI and Make case).
    None,
}

/// One environment value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum EnvValue {
    /// A fixed string (numbers and booleans are written as text).
    Static(String),
    /// The output of a command.
    Command {
        /// The command.
        command: String,
        /// Run it once per workflow run instead of once per use.
        cache: bool,
    },
    /// One of two values, by a condition.
    Conditional {
        /// The condition, e.g. `${branch} == 'main'`.
        condition: String,
        /// The value when true.
        when_true: String,
        /// The value when false.
        when_false: String,
    },
    /// A value masked in all output.
    Secret {
        /// Always true.
        secret: bool,
        /// The value.
        value: String,
    },
}

/// A secret variable.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Secret {
    /// A value, usually `${env:NAME}` or `${env.NAME}`.
    Value(String),
    /// Read from a provider.
    Provider {
        /// `env`, `file`, `vault`, `aws` or a custom name.
        provider: String,
        /// The key at the provider.
        key: String,
        /// An optional version.
        #[serde(skip_serializing_if = "Option::is_none")]
        version: Option<String>,
    },
}

/// A named set of env overrides.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    /// What the profile is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The variables it sets.
    pub env: BTreeMap<String, EnvValue>,
}

/// One step, in any phase.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// What the step does.
    pub action: Action,
    /// A stable id, for `needs`, targets and outputs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// A label for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Ids of steps this one depends on (default: the step before it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub needs: Option<Vec<String>>,
    /// Files (globs relative to the workflow root) whose content decides whether it re-runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Vec<String>>,
    /// `false`: always run, never cache the result.
    pub cache: bool,
    /// Run only when this expression is true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// A time limit; the whole process group is killed when it passes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Extra environment for this step.
    pub env: BTreeMap<String, String>,
    /// Start from an empty environment (plus `env`).
    pub clear_env: bool,
    /// The directory to run in, relative to the workflow root.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// How output is captured into variables.
    pub capture: Capture,
    /// What runs after success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_success: Option<Box<Step>>,
    /// What runs after failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<OnFailure>,
    /// Steps by exit code.
    pub on_exit_code: BTreeMap<i32, Step>,
    /// Retry the step itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    /// The step must create at least one commit.
    pub commit_required: bool,
    /// Check completeness after the step, and repair until it passes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validate: Option<Validate>,
    /// Files the step produces, by name.
    pub outputs: BTreeMap<String, String>,
    /// A failure of this step does not fail the workflow.
    pub allow_failure: bool,
    /// Options of claude steps.
    pub claude: ClaudeOptions,
    /// Where the step was written (not part of the meaning).
    #[serde(skip)]
    pub span: Span,
}

/// What a step runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A shell command, run with `sh -c`.
    Shell(String),
    /// A prompt (or `/slash-command`) for the claude CLI.
    Claude(String),
    /// Write a file.
    WriteFile(WriteFile),
    /// Run steps for each of a list of values.
    Foreach(Box<Foreach>),
    /// Repeat a command until a validation command scores high enough (0.4.0's goal_seek).
    GoalSeek(GoalSeek),
    /// A key prodigy accepts but does not run (`analyze`, `handler`).
    Ignored(String),
}

/// Settings of a claude step.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ClaudeOptions {
    /// `--model`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `--permission-mode`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permission_mode: Option<String>,
    /// `--allowedTools`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_tools: Option<Vec<String>>,
    /// `--max-budget-usd`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_budget_usd: Option<f64>,
}

/// Output capture settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Capture {
    /// The variable that receives the output (`capture:` or `capture_output: name`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variable: Option<String>,
    /// How the output is parsed.
    pub format: CaptureFormat,
    /// Which streams and facts are captured.
    pub streams: CaptureStreams,
    /// Also write the output to this file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_file: Option<String>,
}

/// How captured output is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CaptureFormat {
    /// The text, trimmed.
    #[default]
    String,
    /// A number.
    Number,
    /// JSON, addressable as `${var.field}`.
    Json,
    /// A list of lines.
    Lines,
    /// `true`/`false` (also the exit status when the output is empty).
    Boolean,
}

/// Which streams and facts a capture records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CaptureStreams {
    /// Standard output.
    pub stdout: bool,
    /// Standard error.
    pub stderr: bool,
    /// `${var.exit_code}`.
    pub exit_code: bool,
    /// `${var.success}`.
    pub success: bool,
    /// `${var.duration}`.
    pub duration: bool,
}

impl Default for CaptureStreams {
    fn default() -> Self {
        CaptureStreams {
            stdout: true,
            stderr: false,
            exit_code: true,
            success: true,
            duration: true,
        }
    }
}

/// The `write_file` step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WriteFile {
    /// Relative path; `..` may not leave the workflow root.
    pub path: String,
    /// The content (interpolated).
    pub content: String,
    /// How the content is checked and written.
    pub format: WriteFormat,
    /// Octal permissions.
    pub mode: String,
    /// Create missing parent directories.
    pub create_dirs: bool,
}

/// Formats of `write_file`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteFormat {
    /// Written as is.
    #[default]
    Text,
    /// Must parse as JSON; pretty-printed.
    Json,
    /// Must parse as YAML.
    Yaml,
}

/// The `foreach` step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Foreach {
    /// The values: a list, or a command printing one per line.
    pub input: ForeachInput,
    /// How many run at once (1 = sequential).
    pub parallel: u32,
    /// The steps, with `${item}` set.
    pub steps: Vec<Step>,
    /// Keep going after a failed value.
    pub continue_on_error: bool,
    /// Take at most this many values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_items: Option<usize>,
}

/// Where foreach values come from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ForeachInput {
    /// A command printing one value per line.
    Command(String),
    /// Literal values.
    List(Vec<String>),
}

/// 0.4.0's `goal_seek` step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GoalSeek {
    /// What the loop tries to reach.
    pub goal: String,
    /// The command that makes progress (claude prompt or shell).
    pub command: Box<Action>,
    /// A command printing `score: N`.
    pub validate: String,
    /// The score to reach (0-100).
    pub threshold: u32,
    /// How many rounds at most.
    pub max_attempts: u32,
    /// Time limit per round.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Fail the step when the goal is not reached.
    pub fail_on_incomplete: bool,
}

/// What happens when a step fails (every form of `on_failure`, normalized).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OnFailure {
    /// Handler steps, run in order.
    pub commands: Vec<Step>,
    /// How many times the handler (and the step after it) is tried.
    pub max_attempts: u32,
    /// Fail the workflow when the handler cannot recover the step.
    pub fail_workflow: bool,
    /// Run the failed step again after the handler.
    pub retry_original: bool,
    /// The handler must create a commit.
    pub commit_required: bool,
    /// `recovery`, `fallback`, `cleanup`, `custom`, or a backoff between attempts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    /// A time limit for the handler.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// A failing handler command fails the step even when `continue_on_error`.
    pub handler_failure_fatal: bool,
    /// `on_failure: true`: the failure is ignored.
    pub ignore_errors: bool,
}

/// Retrying a step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// Delay between attempts.
    pub backoff: Backoff,
    /// Add random jitter to each delay.
    pub jitter: bool,
    /// The largest jitter, as a fraction of the delay.
    pub jitter_factor: f64,
    /// Retry only these error kinds (default: transient ones).
    pub retry_on: Vec<String>,
    /// Give up when retries would take longer than this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_budget: Option<Duration>,
}

/// Delay between retries.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Backoff {
    /// The same delay each time.
    Fixed {
        /// The delay.
        delay: Duration,
    },
    /// `initial + n * increment`.
    Linear {
        /// The first delay.
        initial: Duration,
        /// Added each time.
        increment: Duration,
        /// The largest delay.
        #[serde(skip_serializing_if = "Option::is_none")]
        max_delay: Option<Duration>,
    },
    /// `initial * multiplier^n`.
    Exponential {
        /// The first delay.
        initial: Duration,
        /// The growth factor.
        multiplier: f64,
        /// The largest delay.
        #[serde(skip_serializing_if = "Option::is_none")]
        max_delay: Option<Duration>,
    },
    /// `initial * fib(n)`.
    Fibonacci {
        /// The first delay.
        initial: Duration,
        /// The largest delay.
        #[serde(skip_serializing_if = "Option::is_none")]
        max_delay: Option<Duration>,
    },
    /// Explicit delays, the last repeated.
    Custom {
        /// The delays.
        delays: Vec<Duration>,
    },
}

/// `validate`: check a step's result and repair until complete.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Validate {
    /// Commands that check (and write `result_file`).
    pub commands: Vec<Step>,
    /// A JSON file with `{completion_percentage, gaps, ...}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_file: Option<String>,
    /// The completion percentage needed (0-100).
    pub threshold: f64,
    /// A time limit for the check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// The JSON Schema the result must follow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_schema: Option<serde_json::Value>,
    /// How to repair an incomplete result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_incomplete: Option<OnIncomplete>,
}

/// Repair loop of `validate`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OnIncomplete {
    /// Repair commands.
    pub commands: Vec<Step>,
    /// Rounds of repair + validation at most.
    pub max_attempts: u32,
    /// Fail when still incomplete after the last round.
    pub fail_workflow: bool,
    /// Each repair must create a commit.
    pub commit_required: bool,
}

/// What the job does when map items fail.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorPolicy {
    /// What happens to a failed item.
    pub on_item_failure: ItemFailure,
    /// Keep processing items after a failure.
    pub continue_on_failure: bool,
    /// Stop after this many failed items.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_failures: Option<u32>,
    /// Stop when the failure rate (0.0-1.0) exceeds this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<f64>,
    /// When failures are reported.
    pub error_collection: ErrorCollection,
    /// Stop starting items after consecutive failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<CircuitBreaker>,
    /// Retrying failed items.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_config: Option<RetryPolicy>,
}

impl Default for ErrorPolicy {
    fn default() -> Self {
        ErrorPolicy {
            on_item_failure: ItemFailure::Dlq,
            continue_on_failure: true,
            max_failures: None,
            failure_threshold: None,
            error_collection: ErrorCollection::Aggregate,
            circuit_breaker: None,
            retry_config: None,
        }
    }
}

/// What happens to a failed map item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemFailure {
    /// Keep it in the dead-letter queue for `dlq retry` and the next build.
    Dlq,
    /// Retry it per `retry_config`, then the DLQ.
    Retry,
    /// Drop it (counted as skipped).
    Skip,
    /// Stop the job.
    Stop,
    /// Run the named handler.
    Custom(String),
}

/// When failures are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCollection {
    /// All at the end.
    Aggregate,
    /// As each happens.
    Immediate,
    /// Every N failures.
    Batched(u32),
}

/// Circuit breaker settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CircuitBreaker {
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// Successes in half-open state that close it.
    pub success_threshold: u32,
    /// How long it stays open before half-opening.
    pub timeout: Duration,
    /// Trial items let through while half-open.
    pub half_open_requests: u32,
}
