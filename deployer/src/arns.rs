//! Every ARN and address of the stack, formatted in one place, from its [`Names`] and the
//! account STS names. An [`Arns`] exists only once the account is known.

use crate::conventions::Partition;
use crate::names::Names;

/// The stack's ARNs in one account.
#[derive(Debug, Clone, PartialEq)]
pub struct Arns {
    pub partition: Partition,
    pub region: String,
    pub account: String,
    stage: String,
    pub table: String,
    pub function: String,
    /// The `live` alias: what API Gateway invokes and what the invoke permission names.
    pub alias: String,
    pub role: String,
    pub log_group: String,
    /// The alerts' topic (`alerts.email`).
    pub topic: String,
    /// The prefix of the stack's alarms' ARNs (each is this and its kind).
    pub alarm_prefix: String,
}

impl Arns {
    /// The ARNs of `names` in `account`.
    pub fn of(names: &Names, account: &str) -> Arns {
        let (p, region) = (names.partition.as_str(), &names.region);
        Arns {
            partition: names.partition,
            region: region.clone(),
            account: account.to_string(),
            stage: names.stage.clone(),
            table: format!("arn:{p}:dynamodb:{region}:{account}:table/{}", names.table),
            function: format!(
                "arn:{p}:lambda:{region}:{account}:function:{}",
                names.function
            ),
            alias: format!(
                "arn:{p}:lambda:{region}:{account}:function:{}:{}",
                names.function, names.alias
            ),
            role: format!("arn:{p}:iam::{account}:role/{}", names.role),
            log_group: format!(
                "arn:{p}:logs:{region}:{account}:log-group:{}",
                names.log_group
            ),
            topic: format!("arn:{p}:sns:{region}:{account}:{}", names.topic),
            alarm_prefix: format!(
                "arn:{p}:cloudwatch:{region}:{account}:alarm:{}",
                names.alarm("")
            ),
        }
    }

    /// The ARN of the stack's alarm of `kind`.
    pub fn alarm(&self, kind: &str) -> String {
        format!("{}{kind}", self.alarm_prefix)
    }

    /// Where the function's log streams live: the one wildcard the role's policy has.
    pub fn log_streams(&self) -> String {
        format!("{}:*", self.log_group)
    }

    /// The API Gateway integration URI: it invokes the `live` alias, never `$LATEST`.
    pub fn integration_uri(&self) -> String {
        format!(
            "arn:{}:apigateway:{}:lambda:path/2015-03-31/functions/{}/invocations",
            self.partition.as_str(),
            self.region,
            self.alias
        )
    }

    /// Every version and alias of the function (`function:NAME:*`): IAM matches a qualified
    /// request against the qualified ARN, which the function's own ARN does not cover.
    pub fn function_qualifiers(&self) -> String {
        format!("{}:*", self.function)
    }

    /// The `SourceArn` of the invoke permission: any stage, method and path of this API only.
    pub fn execute_api(&self, api_id: &str) -> String {
        format!(
            "arn:{}:execute-api:{}:{}:{api_id}/*",
            self.partition.as_str(),
            self.region,
            self.account
        )
    }

    /// The ARN API Gateway tags a REST API by (API Gateway's ARNs carry no account).
    pub fn api(&self, api_id: &str) -> String {
        format!(
            "arn:{}:apigateway:{}::/restapis/{api_id}",
            self.partition.as_str(),
            self.region
        )
    }

    /// The ARN API Gateway tags a stage by.
    pub fn stage(&self, api_id: &str) -> String {
        format!("{}/stages/{}", self.api(api_id), self.stage)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack;
    use std::path::Path;

    fn arns(region: &str) -> Arns {
        let s = stack::parse("name: vc\nstage: prod\n", Path::new("stack.yaml"))
            .unwrap_or_else(|e| panic!("{e}"));
        Arns::of(&Names::derive(&s, region), "111122223333")
    }

    #[test]
    fn arns_carry_the_partition_of_the_region() {
        let cn = arns("cn-north-1");
        assert_eq!(
            cn.table,
            "arn:aws-cn:dynamodb:cn-north-1:111122223333:table/vc-prod"
        );
        assert_eq!(cn.role, "arn:aws-cn:iam::111122223333:role/vc-prod-role");
        assert_eq!(
            cn.function,
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
        let gov = arns("us-gov-west-1");
        assert_eq!(
            gov.log_streams(),
            "arn:aws-us-gov:logs:us-gov-west-1:111122223333:log-group:/aws/lambda/vc-prod:*"
        );
        assert_eq!(
            gov.integration_uri(),
            "arn:aws-us-gov:apigateway:us-gov-west-1:lambda:path/2015-03-31/functions/\
             arn:aws-us-gov:lambda:us-gov-west-1:111122223333:function:vc-prod:live/invocations"
        );
        assert_eq!(
            gov.execute_api("a1"),
            "arn:aws-us-gov:execute-api:us-gov-west-1:111122223333:a1/*"
        );
        assert_eq!(
            gov.stage("a1"),
            "arn:aws-us-gov:apigateway:us-gov-west-1::/restapis/a1/stages/prod"
        );
    }
}
