//! The one error type of the map input expression languages (`json_path`, `filter`,
//! `sort_by`): what went wrong, where in the expression text, and how to fix it.
//! Validation turns it into a `file:line:col` diagnostic with a caret.

/// A problem in an expression, found while parsing it.
///
/// `offset` counts chars (not bytes) from the start of the expression text, so a caret
/// can be drawn under the expression as the user wrote it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    /// Lowercase description of what went wrong, with code in backticks.
    pub message: String,
    /// Char offset into the expression text where the problem is.
    pub offset: usize,
    /// A suggestion to fix it, when there is a useful one.
    pub hint: Option<String>,
}

impl ExprError {
    /// An error at `offset` without a hint.
    pub fn new(message: impl Into<String>, offset: usize) -> Self {
        ExprError {
            message: message.into(),
            offset,
            hint: None,
        }
    }

    /// The same error with a hint attached.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_only_the_message() {
        let error = ExprError::new("expected a value after `==`", 9)
            .with_hint("quote string values: status == 'active'");
        assert_eq!(error.to_string(), "expected a value after `==`");
        assert_eq!(error.offset, 9);
        assert_eq!(
            error.hint.as_deref(),
            Some("quote string values: status == 'active'")
        );
    }

    #[test]
    fn new_has_no_hint() {
        assert_eq!(ExprError::new("x", 0).hint, None);
    }
}
