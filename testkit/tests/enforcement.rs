//! An identity policy enforced by the realism layer, as IAM holds a principal to it: a request the
//! model cannot name an action for is refused (so a new call cannot pass the least-privilege proof
//! unseen), tagging at creation needs each service's tag action, GetFunction of a tagged function
//! needs `lambda:ListTags` for its tags, the operator is not held to the deployer's policy, and
//! each action a statement alone allowed is counted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_dynamodb::types::Tag;
use serde_json::{json, Value};
use testkit::{dummy_loader, operator_loader, Moto, Realism, Recorder};

const ACCOUNT: &str = "123456789012";

fn enforce(proxy: &Recorder, statements: Value) {
    let document = json!({"Version": "2012-10-17", "Statement": statements});
    proxy.realism(Some(Realism::fast().enforce(testkit::iam::Policy {
        document,
        region: "us-east-1".into(),
        account: ACCOUNT.into(),
    })));
}

fn allow(sid: &str, actions: &[&str]) -> Value {
    json!({"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": "*"})
}

fn text(e: &impl std::error::Error) -> String {
    aws_sdk_lambda::error::DisplayErrorContext(e).to_string()
}

#[tokio::test]
async fn a_request_the_model_cannot_classify_is_refused_naming_it() {
    let moto = Moto::start();
    let proxy = Recorder::start(moto.endpoint());
    let config = dummy_loader().endpoint_url(proxy.endpoint()).load().await;
    let lambda = aws_sdk_lambda::Client::new(&config);
    let concurrency = || lambda.get_function_concurrency().function_name("f").send();

    // Without a policy, the request reaches moto (which has no such function).
    proxy.realism(Some(Realism::fast()));
    let missing = text(&concurrency().await.unwrap_err());
    assert!(!missing.contains("cannot name"), "{missing}");

    // Under any policy, even one that allows everything, it is refused, naming the request.
    enforce(&proxy, json!([allow("All", &["*"])]));
    let refused = text(&concurrency().await.unwrap_err());
    assert!(
        refused
            .contains("cannot name the action of lambda GET /2019-09-30/functions/f/concurrency"),
        "{refused}"
    );
}

#[tokio::test]
async fn tagging_at_creation_needs_the_tag_action_of_each_service() {
    let moto = Moto::start();
    let proxy = Recorder::start(moto.endpoint());
    let config = dummy_loader().endpoint_url(proxy.endpoint()).load().await;
    enforce(
        &proxy,
        json!([allow(
            "Create",
            &[
                "dynamodb:CreateTable",
                "iam:CreateRole",
                "logs:CreateLogGroup",
                "lambda:CreateFunction",
                "iam:PassRole",
            ]
        )]),
    );

    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let table = |name: &str, tagged: bool| {
        let mut create = testkit::counter_table(&dynamodb, name).unwrap();
        if tagged {
            create = create.tags(Tag::builder().key("k").value("v").build().unwrap());
        }
        create.send()
    };
    let refused = text(&table("tagged", true).await.unwrap_err());
    assert!(refused.contains("dynamodb:TagResource"), "{refused}");
    table("untagged", false).await.unwrap();

    let iam = aws_sdk_iam::Client::new(&config);
    let role = |name: &str, tagged: bool| {
        let mut create = iam
            .create_role()
            .role_name(name)
            .assume_role_policy_document("{}");
        if tagged {
            create = create.tags(
                aws_sdk_iam::types::Tag::builder()
                    .key("k")
                    .value("v")
                    .build()
                    .unwrap(),
            );
        }
        create.send()
    };
    let refused = text(&role("tagged", true).await.unwrap_err());
    assert!(refused.contains("iam:TagRole"), "{refused}");
    role("untagged", false).await.unwrap();

    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    let group = |name: &str, tagged: bool| {
        let mut create = logs.create_log_group().log_group_name(name);
        if tagged {
            create = create.tags("k", "v");
        }
        create.send()
    };
    let refused = text(&group("/tagged", true).await.unwrap_err());
    assert!(refused.contains("logs:TagResource"), "{refused}");
    group("/untagged", false).await.unwrap();

    let role = role_in_moto(&moto).await;
    let lambda = aws_sdk_lambda::Client::new(&config);
    let function = |name: &str, tagged: bool| {
        let mut create = lambda
            .create_function()
            .function_name(name)
            .role(&role)
            .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
            .handler("bootstrap")
            .code(code());
        if tagged {
            create = create.tags("k", "v");
        }
        create.send()
    };
    let refused = text(&function("tagged", true).await.unwrap_err());
    assert!(refused.contains("lambda:TagResource"), "{refused}");
    function("untagged", false).await.unwrap();
}

