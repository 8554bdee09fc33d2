//! Requests that are visits and requests that are not, as the function's tests and the
//! deployer's send them: one set of samples for both.

/// A desktop Chrome: a visitor.
pub const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                          Chrome/131.0.0.0 Safari/537.36";

/// One header each of a crawler, an audit, a link preview and a prefetch: none is a visit.
pub const NOT_VISITS: [(&str, &str); 4] = [
    (
        "User-Agent",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    ),
    (
        "User-Agent",
        "Mozilla/5.0 (Linux; Android 11) Chrome/131.0 Mobile Safari/537.36 Chrome-Lighthouse",
    ),
    (
        "User-Agent",
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    ),
    ("Sec-Purpose", "prefetch"),
];
