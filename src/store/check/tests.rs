//! Unit tests of `check` and `--repair` on a real store in a temp dir.

use super::*;
use std::io::Write;

use crate::store::NewImage;

fn upload(store: &Store, bytes: &[u8], private: bool) -> u64 {
    let rec = ImageRecord {
        uploaded_at: 1_000,
        private_key: private.then_some([1; 16]),
        ..crate::store::codec::test_record(bytes)
    };
    let mut temp = store.blobs().create_temp().unwrap();
    temp.write_all(bytes).unwrap();
    temp.sync_all().unwrap();
    let new = NewImage {
        record: rec,
        key_hash: None,
    };
    store.commit_upload(new, temp, None, 1).unwrap().id
}

const ALL: CheckOptions = CheckOptions {
    rehash: true,
    repair: false,
};
const REPAIR: CheckOptions = CheckOptions {
    rehash: true,
    repair: true,
};

fn kinds(r: &CheckReport) -> Vec<&'static str> {
    let mut k: Vec<_> = r.remaining().map(Problem::kind).collect();
    k.sort();
    k
}

#[test]
fn a_healthy_store_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    upload(&store, b"one", false);
    upload(&store, b"one", true);
    let gone = upload(&store, b"two", false);
    store.delete_image(gone).unwrap();
    let r = store.check(ALL).unwrap();
    assert!(r.is_clean(), "{:?}", r.problems);
    assert_eq!((r.images, r.blobs, r.bytes), (2, 1, 3));
}

#[test]
fn damaged_bytes_are_reported_and_never_repaired_away() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let id = upload(&store, b"precious", false);
    let hash = store.image(id).unwrap().unwrap().record.hash;
    let mut t = store.blobs().create_temp().unwrap();
    t.write_all(b"PRECIOUS").unwrap();
    store.blobs().replace(t, &hash).unwrap();
    assert_eq!(kinds(&store.check(ALL).unwrap()), ["wrong-content"]);
    // Without rehash only the size is compared, and it is the same.
    let quick = store
        .check(CheckOptions {
            rehash: false,
            repair: false,
        })
        .unwrap();
    assert!(quick.is_clean());
    let r = store.check(REPAIR).unwrap();
    assert_eq!(kinds(&r), ["wrong-content"]);
    assert!(store.image(id).unwrap().is_some(), "the row stays");

    store.blobs().delete(&hash).unwrap();
    assert_eq!(kinds(&store.check(REPAIR).unwrap()), ["missing-file"]);
    assert!(store.image(id).unwrap().is_some());
}

#[test]
fn totals_refcounts_orphans_and_temps_are_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let a = upload(&store, b"aaa", true);
    upload(&store, b"aaa", false);
    let hash = store.image(a).unwrap().unwrap().record.hash;
    // Damage the bookkeeping by hand.
    {
        let txn = store.db.begin_write().unwrap();
        {
            let mut m = txn.open_table(NAME_TO_META).unwrap();
            m.insert(keys::IMAGES, 7).unwrap();
            m.insert(keys::BYTES_STORED, 0).unwrap();
            m.insert(keys::PRIVATE_IMAGES, 0).unwrap();
            let mut b = txn.open_table(HASH_TO_BLOB).unwrap();
            let rec = BlobRecord {
                size: 3,
                refcount: 5,
                kind: 1,
            };
            b.insert(hash.as_slice(), rec.encode().as_slice()).unwrap();
            txn.open_table(UUID_TO_ID)
                .unwrap()
                .insert(42u128, 99)
                .unwrap();
            txn.open_table(ID_TO_VIEWS).unwrap().insert(99, 3).unwrap();
        }
        txn.commit().unwrap();
    }
    let orphan = BlobHash::of(b"zz");
    let mut t = store.blobs().create_temp().unwrap();
    t.write_all(b"zz").unwrap();
    store.blobs().put(t, &orphan).unwrap();
    let stale = store.blobs().create_temp().unwrap();
    std::mem::forget(stale);

    let r = store.check(ALL).unwrap();
    assert_eq!(
        kinds(&r),
        [
            "dangling-uuid-index",
            "dangling-views",
            "orphan-blob",
            "refcount",
            "stale-temp",
            "total",
            "total",
            "total"
        ]
    );
    // Repair treats the orphan as GC does: spared while it is younger than
    // the grace period, then quarantined, never unlinked.
    let r = store.check(REPAIR).unwrap();
    assert_eq!(kinds(&r), ["orphan-blob"]);
    assert!(store.blobs().exists(&orphan));
    let no_grace = crate::store::gc::GcPolicy {
        grace: std::time::Duration::ZERO,
        ..Default::default()
    };
    let r = store.check_with(REPAIR, &no_grace).unwrap();
    assert!(r.is_clean(), "{:?}", r.remaining().collect::<Vec<_>>());
    assert!(store.check(ALL).unwrap().is_clean());
    let t = store.totals().unwrap();
    assert_eq!((t.images, t.private_images, t.bytes_stored), (2, 1, 3));
    assert_eq!(store.blob(&hash).unwrap().unwrap().refcount, 2);
    assert!(!store.blobs().exists(&orphan));
    assert_eq!(store.blobs().list_trash().unwrap()[0].hash, orphan);
}

#[test]
fn a_lost_blob_row_is_rebuilt_from_an_intact_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let id = upload(&store, b"kept", false);
    upload(&store, b"kept", false);
    let hash = store.image(id).unwrap().unwrap().record.hash;
    {
        let txn = store.db.begin_write().unwrap();
        txn.open_table(HASH_TO_BLOB)
            .unwrap()
            .remove(hash.as_slice())
            .unwrap();
        txn.commit().unwrap();
    }
    let r = store.check(ALL).unwrap();
    assert!(kinds(&r).contains(&"missing-blob-row"));
    assert!(!kinds(&r).contains(&"orphan-blob"), "the file is in use");
    let r = store.check(REPAIR).unwrap();
    assert!(r.is_clean(), "{:?}", r.remaining().collect::<Vec<_>>());
    assert_eq!(store.blob(&hash).unwrap().unwrap().refcount, 2);
    assert!(store.check(ALL).unwrap().is_clean());
}
