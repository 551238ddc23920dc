//! Query-string parameters, percent-decoded strictly.
//!
//! `+` is kept as a literal plus (not a space): private-image keys may be
//! standard base64, whose `+` must survive a link pasted without encoding.

use std::borrow::Cow;

/// Percent-decodes `s`; `None` on a malformed escape or non-UTF-8 result.
pub fn percent_decode(s: &str) -> Option<Cow<'_, str>> {
    if !s.contains('%') {
        return Some(Cow::Borrowed(s));
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hi = (*b.get(i + 1)? as char).to_digit(16)?;
            let lo = (*b.get(i + 2)? as char).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// A parameter whose percent-encoding is broken or not UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// The value of parameter `name`, decoded; `Err(Malformed)` when present but
/// undecodable, or present twice (`?key=a&key=b`: which one a cache, a proxy
/// or the server reads is up to each of them, so none is chosen).
pub fn param<'a>(query: Option<&'a str>, name: &str) -> Result<Option<Cow<'a, str>>, Malformed> {
    let Some(q) = query else { return Ok(None) };
    let mut found = None;
    for pair in q.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == name {
            if found.is_some() {
                return Err(Malformed);
            }
            found = Some(v);
        }
    }
    found
        .map(|v| percent_decode(v).ok_or(Malformed))
        .transpose()
}

/// Removes the values of secret-bearing parameters (`key`, `token`) so a URL can
/// be logged.
pub fn redact(path_and_query: &str) -> Cow<'_, str> {
    let Some((path, q)) = path_and_query.split_once('?') else {
        return Cow::Borrowed(path_and_query);
    };
    let cleaned: Vec<String> = q
        .split('&')
        .map(|pair| {
            let k = pair.split_once('=').map_or(pair, |(k, _)| k);
            let lk = k.to_ascii_lowercase();
            if lk == "key" || lk == "token" || lk.contains("key") || lk.contains("token") {
                format!("{k}=REDACTED")
            } else {
                pair.to_string()
            }
        })
        .collect();
    Cow::Owned(format!("{path}?{}", cleaned.join("&")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_keeps_plus() {
        assert_eq!(
            param(Some("a=1&key=ab%2Bc+d"), "key").unwrap().unwrap(),
            "ab+c+d"
        );
        assert_eq!(param(Some("a=1"), "key").unwrap(), None);
        assert_eq!(param(None, "key").unwrap(), None);
        assert!(param(Some("key=%%%"), "key").is_err());
        assert!(param(Some("key=%c0%ae"), "key").is_err());
        assert_eq!(param(Some("key"), "key").unwrap().unwrap(), "");
        assert!(param(Some("key=a&x=1&key=b"), "key").is_err());
        assert_eq!(param(Some("key=a&keys=b"), "key").unwrap().unwrap(), "a");
    }

    #[test]
    fn redacts_secrets() {
        assert_eq!(redact("/x.png?key=abc&y=1"), "/x.png?key=REDACTED&y=1");
        assert_eq!(
            redact("/api/delete/u?token=zzz"),
            "/api/delete/u?token=REDACTED"
        );
        assert_eq!(redact("/plain"), "/plain");
    }
}
