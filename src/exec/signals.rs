//! Ctrl-C and SIGTERM become a cancelled [`CancelToken`].
//!
//! `signal_hook::flag::register` makes the handler set the token's own `AtomicBool`:
//! no extra thread, nothing but an atomic store inside the handler. Running steps see the
//! flag within a few milliseconds ([`super::process::run`] polls it), kill their process
//! groups (TERM, grace, KILL) and the scheduler stops starting nodes.
//!
//! Children run in their own process groups, so a terminal's Ctrl-C reaches only prodigy;
//! killing them is our job, and a step is never left half-signalled by the terminal.
//!
//! Once registered, the default action (terminate) is gone for good: a second Ctrl-C while
//! prodigy is cleaning up sets the flag again and changes nothing, so the run always ends
//! through the normal path (summary, state on disk, exit code 130). SIGKILL remains the
//! way to stop a wedged prodigy.

use std::io;

use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};

use super::cancel::CancelToken;

/// Installs SIGINT and SIGTERM handlers that cancel `token`.
///
/// Every later SIGINT or SIGTERM just cancels again (no forced exit). Calling this twice
/// registers the handlers twice, which is harmless. Fails only if the operating system
/// refuses the registration.
pub fn cancel_on_signals(token: &CancelToken) -> io::Result<()> {
    // SIGHUP (the terminal went away) and SIGQUIT too: children run in their own process
    // groups, so without a handler they would be left running when prodigy dies.
    for signal in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] {
        signal_hook::flag::register(signal, token.flag())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn sigterm_cancels_the_token_and_does_not_kill_the_process() {
        let token = CancelToken::new();
        cancel_on_signals(&token).expect("register handlers");
        assert!(!token.is_cancelled());
        // `raise` runs the handler synchronously on this thread.
        signal_hook::low_level::raise(SIGTERM).expect("raise SIGTERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !token.is_cancelled() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(token.is_cancelled());
        // A second signal keeps cancelling; we are still alive to assert it.
        signal_hook::low_level::raise(SIGTERM).expect("raise SIGTERM again");
        assert!(token.is_cancelled());
    }
}
