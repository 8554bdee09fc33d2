//! `policy`: the IAM policy that the credentials running the deployer need for this stack, and no
//! more. Every resource is one of the same derived ARNs the deployer acts on ([`Arns`]), so the
//! policy cannot name another table, role or function than the stack's.
//!
//! - the table, the log group, the role and the function (with its versions and aliases): by ARN;
//! - `iam:PassRole` on the function's role only, and only to `lambda.amazonaws.com`;
//! - API Gateway: its control plane authorizes by HTTP method on the resource path, and a new
//!   API's id is not known before it exists, so the stack's APIs are named by its tags
//!   (`aws:RequestTag` to create one, `aws:ResourceTag` for all else, which an API's children
//!   inherit); only the listing (`GET /restapis`) is the region's, as IAM cannot scope it;
//! - `DescribeLogGroups` lists by prefix, and IAM scopes it to the account's log groups only;
//! - the deploy lease: `GetItem` and `UpdateItem` on the table, only on its one item
//!   (`dynamodb:LeadingKeys`), so these credentials can change no visit;
//! - the count: `GetItem` on the counter item alone, which `diff --adopt` and `up --adopt` show
//!   before and after taking a table over. Reading it is all these credentials may do to it.
//!
//! Tags are only ever added (the stack's keys; tags someone else set are left alone), so no
//! `Untag*` action is granted; GetRole returns a role's tags, so `iam:ListRoleTags` is not
//! needed either.
//!
//! - the alerts: the stack's topic and alarms by ARN; the calls IAM scopes to no resource
//!   (`sns:Unsubscribe`, `sns:ListTopics`, `cloudwatch:GetMetricData`) on `*`.
//!
//! `--read-only` is the policy of `diff`, `outputs`, `logs` and `status`: no action that changes
//! anything.
//! Tests hold every run of the deployer to the printed policy through a proxy that enforces it
//! as IAM would (tagging at creation needs each service's tag action too, and a call the proxy
//! cannot name an action for is refused): every verb in a user's order, drift repaired by hand
//! changes, adoption, rollback, and `down` of a role someone attached a managed policy to. Every
//! printed action must be the only grant of some request, and deleting any one of them fails a
//! verb that names it (`tests/policy.rs`; each one under `make soak`).

use serde_json::{json, Value};

use crate::arns::Arns;
use crate::conventions::{STACK_TAG, STAGE_TAG};
use crate::names::Names;

/// One statement: its id, its actions, and the resources they act on.
struct Statement {
    sid: &'static str,
    writes: &'static [&'static str],
    reads: &'static [&'static str],
    resources: Vec<String>,
    condition: Option<Value>,
}

fn statements(n: &Arns, names: &Names) -> Vec<Statement> {
    let mut all = vec![table(n), lease(n, &names.lease), count(n, &names.counter)];
    all.extend(log_group(n));
    all.extend(role(n));
    all.push(function(n));
    all.extend(rest_api(n, names));
    all.extend(alerts(n));
    all
}

fn table(n: &Arns) -> Statement {
    Statement {
        sid: "Table",
        writes: &[
            "dynamodb:CreateTable",
            "dynamodb:UpdateTable",
            "dynamodb:DeleteTable",
            "dynamodb:UpdateContinuousBackups",
            "dynamodb:TagResource",
        ],
        reads: &[
            "dynamodb:DescribeTable",
            "dynamodb:DescribeContinuousBackups",
            "dynamodb:ListTagsOfResource",
        ],
        resources: vec![n.table.clone()],
        condition: None,
    }
}

