//! Zip downloads: `GET /a/{id}.zip` (an album's images as its gallery page
//! shows them: no private, expired or view-limited image) and
//! `POST /api/images/zip` (a selection of the library, session + CSRF).
//!
//! The archive is written on a blocking thread into a bounded channel of
//! 64 KiB chunks (`ops::backup::ChunkWriter`), so memory is a few chunks plus
//! one copy buffer whatever the album's size, and a slow client slows the
//! writer instead of filling memory. Every member is checked like any blob
//! delivery (`http::verify`, invariant 9): a wrong length or hash cuts the
//! transfer, so a damaged blob never arrives as a complete archive.

use std::io::Read;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response};

use crate::albums::{self, Actor};
use crate::clock;
use crate::error::AppError;
use crate::http::album_view;
use crate::http::body::{self, Body};
use crate::http::guard::SessionCtx;
use crate::http::verify::{Bad, StreamCheck, Subject};
use crate::http::zip::{MemberNames, ZipWriter};
use crate::ops::backup::ChunkWriter;
use crate::state::AppState;
use crate::store::albums::{AlbumId, MAX_IMAGES};
use crate::store::integrity::BlobKind;
use crate::store::{Store, StoredImage};

/// Chunks buffered between the zip writer and the connection (64 KiB each).
const IN_FLIGHT: usize = 8;

/// Hashes the bytes a member is made of as they are read.
struct Checked<'a> {
    inner: &'a mut dyn Read,
    check: Option<StreamCheck>,
}

impl Read for Checked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(c) = &mut self.check {
            c.update(&buf[..n]);
        }
        Ok(n)
    }
}

/// Writes one image into the archive, verified.
fn add_member(
    store: &std::sync::Arc<Store>,
    zip: &mut ZipWriter<ChunkWriter>,
    names: &mut MemberNames,
    img: &StoredImage,
) -> std::io::Result<()> {
    let rec = &img.record;
    if store.integrity().is_damaged(&rec.hash) {
        return Err(std::io::Error::other("blob damaged"));
    }
    let subject = Subject {
        store: store.clone(),
        hash: rec.hash,
        kind: BlobKind::Original,
        image: img.id,
    };
    let open = || {
        store.blobs().read(&rec.hash).inspect_err(|e| {
            subject.io_failed(e);
        })
    };
    let mut opened = open()?;
    let mut length = subject.check_length(&opened.meta, rec.size);
    // A wrong local copy (the disk cache's) is dropped by the check: read
    // once more, from the store itself.
    if length == Err(Bad::LocalCopy) {
        opened = open()?;
        length = subject.check_length(&opened.meta, rec.size);
    }
    if length.is_err() {
        return Err(std::io::Error::other("blob damaged: wrong length"));
    }
    let mut reader = opened.reader;
    let mut checked = Checked {
        inner: &mut reader,
        check: StreamCheck::new(subject, opened.meta, &[]),
    };
    let name = names.unique(&rec.filename);
    zip.add(&name, rec.size, rec.uploaded_at, &mut checked)?;
    if checked.check.as_ref().is_some_and(|c| !c.finish()) {
        return Err(std::io::Error::other("blob damaged: hash mismatch"));
    }
    Ok(())
}

/// The streamed zip response of `images`, saved as `<name>.zip`.
fn zip_response(
    state: &AppState,
    images: Vec<StoredImage>,
    name: &str,
    head: bool,
) -> Response<Body> {
    let body = if head {
        body::empty()
    } else {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(IN_FLIGHT);
        let store = state.store.clone();
        tokio::task::spawn_blocking(move || {
            let mut zip = ZipWriter::new(ChunkWriter::new(tx));
            let mut names = MemberNames::default();
            let written = images
                .iter()
                .try_for_each(|img| add_member(&store, &mut zip, &mut names, img));
            let done = match written {
                Ok(()) => zip.finish().map(|_| ()),
                Err(e) => {
                    // End the body with an error, so the client sees a cut
                    // transfer rather than a short archive that looks whole.
                    zip.into_inner().fail(e.to_string());
                    Err(e)
                }
            };
            if let Err(e) = done {
                tracing::warn!(error = %e, "zip download cut");
            }
        });
        let stream = futures_util::stream::poll_fn(move |cx| {
            rx.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data)))
        });
        StreamBody::new(stream).boxed_unsync()
    };
    let mut res = Response::new(body);
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " -_().".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    // RFC 6266: an ASCII fallback and the UTF-8 name (RFC 8187).
    let disposition =
        format!("attachment; filename=\"{ascii}.zip\"; filename*=UTF-8''{encoded}.zip");
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    // An album can change, expire or become private (invariant 11).
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    res
}

/// `GET|HEAD /a/{id}.zip`: what the gallery page shows, as a zip.
pub async fn album(
    state: &AppState,
    id: AlbumId,
    req: &Request<Incoming>,
) -> Result<Response<Body>, AppError> {
    let (album, images) = album_view::shown(state, id, req).await?;
    let title = album.title.chars().take(80).collect::<String>();
    Ok(zip_response(
        state,
        images,
        &title,
        req.method() == Method::HEAD,
    ))
}

/// `POST /api/images/zip`: `{ids: [...]}` of images the caller may use, in
/// that order (private and view-limited ones included: a session's download
/// spends no view, like the proxy).
pub async fn selection(
    state: &AppState,
    ctx: &SessionCtx,
    req: Request<Incoming>,
) -> Result<Response<Body>, AppError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Wanted {
        ids: Vec<u64>,
    }
    let wanted: Wanted = body::read_json(
        req.into_body(),
        32 + MAX_IMAGES * 21,
        state.config.body_idle_timeout,
    )
    .await?;
    if wanted.ids.is_empty() || wanted.ids.len() > MAX_IMAGES {
        return Err(AppError::bad_request(format!(
            "ids must hold 1 to {MAX_IMAGES} image ids"
        )));
    }
    let me = Actor::new(&ctx.username, ctx.role);
    let ids = wanted.ids.clone();
    let found = state.blocking(move |s| s.images_by_ids(&ids)).await?;
    let mut images = Vec::with_capacity(found.len());
    for id in wanted.ids {
        match found.iter().find(|i| i.id == id) {
            Some(img) if albums::can_use_image(&me, img) => {
                if !images.iter().any(|i: &StoredImage| i.id == id) {
                    images.push(img.clone());
                }
            }
            _ => {
                return Err(AppError::bad_request(format!("image {id} does not exist")));
            }
        }
    }
    let name = format!("pixbin-{}", clock::date(clock::now_ms()));
    Ok(zip_response(state, images, &name, false))
}
