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
            .with_width(e.width)
            .with_hint(e.hint);
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
    // A workflow with decode errors may still be here, without the parts that failed:
    // validating it reports its other problems in the same run. It is dropped below.
    if let Some(w) = &workflow {
        let found = if d.has_errors() {
            validate::validate_partial(w)
        } else {
            validate::validate(w)
        };
        d.diagnostics.extend(found);
    }
    let mut diagnostics = d.diagnostics;
    for diag in &mut diagnostics {
        diag.resolve_inner_offset(&source.text);
    }
    diagnostics.sort_by_key(|x| (x.span.map(|s| (s.line, s.column)), x.severity));
    let failed = diagnostics.iter().any(Diagnostic::is_error);
    Checked {
        workflow: workflow.filter(|_| !failed),
        diagnostics,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(text: &str) -> Checked {
        let source = Source {
            path: "flow.yml".into(),
            text: text.to_string(),
        };
        check(&source, LoadOptions::default())
    }

    fn codes(checked: &Checked) -> Vec<&'static str> {
        checked.diagnostics.iter().map(|d| d.code).collect()
    }

    #[test]
    fn steps_that_decode_are_validated_beside_ones_that_do_not() {
        let found = checked("- shell: echo ${item}\n- shel: echo\n");
        assert_eq!(
            codes(&found),
            ["variable-scope", "missing-command", "unknown-key"]
        );
        assert!(
            found.workflow.is_none(),
            "a workflow with errors is never returned"
        );
    }

    #[test]
    fn needs_of_steps_that_failed_to_decode_are_not_reported() {
        let found = checked("- id: a\n  shel: x\n- shell: y\n  needs: [a]\n");
        assert!(
            !codes(&found).contains(&"unknown-need"),
            "{:?}",
            codes(&found)
        );
        let found = checked("- id: a\n  shell: x\n- shell: y\n  needs: [b]\n");
        assert_eq!(codes(&found), ["unknown-need"]);
    }

    #[test]
    fn expression_errors_point_into_the_text_in_every_format() {
        let found = checked(
            "mode: mapreduce\nmap:\n  input: ls\n  filter: \"score >= && ok\"\n  agent_template: [shell: echo]\n",
        );
        let span = found.diagnostics[0].span.map(|s| (s.line, s.column));
        assert_eq!(span, Some((4, 21)));
        assert_eq!(found.diagnostics[0].inner_offset, None);
    }
}
