//! `prodigy cache gc`: drops entries older than `--max-age`, then the oldest entries
//! until the cache fits `--max-size`, rewrites the pack with what is left, then removes
//! every blob no remaining entry references. Entries the index references (the last
//! run of every node) are never dropped, so a no-op build stays a no-op after any gc.
//! Runs under the cache lock: no build writes while it deletes.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};

use super::entry::ActionEntry;
use super::frame;
use super::index::Index;
use super::lock::CacheLock;
use super::pack::{self, Pack};
use super::store::{CacheStats, CacheStore, read_if_exists, remove_file};
use super::{CACHE_SCHEMA_VERSION, CacheError, io_error};
use crate::graph::node::Digest;

/// Leftover temp files of interrupted writes older than this are removed.
const TEMP_FILE_AGE: Duration = Duration::from_secs(3600);

/// What `gc` removed and what it kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Entries and blobs removed, and their bytes (an entry's are its frame's; the
    /// bytes of frames no key needed, superseded or damaged, count without an entry).
    pub removed: CacheStats,
    /// What is left.
    pub kept: CacheStats,
}

/// The last readable frame of a key.
struct Live {
    frame: Range<usize>,
    key: Digest,
    created_at: DateTime<Utc>,
    blobs: Vec<Digest>,
}

impl Index {
    /// The entry keys of the last run of every node: what `gc` must keep.
    pub fn referenced_keys(&self) -> HashSet<Digest> {
        self.nodes.values().map(|e| e.key).collect()
    }
}

impl CacheStore {
    /// Removes entries not in `keep` (see [`Index::referenced_keys`]) that are older
    /// than `max_age`, then the oldest of them until entries and blobs fit in `max_size`
    /// bytes; rewrites the pack compacted; then removes unreferenced blobs, old temp
    /// files and the `entries/` directory of cache version 1.
    pub fn gc(
        &self,
        lock: &CacheLock,
        max_size: Option<u64>,
        max_age: Option<Duration>,
        keep: &HashSet<Digest>,
    ) -> Result<GcReport, CacheError> {
        debug_assert_eq!(lock.path(), self.dir().join(".lock"));
        let mut report = GcReport::default();
        let old_temp = SystemTime::now() - TEMP_FILE_AGE;
        let bytes = read_if_exists(&self.pack_path())?.unwrap_or_default();
        let (live, unreadable) = live_entries(&bytes);
        report.removed.entries += unreadable;
        let blobs = self.walk_blobs()?;
        let mut refs: HashMap<Digest, usize> = HashMap::new();
        for blob in live.iter().flat_map(|l| &l.blobs) {
            *refs.entry(*blob).or_default() += 1;
        }
        let blob_len: HashMap<Digest, u64> = blobs
            .iter()
            .filter_map(|b| Some((b.digest?, b.len)))
            .collect();
        let frames_len = |l: &Live| l.frame.len() as u64;
        let mut size: u64 = frame::HEADER_LEN as u64
            + live.iter().map(frames_len).sum::<u64>()
            + refs.keys().filter_map(|b| blob_len.get(b)).sum::<u64>();

        // Oldest first; what the index references is never a candidate.
        let mut candidates: Vec<usize> = (0..live.len())
            .filter(|&i| !keep.contains(&live[i].key))
            .collect();
        candidates.sort_by_key(|&i| live[i].created_at);
        let cutoff = max_age.and_then(|age| chrono::Duration::from_std(age).ok());
        let now = Utc::now();
        let mut kept = vec![true; live.len()];
        for i in candidates {
            let too_old = cutoff.is_some_and(|age| now - live[i].created_at > age);
            let too_big = max_size.is_some_and(|max| size > max);
            if !too_old && !too_big {
                continue;
            }
            size = size.saturating_sub(frames_len(&live[i]));
            for blob in &live[i].blobs {
                if let Some(count) = refs.get_mut(blob) {
                    *count -= 1;
                    if *count == 0 {
                        let len = blob_len.get(blob).copied().unwrap_or(0);
                        size = size.saturating_sub(len);
                    }
                }
            }
            kept[i] = false;
            report.removed.entries += 1;
        }
        let left = live.iter().zip(&kept).filter(|(_, k)| **k).map(|(l, _)| l);
        let compacted = self.rewrite_pack(&bytes, left)?;
        report.removed.bytes += (bytes.len() as u64).saturating_sub(compacted);
        for blob in &blobs {
            let unreferenced = blob
                .digest
                .is_some_and(|d| refs.get(&d).is_none_or(|&n| n == 0));
            if blob.temp && blob.modified < old_temp {
                remove_file(&blob.path)?;
            } else if !blob.temp && unreferenced {
                remove_file(&blob.path)?;
                report.removed.blobs += 1;
                report.removed.bytes += blob.len;
            }
        }
        let old_entries = self.dir().join("entries");
        match std::fs::remove_dir_all(&old_entries) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io_error(&old_entries, e));
            }
            _ => {}
        }
        self.remove_temp_files(Some(old_temp))?;
        self.remove_empty_shards();
        report.kept = self.stats()?;
        Ok(report)
    }

    /// Replaces the pack with the frames of `live` (atomically, fsynced; removed when
    /// there are none), unless that is what it holds. Returns the new size.
    fn rewrite_pack<'a>(
        &self,
        bytes: &[u8],
        live: impl Iterator<Item = &'a Live>,
    ) -> Result<u64, CacheError> {
        let mut compacted = frame::header(pack::MAGIC, CACHE_SCHEMA_VERSION);
        for entry in live {
            compacted.extend_from_slice(&bytes[entry.frame.clone()]);
        }
        if compacted.len() == frame::HEADER_LEN {
            compacted.clear();
        }
        if compacted != bytes {
            *self.pack() = Pack::default();
            if compacted.is_empty() {
                remove_file(&self.pack_path())?;
            } else {
                self.write(&self.pack_path(), &compacted)?;
            }
        }
        Ok(compacted.len() as u64)
    }

    /// Best effort: a shard directory that is not empty stays.
    fn remove_empty_shards(&self) {
        let Ok(shards) = std::fs::read_dir(self.dir().join("blobs")) else {
            return;
        };
        for shard in shards.flatten() {
            let _ = std::fs::remove_dir(shard.path());
        }
    }
}

