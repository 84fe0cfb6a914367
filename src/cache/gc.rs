//! `prodigy cache gc`: drops entries older than `--max-age`, then the oldest entries
//! until the cache fits `--max-size`, then every blob no remaining entry references.
//! Entries the index references (the last run of every node) are never dropped, so a
//! no-op build stays a no-op after any gc. Runs under the cache lock: no build writes
//! while it deletes.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};

use super::entry::ActionEntry;
use super::index::Index;
use super::lock::CacheLock;
use super::store::{CacheStats, CacheStore, Found};
use super::{CacheError, io_error};
use crate::graph::node::Digest;

/// Leftover temp files of interrupted writes older than this are removed.
const TEMP_FILE_AGE: Duration = Duration::from_secs(3600);

/// What `gc` removed and what it kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Entries and blobs removed, and their bytes.
    pub removed: CacheStats,
    /// What is left.
    pub kept: CacheStats,
}

/// An entry that can be read, with what it costs.
struct Live {
    found: Found,
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
    /// Removes entries not in `keep` (see [`Index::referenced_keys`]) that are older than `max_age`, then the
    /// oldest of them until entries and blobs fit in `max_size` bytes, then unreferenced
    /// blobs, unreadable entries and old temp files.
    pub fn gc(
        &self,
        lock: &CacheLock,
        max_size: Option<u64>,
        max_age: Option<Duration>,
        keep: &HashSet<Digest>,
    ) -> Result<GcReport, CacheError> {
        debug_assert_eq!(lock.path(), self.dir().join(".lock"));
        let mut report = GcReport::default();
        let mut live = Vec::new();
        let old_temp = SystemTime::now() - TEMP_FILE_AGE;
        for found in self.walk("entries")? {
            if found.temp {
                if found.modified < old_temp {
                    remove(&found)?;
                }
                continue;
            }
            match read_live(&found) {
                Some((created_at, blobs)) => live.push(Live {
                    found,
                    created_at,
                    blobs,
                }),
                None => {
                    remove(&found)?;
                    report.removed.entries += 1;
                    report.removed.bytes += found.len;
                }
            }
        }
        let blobs = self.walk("blobs")?;
        let mut refs: HashMap<Digest, usize> = HashMap::new();
        for blob in live.iter().flat_map(|l| &l.blobs) {
            *refs.entry(*blob).or_default() += 1;
        }
        let blob_len: HashMap<Digest, u64> = blobs
            .iter()
            .filter_map(|b| Some((b.digest?, b.len)))
            .collect();
        let mut size: u64 = live.iter().map(|l| l.found.len).sum::<u64>()
            + refs.keys().filter_map(|b| blob_len.get(b)).sum::<u64>();

        // Oldest first; what the index references is never a candidate.
        let mut candidates: Vec<usize> = (0..live.len())
            .filter(|&i| live[i].found.digest.is_some_and(|k| !keep.contains(&k)))
            .collect();
        candidates.sort_by_key(|&i| live[i].created_at);
        let cutoff = max_age.and_then(|age| chrono::Duration::from_std(age).ok());
        let now = Utc::now();
        for i in candidates {
            let too_old = cutoff.is_some_and(|age| now - live[i].created_at > age);
            let too_big = max_size.is_some_and(|max| size > max);
            if !too_old && !too_big {
                continue;
            }
            size = size.saturating_sub(live[i].found.len);
            for blob in &live[i].blobs {
                if let Some(count) = refs.get_mut(blob) {
                    *count -= 1;
                    if *count == 0 {
                        let len = blob_len.get(blob).copied().unwrap_or(0);
                        size = size.saturating_sub(len);
                    }
                }
            }
            remove(&live[i].found)?;
            report.removed.entries += 1;
            report.removed.bytes += live[i].found.len;
        }
        for blob in &blobs {
            let unreferenced = blob
                .digest
                .is_some_and(|d| refs.get(&d).is_none_or(|&n| n == 0));
            if blob.temp && blob.modified < old_temp {
                remove(blob)?;
            } else if !blob.temp && unreferenced {
                remove(blob)?;
                report.removed.blobs += 1;
                report.removed.bytes += blob.len;
            }
        }
        self.remove_empty_shards();
        report.kept = self.stats()?;
        Ok(report)
    }

