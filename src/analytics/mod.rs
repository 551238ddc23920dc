//! View counting off the serving path: [`classify`] decides what a request to
//! a public link is (a view, a bot, an unfurler, the admin, not counted),
//! [`Views::observe`] queues an event without waiting, and one writer task
//! (`writer`) resolves and commits events in batches into `store::stats`.
//!
//! What an event carries is chosen for privacy: the referrer's host only, the
//! User-Agent's class only, and the address only until the writer has looked
//! up its country and made a salted daily visitor mark (`salt`); the address
//! reaches the database only when the operator sets `PIXBIN_STORE_VIEWER_IP`.

pub mod agent;
pub mod geo;
pub mod salt;
pub mod writer;

use std::net::IpAddr;

use hyper::{HeaderMap, Method, StatusCode, header};

pub use agent::{AgentClass, Unfurler, classify_agent};
pub use writer::{BATCH, CHANNEL_CAPACITY, Counters, Views, WriterTask, open};

/// Who a request to a public image link came from, as far as view counting goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Audience {
    /// A person: the only audience whose fetch is a view.
    Visitor,
    /// A crawler, monitor or scripted client: counted separately, not a view.
    Bot,
    /// A link-preview fetcher (Discord, Slack…): counted separately, not a view.
    Unfurler(Unfurler),
    /// The admin UI (its Referer is under the admin prefix): not counted.
    Admin,
    /// Not a `GET` (e.g. `HEAD`): not counted at all.
    NotCounted,
}

impl Audience {
    /// Whether a request from this audience is a view (given a counted status,
    /// see [`counted_status`]).
    pub fn is_view(self) -> bool {
        self == Audience::Visitor
    }
}

/// Decides whether a request for a public image link is a view, for the
/// statistics. It reads request headers, which anyone can forge, so it only
/// labels a fetch; it never grants anything: what spends an image's view limit
/// is decided by the route alone (`view_limits`). The rule:
///
/// 1. only `GET` counts (`HEAD` and everything else is [`Audience::NotCounted`]);
/// 2. a `Referer` under `admin_prefix` (the absolute URL of the admin UI, e.g.
///    `https://img.example.com/admin`) is the owner looking: [`Audience::Admin`];
/// 3. a link-preview `User-Agent` is [`Audience::Unfurler`], a crawler or script
///    [`Audience::Bot`] (see [`agent`]);
/// 4. anyone else is a [`Audience::Visitor`].
///
/// The session-only proxy (`/api/proxy/…`) never calls this: it is never a view.
/// The response status is the other half of the rule: see [`counted_status`].
/// Pure and allocation-free, so it is cheap on the serving path.
pub fn classify(method: &Method, headers: &HeaderMap, admin_prefix: &str) -> Audience {
    if method != Method::GET {
        return Audience::NotCounted;
    }
    if let Some(r) = headers.get(header::REFERER)
        && is_under(r.as_bytes(), admin_prefix.as_bytes())
    {
        return Audience::Admin;
    }
    match classify_agent(headers.get(header::USER_AGENT).map(|v| v.as_bytes())) {
        AgentClass::Browser => Audience::Visitor,
        AgentClass::Bot => Audience::Bot,
        AgentClass::Unfurler(u) => Audience::Unfurler(u),
    }
}

/// `url` is `prefix` itself or a path, query or fragment below it (so
/// `/administrator` is not under `/admin`).
fn is_under(url: &[u8], prefix: &[u8]) -> bool {
    !prefix.is_empty()
        && url.starts_with(prefix)
        && matches!(url.get(prefix.len()), None | Some(b'/' | b'?' | b'#'))
}

/// Whether a response with this status delivered (or confirmed) the image:
/// 200, 206 and 304. Errors, 412 and 416 are not views.
pub fn counted_status(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::OK | StatusCode::PARTIAL_CONTENT | StatusCode::NOT_MODIFIED
    )
}

/// One fetch of a public image link, as queued by the serving path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewEvent {
    /// The image.
    pub image_id: u64,
    /// Unix milliseconds.
    pub at: i64,
    /// Browser (a view), bot or unfurler.
    pub agent: AgentClass,
    /// The client address (see `http::client_ip`), held only until the writer
    /// has resolved it.
    pub client: Option<IpAddr>,
    /// `salt::agent_digest` of the User-Agent.
    pub agent_digest: [u8; 16],
    /// The Referer's host, normalised (see [`referrer_host`]).
    pub referrer: Option<Box<str>>,
}

