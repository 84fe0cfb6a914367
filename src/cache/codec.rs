//! The bytes of `index.bin`. Binary because the index is the no-op build's whole read
//! budget: 10,000 nodes took ~20 ms to load as JSON Lines (5.2 MB, mostly scanning and
//! decoding hex and allocating) and take ~5 ms this way (see `benches/cache.rs`).
//! The header and frames are `frame.rs`'s; a frame's body is one node's record:
//!
//! ```text
//! header  b"PRDGYIDX" | schema_version u32
//! body    id str | key [32] | output [32] | status u8 | failure_kind opt-str
//!         | finished_at i64 s, u32 ns | inputs u32 | inputs × (path str | size u64
//!         | mtime_ns i64 | digest [32])
//! str     len u32 | UTF-8 bytes;  opt-str: u8 0 (none) or 1 then str
//! ```

use chrono::DateTime;

use super::entry::EntryStatus;
use super::frame;
use super::freshness::InputStamp;
use super::index::IndexEntry;
use crate::graph::node::Digest;

/// The first bytes of the file.
pub(crate) const MAGIC: &[u8; 8] = b"PRDGYIDX";

/// The header for `version`.
pub(crate) fn header(version: u32) -> Vec<u8> {
    frame::header(MAGIC, version)
}

/// The schema version in a header, or `None` when `bytes` does not start with one.
pub(crate) fn version(bytes: &[u8]) -> Option<u32> {
    frame::version(bytes, MAGIC)
}

/// Appends one framed record.
pub(crate) fn push_frame(out: &mut Vec<u8>, id: &str, entry: &IndexEntry) {
    frame::push(out, |out| {
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
    });
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
}

fn push_str(out: &mut Vec<u8>, text: &str) {
    push_len(out, text.len());
    out.extend_from_slice(text.as_bytes());
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
