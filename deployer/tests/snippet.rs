//! The counter on a page, as a visitor's browser runs it: the fragment `deployer snippet`
//! prints, on a page served from loopback, in headless Chromium, against the stage `up`
//! deployed to the emulator (the emulated request path: API Gateway, Lambda running the real
//! `bootstrap`, DynamoDB). One emulator and one deployed stack serve the whole story:
//! - a browser session counts once: its first page and three reloads add one visit, each page
//!   showing the count; a new session adds one more;
//! - a page on an origin the stack does not allow shows the fallback, and counted nothing
//!   although the stage answered; a page opened from a file counts when `cors_origins` has
//!   "null";
//! - with the API stopped, the fallback shows at once and the page's `load` is not held up;
//!   with the API hung, the fallback shows at the timeout;
//! - crawlers, previews, audits and prefetches get the count through the stage, uncounted;
//! - a screenshot of the page is kept (`target/tmp/snippet.png`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;

use serde_json::{json, Value};
use support::browser::{page_listener, screenshot, serve_site, visit, visit_in_real_time};
use support::{real_zip, Fixture};

/// The résumé page: the fragment where the count goes.
fn resume(fragment: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Résumé</title></head>\
         <body style=\"font:18px sans-serif;margin:24px\"><h1>Ada Lovelace</h1>\
         <p>You are visitor number {fragment}</p></body></html>"
    )
}

/// The harness: opens `/page` in a frame `times` times, one after the other, in this tab (so
/// in one browser session), and writes what each showed into `#out`.
fn reloads(times: usize) -> String {
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8"></head><body>
<pre id="out">pending</pre><script>
function open(src) {{
  return new Promise(done => {{
    const f = document.createElement("iframe");
    f.src = src;
    f.onload = () => {{
      const poll = () => {{
        const t = f.contentDocument.getElementById("visitor-count").textContent;
        if (t !== "…") {{ f.remove(); done(t); }} else setTimeout(poll, 20);
      }};
      poll();
    }};
    document.body.appendChild(f);
  }});
}}
(async () => {{
  const shown = [];
  for (let i = 0; i < {times}; i++) shown.push(await open("/page"));
  document.getElementById("out").textContent = JSON.stringify({{shown}});
}})();
</script></body></html>"#
    )
}

/// A page with the fragment and a clock: when `load` fired, and when the count (or the
/// fallback) replaced the placeholder, in ms since navigation.
fn timed(fragment: &str) -> String {
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8"></head><body><p>visitor {fragment}</p><pre id="out">pending</pre><script>
let loadAt = null, shownAt = null;
addEventListener("load", () => {{ loadAt = performance.now(); }});
const span = document.getElementById("visitor-count");
new MutationObserver(() => {{ shownAt = performance.now(); }})
  .observe(span, {{childList: true, characterData: true, subtree: true}});
(function poll() {{
  if (loadAt !== null && shownAt !== null) {{
    document.getElementById("out").textContent =
      JSON.stringify({{text: span.textContent, loadAt, shownAt}});
  }} else setTimeout(poll, 20);
}})();
</script></body></html>"#
    )
}

/// The harness for a page whose request never ends: the page in a frame, and an image that
/// arrives from `slow` late (real time), which holds this page's own `load` (and so the DOM
/// dump) until then; the frame's result is copied into `#out`.
fn held(page: &str, slow: &str) -> String {
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8"></head><body>
<pre id="out">pending</pre><iframe src="/{page}"></iframe><img src="{slow}">
<script>
const f = document.querySelector("iframe");
(function poll() {{
  const out = f.contentDocument && f.contentDocument.getElementById("out");
  if (out && out.textContent !== "pending") document.getElementById("out").textContent = out.textContent;
  else setTimeout(poll, 20);
}})();
</script></body></html>"#
    )
}

/// An image server that answers after 8 s: long enough for a 3 s timeout on a busy machine.
async fn slow_image() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt as _;
                tokio::time::sleep(std::time::Duration::from_millis(8000)).await;
                let answer = "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n";
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    format!("http://127.0.0.1:{port}/slow.png")
}

/// A listener that takes connections and never answers: an API that hangs.
async fn hung_api() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    format!("http://127.0.0.1:{port}/prod")
}

/// An API that is down: a loopback port bound but never listened on, so that every connection
/// to it is refused, and no other listener can take it while the socket lives (a port bound
/// and freed at once could be handed to the next listener, which would hold the page's fetch).
fn stopped_api() -> (tokio::net::TcpSocket, String) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    (socket, format!("http://127.0.0.1:{port}/prod"))
}

