//! `diff` against live drift, with the real binary and moto (through the realism layer). One
//! table of rows, each a change made behind the tool's back (through the SDK, as someone in the
//! console would), the changes `diff` must report, and the writes `up` must make to repair it.
//! Every row gets the same four checks, on one deployment that each repair brings back in sync:
//! 1. `diff` exits 2 and sends no write;
//! 2. its JSON names each expected change, with the expected and live values where given;
//! 3. `up` makes exactly the repairing writes (or at least those listed, for a recreation);
//! 4. `diff` exits 0 again, and there is exactly one of each resource.
//!
//! The deployer runs under the policy `deployer policy` prints, enforced as IAM would: each
//! repair is proved to need no action the policy lacks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::future::Future;
use std::pin::Pin;

use aws_sdk_apigateway::types::{GatewayResponseType, IntegrationType, Op, PatchOperation};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, PointInTimeRecoverySpecification,
    ProvisionedThroughput, ScalarAttributeType,
};
use aws_sdk_lambda::types::{Environment, Runtime};
use deployer::aws::Clients;
use serde_json::{json, Value};
use support::{Fixture, STACK};

const FUNCTION: &str = "vc-prod";
const ROLE: &str = "vc-prod-role";
const TABLE: &str = "vc-prod";
const POLICY: &str = "vc-counter-access";
const LOG_GROUP: &str = "/aws/lambda/vc-prod";
const POLICY_WRITE: &str = "lambda POST /2015-03-31/functions/vc-prod/policy";
const TABLE_ARN: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/vc-prod";
const OTHER_URI: &str = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:attacker/invocations";

/// The deployed stack the rows drift and repair, one after another.
struct Live {
    f: Fixture,
    c: Clients,
}

/// What a mutation learned that the expectations need: ids, ARNs, values.
#[derive(Debug, Default, Clone)]
struct Facts {
    api: String,
    resource: String,
    value: Value,
    /// When set, the only API left after the repair must be this one.
    api_kept: Option<String>,
}

/// One change `diff` must report: resource, field (`None` for the whole resource), and the
/// expected and live values when the row pins them.
struct Drift {
    resource: &'static str,
    field: Option<String>,
    expected: Option<Value>,
    actual: Option<Value>,
}

fn drift(resource: &'static str, field: Option<&str>) -> Drift {
    Drift {
        resource,
        field: field.map(str::to_string),
        expected: None,
        actual: None,
    }
}

impl Drift {
    fn values(mut self, expected: Option<Value>, actual: Option<Value>) -> Drift {
        self.expected = expected;
        self.actual = actual;
        self
    }
}

/// The writes `up` makes to repair a row.
enum Repair {
    Exactly(Vec<String>),
    Includes(Vec<String>),
}

type Mutation = for<'a> fn(&'a Live) -> Pin<Box<dyn Future<Output = Facts> + 'a>>;

struct Row {
    name: &'static str,
    mutate: Mutation,
    expect: fn(&Facts) -> Vec<Drift>,
    repair: fn(&Facts) -> Repair,
}

fn exactly(writes: &[&str]) -> Repair {
    Repair::Exactly(writes.iter().map(|w| w.to_string()).collect())
}

impl Live {
    async fn deploy() -> Live {
        let f = Fixture::new(STACK);
        // Every run of the deployer, each repair included, is held to `deployer policy`.
        f.enforce_printed_policy();
        f.up(&f.zip_v1).ok();
        assert!(
            !f.proxy.authorized().is_empty(),
            "the up was not held to the printed policy"
        );
        let c = f.clients().await;
        Live { f, c }
    }

    fn zip(&self) -> &str {
        self.f.zip_v1.to_str().unwrap()
    }

