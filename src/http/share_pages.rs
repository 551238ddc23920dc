//! The pages a shared link opens: an album's gallery (`/a/{id}`) and an
//! image's page (`/v/{uuid}`). Server-rendered HTML that needs no script to
//! view: a grid of lazy-loaded thumbnails whose links open the images; one
//! small same-origin script (`assets/admin/gallery.js`) adds a keyboard
//! lightbox on top. Light and dark follow `prefers-color-scheme`.
//!
//! Every page carries its link preview in `<head>`: Open Graph and Twitter
//! Card tags (`og:image` absolute, with width, height and type), the site
//! name, `theme-color`, and oEmbed discovery. The preview picture is chosen
//! by the handler so that fetching it never spends a view-limited image's
//! views (see `handlers::gallery`).
//!
//! The CSP allows only this origin's stylesheet and script (no inline code
//! at all) and images from this origin. Pages are deterministic for the same
//! data, so their ETag is a digest of the bytes.

use hyper::header::{self, HeaderValue};
use hyper::{HeaderMap, Response, StatusCode};

use crate::http::body::{self, Body};
use crate::http::conditional;
use crate::http::pages::escape;

/// The site name in titles and previews.
pub const SITE_NAME: &str = "pixbin";

/// The pages' Content Security Policy.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Theme colours of the page background (light, dark), for `theme-color`.
const THEME: (&str, &str) = ("#f6f7f9", "#111418");

/// The picture of a link preview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewImage {
    /// Absolute URL.
    pub url: String,
    /// Pixels.
    pub width: u32,
    /// Pixels.
    pub height: u32,
    /// Its media type.
    pub mime: &'static str,
    /// Alternative text.
    pub alt: String,
}

/// What a page's `<head>` says about it.
#[derive(Debug, Clone)]
pub struct Meta {
    /// The page title (without the site name).
    pub title: String,
    /// One or two sentences.
    pub description: String,
    /// The page's absolute, canonical URL.
    pub url: String,
    /// The preview picture, when one may be shown.
    pub image: Option<PreviewImage>,
    /// The oEmbed endpoint for this page (absolute), when it has one.
    pub oembed: Option<String>,
    /// Whether search engines may index it (public albums only).
    pub indexable: bool,
    /// `/admin/static-<version>`: where the stylesheet and script live.
    pub assets: String,
}

/// One tile of a gallery.
#[derive(Debug, Clone)]
pub struct Tile {
    /// The image's page or file, opened without script.
    pub href: String,
    /// The full image the lightbox shows.
    pub full: String,
    /// Its thumbnail (same origin).
    pub thumb: String,
    /// Thumbnail pixels.
    pub width: u32,
    /// Thumbnail pixels.
    pub height: u32,
    /// The file name, as alternative text and caption.
    pub name: String,
}

/// The size a thumbnail has: the image fitted within `max` pixels, never enlarged.
pub fn fit(width: u32, height: u32, max: u32) -> (u32, u32) {
    let (w, h) = (width.max(1), height.max(1));
    if w <= max && h <= max {
        return (w, h);
    }
    let scale = f64::from(max) / f64::from(w.max(h));
    let side = |v: u32| ((f64::from(v) * scale).round() as u32).clamp(1, max);
    (side(w), side(h))
}

