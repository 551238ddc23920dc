//! The contract of [`BlobStore`], run against every backend: put and dedup,
//! ranges, stat, delete, listing, quarantine and temps; then the same
//! store-level behaviours (uploads, deletes, GC, check) with a `Store` over
//! each backend, which proves the store above needs nothing of a filesystem.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::*;

fn h(bytes: &[u8]) -> BlobHash {
    BlobHash::of(bytes)
}

fn put(store: &dyn BlobStore, bytes: &[u8]) -> bool {
    let mut t = store.create_temp().unwrap();
    t.write_all(bytes).unwrap();
    t.sync_all().unwrap();
    store.put(t, &h(bytes)).unwrap()
}

fn read_all(mut r: impl Read) -> Vec<u8> {
    let mut v = Vec::new();
    r.read_to_end(&mut v).unwrap();
    v
}

fn range(store: &dyn BlobStore, hash: &BlobHash, start: u64, len: u64) -> Vec<u8> {
    read_all(store.read_range(hash, start, len).unwrap().reader)
}

pub(crate) fn put_dedups_and_drops_the_second_copy(store: Arc<dyn BlobStore>) {
    assert!(put(&*store, b"hello"), "first copy stored");
    assert!(!put(&*store, b"hello"), "second copy is a duplicate");
    assert!(store.list_temps().unwrap().is_empty(), "no temp left");
    let listed = store.list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].hash, listed[0].size), (h(b"hello"), 5));
    assert_eq!(read_all(store.read(&h(b"hello")).unwrap().reader), b"hello");
}

pub(crate) fn ranges_cover_start_middle_end_and_past_end(store: Arc<dyn BlobStore>) {
    let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 256) as u8).collect();
    put(&*store, &data);
    let hash = h(&data);
    assert_eq!(range(&*store, &hash, 0, 10), &data[..10]);
    assert_eq!(range(&*store, &hash, 400, 100), &data[400..500]);
    assert_eq!(range(&*store, &hash, 990, 10), &data[990..]);
    assert_eq!(
        range(&*store, &hash, 990, 100),
        &data[990..],
        "cut at the end"
    );
    assert!(range(&*store, &hash, 1000, 5).is_empty(), "at the end");
    assert!(range(&*store, &hash, 5000, 5).is_empty(), "past the end");
    assert_eq!(range(&*store, &hash, 0, u64::MAX), data);
    let opened = store.read_range(&hash, 400, 1).unwrap();
    assert_eq!(opened.meta.size, 1000, "meta describes the whole blob");
    let missing = store.read_range(&h(b"nope"), 0, 1).err().unwrap();
    assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
}

/// Past the multipart threshold of the S3 backend (16 MiB): parts arrive
/// whole and in order.
pub(crate) fn a_large_blob_round_trips_whole_and_by_range(store: Arc<dyn BlobStore>) {
    let mut data = vec![0u8; 17 * 1024 * 1024 + 123];
    let mut x = 0x9e37_79b9u32;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    assert!(put(&*store, &data));
    let hash = h(&data);
    assert_eq!(store.stat(&hash).unwrap().unwrap().size, data.len() as u64);
    let (len, back) = hash_reader(store.read(&hash).unwrap().reader).unwrap();
    assert_eq!((len, back), (data.len() as u64, hash));
    let mid = 9 * 1024 * 1024 - 7;
    assert_eq!(
        range(&*store, &hash, mid, 20),
        &data[mid as usize..mid as usize + 20]
    );
}

pub(crate) fn stat_sees_size_and_a_new_version_on_replace(store: Arc<dyn BlobStore>) {
    let hash = h(b"abc");
    assert_eq!(store.stat(&hash).unwrap(), None);
    assert!(!store.exists(&hash));
    put(&*store, b"abc");
    let first = store.stat(&hash).unwrap().unwrap();
    assert_eq!(first.size, 3);
    assert!(store.exists(&hash));
    assert_eq!(
        store.stat(&hash).unwrap(),
        Some(first),
        "stable while untouched"
    );
    assert_eq!(store.read(&hash).unwrap().meta, first);
    // A repair puts different bytes under the same name.
    let mut t = store.create_temp().unwrap();
    t.write_all(b"abd").unwrap();
    t.sync_all().unwrap();
    store.replace(t, &hash).unwrap();
    let second = store.stat(&hash).unwrap().unwrap();
    assert_ne!(second.version, first.version);
    assert_eq!(read_all(store.read(&hash).unwrap().reader), b"abd");
}

