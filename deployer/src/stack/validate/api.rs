//! The `api:` section: its routes against the function's contract, its CORS origins and
//! headers, and its throttle.

use function::contract;
use serde_saphyr::Spanned;

use crate::stack::error::Checker;
use crate::stack::raw::{RawApi, RawThrottle};
use crate::stack::rules::{is_header_name, is_origin, parse_route};
use crate::stack::{Api, Route, Throttle};

/// The validated `api:` section.
pub(super) fn api(raw: RawApi, c: &mut Checker) -> Api {
    let routes = match &raw.routes {
        None => contract::DEFAULT_ROUTES
            .iter()
            .map(|(method, path)| Route {
                method: method.to_string(),
                path: path.to_string(),
            })
            .collect(),
        Some(list) => routes(list, c),
    };
    if let Some(id) = &raw.id {
        let ok = id.value.len() == 10
            && id
                .value
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit());
        if !ok {
            c.hint(
                id,
                "api.id",
                format!("{:?} is not a REST API id", id.value),
                "use the 10 characters before .execute-api. in the API's URL".into(),
            );
        }
    }
    Api {
        id: raw.id.as_ref().map(|id| id.value.clone()),
        id_line: raw.id.as_ref().map(|id| id.referenced.line()),
        routes,
        cors_origins: origins(raw.cors_origins.unwrap_or_default(), c),
        cors_headers: header_names(raw.cors_headers.unwrap_or_default(), c),
        throttle: raw
            .throttle
            .map(|t| throttle(&t.value, c))
            .unwrap_or(Throttle {
                rate: 10.0,
                burst: 20,
            }),
    }
}

/// The routes, each well formed, listed once, and served by the function (its contract).
fn routes(list: &Spanned<Vec<Spanned<String>>>, c: &mut Checker) -> Vec<Route> {
    if list.value.is_empty() {
        c.hint(
            list,
            "api.routes",
            "no routes: the API would serve nothing",
            "list at least one, e.g. [GET /counter, GET /health]".into(),
        );
    }
    let mut routes: Vec<Route> = Vec::new();
    for r in &list.value {
        match parse_route(&r.value) {
            Ok(route) if routes.contains(&route) => {
                c.at(r, "api.routes", format!("{route} is listed twice"));
            }
            Ok(route) if !contract::serves(&route.method, &route.path) => c.hint(
                r,
                "api.routes",
                format!("{route} is not a route the function serves"),
                format!(
                    "the function serves {}; a route it does not serve would answer 404 or 405",
                    contract::routes().join(", ")
                ),
            ),
            Ok(route) => routes.push(route),
            Err(why) => c.hint(
                r,
                "api.routes",
                format!("{:?} is not a route: {why}", r.value),
                "write METHOD /path, e.g. GET /counter".into(),
            ),
        }
    }
    routes.sort();
    routes
}

fn origins(raw: Vec<Spanned<String>>, c: &mut Checker) -> Vec<String> {
    raw.into_iter()
        .filter_map(|o| {
            if o.value == "*" || is_origin(&o.value) {
                return Some(o.value);
            }
            c.hint(
                &o,
                "api.cors_origins",
                format!("{:?} is not an origin", o.value),
                "write scheme://host[:port] with no path, e.g. https://example.com, \"*\", or \"null\" for a page opened from a file (a local preview)"
                    .into(),
            );
            None
        })
        .collect()
}

fn header_names(raw: Vec<Spanned<String>>, c: &mut Checker) -> Vec<String> {
    raw.into_iter()
        .filter_map(|h| {
            if is_header_name(&h.value) {
                return Some(h.value);
            }
            c.hint(
                &h,
                "api.cors_headers",
                format!("{:?} is not an HTTP header name", h.value),
                "list header names, e.g. [Content-Type, X-Requested-With]".into(),
            );
            None
        })
        .collect()
}

fn throttle(t: &RawThrottle, c: &mut Checker) -> Throttle {
    let rate = t.rate.value;
    if !(rate.is_finite() && rate > 0.0 && rate <= 10_000.0) {
        c.at(
            &t.rate,
            "api.throttle.rate",
            format!("{rate} is outside 0–10000 requests per second"),
        );
    }
    // A burst of 0 lets no request through: every call would be a 429.
    let burst = match u32::try_from(t.burst.value) {
        Ok(b) if (1..=5_000).contains(&b) => b,
        _ => {
            c.hint(
                &t.burst,
                "api.throttle.burst",
                format!("{} is outside 1–5000 requests", t.burst.value),
                "a burst of 0 would refuse every request with 429; 20 suits a personal site".into(),
            );
            0
        }
    };
    Throttle { rate, burst }
}
