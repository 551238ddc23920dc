//! `GET /api/openapi.json`: the OpenAPI 3.1 description of every endpoint, its
//! authentication, request bodies and every status it can answer.
//!
//! The document is a plain JSON file in `assets/`, embedded at build time. A
//! test below routes every documented operation through [`router::route`] and
//! checks that every `Route` variant is reached by one, so the document and the
//! router cannot drift apart unnoticed. `.ci/run` fuzzes the live server
//! against it with schemathesis (SECURITY.md §3 M3).

use hyper::Response;
use hyper::header::{self, HeaderValue};

use crate::http::body::{Body, full};

/// The document, as served.
pub const DOCUMENT: &str = include_str!("../../assets/openapi.json");

/// `GET /api/openapi.json`
pub fn document() -> Response<Body> {
    let mut res = Response::new(full(DOCUMENT));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use hyper::Method;
    use serde_json::Value;

    use super::DOCUMENT;
    use crate::http::router;

    const ROUTER_SOURCE: &str = include_str!("router.rs");

    fn doc() -> Value {
        serde_json::from_str(DOCUMENT).expect("assets/openapi.json is JSON")
    }

    /// Variant names of `pub enum <name>` in router.rs, with the payload text.
    fn variants(name: &str) -> Vec<(String, String)> {
        let start = ROUTER_SOURCE
            .find(&format!("pub enum {name} {{"))
            .unwrap_or_else(|| panic!("enum {name} in router.rs"));
        let body = &ROUTER_SOURCE[start..];
        let body = &body[body.find('{').unwrap() + 1..body.find("\n}").unwrap()];
        body.lines()
            .map(str::trim)
            .filter(|l| !l.starts_with("//") && !l.is_empty())
            .filter_map(|l| {
                let l = l.trim_end_matches(',');
                let end = l.find('(').unwrap_or(l.len());
                let ident = &l[..end];
                ident
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_uppercase())
                    .then(|| (ident.to_string(), l[end..].to_string()))
            })
            .collect()
    }

    /// Every route the router can produce, by name; a variant carrying another
    /// `…Route` enum (like `Stats(StatsRoute)`) counts once per inner variant.
    fn all_routes() -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for (v, payload) in variants("Route") {
            let inner = payload.trim_matches(|c| c == '(' || c == ')');
            if inner.ends_with("Route") && !inner.contains(',') {
                for (iv, _) in variants(inner) {
                    out.insert(format!("{v}::{iv}"));
                }
            } else {
                out.insert(v);
            }
        }
        out
    }

    /// The name of a routed request, in the form of [`all_routes`].
    fn route_name(r: &router::Route, nested: &BTreeSet<String>) -> String {
        let dbg = format!("{r:?}");
        let outer = dbg.split('(').next().unwrap().to_string();
        if nested.iter().any(|n| n.starts_with(&format!("{outer}::"))) {
            let inner = dbg[outer.len() + 1..]
                .split(['(', ')'])
                .next()
                .unwrap()
                .to_string();
            return format!("{outer}::{inner}");
        }
        outer
    }

    /// A concrete path for a documented path template.
    fn instantiate(path: &str, params: &[Value]) -> String {
        let mut out = path.to_string();
        for p in params.iter().filter(|p| p["in"] == "path") {
            let name = p["name"].as_str().unwrap();
            let example = match &p["example"] {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => panic!("path parameter {name} of {path} needs an example"),
            };
            out = out.replace(&format!("{{{name}}}"), &example);
        }
        assert!(!out.contains('{'), "unfilled parameter in {out}");
        out
    }

    #[test]
    fn the_document_is_openapi_3_1_with_resolvable_references() {
        let d = doc();
        assert!(d["openapi"].as_str().unwrap().starts_with("3.1."));
        let text = DOCUMENT;
        let mut rest = text;
        while let Some(i) = rest.find("\"$ref\": \"#/") {
            let r = &rest[i + 11..];
            let target = &r[..r.find('"').unwrap()];
            let mut node = &d;
            for seg in target.split('/') {
                node = &node[seg];
            }
            assert!(!node.is_null(), "dangling $ref #/{target}");
            rest = r;
        }
    }

    /// Both directions: every documented operation is routed (not 404/405), and
    /// every route of router.rs is documented. A new route fails here until
    /// `assets/openapi.json` describes it.
    #[test]
    fn every_route_is_documented_and_every_operation_routes() {
        let d = doc();
        let all = all_routes();
        let mut documented = BTreeSet::new();
        for (path, item) in d["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let m = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
                let params = op["parameters"].as_array().cloned().unwrap_or_default();
                let concrete = instantiate(path, &params);
                let r = router::route(&m, &concrete).unwrap_or_else(|e| {
                    panic!("{method} {path} ({concrete}) is not routed: {e:?}")
                });
                assert_ne!(
                    r,
                    router::Route::Image(router::ImageRef::Malformed),
                    "{concrete}"
                );
                documented.insert(route_name(&r, &all));
                // Every operation says who may call it and what it answers.
                assert!(op["security"].is_array(), "{method} {path}: security");
                assert!(
                    op["operationId"].is_string(),
                    "{method} {path}: operationId"
                );
                let responses = op["responses"].as_object().unwrap();
                assert!(!responses.is_empty(), "{method} {path}: responses");
            }
        }
        let missing: Vec<_> = all.difference(&documented).collect();
        assert!(
            missing.is_empty(),
            "routes of router.rs missing from assets/openapi.json: {missing:?}"
        );
        let unknown: Vec<_> = documented.difference(&all).collect();
        assert!(unknown.is_empty(), "not router variants: {unknown:?}");
    }

    /// Operations that need a session list 401 and 403 (an upload key there is
    /// 403, SECURITY.md A25); state changes need the CSRF token too.
    /// Every `code` the server can put in an error body, read from the
    /// sources: `code: "…"` fields, literal `"code":"…"` bodies, the
    /// `AppError` mapping in error.rs and `MediaError::code`.
    fn codes_in_sources() -> BTreeSet<String> {
        fn after(text: &str, marker: &str, out: &mut BTreeSet<String>) {
            for (i, _) in text.match_indices(marker) {
                let rest = &text[i + marker.len()..];
                let code: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !code.is_empty() && rest[code.len()..].starts_with(['"', '\\']) {
                    out.insert(code);
                }
            }
        }
        fn walk(dir: &std::path::Path, files: &mut Vec<std::path::PathBuf>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, files);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    files.push(p);
                }
            }
        }
        let mut files = Vec::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        let mut codes = BTreeSet::new();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            // Test modules name codes the server never sends.
            let text = text.split("#[cfg(test)]").next().unwrap();
            after(text, "code: \"", &mut codes);
            after(text, "\"code\":\"", &mut codes);
            after(text, "\\\"code\\\":\\\"", &mut codes);
            if f.ends_with("error.rs") {
                for line in text.lines().filter(|l| l.contains("StatusCode::")) {
                    after(line, ", \"", &mut codes);
                }
            }
            if f.ends_with("media.rs") {
                let body = &text[text
                    .find("pub fn code(&self) -> &'static str")
                    .expect("MediaError::code")..];
                let body = &body[..body.find("\n    }\n").unwrap()];
                after(body, "=> \"", &mut codes);
            }
        }
        codes
    }

    #[test]
    fn every_error_code_the_server_sends_is_in_the_error_schema() {
        let d = doc();
        let documented: BTreeSet<String> =
            d["components"]["schemas"]["Error"]["properties"]["code"]["enum"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect();
        let sent = codes_in_sources();
        // The scan must see the codes it is meant to see.
        for known in [
            "not_found",
            "type_not_allowed",
            "too_many_connections",
            "csrf",
        ] {
            assert!(sent.contains(known), "{known} not found in the sources");
        }
        let missing: Vec<_> = sent.difference(&documented).collect();
        assert!(
            missing.is_empty(),
            "codes sent but not in the Error schema: {missing:?}"
        );
    }

    #[test]
    fn authenticated_operations_document_their_refusals() {
        let d = doc();
        for (path, item) in d["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let sec = op["security"].as_array().unwrap();
                let needs_session = !sec.is_empty()
                    && sec
                        .iter()
                        .all(|s| s.get("session").is_some() || s.get("deletionToken").is_some());
                if !needs_session {
                    continue;
                }
                for status in ["401", "403"] {
                    assert!(
                        !op["responses"][status].is_null(),
                        "{method} {path} lacks {status}"
                    );
                }
                if method != "get" {
                    assert!(
                        sec.iter()
                            .all(|s| s.get("session").is_none() || s.get("csrf").is_some()),
                        "{method} {path}: a state change without CSRF"
                    );
                }
            }
        }
    }
}
