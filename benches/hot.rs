//! The functions every served request runs, timed alone: route parsing, the
//! image record codec, private-key decoding, blake3 over 1 MiB (upload hashing),
//! the metadata lookup by uuid and the library's first page (by date, size and
//! name) on a database of 100k images.
//!
//! Run: `cargo bench --bench hot`. The same binary also seeds a data directory
//! with many images for `benches/load.sh` (start-up and `/api/list` at 100k):
//! `PIXBIN_SEED_DIR=dir PIXBIN_SEED_COUNT=100000 cargo bench --bench hot`.

use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use hyper::Method;
use pixbin::http::image_json::decode_key;
use pixbin::http::router::route;
use pixbin::media::ImageType;
use pixbin::store::blobs::BlobHash;
use pixbin::store::codec::{BlobRecord, ImageRecord, Uploader};
use pixbin::store::meta::{
    HASH_TO_BLOB, ID_TO_IMAGE, NAME_TO_META, OWNER_ID_TO_IMAGE, OWNER_TO_USAGE, UPLOADED_AT_TO_ID,
    UUID_TO_ID, keys,
};
use pixbin::store::{ListFilter, NewImage, SortKey, Store};
use redb::{Database, ReadableTable};

const IMAGES: usize = 100_000;

/// A valid 8x8 24-bit BMP: the one blob every seeded row points at.
fn tiny_bmp() -> Vec<u8> {
    let (w, h) = (8u32, 8u32);
    let row = (w * 3).div_ceil(4) * 4;
    let pixels = row * h;
    let mut b = Vec::new();
    b.extend_from_slice(b"BM");
    b.extend_from_slice(&(54 + pixels).to_le_bytes());
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&54u32.to_le_bytes());
    b.extend_from_slice(&40u32.to_le_bytes());
    b.extend_from_slice(&w.to_le_bytes());
    b.extend_from_slice(&h.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&24u16.to_le_bytes());
    b.extend_from_slice(&[0; 24]);
    b.extend((0..pixels).map(|i| (i * 7) as u8));
    b
}

fn record(uuid: [u8; 16], hash: BlobHash, size: u64, at: i64) -> ImageRecord {
    ImageRecord {
        uuid,
        filename: "screenshot-2026-01-01.bmp".into(),
        kind: ImageType::Bmp,
        size,
        width: 8,
        height: 8,
        hash,
        uploaded_at: at,
        private_key: None,
        deletion_hash: pixbin::secret::TokenHash::from_bytes([7; 32]),
        uploader: Uploader::Import,
        thumbnail: None,
        expires_at: None,
        max_views: None,
        stripped: Vec::new(),
        owner: String::new(),
    }
}

/// Seeds `dir` with `n` images in two transactions: one real upload (so the blob
/// file exists and the store's own path wrote it), then `n - 1` more rows
/// pointing at the same blob, written directly with the public table
/// definitions. Counters (`images`, `next_image_id`) and the blob's refcount
/// are kept consistent, so `pixbin check` passes. Returns every uuid.
fn seed(dir: &Path, n: usize) -> Vec<[u8; 16]> {
    let bytes = tiny_bmp();
    let hash = BlobHash::of(&bytes);
    let base = pixbin::clock::now_ms() - n as i64 * 1000;
    let mut uuids = Vec::with_capacity(n);
    {
        let store = Store::open(dir).expect("open store");
        let mut temp = store.blobs().create_temp().expect("temp");
        temp.write_all(&bytes).expect("write");
        temp.sync_all().expect("sync");
        let u = *uuid::Uuid::new_v4().as_bytes();
        uuids.push(u);
        let new = NewImage {
            record: record(u, hash, bytes.len() as u64, base),
            key_hash: None,
        };
        store
            .commit_upload(new, temp, None, base)
            .expect("commit first image");
    }
    let db = Database::create(Store::db_path(dir)).expect("open db");
    let txn = db.begin_write().expect("write txn");
    {
        let mut meta = txn.open_table(NAME_TO_META).expect("meta");
        let first = meta.get(keys::NEXT_IMAGE_ID).expect("get").unwrap().value();
        let images = meta
            .get(keys::IMAGES)
            .expect("get")
            .map_or(0, |v| v.value());
        let extra = (n - 1) as u64;
        let mut by_id = txn.open_table(ID_TO_IMAGE).expect("t");
        let mut by_uuid = txn.open_table(UUID_TO_ID).expect("t");
        let mut by_time = txn.open_table(UPLOADED_AT_TO_ID).expect("t");
        let mut by_owner = txn.open_table(OWNER_ID_TO_IMAGE).expect("t");
        for i in 0..extra {
            let id = first + i;
            let u = *uuid::Uuid::new_v4().as_bytes();
            uuids.push(u);
            let at = base + 1 + i as i64 * 1000;
            let rec = record(u, hash, bytes.len() as u64, at);
            by_id.insert(id, rec.encode().as_slice()).expect("insert");
            by_uuid.insert(u128::from_be_bytes(u), id).expect("insert");
            by_time.insert((at, id), ()).expect("insert");
            by_owner.insert(("", id), ()).expect("insert");
        }
        let mut usage = txn.open_table(OWNER_TO_USAGE).expect("t");
        let (b, i) = usage.get("").expect("get").map_or((0, 0), |v| v.value());
        usage
            .insert("", (b + extra * bytes.len() as u64, i + extra))
            .expect("insert");
        let mut blobs = txn.open_table(HASH_TO_BLOB).expect("t");
        let mut blob =
            BlobRecord::decode(blobs.get(hash.as_slice()).expect("get").unwrap().value())
                .expect("decode");
        blob.refcount += extra;
        blobs
            .insert(hash.as_slice(), blob.encode().as_slice())
            .expect("insert");
        meta.insert(keys::NEXT_IMAGE_ID, first + extra)
            .expect("insert");
        meta.insert(keys::IMAGES, images + extra).expect("insert");
    }
    txn.commit().expect("commit");
    uuids
}

