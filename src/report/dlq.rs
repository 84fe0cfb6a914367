//! What `prodigy dlq list|show|stats|export` print: pure functions from `crate::dlq`
//! items and stats to text, JSON or CSV. The JSON of `list`, `show` and `stats` carries
//! `schema_version`; `export --format json` is a plain array of items with history.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::plural;
use crate::dlq::{DLQ_SCHEMA_VERSION, DlqItem, DlqRecord, DlqStats, RecordStatus};

/// How many characters of a message `list` shows.
const MESSAGE_WIDTH: usize = 60;

/// One line per item: id, job, attempts, kind, time of the latest attempt, message.
pub fn list_text(items: &[DlqItem]) -> String {
    if items.is_empty() {
        return "The dead-letter queue is empty.\n".to_string();
    }
    let mut rows =
        vec![["ITEM", "JOB", "ATTEMPTS", "KIND", "LAST ATTEMPT", "MESSAGE"].map(String::from)];
    for item in items {
        let latest = item.latest();
        rows.push([
            item.item_id.clone(),
            item.job_id.clone(),
            item.attempts().to_string(),
            latest.kind.clone(),
            time(latest.finished_at),
            truncate(&latest.message, MESSAGE_WIDTH),
        ]);
    }
    let mut text = table(&rows);
    let cancelled = items
        .iter()
        .filter(|i| i.status == RecordStatus::Cancelled)
        .count();
    text.push_str(&format!(
        "{} in the dead-letter queue ({} failed, {cancelled} cancelled)\n",
        plural(items.len(), "item"),
        items.len() - cancelled
    ));
    text
}

/// `{"schema_version": 1, "items": [{job_id, item_id, status, attempts, kind, ...}]}`.
pub fn list_json(items: &[DlqItem]) -> Value {
    let items: Vec<Value> = items
        .iter()
        .map(|item| {
            let latest = item.latest();
            json!({
                "job_id": item.job_id,
                "item_id": item.item_id,
                "item_index": item.item_index,
                "status": item.status,
                "attempts": item.attempts(),
                "kind": latest.kind,
                "message": latest.message,
                "exit_code": latest.exit_code,
                "retryable": latest.retryable,
                "finished_at": time(latest.finished_at),
                "correlation_id": latest.correlation_id,
            })
        })
        .collect();
    json!({ "schema_version": DLQ_SCHEMA_VERSION, "items": items })
}

/// The item's JSON, then every attempt with its stderr tail.
pub fn show_text(item: &DlqItem) -> String {
    let mut text = format!(
        "{} (job {}, index {}): {} after {}\n",
        item.item_id,
        item.job_id,
        item.item_index,
        item.status.as_str(),
        plural(item.attempts() as usize, "attempt")
    );
    text.push_str("item:\n");
    let pretty = serde_json::to_string_pretty(&item.item).unwrap_or_else(|_| item.item.to_string());
    text.push_str(&indent(&pretty, "  "));
    text.push_str("history:\n");
    for record in &item.history {
        text.push_str(&attempt_text(record));
    }
    text
}

/// One record of `show`.
fn attempt_text(r: &DlqRecord) -> String {
    let mut head = format!(
        "  attempt {}  {}  {}",
        r.attempt,
        time(r.finished_at),
        r.status.as_str()
    );
    if r.status != RecordStatus::Resolved {
        head.push_str(&format!("  {}", r.kind));
    }
    if let Some(code) = r.exit_code {
        head.push_str(&format!("  exit {code}"));
    }
    head.push_str(&format!(
        "  {}  {}\n",
        duration(r.duration_ms),
        r.correlation_id
    ));
    head.push_str(&format!("    message: {}\n", r.message));
    if !r.stderr_tail.is_empty() {
        head.push_str("    stderr:\n");
        head.push_str(&indent(&r.stderr_tail, "      "));
    }
    head
}

/// `{"schema_version": 1, "job_id", "item_id", "item", "item_index", "status", "history"}`.
pub fn show_json(item: &DlqItem) -> Value {
    let mut value = serde_json::to_value(item).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.insert("schema_version".to_string(), DLQ_SCHEMA_VERSION.into());
    }
    value
}

