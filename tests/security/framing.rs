//! Lying and ambiguous request framing (A07, A08): a body shorter than its
//! Content-Length is refused and stores nothing; bytes past a short
//! Content-Length are a new, unauthenticated request; Transfer-Encoding plus
//! Content-Length, a non-chunked Transfer-Encoding or two Content-Lengths get
//! one interpretation only.

use super::*;
use reqwest::StatusCode;

/// A07: Content-Length larger than the bytes sent (then the client closes), and
/// smaller than the body (the rest spills into the keep-alive stream).
#[tokio::test]
async fn a07_content_length_lies_are_refused_and_never_smuggle() {
    let app = spawn_app().await;
    let png = fixture("real/logo.png");
    // A complete form, but Content-Length promises 1000 bytes more: the form
    // parser alone would be satisfied at the closing boundary.
    let body = form(&[RawPart::file("file", "a.png", &png)]);
    let mut req = upload_head(
        &app,
        &form_type(),
        &format!("Content-Length: {}\r\n", body.len() + 1000),
    )
    .into_bytes();
    req.extend(&body);
    // The client then goes quiet: refused once the body idle timeout passes.
    let res = exchange(app.addr, req.clone(), false, 1);
    assert_eq!(res.len(), 1, "{res:?}");
    assert_error(res[0].status, &res[0].body, 400, "invalid_request");
    // Or it closes: the connection is dropped, with at most a 400.
    let res = exchange(app.addr, req, true, 1);
    assert!(res.len() <= 1, "{res:?}");
    if let Some(r) = res.first() {
        assert_error(r.status, &r.body, 400, "invalid_request");
    }
    assert_no_store(&app);

    // Content-Length covering half the form; the spilled bytes are a DELETE of
    // an existing image. They are a request of their own, without the first
    // request's upload key, so they must not delete anything.
    let v = app.upload_ok(fixture("real/logo.ico"), "keep.ico").await;
    let uuid = v["uuid"].as_str().unwrap();
    let half = &body[..body.len() / 2];
    let mut req = upload_head(
        &app,
        &form_type(),
        &format!("Content-Length: {}\r\n", half.len()),
    )
    .into_bytes();
    req.extend(half);
    req.extend(
        format!(
            "DELETE /api/delete/{uuid} HTTP/1.1\r\nHost: pixbin.test\r\nContent-Length: 0\r\n\r\n"
        )
        .as_bytes(),
    );
    let res = exchange(app.addr, req, false, 2);
    assert!(!res.is_empty());
    assert_error(res[0].status, &res[0].body, 400, "invalid_request");
    if let Some(second) = res.get(1) {
        assert_error(second.status, &second.body, 401, "unauthorized");
    }
    assert!(res.len() <= 2, "{res:?}");
    let served = fetch(v["url"].as_str().unwrap()).await;
    assert_eq!(served.status(), StatusCode::OK, "the image survived");
    assert_eq!(app.totals().images, 1);
}

/// A08: `Transfer-Encoding: chunked` plus `Content-Length` (chunked wins and
/// the connection closes), a Transfer-Encoding that does not end in `chunked`,
/// and two different Content-Lengths (400): never two interpretations.
#[tokio::test]
async fn a08_ambiguous_framing_has_one_interpretation() {
    let app = spawn_app().await;
    let png = fixture("real/logo.png");
    let body = form(&[RawPart::file("file", "a.png", &png)]);

    // Both headers. Read as Content-Length: 5, the chunked body would be a
    // broken form followed by garbage parsed as a second request.
    let mut req = upload_head(
        &app,
        &form_type(),
        "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
    )
    .into_bytes();
    req.extend(format!("{:x}\r\n", body.len()).as_bytes());
    req.extend(&body);
    req.extend(b"\r\n0\r\n\r\n");
    let res = exchange(app.addr, req, false, 2);
    assert_eq!(res.len(), 1, "exactly one response: {res:?}");
    match res[0].status {
        200 => assert_eq!(res[0].json()["size"], png.len() as u64, "chunked won"),
        400 => {}
        s => panic!("status {s}"),
    }

    // A Transfer-Encoding that is not chunked: hyper refuses the request (its
    // own 400) instead of guessing; the body is never run as a request.
    let smuggled = b"GET /healthz HTTP/1.1\r\nHost: pixbin.test\r\n\r\n";
    for te in ["gzip", "chunked, gzip", "identity"] {
        let mut req = format!(
            "POST /api/upload HTTP/1.1\r\nHost: pixbin.test\r\nTransfer-Encoding: {te}\r\n\r\n"
        )
        .into_bytes();
        req.extend(smuggled);
        let res = exchange(app.addr, req, false, 2);
        assert_eq!(res.len(), 1, "{te}: {res:?}");
        assert_eq!(res[0].status, 400, "{te}: {res:?}");
    }

    // Two different Content-Lengths, as two headers or one list.
    for cl in [
        "Content-Length: 5\r\nContent-Length: 6\r\n",
        "Content-Length: 5, 6\r\n",
    ] {
        let mut req = format!(
            "POST /api/upload HTTP/1.1\r\nHost: pixbin.test\r\nContent-Type: image/png\r\n{cl}\r\n"
        )
        .into_bytes();
        req.extend(b"12345G");
        req.extend(smuggled);
        let res = exchange(app.addr, req, false, 2);
        assert_eq!(res.len(), 1, "{cl:?}: {res:?}");
        assert_eq!(res[0].status, 400, "{cl:?}: {res:?}");
    }
    let health = fetch(app.url("/healthz")).await;
    assert_eq!(health.status(), StatusCode::OK);
    // At most the chunked upload was stored.
    assert!(app.totals().images <= 1);
}
