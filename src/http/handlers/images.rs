//! Image metadata: listing, details, privacy, key rotation, delete
//! (by session or by ShareX deletion token, with its confirm page). A session
//! reaches only the images `guard::visible_image` lets it see.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::clock;
use crate::error::{AppError, OptionExt};
use crate::http::body::{self, Body, ok_json};
use crate::http::guard::{self, SessionCtx, visible_image};
use crate::http::image_json::{ImageJson, image_json};
use crate::http::pages;
use crate::http::query;
use crate::http::router::ImageRef;
use crate::media::ImageType;
use crate::secret;
use crate::state::AppState;
use crate::store::lifecycle::LifecycleEdit;
use crate::store::{ListCursor, ListFilter, SortKey, SortValue, StatusFilter, StoredImage};

/// The image JSON plus what the details page alone shows.
#[derive(Serialize)]
struct DetailsJson {
    #[serde(flatten)]
    image: ImageJson,
    metadata: MetadataJson,
}

/// The metadata panel: what the stored file carries now, read from its
/// bytes, and what was removed at upload.
#[derive(Serialize)]
struct MetadataJson {
    present: Vec<crate::media::inventory::Found>,
    stripped: Vec<String>,
}

/// `GET /api/images/{id}`
pub async fn details(
    state: &AppState,
    ctx: &SessionCtx,
    r: ImageRef,
) -> Result<Response<Body>, AppError> {
    let img = visible_image(state, ctx, r).await?;
    let (hash, size) = (img.record.hash, img.record.size);
    let kind = img.record.kind;
    let store = state.store.clone();
    // A few small reads of the file's header records (`media::inventory`).
    let present = tokio::task::spawn_blocking(move || {
        let f = crate::store::blobs::BlobCursor::open(store.blobs().clone(), &hash)?;
        crate::media::inventory::inventory(&mut std::io::BufReader::new(f), size, kind)
    })
    .await?
    .map(|inv| inv.present)
    .unwrap_or_else(|e| {
        tracing::warn!(image = img.id, error = %e, "could not read the blob's metadata");
        Vec::new()
    });
    let stripped = img.record.stripped.clone();
    Ok(ok_json(&DetailsJson {
        image: image_json(state, &img, None),
        metadata: MetadataJson { present, stripped },
    }))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListJson {
    images: Vec<ImageJson>,
    next_cursor: Option<String>,
}

/// Largest page `/api/list` returns.
pub const MAX_PAGE: usize = 500;

fn parse_list_query(q: Option<&str>) -> Result<ListFilter, AppError> {
    let p = |name: &str| {
        query::param(q, name)
            .map_err(|_| AppError::bad_request(format!("malformed {name} parameter")))
    };
    let mut f = ListFilter {
        limit: 50,
        now: clock::now_ms(),
        ..Default::default()
    };
    if let Some(s) = p("status")? {
        f.status = match s.as_ref() {
            "active" | "" => StatusFilter::Active,
            "expiring" => StatusFilter::Expiring,
            "expired" => StatusFilter::Expired,
            "all" => StatusFilter::All,
            _ => {
                return Err(AppError::bad_request(
                    "status must be active, expiring, expired or all",
                ));
            }
        };
    }
    if let Some(t) = p("type")? {
        f.private = match t.as_ref() {
            "public" => Some(false),
            "private" => Some(true),
            "all" | "" => None,
            _ => return Err(AppError::bad_request("type must be public or private")),
        };
    }
    if let Some(l) = p("limit")? {
        let n: u64 = l
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| AppError::bad_request("limit must be a positive integer"))?;
        f.limit = n.min(MAX_PAGE as u64) as usize;
    }
    let time = |name: &str| -> Result<Option<i64>, AppError> {
        match p(name)? {
            None => Ok(None),
            Some(v) if v.is_empty() => Ok(None),
            Some(v) => clock::parse_time(&v).map(Some).ok_or_else(|| {
                AppError::bad_request(format!("{name} must be YYYY-MM-DD or an RFC 3339 time"))
            }),
        }
    };
    f.from = time("from")?;
    f.to = time("to")?.map(|t| {
        // A bare date means "through the end of that day".
        let raw = p("to").ok().flatten().unwrap_or_default();
        if raw.len() == 10 { t + 86_399_999 } else { t }
    });
    if let Some(qs) = p("q")? {
        if qs.chars().count() > 200 {
            return Err(AppError::bad_request("q is too long"));
        }
        if !qs.is_empty() {
            f.query = Some(qs.into_owned());
        }
    }
    if let Some(sort) = p("sort")? {
        f.sort = match sort.as_ref() {
            "date" | "" => SortKey::Date,
            "size" => SortKey::Size,
            "views" => SortKey::Views,
            "name" => SortKey::Name,
            _ => {
                return Err(AppError::bad_request(
                    "sort must be date, size, views or name",
                ));
            }
        };
    }
    if let Some(order) = p("order")? {
        f.ascending = match order.as_ref() {
            "desc" | "" => false,
            "asc" => true,
            _ => {
                return Err(AppError::bad_request("order must be asc or desc"));
            }
        };
    }
    if let Some(c) = p("cursor")?
        && !c.is_empty()
    {
        f.cursor = Some(parse_cursor(f.sort, &c).ok_or_else(|| {
            AppError::bad_request("malformed cursor, or one from a listing with another sort")
        })?);
    }
    Ok(f)
}

