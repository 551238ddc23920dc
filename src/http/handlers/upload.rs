//! `POST /api/upload`: reads the HTTP request (auth, multipart or raw body,
//! form fields or `X-Pixbin-*` headers), hands the file's bytes to the ingest
//! pipeline (`ingest`) as they arrive, and renders the answer.
//!
//! Memory does not grow with upload size: the pipeline writes chunks straight
//! to disk, and the size limit is enforced both from `Content-Length` here
//! (before reading) and while streaming there (for chunked bodies).

use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};

use crate::albums::{self, Actor};
use crate::clock;
use crate::error::AppError;
use crate::http::body::{Body, body_stream, full, ok_json};
use crate::http::guard;
use crate::http::image_json::{ImageJson, image_json, public_url};
use crate::http::multipart::{self, FormLimits, Part};
use crate::http::query;
use crate::ingest::{Asked, Ingest, Ingested, Origin, ReceiveError, Received};
use crate::state::AppState;
use crate::store::albums::AlbumId;

/// Slack for multipart boundaries and small text fields on top of the file limit.
pub const MULTIPART_OVERHEAD: u64 = 64 * 1024;

/// Parses a form/header boolean: `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`,
/// any case. Anything else, the empty string included, is `None`: an option the
/// client sent but left blank is a mistake to report, never a silent "false"
/// (an empty `private=` must not make an upload public).
fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// The 400 for a boolean option with an empty or unknown value, naming it.
fn bad_bool(name: &str) -> AppError {
    AppError::bad_request(format!(
        "{name} must be one of true, false, 1, 0, yes, no, on, off"
    ))
}

/// The answer for a stream the pipeline stopped: the source's own error as
/// the reader mapped it, or the pipeline's refusal.
fn stopped(e: ReceiveError<AppError>) -> AppError {
    match e {
        ReceiveError::Source(e) => e,
        ReceiveError::Refused(e) => e.into(),
    }
}

/// `X-Pixbin-Expires`, `X-Pixbin-Max-Views` and `X-Pixbin-Private` headers,
/// for clients that cannot add form fields (raw bodies, iOS Shortcuts).
fn asked_in_headers(h: &hyper::HeaderMap) -> Result<Asked, AppError> {
    let get = |name: &str| -> Result<Option<String>, AppError> {
        h.get(name)
            .map(|v| {
                v.to_str()
                    .map(|s| s.to_string())
                    .map_err(|_| AppError::bad_request(format!("{name} must be ASCII")))
            })
            .transpose()
    };
    let private = match get("x-pixbin-private")? {
        Some(v) => Some(parse_bool(&v).ok_or_else(|| bad_bool("X-Pixbin-Private"))?),
        None => None,
    };
    Ok(Asked {
        private,
        expires: get("x-pixbin-expires")?,
        max_views: get("x-pixbin-max-views")?,
    })
}

