//! The numbers behind `prodigy dlq stats`: counts by error kind, failure rate, and
//! failure patterns (items whose last message is the same once numbers, paths and hashes
//! are normalised) with a remediation hint per kind. Pure: items in, `DlqStats` out;
//! `report::dlq` renders it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::record::{DlqItem, RecordStatus};

/// Statistics over the items in the DLQ.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DlqStats {
    /// Items in the DLQ (failed + cancelled); resolved items passed in are ignored.
    pub items: usize,
    /// Items whose latest attempt failed.
    pub failed: usize,
    /// Items cancelled or never started (counted separately from failures).
    pub cancelled: usize,
    /// Items by the error kind of their latest record.
    pub by_kind: BTreeMap<String, usize>,
    /// The kind with the most items (ties: alphabetical).
    pub most_common_kind: Option<KindCount>,
    /// All map items of the job(s), when known.
    pub total_items: Option<usize>,
    /// `failed / total_items` (cancelled items are not failures), when the total is known.
    pub failure_rate: Option<f64>,
    /// Items whose latest record is retryable.
    pub retryable: usize,
    /// Mean of the attempts per item (0 when empty).
    pub average_attempts: f64,
    /// Groups of items with the same normalised message, largest first.
    pub patterns: Vec<Pattern>,
}

/// A kind and how many items have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KindCount {
    /// The error kind.
    pub kind: String,
    /// Items.
    pub count: usize,
}

/// Items that failed the same way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pattern {
    /// The error kind.
    pub kind: String,
    /// The normalised message: numbers as `<n>`, paths as `<path>`, hashes as `<hex>`.
    pub pattern: String,
    /// One original message.
    pub example: String,
    /// Items.
    pub count: usize,
    /// The ids of those items (first few only, in DLQ order).
    pub item_ids: Vec<String>,
    /// What to do about it.
    pub hint: String,
}

/// How many item ids a pattern keeps.
const PATTERN_ITEM_IDS: usize = 5;

/// Statistics over `items` (usually `DlqStore::items`); `total_items` is the number of
/// map items the job(s) had, for the failure rate.
pub fn stats(items: &[DlqItem], total_items: Option<usize>) -> DlqStats {
    let items: Vec<&DlqItem> = items.iter().filter(|i| i.status.in_dlq()).collect();
    let failed = items
        .iter()
        .filter(|i| i.status == RecordStatus::Failed)
        .count();
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    let mut patterns: BTreeMap<(String, String), Pattern> = BTreeMap::new();
    for item in &items {
        let latest = item.latest();
        *by_kind.entry(latest.kind.clone()).or_default() += 1;
        let key = (latest.kind.clone(), normalize(&latest.message));
        let pattern = patterns.entry(key.clone()).or_insert_with(|| Pattern {
            kind: key.0,
            pattern: key.1,
            example: latest.message.clone(),
            count: 0,
            item_ids: Vec::new(),
            hint: remediation(&latest.kind).to_string(),
        });
        pattern.count += 1;
        if pattern.item_ids.len() < PATTERN_ITEM_IDS {
            pattern.item_ids.push(item.item_id.clone());
        }
    }
    let most_common_kind = by_kind
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
        .map(|(kind, &count)| KindCount {
            kind: kind.clone(),
            count,
        });
    let mut patterns: Vec<Pattern> = patterns.into_values().collect();
    patterns.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.pattern.cmp(&b.pattern))
    });
    let attempts: u64 = items.iter().map(|i| u64::from(i.attempts())).sum();
    DlqStats {
        items: items.len(),
        failed,
        cancelled: items.len() - failed,
        by_kind,
        most_common_kind,
        total_items,
        failure_rate: total_items
            .filter(|&t| t > 0)
            .map(|t| failed as f64 / t as f64),
        retryable: items.iter().filter(|i| i.latest().retryable).count(),
        average_attempts: if items.is_empty() {
            0.0
        } else {
            attempts as f64 / items.len() as f64
        },
        patterns,
    }
}

/// What to do about failures of `kind`.
pub fn remediation(kind: &str) -> &'static str {
    match kind {
        "authentication" => {
            "log in with `claude /login` or set ANTHROPIC_API_KEY; not retried automatically"
        }
        "timeout" => "raise `timeout` or split the item",
        "rate_limit" => "lower max_parallel or add retry_config with exponential backoff",
        "command_not_found" => "install the command or fix PATH; not retried automatically",
        "command_failed" => "look at `prodigy dlq show ITEM` for stderr",
        "circuit_open" => {
            "the circuit breaker opened after consecutive failures; fix the cause, then \
             `prodigy dlq retry`"
        }
        "cancelled" => {
            "never started or interrupted; `prodigy dlq retry` or the next run picks them up"
        }
        _ => "look at `prodigy dlq show ITEM`, fix the cause, then `prodigy dlq retry`",
    }
}

