//! The image JSON of the API and the links in it: the public link (with the
//! private key's `?key=`), the thumbnail link, and the codec of that key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use uuid::Uuid;

use crate::clock;
use crate::state::AppState;
use crate::store::StoredImage;
use crate::store::blobs::hex;

/// The image JSON of the API (seed field names kept, plus ShareX's snake_case links).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageJson {
    id: u64,
    uuid: String,
    filename: String,
    extension: &'static str,
    size: u64,
    uploaded_at: String,
    is_private: bool,
    views: u64,
    url: String,
    width: u32,
    height: u32,
    content_type: &'static str,
    hash: String,
    #[serde(rename = "full_link")]
    full_link: String,
    #[serde(rename = "thumbnail_url")]
    thumbnail_url: String,
    #[serde(rename = "deletion_url")]
    deletion_url: Option<String>,
    /// The image's page (`/v/{uuid}`, with the same `?key=`): title, date and
    /// link previews around the image.
    #[serde(rename = "page_url")]
    page_url: String,
    /// The session's thumbnail route (`/api/proxy/thumb/…`): works for every
    /// image a session may see, private and view-limited ones included, and
    /// never spends a view.
    thumb_url: String,
    expires_at: Option<String>,
    max_views: Option<u64>,
    views_left: Option<u64>,
    /// The account the image belongs to (empty: none, admins only).
    owner: String,
}

impl ImageJson {
    /// Makes `url` the image's page rather than the raw image (an upload
    /// that asked for `link=page`); `full_link` stays the raw image's.
    pub fn link_to_page(&mut self) {
        self.url = self.page_url.clone();
    }
}

/// The `?key=` value of a private image.
pub fn encode_key(key: &[u8; 16]) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

/// Decodes a presented image key: standard or URL-safe base64, padded or not.
/// Anything else (too long, bad characters, wrong length) is `None`.
pub fn decode_key(s: &str) -> Option<[u8; 16]> {
    if s.is_empty() || s.len() > 32 {
        return None;
    }
    // A 16-byte key is 22 characters; padded, exactly two `=` follow.
    let normalized: String = s
        .strip_suffix("==")
        .unwrap_or(s)
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    let bytes = URL_SAFE_NO_PAD.decode(normalized.as_bytes()).ok()?;
    bytes.try_into().ok()
}

/// The absolute public link of an image (with `?key=` when private).
pub fn public_url(state: &AppState, img: &StoredImage) -> String {
    let kind = img.record.kind;
    let uuid = Uuid::from_bytes(img.record.uuid);
    let mut url = format!(
        "{}/{}.{}",
        state.config.base_url(),
        uuid.hyphenated(),
        kind.ext()
    );
    if let Some(k) = &img.record.private_key {
        url.push_str("?key=");
        url.push_str(&encode_key(k));
    }
    url
}

/// Builds the image JSON; `deletion_token` only right after upload.
pub fn image_json(state: &AppState, img: &StoredImage, deletion_token: Option<&str>) -> ImageJson {
    let r = &img.record;
    let kind = r.kind;
    let uuid = Uuid::from_bytes(r.uuid).hyphenated().to_string();
    let url = public_url(state, img);
    ImageJson {
        id: img.id,
        filename: r.filename.clone(),
        extension: kind.ext(),
        size: r.size,
        uploaded_at: clock::rfc3339(r.uploaded_at),
        is_private: r.private_key.is_some(),
        views: img.views,
        width: r.width,
        height: r.height,
        content_type: kind.content_type(),
        hash: hex(&r.hash),
        full_link: url.clone(),
        thumbnail_url: thumbnail_url(state, img),
        page_url: page_url(state, img),
        thumb_url: format!("/api/proxy/thumb/{uuid}.{}", kind.ext()),
        deletion_url: deletion_token
            .map(|t| format!("{}/api/delete/{uuid}?token={t}", state.config.base_url())),
        url,
        uuid,
        expires_at: r.expires_at.map(clock::rfc3339),
        max_views: r.max_views,
        views_left: img.views_left(),
        owner: r.owner.clone(),
    }
}

/// The page URL of an image (`/v/{uuid}`, with `?key=` for a private one).
pub fn page_url(state: &AppState, img: &StoredImage) -> String {
    let raw = public_url(state, img);
    let uuid = Uuid::from_bytes(img.record.uuid).hyphenated().to_string();
    let key = raw
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    format!("{}/v/{uuid}{key}", state.config.base_url())
}

/// The absolute thumbnail link of an image: the public link with `/thumb`
/// before the file name (and the same `?key=` when private).
pub fn thumbnail_url(state: &AppState, img: &StoredImage) -> String {
    let url = public_url(state, img);
    let base = state.config.base_url();
    format!("{base}/thumb{}", &url[base.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE};
    use proptest::prelude::*;

    #[test]
    fn keys_decode_in_every_base64_spelling() {
        let k: [u8; 16] = [
            0xfb, 0xff, 0xbf, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0xfe,
        ];
        for enc in [
            URL_SAFE_NO_PAD.encode(k),
            URL_SAFE.encode(k),
            STANDARD.encode(k),
            STANDARD_NO_PAD.encode(k),
        ] {
            assert_eq!(decode_key(&enc), Some(k), "{enc}");
        }
        assert_eq!(encode_key(&k), URL_SAFE_NO_PAD.encode(k));
        for bad in [
            "",
            "%%%",
            "abc",
            &"A".repeat(10_000),
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            // Padding is `==` or nothing (found by the decode_key fuzz target).
            "AAAAAAAAAAAAAAAAAAAAAA=",
            "AAAAAAAAAAAAAAAAAAAAAA===",
        ] {
            assert_eq!(decode_key(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn decode_key_never_panics_and_accepts_only_16_bytes(s in "\\PC{0,64}") {
            if let Some(k) = decode_key(&s) {
                prop_assert_eq!(k.len(), 16);
            }
        }
    }
}
