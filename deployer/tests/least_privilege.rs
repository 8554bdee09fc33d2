//! Least privilege, read back from the emulator after `up`, not from our own planning code:
//! - the role's one inline policy is exactly two statements, with exact actions and exact ARNs,
//!   the table's reached only at the counter item (`dynamodb:LeadingKeys`), and no `*` anywhere
//!   but the log-stream suffix of the function's own log group;
//! - and so the function, run through the emulated request path, counts on its own item and is
//!   denied any other: the deploy lease in the same table is out of its reach;
//! - nothing is attached to the role, and its trust policy pins `aws:SourceAccount`;
//! - the function's resource policy lets only this API (by ARN) in this account invoke it;
//! - the stage is throttled, so that the open internet cannot run up the owner's bill.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use deployer::resources::role::parse_policy;
use serde_json::json;
use support::{Fixture, STACK};

const ACCOUNT: &str = "123456789012";

#[tokio::test]
async fn the_deployed_policies_grant_exactly_what_the_function_needs() {
    let f = Fixture::new(STACK);
    f.up(&f.zip_v1).ok();
    let c = f.clients().await;
    let table_arn = format!("arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/vc-prod");
    let log_streams = format!("arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/vc-prod:*");

    // The role: one inline policy, exactly this document.
    let names = c
        .iam
        .list_role_policies()
        .role_name("vc-prod-role")
        .send()
        .await
        .unwrap();
    assert_eq!(names.policy_names(), ["vc-counter-access"]);
    let inline = c
        .iam
        .get_role_policy()
        .role_name("vc-prod-role")
        .policy_name("vc-counter-access")
        .send()
        .await
        .unwrap();
    let inline = parse_policy(inline.policy_document()).unwrap();
    assert_eq!(
        inline,
        json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "Counter", "Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:UpdateItem"],
             "Resource": table_arn,
             "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["main_counter"]}}},
            {"Sid": "Logs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
             "Resource": log_streams}]})
    );
    let attached = c
        .iam
        .list_attached_role_policies()
        .role_name("vc-prod-role")
        .send()
        .await
        .unwrap();
    assert!(
        attached.attached_policies().is_empty(),
        "a managed policy is attached"
    );

    // Only Lambda, on behalf of this account, may assume the role.
    let role = c
        .iam
        .get_role()
        .role_name("vc-prod-role")
        .send()
        .await
        .unwrap();
    let trust = parse_policy(role.role().unwrap().assume_role_policy_document().unwrap()).unwrap();
    assert_eq!(
        trust,
        json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}}]})
    );

    // Only this API may invoke the function, and only through its `live` alias.
    let apis = c.apigateway.get_rest_apis().send().await.unwrap();
    assert_eq!(apis.items().len(), 1);
    let api_id = apis.items()[0].id().unwrap();
    let policy = c
        .lambda
        .get_policy()
        .function_name("vc-prod")
        .qualifier("live")
        .send()
        .await
        .unwrap();
    let statements = deployer::resources::permission::parse(policy.policy().unwrap());
    assert_eq!(statements.len(), 1, "{statements:#?}");
    let s = &statements[0];
    assert_eq!(
        (s.principal.as_str(), s.action.as_str()),
        ("apigateway.amazonaws.com", "lambda:InvokeFunction")
    );
    assert_eq!(
        s.source_arn.as_deref(),
        Some(format!("arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/*").as_str()),
        "the invoke permission is not scoped to this API"
    );
    assert_eq!(
        s.raw["Resource"],
        format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:vc-prod:live"),
        "the statement lets the API invoke the live alias, never $LATEST"
    );

    // The stage is throttled as the stack says.
    let stage = c
        .apigateway
        .get_stage()
        .rest_api_id(api_id)
        .stage_name("prod")
        .send()
        .await
        .unwrap();
    let all = &stage.method_settings().unwrap()["*/*"];
    assert_eq!(
        (all.throttling_rate_limit(), all.throttling_burst_limit()),
        (10.0, 20)
    );
}

