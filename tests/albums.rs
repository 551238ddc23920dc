//! Albums and sharing, as a user meets them:
//! - an album is created, renamed, described, reordered, given a cover, and
//!   images are added and removed; bad input is a JSON 400 that changes nothing;
//! - deleting an image takes it out of its albums; deleting an album keeps its images;
//! - an upload with `X-Pixbin-Album` (the `.sxcu` header) or the `album` field
//!   lands in the album; an album that is not the caller's refuses the upload
//!   and stores nothing;
//! - the gallery page shows only images strangers may see (no private, no
//!   view-limited one), in order, with link-preview tags whose image URL
//!   answers 200 with an image type; a private album is 404 to strangers;
//!   an unlisted one is `noindex`; an expired one is gone, and swept; a long
//!   one is paged, 100 images a page, with plain prev/next links;
//! - the image page previews a view-limited image without spending its views;
//! - oEmbed describes both pages;
//! - the album zip holds exactly the shown images, byte-exact, with
//!   de-duplicated names, and Info-ZIP's `unzip -t` accepts it; the library
//!   selection zip takes private images too.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn create(app: &TestApp, body: Value) -> Value {
    let res = app.post_json("/api/albums", &body).await;
    let status = res.status();
    let v: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v
}

fn ids(album: &Value) -> Vec<u64> {
    album["imageIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect()
}

/// The `content` of `<meta property|name="{key}" content="…">` in a page.
fn meta(page: &str, key: &str) -> Option<String> {
    for attr in ["property", "name"] {
        let needle = format!("<meta {attr}=\"{key}\" content=\"");
        if let Some(i) = page.find(&needle) {
            let rest = &page[i + needle.len()..];
            return Some(rest[..rest.find('"').unwrap()].replace("&amp;", "&"));
        }
    }
    None
}

#[tokio::test]
async fn albums_are_made_changed_and_emptied_through_the_api() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    let a = app.upload_ok(bmp(8, 8, 1), "a.bmp").await;
    let b = app.upload_ok(bmp(8, 8, 2), "b.bmp").await;
    let c = app.upload_ok(bmp(8, 8, 3), "c.bmp").await;
    let id = |v: &Value| v["id"].as_u64().unwrap();

    let album = create(
        &app,
        json!({"title": "Trip", "images": [id(&a), id(&b)], "visibility": "public"}),
    )
    .await;
    let aid = album["id"].as_str().unwrap().to_string();
    assert_eq!(aid.len(), 22);
    assert_eq!(ids(&album), vec![id(&a), id(&b)]);
    assert_eq!(album["visibility"], "public");
    assert_eq!(album["images"][1]["filename"], "b.bmp");
    assert!(
        album["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/a/{aid}"))
    );
    assert!(
        album["links"]["markdown"]
            .as_str()
            .unwrap()
            .contains(&format!("/a/{aid})"))
    );
    let path = format!("/api/albums/{aid}");

    // Rename, describe, cover.
    let res = app
        .with_csrf(reqwest::Method::PATCH, &path)
        .json(&json!({"title": "Trip 2", "description": "By the sea", "cover": id(&b)}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        (v["title"].as_str(), v["cover"].as_u64()),
        (Some("Trip 2"), Some(id(&b)))
    );

    // Append (one already there stays put), then reorder and drop one.
    let v: Value = app
        .post_json(&format!("{path}/images"), &json!({"ids": [id(&c), id(&a)]}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&v), vec![id(&a), id(&b), id(&c)]);
    let res = app
        .with_csrf(reqwest::Method::PUT, &format!("{path}/images"))
        .json(&json!({"ids": [id(&c), id(&a)]}))
        .send()
        .await
        .unwrap();
    let v: Value = res.json().await.unwrap();
    assert_eq!(ids(&v), vec![id(&c), id(&a)]);
    assert_eq!(v["cover"], Value::Null, "the cover left the album");

    // Bad input: a JSON 400 and nothing changed.
    for body in [
        json!({"ids": [id(&a), id(&a)]}),
        json!({"ids": [999_999]}),
        json!({"ids": "x"}),
        json!({"ids": [id(&a)], "extra": 1}),
    ] {
        let res = app
            .with_csrf(reqwest::Method::PUT, &format!("{path}/images"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body}");
        let e: Value = res.json().await.unwrap();
        assert!(e["code"].is_string() && e["error"].is_string(), "{e}");
    }
    for body in [
        json!({"visibility": "secret"}),
        json!({"title": ""}),
        json!({"cover": id(&b)}),
    ] {
        let res = app
            .with_csrf(reqwest::Method::PATCH, &path)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    let now = app.get_json(&path).await;
    assert_eq!(
        (ids(&now), now["title"].as_str()),
        (vec![id(&c), id(&a)], Some("Trip 2"))
    );

    // Guards: a stranger gets 401, a malformed or unknown id 404.
    assert_eq!(
        fetch(app.url(&path)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/albums/nope").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/api/albums/AAAAAAAAAAAAAAAAAAAAAA").await.status(),
        StatusCode::NOT_FOUND
    );
    let list = app.get_json("/api/albums").await;
    assert_eq!(list["albums"].as_array().unwrap().len(), 1);

    // Deleting an image takes it out; deleting the album keeps the images.
    assert_eq!(app.delete_image(&c).await.status(), StatusCode::OK);
    assert_eq!(ids(&app.get_json(&path).await), vec![id(&a)]);
    assert_eq!(app.delete(&path).await.status(), StatusCode::OK);
    assert_eq!(app.get(&path).await.status(), StatusCode::NOT_FOUND);
    for img in [&a, &b] {
        let res = app.get(&format!("/api/images/{}", id(img))).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn uploads_land_in_the_album_they_name_and_only_in_the_callers() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    let album = create(&app, json!({"title": "Shots"})).await;
    let aid = album["id"].as_str().unwrap();

    // The ShareX way: the key as Bearer and the album as a header, raw body too.
    let res = app
        .upload_raw(
            "/api/upload?filename=s.bmp",
            &[("Content-Type", "image/bmp"), ("X-Pixbin-Album", aid)],
            bmp(8, 8, 10),
        )
        .await;
    let status = res.status();
    let v: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["album"], aid);
    let first = v["id"].as_u64().unwrap();
    // The form field.
    let v = app
        .upload_with_ok(bmp(8, 8, 11), "f.bmp", &[("album", aid)])
        .await;
    let second = v["id"].as_u64().unwrap();
    let now = app.get_json(&format!("/api/albums/{aid}")).await;
    assert_eq!(ids(&now), vec![first, second]);

    // An album that does not exist (or is not the caller's): refused, nothing stored.
    let before = app.totals().images;
    for bad in ["AAAAAAAAAAAAAAAAAAAAAA", "not-an-album"] {
        let res = app
            .upload_with(bmp(8, 8, 12), "x.bmp", &[("album", bad)])
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let e: Value = res.json().await.unwrap();
        assert_eq!(e["code"], "invalid_album", "{e}");
    }
    assert_eq!(app.totals().images, before);
}

/// Three uploads: a public `w` x `h` image named `name`, a private one
/// (`secret.bmp`) and a view-limited one (`once.bmp`), pixels from `seed` on.
async fn three_kinds(app: &TestApp, name: &str, (w, h): (u32, u32), seed: u64) -> [Value; 3] {
    let public = app.upload_ok(bmp(w, h, seed), name).await;
    let private = app
        .upload_with_ok(bmp(8, 8, seed + 1), "secret.bmp", &[("private", "true")])
        .await;
    let limited = app
        .upload_with_ok(bmp(8, 8, seed + 2), "once.bmp", &[("max_views", "1")])
        .await;
    [public, private, limited]
}

/// A public album holding a public image, a private one and a view-limited one.
async fn mixed_album(app: &TestApp, visibility: &str) -> (String, Value, Value, Value) {
    let [public, private, limited] = three_kinds(app, "sea.bmp", (64, 48), 20).await;
    let album = create(
        app,
        json!({
            "title": "Holiday <2024>",
            "description": "Pictures & more",
            "visibility": visibility,
            "images": [private["id"], limited["id"], public["id"]],
            "cover": private["id"],
        }),
    )
    .await;
    (
        album["id"].as_str().unwrap().to_string(),
        public,
        private,
        limited,
    )
}

#[tokio::test]
async fn the_gallery_shows_only_what_strangers_may_see_with_a_working_preview() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    let (aid, public, private, limited) = mixed_album(&app, "public").await;
    let res = fetch(app.url(&format!("/a/{aid}"))).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(content_type(&res).starts_with("text/html"));
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(
        res.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("private")
    );
    let etag = res.headers()["etag"].clone();
    let page = res.text().await.unwrap();

    let uuid = |v: &Value| v["uuid"].as_str().unwrap().to_string();
    assert!(page.contains(&uuid(&public)));
    assert!(
        !page.contains(&uuid(&private)),
        "a private image in a public album"
    );
    assert!(
        !page.contains(&uuid(&limited)),
        "a view-limited image in a gallery"
    );
    assert!(page.contains("<h1>Holiday &lt;2024&gt;</h1>"));
    assert!(page.contains("loading=\"eager\"") || page.contains("loading=\"lazy\""));
    assert!(
        !page.contains("name=\"robots\""),
        "a public album may be indexed"
    );

    // The preview: the cover is private, so the first shown image stands in.
    assert_eq!(meta(&page, "og:title").unwrap(), "Holiday &lt;2024&gt;");
    assert_eq!(meta(&page, "og:description").unwrap(), "Pictures & more");
    assert_eq!(meta(&page, "og:site_name").unwrap(), "pixbin");
    assert!(meta(&page, "theme-color").is_some());
    let image = meta(&page, "og:image").unwrap();
    assert!(
        image.starts_with("http://") && image.contains(&uuid(&public)),
        "{image}"
    );
    assert_eq!(meta(&page, "og:image:width").unwrap(), "64");
    assert_eq!(meta(&page, "og:image:height").unwrap(), "48");
    assert_eq!(meta(&page, "og:image:type").unwrap(), "image/bmp");
    let pic = fetch(&image).await;
    assert_eq!(pic.status(), StatusCode::OK);
    assert!(content_type(&pic).starts_with("image/"));

    // Unchanged: 304 on revalidation.
    let again = fetch_with(
        app.url(&format!("/a/{aid}")),
        &[("If-None-Match", etag.to_str().unwrap())],
    )
    .await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    // oEmbed discovery and answer.
    let page_url = app.url(&format!("/a/{aid}"));
    assert!(page.contains("type=\"application/json+oembed\""));
    let o: Value = fetch(format!("{}/api/oembed?url={}", app.base, page_url))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (o["version"].as_str(), o["type"].as_str()),
        (Some("1.0"), Some("link"))
    );
    assert!(
        o["thumbnail_url"]
            .as_str()
            .unwrap()
            .contains(&uuid(&public))
    );

    // The lightbox script and stylesheet load from this origin.
    for asset in ["gallery.js", "gallery.css"] {
        let at = page.find(asset).unwrap();
        let start = page[..at].rfind('"').unwrap() + 1;
        let url = &page[start..at + asset.len()];
        assert_eq!(fetch(url).await.status(), StatusCode::OK, "{url}");
    }
}

