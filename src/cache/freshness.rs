//! Fresh or dirty, and why, in one line (cargo's `DirtyReason`). Pure: the caller reads
//! the index once, stats the declared inputs, computes each node's new key, and asks
//! [`decide`]; only for a key that changed does it open the old entry, to let
//! [`super::explain`] name the difference.

use std::fmt;
use std::fs::Metadata;

use chrono::{DateTime, Utc};

use super::entry::EntryStatus;
use super::index::{IndexEntry, InputStamp, mtime_ns};

/// Whether a node must run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freshness {
    /// Its last run had this key and succeeded: replay the entry.
    Fresh {
        /// The key hex of the entry to replay.
        entry_key: String,
    },
    /// It runs, for this reason.
    Dirty(DirtyReason),
}

impl Freshness {
    /// True for [`Freshness::Fresh`].
    pub fn is_fresh(&self) -> bool {
        matches!(self, Freshness::Fresh { .. })
    }
}

/// Why a node runs; `Display` is the line `--explain` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirtyReason {
    /// The index has no run of it.
    NotRunBefore,
    /// Its key differs from its last run's: `what` is [`super::explain`]'s line
    /// (`command changed`, `input src/a.rs changed`, `item changed`, `env FOO changed`,
    /// `dependency test produced new output`...).
    KeyChanged {
        /// The first meaningful difference.
        what: String,
    },
    /// Its last run failed, so it is in the DLQ.
    FailedLastTime {
        /// When that run finished.
        since: DateTime<Utc>,
        /// Its failure kind (`timeout`, `command_failed`...).
        kind: String,
    },
    /// `--force`, or `cache: false`.
    Forced,
}

impl fmt::Display for DirtyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DirtyReason::NotRunBefore => f.write_str("not run before"),
            DirtyReason::KeyChanged { what } => f.write_str(what),
            DirtyReason::FailedLastTime { since, kind } => write!(
                f,
                "failed last time (in DLQ since {}: {kind})",
                since.format("%Y-%m-%d %H:%M:%S UTC")
            ),
            DirtyReason::Forced => f.write_str("forced"),
        }
    }
}

/// The freshness of a node whose new key is `key` (hex), given its last run `stored`
/// from the index. `why` names the change when the key differs (typically: load the old
/// entry, then [`super::explain`] its key against the new one); it is called for those
/// nodes only.
pub fn decide(
    stored: Option<&IndexEntry>,
    key: &str,
    forced: bool,
    why: impl FnOnce(&IndexEntry) -> String,
) -> Freshness {
    let reason = match stored {
        _ if forced => DirtyReason::Forced,
        None => DirtyReason::NotRunBefore,
        Some(last) if last.status == EntryStatus::Failed => DirtyReason::FailedLastTime {
            since: last.finished_at,
            kind: last.failure_kind.clone().unwrap_or_else(|| "failed".into()),
        },
        Some(last) if last.key != key => DirtyReason::KeyChanged { what: why(last) },
        Some(_) => {
            return Freshness::Fresh {
                entry_key: key.to_string(),
            };
        }
    };
    Freshness::Dirty(reason)
}

/// True when `meta` shows the file as it was stamped (same size and mtime), so its
/// stamped digest can be reused without reading it. False means "hash it again": the
/// digest, not the mtime, decides whether the input changed (a `touch` changes nothing).
pub fn stamp_matches(stamp: &InputStamp, meta: &Metadata) -> bool {
    stamp.mtime_ns != InputStamp::UNSETTLED
        && stamp.size == meta.len()
        && stamp.mtime_ns == mtime_ns(meta)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn last(key: &str, status: EntryStatus) -> IndexEntry {
        IndexEntry {
            key: key.to_string(),
            output: "0".repeat(64),
            status,
            failure_kind: (status == EntryStatus::Failed).then(|| "timeout".into()),
            finished_at: at(),
            inputs: Vec::new(),
        }
    }

    fn reason(freshness: Freshness) -> String {
        match freshness {
            Freshness::Dirty(reason) => reason.to_string(),
            Freshness::Fresh { entry_key } => format!("fresh {entry_key}"),
        }
    }

    #[test]
    fn dirty_reasons_render_one_line_each() {
        let cases = [
            (DirtyReason::NotRunBefore, "not run before"),
            (
                DirtyReason::KeyChanged {
                    what: "input src/a.rs changed".into(),
                },
                "input src/a.rs changed",
            ),
            (
                DirtyReason::FailedLastTime {
                    since: at(),
                    kind: "timeout".into(),
                },
                "failed last time (in DLQ since 2025-01-02 03:04:05 UTC: timeout)",
            ),
            (DirtyReason::Forced, "forced"),
        ];
        for (reason, line) in cases {
            assert_eq!(reason.to_string(), line);
        }
    }

    #[test]
    fn decide_checks_force_history_failure_then_key() {
        let ok = last("k1", EntryStatus::Succeeded);
        let never = |_: &IndexEntry| -> String { panic!("why is only asked when keys differ") };
        assert_eq!(reason(decide(Some(&ok), "k1", true, never)), "forced");
        assert_eq!(reason(decide(None, "k1", false, never)), "not run before");
        let failed = last("k1", EntryStatus::Failed);
        assert_eq!(
            reason(decide(Some(&failed), "k1", false, never)),
            "failed last time (in DLQ since 2025-01-02 03:04:05 UTC: timeout)"
        );
        let changed = decide(Some(&ok), "k2", false, |old| format!("{} -> k2", old.key));
        assert_eq!(reason(changed), "k1 -> k2");
        let fresh = decide(Some(&ok), "k1", false, never);
        assert!(fresh.is_fresh());
        assert_eq!(reason(fresh), "fresh k1");
    }

    #[test]
    fn stamps_match_on_size_and_mtime_only_when_settled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.rs");
        std::fs::write(&path, "one").unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        let later = SystemTime::now() + Duration::from_secs(10);
        let stamp = InputStamp::new("a.rs", &meta, "d".into(), later);
        assert!(stamp_matches(&stamp, &meta));
        let unsettled = InputStamp::new("a.rs", &meta, "d".into(), SystemTime::now());
        assert!(
            !stamp_matches(&unsettled, &meta),
            "a recent file is hashed again"
        );

        std::fs::write(&path, "two!").unwrap();
        assert!(!stamp_matches(&stamp, &std::fs::metadata(&path).unwrap()));
        let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(old).unwrap();
        let touched = std::fs::metadata(&path).unwrap();
        let mut same_size = stamp.clone();
        same_size.size = touched.len();
        assert!(
            !stamp_matches(&same_size, &touched),
            "a new mtime means: hash it"
        );
    }
}
