//! What `prodigy cache stats|gc|clean` print: pure functions from `crate::cache` stats,
//! gc reports and the last run's record to text or JSON. The JSON of `stats` carries
//! `schema_version` (the cache's).

use chrono::SecondsFormat;
use serde_json::{Value, json};

use crate::cache::{CACHE_SCHEMA_VERSION, CacheStats, GcReport, LastRun};

/// `build cache: 3 entries, 5 blobs, 1.2 MiB`, then the last build's hit rate.
pub fn stats_text(stats: &CacheStats, last: Option<&LastRun>) -> String {
    format!(
        "build cache: {}, {}, {}\n{}\n",
        count(stats.entries, "entry", "entries"),
        count(stats.blobs, "blob", "blobs"),
        bytes(stats.bytes),
        last.map_or_else(|| "no build recorded yet".to_string(), hit_rate)
    )
}

/// `{schema_version, entries, blobs, bytes, last_run: {job_id, finished_at, hits, ran,
/// not_cached, hit_rate} | null}`.
pub fn stats_json(stats: &CacheStats, last: Option<&LastRun>) -> Value {
    let last_run = last.map(|run| {
        json!({
            "job_id": run.job_id,
            "finished_at": run.finished_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            "hits": run.hits,
            "ran": run.ran,
            "not_cached": run.not_cached,
            "hit_rate": run.hit_rate(),
        })
    });
    json!({
        "schema_version": CACHE_SCHEMA_VERSION,
        "entries": stats.entries,
        "blobs": stats.blobs,
        "bytes": stats.bytes,
        "last_run": last_run,
    })
}

/// `removed 2 entries and 3 blobs (1.2 MiB); kept 1 entry and 1 blob (4.0 KiB)`.
pub fn gc_text(report: &GcReport) -> String {
    format!(
        "removed {}; kept {}\n",
        contents(&report.removed),
        contents(&report.kept)
    )
}

/// `removed 2 entries and 3 blobs (1.2 MiB)`.
pub fn clean_text(removed: &CacheStats) -> String {
    format!("removed {}\n", contents(removed))
}

/// `waiting for the build cache lock held by pid 42...`, before blocking on it.
pub fn waiting_text(holder_pid: Option<u32>) -> String {
    let held = holder_pid.map_or_else(String::new, |pid| format!(" held by pid {pid}"));
    format!("waiting for the build cache lock{held}...\n")
}

/// `hit rate of the last build: 75% (3 cached, 1 ran)`, with nodes that cannot be
/// cached when there were some.
fn hit_rate(run: &LastRun) -> String {
    let not_cached = match run.not_cached {
        0 => String::new(),
        n => format!(", {n} not cacheable"),
    };
    match run.hits + run.ran {
        0 => format!(
            "the last build had no cacheable node ({} not cacheable)",
            run.not_cached
        ),
        total => format!(
            "hit rate of the last build: {} ({} cached, {} ran{not_cached})",
            percent(run.hits, total),
            run.hits,
            run.ran
        ),
    }
}

/// `75%`, `66.6%`: rounded down to a tenth, so that only a build with no miss shows 100%.
fn percent(part: u64, total: u64) -> String {
    let tenths = u128::from(part) * 1000 / u128::from(total.max(1));
    match tenths % 10 {
        0 => format!("{}%", tenths / 10),
        rest => format!("{}.{rest}%", tenths / 10),
    }
}

/// `2 entries and 3 blobs (1.2 MiB)`.
fn contents(stats: &CacheStats) -> String {
    format!(
        "{} and {} ({})",
        count(stats.entries, "entry", "entries"),
        count(stats.blobs, "blob", "blobs"),
        bytes(stats.bytes)
    )
}

/// `1 entry`, `2 entries`.
fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `512 B`, `1.5 KiB`, `1.2 MiB`: powers of 1024, one decimal above bytes.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn run(hits: u64, ran: u64, not_cached: u64) -> LastRun {
        LastRun {
            schema_version: CACHE_SCHEMA_VERSION,
            job_id: "b-1".to_string(),
            finished_at: Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap(),
            hits,
            ran,
            not_cached,
        }
    }

    fn stats(entries: u64, blobs: u64, bytes: u64) -> CacheStats {
        CacheStats {
            entries,
            blobs,
            bytes,
        }
    }

    #[test]
    fn stats_show_sizes_and_the_last_hit_rate() {
        assert_eq!(
            stats_text(&CacheStats::default(), None),
            "build cache: 0 entries, 0 blobs, 0 B\nno build recorded yet\n"
        );
        assert_eq!(
            stats_text(&stats(1, 2, 1_300_000), Some(&run(3, 1, 0))),
            "build cache: 1 entry, 2 blobs, 1.2 MiB\n\
             hit rate of the last build: 75% (3 cached, 1 ran)\n"
        );
        assert!(
            stats_text(&stats(0, 0, 0), Some(&run(2, 1, 4)))
                .contains("hit rate of the last build: 66.6% (2 cached, 1 ran, 4 not cacheable)")
        );
        assert!(
            stats_text(&stats(0, 0, 0), Some(&run(0, 0, 3)))
                .contains("the last build had no cacheable node (3 not cacheable)")
        );
    }

    #[test]
    fn stats_json_has_the_documented_shape() {
        let with = stats_json(&stats(1, 2, 3), Some(&run(3, 1, 0)));
        assert_eq!(with["schema_version"], CACHE_SCHEMA_VERSION);
        assert_eq!(
            (with["entries"].as_u64(), with["bytes"].as_u64()),
            (Some(1), Some(3))
        );
        assert_eq!(with["last_run"]["finished_at"], "2025-01-02T03:04:05Z");
        assert_eq!(with["last_run"]["hit_rate"], 0.75);
        assert_eq!(
            stats_json(&stats(0, 0, 0), Some(&run(0, 0, 1)))["last_run"]["hit_rate"],
            Value::Null
        );
        assert_eq!(stats_json(&stats(0, 0, 0), None)["last_run"], Value::Null);
    }

    #[test]
    fn gc_and_clean_say_what_went_and_what_stayed() {
        let report = GcReport {
            removed: stats(2, 1, 2048),
            kept: stats(1, 0, 10),
        };
        assert_eq!(
            gc_text(&report),
            "removed 2 entries and 1 blob (2.0 KiB); kept 1 entry and 0 blobs (10 B)\n"
        );
        assert_eq!(
            clean_text(&CacheStats::default()),
            "removed 0 entries and 0 blobs (0 B)\n"
        );
        assert_eq!(
            waiting_text(Some(42)),
            "waiting for the build cache lock held by pid 42...\n"
        );
        assert_eq!(waiting_text(None), "waiting for the build cache lock...\n");
    }

    #[test]
    fn percents_round_down_and_bytes_use_binary_units() {
        assert_eq!(percent(999, 1000), "99.9%");
        assert_eq!(percent(1, 1), "100%");
        assert_eq!(percent(0, 5), "0%");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
    }
}