    /// The four checks of one row.
    async fn check(&self, row: &Row) {
        let facts = (row.mutate)(self).await;
        let name = row.name;
        let run = self
            .f
            .run(&["--output", "json", "diff", "--zip", self.zip()]);
        assert_eq!(
            run.code, 2,
            "{name}: no drift reported:\n{}\n{}",
            run.stdout, run.stderr
        );
        assert_eq!(
            run.writes(),
            Vec::<String>::new(),
            "{name}: diff sent a write"
        );
        let changes = run.json()["changes"].as_array().unwrap().clone();
        for d in (row.expect)(&facts) {
            let found = changes
                .iter()
                .find(|c| c["resource"] == d.resource && c["field"].as_str() == d.field.as_deref())
                .unwrap_or_else(|| {
                    panic!("{name}: no {} {:?} in {changes:#?}", d.resource, d.field)
                });
            for (key, want) in [("expected", &d.expected), ("actual", &d.actual)] {
                if let Some(want) = want {
                    assert_eq!(&found[key], want, "{name}: {key} of {:?}", d.field);
                }
            }
        }
        let up = self.f.up(&self.f.zip_v1).ok();
        assert!(
            !self.f.proxy.authorized().is_empty(),
            "{name}: the repair was not held to the printed policy"
        );
        let mut applied = up.applied();
        match (row.repair)(&facts) {
            Repair::Exactly(mut want) => {
                applied.sort();
                want.sort();
                assert_eq!(applied, want, "{name}: the repair");
            }
            Repair::Includes(want) => {
                for w in want {
                    assert!(applied.contains(&w), "{name}: no {w} in {applied:#?}");
                }
            }
        }
        self.f.assert_deployed("vc", name).await;
        if let Some(kept) = facts.api_kept {
            assert_eq!(
                api_ids(&self.c).await,
                [kept],
                "{name}: the API that stayed"
            );
        }
    }

    async fn check_all(&self, rows: &[Row]) {
        for row in rows {
            self.check(row).await;
        }
    }
}

async fn api_ids(c: &Clients) -> Vec<String> {
    let apis = c.apigateway.get_rest_apis().send().await.unwrap();
    apis.items()
        .iter()
        .map(|a| a.id().unwrap().to_string())
        .collect()
}

async fn resource_id(c: &Clients, api: &str, path: &str) -> String {
    let resources = c
        .apigateway
        .get_resources()
        .rest_api_id(api)
        .send()
        .await
        .unwrap();
    let found = resources
        .items()
        .iter()
        .find(|r| r.path() == Some(path))
        .unwrap();
    found.id().unwrap().to_string()
}

/// The API's id, and the resource id of `path` in it.
async fn api_and(c: &Clients, path: &str) -> Facts {
    let api = api_ids(c).await.remove(0);
    Facts {
        resource: resource_id(c, &api, path).await,
        api,
        ..Facts::default()
    }
}

fn patch(path: &str, value: &str) -> PatchOperation {
    PatchOperation::builder()
        .op(Op::Replace)
        .path(path)
        .value(value)
        .build()
}

#[path = "drift/api.rs"]
mod api;
#[path = "drift/function.rs"]
mod function;
#[path = "drift/table.rs"]
mod table;

#[tokio::test]
async fn in_sync_after_up_and_diff_reads_only() {
    let live = Live::deploy().await;
    let run = live.f.run(&["diff", "--zip", live.zip()]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.writes(), Vec::<String>::new());
    assert!(
        run.calls.len() > 10,
        "diff read every resource: {}",
        run.calls.len()
    );
}

#[tokio::test]
async fn table_role_and_log_group_drift_is_reported_and_repaired() {
    Live::deploy().await.check_all(&table::table_rows()).await;
}

#[tokio::test]
async fn function_and_permission_drift_is_reported_and_repaired() {
    Live::deploy()
        .await
        .check_all(&function::function_rows())
        .await;
}

#[tokio::test]
async fn api_and_stage_drift_is_reported_and_repaired() {
    Live::deploy().await.check_all(&api::api_rows()).await;
}

