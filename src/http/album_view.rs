//! What a visitor of a shared album sees, for its page, its zip and its
//! preview alike: the album if this visitor may view it (`albums::can_view`),
//! and of its images, in order, only those shown to strangers
//! (`albums::shown_to_strangers`: no private, expired or view-limited one).

use hyper::Request;
use hyper::body::Incoming;

use crate::albums::{self, Actor};
use crate::clock;
use crate::error::AppError;
use crate::http::guard;
use crate::state::AppState;
use crate::store::StoredImage;
use crate::store::albums::AlbumId;
use crate::store::codec::AlbumRecord;

/// The request's session as an album actor, if it has one.
pub async fn actor_of(
    state: &AppState,
    req: &Request<Incoming>,
) -> Result<Option<Actor>, AppError> {
    Ok(guard::session_of(state, req)
        .await?
        .map(|s| Actor::new(&s.username, s.role)))
}

/// The album and its shown images; 404 when it does not exist, has expired,
/// or is private and the visitor is not its owner (the same answer for all,
/// so an id cannot be probed).
pub async fn shown(
    state: &AppState,
    id: AlbumId,
    req: &Request<Incoming>,
) -> Result<(AlbumRecord, Vec<StoredImage>), AppError> {
    let album = load(state, id).await?;
    let now = clock::now_ms();
    // A session is looked up only when it matters (a private album).
    let visitor = if albums::can_view(None, &album, now) {
        None
    } else {
        actor_of(state, req).await?
    };
    if !albums::can_view(visitor.as_ref(), &album, now) {
        return Err(AppError::NotFound);
    }
    let images = shown_images(state, &album).await?;
    Ok((album, images))
}

/// The album, whoever may see it; 404 when there is none.
pub async fn load(state: &AppState, id: AlbumId) -> Result<AlbumRecord, AppError> {
    state
        .blocking(move |s| s.album(id))
        .await?
        .ok_or(AppError::NotFound)
}

/// The album's images a stranger sees, in the album's order.
pub async fn shown_images(
    state: &AppState,
    album: &AlbumRecord,
) -> Result<Vec<StoredImage>, AppError> {
    let now = clock::now_ms();
    let ids = album.images.clone();
    let mut images = state.blocking(move |s| s.images_by_ids(&ids)).await?;
    images.retain(|img| albums::shown_to_strangers(img, now));
    Ok(images)
}