    /// Best effort: a shard directory that is not empty stays.
    fn remove_empty_shards(&self) {
        for sub in ["entries", "blobs"] {
            let Ok(shards) = std::fs::read_dir(self.dir().join(sub)) else {
                continue;
            };
            for shard in shards.flatten() {
                let _ = std::fs::remove_dir(shard.path());
            }
        }
    }
}

/// The creation time and blobs of a readable entry of this version; `None` for anything
/// else (corrupt, another version), which gc removes: no build can hit it.
fn read_live(found: &Found) -> Option<(DateTime<Utc>, Vec<Digest>)> {
    let bytes = std::fs::read(&found.path).ok()?;
    let entry = ActionEntry::decode(&bytes, &found.digest?).ok()??;
    let blobs = entry.blobs().collect();
    Some((entry.created_at, blobs))
}

/// Deletes `found`; already gone is fine.
fn remove(found: &Found) -> Result<(), CacheError> {
    match std::fs::remove_file(&found.path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error(&found.path, e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::entry::fixtures::entry;
    use super::*;

    fn key(n: u8) -> Digest {
        Digest([n; 32])
    }

    fn days_ago(days: i64) -> DateTime<Utc> {
        Utc::now() - chrono::Duration::days(days)
    }

    /// An entry of `key(n)` created `days` ago whose stdout is `shared` and stderr is a
    /// blob of its own of `len` bytes; returns that blob.
    fn put(store: &CacheStore, n: u8, days: i64, shared: Digest, len: usize) -> Digest {
        let own = store.put_blob(&vec![n; len]).unwrap();
        let mut e = entry(key(n), shared, days_ago(days));
        e.stderr_blob = own;
        store.put_entry(&e).unwrap();
        own
    }

    fn exists(store: &CacheStore, blob: &Digest) -> bool {
        store.get_blob(blob).unwrap().is_some()
    }

    #[test]
    fn gc_by_age_keeps_referenced_keys_and_shared_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::open(dir.path());
        let shared = store.put_blob(b"shared stdout").unwrap();
        let orphan = store
            .put_blob(b"written by a node that never finished")
            .unwrap();
        let old = put(&store, 1, 40, shared, 10);
        let old_kept = put(&store, 2, 40, shared, 10);
        let new = put(&store, 3, 1, shared, 10);
        let lock = store.lock(false).unwrap();
        let keep = HashSet::from([key(2)]);
        let month = Duration::from_secs(30 * 24 * 3600);

        let report = store.gc(&lock, None, Some(month), &keep).unwrap();
        assert_eq!((report.removed.entries, report.removed.blobs), (1, 2));
        assert_eq!((report.kept.entries, report.kept.blobs), (2, 3));
        assert_eq!(store.get_entry(&key(1)).unwrap(), None);
        assert!(store.get_entry(&key(2)).unwrap().is_some());
        assert!(store.get_entry(&key(3)).unwrap().is_some());
        assert!(!exists(&store, &old) && !exists(&store, &orphan));
        assert!(exists(&store, &old_kept) && exists(&store, &new) && exists(&store, &shared));
        assert_eq!(
            store
                .gc(&lock, None, Some(month), &keep)
                .unwrap()
                .removed
                .entries,
            0
        );
    }

    #[test]
    fn gc_by_size_drops_the_oldest_unreferenced_entries_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::open(dir.path());
        let shared = store.put_blob(b"").unwrap();
        let kept = put(&store, 1, 90, shared, 4000);
        let blobs: Vec<Digest> = (2..=5)
            .map(|n| put(&store, n, 10 - i64::from(n), shared, 1000))
            .collect();
        let lock = store.lock(false).unwrap();
        let len = |n: u8| std::fs::metadata(store.entry_path(&key(n))).unwrap().len();
        // Room for all but the two oldest unkept entries (2, 3) and their blobs.
        let max = store.stats().unwrap().bytes - len(2) - len(3) - 2000;
        let report = store
            .gc(&lock, Some(max), None, &HashSet::from([key(1)]))
            .unwrap();
        assert!(report.kept.bytes <= max, "{report:?}");
        assert_eq!((report.removed.entries, report.removed.blobs), (2, 2));
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
    }
}
