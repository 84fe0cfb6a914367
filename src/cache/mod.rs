//! The build cache's storage: content-addressed blobs, an append-only pack of action
//! entries (one per node key), and the index that decides a no-op build. Nothing here
//! runs a node: `exec::memo` fills in each node's [`ActionKey`] when it is ready,
//! decides hits and replays them, and this module keeps what it hands over, safely, on
//! disk.
//!
//! # Design note
//!
//! What enters a key is [`ActionKey`] (brief section 4: the step definition, the
//! declared env by variable with secrets hashed, the item's JSON, the arguments, the
//! content digests of declared inputs or the starting tree, the *output* digests of
//! dependencies, the claude version). The cache stores the key's JSON beside the entry
//! so that [`explain()`] can diff the old and new key and say in one line why a node is
//! dirty. Digests are `graph::node::Digest` (32 bytes) in memory, hex on disk.
//!
//! On disk, under `<root>/.prodigy/cache/` (`.prodigy/` git-ignores itself with `*`):
//!
//! ```text
//! .lock                      exclusive, held by a build for its whole run; holds its pid
//! blobs/<2 hex>/<62 hex>     stdout/stderr over 4 KiB, output files, patches; by blake3
//! entries.pack               every ActionEntry: frames of key + entry JSON, appended
//! index.bin                  node id -> last run: key, output, status, input stamps
//! last-run.json              hits and runs of the last build (`prodigy cache stats`)
//! ```
//!
//! * **Blobs** are immutable and deduplicated: a put of existing content writes nothing.
//!   A read re-hashes the bytes; a mismatch is a miss and a warning, and the bad file is
//!   removed so the next put writes it again. Stdout and stderr of at most 4 KiB are no
//!   blobs: they are kept inline in the entry (most nodes print little, and a file per
//!   distinct output cost as much as the node in a map of trivial items).
//! * **Entries** are frames appended to one pack (`pack.rs`), not a file each: a map of
//!   2,000 trivial items spent ~0.5 ms per new file in inode allocation, which made
//!   `prodigy run` 2x slower than `xargs -P2`. A frame holds the key in the clear, so
//!   the first read of a store scans the pack into a map key -> frame (the last frame of
//!   a key wins) reading only keys and lengths: ~2 ms for 10,000 entries (9 MB,
//!   `benches/cache.rs`). A no-op build of map items never reads an entry (it decides
//!   from the index); builds that replay steps, or run a dirty node (which first looks
//!   for an entry of its new key), pay the scan once. Only `succeeded` entries are hits;
//!   failed ones are recorded (for `--explain` and the DLQ) but always re-run. A damaged
//!   frame (its checksum is checked when read), or an entry that does not parse, is a
//!   miss and a warning; an entry of another `schema_version` is a silent miss; never
//!   an error. A key that runs again appends a new frame; `gc` rewrites the pack
//!   compacted, and so does a job that wrote entries once most of the pack is replaced
//!   frames.
//! * **The index** is the one file a build reads at start (like ninja's `.ninja_log`):
//!   the freshness of every node of a no-op build comes from it and from `stat` of the
//!   declared inputs, never from opening one file per node. A build appends a record per
//!   finished node (so `kill -9` loses none; a record cut short is skipped with a
//!   warning, and cut off by the next append) and rewrites it compacted at the end; the
//!   last record of a node wins. It is binary (`codec.rs`): for 10,000 nodes with two
//!   inputs each, JSON Lines was 5.2 MB and ~20 ms to load, the binary form is 2.3 MB
//!   and ~5 ms (`benches/cache.rs`), and the no-op budget is a few tens of ms in all.
//!   An index of another version is read as empty, with a warning: everything re-runs.
//!   The index and the pack share their framing (`frame.rs`): a header with magic and
//!   version, then `len | body | checksum | len` frames, so a torn last frame is found
//!   in O(1) and cut off before the next append.
//! * **Writes** of whole files are atomic (temp file, rename), so no reader ever sees
//!   half a file; appends write a whole frame at once, and readers skip a torn one.
//!   Blobs, entry and index appends, written as each node finishes, skip the fsync of
//!   their own: a process killed at any moment loses none of them (the kernel has them),
//!   and one `syncfs` when the job ends makes them durable (an fsync per node made a map
//!   of 2,000 trivial items 3x slower). A power loss before that can only lose results
//!   (every reader checks what it reads: blob digests, entry keys, frame checksums), so
//!   they run again. The compacted index and pack, `last-run.json` and the lock are
//!   fsynced. Blob writes need no lock (content-addressed, renamed into place); entry
//!   and index appends, `gc` and `clean` take a [`CacheLock`] to prove the caller holds
//!   `.lock` (appends of two processes must not interleave). Reads take no lock and
//!   create nothing, so `--dry-run` leaves `.prodigy/` byte-for-byte unchanged.
//! * **Input stamps** (size, mtime, digest) let a build skip hashing an input whose
//!   metadata did not change ([`stamp_matches`]); the digest, never the mtime, decides.
//!   A file modified less than 2 s before it was stamped gets no trusted mtime (git's
//!   "racily clean" problem), so the next build hashes it.
//! * **Node ids** in the index are the caller's: a repository with several workflows
//!   prefixes them with the workflow's name so they cannot collide.
//! * **Version 1** kept an entry per file under `entries/`; version 2 ignores that
//!   directory, and `gc` and `clean` remove it.
//!
//! Neighbours: `store.rs` (blobs, inline outputs, stats, clean), `pack.rs` (entries),
//! `index.rs` and `codec.rs` (the index file), `frame.rs` (the framing both share),
//! `digest.rs` (hex on disk), `entry.rs` (`ActionEntry`), `lock.rs` (`.lock`), `gc.rs`
//! (size and age limits), `last_run.rs` (the last build's hit rate), `freshness.rs`
//! (fresh or dirty, and why), `explain.rs` (the one-line diff of two keys).

