//! User-agent classes: a browser, a bot, or a link-preview unfurler (the fetch a
//! chat app or social site makes to show a preview when a link is pasted).
//!
//! Only the class (and, for unfurlers, which service) is kept; the User-Agent
//! string itself is never stored. Matching is by case-insensitive substring on
//! well-known product tokens, all of them in one Aho-Corasick pass (about 35
//! tokens; searching for each in turn cost microseconds per request, a pass
//! costs tens of nanoseconds), without allocating. A request without a
//! User-Agent counts as a browser: some privacy tools strip the header, and we
//! would rather count a person than drop one.

use std::sync::LazyLock;

use aho_corasick::AhoCorasick;

/// What kind of client fetched an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentClass {
    /// A person's browser or app (the default).
    Browser,
    /// A crawler, monitor, or scripted HTTP client.
    Bot,
    /// A link-preview fetcher, with the service it belongs to.
    Unfurler(Unfurler),
}

/// Link-preview services we recognise by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Unfurler {
    /// `Discordbot`
    Discord = 1,
    /// `Slackbot-LinkExpanding`, `Slack-ImgProxy`
    Slack = 2,
    /// `TelegramBot`
    Telegram = 3,
    /// `Twitterbot`
    Twitter = 4,
    /// `facebookexternalhit`, `Facebot` (also what iMessage sends)
    Facebook = 5,
    /// `WhatsApp`
    WhatsApp = 6,
    /// `LinkedInBot`
    LinkedIn = 7,
    /// `SkypeUriPreview` (Skype and Microsoft Teams)
    Teams = 8,
    /// `Mastodon/` in the `http.rb` fetcher
    Mastodon = 9,
    /// `redditbot`
    Reddit = 10,
    /// `Bluesky Cardyb`
    Bluesky = 11,
    /// Matrix `Synapse` URL previews
    Matrix = 12,
    /// `Embedly`, `Iframely` and other embed services
    Embed = 13,
}

/// (lowercase token, service), checked in order (first match wins) and before
/// the generic bot tokens, because most unfurler names contain "bot".
const UNFURLERS: &[(&str, Unfurler)] = &[
    ("discordbot", Unfurler::Discord),
    ("slackbot", Unfurler::Slack),
    ("slack-imgproxy", Unfurler::Slack),
    ("telegrambot", Unfurler::Telegram),
    // Before Twitter: iMessage sends "facebookexternalhit/1.1 Facebot Twitterbot/1.0".
    ("facebookexternalhit", Unfurler::Facebook),
    ("facebot", Unfurler::Facebook),
    ("twitterbot", Unfurler::Twitter),
    ("whatsapp", Unfurler::WhatsApp),
    ("linkedinbot", Unfurler::LinkedIn),
    ("skypeuripreview", Unfurler::Teams),
    ("mastodon/", Unfurler::Mastodon),
    ("redditbot", Unfurler::Reddit),
    ("cardyb", Unfurler::Bluesky),
    ("synapse (bot", Unfurler::Matrix),
    ("embedly", Unfurler::Embed),
    ("iframely", Unfurler::Embed),
];

/// Lowercase tokens of crawlers, monitors and scripted clients. "bot" alone
/// covers Googlebot, bingbot, UptimeRobot, AhrefsBot and most others.
const BOTS: &[&str] = &[
    "bot", // first: `classify_agent` relies on its index
    "crawl",
    "spider",
    "slurp",
    "headless",
    "lighthouse",
    "curl/",
    "wget/",
    "python-",
    "python/",
    "go-http-client",
    "java/",
    "libwww",
    "okhttp",
    "httpclient",
    "axios/",
    "node-fetch",
    "scrapy",
    "feedfetcher",
];

/// Device names that contain a bot token but are phones (`CUBOT X19`).
const NOT_BOTS: &[&str] = &["cubot"];

/// Every token in one automaton: unfurlers first (pattern ids `0..UNFURLERS.len()`),
/// then bots, then the not-bots.
static TOKENS: LazyLock<AhoCorasick> = LazyLock::new(|| {
    let all = UNFURLERS
        .iter()
        .map(|(t, _)| *t)
        .chain(BOTS.iter().copied())
        .chain(NOT_BOTS.iter().copied());
    // A DFA: the fastest search kind, and small for this few patterns.
    AhoCorasick::builder()
        .kind(Some(aho_corasick::AhoCorasickKind::DFA))
        .ascii_case_insensitive(true)
        .build(all)
        .expect("static patterns compile")
});

/// Classifies a `User-Agent` value (`None` when the header is absent or not
/// visible ASCII).
pub fn classify_agent(ua: Option<&[u8]>) -> AgentClass {
    let Some(ua) = ua.filter(|u| !u.is_empty()) else {
        return AgentClass::Browser;
    };
    // Bound the work on the serving path: real agents are well under this.
    let ua = &ua[..ua.len().min(512)];
    let (u, b) = (UNFURLERS.len(), BOTS.len());
    let mut unfurler: Option<usize> = None;
    let (mut plain_bot, mut other_bot, mut not_bot) = (false, false, false);
    // Overlapping matches, so "discordbot" reports both its own token and "bot".
    for m in TOKENS.find_overlapping_iter(ua) {
        match m.pattern().as_usize() {
            i if i < u => unfurler = Some(unfurler.map_or(i, |j| j.min(i))),
            i if i == u => plain_bot = true, // BOTS[0] is "bot"
            i if i < u + b => other_bot = true,
            _ => not_bot = true,
        }
    }
    if let Some(i) = unfurler {
        return AgentClass::Unfurler(UNFURLERS[i].1);
    }
    // A phone named CUBOT is not a bot, unless another token says it is.
    if other_bot || (plain_bot && !not_bot) {
        return AgentClass::Bot;
    }
    AgentClass::Browser
}

