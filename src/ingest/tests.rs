//! The pipeline on its own, over a store in a temp dir: an accepted image is
//! stored byte for byte with its row; a refused one leaves no blob, temp file
//! or row; a file larger than a read chunk is streamed in pieces; an import's
//! memory does not grow with the file.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::ReadBuf;

use super::*;
use crate::media::ImageType;
use crate::ops::import::{ImportOptions, import_dir};

fn real(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/real/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn open(dir: &std::path::Path) -> (Arc<Store>, Config) {
    (Arc::new(Store::open(dir).unwrap()), Config::for_tests(dir))
}

/// A 24-bit bitmap of `width` × `height` (uncompressed: its size is the pixels').
fn bmp(width: u32, height: u32) -> Vec<u8> {
    crate::media::tests::bmp(width as i32, height as i32, 24)
}

/// Hands out at most `piece` bytes per read and counts the reads, like a
/// slow disk or a network source.
struct Trickle {
    data: Vec<u8>,
    at: usize,
    piece: usize,
    reads: Arc<std::sync::atomic::AtomicUsize>,
}

impl AsyncRead for Trickle {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = self
            .piece
            .min(buf.remaining())
            .min(self.data.len() - self.at);
        let at = self.at;
        buf.put_slice(&self.data[at..at + n]);
        self.at += n;
        self.reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Poll::Ready(Ok(()))
    }
}

fn in_pieces(bytes: &[u8], piece: usize) -> impl Stream<Item = std::io::Result<Vec<u8>>> {
    let pieces: Vec<_> = bytes.chunks(piece).map(|c| Ok(c.to_vec())).collect();
    futures_util::stream::iter(pieces)
}

#[tokio::test]
async fn an_accepted_image_is_stored_as_received_with_its_row() {
    let dir = tempfile::tempdir().unwrap();
    let (store, config) = open(dir.path());
    let ingest = Ingest::new(store.clone(), config);
    let bytes = real("logo.png");
    let received = ingest.receive(in_pieces(&bytes, 4096)).await.unwrap();
    assert_eq!(received.size(), bytes.len() as u64);
    let checked = ingest.check(received).await.unwrap();
    assert_eq!(checked.info().kind, ImageType::Png);
    let asked = Asked {
        private: Some(true),
        ..Asked::default()
    };
    let origin = Origin::Upload {
        uploader: Uploader::User("admin".into()),
        owner: "admin".into(),
        key_hash: None,
        policy: None,
        asked: &asked,
    };
    let done = ingest.commit(checked, "../shot.jpg", origin).await.unwrap();

    let row = store.image(done.stored.id).unwrap().expect("the row");
    let hash = BlobHash::of(&bytes);
    assert_eq!(row.record.hash, hash);
    assert_eq!(row.record.size, bytes.len() as u64);
    assert_eq!(row.record.filename, "shot.png");
    assert!(row.record.private_key.is_some());
    let token = done
        .deletion_token
        .expect("an upload gets a deletion token");
    assert_eq!(
        row.record.deletion_hash,
        secret::TokenHash::of(token.expose())
    );
    assert_eq!(stored_bytes(&store, &hash), bytes);
    assert!(store.blobs().list_temps().unwrap().is_empty());
}

#[tokio::test]
async fn a_refused_file_leaves_no_blob_temp_or_row() {
    let dir = tempfile::tempdir().unwrap();
    let (store, config) = open(dir.path());
    let ingest = Ingest::new(store.clone(), config);
    let html = b"<html><script>alert(1)</script></html>".repeat(100);
    // Refused while streaming or at the end: either way nothing is stored.
    let refused = match ingest.receive(in_pieces(&html, 64)).await {
        Err(ReceiveError::Refused(e)) => e,
        Err(ReceiveError::Source(e)) => panic!("the source did not fail: {e}"),
        Ok(received) => match ingest.check(received).await {
            Err(e) => e,
            Ok(_) => panic!("HTML named .png was accepted"),
        },
    };
    match &refused {
        IngestError::Media(m) => assert_eq!(m.code(), "type_not_allowed"),
        other => panic!("refused for the wrong reason: {other}"),
    }
    assert!(store.blobs().list().unwrap().is_empty());
    assert!(store.blobs().list_temps().unwrap().is_empty());
    assert_eq!(store.totals().unwrap().images, 0);
}

