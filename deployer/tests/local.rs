//! The local half: the Runtime API server checked with a client nobody here wrote (AWS's
//! `awslambdaric`), the same suite on the real Rust `bootstrap`, and `invoke --local` and `serve`
//! through the real binary against moto.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use deployer::local::runtime_api::{Outcome, Sandbox, Spec};
use serde_json::{json, Value};
use support::{real_zip, rest_event, rust_spec, Fixture, STACK};

fn workspace() -> PathBuf {
    testkit::workspace_root()
}

const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:conformance";

fn python_spec(handler: &str, timeout: Duration) -> Spec {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/python");
    let python = workspace().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make setup`",
        python.display()
    );
    Spec {
        program: python,
        args: vec![
            "-m".into(),
            "awslambdaric".into(),
            format!("handler.{handler}"),
        ],
        cwd: Some(dir.clone()),
        env: vec![
            ("LAMBDA_TASK_ROOT".into(), dir.display().to_string()),
            ("AWS_LAMBDA_FUNCTION_NAME".into(), "conformance".into()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), "128".into()),
            ("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into()),
            ("AWS_REGION".into(), "us-east-1".into()),
        ],
        timeout,
        function_arn: ARN.into(),
        logs: lambda_local::Logs::Discard,
    }
}

fn json_of(bytes: &Bytes) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(bytes)))
}

#[tokio::test]
async fn awslambdaric_gets_the_event_id_deadline_and_arn() {
    let mut sandbox = Sandbox::spawn(&python_spec("echo", Duration::from_secs(5)))
        .await
        .unwrap();
    for n in 0..2 {
        let outcome = sandbox
            .invoke(Bytes::from(json!({"hello": "world", "n": n}).to_string()))
            .await;
        let Outcome::Response(body) = outcome else {
            panic!("{outcome:?}")
        };
        let v = json_of(&body);
        assert_eq!(v["event"], json!({"hello": "world", "n": n}));
        assert_eq!(v["function_arn"], ARN);
        assert_eq!(v["request_id"].as_str().unwrap().len(), 36);
        let remaining = v["remaining_ms"].as_i64().unwrap();
        assert!(
            (1..=5000).contains(&remaining),
            "the deadline header gave {remaining} ms"
        );
    }
    assert!(sandbox.init_duration().is_some());
    assert!(sandbox.peak_rss_kib().unwrap_or(0) > 0);
    sandbox.stop().await;
}

#[tokio::test]
async fn awslambdaric_reports_a_handler_error_through_the_error_endpoint() {
    let mut sandbox = Sandbox::spawn(&python_spec("fail", Duration::from_secs(5)))
        .await
        .unwrap();
    let outcome = sandbox.invoke(Bytes::from_static(b"{}")).await;
    let Outcome::Error(body) = outcome else {
        panic!("{outcome:?}")
    };
    let v = json_of(&body);
    assert_eq!(v["errorType"], "ValueError");
    assert_eq!(v["errorMessage"], "deliberate failure");
    assert!(
        sandbox.is_alive(),
        "a handler error does not end the process"
    );
    sandbox.stop().await;
}

#[tokio::test]
async fn a_late_invocation_is_killed_at_the_timeout() {
    let mut sandbox = Sandbox::spawn(&python_spec("slow", Duration::from_secs(1)))
        .await
        .unwrap();
    let started = Instant::now();
    let outcome = sandbox.invoke(Bytes::from_static(b"{}")).await;
    let took = started.elapsed();
    assert_eq!(outcome, Outcome::Timeout);
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert!(!sandbox.is_alive());
    sandbox.stop().await;
}

#[tokio::test]
async fn the_rust_bootstrap_answers_through_the_runtime_api() {
    let moto = testkit::Moto::start();
    let db = function::dynamodb_client(moto.loader()).await;
    testkit::create_counter_table(&db, "visitors")
        .await
        .unwrap();
    let spec = rust_spec(
        &[
            ("TABLE_NAME", "visitors"),
            ("AWS_ENDPOINT_URL", moto.endpoint()),
        ],
        Duration::from_secs(3),
    );
    let mut sandbox = Sandbox::spawn(&spec).await.unwrap();
    let Outcome::Response(body) = sandbox.invoke(rest_event("/counter")).await else {
        panic!()
    };
    let v = json_of(&body);
    assert_eq!(v["statusCode"], 200);
    assert_eq!(
        serde_json::from_str::<Value>(v["body"].as_str().unwrap()).unwrap(),
        json!({"count": 1, "counted": true})
    );
    sandbox.stop().await;
}

/// A direct `lambda:InvokeFunction` with a hand-written payload is the one way an event with no
/// `requestContext` reaches the function: the runtime reports an invocation error (what the
/// caller sees as `FunctionError: Unhandled`), and the same process answers the next event.
#[tokio::test]
async fn an_event_without_request_context_is_an_invocation_error_and_the_process_lives() {
    let spec = rust_spec(&[("TABLE_NAME", "visitors")], Duration::from_secs(3));
    let mut sandbox = Sandbox::spawn(&spec).await.unwrap();
    let mut bare: Value = serde_json::from_slice(&rest_event("/counter")).unwrap();
    bare.as_object_mut().unwrap().remove("requestContext");
    for event in [Bytes::from(bare.to_string()), Bytes::from_static(b"{}")] {
        let outcome = sandbox.invoke(event).await;
        let Outcome::Error(body) = outcome else {
            panic!("expected an invocation error, got {outcome:?}")
        };
        assert!(json_of(&body)["errorType"].is_string(), "{body:?}");
        assert!(sandbox.is_alive());
    }
    let Outcome::Response(body) = sandbox.invoke(rest_event("/nowhere")).await else {
        panic!("the process did not answer after the refused events")
    };
    assert_eq!(json_of(&body)["statusCode"], 404);
    sandbox.stop().await;
}

#[tokio::test]
async fn the_rust_bootstrap_without_table_name_fails_its_init() {
    let mut sandbox = Sandbox::spawn(&rust_spec(&[], Duration::from_secs(3)))
        .await
        .unwrap();
    let outcome = sandbox.invoke(rest_event("/counter")).await;
    let Outcome::Crashed(why) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(why.contains("exited"), "{why}");
    assert!(!sandbox.is_alive());
    sandbox.stop().await;
}

#[tokio::test]
async fn the_rust_bootstrap_answers_before_the_deadline_when_dynamodb_hangs() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent = format!("http://{}", listener.local_addr().unwrap());
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    // A 1 s function: the deadline header, not the SDK's 2 s timeout, must bound the answer.
    let spec = rust_spec(
        &[("TABLE_NAME", "visitors"), ("AWS_ENDPOINT_URL", &silent)],
        Duration::from_secs(1),
    );
    let mut sandbox = Sandbox::spawn(&spec).await.unwrap();
    let outcome = sandbox.invoke(rest_event("/counter")).await;
    holder.abort();
    let Outcome::Response(body) = outcome else {
        panic!("expected a 500 before the deadline, got {outcome:?}")
    };
    assert_eq!(json_of(&body)["statusCode"], 500);
    assert!(sandbox.is_alive());
    sandbox.stop().await;
}

// ---- the CLI ----------------------------------------------------------------------------------

fn invoke_local(f: &Fixture) -> support::Run {
    support::invoke_local(f, &real_zip())
}

#[test]
fn invoke_local_passes_after_up() {
    let f = Fixture::new(STACK);
    f.up(&f.zip_v1).ok();
    let run = invoke_local(&f).ok();
    let report = run.json();
    assert_eq!(report["passed"], true, "{report:#}");
    let names: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 6, "{names:?}");
    for c in report["checks"].as_array().unwrap() {
        assert!(
            c["latency_ms"].is_number() && c.get("status").is_some(),
            "{c}"
        );
    }
}

#[tokio::test]
async fn invoke_local_fails_when_the_table_is_missing() {
    let f = Fixture::new(STACK);
    f.up(&f.zip_v1).ok();
    let c = f.clients().await;
    c.dynamodb
        .update_table()
        .table_name("vc-prod")
        .deletion_protection_enabled(false)
        .send()
        .await
        .unwrap();
    c.dynamodb
        .delete_table()
        .table_name("vc-prod")
        .send()
        .await
        .unwrap();
    let run = invoke_local(&f);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let health = &run.json()["checks"][0];
    assert_eq!(
        (health["passed"].clone(), health["status"].clone()),
        (json!(false), json!(503))
    );
}

#[test]
fn invoke_local_fails_when_table_name_points_elsewhere() {
    let f = Fixture::new(STACK);
    f.up(&f.zip_v1).ok();
    // The stack now names a table that was never created: the function's TABLE_NAME follows it.
    f.write_stack(&STACK.replace("table:\n", "table:\n  name: not-deployed-yet\n"));
    let run = invoke_local(&f);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.json()["passed"], false);
}

#[test]
fn invoke_one_request_prints_the_response() {
    let f = Fixture::new(STACK);
    f.up(&f.zip_v1).ok();
    let zip = real_zip();
    let run = f
        .run(&[
            "invoke",
            "--local",
            "--zip",
            zip.to_str().unwrap(),
            "--path",
            "/prod/health",
            "--method",
            "GET",
        ])
        .ok();
    assert!(run.stdout.starts_with("HTTP 200"), "{}", run.stdout);
    assert!(
        run.stdout.contains("\"status\":\"healthy\""),
        "{}",
        run.stdout
    );
    let missing = f.run(&[
        "invoke",
        "--local",
        "--zip",
        zip.to_str().unwrap(),
        "--path",
        "/admin",
    ]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stdout.contains("Missing Authentication Token"),
        "{}",
        missing.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn serve_counts_exactly_under_eight_concurrent_clients() {
    const CLIENTS: u64 = 8;
    const EACH: u64 = 100;
    let f = Fixture::new(STACK);
    f.up(&f.zip_v1).ok();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let zip = real_zip();
    let mut serve = support::deployer_command(f.path(), f.proxy.endpoint())
        .args([
            "serve",
            "--port",
            &port.to_string(),
            "--zip",
            zip.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let started = Instant::now();
    while client.get(format!("{base}/health")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "serve did not start listening"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (client, base) = (client.clone(), base.clone());
            tokio::spawn(async move {
                let mut counts = Vec::new();
                for _ in 0..EACH {
                    let r = client
                        .get(format!("{base}/prod/counter"))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200);
                    let v: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
                    counts.push(v["count"].as_u64().unwrap());
                }
                counts
            })
        })
        .collect();
    let mut counts = Vec::new();
    for t in tasks {
        counts.extend(t.await.unwrap());
    }
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=CLIENTS * EACH).collect::<Vec<_>>(),
        "every request counted once"
    );

    // `invoke --url` runs its smoke checks against any base URL: here, the local API's stage.
    let run = f.run(&[
        "--output",
        "json",
        "invoke",
        "--url",
        &format!("{base}/prod"),
    ]);
    let report = run.json();
    assert_eq!(run.code, 0, "{report:#}\n{}", run.stderr);
    assert_eq!(report["passed"], true, "{report:#}");
    assert_eq!(report["checks"].as_array().unwrap().len(), 6, "{report:#}");
    // The only AWS requests during it are the function's own, from behind the local API.
    assert!(
        run.calls.iter().all(|c| c.service == "dynamodb"
            && ["GetItem", "UpdateItem"].contains(&c.operation.as_str())),
        "invoke --url talks to no AWS API: {:?}",
        run.calls
    );

    // Ctrl-C stops it cleanly.
    let pid = serve.id().to_string();
    std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    let status = serve.wait().unwrap();
    assert!(status.success(), "serve exited {status}");
}

/// The function's contract is what the deployed routes are checked against: every route it
/// names reaches the real function (never a 403 from the stage, a 404 or a 405 from the
/// function), and a stack naming a route it does not serve is refused before any AWS call.
#[test]
fn every_route_of_the_contract_reaches_the_real_function_and_no_other_is_deployable() {
    let all: Vec<String> = function::contract::routes();
    let stack = STACK.replace(
        "routes: [GET /counter, GET /health]",
        &format!("routes: [{}]", all.join(", ")),
    );
    let f = Fixture::new(&stack);
    f.up(&f.zip_v1).ok();
    let zip = real_zip();
    for route in &all {
        let (method, path) = route.split_once(' ').unwrap();
        let run = f.run(&[
            "--output",
            "json",
            "invoke",
            "--local",
            "--zip",
            zip.to_str().unwrap(),
            "--path",
            &format!("/prod{path}"),
            "--method",
            method,
        ]);
        let answer = run.json();
        assert_eq!(run.code, 0, "{route}: {answer:#}\n{}", run.stderr);
        assert_eq!(answer["status"], 200, "{route}: {answer:#}");
    }

    f.write_stack(&STACK.replace("GET /health]", "GET /visits]"));
    let refused = f.up(&f.zip_v1);
    assert_eq!(refused.code, 1);
    assert!(
        refused.calls.is_empty(),
        "a refused stack sent {:?}",
        refused.calls
    );
    assert!(
        refused
            .stderr
            .contains("api.routes: GET /visits is not a route the function serves"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains(&all.join(", ")),
        "the served routes are listed:\n{}",
        refused.stderr
    );
}
