//! The function's trust anchors, on the real `bootstrap` under the local Runtime API:
//! - no certificate store is opened at init, nor while serving its first invocation, over HTTP
//!   or TLS (traced with strace: every `open`/`openat` of the process and its threads);
//! - an HTTPS endpoint whose certificate a private CA signed is refused by default (full
//!   verification, no trust in what is not compiled in), and trusted through `AWS_CA_BUNDLE`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::time::Duration;

use deployer::local::runtime_api::{Outcome, Sandbox};
use serde_json::Value;
use support::{rest_event, rust_spec};

/// Where a Linux system keeps certificates: Debian's and al2023's stores, OpenSSL's default.
const STORES: [&str; 4] = [
    "/etc/ssl",
    "/etc/pki",
    "/usr/lib/ssl",
    "/usr/share/ca-certificates",
];

fn status_of(outcome: &Outcome) -> u64 {
    let Outcome::Response(body) = outcome else {
        panic!("{outcome:?}")
    };
    let v: Value = serde_json::from_slice(body).unwrap();
    v["statusCode"].as_u64().unwrap()
}

async fn counter_table(moto: &testkit::Moto) {
    let db = function::dynamodb_client(moto.loader()).await;
    testkit::create_counter_table(&db, "visitors")
        .await
        .unwrap();
}

/// The files the bootstrap opened, traced with strace (every thread), from its start through
/// one `/counter` invocation under `env`, with the invocation's status.
async fn traced(env: &[(&str, &str)]) -> (u64, Vec<String>) {
    let strace = Path::new("/usr/bin/strace");
    assert!(
        strace.exists(),
        "this test needs strace at /usr/bin/strace; `make setup` installs it (scripts/debian)"
    );
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace");
    let mut spec = rust_spec(env, Duration::from_secs(10));
    spec.args = vec![
        "-f".into(),
        "-qq".into(),
        "-e".into(),
        "trace=open,openat,openat2".into(),
        "-o".into(),
        trace.display().to_string(),
        spec.program.display().to_string(),
    ];
    spec.program = strace.to_path_buf();
    let mut sandbox = Sandbox::spawn(&spec).await.unwrap();
    let outcome = sandbox.invoke(rest_event("/counter")).await;
    sandbox.stop().await;
    let opened = std::fs::read_to_string(&trace).unwrap();
    assert!(
        opened.lines().count() > 3,
        "strace saw nothing: is the trace working?\n{opened}"
    );
    (
        status_of(&outcome),
        opened.lines().map(String::from).collect(),
    )
}

/// The lines of a trace that open a file under a certificate store.
fn stores(opened: &[String]) -> Vec<&String> {
    opened
        .iter()
        .filter(|l| STORES.iter().any(|s| l.contains(&format!("\"{s}"))))
        .collect()
}

/// Over plain HTTP, then over TLS to an endpoint a private CA signed: refused with the
/// compiled-in roots (the handshake ran, and read no store to decide), counted with
/// `AWS_CA_BUNDLE` (its file opened once, at init, and no store beside it).
#[tokio::test]
async fn no_certificate_store_is_opened_at_init_or_by_the_first_invocation() {
    let moto = testkit::Moto::start();
    counter_table(&moto).await;
    // What the SDK's default client would read, were it still reading a store.
    let store = ("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt");
    let table = ("TABLE_NAME", "visitors");
    let (status, opened) = traced(&[table, ("AWS_ENDPOINT_URL", moto.endpoint()), store]).await;
    assert_eq!(status, 200);
    assert_eq!(stores(&opened), Vec::<&String>::new(), "over HTTP");

    let front = testkit::TlsFront::start(moto.endpoint());
    let tls = ("AWS_ENDPOINT_URL", front.endpoint());
    let (status, opened) = traced(&[table, tls, store]).await;
    assert_eq!(status, 500, "the private CA is in no compiled-in root");
    assert_eq!(
        stores(&opened),
        Vec::<&String>::new(),
        "a refused handshake"
    );

    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("private-ca.pem");
    std::fs::write(&bundle, front.ca_pem()).unwrap();
    let trusted = ("AWS_CA_BUNDLE", bundle.to_str().unwrap());
    let (status, opened) = traced(&[table, tls, store, trusted]).await;
    assert_eq!(status, 200, "counted over TLS");
    assert_eq!(
        stores(&opened),
        Vec::<&String>::new(),
        "a trusted handshake"
    );
    let bundle_opens = opened
        .iter()
        .filter(|l| l.contains(&format!("\"{}\"", bundle.display())))
        .count();
    assert_eq!(bundle_opens, 1, "AWS_CA_BUNDLE is read once:\n{opened:#?}");
}

#[tokio::test]
async fn a_private_ca_endpoint_is_refused_unless_aws_ca_bundle_trusts_it() {
    let moto = testkit::Moto::start();
    counter_table(&moto).await;
    let front = testkit::TlsFront::start(moto.endpoint());

    // Not trusted: the private CA is in no compiled-in root, so the handshake fails.
    let refused = rust_spec(
        &[
            ("TABLE_NAME", "visitors"),
            ("AWS_ENDPOINT_URL", front.endpoint()),
        ],
        Duration::from_secs(5),
    );
    let mut sandbox = Sandbox::spawn(&refused).await.unwrap();
    assert_eq!(
        status_of(&sandbox.invoke(rest_event("/counter")).await),
        500
    );
    sandbox.stop().await;

    // Trusted through the setting: the same endpoint counts.
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("private-ca.pem");
    std::fs::write(&bundle, front.ca_pem()).unwrap();
    let trusted = rust_spec(
        &[
            ("TABLE_NAME", "visitors"),
            ("AWS_ENDPOINT_URL", front.endpoint()),
            ("AWS_CA_BUNDLE", bundle.to_str().unwrap()),
        ],
        Duration::from_secs(5),
    );
    let mut sandbox = Sandbox::spawn(&trusted).await.unwrap();
    let outcome = sandbox.invoke(rest_event("/counter")).await;
    assert_eq!(status_of(&outcome), 200, "{outcome:?}");
    sandbox.stop().await;

    // A bundle that holds no certificate is an init error, said at once.
    std::fs::write(&bundle, "not a certificate\n").unwrap();
    let mut sandbox = Sandbox::spawn(&trusted).await.unwrap();
    let outcome = sandbox.invoke(rest_event("/counter")).await;
    assert!(matches!(outcome, Outcome::Crashed(_)), "{outcome:?}");
    sandbox.stop().await;
}