/// The last intact frame of every key in a pack file, decoded, in file order; and how
/// many keys have none that a build could read (corrupt, another version), which gc
/// drops. A pack of another version holds no entry.
fn live_entries(bytes: &[u8]) -> (Vec<Live>, u64) {
    if frame::version(bytes, pack::MAGIC) != Some(CACHE_SCHEMA_VERSION) {
        return (Vec::new(), 0);
    }
    let spans = pack::scan(bytes).spans;
    let mut live = Vec::with_capacity(spans.len());
    let mut unreadable = 0;
    for (key, span) in spans {
        let start = usize::try_from(span.offset).unwrap_or(usize::MAX);
        let range = start..start.saturating_add(span.len);
        let entry = bytes
            .get(range.clone())
            .and_then(frame::body)
            .and_then(pack::split)
            .and_then(|(_, json)| ActionEntry::decode(json, &key).ok().flatten());
        match entry {
            Some(entry) => live.push(Live {
                frame: range,
                key,
                created_at: entry.created_at,
                blobs: entry.blobs().collect(),
            }),
            None => unreadable += 1,
        }
    }
    live.sort_by_key(|l| l.frame.start);
    (live, unreadable)
}

#[cfg(test)]
mod tests {
    use super::super::digest_bytes;
    use super::super::entry::fixtures::entry;
    use super::*;

    fn key(n: u8) -> Digest {
        Digest([n; 32])
    }

    fn days_ago(days: i64) -> DateTime<Utc> {
        Utc::now() - chrono::Duration::days(days)
    }

    /// An entry of `key(n)` created `days` ago whose stdout is the blob `shared stdout`
    /// and stderr a blob of its own of `len` bytes; returns that blob and the entry's
    /// frame length.
    fn put(store: &CacheStore, lock: &CacheLock, n: u8, days: i64, len: usize) -> (Digest, u64) {
        let shared = digest_bytes(b"shared stdout");
        let own = store.put_blob(&vec![n; len]).unwrap();
        let mut e = entry(key(n), shared, days_ago(days));
        e.stderr_blob = own;
        store.put_entry(&e, lock).unwrap();
        (own, pack::encode(&e).unwrap().len() as u64)
    }

    fn exists(store: &CacheStore, blob: &Digest) -> bool {
        store.get_blob(blob).unwrap().is_some()
    }

    #[test]
    fn gc_by_age_keeps_referenced_keys_and_shared_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::open(dir.path());
        let lock = store.lock(false).unwrap();
        let shared = store.put_blob(b"shared stdout").unwrap();
        let orphan = store
            .put_blob(b"written by a node that never finished")
            .unwrap();
        let (old, old_len) = put(&store, &lock, 1, 40, 10);
        let (old_kept, _) = put(&store, &lock, 2, 40, 10);
        let (new, _) = put(&store, &lock, 3, 1, 10);
        assert!(store.get_entry(&key(1)).unwrap().is_some());
        let keep = HashSet::from([key(2)]);
        let month = Duration::from_secs(30 * 24 * 3600);