/// The cursor's spelling: `{ms}.{id}` by date (as before sorting existed),
/// `s{bytes}.{id}`, `v{views}.{id}`, `n{base64url(lowercased name)}.{id}`.
fn format_cursor(c: &ListCursor) -> String {
    match &c.value {
        SortValue::Num(n) => format!("{n}.{}", c.id),
        SortValue::Text(t) => format!("n{}.{}", URL_SAFE_NO_PAD.encode(t), c.id),
    }
}

fn cursor_with_prefix(sort: SortKey, c: &ListCursor) -> String {
    let plain = format_cursor(c);
    match sort {
        SortKey::Date | SortKey::Name => plain,
        SortKey::Size => format!("s{plain}"),
        SortKey::Views => format!("v{plain}"),
    }
}

fn parse_cursor(sort: SortKey, c: &str) -> Option<ListCursor> {
    if c.len() > 1024 {
        return None;
    }
    let (value, id) = c.rsplit_once('.')?;
    let id: u64 = id.parse().ok()?;
    let num = |s: &str| -> Option<SortValue> {
        (!s.starts_with('+')).then_some(())?;
        s.parse::<i64>().ok().map(SortValue::Num)
    };
    let value = match sort {
        SortKey::Date => num(value)?,
        SortKey::Size => num(value.strip_prefix('s')?)?,
        SortKey::Views => num(value.strip_prefix('v')?)?,
        SortKey::Name => {
            let bytes = URL_SAFE_NO_PAD.decode(value.strip_prefix('n')?).ok()?;
            SortValue::Text(String::from_utf8(bytes).ok()?)
        }
    };
    Some(ListCursor { value, id })
}

