//! What AWS and HTTP accept in each piece of text the stack holds: stack and stage names,
//! origins, header names, routes and tags. Pure predicates, each a sentence of the rule.

use super::Route;
use crate::conventions;

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

pub fn tag_key_problem(k: &str) -> Option<String> {
    if let Some(problem) = tag_text_problem("key", k, 1, 128) {
        return Some(problem);
    }
    if k.to_ascii_lowercase().starts_with("aws:") {
        return Some("keys starting with aws: are reserved by AWS".into());
    }
    k.starts_with(conventions::TAG_PREFIX).then(|| {
        format!(
            "keys starting with {} are set by the deployer",
            conventions::TAG_PREFIX
        )
    })
}

/// The characters every service of the stack accepts in a tag, the narrowest of them deciding:
/// API Gateway's (TagResource: "The valid character set is [a-zA-Z+-=._:/]", so ASCII letters and
/// digits, no space) within DynamoDB's (letters, numbers and white space, and `+ - = . _ : /`:
/// no `@`, which the other services take).
pub fn tag_text_problem(what: &str, text: &str, min: usize, max: usize) -> Option<String> {
    let n = text.chars().count();
    if !(min..=max).contains(&n) {
        return Some(format!("a tag {what} has {min}–{max} characters, not {n}"));
    }
    let allowed = |ch: &char| ch.is_ascii_alphanumeric() || "+-=._:/".contains(*ch);
    let bad: String = text.chars().filter(|ch| !allowed(ch)).take(5).collect();
    (!bad.is_empty()).then(|| {
        format!(
            "a tag {what} may hold A–Z, a–z, 0–9 and + - = . _ : / (API Gateway's set, the \
             narrowest of the stack's services), not {bad:?}"
        )
    })
}

pub fn parse_route(text: &str) -> Result<Route, String> {
    let mut parts = text.split_whitespace();
    let (Some(method), Some(path), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err("expected a method and a path".into());
    };
    if !METHODS.contains(&method) {
        return Err(format!("the method must be one of {}", METHODS.join(", ")));
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err("the path must start with /".into());
    };
    if rest.is_empty() {
        return Err("the root path / cannot be routed".into());
    }
    for segment in rest.split('/') {
        let ok = !segment.is_empty()
            && segment
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch));
        if !ok {
            return Err(format!(
                "the path segment {segment:?} is not plain letters, digits, '-', '_' or '.'"
            ));
        }
    }
    Ok(Route {
        method: method.to_string(),
        path: path.to_string(),
    })
}

pub fn is_name(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len())
        && s.starts_with(|ch: char| ch.is_ascii_alphabetic())
        && s.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
}

/// Whether `s` is a stage name API Gateway accepts.
pub fn is_stage(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-_".contains(ch))
}

pub fn is_origin(s: &str) -> bool {
    // What a page opened from a file sends (`file://`): for a local preview only.
    if s == "null" {
        return true;
    }
    let Some((scheme, host)) = s.split_once("://") else {
        return false;
    };
    matches!(scheme, "http" | "https")
        && !host.is_empty()
        && !host.contains('/')
        && host
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-.:[]".contains(ch))
}

/// An HTTP header name (RFC 9110 token), at most 100 characters.
pub fn is_header_name(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 100
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
