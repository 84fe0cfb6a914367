//! `index.bin`: the last run of every node, read once at the start of a build (its byte
//! format is in `codec.rs` and `frame.rs`). Appended as nodes finish (whole frames),
//! rewritten compacted by `save_index`; the last record of a node wins.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;

use super::codec;
use super::digest::hex;
use super::entry::EntryStatus;
use super::frame;
use super::freshness::InputStamp;
use super::lock::CacheLock;
use super::store::{CacheStore, read_if_exists};
use super::{CACHE_SCHEMA_VERSION, CacheError, io_error};
use crate::graph::node::Digest;

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
    /// The node key's digest (its entry's name).
    #[serde(with = "hex")]
    pub key: Digest,
    /// The node's output digest, which its dependents' keys hold.
    #[serde(with = "hex")]
    pub output: Digest,
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

impl Index {
    /// The file's bytes: the header, then one frame per node in id order.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = codec::header(CACHE_SCHEMA_VERSION);
        for (id, entry) in &self.nodes {
            codec::push_frame(&mut bytes, id, entry);
        }
        bytes
    }

    /// Reads an index file. Never fails: another version or no header is an empty
    /// index; a record cut short or damaged is skipped. Each problem is one warning.
    pub fn decode(bytes: &[u8]) -> (Index, Vec<String>) {
        let mut index = Index::default();
        let mut warnings = Vec::new();
        match codec::version(bytes) {
            _ if bytes.is_empty() => return (index, warnings),
            Some(CACHE_SCHEMA_VERSION) => {}
            Some(found) => {
                warnings.push(format!(
                    "cache index has schema version {found}, this prodigy reads version \
                     {CACHE_SCHEMA_VERSION}; ignored: every node runs again"
                ));
                return (index, warnings);
            }
            None => {
                warnings.push("not a cache index; ignored: every node runs again".into());
                return (index, warnings);
            }
        }
        let mut damaged = 0;
        let mut frames = frame::Frames::new(bytes);
        for frame in &mut frames {
            match frame.body.and_then(codec::decode_body) {
                Some((id, entry)) => {
                    index.nodes.insert(id, entry);
                }
                None => damaged += 1,
            }
        }
        if damaged > 0 {
            warnings.push(format!(
                "{damaged} damaged record(s) ignored; those nodes run again"
            ));
        }
        if frames.torn {
            warnings.push("last record cut short by an interrupted write; ignored".into());
        }
        (index, warnings)
    }
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

    /// Appends the latest run of some nodes (whole frames in one write), so that a build
    /// killed later loses none of them (durable on disk after [`CacheStore::sync`]); the
    /// last record of a node wins. Cuts off a record torn by an earlier crash first;
    /// replaces a file of another version.
    pub fn append_index<'a>(
        &self,
        nodes: impl IntoIterator<Item = (&'a str, &'a IndexEntry)>,
        lock: &CacheLock,
    ) -> Result<(), CacheError> {
        debug_assert_eq!(lock.path(), self.dir().join(".lock"));
        let path = self.index_path();
        let mut frames = Vec::new();
        for (id, entry) in nodes {
            codec::push_frame(&mut frames, id, entry);
        }
        if frames.is_empty() {
            return Ok(());
        }
        let io = |e| io_error(&path, e);
        match frame::open_append(&path, codec::MAGIC, CACHE_SCHEMA_VERSION).map_err(io)? {
            Some(mut file) => file.write_all(&frames).map_err(io),
            None => {
                let mut bytes = codec::header(CACHE_SCHEMA_VERSION);
                bytes.extend(frames);
                self.write(&path, &bytes)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs::OpenOptions;

    use proptest::prelude::*;

    use super::*;

    fn node(n: u8, status: EntryStatus) -> IndexEntry {
        IndexEntry {
            key: Digest([n; 32]),
            output: Digest([0x0f; 32]),
            status,
            failure_kind: (status == EntryStatus::Failed).then(|| "timeout".to_string()),
            finished_at: DateTime::parse_from_rfc3339("2025-01-02T03:04:05.123456789Z")
                .unwrap()
                .with_timezone(&Utc),
            inputs: vec![InputStamp {
                path: "src/a.rs".to_string(),
                size: 42,
                mtime_ns: 1_700_000_000_123_456_789,
                digest: Digest([0xaa; 32]),
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

    fn append_raw(store: &CacheStore, bytes: &[u8]) {
        let mut file = OpenOptions::new()
            .append(true)
            .open(store.index_path())
            .unwrap();
        file.write_all(bytes).unwrap();
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
        assert_eq!(names, [".lock", "index.bin"]);
        assert!(store.take_warnings().is_empty());
    }

    #[test]
    fn appended_records_win_and_a_torn_record_is_skipped_then_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::open(dir.path());
        let lock = store.lock(false).unwrap();
        let (first, second) = (
            node(1, EntryStatus::Failed),
            node(2, EntryStatus::Succeeded),
        );
        store.append_index([("a", &first)], &lock).unwrap();
        store
            .append_index([("a", &second), ("b", &first)], &lock)
            .unwrap();
        let mut torn = Vec::new();
        codec::push_frame(&mut torn, "c", &second);
        append_raw(&store, &torn[..torn.len() - 3]);
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
            store.take_warnings().is_empty(),
            "the torn record was cut off"
        );
        store.save_index(&loaded, &lock).unwrap();
        assert_eq!(store.load_index().unwrap(), loaded);
    }

    #[test]
    fn an_index_of_another_version_is_empty_with_a_warning_and_replaced_on_append() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::open(dir.path());
        let lock = store.lock(false).unwrap();
        let mut newer = codec::header(CACHE_SCHEMA_VERSION + 1);
        codec::push_frame(&mut newer, "a", &node(1, EntryStatus::Succeeded));
        std::fs::write(store.index_path(), newer).unwrap();
        assert_eq!(store.load_index().unwrap(), Index::default());
        let warnings = store.take_warnings();
        let newer = format!("schema version {}", CACHE_SCHEMA_VERSION + 1);
        assert!(warnings[0].message.contains(&newer), "{warnings:?}");
        assert!(warnings[0].message.contains("every node runs again"));

        let entry = node(3, EntryStatus::Succeeded);
        store.append_index([("b", &entry)], &lock).unwrap();
        assert_eq!(store.load_index().unwrap(), index(&[("b", entry)]));
        std::fs::write(store.index_path(), b"{\"json\": true}").unwrap();
        assert_eq!(store.load_index().unwrap(), Index::default());
        assert!(
            store.take_warnings()[0]
                .message
                .starts_with("not a cache index")
        );
    }

    #[test]
    fn a_damaged_record_is_one_warning_and_the_others_load() {
        let saved = index(&[
            ("a", node(1, EntryStatus::Succeeded)),
            ("b", node(2, EntryStatus::Succeeded)),
        ]);
        let mut bytes = saved.encode();
        bytes[frame::HEADER_LEN + 20] ^= 0x40;
        let (loaded, warnings) = Index::decode(&bytes);
        assert_eq!(loaded.nodes.keys().collect::<Vec<_>>(), ["b"]);
        assert_eq!(
            warnings,
            ["1 damaged record(s) ignored; those nodes run again"]
        );
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Index::decode(&bytes);
            let mut with_header = codec::header(CACHE_SCHEMA_VERSION);
            with_header.extend_from_slice(&bytes);
            let _ = Index::decode(&with_header);
            let _ = codec::decode_body(&bytes);
            let _ = frame::ends_with_whole_frame(&bytes);
        }

        #[test]
        fn damaged_or_cut_indexes_never_panic(at in 0usize..400, flip in 1u8..=255, cut in 0usize..400) {
            let mut bytes = index(&[
                ("a", node(1, EntryStatus::Succeeded)),
                ("b", node(2, EntryStatus::Failed)),
            ])
            .encode();
            let at = at % bytes.len();
            bytes[at] ^= flip;
            bytes.truncate(bytes.len() - cut % bytes.len());
            let (index, _) = Index::decode(&bytes);
            prop_assert!(index.nodes.len() <= 2);
        }
    }
}
