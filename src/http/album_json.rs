//! The album JSON of the API and an album's links: the gallery page, its zip,
//! and the copy-as forms (raw, Markdown, BBCode, HTML) the admin UI offers.

use serde::Serialize;
use uuid::Uuid;

use crate::clock;
use crate::http::pages::escape;
use crate::state::AppState;
use crate::store::StoredImage;
use crate::store::albums::AlbumId;
use crate::store::codec::{AlbumRecord, Visibility};

/// The album JSON.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlbumJson {
    id: String,
    title: String,
    description: String,
    visibility: &'static str,
    owner: String,
    created_at: String,
    updated_at: String,
    expires_at: Option<String>,
    cover: Option<u64>,
    image_ids: Vec<u64>,
    image_count: usize,
    /// The gallery page (absolute).
    url: String,
    /// The zip of what strangers see (absolute).
    zip_url: String,
    /// The session's thumbnail of the cover, for the UI's list.
    cover_thumb_url: Option<String>,
    /// Copy-as forms of the gallery link.
    links: Links,
}

/// The ways to paste an album link.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Links {
    raw: String,
    markdown: String,
    bbcode: String,
    html: String,
}

/// The wire name of a visibility.
pub fn visibility_name(v: Visibility) -> &'static str {
    match v {
        Visibility::Public => "public",
        Visibility::Unlisted => "unlisted",
        Visibility::Private => "private",
    }
}

/// The absolute gallery link of an album.
pub fn gallery_url(state: &AppState, id: AlbumId) -> String {
    format!("{}/a/{id}", state.config.base_url())
}

/// The copy-as forms of a gallery link; with a picture (an absolute URL a
/// stranger can load, i.e. a public thumbnail) the embeds show it.
pub fn links(url: &str, title: &str, picture: Option<&str>) -> Links {
    // Markdown link text: brackets would end it early.
    let md_title: String = title
        .chars()
        .map(|c| if matches!(c, '[' | ']') { ' ' } else { c })
        .collect();
    // BBCode has no escaping: tags in a title are dropped to plain brackets.
    let bb_title: String = title
        .chars()
        .map(|c| match c {
            '[' => '(',
            ']' => ')',
            c => c,
        })
        .collect();
    let (markdown, bbcode, html) = match picture {
        Some(p) => (
            format!("[![{md_title}]({p})]({url})"),
            format!("[url={url}][img]{p}[/img][/url]"),
            format!(
                "<a href=\"{}\"><img src=\"{}\" alt=\"{}\"></a>",
                escape(url),
                escape(p),
                escape(title)
            ),
        ),
        None => (
            format!("[{md_title}]({url})"),
            format!("[url={url}]{bb_title}[/url]"),
            format!("<a href=\"{}\">{}</a>", escape(url), escape(title)),
        ),
    };
    Links {
        raw: url.to_string(),
        markdown,
        bbcode,
        html,
    }
}

/// The public thumbnail of an image shown to strangers (absolute).
pub fn public_thumb(state: &AppState, img: &StoredImage) -> String {
    format!(
        "{}/thumb/{}.{}",
        state.config.base_url(),
        Uuid::from_bytes(img.record.uuid).hyphenated(),
        img.record.kind.ext()
    )
}

/// Builds the album JSON; `cover` is the cover image when it exists.
pub fn album_json(
    state: &AppState,
    id: AlbumId,
    a: &AlbumRecord,
    cover: Option<&StoredImage>,
) -> AlbumJson {
    let url = gallery_url(state, id);
    let now = clock::now_ms();
    // The embed shows the cover only where a stranger could load it.
    let picture = cover
        .filter(|c| {
            a.visibility != Visibility::Private && crate::albums::shown_to_strangers(c, now)
        })
        .map(|c| public_thumb(state, c));
    AlbumJson {
        id: id.to_string(),
        title: a.title.clone(),
        description: a.description.clone(),
        visibility: visibility_name(a.visibility),
        owner: a.owner.clone(),
        created_at: clock::rfc3339(a.created_at),
        updated_at: clock::rfc3339(a.updated_at),
        expires_at: a.expires_at.map(clock::rfc3339),
        cover: a.cover,
        image_ids: a.images.clone(),
        image_count: a.images.len(),
        zip_url: format!("{url}.zip"),
        cover_thumb_url: cover.map(|c| {
            format!(
                "/api/proxy/thumb/{}.{}",
                Uuid::from_bytes(c.record.uuid).hyphenated(),
                c.record.kind.ext()
            )
        }),
        links: links(&url, &a.title, picture.as_deref()),
        url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_forms_escape_what_each_syntax_needs() {
        let l = links("https://x/a/ID", "<Trip> [2024]", None);
        assert_eq!(l.raw, "https://x/a/ID");
        assert_eq!(l.markdown, "[<Trip>  2024 ](https://x/a/ID)");
        assert_eq!(l.bbcode, "[url=https://x/a/ID]<Trip> (2024)[/url]");
        assert_eq!(l.html, "<a href=\"https://x/a/ID\">&lt;Trip&gt; [2024]</a>");
        let p = links("https://x/a/ID", "T", Some("https://x/thumb/u.png"));
        assert_eq!(p.markdown, "[![T](https://x/thumb/u.png)](https://x/a/ID)");
        assert_eq!(
            p.bbcode,
            "[url=https://x/a/ID][img]https://x/thumb/u.png[/img][/url]"
        );
        assert_eq!(
            p.html,
            "<a href=\"https://x/a/ID\"><img src=\"https://x/thumb/u.png\" alt=\"T\"></a>"
        );
    }
}
