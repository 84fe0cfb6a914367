//! prodigy: run YAML workflows of shell and AI-agent steps like a build tool.

pub mod cache;
pub mod cli;
pub mod config;
pub mod dlq;
pub mod error;
pub mod exec;
pub mod fs;
pub mod graph;
pub mod jobs;
pub mod report;
mod run;
pub mod suggest;
pub mod workflow;

pub use run::run;
