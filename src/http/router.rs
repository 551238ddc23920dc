//! (method, path) -> typed [`Route`]. Handlers never slice paths themselves.
//!
//! Every path parser here is a pure function over untrusted input, so it is
//! unit- and property-tested without sockets. An accepted image path always
//! means a canonical lowercase hyphenated UUID and an allowed canonical extension;
//! anything else (percent escapes, uppercase, `..`, NUL, `;`) is not found.

use hyper::Method;
use uuid::Uuid;

use crate::media::ImageType;
use crate::store::albums::AlbumId;

/// How a handler names an image: numeric id or uuid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageRef {
    /// `/api/images/42`
    Id(u64),
    /// `/api/images/<uuid>`
    Uuid(Uuid),
    /// Neither, in an otherwise known route: the handler answers 400, not 404
    /// (after the route's guard, so a stranger still gets 401).
    Malformed,
}

/// How an album API route names its album: the id, or something that is not
/// one (the handler answers 404 after the route's guard, so a stranger still
/// gets 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlbumRef {
    /// `/api/albums/<22 base64url characters>`
    Id(AlbumId),
    /// Anything else in an otherwise known route.
    Malformed,
}

fn album_ref(s: &str) -> AlbumRef {
    AlbumId::parse(s).map_or(AlbumRef::Malformed, AlbumRef::Id)
}

/// Who may call a route: the one table of which guard protects what
/// ([`Route::access`]). `dispatch` enforces the session kinds before the
/// handler runs; the others are credentials only the handler can read (a
/// key in the query or the body, a token for one operation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: health, the OpenAPI document, the admin UI's files, login.
    Open,
    /// Anyone with the link: public, or `?key=` for a private image
    /// (`guard::check_public_access`, in the handler).
    Link,
    /// A live session; an upload key alone gets 403 (`guard::require_session`).
    Session,
    /// A live session and its `X-CSRF-Token` (`guard::require_session_csrf`).
    SessionCsrf,
    /// A session with CSRF, or without a session the image's `?token=`
    /// deletion token (checked by the handler).
    SessionCsrfOrDeleteToken,
    /// The image's `?token=` deletion token (checked by the handler).
    DeleteToken,
    /// An upload key (header or form field) or a session with CSRF, read by
    /// the handler because the key may come in the body.
    UploadKeyOrSession,
    /// `PIXBIN_METRICS_TOKEN` when set, else a local unproxied peer (handler).
    MetricsToken,
    /// A live session of an admin; other sessions get 403
    /// (`guard::require_admin`).
    Admin,
    /// An admin's session and its `X-CSRF-Token`.
    AdminCsrf,
    /// An invite or password-reset link's token, or open registration
    /// (checked by the handler).
    LinkToken,
    /// An admin's session, or the control token from this machine (handler).
    AdminOrControl,
    /// The control token from this machine only (handler).
    Control,
    /// Anyone for a shared (public or unlisted) album; its owner's session
    /// for a private one (`albums::can_view`, in the handler).
    AlbumLink,
}

