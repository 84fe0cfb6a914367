//! Cache benchmarks: the no-op build's budget. An index of 10,000 nodes (two declared
//! inputs each) is saved once; then we time loading it and deciding every node's
//! freshness against a recomputed key (target: well under 50 ms), the same plus a
//! `stat` of one real input file per node, and saving the index. Then the entry pack:
//! the first read of a store (a scan of 10,000 entries) and one append. Run with
//! `cargo bench --bench cache`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use chrono::Utc;
use prodigy::cache::{
    ActionEntry, CACHE_SCHEMA_VERSION, CacheStore, Digest, EntryStatus, Index, IndexEntry,
    InputStamp, decide, digest_bytes, stamp_matches,
};

const NODES: usize = 10_000;

fn main() {
    divan::main();
}

fn hash(seed: &str) -> Digest {
    digest_bytes(seed.as_bytes())
}

/// A saved index of [`NODES`] nodes whose first input is a real file, and the key each
/// node has now (equal to the stored one: a no-op build).
struct Fixture {
    _dir: tempfile::TempDir,
    store: CacheStore,
    keys: Vec<(String, Digest)>,
    /// What each node's key digest is computed from (a stand-in for `NodeKey` JSON).
    key_json: Vec<String>,
    files: Vec<PathBuf>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = CacheStore::open(dir.path());
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    let settled = SystemTime::now() + Duration::from_secs(60);
    let mut nodes = BTreeMap::new();
    let mut keys = Vec::with_capacity(NODES);
    let mut files = Vec::with_capacity(NODES);
    let mut key_json = Vec::with_capacity(NODES);
    for i in 0..NODES {
        let id = format!("map/item_{i}");
        let path = src.join(format!("module_{i}.rs"));
        std::fs::write(&path, format!("pub fn f{i}() {{}}\n")).expect("write");
        let meta = std::fs::metadata(&path).expect("stat");
        let rel = format!("src/module_{i}.rs");
        let inputs = vec![
            InputStamp::new(rel.clone(), &meta, hash(&rel), settled),
            InputStamp::new("Cargo.toml", &meta, hash("Cargo.toml"), settled),
        ];
        let json = format!(
            r#"{{"schema_version":1,"kind":"map-item","definition":"{}","env":"{}","item":{{"id":{i},"path":"src/module_{i}.rs"}},"inputs":{{"src/module_{i}.rs":"{}"}}}}"#,
            hash("definition").to_hex(),
            hash("env").to_hex(),
            hash(&rel).to_hex(),
        );
        let entry = IndexEntry {
            key: hash(&json),
            output: hash(&format!("out {i}")),
            status: EntryStatus::Succeeded,
            failure_kind: None,
            finished_at: Utc::now(),
            inputs,
        };
        keys.push((id.clone(), entry.key));
        nodes.insert(id, entry);
        files.push(path);
        key_json.push(json);
    }
    let index = Index {
        nodes,
        ..Index::default()
    };
    let lock = store.lock(false).expect("lock");
    store.save_index(&index, &lock).expect("save");
    drop(lock);
    let size = std::fs::metadata(store.dir().join("index.bin")).map_or(0, |m| m.len());
    eprintln!("index of {NODES} nodes: {} KiB", size / 1024);
    Fixture {
        _dir: dir,
        store,
        keys,
        key_json,
        files,
    }
}

/// Loading the index alone.
#[divan::bench(sample_count = 30)]
fn load_index(bencher: divan::Bencher) {
    let f = fixture();
    bencher.bench(|| {
        let index = f.store.load_index().expect("load");
        assert_eq!(index.nodes.len(), NODES);
    });
}

/// Loading the index and deciding every node (stored key vs recomputed key).
#[divan::bench(sample_count = 30)]
fn load_and_decide(bencher: divan::Bencher) {
    let f = fixture();
    bencher.bench(|| {
        let index = f.store.load_index().expect("load");
        let fresh = f
            .keys
            .iter()
            .filter(|(id, key)| {
                decide(index.nodes.get(id), key, false, |_| String::new()).is_fresh()
            })
            .count();
        assert_eq!(fresh, NODES);
    });
}

/// The same, hashing each node's key JSON in the loop (what `graph::hash` adds).
#[divan::bench(sample_count = 30)]
fn load_hash_and_decide(bencher: divan::Bencher) {
    let f = fixture();
    bencher.bench(|| {
        let index = f.store.load_index().expect("load");
        let fresh = f
            .keys
            .iter()
            .zip(&f.key_json)
            .filter(|((id, _), json)| {
                let key = hash(json);
                decide(index.nodes.get(id), &key, false, |_| String::new()).is_fresh()
            })
            .count();
        assert_eq!(fresh, NODES);
    });
}