/// `POST /api/upload`
pub async fn upload(state: &AppState, req: Request<Incoming>) -> Result<Response<Body>, AppError> {
    // The upload defaults in force now (runtime settings applied).
    let ingest = Ingest::new(state.store.clone(), state.settings.effective(&state.config))
        .with_thumbnails(&state.thumbs);
    let max = state.config.max_upload_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max + MULTIPART_OVERHEAD) {
        // Answer without reading: hyper then sends no `100 Continue`.
        return Err(AppError::PayloadTooLarge { limit: max });
    }
    // Header auth first, before a byte of the body is kept.
    let mut auth = match guard::upload_auth_from_headers(state, &req).await {
        Ok(a) => a,
        Err(e) => {
            return Err(refuse_unread(req, declared, state.config.body_idle_timeout, e).await);
        }
    };

    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let header_fields = match asked_in_headers(req.headers()) {
        Ok(f) => f,
        Err(e) => {
            return Err(refuse_unread(req, declared, state.config.body_idle_timeout, e).await);
        }
    };
    let mut album_field = match req.headers().get("x-pixbin-album") {
        Some(v) => match v.to_str() {
            Ok(v) => Some(v.trim().to_string()),
            Err(_) => {
                let e = AppError::bad_request("X-Pixbin-Album must be ASCII");
                return Err(refuse_unread(req, declared, state.config.body_idle_timeout, e).await);
            }
        },
        None => None,
    };
    let text_response = wants_text(&req);
    let query_name = query::param(req.uri().query(), "filename")
        .ok()
        .flatten()
        .map(|s| s.into_owned());
    let idle = state.config.body_idle_timeout;

    let (received, filename, fields) = if mime == "multipart/form-data" {
        // The form rules (boundary, part count, one file, bounded part headers
        // and text fields) live in `multipart`, where they are property-tested.
        let boundary = multipart::boundary(&content_type).map_err(|e| e.into_app_error(max))?;
        let mut form = multipart::FormReader::new(
            body_stream(req.into_body(), idle),
            boundary,
            FormLimits::for_upload(max, MULTIPART_OVERHEAD),
        );
        let mut fields = header_fields;
        let mut file: Option<(Received, String)> = None;
        while let Some(part) = form.next().await.map_err(|e| e.into_app_error(max))? {
            let (name, value) = match part {
                Part::File {
                    file_name,
                    mut data,
                } => {
                    if auth.is_none() {
                        return Err(AppError::Unauthorized);
                    }
                    let chunks = futures_util::stream::try_unfold(&mut data, |d| async move {
                        let chunk = d.chunk().await.map_err(|e| e.into_app_error(max))?;
                        Ok::<_, AppError>(chunk.map(|c| (c, d)))
                    });
                    let received = ingest.receive(chunks).await.map_err(stopped)?;
                    file = Some((received, file_name));
                    continue;
                }
                Part::Text { name, value } => (name, value),
            };
            match name.as_str() {
                "key" if auth.is_none() => {
                    auth = Some(guard::upload_auth_from_key(state, value.trim()).await?);
                }
                "private" => {
                    fields.private = Some(parse_bool(&value).ok_or_else(|| bad_bool("private"))?);
                }
                "expires" => fields.expires = Some(value),
                "max_views" | "maxViews" => fields.max_views = Some(value),
                "album" => album_field = Some(value.trim().to_string()),
                // Unknown fields (including any URL to fetch) are ignored: pixbin
                // never makes outbound requests on a client's behalf.
                _ => {}
            }
        }
        form.finish().await.map_err(|e| e.into_app_error(max))?;
        let (received, name) = file.ok_or_else(|| {
            AppError::bad_request("no file in the upload (send a part with a filename)")
        })?;
        (received, name, fields)
    } else if mime.starts_with("image/") || mime == "application/octet-stream" {
        if auth.is_none() {
            return Err(AppError::Unauthorized);
        }
        use futures_util::TryStreamExt;
        let chunks = body_stream(req.into_body(), idle).map_err(|e| {
            AppError::bad_request(if e.kind() == std::io::ErrorKind::TimedOut {
                "request body timed out"
            } else {
                "request body was cut off"
            })
        });
        let received = ingest.receive(chunks).await.map_err(stopped)?;
        let name = query_name.unwrap_or_else(|| "upload".to_string());
        (received, name, header_fields)
    } else if mime.is_empty() {
        let e = AppError::bad_request(
            "missing Content-Type: send multipart/form-data or an image body",
        );
        return Err(refuse_unread(req, declared, idle, e).await);
    } else {
        let e = AppError::bad_request(format!(
            "unsupported Content-Type {:?}: send multipart/form-data or an image body",
            truncate(&mime)
        ));
        return Err(refuse_unread(req, declared, idle, e).await);
    };
    let auth = auth.ok_or(AppError::Unauthorized)?;

    // Refused before anything is stored: an upload into an album that is not
    // the caller's must not land in the library either.
    let album = match album_field.filter(|a| !a.is_empty()) {
        Some(a) => Some(upload_album(state, &auth.owner, &a).await?),
        None => None,
    };
    let checked = ingest.check(received).await?;
    let kind = checked.info().kind;
    let origin = Origin::Upload {
        uploader: auth.uploader,
        owner: auth.owner,
        key_hash: auth.key_hash,
        policy: auth.policy.as_ref(),
        asked: &fields,
    };
    let Ingested {
        stored,
        deletion_token,
        stripped,
    } = ingest.commit(checked, &filename, origin).await?;
    tracing::info!(
        image = stored.id,
        size = stored.record.size,
        kind = kind.ext(),
        "uploaded"
    );

    // The image is committed and acknowledged whatever happens here: an
    // album deleted in the meantime leaves it in the library only.
    let album = match album {
        Some(a) => add_to_album(state, a, stored.id).await,
        None => None,
    };
    let json = UploadJson {
        image: image_json(state, &stored, deletion_token.as_ref().map(|t| t.expose())),
        metadata_stripped: stripped,
        album,
    };
    if text_response {
        let url = public_url(state, &stored);
        let mut res = Response::new(full(format!("{url}\n")));
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        return Ok(res);
    }
    let mut res = ok_json(&json);
    *res.status_mut() = StatusCode::OK;
    Ok(res)
}

