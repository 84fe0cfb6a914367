//! prodigy: run YAML workflows of shell and AI-agent steps like a build tool.

pub mod report;
pub mod suggest;
pub mod workflow;