/// One request to the stage with `headers`, as a client that is not a page sends it.
async fn get(url: &str, headers: &[(&str, &str)]) -> Value {
    let mut req = reqwest::Client::new().get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 200, "{url} {headers:?}");
    serde_json::from_str(&r.text().await.unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_snippet_counts_each_session_once_and_falls_back_without_holding_the_page() {
    let (good, good_port) = page_listener().await;
    let (other, other_port) = page_listener().await;
    let f = Fixture::new(&format!(
        "name: vc\nregion: us-east-1\nstage: prod\napi:\n  cors_origins: [\"http://127.0.0.1:{good_port}\", \"null\"]\n"
    ));
    f.up(&real_zip()).ok();
    let run = f.run(&["--output", "json", "snippet"]).ok();
    let (url, fragment) = (run.json()["url"].clone(), run.json()["fragment"].clone());
    let (url, fragment) = (url.as_str().unwrap(), fragment.as_str().unwrap());
    let outputs = f.run(&["--output", "json", "outputs"]).ok().json();
    assert_eq!(outputs["api_url"], json!(url));
    assert!(fragment.len() < 1024, "{} bytes", fragment.len());
    let text = f.run(&["snippet"]).ok();
    assert_eq!(
        text.stdout.trim_end(),
        fragment.trim_end(),
        "text output is the fragment itself"
    );

    let (_refusing, stopped) = stopped_api();
    let site = |fragment: &str, times: usize| {
        HashMap::from([
            (String::new(), reloads(times)),
            ("page".to_string(), resume(fragment)),
            ("stopped".to_string(), timed(&snippet_for(&f, &stopped))),
        ])
    };
    let mut good_site = site(fragment, 4);
    good_site.insert("hung".into(), timed(&snippet_for(&f, &hung_api().await)));
    good_site.insert("held".into(), held("hung", &slow_image().await));
    serve_site(good, good_site);
    serve_site(other, site(fragment, 1));
    let count = || async { support::count(&f.clients().await).await };
    let good_url = |path: &str| format!("http://127.0.0.1:{good_port}/{path}");

    // One session: the first page and three reloads, one visit; each page shows it.
    let before = count().await;
    let profile = tempfile::tempdir().unwrap();
    let seen = visit(&good_url(""), profile.path());
    let one = (before + 1).to_string();
    assert_eq!(seen["shown"], json!([one, one, one, one]), "{seen:#}");
    assert_eq!(count().await, before + 1);
    let reads = f.proxy.served();
    let paths: Vec<&str> = reads.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(
        paths,
        ["/counter", "/count", "/count", "/count"],
        "{reads:?}"
    );

    // A new session (another browser run): one more, whatever it reloads.
    let profile = tempfile::tempdir().unwrap();
    let seen = visit(&good_url(""), profile.path());
    let two = (before + 2).to_string();
    assert_eq!(seen["shown"], json!([two, two, two, two]), "{seen:#}");
    assert_eq!(count().await, before + 2);

    // Another origin: the fallback, and no visit, though the stage answered the request.
    let _ = f.proxy.served();
    let seen = visit(&format!("http://127.0.0.1:{other_port}/"), profile.path());
    assert_eq!(seen["shown"], json!(["–"]), "{seen:#}");
    assert_eq!(count().await, before + 2, "another origin's page counted");
    let served = f.proxy.served();
    assert!(
        served
            .iter()
            .any(|s| s.path == "/counter" && s.status == 200),
        "the stage did not answer the other origin's request: {served:?}"
    );

    // A page opened from a file (a local preview), with "null" among the origins: it counts.
    let file = f.path().join("preview.html");
    std::fs::write(&file, timed(fragment)).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let preview = visit(&format!("file://{}", file.display()), profile.path());
    assert_eq!(
        preview["text"],
        json!((before + 3).to_string()),
        "{preview:#}"
    );

    // The API down: the fallback at once, and `load` not held up. Hung: the fallback at the
    // timeout (3 s), `load` still not held up.
    let stopped = visit(&good_url("stopped"), profile.path());
    assert_eq!(stopped["text"], "–", "{stopped:#}");
    assert!(stopped["shownAt"].as_f64().unwrap() < 3000.0, "{stopped:#}");
    assert!(stopped["loadAt"].as_f64().unwrap() < 2500.0, "{stopped:#}");
    let hung = visit_in_real_time(&good_url("held"), profile.path());
    assert_eq!(hung["text"], "–", "{hung:#}");
    let shown = hung["shownAt"].as_f64().unwrap();
    assert!((2900.0..7500.0).contains(&shown), "{hung:#}");
    assert!(hung["loadAt"].as_f64().unwrap() < 2500.0, "{hung:#}");
    eprintln!("API down: {stopped}; API hung: {hung}");

    // Through the stage: crawlers, a preview, an audit and a prefetch read; a browser counts.
    let counter = format!("{url}/counter");
    for header in testkit::visitors::NOT_VISITS {
        let body = get(&counter, &[header]).await;
        assert_eq!(
            body,
            json!({"count": before + 3, "counted": false}),
            "{header:?}"
        );
    }
    let chrome = testkit::visitors::CHROME;
    let body = get(&counter, &[("User-Agent", chrome)]).await;
    assert_eq!(body, json!({"count": before + 4, "counted": true}));

    // The page as a visitor sees it, kept for people to look at.
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("snippet.png");
    let profile = tempfile::tempdir().unwrap();
    screenshot(&good_url("page"), profile.path(), &shot);
    eprintln!("the page with the snippet: {}", shot.display());
}

/// The fragment for another base URL, as `deployer snippet --url` prints it.
fn snippet_for(f: &Fixture, url: &str) -> String {
    f.run(&["snippet", "--url", url]).ok().stdout
}
