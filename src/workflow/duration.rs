//! Durations as workflows write them: a bare number in the field's own unit, or a
//! string with a unit (`500ms`, `30s`, `5m`, `1h`, `1h30m`).

use serde::{Serialize, Serializer};

use super::decode::Decoder;
use super::yaml::{Node, Value};

/// A length of time, stored in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    /// Milliseconds.
    pub millis: u64,
}

/// What a bare number means in a given field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Step timeouts, circuit-breaker timeouts.
    Seconds,
    /// Backoff delays, as the error-handling guide writes them.
    Millis,
}

impl Duration {
    /// Reads a duration, where a bare number is in `unit`.
    pub fn decode(node: &Node, unit: Unit, d: &mut Decoder) -> Option<Duration> {
        let parsed = match &node.value {
            Value::Int(n) if *n >= 0 => Some(scale(*n as u64, unit)),
            Value::Float(f) if *f >= 0.0 && f.is_finite() => Some(Duration {
                millis: match unit {
                    Unit::Seconds => (*f * 1000.0) as u64,
                    Unit::Millis => *f as u64,
                },
            }),
            Value::Str(s) => parse(s, unit),
            _ => None,
        };
        if parsed.is_none() {
            d.push(
                super::diagnostic::Diagnostic::error(
                    "bad-duration",
                    Some(node.span),
                    format!("`{}` is not a duration", node.scalar_text()),
                )
                .with_width(super::decode::width(node))
                .with_hint(match unit {
                    Unit::Seconds => "write seconds as a number (`30`) or with a unit: `500ms`, `30s`, `5m`, `1h`",
                    Unit::Millis => "write milliseconds as a number (`1000`) or with a unit: `500ms`, `30s`, `5m`",
                }),
            );
        }
        parsed
    }

    /// As std's duration.
    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.millis)
    }
}

fn scale(n: u64, unit: Unit) -> Duration {
    Duration {
        millis: match unit {
            Unit::Seconds => n.saturating_mul(1000),
            Unit::Millis => n,
        },
    }
}

/// Parses `1h30m`, `500ms`, `30s`, `2d`; a bare number is in `unit`.
pub fn parse(text: &str, unit: Unit) -> Option<Duration> {
    let text = text.trim();
    if let Ok(n) = text.parse::<u64>() {
        return Some(scale(n, unit));
    }
    if text.is_empty() {
        return None;
    }
    let mut millis: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.')?;
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let factor = match rest[..unit_len].trim() {
            "ms" => 1.0,
            "s" | "sec" | "secs" => 1000.0,
            "m" | "min" | "mins" => 60_000.0,
            "h" | "hr" | "hrs" => 3_600_000.0,
            "d" => 86_400_000.0,
            _ => return None,
        };
        millis = millis.checked_add((number * factor) as u64)?;
        rest = &rest[unit_len..];
    }
    Some(Duration { millis })
}

impl std::fmt::Display for Duration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.millis {
            m if m % 3_600_000 == 0 && m > 0 => write!(f, "{}h", m / 3_600_000),
            m if m % 60_000 == 0 && m > 0 => write!(f, "{}m", m / 60_000),
            m if m % 1000 == 0 => write!(f, "{}s", m / 1000),
            m => write!(f, "{m}ms"),
        }
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse("30", Unit::Seconds).unwrap().millis, 30_000);
        assert_eq!(parse("30", Unit::Millis).unwrap().millis, 30);
        assert_eq!(parse("500ms", Unit::Seconds).unwrap().millis, 500);
        assert_eq!(parse("1h30m", Unit::Seconds).unwrap().millis, 5_400_000);
        assert_eq!(parse("1.5s", Unit::Seconds).unwrap().millis, 1500);
    }

    #[test]
    fn rejects_nonsense() {
        for bad in ["", "abc", "5 parsecs", "m5", "1.2.3s", "-5s"] {
            assert_eq!(parse(bad, Unit::Seconds), None, "{bad}");
        }
    }

    #[test]
    fn displays_in_the_largest_whole_unit() {
        assert_eq!(Duration { millis: 90_000 }.to_string(), "90s");
        assert_eq!(Duration { millis: 120_000 }.to_string(), "2m");
        assert_eq!(Duration { millis: 1500 }.to_string(), "1500ms");
    }
}
