//! `/api/albums…`: list, create, read, change and delete albums, and add,
//! order or remove their images. Session routes (CSRF for changes, checked by
//! `dispatch`); whose album it is, is asked of `crate::albums` on every call,
//! and an album the caller may not edit is the same 404 as an unknown one.
//!
//! Bodies are JSON objects with known fields only; a refused change writes
//! nothing (`store::albums` validates inside the write transaction).

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::albums::{self, Actor};
use crate::clock;
use crate::error::AppError;
use crate::http::album_json::{AlbumJson, album_json};
use crate::http::body::{self, Body, json, ok_json};
use crate::http::guard::SessionCtx;
use crate::http::image_json::{ImageJson, image_json};
use crate::http::router::AlbumRef;
use crate::state::AppState;
use crate::store::albums::{AlbumError, AlbumId, MAX_IMAGES};
use crate::store::codec::{AlbumRecord, Visibility};

/// Longest title and description, in characters.
const TITLE_CHARS: usize = 200;
const DESCRIPTION_CHARS: usize = 2000;
/// Largest JSON body: an ordered list of every image of a full album.
const BODY_LIMIT: usize = 32 + MAX_IMAGES * 21;

impl From<AlbumError> for AppError {
    fn from(e: AlbumError) -> Self {
        match e {
            AlbumError::NotFound => AppError::NotFound,
            other => AppError::BadRequest {
                code: "invalid_album",
                message: other.to_string(),
            },
        }
    }
}

fn actor(ctx: &SessionCtx) -> Actor {
    Actor::new(&ctx.username, ctx.role)
}

/// The album, if it exists, is live and `actor` may edit it; else 404.
pub(crate) async fn editable(
    state: &AppState,
    actor: &Actor,
    r: AlbumRef,
) -> Result<(AlbumId, AlbumRecord), AppError> {
    let AlbumRef::Id(id) = r else {
        return Err(AppError::NotFound);
    };
    let rec = state.blocking(move |s| s.album(id)).await?;
    match rec {
        Some(a) if !albums::is_gone(&a, clock::now_ms()) && albums::can_edit(actor, &a) => {
            Ok((id, a))
        }
        _ => Err(AppError::NotFound),
    }
}

/// `GET /api/albums`: the albums the caller may edit, newest first.
pub async fn list(state: &AppState, ctx: &SessionCtx) -> Result<Response<Body>, AppError> {
    let now = clock::now_ms();
    let all = state
        .blocking(move |s| {
            s.purge_expired_albums(now)?;
            s.albums()
        })
        .await?;
    let me = actor(ctx);
    let mut mine: Vec<_> = all
        .into_iter()
        .filter(|(_, a)| albums::can_edit(&me, a))
        .collect();
    mine.sort_by_key(|(_, a)| std::cmp::Reverse(a.created_at));
    let covers: Vec<u64> = mine.iter().filter_map(|(_, a)| cover_of(a)).collect();
    let images = state.blocking(move |s| s.images_by_ids(&covers)).await?;
    let out: Vec<AlbumJson> = mine
        .iter()
        .map(|(id, a)| {
            let cover = cover_of(a).and_then(|c| images.iter().find(|i| i.id == c));
            album_json(state, *id, a, cover)
        })
        .collect();
    Ok(ok_json(&serde_json::json!({ "albums": out })))
}

/// The cover, or the first image.
fn cover_of(a: &AlbumRecord) -> Option<u64> {
    a.cover.or_else(|| a.images.first().copied())
}

#[derive(Serialize)]
struct Details {
    #[serde(flatten)]
    album: AlbumJson,
    images: Vec<ImageJson>,
}

async fn details_of(
    state: &AppState,
    id: AlbumId,
    a: &AlbumRecord,
    status: StatusCode,
) -> Result<Response<Body>, AppError> {
    let ids = a.images.clone();
    let images = state.blocking(move |s| s.images_by_ids(&ids)).await?;
    let cover = cover_of(a).and_then(|c| images.iter().find(|i| i.id == c));
    let body = Details {
        album: album_json(state, id, a, cover),
        images: images.iter().map(|i| image_json(state, i, None)).collect(),
    };
    Ok(json(status, &body))
}

/// `GET /api/albums/{id}`: the album with its images in order.
pub async fn details(
    state: &AppState,
    ctx: &SessionCtx,
    r: AlbumRef,
) -> Result<Response<Body>, AppError> {
    let (id, a) = editable(state, &actor(ctx), r).await?;
    details_of(state, id, &a, StatusCode::OK).await
}

