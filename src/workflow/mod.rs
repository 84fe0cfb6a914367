//! The workflow format: YAML text -> a validated, typed [`Workflow`].
//!
//! `source` reads the file, `yaml` parses it into a span-carrying tree, `parse` decodes
//! that tree into the `schema` types (collecting every problem through `decode`), and
//! `validate` checks what needs the whole workflow (ids, needs, cycles, expressions,
//! variables).

pub mod decode;
pub mod diagnostic;
pub mod duration;
pub mod input;
pub mod interpolate;
pub mod json_schema;
pub mod parse;
pub mod schema;
pub mod source;
pub mod validate;
pub mod yaml;

pub use schema::Workflow;
pub use source::{LoadError, Source};

use decode::Decoder;
use diagnostic::Diagnostic;

/// Options for reading a workflow.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// Report unknown keys as warnings instead of errors.
    pub allow_unknown: bool,
}

/// The result of reading a workflow: the workflow when it has no errors, and every
/// diagnostic (errors and warnings) in file order.
#[derive(Debug)]
pub struct Checked {
    /// The workflow, when there were no errors.
    pub workflow: Option<Workflow>,
    /// Everything found, sorted by position.
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses, decodes and validates a workflow's text.
pub fn check(source: &Source, options: LoadOptions) -> Checked {
    let root = match yaml::parse(&source.text) {
        Ok(root) => root,
        Err(e) => {
            let diag = Diagnostic::error(
                "invalid-yaml",
                e.span,
                format!("invalid YAML: {}", e.message),
            )
            .with_hint("check the indentation and quoting near this line");
            return Checked {
                workflow: None,
                diagnostics: vec![diag],
            };
        }
    };
    let mut d = Decoder {
        allow_unknown: options.allow_unknown,
        ..Decoder::default()
    };
    let stem = source
        .path
        .file_stem()
        .map_or_else(|| "workflow".into(), |s| s.to_string_lossy().into_owned());
    let workflow = parse::decode_workflow(&root, &stem, &mut d);
    if let Some(w) = &workflow {
        d.diagnostics.extend(validate::validate(w));
    }
    let mut diagnostics = d.diagnostics;
    diagnostics.sort_by_key(|x| (x.span.map(|s| (s.line, s.column)), x.severity));
    let failed = diagnostics.iter().any(Diagnostic::is_error);
    Checked {
        workflow: workflow.filter(|_| !failed),
        diagnostics,
    }
}
