//! The counter as a visitor's browser reads it: a web page in headless Chromium (Debian's
//! package, installed by `make setup`) fetches the count from the stage `up` deployed to the
//! emulator, served by its emulated request path (API Gateway, Lambda running the real
//! `bootstrap`, DynamoDB). The browser, not our code, enforces CORS here:
//! - a page on an allowed origin reads the count with a plain request, and with one that needs
//!   a preflight (a custom header and a JSON body);
//! - it can read API Gateway's own errors too (a 403 for an unknown path, a 429 past the stage's
//!   burst), thanks to the gateway responses' CORS headers;
//! - a page on another origin is refused by the browser itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};

use support::browser::{page_listener, serve_page, visit};
use support::{real_zip, Fixture, STACK};

/// The page: three fetches, their outcomes written into `#out` as JSON.
fn page(api: &str) -> String {
    format!(
        r#"<!doctype html><html><body><pre id="out">pending</pre><script>
const api = "{api}";
async function probe(url, init) {{
  try {{
    const r = await fetch(url, init);
    let body = null;
    try {{ body = await r.json(); }} catch (e) {{}}
    return {{status: r.status, body}};
  }} catch (e) {{
    return {{error: String(e)}};
  }}
}}
(async () => {{
  const out = {{}};
  out.plain = await probe(api + "/counter");
  out.preflighted = await probe(api + "/counter", {{
    method: "POST",
    headers: {{"Content-Type": "application/json", "X-Visitor-Id": "v-1"}},
    body: "{{}}"
  }});
  out.gateway = await probe(api + "/no-such-path");
  out.burst = await Promise.all([1, 2, 3, 4, 5].map(() => probe(api + "/health")));
  document.getElementById("out").textContent = JSON.stringify(out);
}})();
</script></body></html>"#
    )
}

/// The stack, deployed with `up` to the emulator, whose only CORS origin is `origin` and whose
/// stage lets a burst of 3 requests through per method; the stage's URL.
fn deploy(f: &Fixture, origin: &str, zip: &Path) -> String {
    f.write_stack(&format!(
        "name: vc\nregion: us-east-1\nstage: prod\napi:\n  routes: [GET /counter, POST /counter, GET /health]\n  cors_origins: [\"{origin}\"]\n  throttle: {{ rate: 1, burst: 3 }}\n"
    ));
    let up = f.up(zip).ok();
    let outputs = f.run(&["--output", "json", "outputs"]).ok().json();
    assert!(up.stdout.contains("api_url"), "{}", up.stdout);
    outputs["api_url"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_an_allowed_origin_reads_the_count_and_another_origin_is_refused_by_the_browser()
{
    let f = Fixture::new(STACK);
    let zip: PathBuf = real_zip();

    // The allowed origin is the page's own: its port is bound before the stack is deployed.
    let (good, good_port) = page_listener().await;
    let (other, other_port) = page_listener().await;
    let api = deploy(&f, &format!("http://127.0.0.1:{good_port}"), &zip);
    serve_page(good, page(&api));
    serve_page(other, page(&api));

    let profile = tempfile::tempdir().unwrap();
    let seen = visit(&format!("http://127.0.0.1:{good_port}/"), profile.path());
    assert_eq!(seen["plain"]["status"], 200, "{seen:#}");
    let first = seen["plain"]["body"]["count"].as_u64().unwrap();
    assert_eq!(seen["preflighted"]["status"], 200, "{seen:#}");
    assert_eq!(
        seen["preflighted"]["body"]["count"].as_u64(),
        Some(first + 1),
        "{seen:#}"
    );
    assert_eq!(seen["gateway"]["status"], 403, "{seen:#}");
    assert_eq!(
        seen["gateway"]["body"]["message"], "Missing Authentication Token",
        "{seen:#}"
    );
    // Past the burst, API Gateway's own 429, readable thanks to DEFAULT_4XX's CORS headers.
    let burst: Vec<u64> = seen["burst"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(burst.iter().filter(|s| **s == 200).count(), 3, "{seen:#}");
    assert_eq!(burst.iter().filter(|s| **s == 429).count(), 2, "{seen:#}");
    let throttled = seen["burst"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["status"] == 429)
        .unwrap();
    assert_eq!(
        throttled["body"]["message"], "Too Many Requests",
        "{seen:#}"
    );

    let _ = f.proxy.served();
    let c = f.clients().await;
    let before = support::count(&c).await;
    let profile = tempfile::tempdir().unwrap();
    let refused = visit(&format!("http://127.0.0.1:{other_port}/"), profile.path());
    for probe in ["plain", "preflighted", "gateway"] {
        let error = refused[probe]["error"].as_str().unwrap_or_else(|| {
            panic!("{probe}: the browser let another origin read it: {refused:#}")
        });
        assert!(error.contains("Failed to fetch"), "{probe}: {error}");
    }
    // Not a dead server: the stage answered the page's plain request, which the browser then
    // kept from the page.
    let served = f.proxy.served();
    assert!(
        served
            .iter()
            .any(|s| s.method == "GET" && s.path == "/counter" && s.status == 200),
        "{served:?}"
    );
    // The function ran for it (its request id) and answered 200, and counted nothing: it counts
    // no visit from an origin the stack does not allow. The preflighted POST, refused at its
    // preflight, was never sent.
    assert!(
        served
            .iter()
            .any(|s| s.path == "/counter" && s.status == 200 && s.lambda_request_id.is_some()),
        "{served:?}"
    );
    assert!(!served.iter().any(|s| s.method == "POST"), "{served:?}");
    assert_eq!(support::count(&c).await, before, "{served:?}");
}