#[tokio::test]
async fn a_file_larger_than_a_chunk_is_streamed_in_pieces() {
    let dir = tempfile::tempdir().unwrap();
    let (store, config) = open(dir.path());
    let ingest = Ingest::new(store.clone(), config);
    let bytes = real("astronaut.png");
    assert!(bytes.len() > 2 * READ_CHUNK, "the fixture must span chunks");
    let reads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let source = Trickle {
        data: bytes.clone(),
        at: 0,
        piece: 1000,
        reads: reads.clone(),
    };
    let received = ingest
        .receive(read_chunks(source, READ_CHUNK))
        .await
        .unwrap();
    let reads = reads.load(std::sync::atomic::Ordering::Relaxed);
    assert!(reads > bytes.len() / 1000, "{reads} reads");
    let checked = ingest.check(received).await.unwrap();
    let origin = Origin::Offline {
        uploaded_at: 1_000,
        private: false,
    };
    let done = ingest.commit(checked, "a.png", origin).await.unwrap();
    assert_eq!(done.stored.record.uploaded_at, 1_000);
    assert_eq!(done.stored.record.uploader, Uploader::Import);
    assert!(done.deletion_token.is_none());
    let hash = BlobHash::of(&bytes);
    assert_eq!(done.stored.record.hash, hash);
    assert_eq!(stored_bytes(&store, &hash), bytes);
}

#[tokio::test]
async fn an_upload_over_the_limit_is_refused_while_streaming() {
    let dir = tempfile::tempdir().unwrap();
    let (store, mut config) = open(dir.path());
    config.max_upload_bytes = 10_000;
    let ingest = Ingest::new(store.clone(), config);
    let bytes = real("astronaut.png");
    let mut sent = 0;
    let counted = in_pieces(&bytes, 1000).inspect(|_| sent += 1);
    match ingest.receive(counted).await {
        Err(ReceiveError::Refused(IngestError::TooLarge { limit: 10_000 })) => {}
        Err(e) => panic!("refused for the wrong reason: {e:?}"),
        Ok(_) => panic!("accepted over the limit"),
    }
    // It stopped pulling at the limit, not at the end of the file.
    assert!(sent <= 11, "{sent} pieces read");
    assert!(store.blobs().list_temps().unwrap().is_empty());
}

/// Imports a folder holding one bitmap of `height` rows, returning the peak
/// of memory the import allocated, on this thread and the runtime's.
fn import_peak(height: u32) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let (store, config) = open(dir.path());
    let folder = tempfile::tempdir().unwrap();
    let image = bmp(1024, height);
    std::fs::write(folder.path().join("big.bmp"), &image).unwrap();
    let len = image.len();
    drop(image);
    // File reads and writes run on the blocking pool: measure it too.
    let rt = tokio::runtime::Builder::new_current_thread()
        .on_thread_start(crate::alloc_probe::track_this_thread)
        .build()
        .unwrap();
    let ingest = Ingest::new(store.clone(), config);
    let (summary, peak) = crate::alloc_probe::group_peak(|| {
        rt.block_on(import_dir(
            &ingest,
            folder.path(),
            ImportOptions::default(),
            |_, _| {},
        ))
    });
    let summary = summary.unwrap();
    assert_eq!(summary.imported, 1, "{:?}", summary.refused);
    assert_eq!(store.totals().unwrap().bytes_stored, len as u64);
    peak
}

#[test]
fn import_memory_does_not_grow_with_the_file() {
    // 1.2 MiB and 12 MiB (both past the write buffer): the peak is the read
    // chunk and the write buffers both times, not the file.
    let small = import_peak(400);
    let large = import_peak(4096);
    assert!(
        large < small + 512 * 1024,
        "small {small} bytes, large {large} bytes"
    );
    assert!(large < 4 << 20, "large {large} bytes");
}

/// A blob's bytes as the store gives them back.
fn stored_bytes(store: &Store, hash: &crate::store::blobs::BlobHash) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut store.blobs().read(hash).unwrap().reader, &mut out).unwrap();
    out
}
