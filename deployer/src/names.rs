//! Every resource name, ARN, policy document and the function's environment, derived from the
//! validated stack in one place.
//!
//! The classic hand-built failure is a function whose `TABLE_NAME` says one table while its
//! policy still names another. Here both come from `Names::table`, so they cannot disagree. No
//! other module formats an ARN.

use std::collections::BTreeMap;

use function::contract::env;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::naming;
use crate::stack::{Route, Stack};

use crate::naming::{Partition, STACK_TAG, STAGE_TAG};

/// Everything derived from the stack, the region and the account.
#[derive(Debug, Clone, PartialEq)]
pub struct Names {
    pub partition: Partition,
    pub region: String,
    pub account: String,
    pub stack: String,
    pub stage: String,
    pub table: String,
    pub table_arn: String,
    pub function: String,
    pub function_arn: String,
    pub role: String,
    pub role_arn: String,
    /// The role's one inline policy.
    pub policy: String,
    pub log_group: String,
    pub log_group_arn: String,
    pub api: String,
    /// The `StatementId` of the permission that lets the API invoke the function.
    pub permission_sid: String,
    /// The tags every resource carries: the deployer's and the user's.
    pub tags: BTreeMap<String, String>,
    /// The function's environment variables.
    pub environment: BTreeMap<String, String>,
}

impl Names {
    /// Derives every name from `stack`, in `region` (already validated) and `account` (from STS).
    pub fn derive(stack: &Stack, region: &str, account: &str) -> Names {
        let partition = Partition::of_region(region).unwrap_or(Partition::Aws);
        let p = partition.as_str();
        let function = naming::function_name(&stack.name, &stack.stage);
        let role = naming::role_name(&stack.name, &stack.stage);
        let table = stack.table.name.clone();
        let log_group = format!("/aws/lambda/{function}");

        let mut tags = stack.tags.clone();
        tags.insert(STACK_TAG.to_string(), stack.name.clone());
        tags.insert(STAGE_TAG.to_string(), stack.stage.clone());

        // The function reads these names (its contract): the table comes from the same
        // `table` as the policy's ARN, so the two cannot disagree.
        let mut environment = BTreeMap::new();
        environment.insert(env::TABLE_NAME.to_string(), table.clone());
        environment.insert(
            env::COUNTER_ID.to_string(),
            stack.function.counter_id.clone(),
        );
        environment.insert(
            env::CORS_ORIGINS.to_string(),
            stack.api.cors_origins.join(","),
        );
        if !stack.api.cors_headers.is_empty() {
            environment.insert(
                env::CORS_HEADERS.to_string(),
                stack.api.cors_headers.join(","),
            );
        }

        Names {
            partition,
            region: region.to_string(),
            account: account.to_string(),
            stack: stack.name.clone(),
            stage: stack.stage.clone(),
            table_arn: format!("arn:{p}:dynamodb:{region}:{account}:table/{table}"),
            table,
            function_arn: format!("arn:{p}:lambda:{region}:{account}:function:{function}"),
            role_arn: format!("arn:{p}:iam::{account}:role/{role}"),
            policy: format!("{}-counter-access", stack.name),
            log_group_arn: format!("arn:{p}:logs:{region}:{account}:log-group:{log_group}"),
            log_group,
            api: function.clone(),
            permission_sid: format!("{}-apigateway-invoke", stack.name),
            function,
            role,
            tags,
            environment,
        }
    }

    /// Where the function's log streams live: the one wildcard the policy has.
    pub fn log_streams_arn(&self) -> String {
        format!("{}:*", self.log_group_arn)
    }

    /// The role's trust policy: only Lambda, and only on behalf of this account.
    pub fn trust_policy(&self) -> Value {
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": self.account}},
            }],
        })
    }

    /// The role's one inline policy: exactly what the function calls, on exactly its resources.
    pub fn counter_policy(&self) -> Value {
        json!({
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "Counter",
                    "Effect": "Allow",
                    "Action": ["dynamodb:GetItem", "dynamodb:UpdateItem"],
                    "Resource": self.table_arn,
                },
                {
                    "Sid": "Logs",
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": self.log_streams_arn(),
                },
            ],
        })
    }

    /// The API Gateway integration URI that invokes the function.
    pub fn integration_uri(&self) -> String {
        format!(
            "arn:{}:apigateway:{}:lambda:path/2015-03-31/functions/{}/invocations",
            self.partition.as_str(),
            self.region,
            self.function_arn
        )
    }

    /// The `SourceArn` of the invoke permission: any stage, method and path of this API only.
    pub fn execute_api_arn(&self, api_id: &str) -> String {
        format!(
            "arn:{}:execute-api:{}:{}:{api_id}/*",
            self.partition.as_str(),
            self.region,
            self.account
        )
    }

    /// The ARN API Gateway tags a REST API by.
    pub fn api_arn(&self, api_id: &str) -> String {
        format!(
            "arn:{}:apigateway:{}::/restapis/{api_id}",
            self.partition.as_str(),
            self.region
        )
    }

    /// The ARN API Gateway tags a stage by.
    pub fn stage_arn(&self, api_id: &str) -> String {
        format!("{}/stages/{}", self.api_arn(api_id), self.stage)
    }

    /// The stage's public URL; against an emulator (see [`crate::aws::Clients::emulator`]), the
    /// path where it serves the stage.
    pub fn api_url(&self, api_id: &str, emulator: Option<&str>) -> String {
        match emulator {
            Some(base) => format!(
                "{}/_aws/execute-api/{api_id}/{}",
                base.trim_end_matches('/'),
                self.stage
            ),
            None => format!(
                "https://{api_id}.execute-api.{}.{}/{}",
                self.region,
                self.partition.dns_suffix(),
                self.stage
            ),
        }
    }
}