/// Counts, failure rate, kinds and patterns with hints.
pub fn stats_text(stats: &DlqStats) -> String {
    let mut text = format!(
        "{} in the dead-letter queue ({} failed, {} cancelled), {} retryable\n",
        plural(stats.items, "item"),
        stats.failed,
        stats.cancelled,
        stats.retryable
    );
    if stats.items == 0 {
        return text;
    }
    if let (Some(rate), Some(total)) = (stats.failure_rate, stats.total_items) {
        text.push_str(&format!(
            "failure rate: {:.1}% ({} of {})\n",
            rate * 100.0,
            stats.failed,
            plural(total, "item")
        ));
    }
    text.push_str(&format!(
        "average attempts: {:.1}\n",
        stats.average_attempts
    ));
    if let Some(most) = &stats.most_common_kind {
        text.push_str(&format!(
            "most common kind: {} ({})\n",
            most.kind, most.count
        ));
    }
    text.push_str("by kind:\n");
    let rows: Vec<[String; 2]> = stats
        .by_kind
        .iter()
        .map(|(kind, count)| [format!("  {kind}"), count.to_string()])
        .collect();
    text.push_str(&table(&rows));
    text.push_str("patterns:\n");
    for p in &stats.patterns {
        text.push_str(&format!("  {} x {}: {}\n", p.count, p.kind, p.pattern));
        let mut ids = p.item_ids.join(", ");
        if p.count > p.item_ids.len() {
            ids.push_str(", ...");
        }
        text.push_str(&format!("      e.g. {:?} ({ids})\n", p.example));
        text.push_str(&format!("      hint: {}\n", p.hint));
    }
    text
}

/// `{"schema_version": 1, ...stats}`.
pub fn stats_json(stats: &DlqStats) -> Value {
    let mut value = serde_json::to_value(stats).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.insert("schema_version".to_string(), DLQ_SCHEMA_VERSION.into());
    }
    value
}

/// Every item with its full history, as a JSON array.
pub fn export_json(items: &[DlqItem]) -> Value {
    serde_json::to_value(items).unwrap_or_default()
}