/// Every endpoint pixbin answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET|HEAD /{uuid}.{ext}`
    Public(Uuid, ImageType),
    /// `GET|HEAD /api/proxy/{uuid}.{ext}`
    Proxy(Uuid, ImageType),
    /// `GET|HEAD /thumb/{uuid}.{ext}`: the thumbnail, with the original's access rules
    Thumb(Uuid, ImageType),
    /// `GET|HEAD /api/proxy/thumb/{uuid}.{ext}`: the thumbnail, for a session
    ProxyThumb(Uuid, ImageType),
    /// `POST /api/upload`
    Upload,
    /// `GET /api/list`
    List,
    /// `GET /api/images/{id}`
    Image(ImageRef),
    /// `PATCH /api/images/{id}`: expiry and view limit
    EditImage(ImageRef),
    /// `POST /api/images/{id}/privacy` and `POST /api/privacy/{id}`
    Privacy(ImageRef),
    /// `POST /api/images/{id}/rotate-key`
    RotateKey(ImageRef),
    /// `DELETE /api/delete/{uuid}` (session, or `?token=`)
    Delete(Uuid),
    /// `GET /api/delete/{uuid}?token=`: confirm page, deletes nothing
    DeletePage(Uuid),
    /// `POST /api/delete/{uuid}?token=`: the confirm page's form
    DeleteConfirm(Uuid),
    /// `POST /api/login`
    Login,
    /// `POST /api/refresh`
    Refresh,
    /// `POST /api/logout`
    Logout,
    /// `GET /api/session`
    Session,
    /// `POST /api/account/password`
    AccountPassword,
    /// `GET /api/sessions`
    ListSessions,
    /// `DELETE /api/sessions/{id}`, carrying the session handle
    EndSession(String),
    /// `POST /api/logout-all`
    LogoutAll,
    /// `GET /api/settings`
    Settings,
    /// `PUT /api/settings`
    EditSettings,
    /// `GET /api/keys`
    ListKeys,
    /// `POST /api/keys`
    CreateKey,
    /// `DELETE /api/keys/{id}`
    RevokeKey(u64),
    /// `GET /api/stats…` and `GET /api/images/{id}/stats` (session)
    Stats(StatsRoute),
    /// `GET /healthz`
    Health,
    /// `GET /readyz`
    Ready,
    /// `GET /api/openapi.json`
    OpenApi,
    /// `GET /metrics` (Prometheus text)
    Metrics,
    /// `GET /api/backup` (a tar of everything; session or the local control token)
    Backup,
    /// `GET /api/integrity` (session or the local control token)
    Integrity,
    /// `GET /api/integrity/blobs` (the local control token)
    IntegrityBlobs,
    /// `POST /api/integrity/repaired` (the local control token)
    IntegrityRepaired,
    /// `GET /api/me`: the session's own account, usage and quota
    Me,
    /// `GET /api/users`
    ListUsers,
    /// `POST /api/users`
    CreateUser,
    /// `GET /api/users/{name}`
    User(String),
    /// `PATCH /api/users/{name}`: role, disabled, quotas
    EditUser(String),
    /// `DELETE /api/users/{name}?images=delete|transfer&to=`
    DeleteUser(String),
    /// `POST /api/users/{name}/password-reset`: a one-time link
    ResetLink(String),
    /// `GET /api/invites`
    ListInvites,
    /// `POST /api/invites`
    CreateInvite,
    /// `DELETE /api/invites/{id}`
    RevokeInvite(u64),
    /// `POST /api/register` `{name, password, invite?}`
    Register,
    /// `POST /api/password-reset` `{token, password}`
    RedeemReset,
    /// `GET|POST /invite?token=`: the invitee's page and its form
    InvitePage,
    /// `GET|POST /reset-password?token=`: the reset page and its form
    ResetPage,
    /// `GET /` -> the admin UI
    Root,
    /// `GET /admin/...` page routes (the UI's entry page)
    AdminPage,
    /// `GET /admin/static-<hash>/<file>`, carrying `<hash>/<file>`
    AdminAsset(String),
    /// `GET /api/albums`: the caller's albums
    Albums,
    /// `POST /api/albums`
    CreateAlbum,
    /// `GET /api/albums/{id}`
    Album(AlbumRef),
    /// `PATCH /api/albums/{id}`: title, description, visibility, expiry, cover
    EditAlbum(AlbumRef),
    /// `DELETE /api/albums/{id}` (never deletes its images)
    DeleteAlbum(AlbumRef),
    /// `POST /api/albums/{id}/images`: append images
    AddToAlbum(AlbumRef),
    /// `PUT /api/albums/{id}/images`: the exact ordered list (reorder, remove)
    SetAlbumImages(AlbumRef),
    /// `POST /api/images/zip`: a selection of the library as a zip
    ZipImages,
    /// `GET|HEAD /a/`: the public albums
    AlbumIndex,
    /// `GET|HEAD /a/{id}`: the gallery page
    Gallery(AlbumId),
    /// `GET|HEAD /a/{id}.zip`: the album's shown images as a zip
    GalleryZip(AlbumId),
    /// `GET|HEAD /v/{uuid}`: the image page
    ImagePage(Uuid),
    /// `GET /api/oembed?url=`: oEmbed for gallery and image pages
    OEmbed,
}

/// The statistics endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsRoute {
    /// `GET /api/stats`: dashboard totals
    Summary,
    /// `GET /api/stats/views?days=N`
    Views,
    /// `GET /api/stats/countries`
    Countries,
    /// `GET /api/stats/referrers`
    Referrers,
    /// `GET /api/stats/recent`
    Recent,
    /// `GET /api/stats/top`
    Top,
    /// `GET /api/images/{id}/stats`
    Image(ImageRef),
}

/// Why no route matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteError {
    /// No such path.
    NotFound,
    /// The path exists, not with this method.
    MethodNotAllowed,
}

/// True for `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in lowercase hex only.
fn is_canonical_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

/// An account name as accounts are created: 1 to 64 of `A-Z a-z 0-9 . _ -`,
/// not starting with a dot. Such a name is its own path segment, never
/// needs escaping, and cannot be `*` (a listing's "everyone").
pub fn is_account_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Parses a canonical uuid (lowercase, hyphenated) and nothing else.
pub fn parse_uuid(s: &str) -> Option<Uuid> {
    if is_canonical_uuid(s) {
        Uuid::parse_str(s).ok()
    } else {
        None
    }
}

/// `{uuid}.{ext}` with a canonical uuid and a canonical lowercase extension.
pub fn parse_image_file(s: &str) -> Option<(Uuid, ImageType)> {
    let (id, ext) = s.split_once('.')?;
    Some((parse_uuid(id)?, ImageType::from_ext(ext)?))
}

/// The public image path `/{uuid}.{ext}`.
pub fn parse_public_path(path: &str) -> Option<(Uuid, ImageType)> {
    parse_image_file(path.strip_prefix('/')?)
}

/// The proxy path `/api/proxy/{uuid}.{ext}`.
pub fn parse_proxy_path(path: &str) -> Option<(Uuid, ImageType)> {
    parse_image_file(path.strip_prefix("/api/proxy/")?)
}