        let report = store.gc(&lock, None, Some(month), &keep).unwrap();
        assert_eq!((report.removed.entries, report.removed.blobs), (1, 2));
        let blob_bytes = (10 + b"written by a node that never finished".len()) as u64;
        assert_eq!(report.removed.bytes, old_len + blob_bytes);
        assert_eq!((report.kept.entries, report.kept.blobs), (2, 3));
        assert_eq!(
            store.get_entry(&key(1)).unwrap(),
            None,
            "the store forgot it"
        );
        assert!(store.get_entry(&key(2)).unwrap().is_some());
        assert!(store.get_entry(&key(3)).unwrap().is_some());
        assert!(!exists(&store, &old) && !exists(&store, &orphan));
        assert!(exists(&store, &old_kept) && exists(&store, &new) && exists(&store, &shared));
        let again = store.gc(&lock, None, Some(month), &keep).unwrap();
        assert_eq!(again.removed, CacheStats::default());
        assert!(store.take_warnings().is_empty());
        put(&store, &lock, 4, 0, 10);
        let fresh = CacheStore::open(dir.path());
        assert_eq!(
            fresh.stats().unwrap().entries,
            3,
            "appends after gc go to the new pack"
        );
        assert!(fresh.get_entry(&key(4)).unwrap().is_some());
    }

    #[test]
    fn gc_by_size_drops_the_oldest_unreferenced_entries_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::open(dir.path());
        let lock = store.lock(false).unwrap();
        store.put_blob(b"shared stdout").unwrap();
        let (kept, _) = put(&store, &lock, 1, 90, 4000);
        let put_all: Vec<(Digest, u64)> = (2..=5)
            .map(|n| put(&store, &lock, n, 10 - i64::from(n), 1000))
            .collect();
        // Room for all but the two oldest unkept entries (2, 3) and their blobs.
        let max = store.stats().unwrap().bytes - put_all[0].1 - put_all[1].1 - 2000;
        let report = store
            .gc(&lock, Some(max), None, &HashSet::from([key(1)]))
            .unwrap();
        assert!(report.kept.bytes <= max, "{report:?}");
        assert_eq!((report.removed.entries, report.removed.blobs), (2, 2));
        let blobs: Vec<Digest> = put_all.iter().map(|(b, _)| *b).collect();
        assert!(exists(&store, &kept));
        assert!(!exists(&store, &blobs[0]) && !exists(&store, &blobs[1]));
        assert!(exists(&store, &blobs[2]) && exists(&store, &blobs[3]));
        assert_eq!(report.kept, store.stats().unwrap());

        let all = store
            .gc(&lock, Some(0), None, &HashSet::from([key(1)]))
            .unwrap();
        assert_eq!(
            all.kept.entries, 1,
            "a referenced entry outlives any size limit"
        );
        let none = store.gc(&lock, Some(0), None, &HashSet::new()).unwrap();
        assert_eq!(none.kept, CacheStats::default());
        assert!(!store.pack_path().exists());
    }

    #[test]
    fn gc_drops_superseded_damaged_and_version_1_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::open(dir.path());
        let lock = store.lock(false).unwrap();
        store.put_blob(b"shared stdout").unwrap();
        put(&store, &lock, 1, 1, 10);
        let (_, len) = put(&store, &lock, 1, 0, 11);
        put(&store, &lock, 2, 0, 12);
        let mut bytes = std::fs::read(store.pack_path()).unwrap();
        let last = bytes.len() - frame::OVERHEAD - 3;
        bytes[last] ^= 0x01;
        std::fs::write(store.pack_path(), &bytes).unwrap();
        let old = store.dir().join("entries/ab/cd.json");
        std::fs::create_dir_all(old.parent().unwrap()).unwrap();
        std::fs::write(&old, "{}").unwrap();

        let report = store.gc(&lock, None, None, &HashSet::new()).unwrap();
        assert_eq!((report.removed.entries, report.removed.blobs), (0, 2));
        assert_eq!((report.kept.entries, report.kept.blobs), (1, 2));
        let pack_len = std::fs::metadata(store.pack_path()).unwrap().len();
        assert_eq!(pack_len, (frame::HEADER_LEN as u64) + len);
        assert!(store.get_entry(&key(1)).unwrap().is_some());
        assert!(!store.dir().join("entries").exists());
    }
}
