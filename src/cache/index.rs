//! `index.jsonl`: the last run of every node, read once at the start of a build. A header
//! line `{"format":"prodigy-cache-index","schema_version":1}`, then one
//! `["<node id>", {IndexEntry}]` line per node; the last line of a node wins. Appended
//! as nodes finish (whole lines, one `sync_data`), rewritten compacted by `save_index`.

use std::collections::BTreeMap;
use std::fs::{Metadata, OpenOptions};
use std::io::{BufRead, BufReader, ErrorKind, Read, Seek, SeekFrom, Write};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::entry::EntryStatus;
use super::lock::CacheLock;
use super::store::{CacheStore, read_if_exists};
use super::{CACHE_SCHEMA_VERSION, CacheError, check_digest, io_error};

const FORMAT: &str = "prodigy-cache-index";

/// Every node's last run, by node id.
#[derive(Debug, Clone, PartialEq)]
pub struct Index {
    /// [`CACHE_SCHEMA_VERSION`]: the version this index is written with.
    pub schema_version: u32,
    /// Node id -> its last run.
    pub nodes: BTreeMap<String, IndexEntry>,
}

impl Default for Index {
    fn default() -> Self {
        Index {
            schema_version: CACHE_SCHEMA_VERSION,
            nodes: BTreeMap::new(),
        }
    }
}

/// The last run of one node: enough to decide its freshness and to compute its
/// dependents' keys without opening its entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// The node key's hex digest (its entry's name).
    pub key: String,
    /// The node's output digest (hex), which its dependents' keys hold.
    pub output: String,
    /// How it ended; only `succeeded` can be fresh.
    pub status: EntryStatus,
    /// The failure kind of a failed run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_kind: Option<String>,
    /// When it finished.
    pub finished_at: DateTime<Utc>,
    /// Its declared inputs as they were when it finished.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<InputStamp>,
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
    /// blake3 hex of the content.
    pub digest: String,
}

impl InputStamp {
    /// The `mtime_ns` of a file modified too recently to trust its mtime: a change within
    /// the file system's timestamp granularity would keep size and mtime (git's "racily
    /// clean" files). Such a stamp never matches, so the next build hashes the file.
    pub const UNSETTLED: i64 = i64::MIN;

    /// The stamp of `path` from its metadata and content digest, taken at `now`.
    pub fn new(path: impl Into<String>, meta: &Metadata, digest: String, now: SystemTime) -> Self {
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

#[derive(Serialize, Deserialize)]
struct Header<'a> {
    format: &'a str,
    schema_version: u32,
}

impl Index {
    /// The file's bytes: the header, then one line per node in id order.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = header();
        for (id, entry) in &self.nodes {
            push_line(&mut bytes, id, entry);
        }
        bytes
    }

    /// Reads an index file. Never fails: a foreign version or a missing header is an
    /// empty index; torn or corrupt lines are skipped. Each problem is one warning.
    pub fn decode(bytes: &[u8]) -> (Index, Vec<String>) {
        let mut index = Index::default();
        let mut warnings = Vec::new();
        let mut lines = bytes.split_inclusive(|b| *b == b'\n');
        let Some(first) = lines.next() else {
            return (index, warnings);
        };
        match serde_json::from_slice::<Header>(first) {
            Ok(h) if h.format == FORMAT && h.schema_version == CACHE_SCHEMA_VERSION => {}
            Ok(h) => {
                warnings.push(format!(
                    "cache index has schema version {}, this prodigy reads version {}; \
                     ignored: every node runs again",
                    h.schema_version, CACHE_SCHEMA_VERSION
                ));
                return (index, warnings);
            }
            Err(e) => {
                warnings.push(format!(
                    "not a cache index ({e}); ignored: every node runs again"
                ));
                return (index, warnings);
            }
        }
        let (mut corrupt, mut first_error) = (0, None);
        for (n, line) in lines.enumerate() {
            let Some(line) = line.strip_suffix(b"\n") else {
                warnings.push("last line cut short by an interrupted write; ignored".into());
                break;
            };
            match parse_line(line) {
                Ok((id, entry)) => {
                    index.nodes.insert(id, entry);
                }
                Err(e) => {
                    corrupt += 1;
                    first_error.get_or_insert(format!("line {}: {e}", n + 2));
                }
            }
        }
        if let Some(first) = first_error {
            warnings.push(format!(
                "{corrupt} corrupt line(s) ignored, those nodes run again (first: {first})"
            ));
        }
        (index, warnings)
    }
}