/// The deploy lease: one item of the table, and no other (`dynamodb:LeadingKeys`). Only the
/// writing verbs read it (before they observe), so both actions are the writers'.
fn lease(n: &Arns, key: &str) -> Statement {
    Statement {
        sid: "DeployLease",
        writes: &["dynamodb:GetItem", "dynamodb:UpdateItem"],
        reads: &[],
        resources: vec![n.table.clone()],
        condition: Some(json!({"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [key]}})),
    }
}

/// The counter item, read and never written: the count an adoption keeps.
fn count(n: &Arns, counter: &str) -> Statement {
    Statement {
        sid: "ReadCount",
        writes: &[],
        reads: &["dynamodb:GetItem"],
        resources: vec![n.table.clone()],
        condition: Some(json!({"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [counter]}})),
    }
}

/// The group itself (and its streams, for `logs`), and the listing that finds it.
fn log_group(n: &Arns) -> [Statement; 2] {
    let (p, region, account) = (n.partition.as_str(), &n.region, &n.account);
    [
        Statement {
            sid: "LogGroup",
            writes: &[
                "logs:CreateLogGroup",
                "logs:DeleteLogGroup",
                "logs:PutRetentionPolicy",
                "logs:TagResource",
            ],
            reads: &["logs:ListTagsForResource", "logs:FilterLogEvents"],
            resources: vec![n.log_group.clone(), format!("{}:*", n.log_group)],
            condition: None,
        },
        Statement {
            sid: "LogGroupListing",
            writes: &[],
            reads: &["logs:DescribeLogGroups"],
            resources: vec![format!("arn:{p}:logs:{region}:{account}:log-group:*")],
            condition: None,
        },
    ]
}

/// The function's role, and passing it to Lambda only.
fn role(n: &Arns) -> [Statement; 2] {
    [
        Statement {
            sid: "Role",
            writes: &[
                "iam:CreateRole",
                "iam:DeleteRole",
                "iam:UpdateAssumeRolePolicy",
                "iam:PutRolePolicy",
                "iam:DeleteRolePolicy",
                // A managed policy someone attached (an adopted role's, or a hand edit).
                "iam:DetachRolePolicy",
                "iam:TagRole",
            ],
            reads: &[
                "iam:GetRole",
                "iam:GetRolePolicy",
                "iam:ListRolePolicies",
                "iam:ListAttachedRolePolicies",
            ],
            resources: vec![n.role.clone()],
            condition: None,
        },
        Statement {
            sid: "PassRoleToLambda",
            writes: &["iam:PassRole"],
            reads: &[],
            resources: vec![n.role.clone()],
            condition: Some(
                json!({"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}),
            ),
        },
    ]
}

fn function(n: &Arns) -> Statement {
    Statement {
        sid: "Function",
        writes: &[
            "lambda:CreateFunction",
            "lambda:UpdateFunctionCode",
            "lambda:UpdateFunctionConfiguration",
            "lambda:DeleteFunction",
            "lambda:AddPermission",
            "lambda:RemovePermission",
            "lambda:TagResource",
            "lambda:PublishVersion",
            "lambda:InvokeFunction",
            "lambda:CreateAlias",
            "lambda:UpdateAlias",
        ],
        reads: &[
            "lambda:GetFunction",
            "lambda:GetFunctionConfiguration",
            "lambda:GetPolicy",
            "lambda:ListTags",
            "lambda:GetAlias",
            "lambda:ListVersionsByFunction",
        ],
        // The function, and its versions and aliases (`:*`): the probe invokes a version, the
        // permission lives on the `live` alias, and a prune deletes old versions.
        resources: vec![n.function.clone(), n.function_qualifiers()],
        condition: None,
    }
}

/// API Gateway authorizes its control plane by HTTP method on the resource path. A new API's id
/// is not known before it exists, so the stack's APIs are named by its tags: API Gateway
/// supports `aws:RequestTag` on CreateRestApi and `aws:ResourceTag` on a REST API, which its
/// children (resources, methods, deployments, stages) inherit for access control. IAM cannot
/// scope the listing (`GET /restapis`) by tag. An adopted API (`api.id`) has none of the stack's
/// tags before `up` adds them, so it is named by its id.
fn rest_api(n: &Arns, names: &Names) -> Vec<Statement> {
    let (p, region) = (n.partition.as_str(), &n.region);
    let path = |rest: &str| format!("arn:{p}:apigateway:{region}::{rest}");
    let ours = |key: &str| {
        json!({"StringEquals": {
            format!("{key}/{STACK_TAG}"): names.stack,
            format!("{key}/{STAGE_TAG}"): names.stage,
        }})
    };
    const WRITES: &[&str] = &[
        "apigateway:POST",
        "apigateway:PUT",
        "apigateway:PATCH",
        "apigateway:DELETE",
    ];
    let mut all = vec![
        Statement {
            sid: "RestApiListing",
            writes: &[],
            reads: &["apigateway:GET"],
            resources: vec![path("/restapis")],
            condition: None,
        },
        Statement {
            sid: "RestApiCreate",
            writes: &["apigateway:POST"],
            reads: &[],
            resources: vec![path("/restapis")],
            condition: Some(ours("aws:RequestTag")),
        },
        Statement {
            sid: "RestApi",
            writes: WRITES,
            reads: &["apigateway:GET"],
            resources: vec![path("/restapis/*"), path("/tags/*")],
            condition: Some(ours("aws:ResourceTag")),
        },
    ];
    if let Some(id) = &names.api_id {
        all.push(Statement {
            sid: "AdoptedRestApi",
            writes: WRITES,
            reads: &["apigateway:GET"],
            resources: vec![
                path(&format!("/restapis/{id}")),
                path(&format!("/restapis/{id}/*")),
                path(&format!("/tags/*{id}*")),
            ],
            condition: None,
        });
    }
    all
}

/// The alerts (`alerts:` in stack.yaml, and `status`): the stack's topic and its four alarms by
/// ARN. `Unsubscribe`, `ListTopics` and `GetMetricData` are scoped to no resource by IAM (`*`);
/// tagging at creation needs each service's `TagResource`.
/// The actions IAM scopes to no resource: the only ones granted on `*`.
pub const UNSCOPED: [&str; 3] = [
    "sns:Unsubscribe",
    "sns:ListTopics",
    "cloudwatch:GetMetricData",
];

fn alerts(n: &Arns) -> [Statement; 3] {
    let alarms = crate::resources::alerts::KINDS
        .iter()
        .map(|k| n.alarm(k))
        .collect();
    [
        Statement {
            sid: "AlertsTopic",
            writes: &[
                "sns:CreateTopic",
                "sns:DeleteTopic",
                "sns:Subscribe",
                "sns:TagResource",
            ],
            reads: &["sns:ListSubscriptionsByTopic", "sns:ListTagsForResource"],
            resources: vec![n.topic.clone()],
            condition: None,
        },
        Statement {
            sid: "Alarms",
            writes: &[
                "cloudwatch:PutMetricAlarm",
                "cloudwatch:DeleteAlarms",
                "cloudwatch:TagResource",
            ],
            // By name, so that metric alarms are all it returns (composite ones need `*`).
            reads: &[
                "cloudwatch:DescribeAlarms",
                "cloudwatch:ListTagsForResource",
            ],
            resources: alarms,
            condition: None,
        },
        Statement {
            sid: "AlertsListingAndMetrics",
            writes: &[UNSCOPED[0]],
            reads: &UNSCOPED[1..],
            resources: vec!["*".into()],
            condition: None,
        },
    ]
}

/// The policy document for the stack of `arns` (its items' keys from `names`); with
/// `read_only`, only the reads.
pub fn document(arns: &Arns, names: &Names, read_only: bool) -> Value {
    let statements: Vec<Value> = statements(arns, names)
        .into_iter()
        .filter_map(|s| {
            let mut actions: Vec<&str> = s.reads.to_vec();
            if !read_only {
                actions.extend_from_slice(s.writes);
            }
            if actions.is_empty() {
                return None;
            }
            actions.sort_unstable();
            let mut statement = json!({
                "Sid": s.sid,
                "Effect": "Allow",
                "Action": actions,
                "Resource": s.resources,
            });
            if let Some(c) = s.condition {
                statement["Condition"] = c;
            }
            Some(statement)
        })
        .collect();
    json!({"Version": "2012-10-17", "Statement": statements})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack;

    const LEASE: &str = "deployer:lease:vc:prod";

    fn stack_names() -> Names {
        let s = stack::parse("name: vc\n", std::path::Path::new("stack.yaml"))
            .unwrap_or_else(|e| panic!("{e}"));
        let names = Names::derive(&s, "us-east-1");
        assert_eq!(names.lease, LEASE);
        names
    }

    fn names() -> Arns {
        Arns::of(&stack_names(), "123456789012")
    }

    #[test]
    fn every_resource_is_one_of_the_stacks_arns() {
        let n = names();
        let d = document(&n, &stack_names(), false);
        for s in d["Statement"].as_array().into_iter().flatten() {
            let actions = s["Action"].as_array().unwrap();
            for r in s["Resource"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
            {
                if r == "*" {
                    assert!(
                        actions
                            .iter()
                            .all(|a| UNSCOPED.contains(&a.as_str().unwrap())),
                        "only what IAM cannot scope is granted on *: {s}"
                    );
                    continue;
                }
                let ours = [&n.table, &n.role, &n.function, &n.log_group, &n.topic]
                    .iter()
                    .any(|arn| r.starts_with(arn.as_str()))
                    || r.starts_with(&n.alarm_prefix)
                    || r.starts_with("arn:aws:apigateway:us-east-1::/")
                    || r == "arn:aws:logs:us-east-1:123456789012:log-group:*";
                assert!(ours, "{r}");
            }
        }
    }

    #[test]
    fn rest_apis_are_the_stacks_by_its_tags_or_by_the_adopted_id() {
        let find = |d: &Value, sid: &str| {
            d["Statement"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|s| s["Sid"] == sid)
                .cloned()
                .unwrap_or_default()
        };
        let d = document(&names(), &stack_names(), false);
        assert_eq!(
            find(&d, "RestApi")["Condition"],
            json!({"StringEquals": {"aws:ResourceTag/deployer:stack": "vc",
                "aws:ResourceTag/deployer:stage": "prod"}})
        );
        assert_eq!(
            find(&d, "RestApiCreate")["Condition"],
            json!({"StringEquals": {"aws:RequestTag/deployer:stack": "vc",
                "aws:RequestTag/deployer:stage": "prod"}})
        );
        assert_eq!(
            find(&d, "RestApiListing")["Action"],
            json!(["apigateway:GET"])
        );
        assert_eq!(find(&d, "AdoptedRestApi"), Value::Null);
        let mut adopting = stack_names();
        adopting.api_id = Some("a1b2c3d4e5".into());
        let d = document(&names(), &adopting, false);
        let adopted = find(&d, "AdoptedRestApi");
        assert_eq!(
            adopted["Resource"][0],
            "arn:aws:apigateway:us-east-1::/restapis/a1b2c3d4e5"
        );
        assert_eq!(adopted["Condition"], Value::Null);
    }

    #[test]
    fn the_lease_statement_reaches_its_one_item_and_only_writers_get_it() {
        let n = names();
        let find = |d: &Value| {
            d["Statement"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|s| s["Sid"] == "DeployLease")
                .cloned()
        };
        let lease = find(&document(&n, &stack_names(), false)).unwrap_or_default();
        assert_eq!(
            lease["Action"],
            json!(["dynamodb:GetItem", "dynamodb:UpdateItem"])
        );
        assert_eq!(lease["Resource"], json!([n.table]));
        assert_eq!(
            lease["Condition"],
            json!({"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [LEASE]}})
        );
        assert_eq!(find(&document(&n, &stack_names(), true)), None);
    }

    #[test]
    fn the_count_is_read_on_its_one_item_by_writers_and_readers_alike() {
        let n = names();
        for read_only in [false, true] {
            let d = document(&n, &stack_names(), read_only);
            let count = d["Statement"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|s| s["Sid"] == "ReadCount")
                .cloned()
                .unwrap_or_default();
            assert_eq!(count["Action"], json!(["dynamodb:GetItem"]));
            assert_eq!(count["Resource"], json!([n.table]));
            assert_eq!(
                count["Condition"],
                json!({"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["main_counter"]}})
            );
        }
    }

    #[test]
    fn read_only_has_no_write_and_pass_role_is_for_lambda_only() {
        let n = names();
        let ro = document(&n, &stack_names(), true);
        let writes: Vec<&str> = statements(&n, &stack_names())
            .iter()
            .flat_map(|s| s.writes.iter().copied())
            // The lease's read is a writer's, but reading is no write: the count may be read.
            .filter(|a| *a != "dynamodb:GetItem")
            .collect();
        let actions: Vec<&str> = ro["Statement"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|s| s["Action"].as_array().into_iter().flatten())
            .filter_map(Value::as_str)
            .collect();
        assert!(actions.len() >= 10, "{actions:?}");
        assert!(actions.iter().all(|a| !writes.contains(a)), "{actions:?}");
        let full = document(&n, &stack_names(), false);
        let pass = full["Statement"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["Sid"] == "PassRoleToLambda")
            .cloned()
            .unwrap_or_default();
        assert_eq!(pass["Resource"], json!([n.role]));
        assert_eq!(
            pass["Condition"]["StringEquals"]["iam:PassedToService"],
            "lambda.amazonaws.com"
        );
    }
}