/// One row per record, RFC 4180 (CRLF line ends; fields with commas, quotes or line
/// breaks quoted, quotes doubled).
pub fn export_csv(items: &[DlqItem]) -> String {
    let mut out = String::from(
        "job_id,item_id,attempt,status,kind,exit_code,duration_ms,finished_at,message\r\n",
    );
    for record in items.iter().flat_map(|i| &i.history) {
        let fields = [
            record.job_id.clone(),
            record.item_id.clone(),
            record.attempt.to_string(),
            record.status.as_str().to_string(),
            record.kind.clone(),
            record.exit_code.map(|c| c.to_string()).unwrap_or_default(),
            record.duration_ms.to_string(),
            time(record.finished_at),
            record.message.clone(),
        ];
        let fields: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

/// A CSV field, quoted when it must be.
fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

/// `2025-01-02T03:04:05Z`.
fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `250ms`, `1.5s`, `2m 05s`.
fn duration(ms: u64) -> String {
    match ms {
        0..1000 => format!("{ms}ms"),
        1000..60_000 => format!("{:.1}s", ms as f64 / 1000.0),
        _ => format!("{}m {:02}s", ms / 60_000, ms % 60_000 / 1000),
    }
}

/// The first line of `text`, cut to `width` characters with `...`.
fn truncate(text: &str, width: usize) -> String {
    let line = text.lines().next().unwrap_or("");
    if line.chars().count() <= width && line.len() == text.trim_end().len() {
        return line.to_string();
    }
    let cut: String = line.chars().take(width.saturating_sub(3)).collect();
    format!("{}...", cut.trim_end())
}

/// Every line of `text` prefixed, each ending in a newline.
fn indent(text: &str, prefix: &str) -> String {
    text.lines().map(|l| format!("{prefix}{l}\n")).collect()
}

/// Left-aligned columns two spaces apart; the last column is not padded.
fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<0$}  ", widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dlq::fixtures::record;
    use crate::dlq::stats;

    fn items() -> Vec<DlqItem> {
        let mut second = record("j1", "item_2", 2, "command_failed", "exit code 2");
        second.message = "said \"no\", then\nstopped".to_string();
        vec![
            DlqItem {
                job_id: "j1".to_string(),
                item_id: "item_1".to_string(),
                item: json!({"file": "a.rs"}),
                item_index: 1,
                status: RecordStatus::Failed,
                history: vec![record("j1", "item_1", 1, "timeout", &"x".repeat(100))],
            },
            DlqItem {
                job_id: "j1".to_string(),
                item_id: "item_2".to_string(),
                item: json!({"file": "b.rs"}),
                item_index: 2,
                status: RecordStatus::Failed,
                history: vec![
                    record("j1", "item_2", 1, "command_failed", "exit code 1"),
                    second,
                ],
            },
        ]
    }

    #[test]
    fn list_has_one_aligned_line_per_item_and_truncates_messages() {
        let text = list_text(&items());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(
            lines[0].starts_with("ITEM    JOB  ATTEMPTS  KIND "),
            "{text}"
        );
        assert!(
            lines[1].contains("timeout") && lines[1].ends_with("x..."),
            "{text}"
        );
        assert!(lines[1].len() < 140, "{text}");
        assert!(
            lines[2].contains("2025-01-02T03:06:06Z  said \"no\", then..."),
            "{text}"
        );
        assert_eq!(
            lines[3],
            "2 items in the dead-letter queue (2 failed, 0 cancelled)"
        );
        assert_eq!(list_text(&[]), "The dead-letter queue is empty.\n");
        let json = list_json(&items());
        assert_eq!(json["schema_version"], 1);
        assert_eq!(json["items"][1]["attempts"], 2);
        assert_eq!(json["items"][1]["exit_code"], 1);
    }

    #[test]
    fn show_prints_the_item_then_every_attempt() {
        let item = &items()[1];
        let text = show_text(item);
        assert!(text.starts_with("item_2 (job j1, index 2): failed after 2 attempts\nitem:\n  {\n    \"file\": \"b.rs\"\n  }\nhistory:\n"), "{text}");
        assert!(text.contains("  attempt 1  2025-01-02T03:05:06Z  failed  command_failed  exit 1  1.5s  j1/map.item_2\n"), "{text}");
        assert!(
            text.contains("    stderr:\n      error: boom\n      help: fix it\n"),
            "{text}"
        );
        let json = show_json(item);
        assert_eq!(json["schema_version"], 1);
        assert_eq!(json["history"][1]["attempt"], 2);
    }

    #[test]
    fn stats_render_rate_kinds_and_patterns() {
        let s = stats(&items(), Some(4));
        let text = stats_text(&s);
        assert!(
            text.starts_with(
                "2 items in the dead-letter queue (2 failed, 0 cancelled), 1 retryable\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("failure rate: 50.0% (2 of 4 items)\n"),
            "{text}"
        );
        assert!(
            text.contains("hint: raise `timeout` or split the item"),
            "{text}"
        );
        assert_eq!(stats_json(&s)["by_kind"]["timeout"], 1);
        assert_eq!(stats_json(&s)["schema_version"], 1);
    }

    #[test]
    fn csv_quotes_commas_quotes_and_newlines() {
        let csv = export_csv(&items());
        let rows: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(
            rows[0],
            "job_id,item_id,attempt,status,kind,exit_code,duration_ms,finished_at,message"
        );
        assert_eq!(
            rows[2],
            "j1,item_2,1,failed,command_failed,1,1500,2025-01-02T03:05:06Z,exit code 1"
        );
        assert_eq!(
            rows[3],
            "j1,item_2,2,failed,command_failed,1,1500,2025-01-02T03:06:06Z,\"said \"\"no\"\", then\nstopped\""
        );
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(export_json(&items()).as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(250), "250ms");
        assert_eq!(duration(1500), "1.5s");
        assert_eq!(duration(125_000), "2m 05s");
    }
}
