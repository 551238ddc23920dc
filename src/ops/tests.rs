//! The operations through the blob-store seam, on the in-memory backend
//! (which, like a bucket, keeps the identity marker with the blobs):
//! - a backup of a store restores onto another store, every blob byte-exact,
//!   the identity marker carried over and the storage recorded;
//! - restore keeps an object already there when it is whole, replaces one
//!   that is damaged and leaves one the backup does not name; it refuses a store bound to another database before
//!   writing any blob;
//! - repair puts back a damaged object from a backup;
//! - adopt turns orphan and quarantined objects into images;
//! - migrate-storage copies every blob verified, resumes after an interruption
//!   (a torn copy replaced), switches only when complete (the old storage is
//!   then refused), and back again; a damaged source blob or a foreign target
//!   stops it before the switch.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use super::{adopt, backup, migrate, repair, restore};
use crate::config::Config;
use crate::store::Store;
use crate::store::blobs::{BlobHash, BlobStore, FsBlobStore, MemBlobStore};
use crate::store::check::CheckOptions;
use crate::store::identity::{self, Claim};

/// A store in `dir` whose blobs are in `blobs`.
pub(crate) fn open_mem(dir: &Path, blobs: &MemBlobStore) -> Store {
    let store = Store::open_with(dir, Claim::Verify, Arc::new(blobs.clone())).unwrap();
    // `tmp/`, where backups stage the database copy.
    spool(dir).unwrap();
    store
}

/// Puts `bytes` under `hash` in `blobs`, over whatever is there.
pub(crate) fn put_raw(blobs: &dyn BlobStore, hash: &BlobHash, bytes: &[u8]) {
    let mut t = blobs.create_temp().unwrap();
    t.write_all(bytes).unwrap();
    t.sync_all().unwrap();
    blobs.replace(t, hash).unwrap();
}

/// Commits an image row for `bytes` (stored through the seam); its hash.
pub(crate) fn add_image(store: &Store, bytes: &[u8]) -> BlobHash {
    store.test_upload(bytes).record.hash
}

/// Asserts that `check`, every blob re-hashed, finds nothing.
#[track_caller]
fn assert_checks_clean(store: &Store) {
    let report = store
        .check(CheckOptions {
            rehash: true,
            repair: false,
        })
        .unwrap();
    assert_eq!(report.remaining().count(), 0, "{:?}", report.problems);
}

/// Reads a whole blob.
pub(crate) fn bytes_of(blobs: &dyn BlobStore, hash: &BlobHash) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut blobs.read(hash).unwrap().reader, &mut out).unwrap();
    out
}

/// A store with three images on a memory backend, backed up to `archive`.
fn backed_up(dir: &Path, archive: &Path) -> (MemBlobStore, Vec<(BlobHash, Vec<u8>)>) {
    let blobs = MemBlobStore::new();
    let store = open_mem(dir, &blobs);
    let images: Vec<_> = (0..3u8)
        .map(|i| {
            let bytes = vec![i; 1000 + i as usize * 70_000];
            (add_image(&store, &bytes), bytes)
        })
        .collect();
    let out = std::fs::File::create(archive).unwrap();
    backup::prepare(&store).unwrap().write_to(out).unwrap();
    (blobs, images)
}

fn spool(dir: &Path) -> std::io::Result<()> {
    FsBlobStore::spool(dir).map(drop)
}

#[test]
fn a_backup_restores_onto_another_store_byte_exact() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("b.tar");
    let (_, images) = backed_up(&tmp.path().join("a"), &archive);
    let target = MemBlobStore::new();
    let dir = tmp.path().join("b");
    let s =
        restore::restore_onto(&archive, &dir, Arc::new(target.clone()), "memory", spool).unwrap();
    assert_eq!(s.blobs, 3);
    for (h, bytes) in &images {
        assert_eq!(&bytes_of(&target, h), bytes);
    }
    assert!(!dir.join("blobs").exists(), "no blob went to the directory");
    let id = identity::read_marker(&dir).unwrap().unwrap();
    assert_eq!(identity::remote_id(&target).unwrap(), Some(id));
    let store = open_mem(&dir, &target);
    assert_eq!(store.recorded_location().unwrap().unwrap().0, "memory");
    assert_checks_clean(&store);
}

