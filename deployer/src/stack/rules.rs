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

/// The characters every service of the stack accepts in a tag: letters, numbers and spaces in
/// any script, and `_ . : / = + - @` (the tagging APIs' pattern `[\p{L}\p{Z}\p{N}_.:/=+\-@]*`).
pub fn tag_text_problem(what: &str, text: &str, min: usize, max: usize) -> Option<String> {
    static ALLOWED: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let allowed = ALLOWED.get_or_init(|| regex::Regex::new(r"^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$").ok());
    let n = text.chars().count();
    if !(min..=max).contains(&n) {
        return Some(format!("a tag {what} has {min}–{max} characters, not {n}"));
    }
    let Some(re) = allowed else {
        return None;
    };
    if re.is_match(text) {
        return None;
    }
    let bad: String = text
        .chars()
        .filter(|ch| !re.is_match(&ch.to_string()))
        .take(5)
        .collect();
    Some(format!(
        "a tag {what} may hold letters, numbers, spaces and _ . : / = + - @, not {bad:?}"
    ))
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