fn main() {
    if let Ok(dir) = std::env::var("PIXBIN_SEED_DIR") {
        let n = std::env::var("PIXBIN_SEED_COUNT")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(IMAGES);
        let t = std::time::Instant::now();
        let uuids = seed(Path::new(&dir), n);
        println!(
            "seeded {} images in {:.1} s; one is {}.bmp",
            uuids.len(),
            t.elapsed().as_secs_f64(),
            uuid::Uuid::from_bytes(uuids[uuids.len() / 2])
        );
        return;
    }

    let mut c = Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .configure_from_args();

    let mut g = c.benchmark_group("route");
    g.throughput(Throughput::Elements(1));
    let public = "/0b8a7f3e-6f1d-4c1e-9a55-2d9c1f0e4b7a.png";
    g.bench_function("public_image", |b| {
        b.iter(|| route(black_box(&Method::GET), black_box(public)))
    });
    g.bench_function("api_list", |b| {
        b.iter(|| route(black_box(&Method::GET), black_box("/api/list")))
    });
    g.bench_function("not_found", |b| {
        b.iter(|| route(black_box(&Method::GET), black_box("/no/such/thing")))
    });
    g.finish();

    let rec = ImageRecord {
        private_key: Some([9; 16]),
        uploader: Uploader::Key(3),
        expires_at: Some(1_900_000_000_000),
        ..record(
            [1; 16],
            BlobHash::from_bytes([2; 32]),
            123_456,
            1_800_000_000_000,
        )
    };
    let encoded = rec.encode();
    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Elements(1));
    g.bench_function("image_record_encode", |b| {
        b.iter(|| black_box(&rec).encode())
    });
    g.bench_function("image_record_decode", |b| {
        b.iter(|| ImageRecord::decode(black_box(&encoded)).unwrap())
    });
    g.finish();

    let mut g = c.benchmark_group("key");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode_key", |b| {
        b.iter(|| decode_key(black_box("CQkJCQkJCQkJCQkJCQkJCQ")))
    });
    g.finish();

    let mib = vec![0x5au8; 1 << 20];
    let mut g = c.benchmark_group("hash");
    g.throughput(Throughput::Bytes(mib.len() as u64));
    g.bench_function("blake3_1MiB", |b| b.iter(|| blake3::hash(black_box(&mib))));
    g.finish();

    let dir = tempfile::tempdir().expect("tempdir");
    let uuids = seed(dir.path(), IMAGES);
    let store = Store::open(dir.path()).expect("reopen");
    let mut g = c.benchmark_group("lookup_100k");
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function("image_by_uuid", |b| {
        b.iter(|| {
            // A different row each time: a stride that walks the whole table.
            i = (i + 7919) % uuids.len();
            store.image_by_uuid(black_box(&uuids[i])).unwrap().unwrap()
        })
    });
    g.bench_function("image_by_uuid_missing", |b| {
        b.iter(|| store.image_by_uuid(black_box(&[0xee; 16])).unwrap())
    });
    g.finish();

    // The library's first page: by date the index is the order; by size,
    // views or name every row is read once per page (`store::listing`).
    let mut g = c.benchmark_group("list_100k");
    g.sample_size(10);
    for sort in [SortKey::Date, SortKey::Size, SortKey::Name] {
        let filter = ListFilter {
            limit: 50,
            sort,
            now: 1,
            ..Default::default()
        };
        g.bench_function(format!("first_page_{sort:?}").to_lowercase(), |b| {
            b.iter(|| store.list_images(black_box(&filter)).unwrap())
        });
    }
    g.finish();

    c.final_summary();
}
