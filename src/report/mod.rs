//! Everything prodigy prints: diagnostics, graphs, plans and summaries.

pub mod cache;
pub mod diagnostic;
pub mod dlq;
pub mod graph;
pub mod human;
pub mod mask;
pub mod plan;
pub mod summary;

/// `1 node`, `2 nodes`.
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Writes to stderr, ignoring errors: a closed pipe must not panic or change the exit code.
pub fn eprint(text: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Prints a top-level error to stderr in the `error: ...` style, with each cause that
/// the message does not already include.
pub fn print_error(error: &crate::error::Error) {
    let message = error.to_string();
    let mut text = format!("error: {message}\n");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !message.contains(&cause_text) {
            text.push_str(&format!("  caused by: {cause_text}\n"));
        }
        source = cause.source();
    }
    eprint(&text);
}