fn head(m: &Meta) -> String {
    let mut h = String::with_capacity(2048);
    let t = escape(&m.title);
    let d = escape(&m.description);
    let u = escape(&m.url);
    h.push_str("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    h.push_str("<meta name=\"color-scheme\" content=\"light dark\">");
    h.push_str(&format!(
        "<title>{t} · {SITE_NAME}</title><meta name=\"description\" content=\"{d}\">\
<link rel=\"canonical\" href=\"{u}\">"
    ));
    if !m.indexable {
        h.push_str("<meta name=\"robots\" content=\"noindex, nofollow\">");
    }
    h.push_str(&format!(
        "<meta name=\"theme-color\" content=\"{}\" media=\"(prefers-color-scheme: light)\">\
<meta name=\"theme-color\" content=\"{}\" media=\"(prefers-color-scheme: dark)\">",
        THEME.0, THEME.1
    ));
    h.push_str(&format!(
        "<meta property=\"og:type\" content=\"website\"><meta property=\"og:site_name\" content=\"{SITE_NAME}\">\
<meta property=\"og:title\" content=\"{t}\"><meta property=\"og:description\" content=\"{d}\">\
<meta property=\"og:url\" content=\"{u}\">\
<meta name=\"twitter:title\" content=\"{t}\"><meta name=\"twitter:description\" content=\"{d}\">"
    ));
    match &m.image {
        Some(i) => h.push_str(&format!(
            "<meta property=\"og:image\" content=\"{url}\"><meta property=\"og:image:secure_url\" content=\"{url}\">\
<meta property=\"og:image:type\" content=\"{}\"><meta property=\"og:image:width\" content=\"{}\">\
<meta property=\"og:image:height\" content=\"{}\"><meta property=\"og:image:alt\" content=\"{alt}\">\
<meta name=\"twitter:card\" content=\"summary_large_image\"><meta name=\"twitter:image\" content=\"{url}\">\
<meta name=\"twitter:image:alt\" content=\"{alt}\">",
            i.mime,
            i.width,
            i.height,
            url = escape(&i.url),
            alt = escape(&i.alt),
        )),
        None => h.push_str("<meta name=\"twitter:card\" content=\"summary\">"),
    }
    if let Some(o) = &m.oembed {
        h.push_str(&format!(
            "<link rel=\"alternate\" type=\"application/json+oembed\" href=\"{}\" title=\"{t}\">",
            escape(o)
        ));
    }
    h.push_str(&format!(
        "<link rel=\"icon\" href=\"{a}/favicon.svg\" type=\"image/svg+xml\">\
<link rel=\"stylesheet\" href=\"{a}/gallery.css\"><script src=\"{a}/gallery.js\" defer></script></head>",
        a = escape(&m.assets),
    ));
    h
}

/// The lightbox's frame: hidden until the script opens it.
const LIGHTBOX: &str = "<div class=\"lb\" id=\"lightbox\" hidden role=\"dialog\" aria-modal=\"true\" aria-label=\"Image viewer\">\
<button type=\"button\" class=\"lb-close\" aria-label=\"Close (Escape)\">&#x2715;</button>\
<button type=\"button\" class=\"lb-prev\" aria-label=\"Previous image (Left arrow)\">&#x2039;</button>\
<figure><img class=\"lb-img\" alt=\"\"><figcaption class=\"lb-caption\"></figcaption></figure>\
<button type=\"button\" class=\"lb-next\" aria-label=\"Next image (Right arrow)\">&#x203A;</button></div>";

/// Tiles loaded at once (above the fold on most screens); the rest lazily.
const EAGER_TILES: usize = 4;

/// Where one page of a long gallery sits among its album's pages.
#[derive(Debug, Clone)]
pub struct Pager {
    /// Images of the whole album shown on all its pages.
    pub total: usize,
    /// This page, from 1.
    pub page: usize,
    /// How many pages there are.
    pub pages: usize,
    /// The previous page's URL, if any.
    pub prev: Option<String>,
    /// The next page's URL, if any.
    pub next: Option<String>,
}

impl Pager {
    /// Links to the neighbouring pages, `<link>`s for the head or `<a>`s
    /// for the body: plain links, so paging needs no script.
    fn links(&self, tag: &str, prev: &str, next: &str) -> String {
        let mut out = String::new();
        for (rel, href, text) in [("prev", &self.prev, prev), ("next", &self.next, next)] {
            if let Some(href) = href {
                let href = escape(href);
                out.push_str(&match tag {
                    "link" => format!("<link rel=\"{rel}\" href=\"{href}\">"),
                    _ => format!("<a rel=\"{rel}\" href=\"{href}\">{text}</a> "),
                });
            }
        }
        out
    }
}

