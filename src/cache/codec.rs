//! The bytes of `index.bin`. Binary because the index is the no-op build's whole read
//! budget: 10,000 nodes took ~20 ms to load as JSON Lines (5.2 MB, mostly scanning and
//! decoding hex and allocating) and take ~5 ms this way (see `benches/cache.rs`).
//!
//! ```text
//! header  b"PRDGYIDX" | schema_version u32
//! frame   len u32 | body (len bytes) | checksum u32 | len u32      (all little-endian)
//! body    id str | key [32] | output [32] | status u8 | failure_kind opt-str
//!         | finished_at i64 s, u32 ns | inputs u32 | inputs × (path str | size u64
//!         | mtime_ns i64 | digest [32])
//! str     len u32 | UTF-8 bytes;  opt-str: u8 0 (none) or 1 then str
//! ```
//!
//! A frame ends with its length again, so an append can check in O(1) that the file
//! ends with a whole frame (a crash mid-append leaves a prefix of one). A checksum
//! mismatch skips one frame; a frame cut short ends the read.

use chrono::DateTime;

use super::entry::EntryStatus;
use super::freshness::InputStamp;
use super::index::IndexEntry;
use crate::graph::node::Digest;

/// The first bytes of the file.
pub(crate) const MAGIC: &[u8; 8] = b"PRDGYIDX";
/// Magic and version.
pub(crate) const HEADER_LEN: usize = 12;
/// Length, checksum and length again.
pub(crate) const FRAME_OVERHEAD: usize = 12;

/// The header for `version`.
pub(crate) fn header(version: u32) -> Vec<u8> {
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&version.to_le_bytes());
    bytes
}

/// The schema version in a header, or `None` when `bytes` does not start with one.
pub(crate) fn version(bytes: &[u8]) -> Option<u32> {
    let (magic, rest) = bytes.split_first_chunk::<8>()?;
    let (version, _) = rest.split_first_chunk::<4>()?;
    (magic == MAGIC).then(|| u32::from_le_bytes(*version))
}

/// Appends one framed record.
pub(crate) fn push_frame(out: &mut Vec<u8>, id: &str, entry: &IndexEntry) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    push_str(out, id);
    out.extend_from_slice(&entry.key.0);
    out.extend_from_slice(&entry.output.0);
    out.push(match entry.status {
        EntryStatus::Succeeded => 0,
        EntryStatus::Failed => 1,
    });
    match &entry.failure_kind {
        None => out.push(0),
        Some(kind) => {
            out.push(1);
            push_str(out, kind);
        }
    }
    out.extend_from_slice(&entry.finished_at.timestamp().to_le_bytes());
    out.extend_from_slice(&entry.finished_at.timestamp_subsec_nanos().to_le_bytes());
    push_len(out, entry.inputs.len());
    for input in &entry.inputs {
        push_str(out, &input.path);
        out.extend_from_slice(&input.size.to_le_bytes());
        out.extend_from_slice(&input.mtime_ns.to_le_bytes());
        out.extend_from_slice(&input.digest.0);
    }
    let body_len = out.len() - start - 4;
    let len = u32::try_from(body_len).unwrap_or(u32::MAX).to_le_bytes();
    out[start..start + 4].copy_from_slice(&len);
    let check = checksum(&out[start + 4..]);
    out.extend_from_slice(&check.to_le_bytes());
    out.extend_from_slice(&len);
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
}

fn push_str(out: &mut Vec<u8>, text: &str) {
    push_len(out, text.len());
    out.extend_from_slice(text.as_bytes());
}

/// The frames after the header: `Ok(body)` for a whole frame whose checksum holds,
/// `Err(())` for a whole frame that is damaged. Stops at the end, or at a frame cut
/// short, setting `torn`; `end` is then where the last whole frame ends.
pub(crate) struct Frames<'a> {
    bytes: &'a [u8],
    /// Where the next frame starts.
    pub end: usize,
    /// A frame was cut short (by a crash during an append).
    pub torn: bool,
}