/// The Referer's host alone: lowercased, without scheme, credentials, port,
/// path or a leading `www.`; `None` when absent or not a plausible DNS name or
/// IPv4 address (the full URL can carry private paths and tokens, and a
/// client-chosen string must not become an arbitrary database key).
pub fn referrer_host(value: &[u8]) -> Option<Box<str>> {
    let s = std::str::from_utf8(value).ok()?;
    let (_, rest) = s.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host.split(':').next()?.trim_end_matches('.');
    let host = match host.get(..4) {
        Some(www) if www.eq_ignore_ascii_case("www.") => &host[4..],
        _ => host,
    };
    let ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !host.starts_with(['.', '-'])
        && !host.contains("..");
    ok.then(|| host.to_ascii_lowercase().into_boxed_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                hyper::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    const ADMIN: &str = "https://img.example.com/admin";

    #[test]
    fn classify_follows_the_counting_rules() {
        let c = |m: Method, h: &[(&str, &str)]| classify(&m, &headers(h), ADMIN);
        assert_eq!(c(Method::GET, &[]), Audience::Visitor);
        assert!(c(Method::GET, &[]).is_view());
        assert_eq!(c(Method::HEAD, &[]), Audience::NotCounted);
        assert_eq!(c(Method::POST, &[]), Audience::NotCounted);
        assert_eq!(
            c(
                Method::GET,
                &[("referer", "https://img.example.com/admin/library")]
            ),
            Audience::Admin
        );
        assert_eq!(
            c(Method::GET, &[("referer", "https://img.example.com/admin")]),
            Audience::Admin
        );
        // Not the admin UI: another path, another host, a look-alike prefix.
        for r in [
            "https://img.example.com/administrator",
            "https://img.example.com.evil.example/admin/",
            "https://discord.com/channels/1/2",
        ] {
            assert_eq!(c(Method::GET, &[("referer", r)]), Audience::Visitor, "{r}");
        }
        assert_eq!(
            c(
                Method::GET,
                &[(
                    "user-agent",
                    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)"
                )]
            ),
            Audience::Unfurler(Unfurler::Discord)
        );
        assert_eq!(
            c(Method::GET, &[("user-agent", "curl/8.5.0")]),
            Audience::Bot
        );
        // HEAD wins over the agent; the admin referer wins over the agent.
        assert_eq!(
            c(Method::HEAD, &[("user-agent", "Twitterbot/1.0")]),
            Audience::NotCounted
        );
        assert_eq!(
            c(
                Method::GET,
                &[("user-agent", "Twitterbot/1.0"), ("referer", ADMIN)]
            ),
            Audience::Admin
        );
        // No admin prefix configured: nothing is the admin UI.
        assert_eq!(
            classify(
                &Method::GET,
                &headers(&[("referer", "https://x/admin")]),
                ""
            ),
            Audience::Visitor
        );
        assert!(counted_status(StatusCode::OK));
        assert!(counted_status(StatusCode::PARTIAL_CONTENT));
        assert!(counted_status(StatusCode::NOT_MODIFIED));
        for s in [404, 412, 416, 500] {
            assert!(!counted_status(StatusCode::from_u16(s).unwrap()));
        }
    }

    #[test]
    fn referrers_keep_only_a_plausible_host() {
        let h = |s: &str| referrer_host(s.as_bytes()).map(String::from);
        assert_eq!(
            h("https://discord.com/channels/1/2?x=1").as_deref(),
            Some("discord.com")
        );
        assert_eq!(
            h("https://WWW.Example.COM:8443/a").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            h("http://user:pw@forum.example.org/t?token=s3cret").as_deref(),
            Some("forum.example.org")
        );
        assert_eq!(
            h("android-app://com.google.android.gm/").as_deref(),
            Some("com.google.android.gm")
        );
        assert_eq!(h("http://10.0.0.2/x").as_deref(), Some("10.0.0.2"));
        for bad in [
            "",
            "discord.com",
            "https:///path",
            "https://<script>/",
            "https://a..b/",
            "https://[2001:db8::1]/",
            "https://ex ample.com/",
        ] {
            assert_eq!(h(bad), None, "{bad}");
        }
        let long = format!("https://{}.com/", "a".repeat(300));
        assert_eq!(h(&long), None);
    }
}