/// The upload response: the image JSON plus what metadata was removed
/// (`"metadataStripped": ["gps", "serial"]`, empty when nothing was).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct UploadJson {
    #[serde(flatten)]
    image: ImageJson,
    metadata_stripped: Vec<&'static str>,
    /// The album the image went into, when one was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    album: Option<String>,
}

/// The album an upload asks for (`album` field or `X-Pixbin-Album`), if it
/// exists, is live and the uploading account (an upload key's owner) may add
/// to it (`albums::can_edit`). Another account's album is refused like a
/// missing one.
async fn upload_album(state: &AppState, owner: &str, wanted: &str) -> Result<AlbumId, AppError> {
    let refused = || AppError::BadRequest {
        code: "invalid_album",
        message: "the album does not exist or is not yours to upload into".into(),
    };
    let id = AlbumId::parse(wanted).ok_or_else(refused)?;
    let name = owner.to_string();
    let (album, user) = state
        .blocking(move |s| Ok((s.album(id)?, s.user(&name)?)))
        .await?;
    let actor = Actor::new(owner, user.ok_or_else(refused)?.role);
    match album {
        Some(a) if !albums::is_gone(&a, clock::now_ms()) && albums::can_edit(&actor, &a) => Ok(id),
        _ => Err(refused()),
    }
}

/// Appends a committed image to its album; `None` (logged) when that failed.
async fn add_to_album(state: &AppState, album: AlbumId, image: u64) -> Option<String> {
    let added = state
        .blocking(move |s| {
            s.update_album(album, |a| {
                if !a.images.contains(&image) {
                    a.images.push(image);
                }
            })
        })
        .await;
    match added {
        Ok(Ok(_)) => Some(album.to_string()),
        Ok(Err(e)) => {
            tracing::warn!(%album, image, error = %e, "upload not added to its album");
            None
        }
        Err(e) => {
            tracing::warn!(%album, image, error = %e, "upload not added to its album");
            None
        }
    }
}

/// Largest unwanted body read and discarded before an early refusal.
const DRAIN_LIMIT: u64 = 1024 * 1024;

/// Reads and throws away a small request body before answering `err`.
///
/// A server that answers and closes while request bytes are still unread makes
/// the kernel reset the connection, and many clients (ShareX's .NET stack,
/// Node's fetch) then report a network error instead of the JSON answer, so a
/// wrong key shows up as "connection reset". Bodies over `DRAIN_LIMIT` (or of
/// unknown length that turn out larger) are not read: hyper closes those.
async fn refuse_unread(
    req: Request<Incoming>,
    declared: Option<u64>,
    idle: Duration,
    err: AppError,
) -> AppError {
    if declared.is_none_or(|n| n <= DRAIN_LIMIT) {
        let _ = crate::http::body::read_limited(req.into_body(), DRAIN_LIMIT as usize, idle).await;
    }
    err
}

/// ksnip-style clients want only the link: `?format=text` or `Accept: text/plain`.
fn wants_text(req: &Request<Incoming>) -> bool {
    if let Ok(Some(f)) = query::param(req.uri().query(), "format") {
        return f == "text";
    }
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.trim() == "text/plain")
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans() {
        assert_eq!(parse_bool("TRUE"), Some(true));
        assert_eq!(parse_bool("0"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
        assert_eq!(parse_bool(""), None);
        assert_eq!(parse_bool("  "), None);
    }
}
