//! Delays between retries: fixed, linear, exponential, fibonacci or an explicit list,
//! capped by `max_delay`, with optional jitter.

use std::time::Duration;

use crate::workflow::schema::Backoff;

/// The delay before retry number `retry` (1 = the first retry).
pub fn delay(backoff: &Backoff, retry: u32) -> Duration {
    let n = retry.max(1);
    let (millis, cap) = match backoff {
        Backoff::Fixed { delay } => (delay.millis as f64, None),
        Backoff::Linear {
            initial,
            increment,
            max_delay,
        } => (
            initial.millis as f64 + increment.millis as f64 * f64::from(n - 1),
            *max_delay,
        ),
        Backoff::Exponential {
            initial,
            multiplier,
            max_delay,
        } => (
            initial.millis as f64 * multiplier.powi(i32::try_from(n - 1).unwrap_or(i32::MAX)),
            *max_delay,
        ),
        Backoff::Fibonacci { initial, max_delay } => {
            (initial.millis as f64 * fibonacci(n) as f64, *max_delay)
        }
        Backoff::Custom { delays } => {
            let index = usize::try_from(n - 1)
                .unwrap_or(usize::MAX)
                .min(delays.len().saturating_sub(1));
            (delays.get(index).map_or(0.0, |d| d.millis as f64), None)
        }
    };
    let capped = cap.map_or(millis, |c| millis.min(c.millis as f64));
    Duration::from_millis(capped.clamp(0.0, u64::MAX as f64) as u64)
}

/// The backoff an `on_failure` `strategy` names (`fixed`, `linear`, `exponential`,
/// `fibonacci`), starting at one second and capped at 30 seconds; `None` for the handler
/// strategies (`recovery`, `fallback`, `cleanup`, `custom`), which do not wait.
pub fn named(strategy: &str) -> Option<Backoff> {
    use crate::workflow::duration::Duration as D;
    let (second, cap) = (D { millis: 1000 }, Some(D { millis: 30_000 }));
    Some(match strategy {
        "fixed" => Backoff::Fixed { delay: second },
        "linear" => Backoff::Linear {
            initial: second,
            increment: second,
            max_delay: cap,
        },
        "exponential" => Backoff::Exponential {
            initial: second,
            multiplier: 2.0,
            max_delay: cap,
        },
        "fibonacci" => Backoff::Fibonacci {
            initial: second,
            max_delay: cap,
        },
        _ => return None,
    })
}

/// Adds up to `factor` of `base` as jitter, from `seed` (deterministic per attempt).
pub fn with_jitter(base: Duration, factor: f64, seed: &str) -> Duration {
    let hash = blake3::hash(seed.as_bytes());
    let bytes = hash.as_bytes();
    let unit = f64::from(u16::from_le_bytes([bytes[0], bytes[1]])) / f64::from(u16::MAX);
    base + base.mul_f64(factor.clamp(0.0, 1.0) * unit)
}

/// 1, 1, 2, 3, 5, ...
fn fibonacci(n: u32) -> u64 {
    let (mut a, mut b) = (1u64, 1u64);
    for _ in 1..n {
        (a, b) = (b, a.saturating_add(b));
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::duration::Duration as D;

    fn ms(n: u64) -> D {
        D { millis: n }
    }

    #[test]
    fn each_strategy_grows_as_documented() {
        let exp = Backoff::Exponential {
            initial: ms(1000),
            multiplier: 2.0,
            max_delay: Some(ms(30_000)),
        };
        let got: Vec<u128> = (1..=6).map(|n| delay(&exp, n).as_millis()).collect();
        assert_eq!(got, [1000, 2000, 4000, 8000, 16000, 30000]);
        let lin = Backoff::Linear {
            initial: ms(1000),
            increment: ms(500),
            max_delay: None,
        };
        assert_eq!(delay(&lin, 3).as_millis(), 2000);
        let fib = Backoff::Fibonacci {
            initial: ms(100),
            max_delay: None,
        };
        let got: Vec<u128> = (1..=5).map(|n| delay(&fib, n).as_millis()).collect();
        assert_eq!(got, [100, 100, 200, 300, 500]);
        assert_eq!(delay(&Backoff::Fixed { delay: ms(7) }, 9).as_millis(), 7);
        let custom = Backoff::Custom {
            delays: vec![ms(1), ms(5)],
        };
        assert_eq!(
            (delay(&custom, 1).as_millis(), delay(&custom, 4).as_millis()),
            (1, 5)
        );
    }

    #[test]
    fn jitter_stays_within_its_factor() {
        let base = Duration::from_millis(1000);
        for seed in ["a", "b", "c", "d"] {
            let j = with_jitter(base, 0.3, seed);
            assert!(j >= base && j <= Duration::from_millis(1300), "{j:?}");
        }
    }
}
