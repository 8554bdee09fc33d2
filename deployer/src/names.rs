//! Every resource name, ARN, policy document and the function's environment, derived from the
//! validated stack in one place.
//!
//! The classic hand-built failure is a function whose `TABLE_NAME` says one table while its
//! policy still names another. Here both come from `Names::table`, so they cannot disagree. No
//! other module formats an ARN.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::stack::{Route, Stack};

/// Tags under this prefix belong to the deployer.
pub const TAG_PREFIX: &str = "deployer:";
/// Names the stack a resource belongs to.
pub const STACK_TAG: &str = "deployer:stack";
/// Names the stage; with [`STACK_TAG`] it tells two stages of one stack apart.
pub const STAGE_TAG: &str = "deployer:stage";

/// The runtime and handler of a Rust function on Lambda's OS-only runtime.
pub const RUNTIME: &str = "provided.al2023";
pub const HANDLER: &str = "bootstrap";

/// An AWS partition: ARNs and DNS names differ between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partition {
    Aws,
    AwsCn,
    AwsUsGov,
}

/// The partitions whose regions are refused, by region prefix: their ARNs, endpoints and DNS
/// suffixes differ from the commercial ones, and a wrong ARN in a policy fails silently.
const UNSUPPORTED: [(&str, &str, &str); 5] = [
    ("us-isob-", "aws-iso-b", "sc2s.sgov.gov"),
    ("us-isof-", "aws-iso-f", "csp.hci.ic.gov"),
    ("eu-isoe-", "aws-iso-e", "cloud.adc-e.uk"),
    ("us-iso-", "aws-iso", "c2s.ic.gov"),
    ("eusc-", "aws-eusc", "amazonaws.eu"),
];

impl Partition {
    /// The partition of `region`, or why it is refused: not a region code at all, or a region
    /// of a partition the deployer does not support (ISO and European Sovereign Cloud).
    pub fn check(region: &str) -> Result<Partition, String> {
        if let Some((_, partition, suffix)) =
            UNSUPPORTED.iter().find(|(p, _, _)| region.starts_with(p))
        {
            return Err(format!(
                "{region:?} is a region of the {partition} partition (DNS suffix {suffix}), which \
                 this deployer does not support: its ARNs and endpoints differ from the aws, \
                 aws-cn and aws-us-gov partitions, and it would derive wrong ones"
            ));
        }
        Partition::of_region(region).ok_or_else(|| format!("{region:?} is not an AWS region"))
    }

    /// The partition a region belongs to, or `None` when `region` is not a region code of a
    /// supported partition.
    pub fn of_region(region: &str) -> Option<Partition> {
        if UNSUPPORTED.iter().any(|(p, _, _)| region.starts_with(p)) {
            return None;
        }
        let parts: Vec<&str> = region.split('-').collect();
        let well_formed = (3..=4).contains(&parts.len())
            && parts[0].len() == 2
            && parts[0].chars().all(|c| c.is_ascii_lowercase())
            && parts[1..parts.len() - 1]
                .iter()
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
            && parts.last().is_some_and(|n| {
                !n.is_empty() && n.len() <= 2 && n.chars().all(|c| c.is_ascii_digit())
            });
        if !well_formed {
            return None;
        }
        Some(match (parts[0], parts[1]) {
            ("cn", _) => Partition::AwsCn,
            ("us", "gov") => Partition::AwsUsGov,
            _ => Partition::Aws,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Partition::Aws => "aws",
            Partition::AwsCn => "aws-cn",
            Partition::AwsUsGov => "aws-us-gov",
        }
    }

    pub fn dns_suffix(self) -> &'static str {
        match self {
            Partition::AwsCn => "amazonaws.com.cn",
            Partition::Aws | Partition::AwsUsGov => "amazonaws.com",
        }
    }
}

pub fn function_name(stack: &str, stage: &str) -> String {
    format!("{stack}-{stage}")
}

pub fn role_name(stack: &str, stage: &str) -> String {
    format!("{stack}-{stage}-role")
}

pub fn default_table_name(stack: &str, stage: &str) -> String {
    format!("{stack}-{stage}")
}

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
        let function = function_name(&stack.name, &stack.stage);
        let role = role_name(&stack.name, &stack.stage);
        let table = stack.table.name.clone();
        let log_group = format!("/aws/lambda/{function}");

        let mut tags = stack.tags.clone();
        tags.insert(STACK_TAG.to_string(), stack.name.clone());
        tags.insert(STAGE_TAG.to_string(), stack.stage.clone());

        let mut environment = BTreeMap::new();
        environment.insert("TABLE_NAME".to_string(), table.clone());
        environment.insert("COUNTER_ID".to_string(), stack.function.counter_id.clone());
        environment.insert("CORS_ORIGINS".to_string(), stack.api.cors_origins.join(","));
        if !stack.api.cors_headers.is_empty() {
            environment.insert("CORS_HEADERS".to_string(), stack.api.cors_headers.join(","));
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

    /// The stage's public URL.
    pub fn api_url(&self, api_id: &str) -> String {
        format!(
            "https://{api_id}.execute-api.{}.{}/{}",
            self.region,
            self.partition.dns_suffix(),
            self.stage
        )
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
    fn partitions_follow_the_region() {
        assert_eq!(Partition::of_region("us-east-1"), Some(Partition::Aws));
        assert_eq!(Partition::of_region("eu-central-2"), Some(Partition::Aws));
        assert_eq!(Partition::of_region("ap-southeast-5"), Some(Partition::Aws));
        assert_eq!(
            Partition::of_region("cn-northwest-1"),
            Some(Partition::AwsCn)
        );
        assert_eq!(
            Partition::of_region("us-gov-west-1"),
            Some(Partition::AwsUsGov)
        );
        for unsupported in [
            "us-iso-east-1",
            "us-isob-east-1",
            "eu-isoe-west-1",
            "us-isof-south-1",
            "eusc-de-east-1",
        ] {
            assert_eq!(Partition::of_region(unsupported), None, "{unsupported}");
            let why = Partition::check(unsupported).unwrap_err();
            assert!(why.contains("partition"), "{why}");
        }
        assert_eq!(Partition::check("eu-west-1"), Ok(Partition::Aws));
        for bad in [
            "us-east",
            "useast1",
            "US-EAST-1",
            "us-east-1a",
            "",
            "u-east-1",
            "us--1",
        ] {
            assert_eq!(Partition::of_region(bad), None, "{bad}");
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
            cn.api_url("abc"),
            "https://abc.execute-api.cn-north-1.amazonaws.com.cn/prod"
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
