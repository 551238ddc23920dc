//! The one error type at the HTTP edge, with one exhaustive status match.
//!
//! Every error a client sees is JSON `{"error": "...", "code": "..."}` with no
//! paths, stack traces or database messages (ARCHITECTURE invariant 6).
//! `Internal` logs its detail and sends a generic message.

use hyper::StatusCode;

use crate::lifecycle::LifecycleError;
use crate::store::StoreError;
use crate::store::quota::Refusal;

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400 with a machine-readable code (`invalid_request`, `file_too_large`,
    /// `type_not_allowed`, `invalid_image`, `image_too_large`, `storage_full`).
    #[error("{message}")]
    BadRequest {
        /// Machine-readable reason.
        code: &'static str,
        /// Short human text (a ShareX toast shows it).
        message: String,
    },
    /// 400 `storage_full` or `image_limit`, naming whose limit was reached:
    /// `quota` is `"instance"` (the server's) or `"user"` (the account's).
    #[error("{message}")]
    QuotaReached {
        /// Machine-readable reason.
        code: &'static str,
        /// Human text.
        message: &'static str,
        /// Whose limit.
        quota: &'static str,
    },
    /// 413: refused from `Content-Length` before reading the body.
    #[error("file too large (limit {limit} bytes)")]
    PayloadTooLarge {
        /// The configured limit.
        limit: u64,
    },
    /// 401: no valid session or upload key.
    #[error("authentication required")]
    Unauthorized,
    /// 401: login with a wrong user name or password.
    #[error("wrong user name or password")]
    InvalidCredentials,
    /// 403 with a code (`csrf`, `forbidden`).
    #[error("{message}")]
    Forbidden {
        /// Machine-readable reason.
        code: &'static str,
        /// Human text.
        message: &'static str,
    },
    /// 409 with a code (`set_by_environment`).
    #[error("{message}")]
    Conflict {
        /// Machine-readable reason.
        code: &'static str,
        /// Human text.
        message: String,
    },
    /// 404, identical for unknown, wrong extension and wrong key.
    #[error("not found")]
    NotFound,
    /// 405.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 415: the body's `Content-Type` is not what the endpoint reads.
    #[error("{0}")]
    UnsupportedMediaType(&'static str),
    /// 429 with a retry hint in seconds.
    #[error("too many attempts, try again in {retry_after} s")]
    RateLimited {
        /// Seconds until the next attempt may succeed.
        retry_after: u64,
    },
    /// 507: the disk (not the configured limit) is full.
    #[error("the server's disk is full")]
    DiskFull,
    /// 503 with a retry hint: too much work of this kind at once.
    #[error("the server is busy, try again in {retry_after} s")]
    Busy {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// 503: temporarily unable to serve.
    #[error("{0}")]
    Unavailable(&'static str),
    /// 500: the stored bytes of this image are damaged (wrong length or hash,
    /// or gone); logged once where detected (`store::integrity`).
    #[error("the stored image is damaged; it will be served again once restored from a backup")]
    BlobDamaged,
    /// 500: logged in full, reported generically.
    #[error("internal error")]
    Internal(String),
}

impl AppError {
    /// A 400 `invalid_request` with a message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        AppError::BadRequest {
            code: "invalid_request",
            message: message.into(),
        }
    }

    /// The HTTP status and machine-readable code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            AppError::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code),
            AppError::QuotaReached { code, .. } => (StatusCode::BAD_REQUEST, code),
            AppError::PayloadTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "file_too_large"),
            AppError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            AppError::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            AppError::Forbidden { code, .. } => (StatusCode::FORBIDDEN, code),
            AppError::Conflict { code, .. } => (StatusCode::CONFLICT, code),
            AppError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            AppError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            AppError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            AppError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            AppError::DiskFull => (StatusCode::INSUFFICIENT_STORAGE, "disk_full"),
            AppError::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            AppError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            AppError::BlobDamaged => (StatusCode::INTERNAL_SERVER_ERROR, "blob_damaged"),
            AppError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        if e.is_disk_full() {
            return AppError::DiskFull;
        }
        match e {
            StoreError::StorageFull => AppError::QuotaReached {
                code: "storage_full",
                message: "storage limit reached",
                quota: "instance",
            },
            StoreError::ImageLimit => AppError::QuotaReached {
                code: "image_limit",
                message: "image limit reached: delete images to upload more",
                quota: "instance",
            },
            StoreError::AccountQuota(Refusal::Bytes) => AppError::QuotaReached {
                code: "storage_full",
                message: "your storage quota is reached: delete images to upload more",
                quota: "user",
            },
            StoreError::AccountQuota(Refusal::Images) => AppError::QuotaReached {
                code: "image_limit",
                message: "your image quota is reached: delete images to upload more",
                quota: "user",
            },
            StoreError::Refused { code, message } => AppError::Conflict {
                code,
                message: message.into(),
            },
            StoreError::Io(e) if crate::store::blobs::is_unavailable(&e) => {
                tracing::warn!(error = %e, "blob store unavailable");
                AppError::Unavailable("the image storage is unreachable, try again shortly")
            }
            other => AppError::Internal(other.to_string()),
        }
    }
}

/// Every lifecycle refusal is a 400; the message is the error's own text.
impl From<LifecycleError> for AppError {
    fn from(e: LifecycleError) -> Self {
        let code = match e {
            LifecycleError::ExpiryTooLong { .. } => "expiry_too_long",
            LifecycleError::PublicNotAllowed => "public_not_allowed",
            LifecycleError::SpecTooLong
            | LifecycleError::BadSpec
            | LifecycleError::InThePast
            | LifecycleError::BadMaxViews => "invalid_request",
        };
        AppError::BadRequest {
            code,
            message: e.to_string(),
        }
    }
}

impl From<std::io::Error> for AppError {
    fn from(e: std::io::Error) -> Self {
        AppError::from(StoreError::Io(e))
    }
}

impl From<tokio::task::JoinError> for AppError {
    fn from(e: tokio::task::JoinError) -> Self {
        AppError::Internal(format!("background task failed: {e}"))
    }
}

/// `Option -> Result<_, NotFound>` to keep handlers linear.
pub trait OptionExt<T> {
    /// `None` becomes [`AppError::NotFound`].
    fn or_not_found(self) -> Result<T, AppError>;
}

impl<T> OptionExt<T> for Option<T> {
    fn or_not_found(self) -> Result<T, AppError> {
        self.ok_or(AppError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Lifecycle refusals reach clients as the same 400 bodies they always had.
    #[test]
    fn lifecycle_refusals_keep_their_codes_and_messages() {
        let cases = [
            (
                LifecycleError::ExpiryTooLong {
                    max: Duration::from_secs(7 * 86_400),
                },
                "expiry_too_long",
                "expiry is longer than allowed (at most 1w)",
            ),
            (
                LifecycleError::PublicNotAllowed,
                "public_not_allowed",
                "this upload key only makes private uploads",
            ),
            (
                LifecycleError::InThePast,
                "invalid_request",
                "expires is in the past",
            ),
            (
                LifecycleError::SpecTooLong,
                "invalid_request",
                "expires is too long",
            ),
            (
                LifecycleError::BadMaxViews,
                "invalid_request",
                "max_views must be a whole number from 1 to 1000000000",
            ),
        ];
        for (e, code, message) in cases {
            let e = AppError::from(e);
            assert_eq!(e.status_and_code(), (StatusCode::BAD_REQUEST, code));
            assert_eq!(e.to_string(), message);
        }
    }
}
