//! Request handlers, one file per concern. Auth has already been checked by
//! `dispatch` when a handler runs, except where a handler says otherwise.

pub mod admin;
pub mod auth;
pub mod health;
pub mod images;
pub mod keys;
pub mod serve;
pub mod upload;
