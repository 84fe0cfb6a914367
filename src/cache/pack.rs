//! `entries.pack`: every [`ActionEntry`], one frame (`frame.rs`) appended per node
//! that ran. It replaced a file per entry: creating 2,000 small files cost ~0.5 ms each
//! (inode allocation) and made a map of trivial items 2x slower than `xargs -P2`. A
//! frame's body holds the key in the clear, so finding a key needs no JSON parse:
//!
//! ```text
//! header  b"PRDGYENT" | schema_version u32
//! body    key [32] | ActionEntry JSON
//! ```
//!
//! A [`CacheStore`] scans the pack at its first read into a map key -> last frame of
//! that key (the last one wins), reading keys and lengths only, and its appends keep
//! the map up to date; a frame's checksum is checked when it is read. Appends take the
//! [`CacheLock`] (they must not interleave between processes); only `gc` rewrites the
//! pack, compacted.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;

use super::entry::ActionEntry;
use super::frame;
use super::lock::CacheLock;
use super::store::CacheStore;
use super::{CACHE_SCHEMA_VERSION, CacheError, io_error};
use crate::graph::node::Digest;

/// The first bytes of the file.
pub(crate) const MAGIC: &[u8; 8] = b"PRDGYENT";

/// Where a frame is in the pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    /// Its first byte.
    pub offset: u64,
    /// Its length, overhead included.
    pub len: usize,
}

/// The pack as one [`CacheStore`] sees it.
#[derive(Debug, Default)]
pub(crate) struct Pack {
    /// Key -> its last frame; `None` until the first read scans the file.
    spans: Option<HashMap<Digest, Span>>,
    /// The open pack: read-only after a scan, readable and appending after a put.
    file: Option<File>,
    /// `file` was opened to append (header checked, a torn last frame cut off).
    appending: bool,
}

/// What a scan of a pack found: the last whole frame of each key, and one warning per
/// kind of problem.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    pub spans: HashMap<Digest, Span>,
    pub warnings: Vec<String>,
}

/// The frame of `entry`.
pub(crate) fn encode(entry: &ActionEntry) -> serde_json::Result<Vec<u8>> {
    let json = serde_json::to_vec(entry)?;
    let mut bytes = Vec::with_capacity(32 + json.len() + frame::OVERHEAD);
    frame::push(&mut bytes, |body| {
        body.extend_from_slice(&entry.key_digest.0);
        body.extend_from_slice(&json);
    });
    Ok(bytes)
}

/// A frame body's key and entry JSON.
pub(crate) fn split(body: &[u8]) -> Option<(Digest, &[u8])> {
    let (key, json) = body.split_first_chunk::<32>()?;
    Some((Digest(*key), json))
}

/// Scans a whole pack file, checking every frame (for `stats` and `gc`). Never fails:
/// another version or no header is an empty pack, a damaged frame is skipped, a torn
/// last frame ends it.
pub(crate) fn scan(bytes: &[u8]) -> Scan {
    let mut scan = Scan::default();
    if !header_ok(bytes, &mut scan) {
        return scan;
    }
    let mut damaged = 0;
    let mut frames = frame::Frames::new(bytes);
    for frame in &mut frames {
        match frame.body.and_then(split) {
            Some((key, _)) => {
                let span = Span {
                    offset: frame.start as u64,
                    len: frame.len,
                };
                scan.spans.insert(key, span);
            }
            None => damaged += 1,
        }
    }
    scan.finish(damaged, frames.torn)
}

