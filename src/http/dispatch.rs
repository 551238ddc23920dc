//! The request pipeline as plain calls: route, then authenticate (session, then
//! CSRF for unsafe methods), then the handler, then security headers and the
//! access log. No hidden layers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};

use crate::error::AppError;
use crate::http::assets::UI_CSP;
use crate::http::body::{Body, error_response};
use crate::http::client_ip::{self, ClientAddr, PeerAddr};
use crate::http::guard::{
    SessionCtx, admin_only, require_admin, require_session, require_session_csrf, session_of,
};
use crate::http::handlers::{
    account, admin, albums, auth, backup, downloads, gallery, health, images, integrity, keys,
    metrics, register, serve, settings, stats, thumbs, upload, users,
};
use crate::http::origin;
use crate::http::pages;
use crate::http::query;
use crate::http::router::{self, Access, Route, RouteError};
use crate::state::AppState;

/// Applies the route's guard ([`Route::access`]): the session of the kinds
/// `dispatch` enforces, `None` for routes whose handler reads its own
/// credentials (and for a delete by token, which has no session).
async fn authorize(
    state: &AppState,
    route: &Route,
    req: &Request<Incoming>,
) -> Result<Option<SessionCtx>, AppError> {
    match route.access() {
        Access::Session => require_session(state, req).await.map(Some),
        Access::SessionCsrf => require_session_csrf(state, req).await.map(Some),
        Access::Admin => require_admin(state, req).await.map(Some),
        Access::AdminCsrf => {
            let ctx = require_session_csrf(state, req).await?;
            admin_only(&ctx)?;
            Ok(Some(ctx))
        }
        Access::SessionCsrfOrDeleteToken => {
            let has_token = matches!(query::param(req.uri().query(), "token"), Ok(Some(_)));
            if has_token && session_of(state, req).await?.is_none() {
                return Ok(None);
            }
            require_session_csrf(state, req).await.map(Some)
        }
        Access::Open
        | Access::Link
        | Access::DeleteToken
        | Access::UploadKeyOrSession
        | Access::MetricsToken
        | Access::AdminOrControl
        | Access::LinkToken
        | Access::Control
        | Access::AlbumLink => Ok(None),
    }
}

/// The session a guarded handler is given. Every route that takes one has a
/// session access kind, so this is only a safety net: without one, 401.
fn session(ctx: Option<SessionCtx>) -> Result<SessionCtx, AppError> {
    ctx.ok_or(AppError::Unauthorized)
}