/// The same, plus a `stat` of each node's first input checked against its stamp.
#[divan::bench(sample_count = 30)]
fn load_stat_and_decide(bencher: divan::Bencher) {
    let f = fixture();
    bencher.bench(|| {
        let index = f.store.load_index().expect("load");
        let fresh = f
            .keys
            .iter()
            .zip(&f.files)
            .filter(|((id, key), file)| {
                let stored = index.nodes.get(id);
                let meta = std::fs::metadata(file).expect("stat");
                stored.is_some_and(|s| stamp_matches(&s.inputs[0], &meta))
                    && decide(stored, key, false, |_| String::new()).is_fresh()
            })
            .count();
        assert_eq!(fresh, NODES);
    });
}

/// Appending one finished node to the index (a build does this per node).
#[divan::bench(sample_count = 20)]
fn append_one(bencher: divan::Bencher) {
    let f = fixture();
    let index = f.store.load_index().expect("load");
    let (id, entry) = index.nodes.iter().next().expect("a node");
    let lock = f.store.lock(false).expect("lock");
    bencher.bench(|| {
        f.store
            .append_index([(id.as_str(), entry)], &lock)
            .expect("append")
    });
}

/// Rewriting the whole index (end of a build): encode, write, fsync, rename.
#[divan::bench(sample_count = 10)]
fn save_index(bencher: divan::Bencher) {
    let f = fixture();
    let index = f.store.load_index().expect("load");
    let lock = f.store.lock(false).expect("lock");
    bencher.bench(|| f.store.save_index(&index, &lock).expect("save"));
}

/// A map item's entry as a build writes it (key JSON, empty inline output).
fn item_entry(i: usize) -> ActionEntry {
    let key = serde_json::json!({
        "arguments": hash("arguments").to_hex(),
        "definition": hash("definition").to_hex(),
        "dependencies": [],
        "env": hash("env").to_hex(),
        "item": hash(&format!("item {i}")).to_hex(),
        "kind": "map-item",
        "schema_version": 1,
    });
    ActionEntry {
        schema_version: CACHE_SCHEMA_VERSION,
        key_digest: hash(&key.to_string()),
        key,
        status: EntryStatus::Succeeded,
        failure_kind: None,
        exit_code: None,
        duration_ms: 2,
        stdout_blob: hash(""),
        stderr_blob: hash(""),
        stdout_text: Some(String::new()),
        stderr_text: Some(String::new()),
        captures: BTreeMap::new(),
        capture_meta: BTreeMap::new(),
        outputs: BTreeMap::new(),
        patch_blob: None,
        output_digest: hash(&format!("out {i}")),
        commits: Vec::new(),
        created_at: Utc::now(),
    }
}

/// A pack of [`NODES`] map-item entries, and their keys.
fn pack_fixture() -> (tempfile::TempDir, Vec<Digest>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = CacheStore::open(dir.path());
    let lock = store.lock(false).expect("lock");
    let mut keys = Vec::with_capacity(NODES);
    for i in 0..NODES {
        let entry = item_entry(i);
        store.put_entry(&entry, &lock).expect("put");
        keys.push(entry.key_digest);
    }
    let size = std::fs::metadata(store.dir().join("entries.pack")).map_or(0, |m| m.len());
    eprintln!("pack of {NODES} entries: {} KiB", size / 1024);
    (dir, keys)
}

/// The first read of a store: the scan of a pack of [`NODES`] entries into its map,
/// then one entry read and decoded.
#[divan::bench(sample_count = 30)]
fn scan_pack_and_get_one(bencher: divan::Bencher) {
    let (dir, keys) = pack_fixture();
    bencher.bench(|| {
        let store = CacheStore::open(dir.path());
        let entry = store.get_entry(&keys[NODES / 2]).expect("read");
        assert!(entry.is_some());
    });
}

/// Reading and decoding every entry after the scan (a build replaying every node).
#[divan::bench(sample_count = 10)]
fn scan_pack_and_get_all(bencher: divan::Bencher) {
    let (dir, keys) = pack_fixture();
    bencher.bench(|| {
        let store = CacheStore::open(dir.path());
        let hits = keys
            .iter()
            .filter(|k| store.get_entry(k).ok().flatten().is_some())
            .count();
        assert_eq!(hits, NODES);
    });
}

/// Appending one entry to the pack (a build does this per node that ran).
#[divan::bench(sample_count = 20)]
fn put_entry(bencher: divan::Bencher) {
    let (dir, _) = pack_fixture();
    let store = CacheStore::open(dir.path());
    let lock = store.lock(false).expect("lock");
    let entry = item_entry(0);
    bencher.bench(|| store.put_entry(&entry, &lock).expect("put"));
}
