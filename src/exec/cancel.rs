//! A cancellation flag shared by the scheduler, every running process and the signal
//! handlers.
//!
//! It is a plain `Arc<AtomicBool>`, polled rather than waited on: [`super::process::run`]
//! already wakes every few milliseconds, and a bare atomic is the only thing a signal
//! handler may touch ([`super::signals`] registers this very flag with `signal-hook`).
//! Cancelling is one-way: a token never becomes un-cancelled.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A cheap, cloneable "stop now" flag. Clones share the same flag.
#[derive(Debug, Clone, Default)]
pub struct CancelToken {
    flag: Arc<AtomicBool>,
}

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels the token and every clone of it. Idempotent.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }

    /// Whether [`cancel`](Self::cancel) was called (or a registered signal arrived).
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// The shared flag, for `signal_hook::flag::register`, which sets it from the handler.
    pub(crate) fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.flag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_flag() {
        let token = CancelToken::new();
        let clone = token.clone();
        assert!(!clone.is_cancelled());
        token.cancel();
        assert!(clone.is_cancelled());
        token.cancel();
        assert!(token.is_cancelled());
    }
}