/// `GET /api/list`
pub async fn list(
    state: &AppState,
    ctx: &SessionCtx,
    req: &Request<Incoming>,
) -> Result<Response<Body>, AppError> {
    let mut filter = parse_list_query(req.uri().query())?;
    filter.owner = guard::scope_of(ctx, req.uri().query())?;
    let sort = filter.sort;
    let (images, next) = state.blocking(move |s| s.list_images(&filter)).await?;
    Ok(ok_json(&ListJson {
        images: images.iter().map(|i| image_json(state, i, None)).collect(),
        next_cursor: next.map(|c| cursor_with_prefix(sort, &c)),
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PrivacyBody {
    is_private: bool,
}

/// `POST /api/images/{id}/privacy` `{"isPrivate": bool}`: private gets a fresh
/// random key (old private links die), public drops the key.
pub async fn privacy(
    state: &AppState,
    ctx: &SessionCtx,
    r: ImageRef,
    req: Request<Incoming>,
) -> Result<Response<Body>, AppError> {
    let body: PrivacyBody =
        body::read_json(req.into_body(), 4096, state.config.body_idle_timeout).await?;
    let img = visible_image(state, ctx, r).await?;
    let key = body.is_private.then(secret::random_bytes::<16>);
    let updated = state
        .blocking(move |s| s.set_private_key(img.id, key))
        .await?
        .or_not_found()?;
    Ok(ok_json(&image_json(state, &updated, None)))
}

/// `POST /api/images/{id}/rotate-key`: a new key for a private image.
pub async fn rotate_key(
    state: &AppState,
    ctx: &SessionCtx,
    r: ImageRef,
) -> Result<Response<Body>, AppError> {
    let img = visible_image(state, ctx, r).await?;
    if img.record.private_key.is_none() {
        return Err(AppError::bad_request(
            "the image is public; make it private to give it a key",
        ));
    }
    let key = Some(secret::random_bytes::<16>());
    let updated = state
        .blocking(move |s| s.set_private_key(img.id, key))
        .await?
        .or_not_found()?;
    Ok(ok_json(&image_json(state, &updated, None)))
}

async fn delete_id(state: &AppState, id: u64) -> Result<Response<Body>, AppError> {
    state
        .blocking(move |s| s.delete_image(id))
        .await?
        .or_not_found()?;
    Ok(ok_json(&serde_json::json!({ "deleted": true })))
}

/// `DELETE /api/delete/{uuid}` with a session (CSRF checked by dispatch):
/// the account's own image (an admin: any image).
pub async fn delete(
    state: &AppState,
    ctx: &SessionCtx,
    uuid: Uuid,
) -> Result<Response<Body>, AppError> {
    let img = visible_image(state, ctx, ImageRef::Uuid(uuid)).await?;
    delete_id(state, img.id).await
}

/// The image whose deletion token `?token=` is (the token is the whole
/// credential, whoever owns the image). Unknown image, missing or wrong token
/// all read as `None`.
async fn token_image(
    state: &AppState,
    uuid: Uuid,
    req: &Request<Incoming>,
) -> Result<Option<StoredImage>, AppError> {
    let Ok(Some(token)) = query::param(req.uri().query(), "token") else {
        return Ok(None);
    };
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    let presented = secret::TokenHash::of(&token);
    let img = state
        .blocking(move |s| s.image_by_uuid(uuid.as_bytes()))
        .await?;
    Ok(img.filter(|i| i.record.deletion_hash.ct_eq(&presented)))
}

/// `DELETE /api/delete/{uuid}?token=…` (no session): JSON answer.
pub async fn delete_with_token(
    state: &AppState,
    uuid: Uuid,
    req: &Request<Incoming>,
) -> Result<Response<Body>, AppError> {
    let img = token_image(state, uuid, req).await?.or_not_found()?;
    delete_id(state, img.id).await
}

fn link_not_valid(detail: &str) -> Response<Body> {
    pages::page(
        StatusCode::NOT_FOUND,
        "Link not valid",
        &format!("<p>{}</p>", pages::escape(detail)),
    )
}

/// Largest thumbnail inlined into the confirm page as a `data:` URI.
const MAX_INLINE_THUMB: u64 = 256 * 1024;

/// The image's thumbnail as a `data:` URI, made now if need be (waiting a
/// little): the confirm page shows what will be deleted without a second
/// request, and without spending a view of a view-limited image.
async fn inline_thumbnail(state: &AppState, uuid: Uuid) -> Option<String> {
    let (img, blob) = state
        .blocking(move |s| s.image_with_thumbnail(uuid.as_bytes()))
        .await
        .ok()??;
    let (hash, blob) = match (img.record.thumbnail, blob) {
        (Some(h), Some(b)) => (h, b),
        _ => match state
            .thumbs
            .wait(img.id, std::time::Duration::from_secs(3))
            .await
        {
            Ok(crate::thumbnails::Outcome::Ready(h)) => {
                let b = state.blocking(move |s| s.blob(&h)).await.ok()??;
                (h, b)
            }
            _ => return None,
        },
    };
    if blob.size > MAX_INLINE_THUMB {
        return None;
    }
    let kind = ImageType::from_code(blob.kind)?;
    let store = state.store.clone();
    let bytes = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
        use std::io::Read;
        let mut buf = Vec::with_capacity(blob.size as usize);
        store
            .blobs()
            .read_range(&hash, 0, MAX_INLINE_THUMB)?
            .reader
            .read_to_end(&mut buf)?;
        Ok(buf)
    })
    .await
    .ok()?
    .ok()?;
    Some(format!(
        "data:{};base64,{}",
        kind.content_type(),
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

/// `GET /api/delete/{uuid}?token=…`: a confirm page showing what will be
/// deleted. GET must be safe (RFC 9110 §9.2.1): chat apps and scanners
/// prefetch links, so only the form's POST deletes.
pub async fn delete_page(
    state: &AppState,
    uuid: Uuid,
    req: &Request<Incoming>,
) -> Result<Response<Body>, AppError> {
    let Some(img) = token_image(state, uuid, req).await? else {
        return Ok(link_not_valid(
            "This deletion link is not valid, or the image is already gone.",
        ));
    };
    // The token is URL-safe base64 (checked by the match above); it is
    // escaped anyway.
    let token = query::param(req.uri().query(), "token")
        .ok()
        .flatten()
        .unwrap_or_default();
    let action = format!("/api/delete/{}?token={}", uuid.hyphenated(), token);
    let preview = match inline_thumbnail(state, uuid).await {
        Some(src) => format!(
            "<div class=\"preview\"><img src=\"{}\" alt=\"Preview of {}\"></div>",
            pages::escape(&src),
            pages::escape(&img.record.filename)
        ),
        None => "<div class=\"preview\"><span>No preview available</span></div>".to_string(),
    };
    let r = &img.record;
    let (w, h) = (r.width, r.height);
    let body = format!(
        "<p>Delete this image for good? Its links will stop working.</p>{preview}\
         <dl><dt>Name</dt><dd>{name}</dd><dt>Size</dt><dd>{size}</dd>\
         <dt>Dimensions</dt><dd>{w} × {h}</dd><dt>Uploaded</dt><dd>{date}</dd></dl>\
         <form method=\"post\" action=\"{action}\"><button type=\"submit\">Delete image</button></form>",
        name = pages::escape(&r.filename),
        size = pages::human_size(r.size),
        date = pages::escape(&clock::rfc3339(r.uploaded_at)[..10]),
        action = pages::escape(&action),
    );
    Ok(pages::page(StatusCode::OK, "Delete image", &body))
}

/// `POST /api/delete/{uuid}?token=…`: the confirm page's form.
pub async fn delete_confirm(
    state: &AppState,
    uuid: Uuid,
    req: &Request<Incoming>,
) -> Result<Response<Body>, AppError> {
    let Some(img) = token_image(state, uuid, req).await? else {
        return Ok(link_not_valid(
            "This deletion link is not valid, or the image is already gone.",
        ));
    };
    match delete_id(state, img.id).await {
        Ok(_) => Ok(pages::page(
            StatusCode::OK,
            "Image deleted",
            "<p>The image was deleted. Its links no longer work.</p>",
        )),
        Err(AppError::NotFound) => Ok(link_not_valid("The image is already gone.")),
        Err(e) => Err(e),
    }
}

/// `PATCH /api/images/{id}` `{"expiresAt": "7d" | RFC 3339 | "never" | null,
/// "maxViews": n | null}`: absent fields stay as they are; `null` or `"never"`
/// clears. Edits by a logged-in owner are not bound by the upload maxima, which
/// limit what upload keys may ask for.
pub async fn edit(
    state: &AppState,
    ctx: &SessionCtx,
    r: ImageRef,
    req: Request<Incoming>,
) -> Result<Response<Body>, AppError> {
    let body: serde_json::Map<String, serde_json::Value> =
        body::read_json(req.into_body(), 4096, state.config.body_idle_timeout).await?;
    let now = clock::now_ms();
    let mut change = LifecycleEdit::default();
    for (k, v) in &body {
        match (k.as_str(), v) {
            ("expiresAt", serde_json::Value::Null) => change.expires_at = Some(None),
            ("expiresAt", serde_json::Value::String(s)) => {
                change.expires_at = Some(
                    crate::lifecycle::parse_spec(s)?
                        .instant(now)
                        .map_err(|e| AppError::bad_request(e.to_string()))?,
                )
            }
            ("maxViews", serde_json::Value::Null) => change.max_views = Some(None),
            ("maxViews", serde_json::Value::Number(n)) => {
                let n = n
                    .as_u64()
                    .filter(|n| (1..=1_000_000_000).contains(n))
                    .ok_or_else(|| {
                        AppError::bad_request(
                            "maxViews must be a whole number from 1 to 1000000000",
                        )
                    })?;
                change.max_views = Some(Some(n));
            }
            ("expiresAt" | "maxViews", _) => {
                return Err(AppError::bad_request(format!("{k} has the wrong type")));
            }
            _ => {
                return Err(AppError::bad_request(format!(
                    "unknown field {:?}",
                    k.chars().take(40).collect::<String>()
                )));
            }
        }
    }
    let img = visible_image(state, ctx, r).await?;
    let updated = state
        .blocking(move |s| s.edit_lifecycle(img.id, change, now))
        .await?
        .or_not_found()?;
    Ok(ok_json(&image_json(state, &updated, None)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_parse_strictly_and_round_trip() {
        let date = |ts, id| ListCursor {
            value: SortValue::Num(ts),
            id,
        };
        assert_eq!(parse_cursor(SortKey::Date, "1700.5"), Some(date(1700, 5)));
        assert_eq!(parse_cursor(SortKey::Date, "x.5"), None);
        assert_eq!(parse_cursor(SortKey::Date, "17005"), None);
        assert_eq!(parse_cursor(SortKey::Size, "1700.5"), None, "a date cursor");
        assert_eq!(
            parse_cursor(SortKey::Date, "s1700.5"),
            None,
            "a size cursor"
        );
        for (sort, c) in [
            (SortKey::Date, date(1_700_000_000_000, 9)),
            (SortKey::Size, date(123_456, 1)),
            (SortKey::Views, date(0, 77)),
            (
                SortKey::Name,
                ListCursor {
                    value: SortValue::Text("a.b ünï.png".into()),
                    id: 3,
                },
            ),
        ] {
            let s = cursor_with_prefix(sort, &c);
            assert_eq!(parse_cursor(sort, &s), Some(c), "{s}");
        }
    }

    #[test]
    fn list_query_validation() {
        assert_eq!(
            parse_list_query(Some("limit=1000000000")).unwrap().limit,
            MAX_PAGE
        );
        assert!(parse_list_query(Some("limit=-1")).is_err());
        assert!(parse_list_query(Some("limit=0")).is_err());
        assert!(parse_list_query(Some("type=secret")).is_err());
        assert!(parse_list_query(Some("from=yesterday")).is_err());
        let f = parse_list_query(Some("type=private&q=cat&from=2026-01-01&to=2026-01-01")).unwrap();
        assert_eq!(f.private, Some(true));
        assert_eq!(f.query.as_deref(), Some("cat"));
        assert_eq!(f.to.unwrap() - f.from.unwrap(), 86_399_999);
    }
}