#[tokio::test]
async fn private_unlisted_and_expired_albums_keep_to_their_rules() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    let (private_album, ..) = mixed_album(&app, "private").await;
    let path = format!("/a/{private_album}");
    let res = fetch(app.url(&path)).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(content_type(&res).starts_with("text/html"));
    assert_eq!(
        fetch(app.url(&format!("{path}.zip"))).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&path).await.status(),
        StatusCode::OK,
        "its owner sees it"
    );
    let o = fetch(format!("{}/api/oembed?url={}", app.base, app.url(&path))).await;
    assert_eq!(o.status(), StatusCode::NOT_FOUND);

    let unlisted = create(&app, json!({"title": "Link only"})).await;
    assert_eq!(unlisted["visibility"], "unlisted");
    let page = fetch(app.url(&format!("/a/{}", unlisted["id"].as_str().unwrap())))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("<meta name=\"robots\" content=\"noindex, nofollow\">"));

    // Only public albums are listed; the unlisted and the private one are not.
    let public = create(&app, json!({"title": "Open house", "visibility": "public"})).await;
    let index = fetch(app.url("/a/")).await.text().await.unwrap();
    assert!(index.contains(public["id"].as_str().unwrap()), "{index}");
    assert!(index.contains("Open house"));
    for hidden in [unlisted["id"].as_str().unwrap(), private_album.as_str()] {
        assert!(!index.contains(hidden), "{hidden} listed publicly");
    }

    let expiring = create(&app, json!({"title": "Soon", "expiresAt": "1s"})).await;
    let path = format!("/a/{}", expiring["id"].as_str().unwrap());
    assert_eq!(fetch(app.url(&path)).await.status(), StatusCode::OK);
    let url = app.url(&path);
    let mut gone = false;
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if fetch(&url).await.status() == StatusCode::NOT_FOUND {
            gone = true;
            break;
        }
    }
    assert!(gone, "an expired album stays reachable");
    // The lifecycle sweeper deletes its row, though nobody lists albums.
    let id = pixbin::store::albums::AlbumId::parse(expiring["id"].as_str().unwrap()).unwrap();
    let swept = poll_until(std::time::Duration::from_secs(20), || {
        app.state.store.album(id).unwrap().is_none()
    })
    .await;
    assert!(swept, "the sweeper left an expired album's row");
}