mod codec;
mod digest;
mod entry;
mod explain;
mod frame;
pub mod freshness;
mod gc;
mod index;
mod inputs;
mod key;
mod last_run;
mod lock;
mod pack;
mod store;

use std::path::{Path, PathBuf};

pub use crate::graph::node::Digest;
pub use digest::{digest_bytes, parse_hex, to_hex};
pub use entry::{ActionEntry, EntryStatus};
pub use explain::explain;
pub use freshness::{DirtyReason, Freshness, InputStamp, decide, mtime_ns, stamp_matches};
pub use gc::GcReport;
pub use index::{Index, IndexEntry};
pub use inputs::{InputError, Inputs};
pub use key::{ACTION_KEY_VERSION, ActionKey, Dependency, dependency};
pub use last_run::LastRun;
pub use lock::CacheLock;
pub use store::{CacheStats, CacheStore, INLINE_OUTPUT_MAX};

/// The version of every cache file (the entry pack and its entries, the index,
/// `last-run.json`). Bump on incompatible changes: readers treat files of another
/// version as misses, never as errors. Version 2: entries in `entries.pack`.
pub const CACHE_SCHEMA_VERSION: u32 = 2;

/// Why the cache could not be read or written. Corrupt or foreign-version files are
/// not errors: they are misses, reported as [`CacheWarning`]s.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// A file or directory could not be read or written.
    #[error(
        "cannot read or write `{}`: {source}; check its permissions, or run \
         `prodigy cache clean` to start the cache over",
        path.display()
    )]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Another process holds the cache lock and the caller chose not to wait.
    #[error("{}", locked(path, *holder_pid))]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// The pid written by the holder, when it could be read.
        holder_pid: Option<u32>,
    },
}

/// `the build cache is locked by another prodigy (pid 42) ...`
fn locked(path: &Path, holder: Option<u32>) -> String {
    let who = holder.map_or_else(String::new, |pid| format!(" (pid {pid})"));
    format!(
        "the build cache is locked by another prodigy process{who}: `{}`; wait for it to \
         finish, or run again without `--no-wait` to wait for it",
        path.display()
    )
}

/// A problem that did not stop a read: a corrupt entry or blob, a torn index line, an
/// index of another version. Printed as `warning: <path>: <message>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheWarning {
    /// The file.
    pub path: PathBuf,
    /// What happened and what it means (`treated as a miss`).
    pub message: String,
}

impl std::fmt::Display for CacheWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

/// `CacheError::Io` for `path`.
pub(crate) fn io_error(path: &Path, source: std::io::Error) -> CacheError {
    CacheError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locked_message_names_the_holder_and_what_to_do() {
        let err = CacheError::Locked {
            path: PathBuf::from(".prodigy/cache/.lock"),
            holder_pid: Some(42),
        };
        assert_eq!(
            err.to_string(),
            "the build cache is locked by another prodigy process (pid 42): \
             `.prodigy/cache/.lock`; wait for it to finish, or run again without \
             `--no-wait` to wait for it"
        );
    }
}