#[test]
fn restore_keeps_whole_objects_replaces_damaged_ones_and_leaves_newer_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("b.tar");
    let (_, images) = backed_up(&tmp.path().join("a"), &archive);
    let target = MemBlobStore::new();
    let (whole, damaged) = (&images[0], &images[1]);
    put_raw(&target, &whole.0, &whole.1);
    let mut wrong = damaged.1.clone();
    wrong[10] ^= 1;
    put_raw(&target, &damaged.0, &wrong);
    // Uploaded after the backup was made: the restored database knows none.
    let newer = BlobHash::of(b"newer than the backup");
    put_raw(&target, &newer, b"newer than the backup");
    let kept = target.stat(&whole.0).unwrap().unwrap().version;
    let s = restore::restore_onto(
        &archive,
        &tmp.path().join("b"),
        Arc::new(target.clone()),
        "memory",
        spool,
    )
    .unwrap();
    assert_eq!(target.stat(&whole.0).unwrap().unwrap().version, kept);
    assert_eq!(bytes_of(&target, &damaged.0), damaged.1);
    assert_eq!(s.unknown_kept, 1);
    assert!(target.exists(&newer), "left for adopt");
}

#[test]
fn restore_refuses_a_store_bound_to_another_database() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("b.tar");
    backed_up(&tmp.path().join("a"), &archive);
    let target = MemBlobStore::new();
    target
        .write_remote_marker(&identity::marker_text(0x1234))
        .unwrap();
    let dir = tmp.path().join("b");
    let err = restore::restore_onto(&archive, &dir, Arc::new(target.clone()), "memory", spool)
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("another pixbin database"),
        "{err:#}"
    );
    assert!(target.list().unwrap().is_empty(), "no blob written");
    assert!(!dir.exists(), "the directory it made is gone");
}

