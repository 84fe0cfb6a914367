//! Fresh or dirty, and why, in one line (cargo's `DirtyReason`). Pure: the caller reads
//! the index once, stats the declared inputs, computes each node's new key, and asks
//! [`decide`]; only for a key that changed does it open the old entry, to let
//! [`super::explain`] name the difference. Input stamps live here too: metadata that
//! lets a build skip hashing an unchanged input.

use std::fmt;
use std::fs::Metadata;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::digest::hex;
use super::entry::EntryStatus;
use super::index::IndexEntry;
use crate::graph::node::Digest;

/// Whether a node must run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freshness {
    /// Its last run had this key and succeeded: replay the entry.
    Fresh {
        /// The key of the entry to replay.
        entry_key: Digest,
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
    /// `--force`.
    Forced,
    /// The step says `cache: false`: it always runs.
    Uncached,
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
            DirtyReason::Uncached => f.write_str("cache: false"),
        }
    }
}

/// The freshness of a node whose new key is `key`, given its last run `stored`
/// from the index. `why` names the change when the key differs (typically: load the old
/// entry, then [`super::explain`] its key against the new one); it is called for those
/// nodes only.
pub fn decide(
    stored: Option<&IndexEntry>,
    key: &Digest,
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
        Some(last) if last.key != *key => DirtyReason::KeyChanged { what: why(last) },
        Some(_) => return Freshness::Fresh { entry_key: *key },
    };
    Freshness::Dirty(reason)
}

/// One declared input file: metadata to skip re-hashing, and the digest that decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputStamp {
    /// Relative to the workflow root, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Modification time in ns since the epoch, or [`InputStamp::UNSETTLED`].
    pub mtime_ns: i64,
    /// blake3 of the content.
    #[serde(with = "hex")]
    pub digest: Digest,
}

impl InputStamp {
    /// The `mtime_ns` of a file modified too recently to trust its mtime: a change within
    /// the file system's timestamp granularity would keep size and mtime (git's "racily
    /// clean" files). Such a stamp never matches, so the next build hashes the file.
    pub const UNSETTLED: i64 = i64::MIN;

    /// The stamp of `path` from its metadata and content digest, taken at `now`.
    pub fn new(path: impl Into<String>, meta: &Metadata, digest: Digest, now: SystemTime) -> Self {
        let settled = meta.modified().is_ok_and(|modified| {
            now.duration_since(modified)
                .is_ok_and(|age| age >= Duration::from_secs(2))
        });
        InputStamp {
            path: path.into(),
            size: meta.len(),
            mtime_ns: if settled {
                mtime_ns(meta)
            } else {
                Self::UNSETTLED
            },
            digest,
        }
    }
}

/// `meta`'s modification time in ns since the epoch (negative before it), or
/// [`InputStamp::UNSETTLED`] when the platform has none.
pub fn mtime_ns(meta: &Metadata) -> i64 {
    let Ok(modified) = meta.modified() else {
        return InputStamp::UNSETTLED;
    };
    let ns = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
    match modified.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => ns(after),
        Err(before) => -ns(before.duration()),
    }
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

    const K1: Digest = Digest([1; 32]);
    const K2: Digest = Digest([2; 32]);

    fn last(key: Digest, status: EntryStatus) -> IndexEntry {
        IndexEntry {
            key,
            output: Digest([0; 32]),
            status,
            failure_kind: (status == EntryStatus::Failed).then(|| "timeout".into()),
            finished_at: at(),
            inputs: Vec::new(),
        }
    }

    fn reason(freshness: Freshness) -> String {
        match freshness {
            Freshness::Dirty(reason) => reason.to_string(),
            Freshness::Fresh { entry_key } => format!("fresh {}", entry_key.0[0]),
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
            (DirtyReason::Uncached, "cache: false"),
        ];
        for (reason, line) in cases {
            assert_eq!(reason.to_string(), line);
        }
    }

    #[test]
    fn decide_checks_force_history_failure_then_key() {
        let ok = last(K1, EntryStatus::Succeeded);
        let never = |_: &IndexEntry| -> String { panic!("why is only asked when keys differ") };
        assert_eq!(reason(decide(Some(&ok), &K1, true, never)), "forced");
        assert_eq!(reason(decide(None, &K1, false, never)), "not run before");
        let failed = last(K1, EntryStatus::Failed);
        assert_eq!(
            reason(decide(Some(&failed), &K1, false, never)),
            "failed last time (in DLQ since 2025-01-02 03:04:05 UTC: timeout)"
        );
        let changed = decide(Some(&ok), &K2, false, |old| {
            format!("{} -> 2", old.key.0[0])
        });
        assert_eq!(reason(changed), "1 -> 2");
        let fresh = decide(Some(&ok), &K1, false, never);
        assert!(fresh.is_fresh());
        assert_eq!(reason(fresh), "fresh 1");
    }

    #[test]
    fn stamps_match_on_size_and_mtime_only_when_settled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.rs");
        std::fs::write(&path, "one").unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        let later = SystemTime::now() + Duration::from_secs(10);
        let stamp = InputStamp::new("a.rs", &meta, Digest([9; 32]), later);
        assert!(stamp_matches(&stamp, &meta));
        let unsettled = InputStamp::new("a.rs", &meta, Digest([9; 32]), SystemTime::now());
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

    #[test]
    fn recent_files_get_unsettled_stamps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.rs");
        std::fs::write(&path, "fn main() {}").unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        let now = SystemTime::now();
        let fresh = InputStamp::new("a.rs", &meta, Digest([1; 32]), now);
        assert_eq!((fresh.size, fresh.mtime_ns), (12, InputStamp::UNSETTLED));
        let later = InputStamp::new("a.rs", &meta, Digest([1; 32]), now + Duration::from_secs(3));
        assert_eq!(later.mtime_ns, mtime_ns(&meta));
    }
}
