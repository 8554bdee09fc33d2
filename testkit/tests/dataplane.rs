//! The emulated request path on its own, with functions written for the purpose (Python
//! bootstraps speaking the Runtime API, boto3 for AWS calls) and resources made with the SDK
//! through the proxy, as any tool would make them:
//! - a route is served once a deployment includes it, through the function, with the event API
//!   Gateway builds; a route added since is not;
//! - without the invoke permission the gateway answers 500; past the stage's burst, 429 with the
//!   headers of the API's gateway responses;
//! - a bootstrap that exits at init is a 502 and says so in CloudWatch Logs; a handler slower
//!   than its timeout is cut there, and `Invoke` reports it as Lambda does, with the log tail;
//! - a function's own AWS calls are its role's: allowed on its table, denied elsewhere, and
//!   limited to one item by `dynamodb:LeadingKeys`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::time::{Duration, Instant};

use aws_sdk_apigateway::types::{GatewayResponseType, IntegrationType, Op, PatchOperation};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, LogType, Runtime};
use base64::Engine as _;
use serde_json::{json, Value};
use testkit::{dummy_loader, Moto, Recorder};

const ACCOUNT: &str = "123456789012";

/// A Runtime API loop in Python: `HANDLER` is the body of `handle(event) -> response`.
fn bootstrap(handler: &str) -> String {
    let python = testkit::workspace_root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make setup`",
        python.display()
    );
    format!(
        r#"#!{python}
import json, os, sys, time, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
def handle(event):
{handler}
while True:
    with urllib.request.urlopen(api + "next") as r:
        rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(r.read())
    print(json.dumps({{"requestId": rid, "message": "handling"}}), flush=True)
    body = json.dumps(handle(event)).encode()
    urllib.request.urlopen(urllib.request.Request(api + rid + "/response", data=body))
"#,
        python = python.display()
    )
}

fn zip_of(script: &str) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let options = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
    zip.start_file("bootstrap", options).unwrap();
    zip.write_all(script.as_bytes()).unwrap();
    zip.finish().unwrap();
    out.into_inner()
}

/// moto, the proxy with the data plane, and SDK clients through the proxy.
struct Plane {
    _moto: Moto,
    proxy: Recorder,
    lambda: aws_sdk_lambda::Client,
    gw: aws_sdk_apigateway::Client,
    iam: aws_sdk_iam::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    db: aws_sdk_dynamodb::Client,
    http: reqwest::Client,
}

impl Plane {
    async fn new() -> Plane {
        let moto = Moto::start();
        let proxy = Recorder::start(moto.endpoint());
        let config = dummy_loader().endpoint_url(proxy.endpoint()).load().await;
        Plane {
            lambda: aws_sdk_lambda::Client::new(&config),
            gw: aws_sdk_apigateway::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
            logs: aws_sdk_cloudwatchlogs::Client::new(&config),
            db: aws_sdk_dynamodb::Client::new(&config),
            http: reqwest::Client::new(),
            _moto: moto,
            proxy,
        }
    }

    /// A role Lambda may assume, with `policy` inline; its ARN.
    async fn role(&self, name: &str, policy: Value) -> String {
        let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
        let role = self
            .iam
            .create_role()
            .role_name(name)
            .assume_role_policy_document(trust.to_string())
            .send()
            .await
            .unwrap();
        self.iam
            .put_role_policy()
            .role_name(name)
            .policy_name("inline")
            .policy_document(policy.to_string())
            .send()
            .await
            .unwrap();
        role.role.unwrap().arn
    }

    /// A function running `script`, with a role allowed to write its logs, and its log group.
    async fn function(&self, name: &str, script: &str, timeout: i32) -> String {
        let logs = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": format!("arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/{name}:*")}]});
        let role = self.role(&format!("{name}-role"), logs).await;
        self.logs
            .create_log_group()
            .log_group_name(format!("/aws/lambda/{name}"))
            .send()
            .await
            .unwrap();
        self.lambda
            .create_function()
            .function_name(name)
            .runtime(Runtime::from("provided.al2023"))
            .handler("bootstrap")
            .role(role)
            .timeout(timeout)
            .code(
                FunctionCode::builder()
                    .zip_file(Blob::new(zip_of(script)))
                    .build(),
            )
            .send()
            .await
            .unwrap()
            .function_arn
            .unwrap()
    }

    /// A REST API with `GET /{path}` integrated with `function_arn`, deployed to stage `prod`
    /// with throttling `rate`/`burst`, CORS headers on its 4xx, and the invoke permission.
    async fn api(&self, function_arn: &str, path: &str, rate: f64, burst: i32) -> String {
        let api = self.gw.create_rest_api().name("api").send().await.unwrap();
        let id = api.id.unwrap();
        let root = api.root_resource_id.unwrap();
        self.route(&id, &root, path, function_arn).await;
        self.gw
            .put_gateway_response()
            .rest_api_id(&id)
            .response_type(GatewayResponseType::Default4Xx)
            .response_parameters(
                "gatewayresponse.header.Access-Control-Allow-Origin",
                "'https://example.com'",
            )
            .send()
            .await
            .unwrap();
        let name = function_arn.rsplit(':').next().unwrap();
        self.lambda
            .add_permission()
            .function_name(name)
            .statement_id("api")
            .action("lambda:InvokeFunction")
            .principal("apigateway.amazonaws.com")
            .source_arn(format!("arn:aws:execute-api:us-east-1:{ACCOUNT}:{id}/*"))
            .send()
            .await
            .unwrap();
        let deployment = self
            .gw
            .create_deployment()
            .rest_api_id(&id)
            .send()
            .await
            .unwrap();
        self.gw
            .create_stage()
            .rest_api_id(&id)
            .stage_name("prod")
            .deployment_id(deployment.id.unwrap())
            .send()
            .await
            .unwrap();
        let replace = |path: &str, value: String| {
            PatchOperation::builder()
                .op(Op::Replace)
                .path(path)
                .value(value)
                .build()
        };
        self.gw
            .update_stage()
            .rest_api_id(&id)
            .stage_name("prod")
            .patch_operations(replace("/*/*/throttling/rateLimit", rate.to_string()))
            .patch_operations(replace("/*/*/throttling/burstLimit", burst.to_string()))
            .send()
            .await
            .unwrap();
        id
    }

    async fn route(&self, api: &str, parent: &str, path: &str, function_arn: &str) {
        let resource = self
            .gw
            .create_resource()
            .rest_api_id(api)
            .parent_id(parent)
            .path_part(path)
            .send()
            .await
            .unwrap();
        let resource = resource.id.unwrap();
        self.gw
            .put_method()
            .rest_api_id(api)
            .resource_id(&resource)
            .http_method("GET")
            .authorization_type("NONE")
            .send()
            .await
            .unwrap();
        self.gw
            .put_integration()
            .rest_api_id(api)
            .resource_id(&resource)
            .http_method("GET")
            .r#type(IntegrationType::AwsProxy)
            .integration_http_method("POST")
            .uri(format!(
                "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{function_arn}/invocations"
            ))
            .send()
            .await
            .unwrap();
    }

    fn url(&self, api: &str, path: &str) -> String {
        format!(
            "{}/_aws/execute-api/{api}/prod/{path}",
            self.proxy.endpoint()
        )
    }

    async fn get(&self, url: &str) -> (u16, reqwest::header::HeaderMap, String) {
        let r = self.http.get(url).send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        (status, headers, r.text().await.unwrap())
    }

    /// Every log line of `function`, oldest first.
    async fn log_lines(&self, function: &str) -> Vec<String> {
        let events = self
            .logs
            .filter_log_events()
            .log_group_name(format!("/aws/lambda/{function}"))
            .send()
            .await
            .unwrap();
        events
            .events()
            .iter()
            .filter_map(|e| e.message().map(str::to_string))
            .collect()
    }
}

const ECHO: &str = r#"    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"path": event["path"], "resource": event["resource"],
                                "stage": event["requestContext"]["stage"],
                                "method": event["httpMethod"]})}"#;

#[tokio::test]
async fn a_route_is_served_once_a_deployment_includes_it() {
    let p = Plane::new().await;
    let f = p.function("echo", &bootstrap(ECHO), 3).await;
    let api = p.api(&f, "hello", 100.0, 100).await;
    let (status, _, body) = p.get(&p.url(&api, "hello")).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v,
        json!({"path": "/hello", "resource": "/hello", "stage": "prod", "method": "GET"})
    );

    let resources = p.gw.get_resources().rest_api_id(&api).send().await.unwrap();
    let root = resources
        .items()
        .iter()
        .find(|r| r.path() == Some("/"))
        .and_then(|r| r.id())
        .unwrap()
        .to_string();
    p.route(&api, &root, "later", &f).await;
    let (status, headers, body) = p.get(&p.url(&api, "later")).await;
    assert_eq!(
        (status, body.as_str()),
        (403, r#"{"message":"Missing Authentication Token"}"#),
        "a route no deployment includes is not served"
    );
    assert_eq!(
        headers["access-control-allow-origin"], "https://example.com",
        "API Gateway's own 403 carries DEFAULT_4XX's headers"
    );
    let deployment =
        p.gw.create_deployment()
            .rest_api_id(&api)
            .send()
            .await
            .unwrap();
    p.gw.update_stage()
        .rest_api_id(&api)
        .stage_name("prod")
        .patch_operations(
            PatchOperation::builder()
                .op(Op::Replace)
                .path("/deploymentId")
                .value(deployment.id.unwrap())
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(p.get(&p.url(&api, "later")).await.0, 200);
}

#[tokio::test]
async fn without_the_invoke_permission_the_gateway_answers_500() {
    let p = Plane::new().await;
    let f = p.function("echo", &bootstrap(ECHO), 3).await;
    let api = p.api(&f, "hello", 100.0, 100).await;
    assert_eq!(p.get(&p.url(&api, "hello")).await.0, 200);
    p.lambda
        .remove_permission()
        .function_name("echo")
        .statement_id("api")
        .send()
        .await
        .unwrap();
    let (status, headers, body) = p.get(&p.url(&api, "hello")).await;
    assert_eq!(
        (status, body.as_str()),
        (500, r#"{"message": "Internal server error"}"#)
    );
    assert_eq!(headers["x-amzn-errortype"], "InternalServerErrorException");
    let served = p.proxy.served();
    assert_eq!(
        served
            .last()
            .map(|s| (s.status, s.lambda_request_id.is_some())),
        Some((500, false)),
        "the function was not invoked"
    );
}

#[tokio::test]
async fn past_the_burst_requests_get_429_with_the_gateway_responses_headers() {
    let p = Plane::new().await;
    let f = p.function("echo", &bootstrap(ECHO), 3).await;
    let api = p.api(&f, "hello", 0.5, 3).await;
    let mut statuses = Vec::new();
    let mut throttled = None;
    for _ in 0..6 {
        let (status, headers, body) = p.get(&p.url(&api, "hello")).await;
        statuses.push(status);
        if status == 429 {
            throttled = Some((headers, body));
        }
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429, 429], "a burst of 3");
    let (headers, body) = throttled.unwrap();
    assert_eq!(body, r#"{"message":"Too Many Requests"}"#);
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://example.com"
    );
}

#[tokio::test]
async fn a_bootstrap_that_exits_at_init_is_a_502_and_its_logs_say_so() {
    let p = Plane::new().await;
    let script = "#!/bin/sh\necho 'missing configuration' >&2\nexit 3\n";
    let f = p.function("broken", script, 3).await;
    let api = p.api(&f, "hello", 100.0, 100).await;
    let (status, _, body) = p.get(&p.url(&api, "hello")).await;
    assert_eq!(
        (status, body.as_str()),
        (502, r#"{"message": "Internal server error"}"#)
    );
    let lines = p.log_lines("broken").await;
    let text = lines.join("\n");
    assert!(text.contains("missing configuration"), "{text}");
    assert!(
        text.contains("Phase: init\tStatus: error\tError Type: Runtime.ExitError"),
        "{text}"
    );
    let report = lines
        .iter()
        .find(|l| l.starts_with("REPORT RequestId: "))
        .unwrap();
    assert!(
        report.ends_with("Status: error\tError Type: Runtime.ExitError\t"),
        "{report}"
    );
}

#[tokio::test]
async fn a_handler_slower_than_its_timeout_is_cut_and_invoke_says_so() {
    let p = Plane::new().await;
    let slow = bootstrap("    time.sleep(5)\n    return {\"statusCode\": 200}");
    p.function("slow", &slow, 1).await;
    let started = Instant::now();
    let out = p
        .lambda
        .invoke()
        .function_name("slow")
        .payload(Blob::new("{}"))
        .log_type(LogType::Tail)
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(
        (Duration::from_millis(950)..Duration::from_millis(2500)).contains(&took),
        "cut at the 1 s timeout, not after the 5 s sleep: {took:?}"
    );
    assert_eq!(out.function_error(), Some("Unhandled"));
    assert_eq!(out.executed_version(), Some("$LATEST"));
    let payload: Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    assert_eq!(payload["errorType"], "Sandbox.Timedout");
    let tail = base64::engine::general_purpose::STANDARD
        .decode(out.log_result().unwrap())
        .unwrap();
    let tail = String::from_utf8(tail).unwrap();
    assert!(tail.contains("Task timed out after"), "{tail}");
    assert!(tail.contains("Status: timeout"), "{tail}");
    assert!(
        tail.contains(r#""message": "handling""#),
        "the function's own line: {tail}"
    );
    let logged = p.log_lines("slow").await.join("\n");
    assert!(logged.contains("Task timed out after"), "{logged}");
}

/// Reads one item of table `table` with boto3, as the function's role.
const READ_ITEM: &str = r#"    import boto3
    db = boto3.client("dynamodb")
    try:
        item = db.get_item(TableName=event["table"], Key={"id": {"S": event["key"]}})
        return {"ok": True, "item": item.get("Item")}
    except Exception as e:
        return {"ok": False, "error": str(e)}"#;

#[tokio::test]
async fn a_functions_own_calls_are_authorized_against_its_role_now() {
    let p = Plane::new().await;
    for table in ["ours", "theirs"] {
        testkit::create_counter_table(&p.db, table).await.unwrap();
    }
    let f = p.function("reader", &bootstrap(READ_ITEM), 10).await;
    let role = "reader-role";
    let ours = format!("arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/ours");
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": "dynamodb:GetItem", "Resource": ours,
        "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["main_counter"]}}}]});
    p.iam
        .put_role_policy()
        .role_name(role)
        .policy_name("counter")
        .policy_document(policy.to_string())
        .send()
        .await
        .unwrap();
    let call = |table: &str, key: &str| {
        let payload = json!({"table": table, "key": key}).to_string();
        let lambda = p.lambda.clone();
        async move {
            let out = lambda
                .invoke()
                .function_name("reader")
                .payload(Blob::new(payload))
                .send()
                .await
                .unwrap();
            serde_json::from_slice::<Value>(out.payload().unwrap().as_ref()).unwrap()
        }
    };
    assert_eq!(call("ours", "main_counter").await["ok"], true);
    let other_key = call("ours", "lease").await;
    assert_eq!(other_key["ok"], false, "{other_key}");
    let other_table = call("theirs", "main_counter").await;
    let error = other_table["error"].as_str().unwrap();
    assert!(
        error.contains("AccessDeniedException")
            && error.contains("assumed-role/reader-role/reader")
            && error.contains("dynamodb:GetItem on resource: arn:aws:dynamodb:us-east-1:123456789012:table/theirs"),
        "{error}"
    );
    let calls: Vec<_> = p
        .proxy
        .take()
        .into_iter()
        .filter(|c| c.caller.as_deref() == Some("reader"))
        .map(|c| (c.operation, c.status))
        .collect();
    assert_eq!(
        calls,
        [
            ("GetItem".to_string(), 200),
            ("GetItem".to_string(), 400),
            ("GetItem".to_string(), 400)
        ],
        "the function's calls are recorded as its own"
    );
    let _ = f;
}

/// moto tags only stages; API Gateway tags a REST API too. An API made without tags (by hand)
/// is tagged and untagged through the proxy, and both reads of it show its tags after each.
#[tokio::test]
async fn a_rest_api_made_without_tags_can_be_tagged_and_untagged() {
    let moto = Moto::start();
    let proxy = Recorder::start(moto.endpoint());
    let gw = aws_sdk_apigateway::Client::new(
        &dummy_loader().endpoint_url(proxy.endpoint()).load().await,
    );
    let api = gw.create_rest_api().name("by-hand").send().await.unwrap();
    let id = api.id().unwrap();
    let arn = format!("arn:aws:apigateway:us-east-1::/restapis/{id}");
    let tags = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<std::collections::HashMap<_, _>>()
    };
    gw.tag_resource()
        .resource_arn(&arn)
        .set_tags(Some(tags(&[("deployer:stack", "vc"), ("team", "web")])))
        .send()
        .await
        .unwrap();
    let read = gw.get_rest_api().rest_api_id(id).send().await.unwrap();
    assert_eq!(
        read.tags().cloned().unwrap_or_default(),
        tags(&[("deployer:stack", "vc"), ("team", "web")])
    );
    gw.untag_resource()
        .resource_arn(&arn)
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    let listed = gw.get_rest_apis().send().await.unwrap();
    assert_eq!(
        listed.items()[0].tags().cloned().unwrap_or_default(),
        tags(&[("deployer:stack", "vc")])
    );
}

/// The sum of `namespace`/`name` by `dims` over the last hour, as CloudWatch holds it (the
/// SDK's GetMetricData, through the proxy); `None` when no datum was published.
async fn metric_sum(p: &Plane, namespace: &str, name: &str, dims: &[(&str, &str)]) -> Option<f64> {
    use aws_sdk_cloudwatch::primitives::DateTime;
    use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
    assert!(
        testkit::dataplane::metrics::PUBLISHED
            .iter()
            .any(|(ns, n, sets)| *ns == namespace
                && *n == name
                && sets
                    .iter()
                    .any(|s| s.len() == dims.len() && dims.iter().all(|(d, _)| s.contains(d)))),
        "{namespace} {name} by {dims:?} is not in metrics::PUBLISHED"
    );
    let config = dummy_loader().endpoint_url(p.proxy.endpoint()).load().await;
    let cw = aws_sdk_cloudwatch::Client::new(&config);
    let dimensions = dims
        .iter()
        .map(|(n, v)| Dimension::builder().name(*n).value(*v).build())
        .collect();
    let metric = Metric::builder()
        .namespace(namespace)
        .metric_name(name)
        .set_dimensions(Some(dimensions))
        .build();
    let stat = MetricStat::builder()
        .metric(metric)
        .period(3600)
        .stat("Sum")
        .build();
    let now = std::time::SystemTime::now();
    let read = cw
        .get_metric_data()
        .metric_data_queries(MetricDataQuery::builder().id("m").metric_stat(stat).build())
        .start_time(DateTime::from(now - Duration::from_secs(3600)))
        .end_time(DateTime::from(now + Duration::from_secs(60)))
        .send()
        .await
        .unwrap();
    let values = read.metric_data_results()[0].values();
    (!values.is_empty()).then(|| values.iter().sum())
}

#[tokio::test]
async fn each_served_request_publishes_the_gateways_and_lambdas_metrics() {
    let p = Plane::new().await;
    let f = p.function("echo", &bootstrap(ECHO), 3).await;
    let api = p.api(&f, "hello", 100.0, 100).await;
    for _ in 0..3 {
        assert_eq!(p.get(&p.url(&api, "hello")).await.0, 200);
    }
    assert_eq!(p.get(&p.url(&api, "nowhere")).await.0, 403);
    let stage = [("ApiName", "api"), ("Stage", "prod")];
    assert_eq!(
        metric_sum(&p, "AWS/ApiGateway", "Count", &stage).await,
        Some(4.0)
    );
    assert_eq!(
        metric_sum(&p, "AWS/ApiGateway", "4XXError", &stage).await,
        Some(1.0)
    );
    assert_eq!(
        metric_sum(&p, "AWS/ApiGateway", "5XXError", &stage).await,
        Some(0.0)
    );
    let function = [("FunctionName", "echo")];
    assert_eq!(
        metric_sum(&p, "AWS/Lambda", "Invocations", &function).await,
        Some(3.0)
    );
    assert_eq!(
        metric_sum(&p, "AWS/Lambda", "Errors", &function).await,
        Some(0.0)
    );
    let took = metric_sum(&p, "AWS/Lambda", "Duration", &function)
        .await
        .unwrap();
    assert!(took > 0.0, "three invocations took {took} ms");
}
