//! `snippet`: the HTML fragment that shows the count on a page, wired to a stage's URL.
//!
//! What it does in the visitor's browser:
//! - the first page of a browser session counts (`/counter`) and marks the session
//!   (`sessionStorage`); a reload, or another page of the site in the same tab, reads without
//!   counting (`/count`), so a visitor is one visit however many pages they see;
//! - it sends a plain `GET` with no header of its own, so CORS needs no preflight, and it reads
//!   only what an allowed origin may read;
//! - it never holds the page's `load` up (a `fetch` does not delay it), gives up after
//!   [`TIMEOUT_MS`], and shows a neutral dash on any failure, with one console line;
//! - from a page opened as a file (`file://`), browsers send `Origin: null`: `cors_origins:
//!   ["null"]` lets a local preview read it (never in production: sandboxed frames send it too).
//!
//! The paths come from the function's contract, like every route the deployer deploys.

use function::contract;

/// How long the page waits for the count before showing the fallback.
pub const TIMEOUT_MS: u32 = 3000;
/// The element that shows the count; a page may style it (`#visitor-count`).
pub const ELEMENT_ID: &str = "visitor-count";
/// The `sessionStorage` key that marks a session as counted.
pub const SESSION_KEY: &str = "visitor-counted";
/// What the element shows until the count arrives, and in its place on a failure.
pub const PENDING: &str = "…";
pub const FALLBACK: &str = "–";

/// The fragment for the stage at `url` (no trailing slash needed).
pub fn fragment(url: &str) -> String {
    let base = js_string(url.trim_end_matches('/'));
    let (count, read) = (contract::COUNTER.path, contract::READ.path);
    let (id, key, pending, fallback) = (ELEMENT_ID, SESSION_KEY, PENDING, FALLBACK);
    format!(
        r#"<span id="{id}">{pending}</span>
<script>(function(){{var e=document.getElementById("{id}"),s=null,k="{key}";
try{{s=window.sessionStorage}}catch(x){{}}
var seen=s&&s.getItem(k),c=new AbortController(),t=setTimeout(function(){{c.abort()}},{TIMEOUT_MS});
fetch({base}+(seen?"{read}":"{count}"),{{signal:c.signal}})
.then(function(r){{if(!r.ok)throw new Error("HTTP "+r.status);return r.json()}})
.then(function(d){{e.textContent=d.count;if(s)s.setItem(k,"1")}})
.catch(function(x){{e.textContent="{fallback}";console.warn("visitor count unavailable:",x.message||x)}})
.finally(function(){{clearTimeout(t)}})}})();</script>
"#
    )
}

/// `s` as a JavaScript string literal that cannot end the script element it sits in.
fn js_string(s: &str) -> String {
    serde_json::Value::String(s.to_string())
        .to_string()
        .replace('<', "\\u003c")
}

/// Whether `url` is an address the fragment can call: http or https, nothing else.
pub fn check_url(url: &str) -> anyhow::Result<()> {
    let ok = url.starts_with("https://") || url.starts_with("http://");
    anyhow::ensure!(
        ok && !url.contains(char::is_whitespace),
        "--url {url:?}: give the stage's base URL, such as https://abc123.execute-api.us-east-1.amazonaws.com/prod"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://abc123.execute-api.us-east-1.amazonaws.com/prod";

    #[test]
    fn the_fragment_is_under_a_kilobyte_and_wired_to_the_stage_and_the_contracts_paths() {
        let f = fragment(URL);
        assert!(f.len() < 1024, "{} bytes", f.len());
        assert!(f.contains(&format!("fetch(\"{URL}\"+(seen?\"/count\":\"/counter\")")));
        assert!(f.contains(r#"<span id="visitor-count">…</span>"#));
        assert!(f.contains("setTimeout(function(){c.abort()},3000)"));
        assert_eq!(f.matches("console.").count(), 1, "one log line at most");
        // No header of its own: a simple request, no preflight.
        assert!(!f.contains("headers"));
        assert_eq!(fragment(&format!("{URL}/")), f);
    }

    #[test]
    fn a_url_cannot_break_out_of_the_script() {
        let f = fragment("https://x.example/</script><script>alert(1)</script>");
        assert!(!f.contains("</script><script>"), "{f}");
        assert!(check_url("javascript:alert(1)").is_err());
        assert!(check_url(URL).is_ok());
    }
}
