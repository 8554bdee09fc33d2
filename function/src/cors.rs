//! CORS: which browser origins may read the responses, and which request headers a page may
//! send.
//!
//! `Access-Control-Allow-Origin` is sent only to an allowed origin, echoed back exactly, never as
//! a blanket `*` unless `CORS_ORIGINS` itself is `*`. Because the answer depends on the request's
//! `Origin`, every response carries `Vary: Origin`, or a shared cache could serve one origin's
//! headers to another.
//!
//! A preflight names the headers the page wants to send (`Access-Control-Request-Headers`). By
//! default they are allowed as asked, since the origin itself is already trusted; `CORS_HEADERS`
//! (a comma-separated list) allows exactly those instead.

/// The origins allowed by `CORS_ORIGINS`: a comma-separated list, or `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cors {
    Any,
    List(Vec<String>),
}

/// The request headers a preflight allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowHeaders {
    /// Whatever the browser asks for (well-formed header names only).
    Requested,
    /// Exactly these.
    List(Vec<String>),
}

/// What a preflight allows when the browser names no header: JSON bodies.
const DEFAULT_HEADERS: &str = "Content-Type";

impl AllowHeaders {
    /// Parses `CORS_HEADERS`: empty or unset means [`AllowHeaders::Requested`].
    pub fn parse(value: &str) -> AllowHeaders {
        let list: Vec<String> = value
            .split(',')
            .map(|h| h.trim().to_string())
            .filter(|h| is_token(h))
            .collect();
        if list.is_empty() {
            AllowHeaders::Requested
        } else {
            AllowHeaders::List(list)
        }
    }

    /// The `Access-Control-Allow-Headers` value for a preflight that asked for `requested`.
    pub fn answer(&self, requested: Option<&str>) -> String {
        match self {
            AllowHeaders::List(list) => list.join(", "),
            AllowHeaders::Requested => {
                let asked: Vec<&str> = requested
                    .unwrap_or("")
                    .split(',')
                    .map(str::trim)
                    .filter(|h| is_token(h))
                    .collect();
                if asked.is_empty() {
                    DEFAULT_HEADERS.to_string()
                } else {
                    asked.join(", ")
                }
            }
        }
    }
}

/// An HTTP header name (RFC 9110 token), at most 100 characters.
fn is_token(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 100
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl Cors {
    /// Parses `CORS_ORIGINS`. Blank entries are ignored and a trailing `/` is dropped, since a
    /// browser's `Origin` never has one.
    pub fn parse(value: &str) -> Cors {
        let origins: Vec<String> = value
            .split(',')
            .map(|o| o.trim().trim_end_matches('/').to_string())
            .filter(|o| !o.is_empty())
            .collect();
        if origins.iter().any(|o| o == "*") {
            Cors::Any
        } else {
            Cors::List(origins)
        }
    }

    /// The `Access-Control-Allow-Origin` value for a request's `Origin`, or `None` when that
    /// origin may not read the response.
    pub fn allow_origin<'a>(&self, origin: Option<&'a str>) -> Option<&'a str> {
        let origin = origin?;
        match self {
            Cors::Any => Some("*"),
            Cors::List(list) => list
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(origin))
                .then_some(origin),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_origins_are_echoed() {
        let cors = Cors::parse(" https://example.com/ , https://www.example.com,");
        assert_eq!(
            cors.allow_origin(Some("https://example.com")),
            Some("https://example.com")
        );
        assert_eq!(
            cors.allow_origin(Some("https://www.example.com")),
            Some("https://www.example.com")
        );
        assert_eq!(cors.allow_origin(Some("https://evil.example")), None);
        assert_eq!(
            cors.allow_origin(Some("https://example.com.evil.example")),
            None
        );
        assert_eq!(cors.allow_origin(None), None);
    }

    #[test]
    fn preflights_allow_the_requested_headers_or_the_configured_list() {
        let requested = AllowHeaders::parse("");
        assert_eq!(requested, AllowHeaders::Requested);
        assert_eq!(
            requested.answer(Some("content-type, x-visitor-id")),
            "content-type, x-visitor-id"
        );
        assert_eq!(requested.answer(None), "Content-Type");
        assert_eq!(
            requested.answer(Some("x-ok, bad header, x\r\nevil")),
            "x-ok",
            "only well-formed header names are echoed"
        );
        let list = AllowHeaders::parse("Content-Type, X-Api-Version");
        assert_eq!(list.answer(Some("x-other")), "Content-Type, X-Api-Version");
    }

    #[test]
    fn a_star_allows_every_origin_and_an_empty_list_none() {
        assert_eq!(
            Cors::parse("*").allow_origin(Some("https://a.test")),
            Some("*")
        );
        assert_eq!(Cors::parse("").allow_origin(Some("https://a.test")), None);
    }
}