/// A numeric id (1..=u64::MAX, digits only) or a canonical uuid. `None` is a
/// malformed id, which callers answer with 400.
pub fn parse_image_ref(s: &str) -> Option<ImageRef> {
    if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) {
        if s.starts_with('0') {
            return None;
        }
        return s.parse().ok().filter(|&n| n > 0).map(ImageRef::Id);
    }
    parse_uuid(s).map(ImageRef::Uuid)
}

fn image_ref_or_bad(s: &str) -> ImageRef {
    parse_image_ref(s).unwrap_or(ImageRef::Malformed)
}

impl Route {
    /// Which guard protects this route (see [`Access`]).
    pub fn access(&self) -> Access {
        use Access::*;
        match self {
            Route::Health | Route::Ready | Route::OpenApi | Route::Login => Open,
            Route::Root | Route::AdminPage | Route::AdminAsset(_) => Open,
            Route::Public(..) | Route::Thumb(..) => Link,
            Route::Proxy(..) | Route::ProxyThumb(..) => Session,
            Route::List | Route::Image(_) | Route::Stats(_) => Session,
            Route::Session | Route::ListSessions | Route::Settings | Route::ListKeys => Session,
            Route::EditImage(_) | Route::Privacy(_) | Route::RotateKey(_) => SessionCsrf,
            Route::Refresh | Route::Logout | Route::LogoutAll => SessionCsrf,
            Route::AccountPassword | Route::EndSession(_) => SessionCsrf,
            Route::CreateKey | Route::RevokeKey(_) => SessionCsrf,
            Route::EditSettings => AdminCsrf,
            Route::Delete(_) => SessionCsrfOrDeleteToken,
            Route::DeletePage(_) | Route::DeleteConfirm(_) => DeleteToken,
            Route::Upload => UploadKeyOrSession,
            Route::Metrics => MetricsToken,
            Route::Backup | Route::Integrity => AdminOrControl,
            Route::Me => Session,
            Route::ListUsers | Route::User(_) | Route::ListInvites => Admin,
            Route::CreateUser | Route::EditUser(_) | Route::DeleteUser(_) => AdminCsrf,
            Route::ResetLink(_) | Route::CreateInvite | Route::RevokeInvite(_) => AdminCsrf,
            Route::Register | Route::RedeemReset => LinkToken,
            Route::InvitePage | Route::ResetPage => LinkToken,
            Route::IntegrityBlobs | Route::IntegrityRepaired => Control,
            Route::Albums | Route::Album(_) => Session,
            Route::CreateAlbum | Route::EditAlbum(_) | Route::DeleteAlbum(_) => SessionCsrf,
            Route::AddToAlbum(_) | Route::SetAlbumImages(_) | Route::ZipImages => SessionCsrf,
            Route::Gallery(_) | Route::GalleryZip(_) => AlbumLink,
            Route::ImagePage(_) => Link,
            Route::OEmbed | Route::AlbumIndex => Open,
        }
    }

    /// A fixed, low-cardinality name for metrics labels (never an id).
    pub fn name(&self) -> &'static str {
        match self {
            Route::Public(..) => "public",
            Route::Proxy(..) => "proxy",
            Route::Thumb(..) => "thumb",
            Route::ProxyThumb(..) => "proxy_thumb",
            Route::Upload => "upload",
            Route::List => "list",
            Route::Image(_) => "image",
            Route::EditImage(_) => "edit_image",
            Route::Privacy(_) => "privacy",
            Route::RotateKey(_) => "rotate_key",
            Route::Delete(_) => "delete",
            Route::DeletePage(_) => "delete_page",
            Route::DeleteConfirm(_) => "delete_confirm",
            Route::Login => "login",
            Route::Refresh => "refresh",
            Route::Logout => "logout",
            Route::Session => "session",
            Route::AccountPassword => "account_password",
            Route::ListSessions => "list_sessions",
            Route::EndSession(_) => "end_session",
            Route::LogoutAll => "logout_all",
            Route::Settings => "settings",
            Route::EditSettings => "edit_settings",
            Route::ListKeys => "list_keys",
            Route::CreateKey => "create_key",
            Route::RevokeKey(_) => "revoke_key",
            Route::Stats(_) => "stats",
            Route::Health => "health",
            Route::Ready => "ready",
            Route::OpenApi => "openapi",
            Route::Metrics => "metrics",
            Route::Backup => "backup",
            Route::Integrity => "integrity",
            Route::IntegrityBlobs => "integrity_blobs",
            Route::IntegrityRepaired => "integrity_repaired",
            Route::Me => "me",
            Route::ListUsers => "list_users",
            Route::CreateUser => "create_user",
            Route::User(_) => "user",
            Route::EditUser(_) => "edit_user",
            Route::DeleteUser(_) => "delete_user",
            Route::ResetLink(_) => "reset_link",
            Route::ListInvites => "list_invites",
            Route::CreateInvite => "create_invite",
            Route::RevokeInvite(_) => "revoke_invite",
            Route::Register => "register",
            Route::RedeemReset => "redeem_reset",
            Route::InvitePage => "invite_page",
            Route::ResetPage => "reset_page",
            Route::Root => "root",
            Route::AdminPage => "admin_page",
            Route::AdminAsset(_) => "admin_asset",
            Route::Albums => "albums",
            Route::CreateAlbum => "create_album",
            Route::Album(_) => "album",
            Route::EditAlbum(_) => "edit_album",
            Route::DeleteAlbum(_) => "delete_album",
            Route::AddToAlbum(_) => "add_to_album",
            Route::SetAlbumImages(_) => "set_album_images",
            Route::ZipImages => "zip_images",
            Route::AlbumIndex => "album_index",
            Route::Gallery(_) => "gallery",
            Route::GalleryZip(_) => "gallery_zip",
            Route::ImagePage(_) => "image_page",
            Route::OEmbed => "oembed",
        }
    }
}