impl Unfurler {
    /// The service's display name.
    pub fn name(self) -> &'static str {
        match self {
            Unfurler::Discord => "Discord",
            Unfurler::Slack => "Slack",
            Unfurler::Telegram => "Telegram",
            Unfurler::Twitter => "Twitter",
            Unfurler::Facebook => "Facebook",
            Unfurler::WhatsApp => "WhatsApp",
            Unfurler::LinkedIn => "LinkedIn",
            Unfurler::Teams => "Teams",
            Unfurler::Mastodon => "Mastodon",
            Unfurler::Reddit => "Reddit",
            Unfurler::Bluesky => "Bluesky",
            Unfurler::Matrix => "Matrix",
            Unfurler::Embed => "Embed service",
        }
    }

    /// The stored code (see [`AgentClass::code`]).
    fn from_code(c: u8) -> Option<Unfurler> {
        use Unfurler::*;
        [
            Discord, Slack, Telegram, Twitter, Facebook, WhatsApp, LinkedIn, Teams, Mastodon,
            Reddit, Bluesky, Matrix, Embed,
        ]
        .into_iter()
        .find(|u| *u as u8 == c)
    }
}

impl AgentClass {
    /// One byte for the recent-views log: 0 browser, 255 bot, else the unfurler.
    pub fn code(self) -> u8 {
        match self {
            AgentClass::Browser => 0,
            AgentClass::Bot => 255,
            AgentClass::Unfurler(u) => u as u8,
        }
    }

    /// Inverse of [`AgentClass::code`]; unknown codes read as a bot.
    pub fn from_code(c: u8) -> AgentClass {
        match c {
            0 => AgentClass::Browser,
            c => Unfurler::from_code(c).map_or(AgentClass::Bot, AgentClass::Unfurler),
        }
    }

    /// The label the API shows: `browser`, `bot`, or the unfurler's name.
    pub fn label(self) -> &'static str {
        match self {
            AgentClass::Browser => "browser",
            AgentClass::Bot => "bot",
            AgentClass::Unfurler(u) => u.name(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(s: &str) -> AgentClass {
        classify_agent(Some(s.as_bytes()))
    }

    #[test]
    fn unfurlers_are_recognised_by_their_real_agents() {
        let cases = [
            (
                "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
                Unfurler::Discord,
            ),
            (
                "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
                Unfurler::Slack,
            ),
            (
                "Slack-ImgProxy (+https://api.slack.com/robots)",
                Unfurler::Slack,
            ),
            ("TelegramBot (like TwitterBot)", Unfurler::Telegram),
            ("Twitterbot/1.0", Unfurler::Twitter),
            (
                "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
                Unfurler::Facebook,
            ),
            (
                "facebookexternalhit/1.1 Facebot Twitterbot/1.0",
                Unfurler::Facebook,
            ),
            ("WhatsApp/2.23.20.0 A", Unfurler::WhatsApp),
            (
                "LinkedInBot/1.0 (compatible; Mozilla/5.0)",
                Unfurler::LinkedIn,
            ),
            (
                "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5",
                Unfurler::Teams,
            ),
            (
                "http.rb/5.1.1 (Mastodon/4.2.0; +https://mastodon.social/)",
                Unfurler::Mastodon,
            ),
            (
                "Mozilla/5.0 (compatible; Bluesky Cardyb/1.1; +mailto:support@bsky.app)",
                Unfurler::Bluesky,
            ),
            (
                "Synapse (bot; +https://github.com/matrix-org/synapse)",
                Unfurler::Matrix,
            ),
        ];
        for (ua, who) in cases {
            assert_eq!(class(ua), AgentClass::Unfurler(who), "{ua}");
        }
    }

    #[test]
    fn bots_and_scripts_are_bots_and_browsers_are_not() {
        for ua in [
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
            "Mozilla/5.0 (compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
            "curl/8.5.0",
            "Wget/1.21.4",
            "python-requests/2.31.0",
            "Go-http-client/1.1",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/120.0 Safari/537.36",
        ] {
            assert_eq!(class(ua), AgentClass::Bot, "{ua}");
        }
        for ua in [
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (Linux; Android 9; CUBOT X19) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36",
            "",
        ] {
            assert_eq!(class(ua), AgentClass::Browser, "{ua}");
        }
        assert_eq!(classify_agent(None), AgentClass::Browser);
    }

    #[test]
    fn the_plain_bot_token_comes_first() {
        assert_eq!(BOTS[0], "bot");
        // Upper and mixed case match too.
        assert_eq!(
            class("DISCORDBOT/2.0"),
            AgentClass::Unfurler(Unfurler::Discord)
        );
        assert_eq!(class("CUBOT crawler"), AgentClass::Bot);
    }

    #[test]
    fn codes_round_trip() {
        for c in 0..=255u8 {
            let a = AgentClass::from_code(c);
            if c == 0 || c == 255 || (1..=13).contains(&c) {
                assert_eq!(a.code(), c);
            } else {
                assert_eq!(a, AgentClass::Bot);
            }
        }
    }
}
