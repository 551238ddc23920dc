//! Request handlers, one file per concern. Auth has already been checked by
//! `dispatch` when a handler runs, except where a handler says otherwise.

pub mod account;
pub mod admin;
pub mod albums;
pub mod auth;
pub mod backup;
pub mod downloads;
pub mod gallery;
pub mod health;
pub mod images;
pub mod integrity;
pub mod keys;
pub mod metrics;
pub mod register;
pub mod serve;
pub mod settings;
pub mod stats;
pub mod thumbs;
pub mod upload;
pub mod users;
