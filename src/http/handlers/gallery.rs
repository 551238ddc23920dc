//! The shared-link pages and their oEmbed: `GET /a/{id}` (an album's gallery),
//! `GET /v/{uuid}` (one image's page) and `GET /api/oembed?url=`.
//!
//! What the link preview (Open Graph, Twitter Card, oEmbed) shows:
//! - a gallery: its cover (or first shown image) as the picture, the album's
//!   title and description. Only images shown to strangers are candidates
//!   (`albums::shown_to_strangers`), so a private or view-limited image never
//!   becomes an album's card.
//! - an image page: the image itself, by its public link (with the `?key=` the
//!   page was opened with, for a private image: whoever has the page link has
//!   the key already). A view-limited image's card has **no picture**: every
//!   fetch of its bytes is paid for (`view_limits`), and a card must not spend
//!   a view or the preview budget before anyone opens the link. Its title and
//!   description still show, and the page itself shows a link to open the
//!   image rather than the image, since parsers fall back to the first
//!   `<img>` of a page (open-graph-scraper and metascraper both do).
//! - a private album, an expired album or image, a wrong key: the HTML 404,
//!   so a card says nothing about them.

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use uuid::Uuid;

use crate::clock;
use crate::error::AppError;
use crate::http::album_json::public_thumb;
use crate::http::album_view;
use crate::http::body::{self, Body};
use crate::http::guard;
use crate::http::image_json::public_url;
use crate::http::pages::{self, human_size};
use crate::http::query;
use crate::http::share_pages::{
    self, IndexEntry, Meta, Pager, Picture, PreviewImage, SITE_NAME, Tile, fit,
};
use crate::media::thumbnail::MAX_SIDE;
use crate::state::AppState;
use crate::store::StoredImage;
use crate::store::albums::AlbumId;
use crate::store::codec::{AlbumRecord, Visibility};

/// Percent-encodes a URL for use as a query value (RFC 3986 unreserved kept).
fn encode_component(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn oembed_url(state: &AppState, page: &str) -> String {
    format!(
        "{}/api/oembed?format=json&url={}",
        state.config.base_url(),
        encode_component(page)
    )
}

fn asset_base(state: &AppState) -> String {
    format!(
        "{}/admin/static-{}",
        state.config.base_url(),
        state.admin.version()
    )
}

/// The preview picture of an image: its public link, never for a
/// view-limited image (see the module header).
fn preview_of(state: &AppState, img: &StoredImage) -> Option<PreviewImage> {
    if img.record.max_views.is_some() {
        return None;
    }
    Some(PreviewImage {
        url: public_url(state, img),
        width: img.record.width,
        height: img.record.height,
        mime: img.record.kind.content_type(),
        alt: img.record.filename.clone(),
    })
}

/// The album's card picture: its cover when shown, else its first shown image.
fn cover<'a>(album: &AlbumRecord, shown: &'a [StoredImage]) -> Option<&'a StoredImage> {
    album
        .cover
        .and_then(|c| shown.iter().find(|i| i.id == c))
        .or_else(|| shown.first())
}

fn album_description(album: &AlbumRecord, shown: usize) -> String {
    if !album.description.trim().is_empty() {
        return album.description.clone();
    }
    format!(
        "An album of {shown} image{} on {SITE_NAME}.",
        if shown == 1 { "" } else { "s" }
    )
}

fn gone_page(what: &str) -> Response<Body> {
    pages::page(
        StatusCode::NOT_FOUND,
        &format!("{what} not available"),
        "<p>This link does not exist, has expired or was deleted, or is incomplete.</p>\
         <p class=\"code\">Error 404 · not_found</p>",
    )
}

/// Tiles on one gallery page: a long album is paged with plain links, so
/// neither the page nor the browser holds thousands of tiles at once.
const PAGE_TILES: usize = 100;

