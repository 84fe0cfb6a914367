//! The framing of the cache's append-only binary files, `index.bin` (`codec.rs`) and
//! `entries.pack` (`pack.rs`): a header, then frames that are appended a whole frame
//! per `write` and checked when read.
//!
//! ```text
//! header  magic [8] | schema_version u32
//! frame   len u32 | body (len bytes) | checksum u32 | len u32      (all little-endian)
//! ```
//!
//! A frame ends with its length again, so an append can check in O(1) that the file
//! ends with a whole frame (a crash mid-append leaves a prefix of one). A checksum
//! mismatch skips one frame; a frame cut short ends the read.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::path::Path;

/// Magic and version.
pub(crate) const HEADER_LEN: usize = 12;
/// Length, checksum and length again.
pub(crate) const OVERHEAD: usize = 12;

/// The header of a file of kind `magic` and `version`.
pub(crate) fn header(magic: &[u8; 8], version: u32) -> Vec<u8> {
    let mut bytes = magic.to_vec();
    bytes.extend_from_slice(&version.to_le_bytes());
    bytes
}

/// The schema version in a header of kind `magic`, or `None` when `bytes` does not
/// start with one.
pub(crate) fn version(bytes: &[u8], magic: &[u8; 8]) -> Option<u32> {
    let (found, rest) = bytes.split_first_chunk::<8>()?;
    let (version, _) = rest.split_first_chunk::<4>()?;
    (found == magic).then(|| u32::from_le_bytes(*version))
}

/// Appends one frame whose body `body` appends.
pub(crate) fn push(out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    body(out);
    let body_len = out.len() - start - 4;
    let len = u32::try_from(body_len).unwrap_or(u32::MAX).to_le_bytes();
    out[start..start + 4].copy_from_slice(&len);
    let check = checksum(&out[start + 4..]);
    out.extend_from_slice(&check.to_le_bytes());
    out.extend_from_slice(&len);
}

/// One whole frame of a file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frame<'a> {
    /// Where it starts in the file.
    pub start: usize,
    /// Its length, overhead included.
    pub len: usize,
    /// Its body, or `None` when the frame is damaged (checksum or trailer).
    pub body: Option<&'a [u8]>,
}

/// The frames after the header. Stops at the end, or at a frame cut short, setting
/// `torn`; `end` is then where the last whole frame ends.
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
    type Item = Frame<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let start = self.end;
        let rest = &self.bytes[start..];
        if rest.is_empty() {
            return None;
        }
        match whole_frame(rest) {
            Some((len, body)) => {
                self.end += len;
                Some(Frame { start, len, body })
            }
            None => {
                self.torn = true;
                None
            }
        }
    }
}

/// The body of `bytes` when they are exactly one whole, intact frame (a frame read on
/// its own, at an offset remembered from a scan).
pub(crate) fn body(bytes: &[u8]) -> Option<&[u8]> {
    match whole_frame(bytes)? {
        (len, body) if len == bytes.len() => body,
        _ => None,
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
    Some((body_len + OVERHEAD, intact.then_some(body)))
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
    let Some(start) = tail.len().checked_sub(body_len + OVERHEAD) else {
        return false;
    };
    body(&tail[start..]).is_some()
}

/// `path` opened to append frames (reads allowed; writes go to the end), after cutting
/// off a last frame torn by an earlier crash. `None` when the file is missing or not
/// of kind `magic` and `version`: the caller writes a new one in its place.
pub(crate) fn open_append(
    path: &Path,
    magic: &[u8; 8],
    version: u32,
) -> std::io::Result<Option<File>> {
    let mut file = match OpenOptions::new().read(true).append(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    let mut header = [0; HEADER_LEN];
    if len < HEADER_LEN as u64
        || file.read_exact(&mut header).is_err()
        || self::version(&header, magic) != Some(version)
    {
        return Ok(None);
    }
    if !ends_whole(&mut file, len)? {
        let mut bytes = Vec::new();
        file.seek(SeekFrom::Start(0))?;
        file.read_to_end(&mut bytes)?;
        let mut scan = Frames::new(&bytes);
        scan.by_ref().for_each(drop);
        file.set_len(scan.end as u64)?;
    }
    Ok(Some(file))
}

/// True when the file of `len` bytes holds only its header or ends with a whole
/// frame: reads the last frame only.
fn ends_whole(file: &mut File, len: u64) -> std::io::Result<bool> {
    let frames_len = len - HEADER_LEN as u64;
    if frames_len == 0 {
        return Ok(true);
    }
    let mut last = [0; 4];
    file.seek(SeekFrom::End(-4))?;
    file.read_exact(&mut last)?;
    let frame_len = u64::from(u32::from_le_bytes(last)) + OVERHEAD as u64;
    if frame_len > frames_len {
        return Ok(false);
    }
    let mut tail = vec![0; usize::try_from(frame_len).unwrap_or(usize::MAX)];
    file.seek(SeekFrom::Start(len - frame_len))?;
    file.read_exact(&mut tail)?;
    Ok(ends_with_whole_frame(&tail))
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const MAGIC: &[u8; 8] = b"PRDGYTST";

    fn file_of(bodies: &[&[u8]]) -> Vec<u8> {
        let mut bytes = header(MAGIC, 1);
        for body in bodies {
            push(&mut bytes, |out| out.extend_from_slice(body));
        }
        bytes
    }

    #[test]
    fn frames_give_offsets_and_bodies_and_a_damaged_one_is_skipped() {
        let mut bytes = file_of(&[b"one", b"two", b"three"]);
        let frames: Vec<Frame> = Frames::new(&bytes).collect();
        let starts: Vec<usize> = frames.iter().map(|f| f.start).collect();
        assert_eq!(starts, [12, 27, 42]);
        assert_eq!(body(&bytes[27..42]), Some(&b"two"[..]));
        assert_eq!(body(&bytes[27..43]), None, "not exactly one frame");
        bytes[32] ^= 1;
        let bodies: Vec<Option<&[u8]>> = Frames::new(&bytes).map(|f| f.body).collect();
        assert_eq!(bodies, [Some(&b"one"[..]), None, Some(&b"three"[..])]);
    }

    #[test]
    fn open_append_cuts_a_torn_frame_and_refuses_another_kind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        assert!(open_append(&path, MAGIC, 1).unwrap().is_none());
        let whole = file_of(&[b"one"]);
        let mut torn = file_of(&[b"one", b"two"]);
        torn.truncate(torn.len() - 2);
        std::fs::write(&path, &torn).unwrap();
        assert!(open_append(&path, MAGIC, 2).unwrap().is_none());
        assert!(open_append(&path, b"PRDGYIDX", 1).unwrap().is_none());
        assert!(open_append(&path, MAGIC, 1).unwrap().is_some());
        assert_eq!(std::fs::read(&path).unwrap(), whole);
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Frames::new(&bytes).count();
            let _ = body(&bytes);
            let _ = ends_with_whole_frame(&bytes);
            let _ = version(&bytes, MAGIC);
        }
    }
}