#[tokio::test]
async fn image_pages_preview_without_spending_views() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    let [plain, private, limited] = three_kinds(&app, "plain shot.bmp", (40, 30), 30).await;
    let page_of = |v: &Value| format!("/v/{}", v["uuid"].as_str().unwrap());

    let page = fetch(app.url(&page_of(&plain))).await.text().await.unwrap();
    assert_eq!(meta(&page, "og:title").unwrap(), "plain shot.bmp");
    assert!(meta(&page, "og:description").unwrap().contains("40×30"));
    assert_eq!(
        meta(&page, "og:image").unwrap(),
        plain["url"].as_str().unwrap()
    );
    assert!(page.contains("<time datetime="));

    // A view-limited image: the page and its card spend nothing.
    for _ in 0..3 {
        let res = fetch(app.url(&page_of(&limited))).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["cache-control"], "private, no-store");
        let page = res.text().await.unwrap();
        assert!(
            meta(&page, "og:image").is_none(),
            "a card that would spend a view"
        );
        // Nor an <img> a parser would fall back to: the visitor opens it.
        assert!(!page.contains("<img"), "{page}");
        assert!(page.contains(&format!("href=\"{}\"", limited["url"].as_str().unwrap())));
        assert!(meta(&page, "og:title").is_some());
    }
    let o: Value = fetch(format!(
        "{}/api/oembed?url={}",
        app.base,
        app.url(&page_of(&limited))
    ))
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(o["type"], "link");
    let id = limited["id"].as_u64().unwrap();
    let now = app.get_json(&format!("/api/images/{id}")).await;
    assert_eq!(now["viewsLeft"], 1, "{now}");
    // The one view is still there for the person who opens the link.
    assert_eq!(
        fetch(limited["url"].as_str().unwrap()).await.status(),
        StatusCode::OK
    );

    // A private image's page needs its key, like its link.
    assert_eq!(
        fetch(app.url(&page_of(&private))).await.status(),
        StatusCode::NOT_FOUND
    );
    let url = private["url"].as_str().unwrap();
    let key = &url[url.find('?').unwrap()..];
    let res = fetch(app.url(&format!("{}{key}", page_of(&private)))).await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    let image = meta(&page, "og:image").unwrap();
    assert_eq!(fetch(&image).await.status(), StatusCode::OK);
    let o: Value = fetch(format!(
        "{}/api/oembed?url={}",
        app.base,
        app.url(&format!(
            "{}{}",
            page_of(&private),
            key.replace('?', "%3F").replace('=', "%3D")
        ))
    ))
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(o["type"], "photo", "{o}");
}

