//! One job's append-only JSON Lines file: reading it line by line, and appending whole
//! lines with one `write_all` and `sync_data`. The caller (`store.rs`) holds the lock.
//!
//! Crash safety: a crash mid-append leaves a trailing partial line (no newline). Readers
//! skip it with a warning. The next writer never truncates it; it ends that line and
//! writes [`TORN_MARKER`] after it, so readers can tell the remains of a crashed append
//! from corruption: an unparsable line is only tolerated at the end of the file or right
//! before a marker; anywhere else it is [`DlqError::Corrupt`].

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use serde_json::Value;

use super::record::DlqRecord;
use super::{DLQ_SCHEMA_VERSION, DlqError, DlqWarning, io_error};

/// The line a writer adds after a torn line it found at the end of the file.
pub(crate) const TORN_MARKER: &str = r#"{"schema_version":1,"torn_previous_line":true}"#;

/// How a reader treats unparsable lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A corrupt line is an error (listing, showing, resolving).
    Strict,
    /// A corrupt line is a warning (clearing, which must work on a damaged file).
    Lenient,
}

/// What one line holds.
enum Line {
    Record(Box<DlqRecord>),
    Marker,
    Bad(String),
}

/// Reads every record of `path` (the file of `job_id`), oldest first. A missing file has
/// no records. Warnings (torn lines, and corrupt lines in lenient mode) go to `warnings`.
pub(crate) fn read(
    path: &Path,
    job_id: &str,
    mode: Mode,
    warnings: &mut Vec<DlqWarning>,
) -> Result<Vec<DlqRecord>, DlqError> {
    let mut records = Vec::new();
    read_each(path, job_id, mode, warnings, |r| records.push(r))?;
    Ok(records)
}

/// Streams the records of `path` to `each`, oldest first, one line in memory at a time.
pub(crate) fn read_each(
    path: &Path,
    job_id: &str,
    mode: Mode,
    warnings: &mut Vec<DlqWarning>,
    mut each: impl FnMut(DlqRecord),
) -> Result<(), DlqError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error(path, e)),
    };
    let mut reader = BufReader::new(file);
    let mut buf = Vec::new();
    let mut line = 0;
    // An unparsable complete line: torn if a marker follows, corrupt otherwise.
    let mut pending: Option<(usize, String)> = None;
    let corrupt = |line: usize, message: String| DlqError::Corrupt {
        path: path.to_path_buf(),
        line,
        message,
    };
    let reject = |line: usize, message: String, warnings: &mut Vec<DlqWarning>| match mode {
        Mode::Strict => Err(corrupt(line, message)),
        Mode::Lenient => {
            warnings.push(DlqWarning::new(path, line, format!("skipped: {message}")));
            Ok(())
        }
    };
    loop {
        buf.clear();
        if reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| io_error(path, e))?
            == 0
        {
            break;
        }
        line += 1;
        let complete = buf.ends_with(b"\n");
        let text = buf.trim_ascii_end();
        if text.is_empty() {
            continue;
        }
        match parse(text, path)? {
            Line::Record(record) => {
                if let Some((at, message)) = pending.take() {
                    reject(at, message, warnings)?;
                }
                if record.job_id != job_id {
                    let message = format!(
                        "record of job `{}` in the file of job `{job_id}`",
                        record.job_id
                    );
                    reject(line, message, warnings)?;
                    continue;
                }
                each(*record);
            }
            Line::Marker => {
                if let Some((at, _)) = pending.take() {
                    warnings.push(torn(path, at));
                }
            }
            Line::Bad(_) if !complete && TORN_MARKER.as_bytes().starts_with(text) => {
                // A writer crashed while writing the marker itself.
                if let Some((at, _)) = pending.take() {
                    warnings.push(torn(path, at));
                }
                warnings.push(torn(path, line));
            }
            Line::Bad(message) => {
                if let Some((at, message)) = pending.take() {
                    reject(at, message, warnings)?;
                }
                if complete {
                    pending = Some((line, message));
                } else {
                    warnings.push(torn(path, line));
                }
            }
        }
    }
    if let Some((at, message)) = pending {
        reject(at, message, warnings)?;
    }
    Ok(())
}

/// Parses one line; a record of another schema version is an error, not a bad line.
fn parse(text: &[u8], path: &Path) -> Result<Line, DlqError> {
    let value: Value = match serde_json::from_slice(text) {
        Ok(value) => value,
        Err(e) => return Ok(Line::Bad(format!("not JSON: {e}"))),
    };
    if value.get("torn_previous_line") == Some(&Value::Bool(true)) {
        return Ok(Line::Marker);
    }
    let Some(found) = value.get("schema_version").and_then(Value::as_u64) else {
        return Ok(Line::Bad("no `schema_version` field".to_string()));
    };
    if found != u64::from(DLQ_SCHEMA_VERSION) {
        return Err(DlqError::Version {
            path: path.to_path_buf(),
            found: u32::try_from(found).unwrap_or(u32::MAX),
            supported: DLQ_SCHEMA_VERSION,
        });
    }
    match serde_json::from_value::<DlqRecord>(value) {
        Ok(record) => Ok(Line::Record(Box::new(record))),
        Err(e) => Ok(Line::Bad(format!("not a DLQ record: {e}"))),
    }
}

/// The warning for a line cut short by a crash.
fn torn(path: &Path, line: usize) -> DlqWarning {
    DlqWarning::new(
        path,
        line,
        "incomplete line ignored (a write was interrupted, probably by a crash)".to_string(),
    )
}

/// Appends complete `lines` (each ending in a newline) to `path` with one `write_all`,
/// then `sync_data`. If the file ends in a torn line, ends it and adds a marker first.
pub(crate) fn append(path: &Path, lines: &[u8]) -> Result<(), DlqError> {
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| io_error(path, e))?;
    let len = file.metadata().map_err(|e| io_error(path, e))?.len();
    let mut bytes = Vec::with_capacity(lines.len() + TORN_MARKER.len() + 2);
    if len > 0 && !ends_with_newline(&mut file).map_err(|e| io_error(path, e))? {
        bytes.push(b'\n');
        bytes.extend_from_slice(TORN_MARKER.as_bytes());
        bytes.push(b'\n');
    }
    bytes.extend_from_slice(lines);
    file.write_all(&bytes).map_err(|e| io_error(path, e))?;
    file.sync_data().map_err(|e| io_error(path, e))?;
    if len == 0 {
        // Make the new file's directory entry durable too (best effort: not every
        // platform can open a directory).
        if let Some(dir) = path.parent() {
            let _ = File::open(dir).and_then(|d| d.sync_all());
        }
    }
    Ok(())
}

/// True when the last byte of a non-empty file is a newline.
fn ends_with_newline(file: &mut File) -> std::io::Result<bool> {
    let mut last = [0u8; 1];
    file.seek(SeekFrom::End(-1))?;
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}
