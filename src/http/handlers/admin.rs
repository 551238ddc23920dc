//! The embedded admin UI's entry page and assets.

use hyper::Response;

use crate::error::AppError;
use crate::http::body::{Body, redirect};
use crate::state::AppState;

/// `GET /` sends people to the UI.
pub fn root() -> Response<Body> {
    redirect("/admin/")
}

/// Any UI route: the entry page (the UI routes on the client).
pub fn page(state: &AppState) -> Response<Body> {
    state.admin.index()
}

/// A versioned static asset.
pub fn asset(state: &AppState, versioned: &str) -> Result<Response<Body>, AppError> {
    state.admin.asset(versioned).ok_or(AppError::NotFound)
}
