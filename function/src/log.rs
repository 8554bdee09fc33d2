//! Structured logs: one JSON line per request, one more per failure, each with the request id.
//!
//! Only the fields named here are ever logged. Headers are not dumped wholesale, so
//! `Authorization` and `Cookie` cannot reach CloudWatch, and the User-Agent, which a client
//! controls, is cut to 100 characters.

use std::io;

use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;

/// The longest User-Agent written to the log, in characters.
pub const USER_AGENT_MAX: usize = 100;

/// What one request line says.
#[derive(Debug)]
pub struct RequestLine<'a> {
    pub request_id: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub latency_ms: f64,
    pub cold_start: bool,
    pub user_agent: &'a str,
}

/// The JSON subscriber the function logs through: flat JSON objects, one per line.
pub fn subscriber<W>(writer: W) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_writer(writer)
        .finish()
}

/// Installs [`subscriber`] on stdout, which Lambda ships to CloudWatch Logs.
pub fn init() {
    // Fails only if a subscriber is already set, in which case that one keeps logging.
    let _ = tracing::subscriber::set_global_default(subscriber(io::stdout));
}

pub fn request(line: &RequestLine<'_>) {
    tracing::info!(
        requestId = line.request_id,
        method = line.method,
        path = line.path,
        status = line.status,
        latency_ms = line.latency_ms,
        cold_start = line.cold_start,
        userAgent = truncate_chars(line.user_agent, USER_AGENT_MAX),
        "request"
    );
}

pub fn failure(request_id: &str, error: &dyn std::error::Error) {
    tracing::error!(requestId = request_id, error = %error, "request failed");
}

/// The first `max` characters of `s`, never splitting a UTF-8 character.
pub fn truncate_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((end, _)) => &s[..end],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_counts_characters_not_bytes() {
        assert_eq!(truncate_chars("abc", 2), "ab");
        assert_eq!(truncate_chars("abc", 3), "abc");
        assert_eq!(truncate_chars("ééé", 2), "éé");
        assert_eq!(truncate_chars("", 100), "");
    }
}