#[test]
fn repair_puts_back_a_damaged_object() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("b.tar");
    let dir = tmp.path().join("a");
    let (blobs, images) = backed_up(&dir, &archive);
    let (h, bytes) = &images[2];
    let mut wrong = bytes.clone();
    wrong[70_000] ^= 0x40;
    put_raw(&blobs, h, &wrong);
    let store = open_mem(&dir, &blobs);
    let r = repair::repair_store(&store, &archive).unwrap();
    assert_eq!(r.repaired, vec![*h]);
    assert!(r.complete());
    assert_eq!(&bytes_of(&blobs, h), bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopt_turns_orphan_and_quarantined_objects_into_images() {
    let tmp = tempfile::tempdir().unwrap();
    let blobs = MemBlobStore::new();
    let orphan = crate::media::tests::bmp(3, 2, 24);
    let trashed = crate::media::tests::bmp(2, 5, 24);
    let (ho, ht) = (BlobHash::of(&orphan), BlobHash::of(&trashed));
    put_raw(&blobs, &ho, &orphan);
    put_raw(&blobs, &ht, &trashed);
    blobs.quarantine(&ht, std::time::SystemTime::now()).unwrap();
    let dir = tmp.path();
    let store = Arc::new(Store::open_with(dir, Claim::Adopt, Arc::new(blobs.clone())).unwrap());
    let s = adopt::adopt(
        &store,
        &Config::for_tests(dir),
        adopt::AdoptOptions {
            trash: true,
            private: false,
        },
    )
    .await
    .unwrap();
    assert_eq!((s.adopted, s.from_trash, s.refused.len()), (1, 1, 0));
    assert!(store.blob(&ho).unwrap().is_some());
    assert!(store.blob(&ht).unwrap().is_some());
    assert_eq!(bytes_of(&blobs, &ht), trashed, "back in place");
    assert!(blobs.list_trash().unwrap().is_empty());
}

/// Stops a migration after `n` blobs.
fn stop_after(n: u64) -> impl FnMut(&migrate::MigrateReport) -> bool + Send {
    move |r| r.done() < n
}

#[test]
fn migrate_resumes_after_an_interruption_and_switches_only_when_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let store = Store::open(dir).unwrap();
    let images: Vec<_> = (0..12u8)
        .map(|i| {
            let bytes = vec![i; 500 + i as usize * 9_000];
            (add_image(&store, &bytes), bytes)
        })
        .collect();
    let target = MemBlobStore::new();
    let first = migrate::migrate(&store, &target, "memory", &mut stop_after(5)).unwrap();
    assert!(!first.switched);
    assert!(first.copied >= 5 && first.copied < 12, "{first:?}");
    assert_eq!(
        store.recorded_location().unwrap().unwrap().0,
        "fs",
        "not switched"
    );
    // A torn copy of one blob not yet copied: the next run must replace it.
    let torn = images
        .iter()
        .find(|(h, _)| !target.exists(h))
        .expect("some blob left to copy");
    put_raw(&target, &torn.0, &torn.1[..torn.1.len() / 2]);
    let second = migrate::migrate(&store, &target, "memory", &mut |_| true).unwrap();
    assert!(second.switched);
    assert_eq!(second.present, first.copied, "journaled copies skipped");
    assert_eq!(second.copied, 12 - first.copied);
    for (h, bytes) in &images {
        assert_eq!(&bytes_of(&target, h), bytes);
        assert!(
            dir.join("blobs").exists() && store.blobs().exists(h),
            "source left in place"
        );
    }
    let id = identity::read_marker(dir).unwrap();
    assert_eq!(identity::remote_id(&target).unwrap(), id);
    assert!(!migrate::journal_path(dir, "memory").exists());
    drop(store);
    // The old storage is refused from now on, with the way out named.
    let err = Store::open_on(
        dir,
        Claim::Verify,
        &crate::store::blobs::storage::Storage::Fs,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("live in memory") && err.contains("--storage memory"),
        "{err}"
    );

    // And back: what the directory still holds is verified and kept, what
    // was uploaded meanwhile is copied.
    let store = open_mem(dir, &target);
    let (new, new_bytes) = {
        let bytes = vec![99u8; 4321];
        (add_image(&store, &bytes), bytes)
    };
    let back = FsBlobStore::open(dir).unwrap();
    let r = migrate::migrate(&store, &back, "fs", &mut |_| true).unwrap();
    assert!(r.switched);
    assert_eq!((r.copied, r.present), (1, 12));
    assert_eq!(bytes_of(&back, &new), new_bytes);
    drop(store);
    let store = Store::open(dir).unwrap();
    assert_checks_clean(&store);
}

#[test]
fn migrate_does_not_switch_past_a_damaged_source_blob() {
    let tmp = tempfile::tempdir().unwrap();
    let source = MemBlobStore::new();
    let store = open_mem(tmp.path(), &source);
    let good = add_image(&store, b"good bytes");
    let bad = add_image(&store, b"bytes soon damaged");
    put_raw(&source, &bad, b"bytes s00n damaged");
    let target = MemBlobStore::new();
    let r = migrate::migrate(&store, &target, "elsewhere", &mut |_| true).unwrap();
    assert!(!r.switched);
    assert_eq!(r.unreadable.len(), 1);
    assert_eq!(r.unreadable[0].0, bad);
    assert!(target.exists(&good) && !target.exists(&bad));
    assert_eq!(store.recorded_location().unwrap(), None);
    assert_eq!(identity::remote_id(&target).unwrap(), None, "no marker yet");
}

#[test]
fn migrate_refuses_a_target_bound_to_another_database() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    add_image(&store, b"some bytes");
    let target = MemBlobStore::new();
    target
        .write_remote_marker(&identity::marker_text(0x77))
        .unwrap();
    let err = migrate::migrate(&store, &target, "elsewhere", &mut |_| true).unwrap_err();
    assert!(err.to_string().contains("another pixbin"), "{err}");
    assert!(target.list().unwrap().is_empty());
}