/// Scans the pack `file` for the last frame of each key, reading only keys and lengths
/// through a small buffer; a frame's checksum is checked when it is read. For 10,000
/// entries (9 MB) this takes ~2 ms, against ~4.4 ms to read and check every frame.
fn scan_keys(file: &File) -> std::io::Result<Scan> {
    let len = file.metadata()?.len();
    let mut reader = BufReader::with_capacity(1 << 16, file);
    reader.seek(SeekFrom::Start(0))?;
    let mut scan = Scan::default();
    let mut header = [0; frame::HEADER_LEN];
    let header =
        &mut header[..usize::try_from(len).map_or(frame::HEADER_LEN, |l| l.min(frame::HEADER_LEN))];
    reader.read_exact(header)?;
    if !header_ok(header, &mut scan) {
        return Ok(scan);
    }
    let (mut at, mut damaged, mut torn) = (frame::HEADER_LEN as u64, 0, false);
    while at < len {
        match next_key(&mut reader, len - at) {
            Ok(Some((frame_len, key))) => {
                match key {
                    Some(key) => {
                        let len = usize::try_from(frame_len).unwrap_or(usize::MAX);
                        scan.spans.insert(key, Span { offset: at, len });
                    }
                    None => damaged += 1,
                }
                at += frame_len;
            }
            Ok(None) => torn = true,
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => torn = true,
            Err(e) => return Err(e),
        }
        if torn {
            break;
        }
    }
    Ok(scan.finish(damaged, torn))
}

/// The frame at the reader's position, with `left` bytes from there to the end of the
/// file: its length and its key (`None` when its two lengths differ or it is too short
/// to hold a key); `None` when it is cut short.
fn next_key(
    reader: &mut BufReader<&File>,
    left: u64,
) -> std::io::Result<Option<(u64, Option<Digest>)>> {
    if left < frame::OVERHEAD as u64 {
        return Ok(None);
    }
    let mut len = [0; 4];
    reader.read_exact(&mut len)?;
    let body_len = u32::from_le_bytes(len);
    let frame_len = u64::from(body_len) + frame::OVERHEAD as u64;
    if frame_len > left {
        return Ok(None);
    }
    let mut key = [0; 32];
    let has_key = body_len >= 32;
    let mut skip = i64::from(body_len) + 4;
    if has_key {
        reader.read_exact(&mut key)?;
        skip -= 32;
    }
    reader.seek_relative(skip)?;
    let mut trailer = [0; 4];
    reader.read_exact(&mut trailer)?;
    let intact = has_key && trailer == len;
    Ok(Some((frame_len, intact.then_some(Digest(key)))))
}

/// True when `bytes` start with the header of a pack of this version; else a warning,
/// unless the file is empty.
fn header_ok(bytes: &[u8], scan: &mut Scan) -> bool {
    match frame::version(bytes, MAGIC) {
        _ if bytes.is_empty() => false,
        Some(CACHE_SCHEMA_VERSION) => true,
        Some(found) => {
            scan.warnings.push(format!(
                "entry pack has schema version {found}, this prodigy reads version \
                 {CACHE_SCHEMA_VERSION}; ignored: the results it holds are not replayed"
            ));
            false
        }
        None => {
            let warning = "not an entry pack; ignored: the results it holds are not replayed";
            scan.warnings.push(warning.into());
            false
        }
    }
}

impl Scan {
    /// Adds the warnings for `damaged` frames and a `torn` last one.
    fn finish(mut self, damaged: usize, torn: bool) -> Scan {
        if damaged > 0 {
            self.warnings.push(format!(
                "{damaged} damaged entry frame(s) ignored: those nodes run again \
                 (`prodigy cache gc` removes them)"
            ));
        }
        if torn {
            self.warnings
                .push("last entry cut short by an interrupted write; ignored".into());
        }
        self
    }
}

impl CacheStore {
    /// Appends `entry` to the pack: one `write`, no fsync (see [`CacheStore::sync`]).
    /// A later frame of the same key wins over earlier ones.
    pub fn put_entry(&self, entry: &ActionEntry, lock: &CacheLock) -> Result<(), CacheError> {
        debug_assert_eq!(lock.path(), self.dir().join(".lock"));
        let path = self.pack_path();
        let io = |e| io_error(&path, e);
        let bytes = encode(entry).map_err(|e| io(e.into()))?;
        let mut pack = self.pack();
        let file = match pack.file.take() {
            Some(file) if pack.appending => file,
            _ => self.open_to_append(&mut pack.spans)?,
        };
        let file = pack.file.insert(file);
        let written = file.write_all(&bytes).and_then(|()| file.stream_position());
        let end = match written {
            Ok(end) => end,
            Err(e) => {
                // The next append cuts off what this one left.
                *pack = Pack::default();
                return Err(io(e));
            }
        };
        pack.appending = true;
        if let Some(spans) = &mut pack.spans {
            let offset = end - bytes.len() as u64;
            let len = bytes.len();
            spans.insert(entry.key_digest, Span { offset, len });
        }
        Ok(())
    }