async fn run(
    state: &AppState,
    route: Route,
    req: Request<Incoming>,
) -> Result<Response<Body>, AppError> {
    let ctx = authorize(state, &route, &req).await?;
    match route {
        Route::Public(u, t) => serve::public(state, u, t, &req).await,
        Route::Proxy(u, t) => serve::proxy(state, &session(ctx)?, (u, t), &req).await,
        Route::Thumb(u, t) => thumbs::public(state, u, t, &req).await,
        Route::ProxyThumb(u, t) => thumbs::proxy(state, &session(ctx)?, (u, t), &req).await,
        Route::Upload => upload::upload(state, req).await,
        Route::List => images::list(state, &session(ctx)?, &req).await,
        Route::Image(r) => images::details(state, &session(ctx)?, r).await,
        Route::EditImage(r) => images::edit(state, &session(ctx)?, r, req).await,
        Route::Privacy(r) => images::privacy(state, &session(ctx)?, r, req).await,
        Route::RotateKey(r) => images::rotate_key(state, &session(ctx)?, r).await,
        Route::Delete(u) => match ctx {
            Some(ctx) => images::delete(state, &ctx, u).await,
            None => images::delete_with_token(state, u, &req).await,
        },
        Route::DeletePage(u) => images::delete_page(state, u, &req).await,
        Route::DeleteConfirm(u) => images::delete_confirm(state, u, &req).await,
        Route::Login => auth::login(state, req).await,
        Route::Refresh => auth::refresh(state, session(ctx)?, &req).await,
        Route::AccountPassword => account::change_password(state, session(ctx)?, req).await,
        Route::ListSessions => account::sessions(state, &session(ctx)?).await,
        Route::EndSession(id) => account::end_session(state, &session(ctx)?, &id).await,
        Route::LogoutAll => account::logout_all(state, &session(ctx)?).await,
        Route::Logout => auth::logout(state, session(ctx)?).await,
        Route::Session => Ok(auth::info(state, &session(ctx)?)),
        Route::Settings => Ok(settings::get(state)),
        Route::EditSettings => settings::put(state, req).await,
        Route::ListKeys => keys::list(state, &session(ctx)?, &req).await,
        Route::CreateKey => keys::create(state, &session(ctx)?, req).await,
        Route::RevokeKey(id) => keys::revoke(state, &session(ctx)?, id).await,
        Route::Stats(r) => stats::handle(state, &session(ctx)?, r, &req).await,
        Route::Health => Ok(health::healthz()),
        Route::Ready => health::readyz(state).await,
        Route::OpenApi => Ok(crate::http::openapi::document()),
        Route::Metrics => metrics::metrics(state, &req).await,
        Route::Backup => backup::backup(state, &req).await,
        Route::Integrity => integrity::status(state, &req).await,
        Route::IntegrityBlobs => integrity::blobs(state, &req).await,
        Route::IntegrityRepaired => integrity::repaired(state, req).await,
        Route::Me => users::me(state, &session(ctx)?).await,
        Route::ListUsers => users::list(state).await,
        Route::CreateUser => users::create(state, req).await,
        Route::User(name) => users::get(state, name).await,
        Route::EditUser(name) => users::edit(state, name, req).await,
        Route::DeleteUser(name) => users::delete(state, name, &req).await,
        Route::ResetLink(name) => users::reset_link(state, &session(ctx)?, name, req).await,
        Route::ListInvites => users::invites(state).await,
        Route::CreateInvite => users::create_invite(state, &session(ctx)?, req).await,
        Route::RevokeInvite(id) => users::revoke_invite(state, id).await,
        Route::Register => register::register(state, req).await,
        Route::RedeemReset => register::redeem_reset(state, req).await,
        Route::InvitePage => register::invite_page(state, req).await,
        Route::ResetPage => register::reset_page(state, req).await,
        Route::Root => Ok(admin::root()),
        Route::AdminPage => Ok(admin::page(state)),
        Route::AdminAsset(path) => admin::asset(state, &path),
        Route::Albums => albums::list(state, &session(ctx)?).await,
        Route::CreateAlbum => albums::create(state, &session(ctx)?, req).await,
        Route::Album(a) => albums::details(state, &session(ctx)?, a).await,
        Route::EditAlbum(a) => albums::edit(state, &session(ctx)?, a, req).await,
        Route::DeleteAlbum(a) => albums::delete(state, &session(ctx)?, a).await,
        Route::AddToAlbum(a) => albums::add_images(state, &session(ctx)?, a, req).await,
        Route::SetAlbumImages(a) => albums::set_images(state, &session(ctx)?, a, req).await,
        Route::ZipImages => downloads::selection(state, &session(ctx)?, req).await,
        Route::AlbumIndex => gallery::index(state, &req).await,
        Route::Gallery(id) => gallery::album_page(state, id, &req).await,
        Route::GalleryZip(id) => downloads::album(state, id, &req).await,
        Route::ImagePage(u) => gallery::image_page(state, u, &req).await,
        Route::OEmbed => gallery::oembed(state, &req).await,
    }
}

/// SECURITY.md A52: no state change from another site, and JSON endpoints
/// read nothing but `application/json` (see `http::origin`).
fn refuse_cross_site(
    state: &AppState,
    route: &Route,
    req: &Request<Incoming>,
) -> Result<(), AppError> {
    origin::check_same_site(req, state.config.base_url())?;
    if matches!(
        route,
        Route::Login
            | Route::EditImage(_)
            | Route::Privacy(_)
            | Route::CreateKey
            | Route::EditSettings
            | Route::AccountPassword
            | Route::CreateAlbum
            | Route::EditAlbum(_)
            | Route::AddToAlbum(_)
            | Route::SetAlbumImages(_)
            | Route::ZipImages
            | Route::CreateUser
            | Route::EditUser(_)
            | Route::ResetLink(_)
            | Route::CreateInvite
            | Route::Register
            | Route::RedeemReset
    ) {
        origin::require_json(req.headers())?;
    }
    Ok(())
}

/// Which family of security headers a response gets.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Image bytes: the handler set its own (sandbox CSP, caching).
    Blob,
    /// The admin UI.
    Ui,
    /// A page for strangers (`http::pages`): it brings its own strict CSP.
    Page,
    /// JSON API and everything else.
    Api,
}