/// The `page` a gallery request asks for, from 1; a malformed one is 400.
fn page_of(req: &Request<Incoming>) -> Result<usize, AppError> {
    let bad = || AppError::bad_request("page must be a positive number");
    match query::param(req.uri().query(), "page").map_err(|_| bad())? {
        None => Ok(1),
        Some(p) => p
            .parse::<usize>()
            .ok()
            .filter(|&n| n >= 1 && p.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(bad),
    }
}

/// `GET|HEAD /a/{id}[?page=N]`: the gallery, [`PAGE_TILES`] images a page.
pub async fn album_page(
    state: &AppState,
    id: AlbumId,
    req: &Request<Incoming>,
) -> Result<Response<Body>, AppError> {
    let page = page_of(req)?;
    let (album, shown) = match album_view::shown(state, id, req).await {
        Ok(found) => found,
        Err(AppError::NotFound) => return Ok(gone_page("Album")),
        Err(e) => return Err(e),
    };
    let pages = shown.len().div_ceil(PAGE_TILES).max(1);
    if page > pages {
        return Ok(gone_page("Album page"));
    }
    let base = state.config.base_url();
    let album_url = format!("{base}/a/{id}");
    let page_url = |n: usize| match n {
        1 => album_url.clone(),
        n => format!("{album_url}?page={n}"),
    };
    let url = page_url(page);
    let pager = Pager {
        total: shown.len(),
        page,
        pages,
        prev: (page > 1).then(|| page_url(page - 1)),
        next: (page < pages).then(|| page_url(page + 1)),
    };
    let tiles: Vec<Tile> = shown
        .iter()
        .skip((page - 1) * PAGE_TILES)
        .take(PAGE_TILES)
        .map(|img| {
            let (w, h) = fit(img.record.width, img.record.height, MAX_SIDE);
            let file = format!(
                "{}.{}",
                Uuid::from_bytes(img.record.uuid).hyphenated(),
                img.record.kind.ext()
            );
            Tile {
                href: format!("{base}/{file}"),
                full: format!("{base}/{file}"),
                thumb: format!("{base}/thumb/{file}"),
                width: w,
                height: h,
                name: img.record.filename.clone(),
            }
        })
        .collect();
    let meta = Meta {
        title: album.title.clone(),
        description: album_description(&album, shown.len()),
        image: cover(&album, &shown).and_then(|c| preview_of(state, c)),
        oembed: Some(oembed_url(state, &album_url)),
        indexable: album.visibility == Visibility::Public,
        assets: asset_base(state),
        url: url.clone(),
    };
    let zip = format!("{album_url}.zip");
    let html = share_pages::gallery(&meta, &tiles, Some(&zip), Some(&pager));
    // Revalidated on every visit: the album can change, expire or turn
    // private, and no shared cache may keep it (invariant 11).
    Ok(share_pages::respond(
        req.headers(),
        html,
        "private, no-cache",
    ))
}

/// Albums on the public index, at most.
const INDEX_ALBUMS: usize = 200;
/// Images of an album looked at for a cover a stranger may see.
const COVER_CANDIDATES: usize = 8;

/// `GET|HEAD /a/`: the public albums, newest first. Unlisted and private
/// albums never appear here (`albums::is_listed`).
pub async fn index(state: &AppState, req: &Request<Incoming>) -> Result<Response<Body>, AppError> {
    let now = clock::now_ms();
    let mut listed: Vec<(AlbumId, AlbumRecord)> = state
        .blocking(|s| s.albums())
        .await?
        .into_iter()
        .filter(|(_, a)| crate::albums::is_listed(a, now))
        .collect();
    listed.sort_by_key(|(_, a)| std::cmp::Reverse(a.created_at));
    listed.truncate(INDEX_ALBUMS);
    // A cover among the first few images: the chosen one if a stranger may
    // see it, else the first that may be seen.
    let candidates: Vec<u64> = listed
        .iter()
        .flat_map(|(_, a)| {
            a.cover
                .into_iter()
                .chain(a.images.iter().copied().take(COVER_CANDIDATES))
        })
        .collect();
    let mut images = state
        .blocking(move |s| s.images_by_ids(&candidates))
        .await?;
    images.retain(|i| crate::albums::shown_to_strangers(i, now));
    let base = state.config.base_url();
    let mut preview = None;
    let entries: Vec<IndexEntry> = listed
        .iter()
        .map(|(id, a)| {
            let first: Vec<StoredImage> = a
                .images
                .iter()
                .take(COVER_CANDIDATES)
                .filter_map(|i| images.iter().find(|img| img.id == *i).cloned())
                .collect();
            let chosen = a
                .cover
                .and_then(|c| images.iter().find(|i| i.id == c))
                .or(first.first());
            if preview.is_none() {
                preview = chosen.and_then(|c| preview_of(state, c));
            }
            IndexEntry {
                href: format!("{base}/a/{id}"),
                title: a.title.clone(),
                cover: chosen.map(|c| {
                    let (w, h) = fit(c.record.width, c.record.height, MAX_SIDE);
                    (public_thumb(state, c), w, h)
                }),
            }
        })
        .collect();
    let meta = Meta {
        title: "Public albums".into(),
        description: format!("Albums shared on {SITE_NAME}."),
        url: format!("{base}/a/"),
        image: preview,
        oembed: None,
        indexable: true,
        assets: asset_base(state),
    };
    let html = share_pages::index(&meta, &entries);
    Ok(share_pages::respond(
        req.headers(),
        html,
        "private, no-cache",
    ))
}

/// The image of `/v/{uuid}` if the link (with its `?key=`) opens it.
async fn linked_image(
    state: &AppState,
    uuid: Uuid,
    query_string: Option<&str>,
) -> Result<StoredImage, AppError> {
    let img = state
        .blocking(move |s| s.image_by_uuid(uuid.as_bytes()))
        .await?
        .ok_or(AppError::NotFound)?;
    guard::check_link(&img, query_string)?;
    Ok(img)
}

/// The page URL of an image (with `?key=` for a private one).
fn image_page_url(state: &AppState, img: &StoredImage) -> String {
    let raw = public_url(state, img);
    let uuid = Uuid::from_bytes(img.record.uuid).hyphenated().to_string();
    let key = raw
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    format!("{}/v/{uuid}{key}", state.config.base_url())
}

fn image_description(img: &StoredImage) -> String {
    let r = &img.record;
    format!(
        "{}×{} {} image, {}, uploaded {}.",
        r.width,
        r.height,
        r.kind.ext().to_uppercase(),
        human_size(r.size),
        clock::date(r.uploaded_at)
    )
}

/// `GET|HEAD /v/{uuid}`: the image with its name and date.
pub async fn image_page(
    state: &AppState,
    uuid: Uuid,
    req: &Request<Incoming>,
) -> Result<Response<Body>, AppError> {
    let img = match linked_image(state, uuid, req.uri().query()).await {
        Ok(img) => img,
        Err(AppError::NotFound) => return Ok(gone_page("Image")),
        Err(e) => return Err(e),
    };
    let url = image_page_url(state, &img);
    let meta = Meta {
        title: img.record.filename.clone(),
        description: image_description(&img),
        image: preview_of(state, &img),
        oembed: Some(oembed_url(state, &url)),
        indexable: false,
        assets: asset_base(state),
        url,
    };
    let src = public_url(state, &img);
    let picture = if img.record.max_views.is_some() {
        Picture::OnRequest { src: &src }
    } else {
        Picture::Shown {
            src: &src,
            width: img.record.width,
            height: img.record.height,
        }
    };
    let html = share_pages::image(
        &meta,
        picture,
        &img.record.filename,
        &clock::rfc3339(img.record.uploaded_at),
    );
    let limited = img.record.private_key.is_some() || img.record.max_views.is_some();
    let cache = if limited {
        "private, no-store"
    } else {
        "private, no-cache"
    };
    Ok(share_pages::respond(req.headers(), html, cache))
}

/// oEmbed 1.0 (oembed.com §2.3): `photo` for an image that may be shown,
/// `link` for an album and for a view-limited image (no picture, see above).
#[derive(serde::Serialize)]
struct OEmbed {
    version: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    title: String,
    provider_name: &'static str,
    provider_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    height: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thumbnail_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thumbnail_width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thumbnail_height: Option<u32>,
}

/// `GET /api/oembed?url=…[&format=json]`: for a gallery or image page of
/// this server, as a stranger sees it; anything else is 404.
pub async fn oembed(state: &AppState, req: &Request<Incoming>) -> Result<Response<Body>, AppError> {
    let q = req.uri().query();
    let bad = |_| AppError::bad_request("malformed query string");
    match query::param(q, "format").map_err(bad)?.as_deref() {
        None | Some("json") => {}
        // oembed.com §2.3.4 answers an unsupported format with 501; a 5xx
        // reads as a server fault to monitors and API fuzzers alike, so it is
        // the client's error here, like any other unsupported parameter.
        Some(_) => return Err(AppError::bad_request("only format=json is offered")),
    }
    let url = query::param(q, "url")
        .map_err(bad)?
        .ok_or_else(|| AppError::bad_request("url is required"))?
        .into_owned();
    let base = state.config.base_url();
    let path_and_query = url.strip_prefix(base).ok_or(AppError::NotFound)?;
    let (path, page_query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let mut out = OEmbed {
        version: "1.0",
        kind: "link",
        title: String::new(),
        provider_name: SITE_NAME,
        provider_url: base.to_string(),
        url: None,
        width: None,
        height: None,
        thumbnail_url: None,
        thumbnail_width: None,
        thumbnail_height: None,
    };
    if let Some(id) = path.strip_prefix("/a/").and_then(AlbumId::parse) {
        let album = album_view::load(state, id).await?;
        if !crate::albums::can_view(None, &album, clock::now_ms()) {
            return Err(AppError::NotFound);
        }
        let shown = album_view::shown_images(state, &album).await?;
        out.title = album.title.clone();
        if let Some(p) = cover(&album, &shown).and_then(|c| preview_of(state, c)) {
            out.thumbnail_url = Some(p.url);
            out.thumbnail_width = Some(p.width);
            out.thumbnail_height = Some(p.height);
        }
    } else if let Some(uuid) = path
        .strip_prefix("/v/")
        .and_then(crate::http::router::parse_uuid)
    {
        let img = linked_image(state, uuid, page_query).await?;
        out.title = img.record.filename.clone();
        if let Some(p) = preview_of(state, &img) {
            out.kind = "photo";
            out.url = Some(p.url);
            out.width = Some(p.width);
            out.height = Some(p.height);
        }
    } else {
        return Err(AppError::NotFound);
    }
    Ok(body::ok_json(&out))
}