/// Runs `unzip` with `args` on `zip`; its stdout.
fn unzip(args: &[&str], zip: &std::path::Path) -> Option<Vec<u8>> {
    let out = std::process::Command::new("unzip")
        .args(args)
        .arg(zip)
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    Some(out.stdout)
}

#[tokio::test]
async fn album_zips_hold_the_shown_images_byte_exact() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    let (aid, public, private, _limited) = mixed_album(&app, "unlisted").await;
    // Two more with the same name: de-duplicated in the archive.
    let twin_a = bmp(16, 16, 40);
    let twin_b = bmp(16, 16, 41);
    let ta = app.upload_ok(twin_a.clone(), "../twin.bmp").await;
    let tb = app.upload_ok(twin_b.clone(), "twin.bmp").await;
    let path = format!("/api/albums/{aid}/images");
    let res = app
        .post_json(&path, &json!({"ids": [ta["id"], tb["id"]]}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let res = fetch(app.url(&format!("/a/{aid}.zip"))).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(content_type(&res), "application/zip");
    assert_eq!(res.headers()["cache-control"], "private, no-store");
    let disposition = res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    let bytes = res.bytes().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("album.zip");
    std::fs::write(&zip, &bytes).unwrap();

    let Some(listing) = unzip(&["-Z1"], &zip) else {
        eprintln!("unzip not installed; archive checks skipped");
        return;
    };
    let names: Vec<String> = String::from_utf8(listing)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(names, ["sea.bmp", "twin.bmp", "twin (2).bmp"]);
    let test = String::from_utf8(unzip(&["-t"], &zip).unwrap()).unwrap();
    assert!(test.contains("No errors detected"), "{test}");
    let sea = fetch_bytes(public["url"].as_str().unwrap()).await;
    for (name, want) in [
        ("sea.bmp", &sea),
        ("twin.bmp", &twin_a),
        ("twin (2).bmp", &twin_b),
    ] {
        let out = std::process::Command::new("unzip")
            .arg("-p")
            .arg(&zip)
            .arg(name)
            .output()
            .unwrap();
        assert!(&out.stdout == want, "{name} differs");
    }
    // Nothing private in it, by content either.
    let secret = app
        .get(&format!(
            "/api/proxy/{}.bmp",
            private["uuid"].as_str().unwrap()
        ))
        .await
        .bytes()
        .await
        .unwrap();
    assert!(!bytes.windows(secret.len()).any(|w| w == &secret[..]));

    // The library selection: private images included, for the session only.
    let body = json!({"ids": [private["id"], public["id"]]});
    let res = app.post_json("/api/images/zip", &body).await;
    assert_eq!(res.status(), StatusCode::OK);
    std::fs::write(&zip, res.bytes().await.unwrap()).unwrap();
    let names = String::from_utf8(unzip(&["-Z1"], &zip).unwrap()).unwrap();
    assert_eq!(names.lines().collect::<Vec<_>>(), ["secret.bmp", "sea.bmp"]);
    let res = client()
        .post(app.url("/api/images/zip"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_long_gallery_is_paged_with_plain_links() {
    let mut app = spawn_app().await;
    app.login_admin().await;
    let mut uuids = Vec::new();
    let mut ids = Vec::new();
    for i in 0..101 {
        let v = app.upload_ok(bmp(3, 3, 500 + i), "p.bmp").await;
        uuids.push(v["uuid"].as_str().unwrap().to_string());
        ids.push(v["id"].as_u64().unwrap());
    }
    let album = create(&app, json!({"title": "Long", "images": ids})).await;
    let url = app.url(&format!("/a/{}", album["id"].as_str().unwrap()));
    let tiles = |page: &str| page.matches("class=\"tile\"").count();
    // A tile's link (the cover also shows in the preview tags of every page).
    let tile = |page: &str, i: usize| page.contains(&format!("/{}.bmp\" data-full", uuids[i]));

    let first = fetch(&url).await.text().await.unwrap();
    assert_eq!(tiles(&first), 100);
    assert!(tile(&first, 0) && tile(&first, 99) && !tile(&first, 100));
    assert!(first.contains("101 images") && first.contains("Page 1 of 2"));
    let next = format!("href=\"{url}?page=2\"");
    assert!(
        first.contains(&format!("<link rel=\"next\" {next}>")),
        "{first}"
    );
    assert!(first.contains(&format!("<a rel=\"next\" {next}>")));
    assert!(!first.contains("rel=\"prev\""));

    let second = fetch(format!("{url}?page=2")).await.text().await.unwrap();
    assert_eq!(tiles(&second), 1);
    assert!(tile(&second, 100) && !tile(&second, 0));
    assert!(second.contains(&format!("<a rel=\"prev\" href=\"{url}\">")));
    assert!(!second.contains("rel=\"next\""));
    // The zip is still the whole album's.
    assert!(second.contains(&format!("{url}.zip")));

    assert_eq!(
        fetch(format!("{url}?page=3")).await.status(),
        StatusCode::NOT_FOUND
    );
    for bad in ["0", "x", "-1", "%2B2"] {
        let res = fetch(format!("{url}?page={bad}")).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "page={bad}");
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["code"], "invalid_request", "{v}");
    }

    // A short album has one page and no pager.
    let short = create(&app, json!({"title": "Short", "images": [ids[0]]})).await;
    let page = fetch(app.url(&format!("/a/{}", short["id"].as_str().unwrap())))
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("rel=\"next\"") && !page.contains("Page 1"));
}
