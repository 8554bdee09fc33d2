//! CORS: which browser origins may read the responses.
//!
//! `Access-Control-Allow-Origin` is sent only to an allowed origin, echoed back exactly, never as
//! a blanket `*` unless `CORS_ORIGINS` itself is `*`. Because the answer depends on the request's
//! `Origin`, every response carries `Vary: Origin`, or a shared cache could serve one origin's
//! headers to another.

/// The origins allowed by `CORS_ORIGINS`: a comma-separated list, or `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cors {
    Any,
    List(Vec<String>),
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
    fn a_star_allows_every_origin_and_an_empty_list_none() {
        assert_eq!(
            Cors::parse("*").allow_origin(Some("https://a.test")),
            Some("*")
        );
        assert_eq!(Cors::parse("").allow_origin(Some("https://a.test")), None);
    }
}
