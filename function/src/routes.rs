//! Which route a request names, independent of the event shape that carried it.
//!
//! API Gateway REST v1, HTTP API v2 and Function URLs disagree on whether the path carries the
//! stage (`/prod/counter` vs `/counter`), so the stage prefix is stripped here, once, before the
//! route table is consulted.

use lambda_http::http::Method;

use crate::contract::{self, Served};

/// A path the function serves: an endpoint of its own (a stack's `Route` is a method on a path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Counter,
    /// The count, read without counting.
    Read,
    Health,
}

/// What the router decided for one method and path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatch {
    /// The route exists and takes this method.
    Serve(Endpoint),
    /// A CORS preflight (`OPTIONS`) on a known route.
    Preflight(Endpoint),
    /// The route exists but not with this method; the `Allow` header lists what does.
    MethodNotAllowed(Endpoint),
    NotFound,
}

impl Endpoint {
    fn from_path(path: &str) -> Option<Endpoint> {
        // API Gateway passes `/counter/` through as written; treat it as `/counter`.
        let path = match path.strip_suffix('/') {
            Some(trimmed) if !trimmed.is_empty() => trimmed,
            _ => path,
        };
        [Endpoint::Counter, Endpoint::Read, Endpoint::Health]
            .into_iter()
            .find(|r| r.served().path == path)
    }

    /// What the contract says of this route.
    pub fn served(self) -> Served {
        match self {
            Endpoint::Counter => contract::COUNTER,
            Endpoint::Read => contract::READ,
            Endpoint::Health => contract::HEALTH,
        }
    }

    fn serves(self, method: &Method) -> bool {
        self.served().methods.contains(&method.as_str())
    }

    /// The value of the `Allow` header (and of CORS `Access-Control-Allow-Methods`).
    pub fn allow(self) -> &'static str {
        self.served().allow
    }
}

/// Removes a leading `/{stage}` from `path`, when the event says which stage served it.
///
/// HTTP API v2 puts a named stage in `rawPath`; REST v1 events from some integrations do too.
/// `$default` is the stage name of routes without a prefix.
pub fn strip_stage<'a>(path: &'a str, stage: Option<&str>) -> &'a str {
    let Some(stage) = stage.filter(|s| !s.is_empty() && *s != "$default") else {
        return path;
    };
    match path.strip_prefix('/').and_then(|p| p.strip_prefix(stage)) {
        Some("") => "/",
        Some(rest) if rest.starts_with('/') => rest,
        _ => path,
    }
}

/// Decides what to do with `method` on `path` (the path already stripped of its stage).
pub fn dispatch(method: &Method, path: &str) -> Dispatch {
    let Some(route) = Endpoint::from_path(path) else {
        return Dispatch::NotFound;
    };
    if method.as_str() == contract::PREFLIGHT {
        Dispatch::Preflight(route)
    } else if route.serves(method) {
        Dispatch::Serve(route)
    } else {
        Dispatch::MethodNotAllowed(route)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_prefix_is_removed_only_when_it_is_the_stage() {
        assert_eq!(strip_stage("/prod/counter", Some("prod")), "/counter");
        assert_eq!(strip_stage("/counter", Some("prod")), "/counter");
        assert_eq!(
            strip_stage("/production/counter", Some("prod")),
            "/production/counter"
        );
        assert_eq!(strip_stage("/prod", Some("prod")), "/");
        assert_eq!(strip_stage("/counter", Some("$default")), "/counter");
        assert_eq!(strip_stage("/counter", None), "/counter");
    }

    #[test]
    fn every_route_of_the_contract_is_dispatched_and_nothing_else() {
        for served in contract::SERVED {
            for method in served.methods {
                let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
                assert!(
                    matches!(dispatch(&method, served.path), Dispatch::Serve(_)),
                    "{method} {}",
                    served.path
                );
            }
            assert!(matches!(
                dispatch(&Method::OPTIONS, served.path),
                Dispatch::Preflight(_)
            ));
        }
    }

    #[test]
    fn routes_take_their_methods_and_nothing_else() {
        assert_eq!(
            dispatch(&Method::GET, "/counter"),
            Dispatch::Serve(Endpoint::Counter)
        );
        assert_eq!(
            dispatch(&Method::POST, "/counter"),
            Dispatch::Serve(Endpoint::Counter)
        );
        assert_eq!(
            dispatch(&Method::GET, "/counter/"),
            Dispatch::Serve(Endpoint::Counter)
        );
        assert_eq!(
            dispatch(&Method::GET, "/health"),
            Dispatch::Serve(Endpoint::Health)
        );
        assert_eq!(
            dispatch(&Method::POST, "/health"),
            Dispatch::MethodNotAllowed(Endpoint::Health)
        );
        assert_eq!(
            dispatch(&Method::DELETE, "/counter"),
            Dispatch::MethodNotAllowed(Endpoint::Counter)
        );
        assert_eq!(
            dispatch(&Method::OPTIONS, "/health"),
            Dispatch::Preflight(Endpoint::Health)
        );
        assert_eq!(
            dispatch(&Method::GET, "/count"),
            Dispatch::Serve(Endpoint::Read)
        );
        assert_eq!(
            dispatch(&Method::POST, "/count"),
            Dispatch::MethodNotAllowed(Endpoint::Read)
        );
        assert_eq!(dispatch(&Method::GET, "/"), Dispatch::NotFound);
        assert_eq!(dispatch(&Method::GET, "//"), Dispatch::NotFound);
        assert_eq!(dispatch(&Method::GET, "/counterx"), Dispatch::NotFound);
    }
}
