//! The circuit breaker of `error_policy.circuit_breaker`, as a pure state machine.
//!
//! Closed: items run; `failure_threshold` consecutive failures open it. Open: no item
//! starts (each is rejected as `circuit_open`) until `timeout` has passed, then it is
//! half-open. Half-open: at most `half_open_requests` trial items run at once;
//! `success_threshold` successes close it, any failure opens it again.

use std::time::Instant;

use crate::workflow::schema::CircuitBreaker;

/// The breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Items run normally.
    Closed,
    /// Items are rejected until the instant.
    Open(Instant),
    /// Trial items run.
    HalfOpen,
}

/// A circuit breaker.
#[derive(Debug)]
pub struct Breaker {
    config: CircuitBreaker,
    state: State,
    consecutive_failures: u32,
    trial_successes: u32,
    trials_running: u32,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(config: CircuitBreaker) -> Self {
        Breaker {
            config,
            state: State::Closed,
            consecutive_failures: 0,
            trial_successes: 0,
            trials_running: 0,
        }
    }

    /// The state at `now` (an open breaker half-opens once its timeout has passed).
    pub fn state(&mut self, now: Instant) -> State {
        if let State::Open(until) = self.state
            && now >= until
        {
            self.state = State::HalfOpen;
            self.trial_successes = 0;
            self.trials_running = 0;
        }
        self.state
    }

    /// Asks to start an item at `now`: `None` when it is rejected, else `Some(trial)`,
    /// where `trial` says it runs as one of the half-open state's trial items.
    pub fn admit(&mut self, now: Instant) -> Option<bool> {
        match self.state(now) {
            State::Closed => Some(false),
            State::Open(_) => None,
            State::HalfOpen if self.trials_running < self.config.half_open_requests.max(1) => {
                self.trials_running += 1;
                Some(true)
            }
            State::HalfOpen => None,
        }
    }

    /// Whether items should wait rather than be rejected: half-open with every trial slot taken.
    pub fn is_saturated(&mut self, now: Instant) -> bool {
        self.state(now) == State::HalfOpen
            && self.trials_running >= self.config.half_open_requests.max(1)
    }

    /// Records the end of an admitted item; `trial` is what `admit` said. While open,
    /// and in half-open for items started before, results do not move the breaker.
    pub fn record(&mut self, success: bool, now: Instant, trial: bool) {
        match (self.state(now), trial) {
            (State::HalfOpen, true) => {
                self.trials_running = self.trials_running.saturating_sub(1);
                if !success {
                    self.open(now);
                    return;
                }
                self.trial_successes += 1;
                if self.trial_successes >= self.config.success_threshold.max(1) {
                    self.state = State::Closed;
                    self.consecutive_failures = 0;
                }
            }
            (State::Closed, _) if success => self.consecutive_failures = 0,
            (State::Closed, _) => {
                self.consecutive_failures += 1;
                if self.consecutive_failures >= self.config.failure_threshold.max(1) {
                    self.open(now);
                }
            }
            _ => {}
        }
    }

    fn open(&mut self, now: Instant) {
        self.state = State::Open(now + self.config.timeout.to_std());
        self.consecutive_failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::workflow::duration::Duration as D;

    fn breaker() -> Breaker {
        Breaker::new(CircuitBreaker {
            failure_threshold: 3,
            success_threshold: 2,
            timeout: D { millis: 1000 },
            half_open_requests: 1,
        })
    }

    #[test]
    fn consecutive_failures_open_it_and_a_success_resets_the_count() {
        let t = Instant::now();
        let mut b = breaker();
        b.record(false, t, false);
        b.record(false, t, false);
        b.record(true, t, false);
        b.record(false, t, false);
        b.record(false, t, false);
        assert_eq!(
            b.admit(t),
            Some(false),
            "2 consecutive failures: still closed"
        );
        b.record(false, t, false);
        assert_eq!(b.admit(t), None, "3 consecutive failures open it");
    }

    #[test]
    fn half_open_admits_trials_and_closes_after_successes() {
        let t = Instant::now();
        let mut b = breaker();
        for _ in 0..3 {
            b.record(false, t, false);
        }
        let later = t + Duration::from_millis(1001);
        assert_eq!(b.admit(later), Some(true), "half-open lets one trial in");
        assert_eq!(b.admit(later), None, "only one trial at a time");
        assert!(b.is_saturated(later));
        b.record(false, later, false);
        assert!(
            b.is_saturated(later),
            "an item started before does not free a trial slot"
        );
        b.record(true, later, true);
        assert_eq!(b.admit(later), Some(true));
        b.record(true, later, true);
        assert_eq!(b.state(later), State::Closed);
    }

    #[test]
    fn a_failed_trial_opens_it_again() {
        let t = Instant::now();
        let mut b = breaker();
        for _ in 0..3 {
            b.record(false, t, false);
        }
        let later = t + Duration::from_millis(1001);
        assert_eq!(b.admit(later), Some(true));
        b.record(false, later, true);
        assert!(matches!(b.state(later), State::Open(_)));
    }
}
