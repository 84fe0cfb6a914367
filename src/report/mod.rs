//! Everything prodigy prints: diagnostics, graphs, plans and summaries.

pub mod diagnostic;