fn header() -> Vec<u8> {
    let mut bytes = serde_json::to_vec(&Header {
        format: FORMAT,
        schema_version: CACHE_SCHEMA_VERSION,
    })
    .unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

fn push_line(bytes: &mut Vec<u8>, id: &str, entry: &IndexEntry) {
    // Strings, numbers and a timestamp: serializing to memory cannot fail.
    let _ = serde_json::to_writer(&mut *bytes, &(id, entry));
    bytes.push(b'\n');
}

fn parse_line(line: &[u8]) -> Result<(String, IndexEntry), String> {
    let (id, entry): (String, IndexEntry) =
        serde_json::from_slice(line).map_err(|e| e.to_string())?;
    check_digest(&entry.key).map_err(|e| e.to_string())?;
    check_digest(&entry.output).map_err(|e| e.to_string())?;
    Ok((id, entry))
}

impl CacheStore {
    /// The index, or an empty one when there is none yet. Problems with its content are
    /// warnings ([`CacheStore::take_warnings`]), never errors: at worst everything runs.
    pub fn load_index(&self) -> Result<Index, CacheError> {
        let path = self.index_path();
        let Some(bytes) = read_if_exists(&path)? else {
            return Ok(Index::default());
        };
        let (index, warnings) = Index::decode(&bytes);
        for warning in warnings {
            self.warn(&path, &warning);
        }
        Ok(index)
    }

    /// Replaces the index with `index`, compacted, atomically.
    pub fn save_index(&self, index: &Index, lock: &CacheLock) -> Result<(), CacheError> {
        debug_assert_eq!(lock.path(), self.dir().join(".lock"));
        self.write(&self.index_path(), &index.encode())
    }

    /// Appends the latest run of some nodes (whole lines, then `sync_data`), so that a
    /// build killed later loses none of them. Repairs a torn last line first; replaces a
    /// file of another format.
    pub fn append_index<'a>(
        &self,
        nodes: impl IntoIterator<Item = (&'a str, &'a IndexEntry)>,
        lock: &CacheLock,
    ) -> Result<(), CacheError> {
        debug_assert_eq!(lock.path(), self.dir().join(".lock"));
        let path = self.index_path();
        let mut lines = Vec::new();
        for (id, entry) in nodes {
            push_line(&mut lines, id, entry);
        }
        if lines.is_empty() {
            return Ok(());
        }
        let mut file = match OpenOptions::new().read(true).append(true).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return self.write(&path, &[header(), lines].concat());
            }
            Err(e) => return Err(io_error(&path, e)),
        };
        let mut first = Vec::new();
        let ours = BufReader::new((&file).take(256))
            .read_until(b'\n', &mut first)
            .map_err(|e| io_error(&path, e))?;
        if ours == 0 || first != header() {
            return self.write(&path, &[header(), lines].concat());
        }
        let mut last = [0];
        file.seek(SeekFrom::End(-1))
            .and_then(|_| file.read_exact(&mut last))
            .map_err(|e| io_error(&path, e))?;
        if last[0] != b'\n' {
            lines.insert(0, b'\n');
        }
        file.write_all(&lines)
            .and_then(|()| file.sync_data())
            .map_err(|e| io_error(&path, e))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn node(n: u8, status: EntryStatus) -> IndexEntry {
        IndexEntry {
            key: format!("{n:02x}").repeat(32),
            output: "0f".repeat(32),
            status,
            failure_kind: (status == EntryStatus::Failed).then(|| "timeout".to_string()),
            finished_at: DateTime::parse_from_rfc3339("2025-01-02T03:04:05Z")
                .unwrap()
                .with_timezone(&Utc),
            inputs: vec![InputStamp {
                path: "src/a.rs".to_string(),
                size: 42,
                mtime_ns: 1_700_000_000_123_456_789,
                digest: "aa".repeat(32),
            }],
        }
    }

    fn index(nodes: &[(&str, IndexEntry)]) -> Index {
        Index {
            schema_version: CACHE_SCHEMA_VERSION,
            nodes: nodes
                .iter()
                .map(|(id, e)| (id.to_string(), e.clone()))
                .collect(),
        }
    }

    #[test]
    fn save_then_load_round_trips_atomically_without_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::open(dir.path());
        assert_eq!(store.load_index().unwrap(), Index::default());
        let lock = store.lock(false).unwrap();
        let saved = index(&[
            ("build", node(1, EntryStatus::Succeeded)),
            ("map/item_1", node(2, EntryStatus::Failed)),
        ]);
        store.save_index(&Index::default(), &lock).unwrap();
        store.save_index(&saved, &lock).unwrap();
        assert_eq!(store.load_index().unwrap(), saved);
        let mut names: Vec<String> = std::fs::read_dir(store.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [".lock", "index.jsonl"]);
        assert!(store.take_warnings().is_empty());
    }

    #[test]
    fn appended_lines_win_and_a_torn_last_line_is_skipped_then_repaired() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::open(dir.path());
        let lock = store.lock(false).unwrap();
        let first = node(1, EntryStatus::Failed);
        store.append_index([("a", &first)], &lock).unwrap();
        let second = node(2, EntryStatus::Succeeded);
        store
            .append_index([("a", &second), ("b", &first)], &lock)
            .unwrap();
        let path = store.index_path();
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"[\"c\",{\"key\":\"12").unwrap();
        let loaded = store.load_index().unwrap();
        assert_eq!(
            loaded,
            index(&[("a", second.clone()), ("b", first.clone())])
        );
        let warnings = store.take_warnings();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].message.contains("cut short"), "{warnings:?}");

        store.append_index([("c", &second)], &lock).unwrap();
        let loaded = store.load_index().unwrap();
        assert_eq!(loaded.nodes.len(), 3);
        assert!(
            store.take_warnings()[0]
                .message
                .contains("1 corrupt line(s)")
        );
        store.save_index(&loaded, &lock).unwrap();
        assert_eq!(store.load_index().unwrap(), loaded);
        assert!(
            store.take_warnings().is_empty(),
            "compaction drops the torn line"
        );
    }

    #[test]
    fn an_index_of_another_version_is_empty_with_a_warning_and_replaced_on_append() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::open(dir.path());
        let lock = store.lock(false).unwrap();
        let newer = "{\"format\":\"prodigy-cache-index\",\"schema_version\":2}\n[\"a\",{}]\n";
        std::fs::write(store.index_path(), newer).unwrap();
        assert_eq!(store.load_index().unwrap(), Index::default());
        let warnings = store.take_warnings();
        assert!(
            warnings[0].message.contains("schema version 2"),
            "{warnings:?}"
        );
        assert!(warnings[0].message.contains("every node runs again"));

        let entry = node(3, EntryStatus::Succeeded);
        store.append_index([("b", &entry)], &lock).unwrap();
        assert_eq!(store.load_index().unwrap(), index(&[("b", entry)]));
        assert!(store.take_warnings().is_empty());
    }

    #[test]
    fn corrupt_lines_are_one_warning_and_bad_digests_are_corrupt() {
        let mut bytes = Index::default().encode();
        bytes.extend_from_slice(b"not json\n[\"x\",{\"key\":\"../etc\"}]\n");
        push_line(&mut bytes, "ok", &node(4, EntryStatus::Succeeded));
        let (index, warnings) = Index::decode(&bytes);
        assert_eq!(index.nodes.keys().collect::<Vec<_>>(), ["ok"]);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].starts_with("2 corrupt line(s)"), "{warnings:?}");
        assert!(warnings[0].contains("(first: line 2:"), "{warnings:?}");
    }

    #[test]
    fn recent_files_get_unsettled_stamps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.rs");
        std::fs::write(&path, "fn main() {}").unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        let now = SystemTime::now();
        let fresh = InputStamp::new("a.rs", &meta, "d".into(), now);
        assert_eq!((fresh.size, fresh.mtime_ns), (12, InputStamp::UNSETTLED));
        let later = InputStamp::new("a.rs", &meta, "d".into(), now + Duration::from_secs(3));
        assert_eq!(later.mtime_ns, mtime_ns(&meta));
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Index::decode(&bytes);
            let mut with_header = header();
            with_header.extend_from_slice(&bytes);
            let _ = Index::decode(&with_header);
        }
    }
}