/// `message` with paths as `<path>`, hex digests as `<hex>` and numbers as `<n>`, so
/// "exit code 1" and "exit code 2" are one pattern.
pub fn normalize(message: &str) -> String {
    message
        .split_whitespace()
        .map(normalize_word)
        .collect::<Vec<_>>()
        .join(" ")
}

/// One whitespace-separated word: a path keeps its surrounding punctuation (quotes,
/// backticks, a trailing colon); otherwise alphanumeric runs are normalised.
fn normalize_word(word: &str) -> String {
    let is_edge = |c: char| !(c.is_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | '~'));
    let core = word.trim_matches(is_edge);
    // `/login` is a command, `src/a.rs` and `/tmp/x` are paths.
    if core.trim_start_matches('/').contains('/') {
        let start = word.len() - word.trim_start_matches(is_edge).len();
        return format!("{}<path>{}", &word[..start], &word[start + core.len()..]);
    }
    let mut out = String::with_capacity(word.len());
    let mut run = String::new();
    for c in word.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() {
            run.push(c);
            continue;
        }
        out.push_str(&normalize_run(&run));
        run.clear();
        out.push(c);
    }
    out.pop();
    out
}

/// An alphanumeric run: a hex digest (7+ hex digits with a digit) becomes `<hex>`,
/// otherwise each digit sequence becomes `<n>` (`30s` -> `<n>s`, `item_3` -> `item_<n>`).
fn normalize_run(run: &str) -> String {
    let hexlike = run.len() >= 7
        && run.chars().all(|c| c.is_ascii_hexdigit())
        && run.chars().any(|c| c.is_ascii_digit());
    if hexlike && !run.chars().all(|c| c.is_ascii_digit()) {
        return "<hex>".to_string();
    }
    let mut out = String::new();
    let mut in_number = false;
    for c in run.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                out.push_str("<n>");
            }
            in_number = true;
        } else {
            in_number = false;
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dlq::fixtures::record;
    use crate::dlq::record::group;

    #[test]
    fn normalises_numbers_paths_and_hashes() {
        assert_eq!(normalize("exit code 1"), "exit code <n>");
        assert_eq!(normalize("exit code 127"), "exit code <n>");
        assert_eq!(normalize("timed out after 30s"), "timed out after <n>s");
        assert_eq!(
            normalize("Not logged in · Please run /login"),
            "Not logged in · Please run /login"
        );
        assert_eq!(
            normalize("no such file: src/lib.rs"),
            "no such file: <path>"
        );
        assert_eq!(
            normalize("cannot read `/tmp/work/item_3.json`: denied"),
            "cannot read `<path>`: denied"
        );
        assert_eq!(normalize("commit 3f2a9bc1e0 failed"), "commit <hex> failed");
        assert_eq!(normalize("item_12 took 1.5s"), "item_<n> took <n>.<n>s");
        assert_eq!(normalize("Not logged in"), "Not logged in");
    }

    #[test]
    fn counts_kinds_rates_attempts_and_patterns() {
        let mut cancelled = record("j", "item_5", 1, "cancelled", "never started");
        cancelled.status = RecordStatus::Cancelled;
        let items = group(
            "j",
            vec![
                record("j", "item_1", 1, "command_failed", "exit code 1"),
                record("j", "item_2", 1, "command_failed", "exit code 2"),
                record("j", "item_2", 2, "command_failed", "exit code 3"),
                record("j", "item_3", 1, "timeout", "timed out after 30s"),
                record("j", "item_4", 1, "authentication", "Not logged in"),
                cancelled,
            ],
        );
        let s = stats(&items, Some(10));
        assert_eq!((s.items, s.failed, s.cancelled, s.retryable), (5, 4, 1, 1));
        assert_eq!(s.by_kind["command_failed"], 2);
        assert_eq!(
            s.most_common_kind,
            Some(KindCount {
                kind: "command_failed".to_string(),
                count: 2
            })
        );
        assert_eq!(s.failure_rate, Some(0.4));
        assert!((s.average_attempts - 1.2).abs() < 1e-9);
        let first = &s.patterns[0];
        assert_eq!((first.pattern.as_str(), first.count), ("exit code <n>", 2));
        assert_eq!(first.item_ids, ["item_1", "item_2"]);
        assert_eq!(first.hint, "look at `prodigy dlq show ITEM` for stderr");
        let auth = s
            .patterns
            .iter()
            .find(|p| p.kind == "authentication")
            .unwrap();
        assert!(auth.hint.contains("claude /login"), "{}", auth.hint);
        assert_eq!(s.patterns.len(), 4);
    }

    #[test]
    fn empty_dlq_has_no_rate_without_a_total() {
        let s = stats(&[], None);
        assert_eq!(
            (s.items, s.failure_rate, s.average_attempts),
            (0, None, 0.0)
        );
        assert!(s.most_common_kind.is_none());
    }
}
