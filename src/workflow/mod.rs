//! The workflow format: YAML text -> a validated, typed workflow.

pub mod decode;
pub mod diagnostic;
pub mod input;
pub mod interpolate;
pub mod yaml;