/// A short, stable hash of what a deployment serves: the routes, the function they invoke, and
/// anything else a deployment snapshots (the gateway responses), one line each. Kept in the
/// deployment's description, so the live stage can be compared without a state file.
pub fn routes_hash(routes: &[Route], integration_uri: &str, extra: &[String]) -> String {
    let mut sorted: Vec<String> = routes.iter().map(Route::to_string).collect();
    sorted.sort();
    let mut hasher = Sha256::new();
    for r in &sorted {
        hasher.update(r.as_bytes());
        hasher.update(b"\n");
    }
    hasher.update(integration_uri.as_bytes());
    for line in extra {
        hasher.update(b"\n");
        hasher.update(line.as_bytes());
    }
    let digest = hasher.finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack;
    use std::path::Path;

    fn stack(text: &str) -> Stack {
        match stack::parse(text, Path::new("stack.yaml")) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn arns_carry_the_partition_of_the_region() {
        let s = stack("name: vc\nstage: prod\n");
        let cn = Names::derive(&s, "cn-north-1", "111122223333");
        assert_eq!(
            cn.table_arn,
            "arn:aws-cn:dynamodb:cn-north-1:111122223333:table/vc-prod"
        );
        assert_eq!(
            cn.role_arn,
            "arn:aws-cn:iam::111122223333:role/vc-prod-role"
        );
        assert_eq!(
            cn.function_arn,
            "arn:aws-cn:lambda:cn-north-1:111122223333:function:vc-prod"
        );
        assert_eq!(
            cn.api_url("abc", None),
            "https://abc.execute-api.cn-north-1.amazonaws.com.cn/prod"
        );
        assert_eq!(
            cn.api_url("abc", Some("http://127.0.0.1:5000/")),
            "http://127.0.0.1:5000/_aws/execute-api/abc/prod"
        );
        let gov = Names::derive(&s, "us-gov-west-1", "111122223333");
        assert_eq!(
            gov.log_streams_arn(),
            "arn:aws-us-gov:logs:us-gov-west-1:111122223333:log-group:/aws/lambda/vc-prod:*"
        );
        assert_eq!(
            gov.integration_uri(),
            "arn:aws-us-gov:apigateway:us-gov-west-1:lambda:path/2015-03-31/functions/\
             arn:aws-us-gov:lambda:us-gov-west-1:111122223333:function:vc-prod/invocations"
        );
        assert_eq!(
            gov.execute_api_arn("a1"),
            "arn:aws-us-gov:execute-api:us-gov-west-1:111122223333:a1/*"
        );
    }

    #[test]
    fn the_policy_is_exactly_the_two_statements_of_the_design() {
        let s = stack("name: visitor-counter\ntable:\n  name: resume-visitors\n");
        let n = Names::derive(&s, "us-east-1", "123456789012");
        assert_eq!(
            n.counter_policy(),
            json!({
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "Counter",
                        "Effect": "Allow",
                        "Action": ["dynamodb:GetItem", "dynamodb:UpdateItem"],
                        "Resource": "arn:aws:dynamodb:us-east-1:123456789012:table/resume-visitors",
                    },
                    {
                        "Sid": "Logs",
                        "Effect": "Allow",
                        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                        "Resource": "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/visitor-counter-prod:*",
                    },
                ],
            })
        );
        assert_eq!(
            n.trust_policy()["Statement"][0]["Condition"],
            json!({"StringEquals": {"aws:SourceAccount": "123456789012"}})
        );
    }

    #[test]
    fn renaming_the_table_moves_policy_and_env_together() {
        let before = Names::derive(&stack("name: vc\n"), "us-east-1", "1");
        let after = Names::derive(
            &stack("name: vc\ntable:\n  name: vc-new\n"),
            "us-east-1",
            "1",
        );
        assert_eq!(before.environment["TABLE_NAME"], "vc-prod");
        assert!(before
            .counter_policy()
            .to_string()
            .contains(":table/vc-prod\""));
        assert_eq!(after.environment["TABLE_NAME"], "vc-new");
        assert!(after
            .counter_policy()
            .to_string()
            .contains(":table/vc-new\""));
        assert!(!after.counter_policy().to_string().contains("vc-prod\""));
    }

    #[test]
    fn the_environment_and_tags_come_from_the_stack() {
        let s = stack(
            "name: vc\nstage: dev\nfunction:\n  counter_id: home\napi:\n  cors_origins: [\"https://a.example\", \"https://b.example\"]\ntags: {project: cv}\n",
        );
        let n = Names::derive(&s, "eu-west-1", "1");
        assert_eq!(n.environment["COUNTER_ID"], "home");
        assert_eq!(
            n.environment["CORS_ORIGINS"],
            "https://a.example,https://b.example"
        );
        assert_eq!(n.tags["deployer:stack"], "vc");
        assert_eq!(n.tags["deployer:stage"], "dev");
        assert_eq!(n.tags["project"], "cv");
    }

    #[test]
    fn the_routes_hash_ignores_order_but_not_content() {
        let a = Route {
            method: "GET".into(),
            path: "/a".into(),
        };
        let b = Route {
            method: "GET".into(),
            path: "/b".into(),
        };
        let h = routes_hash(&[a.clone(), b.clone()], "uri", &[]);
        assert_eq!(h, routes_hash(&[b.clone(), a.clone()], "uri", &[]));
        assert_ne!(h, routes_hash(std::slice::from_ref(&a), "uri", &[]));
        assert_ne!(h, routes_hash(&[a.clone(), b.clone()], "other-uri", &[]));
        assert_ne!(h, routes_hash(&[a, b], "uri", &["DEFAULT_4XX".into()]));
        assert_eq!(h.len(), 16);
    }
}
