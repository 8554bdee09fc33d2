//! The caller's identity policy, enforced on what it sends ([`Realism::policy`]), and the
//! actions it denies outright ([`Realism::denied`]). Each action a statement alone allowed is
//! remembered: that census is how a test proves every printed action was needed.
//!
//! A request this model cannot name an action for is refused under a policy, with a message that
//! says so ([`iam::Needs::Unknown`]): otherwise a new call would pass the proof and be denied on
//! AWS.

use std::collections::BTreeSet;

use super::{Answer, Layer};
use crate::faults;
use crate::iam::{self, Needs};
use crate::policy::Context;
use crate::wire::Exchange;

/// `lambda.amazonaws.com`: the only service a role is passed to here.
const LAMBDA: &str = "lambda.amazonaws.com";

impl Layer {
    /// AccessDenied (in the service's shape) for a request the layer's denials or policy refuse:
    /// its action on its resource (with the resource's `tags` as `aws:ResourceTag`), each
    /// dependent action, and `iam:PassRole` for the role it gives a function.
    pub(super) fn authorize(&self, ex: &Exchange<'_>, tags: Option<&iam::Tags>) -> Option<Answer> {
        if ex.access_key() == Some(crate::OPERATOR_KEY) {
            return None;
        }
        let service = ex.call.service.as_str();
        let action = match iam::needs(ex) {
            Needs::Nothing => return None,
            Needs::Action(action) => action,
            Needs::Unknown(what) => {
                return self
                    .config
                    .policy
                    .as_ref()
                    .map(|_| unclassified(service, &what))
            }
        };
        if self.config.denied.contains(&action) {
            return Some(denied(service, &action));
        }
        let policy = self.config.policy.as_ref()?;
        let resource = iam::resource(ex, &policy.region, &policy.account);
        let mut context = iam::context(ex);
        for (key, value) in tags.into_iter().flatten() {
            let key = format!("aws:resourcetag/{}", key.to_ascii_lowercase());
            context.insert(key, vec![value.clone()]);
        }
        let mut checks = vec![(action, resource.clone(), None, context)];
        checks.extend(
            iam::dependent(ex)
                .into_iter()
                .map(|also| (also, resource.clone(), None, Context::new())),
        );
        if let Some(role) = iam::passed_role(ex) {
            checks.push(("iam:PassRole".into(), role, Some(LAMBDA), Context::new()));
        }
        for (action, resource, passed_to, context) in checks {
            if !self.allowed(&action, &resource, passed_to, context) {
                return Some(denied(service, &action));
            }
        }
        if iam::gets_function(ex) {
            // GetFunction of a tagged function needs lambda:ListTags too; without it Lambda
            // answers with a `TagsError` instead of the tags ([`Layer::lists_tags`]).
            let function = iam::unqualified(&resource);
            self.allowed("lambda:ListTags", function, None, Context::new());
        }
        None
    }

    /// Whether the policy allows `action` on `resource`; the statement that alone allowed it
    /// joins the census.
    fn allowed(
        &self,
        action: &str,
        resource: &str,
        passed_to: Option<&str>,
        context: Context,
    ) -> bool {
        let Some(policy) = self.config.policy.as_ref() else {
            return true;
        };
        let Some(sids) = policy.allowed_by(action, resource, passed_to, context) else {
            return false;
        };
        if let [sid] = sids.as_slice() {
            let entry = (sid.clone(), action.to_string());
            self.world().authorized.insert(entry);
        }
        true
    }

    /// Whether the caller may read the tags of function `arn` (`lambda:ListTags`), which
    /// GetFunction of a tagged function needs.
    pub(super) fn lists_tags(&self, arn: &str) -> bool {
        if self.config.denied.contains("lambda:ListTags") {
            return false;
        }
        self.config
            .policy
            .as_ref()
            .is_none_or(|p| p.allows("lambda:ListTags", arn, None))
    }

    /// Each `(statement id, action)` for which that statement alone allowed a request since the
    /// layer was put in place.
    pub(crate) fn authorized(&self) -> BTreeSet<(String, String)> {
        self.world().authorized.clone()
    }
}

/// AccessDenied, as each service's protocol sends it.
pub(super) fn denied(service: &str, action: &str) -> Answer {
    let message = format!(
        "User: arn:aws:iam::123456789012:user/deployer is not authorized to perform: {action} \
         because no identity-based policy allows the {action} action"
    );
    refusal(service, &message)
}

/// The refusal of a request the model cannot classify: the test fails naming it.
fn unclassified(service: &str, what: &str) -> Answer {
    let message = format!(
        "the emulator's IAM model cannot name the action of {what}; add it to testkit/src/iam.rs \
         (and to `deployer policy` if the deployer needs it)"
    );
    refusal(service, &message)
}

fn refusal(service: &str, message: &str) -> Answer {
    match service {
        "iam" | "sts" | "monitoring" => faults::aws_error(service, 403, "AccessDenied", message),
        "sns" => faults::aws_error(service, 403, "AuthorizationError", message),
        _ => faults::aws_error(service, 403, "AccessDeniedException", message),
    }
}