pub(crate) fn delete_is_idempotent(store: Arc<dyn BlobStore>) {
    put(&*store, b"gone soon");
    store.delete(&h(b"gone soon")).unwrap();
    store.delete(&h(b"gone soon")).unwrap();
    assert!(!store.exists(&h(b"gone soon")));
    assert!(store.list().unwrap().is_empty());
}

pub(crate) fn list_and_scan_see_every_blob(store: Arc<dyn BlobStore>) {
    let names: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; i as usize + 1]).collect();
    for n in &names {
        put(&*store, n);
    }
    let mut listed: Vec<(BlobHash, u64)> = store
        .list()
        .unwrap()
        .iter()
        .map(|e| (e.hash, e.size))
        .collect();
    listed.sort();
    let mut want: Vec<(BlobHash, u64)> = names.iter().map(|n| (h(n), n.len() as u64)).collect();
    want.sort();
    assert_eq!(listed, want);
    let mut seen = 0;
    let stopped = store
        .scan(&mut |_| {
            seen += 1;
            Ok(seen == 3)
        })
        .unwrap();
    assert!(stopped);
    assert_eq!(seen, 3, "scan stops when asked");
}

pub(crate) fn quarantine_round_trips(store: Arc<dyn BlobStore>) {
    put(&*store, b"orphan");
    let hash = h(b"orphan");
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let t = store.quarantine(&hash, at).unwrap();
    assert_eq!((t.hash, t.size, t.quarantined_at), (hash, 6, 1_700_000_000));
    assert!(!store.exists(&hash), "moved out of place");
    assert_eq!(store.list_trash().unwrap(), vec![t.clone()]);
    assert_eq!(read_all(store.read_trashed(&t).unwrap()), b"orphan");
    store.restore_trashed(&t).unwrap();
    assert!(store.list_trash().unwrap().is_empty());
    assert_eq!(read_all(store.read(&hash).unwrap().reader), b"orphan");

    // Wanted again while in quarantine: the copy in place wins.
    let t = store.quarantine(&hash, at).unwrap();
    put(&*store, b"orphan");
    store.restore_trashed(&t).unwrap();
    assert!(store.list_trash().unwrap().is_empty());
    assert!(store.exists(&hash));

    // Purged for good, twice.
    let t = store.quarantine(&hash, at).unwrap();
    store.purge_trashed(&t).unwrap();
    store.purge_trashed(&t).unwrap();
    assert!(store.list_trash().unwrap().is_empty());
    assert!(!store.exists(&hash));
    assert!(
        store.quarantine(&hash, at).is_err(),
        "nothing to quarantine"
    );
}

pub(crate) fn temps_are_listed_read_back_and_cleaned(store: Arc<dyn BlobStore>) {
    let mut t = store.create_temp().unwrap();
    t.write_all(b"partial").unwrap();
    t.flush().unwrap();
    assert_eq!(read_all(t.reader().unwrap()), b"partial");
    let listed = store.list_temps().unwrap();
    assert_eq!(listed.len(), 1);
    drop(t);
    assert!(store.list_temps().unwrap().is_empty(), "dropped, removed");

    // One left behind (a crash keeps its guard from running): removed by name.
    let t = store.create_temp().unwrap();
    let entry = store.list_temps().unwrap().remove(0);
    assert!(store.remove_temp(&entry).unwrap());
    assert!(!store.remove_temp(&entry).unwrap(), "already gone");
    assert!(store.list_temps().unwrap().is_empty());
    drop(t);

    // A full disk refuses writes into new temps.
    store.simulate_disk_full(true);
    let mut t = store.create_temp().unwrap();
    assert!(t.write_all(b"x").and_then(|()| t.flush()).is_err());
    store.simulate_disk_full(false);
    drop(t);
    assert!(store.list_temps().unwrap().is_empty());
}