#[tokio::test]
async fn table_key_schema_changed_is_refused_not_replaced() {
    let live = Live::deploy().await;
    let c = &live.c;
    c.dynamodb
        .update_table()
        .table_name(TABLE)
        .deletion_protection_enabled(false)
        .send()
        .await
        .unwrap();
    c.dynamodb
        .delete_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap();
    c.dynamodb
        .create_table()
        .table_name(TABLE)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::N)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    let run = live
        .f
        .run(&["--output", "json", "diff", "--zip", live.zip()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let changes = run.json()["changes"].as_array().unwrap().clone();
    let c = changes.iter().find(|c| c["field"] == "key_schema").unwrap();
    assert_eq!(
        (c["expected"].clone(), c["actual"].clone()),
        (json!(["id:S:HASH"]), json!(["pk:N:HASH"]))
    );
    assert!(c["blocked"]
        .as_str()
        .unwrap()
        .contains("replacement needed"));

    let up = live.f.up(&live.f.zip_v1);
    assert_eq!(up.code, 1, "{}", up.stderr);
    assert!(up.stderr.contains("replacement needed"), "{}", up.stderr);
    assert!(up.stderr.contains("Nothing was changed"), "{}", up.stderr);
    assert_eq!(
        up.writes(),
        Vec::<String>::new(),
        "up must not touch anything when it refuses"
    );
}

/// A read that fails is not drift: `diff` cannot know, so it exits 1 with a one-line reason and
/// never says "drift", whether the read was denied or kept being throttled past the retries.
#[tokio::test]
async fn a_denied_or_throttled_read_exits_1_and_is_never_called_drift() {
    let f = Fixture::new(STACK);
    f.up(&f.zip_v1).ok();
    let zip = f.zip_v1.to_str().unwrap().to_string();
    let refused = |run: &support::Run, why: &str| {
        assert_eq!(run.code, 1, "{why}:\n{}\n{}", run.stdout, run.stderr);
        let errors: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .collect();
        assert_eq!(errors.len(), 1, "{why}: one error line:\n{}", run.stderr);
        assert!(errors[0].contains(why), "{why}:\n{}", run.stderr);
        let all = format!("{}{}", run.stdout, run.stderr).to_lowercase();
        assert!(
            !all.contains("drift"),
            "{why}:\n{}\n{}",
            run.stdout,
            run.stderr
        );
    };

    f.proxy
        .realism(Some(testkit::Realism::fast().deny("iam:GetRole")));
    refused(&f.run(&["diff", "--zip", &zip]), "iam:GetRole");

    f.proxy.realism(Some(testkit::Realism::fast()));
    f.proxy.faults(Some(testkit::Faults::always(
        "iam",
        testkit::Fault::Throttle,
    )));
    let throttled = f.run(&["diff", "--zip", &zip]);
    f.proxy.faults(None);
    refused(&throttled, "Throttling");
    assert!(
        throttled
            .calls
            .iter()
            .filter(|c| c.service == "iam")
            .count()
            >= 8,
        "the throttled reads were retried: {:?}",
        throttled.calls
    );

    assert_eq!(f.run(&["diff", "--zip", &zip]).code, 0);
}

/// `--endpoint-url` wins over `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>`: with both
/// aimed at a closed port, every request still reaches the flag's endpoint.
#[tokio::test]
async fn the_endpoint_url_flag_overrides_the_environment() {
    let f = Fixture::new(STACK);
    f.up(&f.zip_v1).ok();
    f.proxy.take();
    let out = support::deployer_command(f.path(), "http://127.0.0.1:9")
        .env("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9")
        .env("AWS_ENDPOINT_URL_IAM", "http://127.0.0.1:9")
        .args([
            "--endpoint-url",
            f.proxy.endpoint(),
            "diff",
            "--zip",
            f.zip_v1.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let calls = f.proxy.take();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for service in ["sts", "dynamodb", "iam", "lambda", "logs", "apigateway"] {
        assert!(
            calls.iter().any(|c| c.service == service),
            "no {service} request reached --endpoint-url: {calls:?}"
        );
    }
}