fn security_headers(res: &mut Response<Body>, kind: Kind) {
    let h = res.headers_mut();
    h.entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    match kind {
        Kind::Blob => {}
        Kind::Ui | Kind::Page => {
            let is_html = h
                .get(header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
            let csp = if is_html {
                UI_CSP
            } else {
                "default-src 'none'; frame-ancestors 'none'"
            };
            let csp = HeaderValue::from_static(csp);
            if kind == Kind::Page {
                h.entry(header::CONTENT_SECURITY_POLICY).or_insert(csp);
            } else {
                h.insert(header::CONTENT_SECURITY_POLICY, csp);
            }
            h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
            h.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
        }
        Kind::Api => {
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
            );
            h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
            h.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            h.entry(header::CACHE_CONTROL)
                .or_insert(HeaderValue::from_static("no-store"));
        }
    }
}

/// The service function: never fails, every error becomes a JSON response.
pub async fn handle(
    state: Arc<AppState>,
    peer: SocketAddr,
    mut req: Request<Incoming>,
) -> Response<Body> {
    let client = client_ip::client_addr(peer, req.headers(), &state.config.trusted_proxies);
    req.extensions_mut().insert(ClientAddr(client));
    req.extensions_mut().insert(PeerAddr(peer));
    let start = Instant::now();
    let method = req.method().clone();
    let logged_path = query::redact(
        req.uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/"),
    )
    .into_owned();
    let route = router::route(&method, req.uri().path());
    let route_name = match &route {
        Ok(r) => r.name(),
        Err(_) => "unmatched",
    };
    let kind = match &route {
        Ok(Route::Public(..) | Route::Proxy(..) | Route::Thumb(..) | Route::ProxyThumb(..)) => {
            Kind::Blob
        }
        Ok(Route::AdminPage | Route::AdminAsset(_) | Route::Root) => Kind::Ui,
        Ok(
            Route::DeletePage(_)
            | Route::DeleteConfirm(_)
            | Route::Gallery(_)
            | Route::AlbumIndex
            | Route::ImagePage(_)
            | Route::InvitePage
            | Route::ResetPage,
        ) => Kind::Page,
        _ => Kind::Api,
    };
    // A dead image link opened in a browser gets a page, not raw JSON; API
    // clients (`application/json`, `*/*`, ShareX, curl) keep the JSON.
    let link_page = matches!(route, Ok(Route::Public(..) | Route::Thumb(..)))
        && pages::prefers_html(req.headers());
    let mut allow = None;
    let result = match route {
        Ok(r) => match refuse_cross_site(&state, &r, &req) {
            Ok(()) => run(&state, r, req).await,
            Err(e) => Err(e),
        },
        Err(RouteError::NotFound) => Err(AppError::NotFound),
        Err(RouteError::MethodNotAllowed) => {
            // RFC 9110 §15.5.6: a 405 lists the methods the resource supports.
            allow = HeaderValue::from_str(&router::allowed_methods(req.uri().path())).ok();
            Err(AppError::MethodNotAllowed)
        }
    };
    let mut res = match result {
        Ok(r) => r,
        Err(AppError::NotFound) if link_page => {
            let mut r = pages::not_found(StatusCode::NOT_FOUND);
            r.headers_mut()
                .insert(header::VARY, HeaderValue::from_static("Accept"));
            r
        }
        Err(e) => {
            let mut r = error_response(&e);
            if kind == Kind::Blob {
                // The same URL answers a browser with a page (above).
                r.headers_mut()
                    .insert(header::VARY, HeaderValue::from_static("Accept"));
                // Errors on image URLs are JSON too; they still must not be cached
                // by shared caches or sniffed.
                r.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            }
            r
        }
    };
    // Image routes that produced an error body get API headers, not blob
    // ones; a page keeps its own.
    let kind = match kind {
        Kind::Blob if link_page && res.status() == StatusCode::NOT_FOUND => Kind::Page,
        Kind::Blob if !res.headers().contains_key(header::ETAG) => Kind::Api,
        k => k,
    };
    if let Some(a) = allow {
        res.headers_mut().insert(header::ALLOW, a);
    }
    security_headers(&mut res, kind);
    state
        .metrics
        .observe(route_name, res.status().as_u16(), start.elapsed());
    tracing::debug!(
        method = %method,
        path = %logged_path,
        status = res.status().as_u16(),
        micros = start.elapsed().as_micros() as u64,
        "request"
    );
    res
}