/// A gallery page: the whole album, or one page of it with `pager`.
pub fn gallery(m: &Meta, tiles: &[Tile], zip_url: Option<&str>, pager: Option<&Pager>) -> String {
    let mut h = head(m);
    if let Some(p) = pager {
        let at = h.len() - "</head>".len();
        h.insert_str(at, &p.links("link", "", ""));
    }
    let total = pager.map_or(tiles.len(), |p| p.total);
    h.push_str("<body><header class=\"top\"><h1>");
    h.push_str(&escape(&m.title));
    h.push_str("</h1>");
    if !m.description.is_empty() {
        h.push_str(&format!("<p class=\"desc\">{}</p>", escape(&m.description)));
    }
    h.push_str(&format!(
        "<p class=\"meta\">{} image{}",
        total,
        if total == 1 { "" } else { "s" }
    ));
    if let Some(z) = zip_url.filter(|_| total > 0) {
        h.push_str(&format!(
            " · <a href=\"{}\" download>Download all (zip)</a>",
            escape(z)
        ));
    }
    h.push_str("</p></header><main>");
    if tiles.is_empty() {
        h.push_str("<p class=\"empty\">This album has no images to show.</p>");
    }
    h.push_str("<ul class=\"grid\">");
    for (i, t) in tiles.iter().enumerate() {
        let loading = if i < EAGER_TILES { "eager" } else { "lazy" };
        h.push_str(&format!(
            "<li><a class=\"tile\" href=\"{href}\" data-full=\"{full}\"><img src=\"{src}\" \
srcset=\"{src} {w}w\" sizes=\"(max-width: 480px) 50vw, (max-width: 900px) 33vw, 240px\" \
width=\"{w}\" height=\"{h}\" loading=\"{loading}\" decoding=\"async\" alt=\"{alt}\"></a></li>",
            href = escape(&t.href),
            full = escape(&t.full),
            src = escape(&t.thumb),
            w = t.width,
            h = t.height,
            alt = escape(&t.name),
        ));
    }
    h.push_str("</ul>");
    if let Some(p) = pager.filter(|p| p.pages > 1) {
        h.push_str(&format!(
            "<nav class=\"pager\">{}<span>Page {} of {}</span></nav>",
            p.links("a", "&#x2039; Previous", "Next &#x203A;"),
            p.page,
            p.pages
        ));
    }
    h.push_str("</main>");
    h.push_str(LIGHTBOX);
    h.push_str("</body></html>");
    h
}

/// One album on the public index.
#[derive(Debug, Clone)]
pub struct IndexEntry {
    /// Its gallery.
    pub href: String,
    /// Its title.
    pub title: String,
    /// Its cover's thumbnail and that thumbnail's size, when it has one to show.
    pub cover: Option<(String, u32, u32)>,
}

/// The public album index (`/a/`): public albums only, never unlisted ones.
pub fn index(m: &Meta, albums: &[IndexEntry]) -> String {
    let mut h = head(m);
    h.push_str(&format!(
        "<body><header class=\"top\"><h1>{}</h1><p class=\"desc\">{}</p></header><main>",
        escape(&m.title),
        escape(&m.description)
    ));
    if albums.is_empty() {
        h.push_str("<p class=\"empty\">No public albums yet.</p>");
    }
    h.push_str("<ul class=\"grid\">");
    for (i, a) in albums.iter().enumerate() {
        let picture = match &a.cover {
            Some((src, w, hgt)) => format!(
                "<img src=\"{}\" width=\"{w}\" height=\"{hgt}\" loading=\"{}\" decoding=\"async\" alt=\"\">",
                escape(src),
                if i < EAGER_TILES { "eager" } else { "lazy" }
            ),
            None => "<span class=\"no-cover\"></span>".to_string(),
        };
        h.push_str(&format!(
            "<li><a class=\"card\" href=\"{}\">{picture}<span class=\"card-title\">{}</span></a></li>",
            escape(&a.href),
            escape(&a.title)
        ));
    }
    h.push_str("</ul></main></body></html>");
    h
}

/// What an image page shows of the image.
#[derive(Debug, Clone, Copy)]
pub enum Picture<'a> {
    /// The image itself, loaded with the page.
    Shown {
        /// Its URL.
        src: &'a str,
        /// Pixels.
        width: u32,
        /// Pixels.
        height: u32,
    },
    /// A link the visitor follows to see it: a view-limited image, whose
    /// every load spends a view, so nothing that reads the page (a chat
    /// unfurler, a prefetcher, a parser falling back to the first `<img>`)
    /// may load it by itself.
    OnRequest {
        /// Its URL.
        src: &'a str,
    },
}

