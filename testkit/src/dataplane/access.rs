//! Who may do what in the request path, read from moto as it is now:
//! - a function process gets credentials that stand for its execution role; each call it makes
//!   is authorized against that role's inline and managed policies, as IAM would;
//! - API Gateway may invoke a function only when the function's resource policy allows
//!   `apigateway.amazonaws.com` for the request's `execute-api` source ARN.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use bytes::Bytes;
use hyper::Response;
use serde_json::Value;

use super::{DataPlane, ACCOUNT, REGION};
use crate::iam;
use crate::policy::{self, Context, Decision, Request};
use crate::wire::Exchange;

/// A function's execution role, as the credentials of its process stand for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub role_arn: String,
    /// The session: the function's name, as Lambda names it.
    pub function: String,
}

impl Principal {
    /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/FUNCTION`, as AWS names the caller.
    pub fn assumed_role_arn(&self) -> String {
        let role = self.role_arn.rsplit('/').next().unwrap_or(&self.role_arn);
        format!(
            "arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{}",
            self.function
        )
    }
}

/// The access keys handed to function processes, and whom each stands for.
#[derive(Debug, Default)]
pub(super) struct Principals {
    by_key: Mutex<HashMap<String, Principal>>,
    /// Table name → its partition key attribute, for `dynamodb:LeadingKeys`.
    partition_keys: Mutex<HashMap<String, String>>,
}

impl Principals {
    /// The credentials of a process running `function` as `role_arn`: an access key that names
    /// them (`ASIA…`, as STS's temporary keys are), a secret and a session token.
    pub(super) fn credentials(&self, role_arn: &str, function: &str) -> [(String, String); 3] {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for b in role_arn.bytes().chain(function.bytes()) {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        let key = format!("ASIA{hash:016X}");
        if let Ok(mut by_key) = self.by_key.lock() {
            by_key.insert(
                key.clone(),
                Principal {
                    role_arn: role_arn.to_string(),
                    function: function.to_string(),
                },
            );
        }
        [
            ("AWS_ACCESS_KEY_ID".into(), key),
            ("AWS_SECRET_ACCESS_KEY".into(), "dataplane".into()),
            ("AWS_SESSION_TOKEN".into(), format!("dataplane-{function}")),
        ]
    }

    /// The function whose access key signed this request, if any.
    pub(super) fn of_request(&self, parts: &hyper::http::request::Parts) -> Option<Principal> {
        let key = crate::wire::access_key(parts)?;
        self.by_key.lock().ok()?.get(key).cloned()
    }
}

/// AccessDenied for a call of `who` that its role's policies do not allow; `None` to let it on.
pub(super) async fn authorize(
    dp: &DataPlane,
    ex: &Exchange<'_>,
    who: &Principal,
) -> Option<Response<Bytes>> {
    let resource = iam::resource(ex, REGION, ACCOUNT);
    let action = match iam::needs(ex) {
        iam::Needs::Nothing => return None,
        iam::Needs::Action(action) => action,
        iam::Needs::Unknown(what) => {
            let why = format!("because the emulator's IAM model cannot name the action of {what}");
            return Some(denied(ex, who, "an unknown action", &resource, &why));
        }
    };
    let context = context(dp, ex).await;
    // While a change of the role's permissions propagates, its sessions get the former ones.
    let documents = match super::propagation::applied(dp, &who.role_arn) {
        Some(former) => Ok(former),
        None => role_documents(dp, &who.role_arn).await,
    };
    let documents = match documents {
        Ok(docs) => docs,
        Err(why) => return Some(denied(ex, who, &action, &resource, &why)),
    };
    let request = Request {
        action: &action,
        resource: &resource,
        context: &context,
        principal: None,
    };
    match policy::evaluate(&documents, &request) {
        Decision::Allow => None,
        Decision::ExplicitDeny(_) => Some(denied(
            ex,
            who,
            &action,
            &resource,
            "with an explicit deny in an identity-based policy",
        )),
        Decision::ImplicitDeny => Some(denied(
            ex,
            who,
            &action,
            &resource,
            &format!("because no identity-based policy allows the {action} action"),
        )),
    }
}

/// The request's condition keys: for DynamoDB, `dynamodb:LeadingKeys`, the partition key
/// values it names.
async fn context(dp: &DataPlane, ex: &Exchange<'_>) -> Context {
    let mut context = Context::new();
    if ex.call.service != "dynamodb" {
        return context;
    }
    let body = ex.json();
    let (Some(table), Some(key)) = (body["TableName"].as_str(), body["Key"].as_object()) else {
        return context;
    };
    let partition = match partition_key(dp, table).await {
        Some(name) => name,
        None => return context,
    };
    let values: Vec<String> = key
        .get(&partition)
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|typed| typed.values())
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string())
        })
        .collect();
    context.insert("dynamodb:leadingkeys".into(), values);
    context
}

async fn partition_key(dp: &DataPlane, table: &str) -> Option<String> {
    let cached = dp
        .principals
        .partition_keys
        .lock()
        .ok()
        .and_then(|k| k.get(table).cloned());
    if cached.is_some() {
        return cached;
    }
    let described = dp
        .moto
        .dynamodb
        .describe_table()
        .table_name(table)
        .send()
        .await
        .ok()?;
    let name = described
        .table()?
        .key_schema()
        .iter()
        .find(|k| k.key_type().as_str() == "HASH")?
        .attribute_name()
        .to_string();
    if let Ok(mut keys) = dp.principals.partition_keys.lock() {
        keys.insert(table.to_string(), name.clone());
    }
    Some(name)
}

/// Every policy document of the role: its inline policies and its attached managed ones.
pub(super) async fn role_documents(dp: &DataPlane, role_arn: &str) -> Result<Vec<Value>, String> {
    let role = role_arn.rsplit('/').next().unwrap_or(role_arn);
    let iam = &dp.moto.iam;
    let names = iam
        .list_role_policies()
        .role_name(role)
        .send()
        .await
        .map_err(|e| format!("the role {role} cannot be read: {e}"))?
        .policy_names;
    let mut documents = Vec::new();
    for name in names {
        let doc = iam
            .get_role_policy()
            .role_name(role)
            .policy_name(&name)
            .send()
            .await
            .map_err(|e| format!("policy {name} of role {role} cannot be read: {e}"))?;
        documents.push(parse_document(&doc.policy_document));
    }
    let attached = iam
        .list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .map_err(|e| format!("the managed policies of role {role} cannot be read: {e}"))?;
    for arn in attached
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn())
    {
        documents.push(managed_document(dp, arn).await?);
    }
    Ok(documents)
}

async fn managed_document(dp: &DataPlane, arn: &str) -> Result<Value, String> {
    let iam = &dp.moto.iam;
    let policy = iam
        .get_policy()
        .policy_arn(arn)
        .send()
        .await
        .map_err(|e| format!("managed policy {arn} cannot be read: {e}"))?;
    let version = policy
        .policy()
        .and_then(|p| p.default_version_id())
        .unwrap_or("v1")
        .to_string();
    let doc = iam
        .get_policy_version()
        .policy_arn(arn)
        .version_id(version)
        .send()
        .await
        .map_err(|e| format!("managed policy {arn} cannot be read: {e}"))?;
    Ok(doc
        .policy_version()
        .and_then(|v| v.document())
        .map(parse_document)
        .unwrap_or(Value::Null))
}

/// IAM returns documents URL-encoded; moto sometimes does not.
fn parse_document(text: &str) -> Value {
    serde_json::from_str(text)
        .or_else(|_| serde_json::from_str(&crate::realism::percent_decode(text)))
        .unwrap_or(Value::Null)
}

/// The AccessDenied each service answers a denied call with.
fn denied(
    ex: &Exchange<'_>,
    who: &Principal,
    action: &str,
    resource: &str,
    why: &str,
) -> Response<Bytes> {
    let message = format!(
        "User: {} is not authorized to perform: {action} on resource: {resource} {why}",
        who.assumed_role_arn()
    );
    match ex.call.service.as_str() {
        "dynamodb" => {
            let body = serde_json::json!({
                "__type": "com.amazon.coral.service#AccessDeniedException",
                "Message": message,
            });
            Response::builder()
                .status(400)
                .header("content-type", "application/x-amz-json-1.0")
                .header("x-amzn-requestid", "00000000-0000-0000-0000-0000000dea17")
                .body(Bytes::from(body.to_string()))
                .unwrap_or_else(|_| Response::new(Bytes::new()))
        }
        "iam" | "sts" => crate::faults::aws_error(&ex.call.service, 403, "AccessDenied", &message),
        service => crate::faults::aws_error(service, 403, "AccessDeniedException", &message),
    }
}

/// Whether API Gateway may invoke `function_arn` (qualified or not) for a request whose
/// source ARN is `source_arn`: the function's (or the alias's, or the version's) resource
/// policy must allow it. `Err` says why not.
pub(super) async fn may_invoke(
    dp: &DataPlane,
    function_arn: &str,
    source_arn: &str,
) -> Result<(), String> {
    let (name, qualifier) = super::split_arn(function_arn);
    let missing =
        || format!("{function_arn} has no resource-based policy: API Gateway may not invoke it");
    // Lambda keeps a policy per qualifier; moto keeps the unqualified one (see `versions`).
    let document = match &qualifier {
        Some(q) => dp.versions.policy(&name, q).ok_or_else(missing)?,
        None => {
            let policy = dp
                .moto
                .lambda
                .get_policy()
                .function_name(&name)
                .send()
                .await
                .map_err(|_| missing())?;
            serde_json::from_str(policy.policy().unwrap_or("{}")).unwrap_or_default()
        }
    };
    let context = BTreeMap::from([
        ("aws:sourcearn".to_string(), vec![source_arn.to_string()]),
        ("aws:sourceaccount".to_string(), vec![ACCOUNT.to_string()]),
    ]);
    let request = Request {
        action: "lambda:InvokeFunction",
        resource: function_arn,
        context: &context,
        principal: Some(("Service", "apigateway.amazonaws.com")),
    };
    match policy::evaluate(&[document], &request) {
        Decision::Allow => Ok(()),
        _ => Err(format!(
            "Execution failed due to configuration error: Invalid permissions on Lambda \
             function ({function_arn} does not allow apigateway.amazonaws.com from {source_arn})"
        )),
    }
}
