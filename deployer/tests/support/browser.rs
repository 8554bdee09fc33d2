//! Headless Chromium (Debian's package, installed by `make setup`) visiting pages served from
//! loopback ports: the browser, not our code, enforces CORS and keeps a session's storage.

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;

pub const CHROMIUM: &str = "/usr/bin/chromium";

/// The flags of every run: headless, quiet, nothing fetched but the page's own requests.
const FLAGS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// Lets the page's fetches and timers finish before the DOM is dumped. Virtual time stands
/// still while a fetch is pending, so a page that waits on a request that never ends needs
/// [`visit_in_real_time`].
const VIRTUAL_TIME: &str = "--virtual-time-budget=20000";

fn chromium() -> Command {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run `make setup` (it installs Debian's chromium package)"
    );
    let mut command = Command::new(CHROMIUM);
    command.args(FLAGS).stdin(Stdio::null());
    command
}

/// A PNG of `url` as Chromium renders it once its scripts are done, at `to`.
pub fn screenshot(url: &str, profile: &Path, to: &Path) {
    let out = chromium()
        .arg(VIRTUAL_TIME)
        .arg("--window-size=480,160")
        .arg(format!("--screenshot={}", to.display()))
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .output()
        .unwrap();
    assert!(
        to.exists(),
        "no screenshot at {}: {}",
        to.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A loopback port for a page, bound now so that its origin is known before the page is.
pub async fn page_listener() -> (tokio::net::TcpListener, u16) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// Serves `html` at every path on `listener`, until the runtime stops.
pub fn serve_page(listener: tokio::net::TcpListener, html: String) {
    serve_site(listener, HashMap::from([(String::new(), html)]));
}

/// Serves each page of `site` at its path (`/page` for `"page"`), and the one at `""` at every
/// other path, on `listener`, until the runtime stops.
pub fn serve_site(listener: tokio::net::TcpListener, site: HashMap<String, String>) {
    let site: Arc<HashMap<String, Bytes>> =
        Arc::new(site.into_iter().map(|(k, v)| (k, Bytes::from(v))).collect());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let site = Arc::clone(&site);
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let path = req.uri().path().trim_start_matches('/').to_string();
                    let html = site.get(&path).or_else(|| site.get("")).cloned();
                    async move {
                        let mut r = Response::new(Full::new(html.unwrap_or_default()));
                        r.headers_mut()
                            .insert("content-type", "text/html; charset=utf-8".parse().unwrap());
                        Ok::<_, Infallible>(r)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

/// What the page wrote, as headless Chromium rendered it. `--virtual-time-budget` lets the
/// page's fetches finish before the DOM is dumped.
pub fn visit(url: &str, profile: &Path) -> Value {
    dump(url, profile, Some(VIRTUAL_TIME))
}

/// What the page wrote, dumped when its `load` event fired, in real time.
pub fn visit_in_real_time(url: &str, profile: &Path) -> Value {
    dump(url, profile, None)
}

fn dump(url: &str, profile: &Path, budget: Option<&str>) -> Value {
    let out = chromium()
        .args(budget)
        .arg("--dump-dom")
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let json = dom
        .split_once(r#"<pre id="out">"#)
        .and_then(|(_, rest)| rest.split_once("</pre>"))
        .map(|(json, _)| json.replace("&quot;", "\"").replace("&amp;", "&"))
        .unwrap_or_else(|| {
            panic!(
                "no result in the page:\n{dom}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    serde_json::from_str(&json).unwrap_or_else(|e| {
        panic!(
            "{e}: {json} (the page's script had not written its result when Chromium dumped \
             the page)\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}