/// Runs every contract test against a backend made by `$make`, each in a
/// module of its own so a failure names the backend.
macro_rules! contract {
    ($name:ident, [$($attrs:tt)*] $make:expr) => {
        mod $name {
            use super::*;
            contract!(@each [$($attrs)*] $make;
                put_dedups_and_drops_the_second_copy,
                ranges_cover_start_middle_end_and_past_end,
                a_large_blob_round_trips_whole_and_by_range,
                stat_sees_size_and_a_new_version_on_replace,
                delete_is_idempotent,
                list_and_scan_see_every_blob,
                quarantine_round_trips,
                temps_are_listed_read_back_and_cleaned);
        }
    };
    ($name:ident, $make:expr) => {
        contract!($name, [] $make);
    };
    (@each $attrs:tt $make:expr; $($test:ident),*) => {
        $( contract!(@one $attrs $test $make); )*
    };
    (@one [$(#[$attr:meta])*] $test:ident $make:expr) => {
        #[test]
        $(#[$attr])*
        fn $test() {
            let (store, _keep) = $make;
            super::$test(store);
        }
    };
}

contract!(fs, {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn BlobStore> = Arc::new(FsBlobStore::open(dir.path()).unwrap());
    (store, Some(dir))
});

contract!(memory, {
    let store: Arc<dyn BlobStore> = Arc::new(MemBlobStore::new());
    (store, None::<tempfile::TempDir>)
});

/// The disk cache over memory: every read of the contract goes through it
/// (fills, hits after `replace`, ranges of a cached copy).
fn cached_mem_backend(dir: &std::path::Path) -> Arc<dyn BlobStore> {
    let config = cache::DiskCacheConfig {
        dir: dir.join("cache"),
        size: 64 * 1024 * 1024,
    };
    Arc::new(cache::CachedBlobStore::open(Arc::new(MemBlobStore::new()), &config).unwrap())
}

contract!(cached_memory, {
    let dir = tempfile::tempdir().unwrap();
    let store = cached_mem_backend(dir.path());
    (store, Some(dir))
});

/// An S3 backend over a fresh prefix of the bucket named by
/// `PIXBIN_TEST_S3` (`s3://bucket/prefix`), reached with the usual storage
/// environment (`PIXBIN_S3_ENDPOINT`, `PIXBIN_S3_REGION`, `AWS_*`;
/// path-style unless `PIXBIN_S3_PATH_STYLE=false`). The S3 tests are
/// `#[ignore]`d, so a plain `cargo test` lists them as ignored rather than
/// passing them; `tests/s3/run.sh` runs them against Garage with
/// `--include-ignored`, and there a missing variable fails them.
fn s3_backend(dir: &std::path::Path) -> Arc<dyn BlobStore> {
    use super::storage::{Storage, StorageArgs, StorageFile, process_env};
    let base = std::env::var("PIXBIN_TEST_S3")
        .expect("PIXBIN_TEST_S3=s3://bucket/prefix names the bucket for the S3 tests");
    let run = hex(&crate::secret::random_bytes::<32>());
    let args = StorageArgs {
        storage: Some(format!("{}/{}", base.trim_end_matches('/'), &run[..16])),
        s3_path_style: Some(process_env("PIXBIN_S3_PATH_STYLE").is_none_or(|v| v != "false")),
        ..Default::default()
    };
    let file = StorageFile {
        s3_endpoint: process_env("PIXBIN_S3_ENDPOINT"),
        s3_region: process_env("PIXBIN_S3_REGION"),
        ..Default::default()
    };
    let storage = args.resolve(&file, &process_env).unwrap();
    assert!(matches!(storage, Storage::S3(_)), "an s3:// URL is needed");
    storage.prepare(dir).unwrap();
    storage.backend(dir).unwrap()
}

contract!(s3, [#[ignore = "needs a live S3 store: PIXBIN_TEST_S3 (see tests/s3/run.sh)"]] {
    let dir = tempfile::tempdir().unwrap();
    let store = s3_backend(dir.path());
    (store, Some(dir))
});

// ---- the store above each backend ---------------------------------------

use crate::store::check::{CheckOptions, Problem};
use crate::store::gc::GcPolicy;
use crate::store::identity::Claim;
use crate::store::{NewImage, Store};

type Make = fn(&std::path::Path) -> Arc<dyn BlobStore>;

fn fs_backend(dir: &std::path::Path) -> Arc<dyn BlobStore> {
    Arc::new(FsBlobStore::open(dir).unwrap())
}

fn mem_backend(_: &std::path::Path) -> Arc<dyn BlobStore> {
    Arc::new(MemBlobStore::new())
}

fn upload(store: &Store, bytes: &[u8]) -> u64 {
    let mut t = store.blobs().create_temp().unwrap();
    t.write_all(bytes).unwrap();
    t.sync_all().unwrap();
    let new = NewImage {
        record: crate::store::codec::test_record(bytes),
        key_hash: None,
    };
    store.commit_upload(new, t, None, 1).unwrap().id
}

fn gc_at(now: SystemTime) -> GcPolicy {
    GcPolicy {
        now,
        grace: Duration::ZERO,
        retention: Duration::from_secs(24 * 3600),
        force: false,
        all_temps: false,
    }
}

fn store_over(make: Make) -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), Claim::Verify, make(dir.path())).unwrap();
    (store, dir)
}