/// An image page: the image (or a link to it), its name and upload date.
pub fn image(m: &Meta, picture: Picture<'_>, name: &str, date: &str) -> String {
    let mut h = head(m);
    let shown = match picture {
        Picture::Shown { src, width, height } => format!(
            "<a href=\"{src}\"><img src=\"{src}\" width=\"{width}\" height=\"{height}\" alt=\"{alt}\"></a>",
            src = escape(src),
            alt = escape(name),
        ),
        Picture::OnRequest { src } => format!(
            "<p class=\"limited\">This image can be opened a limited number of times.</p>\
<p><a class=\"open\" href=\"{}\" rel=\"nofollow noopener\">Open the image</a></p>",
            escape(src)
        ),
    };
    h.push_str(&format!(
        "<body class=\"single\"><main><figure class=\"one\">{shown}<figcaption><h1>{alt}</h1>\
<p class=\"meta\">Uploaded <time datetime=\"{date}\">{day}</time></p></figcaption></figure></main></body></html>",
        alt = escape(name),
        date = escape(date),
        day = escape(date.get(..10).unwrap_or(date)),
    ));
    h
}

/// The response for a page: its CSP, a digest ETag (`If-None-Match` -> 304)
/// and `cache` as `Cache-Control`.
pub fn respond(req_headers: &HeaderMap, html: String, cache: &'static str) -> Response<Body> {
    let etag = format!("\"{}\"", &blake3::hash(html.as_bytes()).to_hex()[..32]);
    let not_modified = matches!(
        conditional::evaluate(req_headers, &etag, 0),
        conditional::Outcome::NotModified
    ) && req_headers.contains_key(header::IF_NONE_MATCH);
    let mut res = if not_modified {
        let mut r = Response::new(body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        body::html(StatusCode::OK, html)
    };
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(image: Option<PreviewImage>) -> Meta {
        Meta {
            title: "Trip <2024>".into(),
            description: "Ten \"shots\"".into(),
            url: "https://x.example/a/ID".into(),
            image,
            oembed: Some(
                "https://x.example/api/oembed?url=https%3A%2F%2Fx.example%2Fa%2FID".into(),
            ),
            indexable: false,
            assets: "/admin/static-v".into(),
        }
    }

    #[test]
    fn thumbnails_fit_and_never_grow() {
        assert_eq!(fit(640, 480, 320), (320, 240));
        assert_eq!(fit(100, 2000, 320), (16, 320));
        assert_eq!(fit(10, 20, 320), (10, 20));
        assert_eq!(fit(0, 0, 320), (1, 1));
    }

    #[test]
    fn previews_are_escaped_and_complete() {
        let page = gallery(
            &meta(Some(PreviewImage {
                url: "https://x.example/u.png".into(),
                width: 640,
                height: 480,
                mime: "image/png",
                alt: "a\"b".into(),
            })),
            &[],
            Some("/a/ID.zip"),
            None,
        );
        for needle in [
            "<title>Trip &lt;2024&gt; · pixbin</title>",
            "<meta property=\"og:title\" content=\"Trip &lt;2024&gt;\">",
            "<meta property=\"og:description\" content=\"Ten &quot;shots&quot;\">",
            "<meta property=\"og:image\" content=\"https://x.example/u.png\">",
            "<meta property=\"og:image:width\" content=\"640\">",
            "<meta property=\"og:image:type\" content=\"image/png\">",
            "<meta property=\"og:site_name\" content=\"pixbin\">",
            "<meta name=\"twitter:card\" content=\"summary_large_image\">",
            "name=\"theme-color\"",
            "type=\"application/json+oembed\"",
            "<meta name=\"robots\" content=\"noindex, nofollow\">",
            "This album has no images to show.",
        ] {
            assert!(page.contains(needle), "{needle} in {page}");
        }
        // No inline script or style: the CSP allows none.
        assert!(!page.contains("<script>") && !page.contains("<style"));
        // Nothing to download in an empty album.
        assert!(!page.contains(".zip"));
        let bare = gallery(&meta(None), &[], None, None);
        assert!(!bare.contains("og:image"));
        assert!(bare.contains("<meta name=\"twitter:card\" content=\"summary\">"));
    }

    #[test]
    fn unchanged_pages_answer_304() {
        let first = respond(&HeaderMap::new(), "<p>x".into(), "no-cache");
        let etag = first.headers()[header::ETAG].clone();
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, etag);
        assert_eq!(
            respond(&h, "<p>x".into(), "no-cache").status(),
            StatusCode::NOT_MODIFIED
        );
        assert_eq!(
            respond(&h, "<p>y".into(), "no-cache").status(),
            StatusCode::OK
        );
    }
}