    /// The entry of `key`, or `None`: missing, of another schema version (silent), or
    /// damaged or corrupt (a warning).
    pub fn get_entry(&self, key: &Digest) -> Result<Option<ActionEntry>, CacheError> {
        let path = self.pack_path();
        let mut pack = self.pack();
        if pack.spans.is_none() {
            self.scan_pack(&mut pack)?;
        }
        let span = pack.spans.as_ref().and_then(|s| s.get(key)).copied();
        let (Some(span), Some(file)) = (span, &pack.file) else {
            return Ok(None);
        };
        let mut bytes = vec![0; span.len];
        match file.read_exact_at(&mut bytes, span.offset) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => bytes.clear(),
            Err(e) => return Err(io_error(&path, e)),
        }
        drop(pack);
        let message = match frame::body(&bytes).and_then(split) {
            Some((found, json)) if found == *key => match ActionEntry::decode(json, key) {
                Ok(entry) => return Ok(entry),
                Err(message) => message,
            },
            _ => "damaged entry frame".to_string(),
        };
        self.warn(&path, &format!("{message}; treated as a miss"));
        Ok(None)
    }

    /// True when more than half of the pack (and over 1 MiB) is frames that later frames
    /// of the same key replaced: `prodigy run` and `--force` append a frame per node
    /// each time, so a job that wrote entries compacts the pack (with `gc`) when this
    /// holds.
    pub fn pack_needs_compacting(&self) -> Result<bool, CacheError> {
        let mut pack = self.pack();
        if pack.spans.is_none() {
            self.scan_pack(&mut pack)?;
        }
        let live: u64 = pack
            .spans
            .as_ref()
            .map_or(0, |s| s.values().map(|span| span.len as u64).sum());
        let total = std::fs::metadata(self.pack_path()).map_or(0, |m| m.len());
        let garbage = total.saturating_sub(live);
        Ok(garbage > live && garbage > 1 << 20)
    }

    /// Scans the pack once into the map of spans; a missing pack is empty.
    fn scan_pack(&self, pack: &mut Pack) -> Result<(), CacheError> {
        let path = self.pack_path();
        let io = |e| io_error(&path, e);
        if pack.file.is_none() {
            match File::open(&path) {
                Ok(file) => pack.file = Some(file),
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(io(e)),
            }
        }
        let scan = match &pack.file {
            Some(file) => scan_keys(file).map_err(io)?,
            None => Scan::default(),
        };
        for warning in &scan.warnings {
            self.warn(&path, warning);
        }
        pack.spans = Some(scan.spans);
        Ok(())
    }

    /// The pack opened to append; created with its header when missing, replaced when
    /// of another version, a torn last frame cut off.
    fn open_to_append(
        &self,
        spans: &mut Option<HashMap<Digest, Span>>,
    ) -> Result<File, CacheError> {
        let path = self.pack_path();
        let io = |e| io_error(&path, e);
        if let Some(file) = frame::open_append(&path, MAGIC, CACHE_SCHEMA_VERSION).map_err(io)? {
            return Ok(file);
        }
        self.write(&path, &frame::header(MAGIC, CACHE_SCHEMA_VERSION))?;
        if let Some(spans) = spans {
            spans.clear();
        }
        frame::open_append(&path, MAGIC, CACHE_SCHEMA_VERSION)
            .map_err(io)?
            .ok_or_else(|| io(ErrorKind::NotFound.into()))
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use proptest::prelude::*;

    use super::super::entry::fixtures::entry;
    use super::*;

    fn key(n: u8) -> Digest {
        Digest([n; 32])
    }

    fn raw_append(store: &CacheStore, bytes: &[u8]) {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(store.pack_path())
            .unwrap();
        file.write_all(bytes).unwrap();
    }

    #[test]
    fn a_pack_mostly_of_replaced_frames_needs_compacting_until_gc() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::open(dir.path());
        let lock = store.lock(false).unwrap();
        let mut big = entry(key(3), key(1), Utc::now());
        big.stdout_text = Some("x".repeat(4000));
        store.put_entry(&big, &lock).unwrap();
        assert!(!store.pack_needs_compacting().unwrap());
        for _ in 0..400 {
            store.put_entry(&big, &lock).unwrap();
        }
        assert!(store.pack_needs_compacting().unwrap());
        store
            .gc(
                &lock,
                None,
                None,
                &std::collections::HashSet::from([key(3)]),
            )
            .unwrap();
        let fresh = CacheStore::open(dir.path());
        assert!(!fresh.pack_needs_compacting().unwrap());
        assert_eq!(fresh.get_entry(&key(3)).unwrap(), Some(big));
    }

    #[test]
    fn entries_round_trip_and_the_last_frame_of_a_key_wins() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::open(dir.path());
        assert_eq!(store.get_entry(&key(7)).unwrap(), None);
        assert!(!store.dir().exists(), "reads create nothing");
        let lock = store.lock(false).unwrap();
        let first = entry(key(7), key(1), Utc::now());
        let mut second = first.clone();
        second.duration_ms = 99;
        store.put_entry(&first, &lock).unwrap();
        store
            .put_entry(&entry(key(8), key(1), Utc::now()), &lock)
            .unwrap();
        assert_eq!(store.get_entry(&key(7)).unwrap(), Some(first));
        store.put_entry(&second, &lock).unwrap();
        assert_eq!(store.get_entry(&key(7)).unwrap(), Some(second.clone()));

        let fresh = CacheStore::open(dir.path());
        assert_eq!(fresh.get_entry(&key(7)).unwrap(), Some(second));
        assert!(fresh.get_entry(&key(8)).unwrap().is_some());
        assert_eq!(fresh.stats().unwrap().entries, 2);
        let bytes = std::fs::read(store.pack_path()).unwrap();
        assert_eq!(frame::version(&bytes, MAGIC), Some(CACHE_SCHEMA_VERSION));
        assert!(store.take_warnings().is_empty() && fresh.take_warnings().is_empty());
    }

    #[test]
    fn a_torn_last_frame_is_skipped_with_a_warning_then_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::open(dir.path());
        let lock = store.lock(false).unwrap();
        store
            .put_entry(&entry(key(1), key(0), Utc::now()), &lock)
            .unwrap();
        let torn = encode(&entry(key(2), key(0), Utc::now())).unwrap();
        raw_append(&store, &torn[..torn.len() - 5]);

        let fresh = CacheStore::open(dir.path());
        assert!(fresh.get_entry(&key(1)).unwrap().is_some());
        assert_eq!(fresh.get_entry(&key(2)).unwrap(), None);
        let warnings = fresh.take_warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].message.contains("cut short"), "{warnings:?}");
        fresh
            .put_entry(&entry(key(3), key(0), Utc::now()), &lock)
            .unwrap();
        assert!(fresh.get_entry(&key(3)).unwrap().is_some());

        let after = CacheStore::open(dir.path());
        assert!(after.get_entry(&key(1)).unwrap().is_some());
        assert!(after.get_entry(&key(3)).unwrap().is_some());
        assert!(
            after.take_warnings().is_empty(),
            "the torn frame was cut off"
        );
    }

    #[test]
    fn damaged_or_corrupt_frames_are_misses_with_a_warning_and_others_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::open(dir.path());
        let lock = store.lock(false).unwrap();
        for n in 1..=3 {
            store
                .put_entry(&entry(key(n), key(0), Utc::now()), &lock)
                .unwrap();
        }
        let mut bytes = std::fs::read(store.pack_path()).unwrap();
        bytes[frame::HEADER_LEN + 4 + 32 + 10] ^= 0x20;
        std::fs::write(store.pack_path(), &bytes).unwrap();
        let mut newer = entry(key(4), key(0), Utc::now());
        newer.schema_version = CACHE_SCHEMA_VERSION + 1;
        let mut raw = encode(&newer).unwrap();
        frame::push(&mut raw, |body| {
            body.extend_from_slice(&key(5).0);
            body.extend_from_slice(b"{\"schema_");
        });
        let mut cut = encode(&entry(key(7), key(0), Utc::now())).unwrap();
        let trailer = cut.len() - 1;
        cut[trailer] ^= 0x01;
        raw.extend(cut);
        let json = serde_json::to_vec(&entry(key(9), key(0), Utc::now())).unwrap();
        frame::push(&mut raw, |body| {
            body.extend_from_slice(&key(6).0);
            body.extend_from_slice(&json);
        });
        raw_append(&store, &raw);

        let fresh = CacheStore::open(dir.path());
        assert_eq!(fresh.get_entry(&key(1)).unwrap(), None);
        assert!(fresh.get_entry(&key(2)).unwrap().is_some());
        assert_eq!(fresh.get_entry(&key(4)).unwrap(), None, "another version");
        assert_eq!(fresh.get_entry(&key(5)).unwrap(), None);
        assert_eq!(fresh.get_entry(&key(6)).unwrap(), None);
        assert_eq!(fresh.get_entry(&key(7)).unwrap(), None);
        // Damaged after the scan: found by the frame's own checksum.
        let end = bytes.len() - frame::OVERHEAD;
        bytes[end - 3] ^= 0x01;
        std::fs::write(store.pack_path(), [&bytes[..], &raw].concat()).unwrap();
        assert_eq!(fresh.get_entry(&key(3)).unwrap(), None);
        let warnings: Vec<String> = fresh
            .take_warnings()
            .iter()
            .map(|w| w.to_string())
            .collect();
        assert_eq!(warnings.len(), 5, "{warnings:?}");
        assert!(warnings[0].contains("entries.pack: 1 damaged entry frame(s) ignored"));
        assert!(warnings[1].ends_with("entries.pack: damaged entry frame; treated as a miss"));
        assert!(warnings[2].contains("corrupt cache entry"), "{warnings:?}");
        assert!(
            warnings[3].contains("not the key of its frame"),
            "{warnings:?}"
        );
        assert!(warnings[4].ends_with("damaged entry frame; treated as a miss"));
    }

    #[test]
    fn a_pack_of_another_version_is_empty_with_a_warning_and_replaced_on_put() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::open(dir.path());
        let lock = store.lock(false).unwrap();
        let mut newer = frame::header(MAGIC, CACHE_SCHEMA_VERSION + 1);
        newer.extend(encode(&entry(key(1), key(0), Utc::now())).unwrap());
        std::fs::write(store.pack_path(), newer).unwrap();
        assert_eq!(store.get_entry(&key(1)).unwrap(), None);
        let warnings = store.take_warnings();
        let found = format!("schema version {}", CACHE_SCHEMA_VERSION + 1);
        assert!(warnings[0].message.contains(&found), "{warnings:?}");

        store
            .put_entry(&entry(key(2), key(0), Utc::now()), &lock)
            .unwrap();
        assert!(store.get_entry(&key(2)).unwrap().is_some());
        let fresh = CacheStore::open(dir.path());
        assert_eq!(fresh.get_entry(&key(1)).unwrap(), None);
        assert!(fresh.get_entry(&key(2)).unwrap().is_some());
        assert!(fresh.take_warnings().is_empty());
        assert_eq!(fresh.stats().unwrap().entries, 1);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn random_bytes_as_a_pack_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = scan(&bytes);
            let raw = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(raw.path(), &bytes).unwrap();
            let _ = scan_keys(raw.as_file());
            let mut with_header = frame::header(MAGIC, CACHE_SCHEMA_VERSION);
            with_header.extend_from_slice(&bytes);
            let checked = scan(&with_header);
            let dir = tempfile::tempdir().unwrap();
            let store = CacheStore::open(dir.path());
            let lock = store.lock(false).unwrap();
            std::fs::write(store.pack_path(), &with_header).unwrap();
            let keys = scan_keys(&File::open(store.pack_path()).unwrap()).unwrap();
            prop_assert!(checked.spans.keys().all(|k| keys.spans.contains_key(k)));
            for key in keys.spans.keys() {
                prop_assert!(!matches!(store.get_entry(key), Err(_) | Ok(Some(_))));
            }
            store.put_entry(&entry(key(1), key(0), Utc::now()), &lock).unwrap();
            prop_assert!(store.get_entry(&key(1)).unwrap().is_some());
            prop_assert!(CacheStore::open(dir.path()).get_entry(&key(1)).unwrap().is_some());
        }
    }
}