/// A role made straight in moto (the realism layer would have it propagate first): its ARN.
async fn role_in_moto(moto: &Moto) -> String {
    let made = aws_sdk_iam::Client::new(&moto.loader().load().await)
        .create_role()
        .role_name("in-moto")
        .assume_role_policy_document("{}")
        .send()
        .await
        .unwrap();
    made.role().unwrap().arn().to_string()
}

/// An empty zip archive (its end-of-central-directory record alone) as a function's code.
fn code() -> aws_sdk_lambda::types::FunctionCode {
    let mut eocd = vec![0x50, 0x4b, 0x05, 0x06];
    eocd.extend_from_slice(&[0; 18]);
    aws_sdk_lambda::types::FunctionCode::builder()
        .zip_file(aws_sdk_lambda::primitives::Blob::new(eocd))
        .build()
}

/// A tagged function, made by the operator; then the deployer's credentials read it.
#[tokio::test]
async fn get_function_without_list_tags_answers_a_tags_error_and_the_operator_is_not_held() {
    let moto = Moto::start();
    let proxy = Recorder::start(moto.endpoint());
    enforce(&proxy, json!([allow("Read", &["lambda:GetFunction"])]));
    let operator = operator_loader()
        .endpoint_url(proxy.endpoint())
        .load()
        .await;
    let role = role_in_moto(&moto).await;
    aws_sdk_lambda::Client::new(&operator)
        .create_function()
        .function_name("f")
        .role(role)
        .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
        .handler("bootstrap")
        .code(code())
        .tags("k", "v")
        .send()
        .await
        .expect("the operator is not held to the deployer's policy");

    let deployer = dummy_loader().endpoint_url(proxy.endpoint()).load().await;
    let got = aws_sdk_lambda::Client::new(&deployer)
        .get_function()
        .function_name("f")
        .send()
        .await
        .unwrap();
    assert_eq!(got.tags(), None);
    let error = got.tags_error().expect("a TagsError in place of the tags");
    assert_eq!(error.error_code(), "AccessDeniedException");
    assert!(error.message().contains("lambda:ListTags"), "{error:?}");

    let census = proxy.authorized();
    assert!(
        census.contains(&("Read".into(), "lambda:GetFunction".into())),
        "{census:?}"
    );
    assert_eq!(
        census.len(),
        1,
        "the operator's calls are not counted: {census:?}"
    );
}

/// moto takes any tag; DynamoDB refuses `@` and API Gateway a space, as they document.
#[tokio::test]
async fn each_service_refuses_the_tag_characters_it_does_not_take() {
    let moto = Moto::start();
    let proxy = Recorder::start(moto.endpoint());
    proxy.realism(Some(Realism::fast()));
    let config = dummy_loader().endpoint_url(proxy.endpoint()).load().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let table = |name: &str, value: &str| {
        testkit::counter_table(&dynamodb, name)
            .unwrap()
            .tags(Tag::builder().key("owner").value(value).build().unwrap())
            .send()
    };
    let refused = text(&table("at", "me@example.com").await.unwrap_err());
    assert!(refused.contains("ValidationException"), "{refused}");
    table("spaced", "Data Team").await.unwrap();

    let gw = aws_sdk_apigateway::Client::new(&config);
    let api = |value: &str| gw.create_rest_api().name("a").tags("team", value).send();
    let refused = text(&api("Data Team").await.unwrap_err());
    assert!(refused.contains("BadRequestException"), "{refused}");
    api("data-team").await.unwrap();
}