fn uploads_dedup_and_the_last_delete_frees_the_blob(make: Make) {
    let (store, _dir) = store_over(make);
    let a = upload(&store, b"same bytes");
    let b = upload(&store, b"same bytes");
    let hash = h(b"same bytes");
    assert_eq!(store.blobs().list().unwrap().len(), 1, "stored once");
    assert!(store.blobs().list_temps().unwrap().is_empty());
    assert_eq!(
        read_all(store.blobs().read(&hash).unwrap().reader),
        b"same bytes"
    );
    store.delete_image(a).unwrap();
    assert!(store.blobs().exists(&hash), "still used by the other image");
    store.delete_image(b).unwrap();
    assert!(!store.blobs().exists(&hash), "the last user went");
}

fn gc_quarantines_orphans_purges_them_later_and_removes_temps(make: Make) {
    let (store, _dir) = store_over(make);
    let kept = upload(&store, b"kept");
    put(&**store.blobs(), b"orphan");
    std::mem::forget(store.blobs().create_temp().unwrap()); // a crashed upload's
    let soon = SystemTime::now() + Duration::from_secs(60);
    let r = store.collect_garbage(&gc_at(soon)).unwrap();
    assert_eq!((r.quarantined, r.purged, r.temps_removed), (1, 0, 1));
    assert!(!store.blobs().exists(&h(b"orphan")));
    assert!(store.blobs().exists(&h(b"kept")));
    assert!(store.blobs().list_temps().unwrap().is_empty());
    let r = store
        .collect_garbage(&gc_at(soon + Duration::from_secs(2 * 24 * 3600)))
        .unwrap();
    assert_eq!(r.purged, 1);
    assert!(store.blobs().list_trash().unwrap().is_empty());
    assert!(store.image(kept).unwrap().is_some());
}

fn check_sees_wrong_and_missing_bytes(make: Make) {
    let (store, _dir) = store_over(make);
    upload(&store, b"precious");
    let all = CheckOptions {
        rehash: true,
        repair: false,
    };
    assert!(store.check(all).unwrap().is_clean());
    let mut t = store.blobs().create_temp().unwrap();
    t.write_all(b"PRECIOUS").unwrap();
    store.blobs().replace(t, &h(b"precious")).unwrap();
    let kinds = |s: &Store| -> Vec<&'static str> {
        s.check(all)
            .unwrap()
            .remaining()
            .map(Problem::kind)
            .collect()
    };
    assert_eq!(kinds(&store), ["wrong-content"]);
    store.blobs().delete(&h(b"precious")).unwrap();
    assert_eq!(kinds(&store), ["missing-file"]);
}

macro_rules! store_level {
    ($($test:ident),*) => {
        mod store_over_fs {
            $(#[test] fn $test() { super::$test(super::fs_backend) })*
        }
        mod store_over_memory {
            $(#[test] fn $test() { super::$test(super::mem_backend) })*
        }
        mod store_over_cached_memory {
            $(#[test] fn $test() { super::$test(super::cached_mem_backend) })*
        }
        mod store_over_s3 {
            $(
                #[test]
                #[ignore = "needs a live S3 store: PIXBIN_TEST_S3 (see tests/s3/run.sh)"]
                fn $test() { super::$test(super::s3_backend) }
            )*
        }
    };
}

store_level!(
    uploads_dedup_and_the_last_delete_frees_the_blob,
    gc_quarantines_orphans_purges_them_later_and_removes_temps,
    check_sees_wrong_and_missing_bytes
);

/// A backend out of reach is a 503 with a retry hint, never a 500 or damage.
#[test]
fn an_unreachable_backend_is_unavailable_not_a_failure() {
    let e = Unavailable::io("connection refused");
    assert!(is_unavailable(&e));
    assert!(!is_unavailable(&std::io::Error::other("disk error")));
    let app = crate::error::AppError::from(crate::store::StoreError::Io(e));
    assert_eq!(app.status_and_code().0.as_u16(), 503);
    assert_eq!(app.status_and_code().1, "unavailable");
    let res = crate::http::body::error_response(&app);
    assert_eq!(res.headers()["retry-after"], "5");
}

#[test]
fn hex_round_trips_and_rejects_uppercase() {
    let x = h(b"x");
    assert_eq!(parse_hex(&hex(&x)), Some(x));
    assert_eq!(parse_hex(&hex(&x).to_uppercase()), None);
    assert_eq!(parse_hex("zz"), None);
}
