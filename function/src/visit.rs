//! Who is a visitor. A request to `/counter` adds a visit unless it comes from a page on an
//! origin the stack does not allow (another site cannot inflate the count through its own
//! visitors' browsers), from a well-known crawler, link previewer or audit tool (by its
//! `User-Agent`), or is a prefetch. Those get the count, uncounted, and a log line says why.
//! `COUNT_BOTS=true` counts crawlers and prefetches again (never another site's pages).

use lambda_http::http::HeaderMap;

/// Why a request to `/counter` was answered without adding a visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uncounted {
    /// A page on an origin the stack does not allow.
    Origin,
    /// A crawler, link previewer or audit tool: what [`AGENTS`] calls it.
    Agent(&'static str),
    /// A speculative load (the browser's prefetch or prerender), not a visit yet.
    Prefetch,
}

impl std::fmt::Display for Uncounted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Uncounted::Origin => write!(f, "a page on an origin the stack does not allow"),
            Uncounted::Agent(what) => write!(f, "{what}"),
            Uncounted::Prefetch => write!(f, "a prefetch"),
        }
    }
}

/// Substrings of `User-Agent` (compared in lower case) that name no visitor, and what each is.
/// Specific names only: a bare "bot" would also match phones (CUBOT) and apps.
pub const AGENTS: &[(&str, &str)] = &[
    // Search engines' crawlers.
    ("googlebot", "Google's crawler"),
    (
        "google-inspectiontool",
        "Google Search Console's URL inspection",
    ),
    ("adsbot-google", "Google Ads' landing-page checker"),
    ("bingbot", "Bing's crawler"),
    ("duckduckbot", "DuckDuckGo's crawler"),
    ("baiduspider", "Baidu's crawler"),
    ("yandexbot", "Yandex's crawler"),
    ("applebot", "Apple's crawler (Siri, Spotlight)"),
    ("petalbot", "Huawei Petal Search's crawler"),
    // SEO and AI crawlers.
    ("ahrefsbot", "Ahrefs' crawler"),
    ("semrushbot", "Semrush's crawler"),
    ("mj12bot", "Majestic's crawler"),
    ("gptbot", "OpenAI's crawler"),
    ("chatgpt-user", "ChatGPT fetching a page for a user"),
    ("claudebot", "Anthropic's crawler"),
    ("perplexitybot", "Perplexity's crawler"),
    ("ccbot", "Common Crawl"),
    ("bytespider", "ByteDance's crawler"),
    ("amazonbot", "Amazon's crawler"),
    // Link previews: a link pasted in a chat or a post is fetched for its card.
    ("slackbot", "Slack's link preview"),
    ("twitterbot", "X (Twitter)'s link preview"),
    ("facebookexternalhit", "Facebook's link preview"),
    ("linkedinbot", "LinkedIn's link preview"),
    ("discordbot", "Discord's link preview"),
    ("telegrambot", "Telegram's link preview"),
    ("whatsapp", "WhatsApp's link preview"),
    ("skypeuripreview", "Skype and Teams' link preview"),
    ("pinterestbot", "Pinterest's crawler"),
    ("redditbot", "Reddit's link preview"),
    ("embedly", "Embedly's link preview"),
    // Audits and monitors.
    ("chrome-lighthouse", "Lighthouse (PageSpeed Insights)"),
    ("gtmetrix", "GTmetrix's audit"),
    ("pingdom", "Pingdom's monitor"),
    ("uptimerobot", "UptimeRobot's monitor"),
    ("statuscake", "StatusCake's monitor"),
    ("w3c_validator", "the W3C validator"),
    // Anything that calls itself a crawler or a spider.
    ("crawler", "a crawler"),
    ("spider", "a spider"),
];

/// What [`AGENTS`] calls the client of `user_agent`, if it is one of them.
pub fn agent(user_agent: &str) -> Option<&'static str> {
    let lower = user_agent.to_ascii_lowercase();
    AGENTS
        .iter()
        .find(|(needle, _)| lower.contains(needle))
        .map(|(_, what)| *what)
}

/// Whether the request is a speculative load: `Sec-Purpose: prefetch` (Chromium, Firefox;
/// `prefetch;prerender` too), the older `Purpose: prefetch`, Firefox's `X-Moz: prefetch`, or
/// Safari's `X-Purpose: preview`.
pub fn is_prefetch(headers: &HeaderMap) -> bool {
    let says = |name: &str, word: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains(word))
    };
    says("sec-purpose", "prefetch")
        || says("purpose", "prefetch")
        || says("x-moz", "prefetch")
        || says("x-purpose", "preview")
}

/// Why this request is not a visit, if it is not. `origin_refused`: it names an origin the
/// stack does not allow; `count_bots`: crawlers and prefetches count.
pub fn uncounted(
    origin_refused: bool,
    user_agent: &str,
    prefetch: bool,
    count_bots: bool,
) -> Option<Uncounted> {
    if origin_refused {
        return Some(Uncounted::Origin);
    }
    if count_bots {
        return None;
    }
    if prefetch {
        return Some(Uncounted::Prefetch);
    }
    agent(user_agent).map(Uncounted::Agent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http::HeaderValue;

    const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                          Chrome/131.0.0.0 Safari/537.36";

    #[test]
    fn crawlers_previews_and_audits_are_named_and_browsers_are_not() {
        let googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
        assert_eq!(agent(googlebot), Some("Google's crawler"));
        let lighthouse = "Mozilla/5.0 (Linux; Android 11) Chrome/131.0 Mobile Safari/537.36 \
                          Chrome-Lighthouse";
        assert_eq!(agent(lighthouse), Some("Lighthouse (PageSpeed Insights)"));
        let slack = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)";
        assert_eq!(agent(slack), Some("Slack's link preview"));
        assert_eq!(agent(CHROME), None);
        // A phone brand with "bot" in it is a visitor.
        assert_eq!(agent("Mozilla/5.0 (Linux; Android 10; CUBOT X30)"), None);
        assert!(AGENTS.iter().all(|(n, _)| *n == n.to_ascii_lowercase()));
    }

    #[test]
    fn prefetches_are_told_by_any_of_their_headers() {
        let with = |name: &'static str, value: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(name, HeaderValue::from_static(value));
            is_prefetch(&h)
        };
        assert!(with("sec-purpose", "prefetch"));
        assert!(with("sec-purpose", "prefetch;prerender"));
        assert!(with("purpose", "prefetch"));
        assert!(with("x-moz", "prefetch"));
        assert!(with("x-purpose", "preview"));
        assert!(!with("sec-fetch-mode", "cors"));
        assert!(!is_prefetch(&HeaderMap::new()));
    }

    #[test]
    fn another_sites_page_is_never_counted_and_count_bots_counts_the_rest() {
        assert_eq!(
            uncounted(true, CHROME, false, true),
            Some(Uncounted::Origin)
        );
        assert_eq!(
            uncounted(false, "Twitterbot/1.0", false, false),
            Some(Uncounted::Agent("X (Twitter)'s link preview"))
        );
        assert_eq!(
            uncounted(false, CHROME, true, false),
            Some(Uncounted::Prefetch)
        );
        assert_eq!(uncounted(false, "Twitterbot/1.0", true, true), None);
        assert_eq!(uncounted(false, CHROME, false, false), None);
    }
}