/// The methods `path` answers, for the `Allow` header of a 405.
pub fn allowed_methods(path: &str) -> String {
    [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ]
    .iter()
    .filter(|m| route(m, path).is_ok())
    .map(Method::as_str)
    .collect::<Vec<_>>()
    .join(", ")
}

/// Routes a request. Query strings must already be split off `path`.
pub fn route(method: &Method, path: &str) -> Result<Route, RouteError> {
    use RouteError::*;
    let get = method == Method::GET || method == Method::HEAD;
    let post = method == Method::POST;
    let only = |ok: bool, r: Route| if ok { Ok(r) } else { Err(MethodNotAllowed) };

    match path {
        "/" => return only(get, Route::Root),
        "/healthz" => return only(get, Route::Health),
        "/readyz" => return only(get, Route::Ready),
        "/api/openapi.json" => return only(get, Route::OpenApi),
        "/metrics" => return only(get, Route::Metrics),
        "/api/backup" => return only(get, Route::Backup),
        "/api/integrity" => return only(get, Route::Integrity),
        "/api/integrity/blobs" => return only(get, Route::IntegrityBlobs),
        "/api/integrity/repaired" => return only(post, Route::IntegrityRepaired),
        "/api/upload" => return only(post, Route::Upload),
        "/api/list" => return only(get, Route::List),
        "/api/login" => return only(post, Route::Login),
        "/api/refresh" => return only(post, Route::Refresh),
        "/api/logout" => return only(post, Route::Logout),
        "/api/session" => return only(get, Route::Session),
        "/api/account/password" => return only(post, Route::AccountPassword),
        "/api/sessions" => return only(get, Route::ListSessions),
        "/api/logout-all" => return only(post, Route::LogoutAll),
        "/api/settings" => {
            return match *method {
                Method::GET | Method::HEAD => Ok(Route::Settings),
                Method::PUT => Ok(Route::EditSettings),
                _ => Err(MethodNotAllowed),
            };
        }
        "/api/keys" => {
            return match *method {
                Method::GET | Method::HEAD => Ok(Route::ListKeys),
                Method::POST => Ok(Route::CreateKey),
                _ => Err(MethodNotAllowed),
            };
        }
        "/admin" => return only(get, Route::AdminPage),
        "/api/me" => return only(get, Route::Me),
        "/api/register" => return only(post, Route::Register),
        "/api/password-reset" => return only(post, Route::RedeemReset),
        "/invite" => return only(get || post, Route::InvitePage),
        "/reset-password" => return only(get || post, Route::ResetPage),
        "/api/users" => {
            return match *method {
                Method::GET | Method::HEAD => Ok(Route::ListUsers),
                Method::POST => Ok(Route::CreateUser),
                _ => Err(MethodNotAllowed),
            };
        }
        "/api/invites" => {
            return match *method {
                Method::GET | Method::HEAD => Ok(Route::ListInvites),
                Method::POST => Ok(Route::CreateInvite),
                _ => Err(MethodNotAllowed),
            };
        }
        "/api/stats" => return only(get, Route::Stats(StatsRoute::Summary)),
        "/api/stats/views" => return only(get, Route::Stats(StatsRoute::Views)),
        "/api/stats/countries" => return only(get, Route::Stats(StatsRoute::Countries)),
        "/api/stats/referrers" => return only(get, Route::Stats(StatsRoute::Referrers)),
        "/api/stats/recent" => return only(get, Route::Stats(StatsRoute::Recent)),
        "/api/stats/top" => return only(get, Route::Stats(StatsRoute::Top)),
        "/api/albums" => {
            return match *method {
                Method::GET | Method::HEAD => Ok(Route::Albums),
                Method::POST => Ok(Route::CreateAlbum),
                _ => Err(MethodNotAllowed),
            };
        }
        "/api/images/zip" => return only(post, Route::ZipImages),
        "/api/oembed" => return only(get, Route::OEmbed),
        "/a" | "/a/" => return only(get, Route::AlbumIndex),
        _ => {}
    }

    if let Some(rest) = path.strip_prefix("/api/albums/") {
        return match rest.split_once('/') {
            None => match *method {
                Method::GET | Method::HEAD => Ok(Route::Album(album_ref(rest))),
                Method::PATCH => Ok(Route::EditAlbum(album_ref(rest))),
                Method::DELETE => Ok(Route::DeleteAlbum(album_ref(rest))),
                _ => Err(MethodNotAllowed),
            },
            Some((id, "images")) => match *method {
                Method::POST => Ok(Route::AddToAlbum(album_ref(id))),
                Method::PUT => Ok(Route::SetAlbumImages(album_ref(id))),
                _ => Err(MethodNotAllowed),
            },
            Some(_) => Err(NotFound),
        };
    }
    if let Some(rest) = path.strip_prefix("/a/") {
        let (id, zip) = match rest.strip_suffix(".zip") {
            Some(id) => (id, true),
            None => (rest, false),
        };
        let id = AlbumId::parse(id).ok_or(NotFound)?;
        return only(
            get,
            if zip {
                Route::GalleryZip(id)
            } else {
                Route::Gallery(id)
            },
        );
    }
    if let Some(rest) = path.strip_prefix("/v/") {
        return only(get, Route::ImagePage(parse_uuid(rest).ok_or(NotFound)?));
    }

    if let Some(rest) = path.strip_prefix("/admin/") {
        if let Some(asset) = rest.strip_prefix("static-") {
            if !asset.contains('/') {
                return Err(NotFound);
            }
            return only(get, Route::AdminAsset(asset.to_string()));
        }
        return only(get, Route::AdminPage);
    }
    if let Some(rest) = path.strip_prefix("/api/proxy/thumb/") {
        let (u, t) = parse_image_file(rest).ok_or(NotFound)?;
        return only(get, Route::ProxyThumb(u, t));
    }
    if let Some(rest) = path.strip_prefix("/thumb/") {
        let (u, t) = parse_image_file(rest).ok_or(NotFound)?;
        return only(get, Route::Thumb(u, t));
    }
    if path.starts_with("/api/proxy/") {
        let (u, t) = parse_proxy_path(path).ok_or(NotFound)?;
        return only(get, Route::Proxy(u, t));
    }
    if let Some(rest) = path.strip_prefix("/api/delete/") {
        let u = parse_uuid(rest).ok_or(NotFound)?;
        return match *method {
            Method::GET | Method::HEAD => Ok(Route::DeletePage(u)),
            Method::POST => Ok(Route::DeleteConfirm(u)),
            Method::DELETE => Ok(Route::Delete(u)),
            _ => Err(MethodNotAllowed),
        };
    }
    if let Some(rest) = path.strip_prefix("/api/privacy/") {
        return only(post, Route::Privacy(image_ref_or_bad(rest)));
    }
    if let Some(rest) = path.strip_prefix("/api/images/") {
        return match rest.split_once('/') {
            None if *method == Method::PATCH => Ok(Route::EditImage(image_ref_or_bad(rest))),
            None => only(get, Route::Image(image_ref_or_bad(rest))),
            Some((id, "privacy")) => only(post, Route::Privacy(image_ref_or_bad(id))),
            Some((id, "rotate-key")) => only(post, Route::RotateKey(image_ref_or_bad(id))),
            Some((id, "stats")) => only(get, Route::Stats(StatsRoute::Image(image_ref_or_bad(id)))),
            Some(_) => Err(NotFound),
        };
    }
    if let Some(rest) = path.strip_prefix("/api/sessions/") {
        // A malformed handle is the handler's 404, after the session check,
        // so the route answers 401/403 like every session route.
        if rest.is_empty() || rest.len() > 64 || rest.contains('/') {
            return Err(NotFound);
        }
        return only(
            *method == Method::DELETE,
            Route::EndSession(rest.to_string()),
        );
    }
    if let Some(rest) = path.strip_prefix("/api/users/") {
        let (name, tail) = match rest.split_once('/') {
            Some((n, t)) => (n, Some(t)),
            None => (rest, None),
        };
        if !is_account_name(name) {
            return Err(NotFound);
        }
        let name = name.to_string();
        return match (tail, method) {
            (None, &Method::GET | &Method::HEAD) => Ok(Route::User(name)),
            (None, &Method::PATCH) => Ok(Route::EditUser(name)),
            (None, &Method::DELETE) => Ok(Route::DeleteUser(name)),
            (None, _) => Err(MethodNotAllowed),
            (Some("password-reset"), &Method::POST) => Ok(Route::ResetLink(name)),
            (Some("password-reset"), _) => Err(MethodNotAllowed),
            (Some(_), _) => Err(NotFound),
        };
    }
    if let Some(rest) = path.strip_prefix("/api/invites/") {
        let id = rest
            .parse::<u64>()
            .ok()
            .filter(|_| rest.bytes().all(|b| b.is_ascii_digit()));
        return match (id, method) {
            (Some(id), &Method::DELETE) => Ok(Route::RevokeInvite(id)),
            (Some(_), _) => Err(MethodNotAllowed),
            (None, _) => Err(NotFound),
        };
    }
    if let Some(rest) = path.strip_prefix("/api/keys/") {
        let id = rest
            .parse::<u64>()
            .ok()
            .filter(|_| rest.bytes().all(|b| b.is_ascii_digit()));
        return match (id, method) {
            (Some(id), &Method::DELETE) => Ok(Route::RevokeKey(id)),
            (Some(_), _) => Err(MethodNotAllowed),
            (None, _) => Err(NotFound),
        };
    }
    if let Some((u, t)) = parse_public_path(path) {
        return only(get, Route::Public(u, t));
    }
    Err(NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const U: &str = "0b6f1c2e-8f8e-4c1a-9d5e-2f1a3b4c5d6e";
    const A: &str = "AAECAwQFBgcICQoLDA0ODw";

    #[test]
    fn routes_albums_and_their_pages() {
        let id = AlbumId::parse(A).unwrap();
        let r = |m: Method, p: &str| route(&m, p);
        assert_eq!(r(Method::GET, &format!("/a/{A}")), Ok(Route::Gallery(id)));
        assert_eq!(
            r(Method::HEAD, &format!("/a/{A}.zip")),
            Ok(Route::GalleryZip(id))
        );
        assert_eq!(
            r(Method::GET, &format!("/api/albums/{A}")),
            Ok(Route::Album(AlbumRef::Id(id)))
        );
        assert_eq!(
            r(Method::GET, "/api/albums/x"),
            Ok(Route::Album(AlbumRef::Malformed))
        );
        assert_eq!(
            r(Method::GET, &format!("/v/{U}")),
            Ok(Route::ImagePage(Uuid::parse_str(U).unwrap()))
        );
        assert_eq!(
            r(Method::GET, "/api/images/zip"),
            Err(RouteError::MethodNotAllowed)
        );
        assert_eq!(
            r(Method::PATCH, &format!("/api/albums/{A}/images")),
            Err(RouteError::MethodNotAllowed)
        );
        assert_eq!(r(Method::GET, "/a"), Ok(Route::AlbumIndex));
        assert_eq!(r(Method::GET, "/a/"), Ok(Route::AlbumIndex));
        for bad in [
            "/a/x".to_string(),
            format!("/a/{A}.zip.zip"),
            format!("/a/{A}/"),
            format!("/a/{A}="),
            format!("/v/{}", U.to_uppercase()),
            format!("/v/{U}.png"),
            format!("/api/albums/{A}/nope"),
        ] {
            assert_eq!(r(Method::GET, &bad), Err(RouteError::NotFound), "{bad}");
        }
    }

    #[test]
    fn routes_the_seed_api() {
        let uuid = Uuid::parse_str(U).unwrap();
        let r = |m: Method, p: &str| route(&m, p);
        assert_eq!(
            r(Method::GET, &format!("/{U}.png")),
            Ok(Route::Public(uuid, ImageType::Png))
        );
        assert_eq!(
            r(Method::HEAD, &format!("/{U}.jpg")),
            Ok(Route::Public(uuid, ImageType::Jpeg))
        );
        assert_eq!(
            r(Method::GET, &format!("/api/proxy/{U}.gif")),
            Ok(Route::Proxy(uuid, ImageType::Gif))
        );
        assert_eq!(
            r(Method::GET, &format!("/thumb/{U}.png")),
            Ok(Route::Thumb(uuid, ImageType::Png))
        );
        assert_eq!(
            r(Method::HEAD, &format!("/api/proxy/thumb/{U}.webp")),
            Ok(Route::ProxyThumb(uuid, ImageType::Webp))
        );
        assert_eq!(
            r(Method::POST, &format!("/thumb/{U}.png")),
            Err(RouteError::MethodNotAllowed)
        );
        assert_eq!(r(Method::POST, "/api/upload"), Ok(Route::Upload));
        assert_eq!(
            r(Method::GET, "/api/upload"),
            Err(RouteError::MethodNotAllowed)
        );
        assert_eq!(r(Method::GET, "/api/list"), Ok(Route::List));
        assert_eq!(
            r(Method::GET, "/api/images/42"),
            Ok(Route::Image(ImageRef::Id(42)))
        );
        assert_eq!(
            r(Method::GET, &format!("/api/images/{U}")),
            Ok(Route::Image(ImageRef::Uuid(uuid)))
        );
        assert_eq!(
            r(Method::GET, "/api/images/abc"),
            Ok(Route::Image(ImageRef::Malformed))
        );
        assert_eq!(
            r(Method::POST, "/api/images/7/privacy"),
            Ok(Route::Privacy(ImageRef::Id(7)))
        );
        assert_eq!(
            r(Method::POST, "/api/privacy/7"),
            Ok(Route::Privacy(ImageRef::Id(7)))
        );
        assert_eq!(
            r(Method::POST, "/api/images/7/rotate-key"),
            Ok(Route::RotateKey(ImageRef::Id(7)))
        );
        assert_eq!(
            r(Method::DELETE, &format!("/api/delete/{U}")),
            Ok(Route::Delete(uuid))
        );
        assert_eq!(
            r(Method::GET, &format!("/api/delete/{U}")),
            Ok(Route::DeletePage(uuid))
        );
        assert_eq!(
            r(Method::POST, &format!("/api/delete/{U}")),
            Ok(Route::DeleteConfirm(uuid))
        );
        assert_eq!(r(Method::DELETE, "/api/keys/3"), Ok(Route::RevokeKey(3)));
        assert_eq!(
            r(Method::DELETE, "/api/sessions/AAAAAAAAAAAAAAA_"),
            Ok(Route::EndSession("AAAAAAAAAAAAAAA_".into()))
        );
        assert_eq!(
            r(Method::DELETE, "/api/sessions/a/b"),
            Err(RouteError::NotFound)
        );
        assert_eq!(r(Method::POST, "/api/logout-all"), Ok(Route::LogoutAll));
        assert_eq!(r(Method::POST, "/api/keys"), Ok(Route::CreateKey));
        assert_eq!(
            r(Method::GET, "/admin/static-abc/app.js"),
            Ok(Route::AdminAsset("abc/app.js".into()))
        );
        assert_eq!(r(Method::GET, "/admin/library"), Ok(Route::AdminPage));
        assert_eq!(
            r(Method::GET, "/api/stats"),
            Ok(Route::Stats(StatsRoute::Summary))
        );
        assert_eq!(
            r(Method::GET, "/api/stats/countries"),
            Ok(Route::Stats(StatsRoute::Countries))
        );
        assert_eq!(
            r(Method::GET, "/api/images/7/stats"),
            Ok(Route::Stats(StatsRoute::Image(ImageRef::Id(7))))
        );
        assert_eq!(
            r(Method::POST, "/api/stats/top"),
            Err(RouteError::MethodNotAllowed)
        );
        assert_eq!(r(Method::GET, "/api/stats/nope"), Err(RouteError::NotFound));
        assert_eq!(
            r(Method::DELETE, "/healthz"),
            Err(RouteError::MethodNotAllowed)
        );
    }

    /// The access table as a reader checks it: every route, by a request that
    /// reaches it, and the guard in front of it.
    #[test]
    fn every_route_has_the_expected_guard() {
        use Access::*;
        let table: &[(Method, String, Access)] = &[
            (Method::GET, format!("/{U}.png"), Link),
            (Method::GET, format!("/thumb/{U}.png"), Link),
            (Method::GET, format!("/api/proxy/{U}.png"), Session),
            (Method::GET, format!("/api/proxy/thumb/{U}.png"), Session),
            (Method::POST, "/api/upload".into(), UploadKeyOrSession),
            (Method::GET, "/api/list".into(), Session),
            (Method::GET, "/api/images/7".into(), Session),
            (Method::GET, "/api/images/abc".into(), Session),
            (Method::PATCH, "/api/images/7".into(), SessionCsrf),
            (Method::POST, "/api/images/7/privacy".into(), SessionCsrf),
            (Method::POST, "/api/privacy/7".into(), SessionCsrf),
            (Method::POST, "/api/images/7/rotate-key".into(), SessionCsrf),
            (
                Method::DELETE,
                format!("/api/delete/{U}"),
                SessionCsrfOrDeleteToken,
            ),
            (Method::GET, format!("/api/delete/{U}"), DeleteToken),
            (Method::POST, format!("/api/delete/{U}"), DeleteToken),
            (Method::POST, "/api/login".into(), Open),
            (Method::POST, "/api/refresh".into(), SessionCsrf),
            (Method::POST, "/api/logout".into(), SessionCsrf),
            (Method::GET, "/api/session".into(), Session),
            (Method::POST, "/api/account/password".into(), SessionCsrf),
            (Method::GET, "/api/sessions".into(), Session),
            (Method::DELETE, "/api/sessions/abc".into(), SessionCsrf),
            (Method::POST, "/api/logout-all".into(), SessionCsrf),
            (Method::GET, "/api/settings".into(), Session),
            (Method::PUT, "/api/settings".into(), AdminCsrf),
            (Method::GET, "/api/keys".into(), Session),
            (Method::POST, "/api/keys".into(), SessionCsrf),
            (Method::DELETE, "/api/keys/3".into(), SessionCsrf),
            (Method::GET, "/api/stats".into(), Session),
            (Method::GET, "/api/images/7/stats".into(), Session),
            (Method::GET, "/healthz".into(), Open),
            (Method::GET, "/readyz".into(), Open),
            (Method::GET, "/api/openapi.json".into(), Open),
            (Method::GET, "/metrics".into(), MetricsToken),
            (Method::GET, "/api/backup".into(), AdminOrControl),
            (Method::GET, "/api/integrity".into(), AdminOrControl),
            (Method::GET, "/api/me".into(), Session),
            (Method::GET, "/api/users".into(), Admin),
            (Method::POST, "/api/users".into(), AdminCsrf),
            (Method::GET, "/api/users/bob".into(), Admin),
            (Method::PATCH, "/api/users/bob".into(), AdminCsrf),
            (Method::DELETE, "/api/users/bob".into(), AdminCsrf),
            (
                Method::POST,
                "/api/users/bob/password-reset".into(),
                AdminCsrf,
            ),
            (Method::GET, "/api/invites".into(), Admin),
            (Method::POST, "/api/invites".into(), AdminCsrf),
            (Method::DELETE, "/api/invites/4".into(), AdminCsrf),
            (Method::POST, "/api/register".into(), LinkToken),
            (Method::POST, "/api/password-reset".into(), LinkToken),
            (Method::GET, "/invite".into(), LinkToken),
            (Method::POST, "/reset-password".into(), LinkToken),
            (Method::GET, "/api/integrity/blobs".into(), Control),
            (Method::POST, "/api/integrity/repaired".into(), Control),
            (Method::GET, "/".into(), Open),
            (Method::GET, "/admin/library".into(), Open),
            (Method::GET, "/admin/static-abc/app.js".into(), Open),
            (Method::GET, "/api/albums".into(), Session),
            (Method::POST, "/api/albums".into(), SessionCsrf),
            (Method::GET, format!("/api/albums/{A}"), Session),
            (Method::GET, "/api/albums/nope".into(), Session),
            (Method::PATCH, format!("/api/albums/{A}"), SessionCsrf),
            (Method::DELETE, format!("/api/albums/{A}"), SessionCsrf),
            (Method::POST, format!("/api/albums/{A}/images"), SessionCsrf),
            (Method::PUT, format!("/api/albums/{A}/images"), SessionCsrf),
            (Method::POST, "/api/images/zip".into(), SessionCsrf),
            (Method::GET, format!("/a/{A}"), AlbumLink),
            (Method::GET, format!("/a/{A}.zip"), AlbumLink),
            (Method::GET, format!("/v/{U}"), Link),
            (Method::GET, "/api/oembed".into(), Open),
            (Method::GET, "/a/".into(), Open),
        ];
        let mut seen = std::collections::BTreeSet::new();
        for (m, p, want) in table {
            let r = route(m, p).unwrap_or_else(|e| panic!("{m} {p}: {e:?}"));
            assert_eq!(r.access(), *want, "{m} {p} ({r:?})");
            seen.insert(format!("{r:?}").split('(').next().unwrap().to_string());
        }
        // Every variant of `Route` is in the table.
        let src = include_str!("router.rs");
        let body = &src[src.find("pub enum Route {").unwrap()..];
        let body = &body[..body.find("\n}").unwrap()];
        let variants: std::collections::BTreeSet<String> = body
            .lines()
            .skip(1)
            .map(str::trim)
            .filter(|l| l.starts_with(|c: char| c.is_ascii_uppercase()))
            .map(|l| l.split(['(', ',']).next().unwrap().to_string())
            .collect();
        assert!(variants.len() > 30, "{variants:?}");
        assert_eq!(seen, variants);
    }

    #[test]
    fn hostile_paths_are_not_found() {
        let cases = [
            "/..%2f..%2fetc%2fpasswd".to_string(),
            "/%2e%2e/%2e%2e/pixbin.redb".into(),
            format!("/{U}.png/..%2f.."),
            format!("/{U}.png%00.jpg"),
            format!("/{U}.png;x"),
            format!("/{U}%5c.png"),
            format!("/{U}.%252e"),
            format!("/{U}.PNG"),
            format!("/{U}.jpeg"),
            format!("/{}.png", U.to_uppercase()),
            format!("/{}.png", U.replace('-', "")),
            format!("/{U}a.png"),
            format!("/{}%c0%ae.png", &U[..35]),
            "/".to_string() + &"a".repeat(5000),
        ];
        for p in cases {
            assert_eq!(route(&Method::GET, &p), Err(RouteError::NotFound), "{p}");
            let proxied = format!("/api/proxy{p}");
            assert_eq!(
                route(&Method::GET, &proxied),
                Err(RouteError::NotFound),
                "{proxied}"
            );
            for thumb in [format!("/thumb{p}"), format!("/api/proxy/thumb{p}")] {
                assert_eq!(
                    route(&Method::GET, &thumb),
                    Err(RouteError::NotFound),
                    "{thumb}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn accepted_public_paths_are_canonical(s in "\\PC{0,60}") {
            if let Some((u, t)) = parse_public_path(&s) {
                prop_assert_eq!(s, format!("/{}.{}", u.hyphenated(), t.ext()));
            }
        }

        #[test]
        fn near_miss_paths_never_panic(id in "[0-9a-fA-F-]{30,40}", ext in "[a-zA-Z%.]{0,6}") {
            let p = format!("/{id}.{ext}");
            if let Some((u, t)) = parse_public_path(&p) {
                prop_assert_eq!(p, format!("/{}.{}", u.hyphenated(), t.ext()));
            }
            let _ = route(&Method::GET, &format!("/api/proxy/{id}.{ext}"));
        }

        #[test]
        fn image_refs_are_positive_ids_or_uuids(s in "\\PC{0,40}") {
            match parse_image_ref(&s) {
                Some(ImageRef::Id(n)) => prop_assert_eq!(n.to_string(), s),
                Some(ImageRef::Uuid(u)) => prop_assert_eq!(u.hyphenated().to_string(), s),
                Some(ImageRef::Malformed) => prop_assert!(false, "{s} parsed as Malformed"),
                None => {}
            }
        }
    }
}