impl<'a> Frames<'a> {
    /// The frames of a whole file, header included.
    pub fn new(bytes: &'a [u8]) -> Self {
        Frames {
            bytes,
            end: HEADER_LEN.min(bytes.len()),
            torn: false,
        }
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<&'a [u8], ()>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = &self.bytes[self.end..];
        if rest.is_empty() {
            return None;
        }
        match whole_frame(rest) {
            Some((frame_len, body)) => {
                self.end += frame_len;
                Some(body.ok_or(()))
            }
            None => {
                self.torn = true;
                None
            }
        }
    }
}

/// At the start of `bytes`: the length of a whole frame and its body if it is intact,
/// or `None` when the frame does not fit (cut short).
fn whole_frame(bytes: &[u8]) -> Option<(usize, Option<&[u8]>)> {
    let (len, rest) = bytes.split_first_chunk::<4>()?;
    let body_len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
    let body = rest.get(..body_len)?;
    let (check, rest) = rest.get(body_len..)?.split_first_chunk::<4>()?;
    let (trailer, _) = rest.split_first_chunk::<4>()?;
    let intact = trailer == len && u32::from_le_bytes(*check) == checksum(body);
    Some((body_len + FRAME_OVERHEAD, intact.then_some(body)))
}

/// True when `tail` (the end of a file) ends with a whole, intact frame: read its
/// length from the last 4 bytes, then check the frame that length points at.
pub(crate) fn ends_with_whole_frame(tail: &[u8]) -> bool {
    let Some((_, last)) = tail.split_last_chunk::<4>() else {
        return false;
    };
    let Ok(body_len) = usize::try_from(u32::from_le_bytes(*last)) else {
        return false;
    };
    let Some(start) = tail.len().checked_sub(body_len + FRAME_OVERHEAD) else {
        return false;
    };
    whole_frame(&tail[start..])
        .is_some_and(|(len, body)| len == tail.len() - start && body.is_some())
}

/// Decodes one body, or `None` when it is not a record (never panics).
pub(crate) fn decode_body(body: &[u8]) -> Option<(String, IndexEntry)> {
    let mut r = Reader(body);
    let id = r.str()?;
    let key = r.digest()?;
    let output = r.digest()?;
    let status = match r.u8()? {
        0 => EntryStatus::Succeeded,
        1 => EntryStatus::Failed,
        _ => return None,
    };
    let failure_kind = match r.u8()? {
        0 => None,
        1 => Some(r.str()?),
        _ => return None,
    };
    let secs = i64::from_le_bytes(r.array()?);
    let nanos = u32::from_le_bytes(r.array()?);
    let finished_at = DateTime::from_timestamp(secs, nanos)?;
    let count = u32::from_le_bytes(r.array()?);
    let mut inputs = Vec::new();
    for _ in 0..count {
        inputs.push(InputStamp {
            path: r.str()?,
            size: u64::from_le_bytes(r.array()?),
            mtime_ns: i64::from_le_bytes(r.array()?),
            digest: r.digest()?,
        });
    }
    let entry = IndexEntry {
        key,
        output,
        status,
        failure_kind,
        finished_at,
        inputs,
    };
    r.0.is_empty().then_some((id, entry))
}

/// Bounds-checked reads from the front of a body.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|[b]| b)
    }

    fn digest(&mut self) -> Option<Digest> {
        self.array().map(Digest)
    }

    fn str(&mut self) -> Option<String> {
        let len = usize::try_from(u32::from_le_bytes(self.array()?)).ok()?;
        let bytes = self.0.get(..len)?;
        self.0 = &self.0[len..];
        String::from_utf8(bytes.to_vec()).ok()
    }
}

/// A fast 32-bit checksum (FNV-1a over 8-byte words) against torn or damaged frames;
/// not a defence against tampering, which the key digests already are.
fn checksum(bytes: &[u8]) -> u32 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let mut w = [0; 8];
        w.copy_from_slice(word);
        hash = (hash ^ u64::from_le_bytes(w)).wrapping_mul(PRIME);
        hash ^= hash >> 29;
    }
    for &byte in words.remainder() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(PRIME);
    }
    (hash ^ (hash >> 32)) as u32
}
