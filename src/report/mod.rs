//! Everything prodigy prints: diagnostics, graphs, plans and summaries.

pub mod diagnostic;
pub mod graph;
pub mod plan;

/// Prints a top-level error to stderr in the `error: ...` style.
pub fn print_error(error: &crate::error::Error) {
    eprintln!("error: {error}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        eprintln!("  caused by: {cause}");
        source = cause.source();
    }
}