/// The fields a create or an edit may set, checked; `None` leaves a field.
#[derive(Default)]
struct Fields {
    title: Option<String>,
    description: Option<String>,
    visibility: Option<Visibility>,
    expires_at: Option<Option<i64>>,
    cover: Option<Option<u64>>,
    images: Option<Vec<u64>>,
}

fn text(k: &str, v: &Value, max: usize) -> Result<String, AppError> {
    let s = v
        .as_str()
        .ok_or_else(|| AppError::bad_request(format!("{k} must be a string")))?;
    if s.chars().count() > max {
        return Err(AppError::bad_request(format!(
            "{k} is longer than {max} characters"
        )));
    }
    // Control characters have no place in a title shown in pages and previews.
    Ok(s.chars()
        .map(|c| if c.is_control() && c != '\n' { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string())
}

fn image_id(v: &Value) -> Result<u64, AppError> {
    v.as_u64()
        .filter(|&n| n > 0)
        .ok_or_else(|| AppError::bad_request("image ids are positive whole numbers"))
}

fn id_list(k: &str, v: &Value) -> Result<Vec<u64>, AppError> {
    let arr = v
        .as_array()
        .ok_or_else(|| AppError::bad_request(format!("{k} must be an array of image ids")))?;
    if arr.len() > MAX_IMAGES {
        return Err(AlbumError::TooManyImages.into());
    }
    arr.iter().map(image_id).collect()
}

/// Reads the known fields of `body`; unknown fields and wrong types are 400.
fn fields(body: &Map<String, Value>, allowed: &[&str]) -> Result<Fields, AppError> {
    let now = clock::now_ms();
    let mut f = Fields::default();
    for (k, v) in body {
        if !allowed.contains(&k.as_str()) {
            return Err(AppError::bad_request(format!(
                "unknown field {:?}",
                k.chars().take(40).collect::<String>()
            )));
        }
        match k.as_str() {
            "title" => f.title = Some(text(k, v, TITLE_CHARS)?),
            "description" => f.description = Some(text(k, v, DESCRIPTION_CHARS)?),
            "visibility" => {
                f.visibility = Some(match v.as_str() {
                    Some("public") => Visibility::Public,
                    Some("unlisted") => Visibility::Unlisted,
                    Some("private") => Visibility::Private,
                    _ => {
                        return Err(AppError::bad_request(
                            "visibility must be public, unlisted or private",
                        ));
                    }
                })
            }
            "expiresAt" => {
                f.expires_at = Some(match v {
                    Value::Null => None,
                    Value::String(s) => crate::lifecycle::parse_spec(s)?
                        .instant(now)
                        .map_err(|e| AppError::bad_request(e.to_string()))?,
                    _ => return Err(AppError::bad_request("expiresAt has the wrong type")),
                })
            }
            "cover" => {
                f.cover = Some(match v {
                    Value::Null => None,
                    v => Some(image_id(v)?),
                })
            }
            "images" | "ids" => f.images = Some(id_list(k, v)?),
            _ => unreachable!("allowed fields are all handled"),
        }
    }
    Ok(f)
}

/// Refuses images the actor may not put in an album, with the same words as
/// an unknown image (another account's image is not revealed).
async fn check_images(state: &AppState, actor: &Actor, ids: &[u64]) -> Result<(), AppError> {
    let wanted = ids.to_vec();
    let found = state.blocking(move |s| s.images_by_ids(&wanted)).await?;
    for &id in ids {
        match found.iter().find(|i| i.id == id) {
            Some(img) if albums::can_use_image(actor, img) => {}
            _ => return Err(AlbumError::UnknownImage(id).into()),
        }
    }
    Ok(())
}

async fn read_body(
    state: &AppState,
    req: Request<Incoming>,
) -> Result<Map<String, Value>, AppError> {
    body::read_json(req.into_body(), BODY_LIMIT, state.config.body_idle_timeout).await
}

/// `POST /api/albums`: `{title, description?, visibility?, expiresAt?, images?, cover?}`.
/// New albums are unlisted unless asked otherwise: shared by link, listed nowhere.
pub async fn create(
    state: &AppState,
    ctx: &SessionCtx,
    req: Request<Incoming>,
) -> Result<Response<Body>, AppError> {
    let body = read_body(state, req).await?;
    let f = fields(
        &body,
        &[
            "title",
            "description",
            "visibility",
            "expiresAt",
            "images",
            "cover",
        ],
    )?;
    let me = actor(ctx);
    let images = f.images.unwrap_or_default();
    check_images(state, &me, &images).await?;
    let now = clock::now_ms();
    let rec = AlbumRecord {
        owner: ctx.username.clone(),
        title: f
            .title
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "Untitled album".into()),
        description: f.description.unwrap_or_default(),
        visibility: f.visibility.unwrap_or(Visibility::Unlisted),
        created_at: now,
        updated_at: now,
        expires_at: f.expires_at.flatten(),
        cover: f.cover.flatten(),
        images,
    };
    let id = AlbumId::random();
    let stored = rec.clone();
    state
        .blocking(move |s| s.create_album(id, &stored))
        .await??;
    tracing::info!(album = %id, images = rec.images.len(), "album created");
    details_of(state, id, &rec, StatusCode::CREATED).await
}

/// Applies an edit in the store and answers the album as stored.
async fn apply(
    state: &AppState,
    id: AlbumId,
    edit: impl FnOnce(&mut AlbumRecord) + Send + 'static,
) -> Result<Response<Body>, AppError> {
    let now = clock::now_ms();
    let rec = state
        .blocking(move |s| {
            s.update_album(id, move |a| {
                edit(a);
                a.updated_at = now;
            })
        })
        .await??;
    details_of(state, id, &rec, StatusCode::OK).await
}

/// `PATCH /api/albums/{id}`: title, description, visibility, expiry, cover.
pub async fn edit(
    state: &AppState,
    ctx: &SessionCtx,
    r: AlbumRef,
    req: Request<Incoming>,
) -> Result<Response<Body>, AppError> {
    let body = read_body(state, req).await?;
    let f = fields(
        &body,
        &["title", "description", "visibility", "expiresAt", "cover"],
    )?;
    let (id, _) = editable(state, &actor(ctx), r).await?;
    if f.title.as_deref() == Some("") {
        return Err(AppError::bad_request("title must not be empty"));
    }
    apply(state, id, move |a| {
        if let Some(t) = f.title {
            a.title = t;
        }
        if let Some(d) = f.description {
            a.description = d;
        }
        if let Some(v) = f.visibility {
            a.visibility = v;
        }
        if let Some(e) = f.expires_at {
            a.expires_at = e;
        }
        if let Some(c) = f.cover {
            a.cover = c;
        }
    })
    .await
}

/// `DELETE /api/albums/{id}`: the album only; its images stay.
pub async fn delete(
    state: &AppState,
    ctx: &SessionCtx,
    r: AlbumRef,
) -> Result<Response<Body>, AppError> {
    let (id, _) = editable(state, &actor(ctx), r).await?;
    state.blocking(move |s| s.delete_album(id)).await?;
    Ok(ok_json(&serde_json::json!({ "deleted": true })))
}

/// The caller, the album it may edit and the `{ids: [...]}` of the body.
async fn ids_request(
    state: &AppState,
    ctx: &SessionCtx,
    r: AlbumRef,
    req: Request<Incoming>,
) -> Result<(Actor, AlbumId, AlbumRecord, Vec<u64>), AppError> {
    let body = read_body(state, req).await?;
    let ids = fields(&body, &["ids"])?
        .images
        .ok_or_else(|| AppError::bad_request("ids is required"))?;
    let me = actor(ctx);
    let (id, album) = editable(state, &me, r).await?;
    Ok((me, id, album, ids))
}

/// `POST /api/albums/{id}/images`: `{ids: [...]}` appended in order; ones
/// already in the album stay where they are.
pub async fn add_images(
    state: &AppState,
    ctx: &SessionCtx,
    r: AlbumRef,
    req: Request<Incoming>,
) -> Result<Response<Body>, AppError> {
    let (me, id, _, ids) = ids_request(state, ctx, r, req).await?;
    check_images(state, &me, &ids).await?;
    apply(state, id, move |a| {
        for i in ids {
            if !a.images.contains(&i) {
                a.images.push(i);
            }
        }
    })
    .await
}

/// `PUT /api/albums/{id}/images`: `{ids: [...]}` becomes the album's exact
/// ordered list (reorder, add and remove in one step). A cover no longer in
/// the album is cleared.
pub async fn set_images(
    state: &AppState,
    ctx: &SessionCtx,
    r: AlbumRef,
    req: Request<Incoming>,
) -> Result<Response<Body>, AppError> {
    let (me, id, current, ids) = ids_request(state, ctx, r, req).await?;
    // Images already in the album may stay whoever owns them; new ones must
    // be the caller's to add.
    let added: Vec<u64> = ids
        .iter()
        .copied()
        .filter(|i| !current.images.contains(i))
        .collect();
    check_images(state, &me, &added).await?;
    apply(state, id, move |a| {
        if a.cover.is_some_and(|c| !ids.contains(&c)) {
            a.cover = None;
        }
        a.images = ids;
    })
    .await
}