/// The function's role reaches one item: run through the emulated data plane, the live version
/// counts; the same code told (by its `COUNTER_ID`) to count on the deploy lease's item, or on
/// any other, is denied by its role's policy, and the lease is untouched.
#[tokio::test]
async fn the_function_is_denied_every_item_but_its_counter() {
    let f = Fixture::new(STACK);
    f.up(&f.zip_v1).ok();
    let c = f.clients().await;
    let invoke = |qualifier: Option<&'static str>| {
        let c = c.clone();
        async move {
            let out = c
                .lambda
                .invoke()
                .function_name("vc-prod")
                .set_qualifier(qualifier.map(str::to_string))
                .payload(aws_smithy_types::Blob::new(
                    support::rest_event("/counter").to_vec(),
                ))
                .send()
                .await
                .unwrap();
            let payload: serde_json::Value =
                serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
            payload["statusCode"].as_u64().unwrap()
        }
    };
    assert_eq!(
        invoke(Some("live")).await,
        200,
        "the counter item is denied"
    );
    assert_eq!(support::count(&c).await, 1);

    let item = |key: &'static str| {
        let c = c.clone();
        async move {
            let got = c
                .dynamodb
                .get_item()
                .table_name("vc-prod")
                .key("id", aws_sdk_dynamodb::types::AttributeValue::S(key.into()))
                .send()
                .await
                .unwrap();
            got.item().cloned()
        }
    };
    for (i, other) in ["deployer:lease:vc:prod", "another_counter"]
        .into_iter()
        .enumerate()
    {
        let before = item(other).await;
        let config = c
            .lambda
            .get_function_configuration()
            .function_name("vc-prod")
            .send()
            .await
            .unwrap();
        let mut vars = config.environment().unwrap().variables().unwrap().clone();
        vars.insert("COUNTER_ID".into(), other.into());
        let env = aws_sdk_lambda::types::Environment::builder()
            .set_variables(Some(vars))
            .build();
        // The previous update settles first (the realism layer's `InProgress`, as on Lambda).
        let mut tries = 0;
        while let Err(e) = c
            .lambda
            .update_function_configuration()
            .function_name("vc-prod")
            .environment(env.clone())
            .send()
            .await
        {
            tries += 1;
            assert!(tries < 30, "{e:?}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        f.proxy.take();
        assert_eq!(invoke(None).await, 500, "{other}: not denied");
        let refused: Vec<u16> = f
            .proxy
            .take()
            .into_iter()
            .filter(|call| call.caller.is_some() && call.operation == "UpdateItem")
            .map(|call| call.status)
            .collect();
        assert_eq!(refused, [400], "{other}");
        let errors = f.run(&["logs", "--errors"]).ok();
        assert!(
            errors
                .stdout
                .lines()
                .filter(|l| l.contains("AccessDenied"))
                .count()
                > i,
            "{other}: the function's log does not say it was denied:\n{}",
            errors.stdout
        );
        assert_eq!(item(other).await, before, "{other} was written");
    }
    assert_eq!(support::count(&c).await, 1, "the counter moved");
}

/// Runs parliament (installed into the project's .venv by `make setup`, pinned in
/// scripts/requirements.txt) over one policy document: its findings, one per line, at every
/// severity.
fn parliament(document: &serde_json::Value) -> Vec<String> {
    let bin = testkit::workspace_root().join(".venv/bin/parliament");
    let out = std::process::Command::new(&bin)
        .args([
            "--minimum_severity",
            "INFO",
            "--string",
            &document.to_string(),
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} ({e}): run `make setup`", bin.display()));
    let findings: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    // 0: nothing found; 1: findings; anything else is parliament failing.
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "parliament failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    findings
}

/// The linter's sanity: it does find a broad policy, so that its silence below means something.
#[test]
fn parliament_finds_a_broad_policy() {
    let broad = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"}]});
    assert!(!parliament(&broad).is_empty());
}

/// The policies as deployed and as printed, read back from the emulator and the binary: the
/// function's role (with its `LeadingKeys` condition) and the deployer's own (with the lease's).
#[tokio::test]
async fn parliament_finds_nothing_in_the_deployed_or_printed_policies() {
    let f = Fixture::new(STACK);
    f.up(&f.zip_v1).ok();
    let c = f.clients().await;
    let inline = c
        .iam
        .get_role_policy()
        .role_name("vc-prod-role")
        .policy_name("vc-counter-access")
        .send()
        .await
        .unwrap();
    let role = parse_policy(inline.policy_document()).unwrap();
    assert_eq!(
        parliament(&role),
        Vec::<String>::new(),
        "the function's role"
    );
    for args in [&["policy"][..], &["policy", "--read-only"]] {
        let printed: serde_json::Value = serde_json::from_str(&f.run(args).ok().stdout).unwrap();
        // parliament 1.6.4's action table wants `*` for DescribeLogGroups; AWS documents the
        // account's `log-group:*` for it ("be sure to set the ARN of its Resource line to use a
        // * wildcard ... arn:aws:logs:us-east-1:111122223333:log-group:*", CloudWatch Logs
        // guide, "Logs sent to CloudWatch Logs"), which is what the policy grants.
        let findings: Vec<String> = parliament(&printed)
            .into_iter()
            .filter(|f| !(f.contains("No resources match") && f.contains("logs:DescribeLogGroups")))
            .collect();
        assert_eq!(findings, Vec::<String>::new(), "{args:?}");
    }
}
