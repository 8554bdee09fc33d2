//! Every resource name, derived from the validated stack and the region in one place, before
//! the account is known: enough to find the live stack (every read goes by name). The ARNs need
//! the account, and are [`crate::arns::Arns`], made from these once STS has answered: a type
//! that cannot exist without an account, so no ARN is ever formatted with an empty one.
//!
//! The classic hand-built failure is a function whose `TABLE_NAME` says one table while its
//! policy still names another. Here both come from `Names::table`, so they cannot disagree.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::conventions;
use crate::stack::{Route, Stack};

use crate::conventions::{Partition, STACK_TAG, STAGE_TAG};

/// Every name derived from the stack and the region.
#[derive(Debug, Clone, PartialEq)]
pub struct Names {
    pub partition: Partition,
    pub region: String,
    pub stack: String,
    pub stage: String,
    pub table: String,
    /// The table's partition key attribute: the counter's and the lease's items are keyed by it.
    pub key: String,
    /// The key of the table's one counter item: the only item the function may touch.
    pub counter: String,
    /// The key of the deploy lease's item in the same table (see [`crate::lease`]): the only
    /// item the deployer's own credentials may touch.
    pub lease: String,
    pub function: String,
    /// The function's alias that API Gateway invokes: the version that takes traffic.
    pub alias: String,
    pub role: String,
    /// The role's one inline policy.
    pub policy: String,
    pub log_group: String,
    pub api: String,
    /// The REST API the stack names (`api.id`, adopted), rather than the one its tags find.
    pub api_id: Option<String>,
    /// The `StatementId` of the permission that lets the API invoke the function.
    pub permission_sid: String,
    /// The alerts' SNS topic (`alerts:`).
    pub topic: String,
    /// The tags every resource carries: the deployer's and the user's.
    pub tags: BTreeMap<String, String>,
}

impl Names {
    /// Derives every name from `stack`, in `region` (already validated).
    pub fn derive(stack: &Stack, region: &str) -> Names {
        let partition = Partition::of_region(region).unwrap_or(Partition::Aws);
        let function = conventions::function_name(&stack.name, &stack.stage);
        let mut tags = stack.tags.clone();
        tags.insert(STACK_TAG.to_string(), stack.name.clone());
        tags.insert(STAGE_TAG.to_string(), stack.stage.clone());
        Names {
            partition,
            region: region.to_string(),
            stack: stack.name.clone(),
            stage: stack.stage.clone(),
            table: stack.table.name.clone(),
            key: stack.table.key.clone(),
            counter: stack.function.counter_id.clone(),
            lease: conventions::lease_key(&stack.name, &stack.stage),
            role: conventions::role_name(&stack.name, &stack.stage),
            policy: format!("{}-counter-access", stack.name),
            log_group: format!("/aws/lambda/{function}"),
            api: function.clone(),
            api_id: stack.api.id.clone(),
            permission_sid: format!("{}-apigateway-invoke", stack.name),
            alias: conventions::LIVE_ALIAS.to_string(),
            topic: format!("{function}-alerts"),
            function,
            tags,
        }
    }

    /// The name of the stack's alarm of `kind` (`function-errors`): the function's name and the
    /// kind, so that a console lists a stack's alarms together.
    pub fn alarm(&self, kind: &str) -> String {
        format!("{}-{kind}", self.function)
    }
}

/// A short, stable hash of what a deployment serves: the routes, the function they invoke, and
/// the gateway responses, one line each. Kept in the deployment's description, so the live stage
/// can be compared without a state file.
pub fn deployment_hash(routes: &[Route], integration_uri: &str, responses: &[String]) -> String {
    let mut sorted: Vec<String> = routes.iter().map(Route::to_string).collect();
    sorted.sort();
    let mut hasher = Sha256::new();
    for r in &sorted {
        hasher.update(r.as_bytes());
        hasher.update(b"\n");
    }
    hasher.update(integration_uri.as_bytes());
    for line in responses {
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

    pub(crate) fn stack(text: &str) -> Stack {
        match stack::parse(text, Path::new("stack.yaml")) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn names_and_tags_come_from_the_stack_and_stage() {
        let n = Names::derive(
            &stack("name: vc\nstage: dev\ntags: {project: cv}\n"),
            "eu-west-1",
        );
        assert_eq!(
            (n.function.as_str(), n.role.as_str(), n.table.as_str()),
            ("vc-dev", "vc-dev-role", "vc-dev")
        );
        assert_eq!(n.log_group, "/aws/lambda/vc-dev");
        assert_eq!(n.tags["deployer:stack"], "vc");
        assert_eq!(n.tags["deployer:stage"], "dev");
        assert_eq!(n.tags["project"], "cv");
        assert_eq!(
            Names::derive(&stack("name: vc\n"), "cn-north-1").partition,
            Partition::AwsCn
        );
    }

    #[test]
    fn the_deployment_hash_ignores_order_but_not_content() {
        let a = Route {
            method: "GET".into(),
            path: "/a".into(),
        };
        let b = Route {
            method: "GET".into(),
            path: "/b".into(),
        };
        let h = deployment_hash(&[a.clone(), b.clone()], "uri", &[]);
        assert_eq!(h, deployment_hash(&[b.clone(), a.clone()], "uri", &[]));
        assert_ne!(h, deployment_hash(std::slice::from_ref(&a), "uri", &[]));
        assert_ne!(
            h,
            deployment_hash(&[a.clone(), b.clone()], "other-uri", &[])
        );
        assert_ne!(h, deployment_hash(&[a, b], "uri", &["DEFAULT_4XX".into()]));
        assert_eq!(h.len(), 16);
    }
}
