//! Running a sealed plan: the ready queue, the scheduler on a rayon pool, the step
//! executor (every step field, every phase), processes, claude, signals.
//!
//! Data flow: `job` prepares variables and env and runs setup, then the map and reduce
//! through `scheduler`, which takes ready nodes from `queue` and runs each node's steps
//! with `step` / `action` on worker threads. Workers send events; one thread consumes
//! them (`report::human`).

pub mod action;
pub mod backoff;
pub mod breaker;
pub mod cancel;
pub mod claude;
pub mod condition;
pub mod event;
pub mod git_context;
pub mod job;
pub mod node;
pub mod outcome;
pub mod process;
pub mod queue;
pub mod repo_change;
pub mod scheduler;
pub mod signals;
pub mod step;
pub mod tally;
pub mod vars;
