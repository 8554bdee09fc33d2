//! Versions and aliases as Lambda keeps them, where moto does otherwise:
//! - **a resource policy per qualifier.** Lambda keeps one policy for the function and one for
//!   each alias and version: a statement added with `Qualifier=live` lets callers invoke the
//!   alias, and only it. moto keeps one policy per function, shared by its versions (a shallow
//!   copy), and ignores the qualifier of `RemovePermission`. So qualified `AddPermission`,
//!   `GetPolicy` and `RemovePermission` are answered here, in Lambda's words, and the invoke
//!   check reads the qualified policy from here.
//! - **an alias's `RevisionId`.** Lambda gives an alias a new one at each update, and refuses an
//!   `UpdateAlias` whose `RevisionId` is not the latest (412 `PreconditionFailedException`).
//!   moto never changes it and never checks it.
//! - **version numbers are never reused.** moto numbers a new version `len(versions) + 1`, so a
//!   version deleted from moto would make the next `PublishVersion` reuse a number (and two
//!   versions answer to it). So a deleted version is kept in moto and hidden here: its reads and
//!   invocations answer 404, and listings leave it out.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use hyper::Response;
use serde_json::{json, Value};

use super::function::lambda_error;
use super::{split_arn, DataPlane, ACCOUNT, REGION};
use crate::realism::{percent_decode, rewrite_json};
use crate::wire::Exchange;

/// What the data plane keeps of versions and aliases in moto's place.
#[derive(Default)]
pub(super) struct Versions {
    /// `(function, qualifier)` → the statements of that qualifier's policy.
    policies: Mutex<BTreeMap<(String, String), Vec<Value>>>,
    /// `(function, alias)` → its latest RevisionId.
    revisions: Mutex<BTreeMap<(String, String), String>>,
    /// `(function, version)` of the versions deleted, kept in moto (see the module's comment).
    deleted: Mutex<std::collections::BTreeSet<(String, String)>>,
    next: AtomicU64,
}

/// The Lambda requests this module answers or rewrites.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    /// Qualified policy calls: the function, the qualifier, and the statement id of a removal.
    AddPermission(String, String),
    GetPolicy(String, String),
    RemovePermission(String, String, String),
    /// Alias calls: the function and the alias (`None` for CreateAlias, named in the body).
    CreateAlias(String),
    GetAlias(String, String),
    UpdateAlias(String, String),
    /// DeleteFunction: the function, and the version when qualified.
    Delete(String, Option<String>),
    /// GetFunction, GetFunctionConfiguration: the function and the qualifier, if any.
    Read(String, Option<String>),
    /// ListVersionsByFunction.
    ListVersions(String),
}

fn route(ex: &Exchange<'_>) -> Option<Route> {
    if ex.call.service != "lambda" {
        return None;
    }
    let segments: Vec<String> = ex
        .path()
        .trim_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    let ["2015-03-31", "functions", f, rest @ ..] = s.as_slice() else {
        return None;
    };
    let (name, arn_qualifier) = split_arn(f);
    let qualifier = ex.query("Qualifier").or(arn_qualifier);
    let q = || qualifier.clone();
    Some(match (ex.method(), rest) {
        ("POST", ["policy"]) => Route::AddPermission(name, q()?),
        ("GET", ["policy"]) => Route::GetPolicy(name, q()?),
        ("DELETE", ["policy", sid]) => Route::RemovePermission(name, q()?, sid.to_string()),
        ("POST", ["aliases"]) => Route::CreateAlias(name),
        ("GET", ["aliases", a]) => Route::GetAlias(name, a.to_string()),
        ("PUT", ["aliases", a]) => Route::UpdateAlias(name, a.to_string()),
        ("DELETE", []) => Route::Delete(name, qualifier),
        ("GET", [] | ["configuration"]) => Route::Read(name, qualifier),
        ("GET", ["versions"]) => Route::ListVersions(name),
        _ => return None,
    })
}

fn qualified_arn(function: &str, qualifier: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}:{qualifier}")
}

impl Versions {
    fn revision(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        format!("00000000-0000-4000-8000-{n:012x}")
    }

    /// Whether version `qualifier` of `function` was deleted.
    pub(super) fn is_deleted(&self, function: &str, qualifier: &str) -> bool {
        self.deleted
            .lock()
            .is_ok_and(|d| d.contains(&(function.to_string(), qualifier.to_string())))
    }

    /// The statements of `function`'s policy at `qualifier`, as the invoke check reads them.
    pub(super) fn policy(&self, function: &str, qualifier: &str) -> Option<Value> {
        let policies = self.policies.lock().ok()?;
        let statements = policies.get(&(function.to_string(), qualifier.to_string()))?;
        (!statements.is_empty()).then(|| document(statements))
    }
}

fn document(statements: &[Value]) -> Value {
    json!({"Version": "2012-10-17", "Id": "default", "Statement": statements})
}

/// Answers a qualified policy call, or refuses a stale `UpdateAlias`, in moto's place.
pub(super) async fn before(dp: &DataPlane, ex: &Exchange<'_>) -> Option<Response<Bytes>> {
    let v = &dp.versions;
    let route = route(ex)?;
    if let Some(gone) = deleted(v, &route) {
        return Some(gone);
    }
    match route {
        Route::Delete(f, Some(q)) if q.parse::<u64>().is_ok() => {
            Some(match aliased(dp, &f, &q).await {
                Some(refusal) => refusal,
                None => delete_version(v, &f, &q),
            })
        }
        Route::AddPermission(f, q) => Some(match exists(dp, &f, &q).await {
            Err(refusal) => refusal,
            Ok(()) => add(v, &f, &q, &ex.json()),
        }),
        Route::GetPolicy(f, q) => Some(match exists(dp, &f, &q).await {
            Err(refusal) => refusal,
            Ok(()) => match v.policy(&f, &q) {
                Some(doc) => ok(
                    200,
                    json!({"Policy": doc.to_string(), "RevisionId": v.revision()}),
                ),
                None => lambda_error(
                    404,
                    "ResourceNotFoundException",
                    "The resource you requested does not exist.",
                ),
            },
        }),
        Route::RemovePermission(f, q, sid) => Some(remove(v, &f, &q, &sid)),
        Route::UpdateAlias(f, a) => stale_revision(v, &f, &a, &ex.json()),
        _ => None,
    }
}

/// Keeps what moto accepted: a new RevisionId per alias write, and no policy of a deleted
/// function or version. Returns the answer with the alias's RevisionId as Lambda would give it.
pub(super) fn after(dp: &DataPlane, ex: &Exchange<'_>, answer: Response<Bytes>) -> Response<Bytes> {
    if !answer.status().is_success() {
        return answer;
    }
    let v = &dp.versions;
    let (function, alias, fresh) = match route(ex) {
        Some(Route::CreateAlias(f)) => {
            let alias = ex.json()["Name"].as_str().unwrap_or_default().to_string();
            (f, alias, true)
        }
        Some(Route::UpdateAlias(f, a)) => (f, a, true),
        Some(Route::GetAlias(f, a)) => (f, a, false),
        Some(Route::Delete(f, None)) => {
            if let Ok(mut p) = v.policies.lock() {
                p.retain(|(name, _), _| name != &f);
            }
            if let Ok(mut d) = v.deleted.lock() {
                d.retain(|(name, _)| name != &f);
            }
            return answer;
        }
        Some(Route::ListVersions(f)) => return without_deleted(v, &f, answer),
        _ => return answer,
    };
    let Ok(mut revisions) = v.revisions.lock() else {
        return answer;
    };
    let key = (function, alias);
    let revision = match fresh {
        true => v.revision(),
        false => revisions.get(&key).cloned().unwrap_or_else(|| v.revision()),
    };
    revisions.insert(key, revision.clone());
    rewrite_json(&answer, |doc| {
        if doc.is_object() {
            doc["RevisionId"] = json!(revision);
        }
    })
    .0
}

fn stale_revision(
    v: &Versions,
    function: &str,
    alias: &str,
    body: &Value,
) -> Option<Response<Bytes>> {
    let asked = body["RevisionId"].as_str()?;
    let revisions = v.revisions.lock().ok()?;
    let latest = revisions.get(&(function.to_string(), alias.to_string()))?;
    (asked != latest).then(|| {
        lambda_error(
            412,
            "PreconditionFailedException",
            "The Revision Id provided does not match the latest Revision Id. Call the GetAlias \
             API to retrieve the latest Revision Id",
        )
    })
}

/// A request for a version deleted here: 404, as Lambda answers for a version that is gone.
fn deleted(v: &Versions, route: &Route) -> Option<Response<Bytes>> {
    let (f, q) = match route {
        Route::Read(f, Some(q)) | Route::Delete(f, Some(q)) => (f, q),
        Route::AddPermission(f, q) | Route::GetPolicy(f, q) => (f, q),
        Route::RemovePermission(f, q, _) => (f, q),
        _ => return None,
    };
    v.is_deleted(f, q).then(|| {
        lambda_error(
            404,
            "ResourceNotFoundException",
            &format!("Function not found: {}", qualified_arn(f, q)),
        )
    })
}

/// Lambda refuses to delete a version an alias names.
async fn aliased(dp: &DataPlane, function: &str, version: &str) -> Option<Response<Bytes>> {
    let aliases = dp
        .moto
        .lambda
        .list_aliases()
        .function_name(function)
        .send()
        .await
        .ok()?;
    let names: Vec<&str> = aliases
        .aliases()
        .iter()
        .filter(|a| a.function_version() == Some(version))
        .filter_map(|a| a.name())
        .collect();
    (!names.is_empty()).then(|| {
        lambda_error(
            409,
            "ResourceConflictException",
            &format!(
                "Unable to delete version because the following aliases reference it: {names:?}"
            ),
        )
    })
}

/// Deletes a version as Lambda does, without deleting it from moto: see the module's comment.
fn delete_version(v: &Versions, function: &str, version: &str) -> Response<Bytes> {
    if let Ok(mut d) = v.deleted.lock() {
        d.insert((function.to_string(), version.to_string()));
    }
    if let Ok(mut p) = v.policies.lock() {
        p.remove(&(function.to_string(), version.to_string()));
    }
    ok(204, Value::Null)
}

/// ListVersionsByFunction's answer without the versions deleted here.
fn without_deleted(v: &Versions, function: &str, answer: Response<Bytes>) -> Response<Bytes> {
    rewrite_json(&answer, |doc| {
        if let Some(list) = doc["Versions"].as_array_mut() {
            list.retain(|c| {
                !c["Version"]
                    .as_str()
                    .is_some_and(|n| v.is_deleted(function, n))
            });
        }
    })
    .0
}

/// Lambda refuses a policy call for a qualifier that names no version or alias.
async fn exists(dp: &DataPlane, function: &str, qualifier: &str) -> Result<(), Response<Bytes>> {
    let found = dp
        .moto
        .lambda
        .get_function()
        .function_name(function)
        .qualifier(qualifier)
        .send()
        .await;
    match found {
        Ok(_) => Ok(()),
        Err(_) => Err(lambda_error(
            404,
            "ResourceNotFoundException",
            &format!("Function not found: {}", qualified_arn(function, qualifier)),
        )),
    }
}

fn add(v: &Versions, function: &str, qualifier: &str, body: &Value) -> Response<Bytes> {
    let sid = body["StatementId"].as_str().unwrap_or_default().to_string();
    let Ok(mut policies) = v.policies.lock() else {
        return lambda_error(
            500,
            "ServiceException",
            "the data plane's policies are poisoned",
        );
    };
    let statements = policies
        .entry((function.to_string(), qualifier.to_string()))
        .or_default();
    if statements.iter().any(|s| s["Sid"] == json!(sid)) {
        return lambda_error(
            409,
            "ResourceConflictException",
            &format!(
                "The statement id ({sid}) provided already exists. Please provide a new \
                 statement id, or remove the existing statement."
            ),
        );
    }
    let statement = statement(body, &sid, &qualified_arn(function, qualifier));
    statements.push(statement.clone());
    ok(201, json!({"Statement": statement.to_string()}))
}

/// The statement Lambda writes for an AddPermission request.
fn statement(body: &Value, sid: &str, resource: &str) -> Value {
    let principal = body["Principal"].as_str().unwrap_or_default();
    let principal = match principal.ends_with(".amazonaws.com") {
        true => json!({"Service": principal}),
        false => json!({"AWS": principal}),
    };
    let mut condition = serde_json::Map::new();
    if let Some(arn) = body["SourceArn"].as_str() {
        condition.insert("ArnLike".into(), json!({"AWS:SourceArn": arn}));
    }
    if let Some(account) = body["SourceAccount"].as_str() {
        condition.insert("StringEquals".into(), json!({"AWS:SourceAccount": account}));
    }
    let mut s = json!({
        "Sid": sid,
        "Effect": "Allow",
        "Principal": principal,
        "Action": body["Action"],
        "Resource": resource,
    });
    if !condition.is_empty() {
        s["Condition"] = Value::Object(condition);
    }
    s
}

fn remove(v: &Versions, function: &str, qualifier: &str, sid: &str) -> Response<Bytes> {
    let Ok(mut policies) = v.policies.lock() else {
        return lambda_error(
            500,
            "ServiceException",
            "the data plane's policies are poisoned",
        );
    };
    let key = (function.to_string(), qualifier.to_string());
    let statements = policies.entry(key).or_default();
    let before = statements.len();
    statements.retain(|s| s["Sid"] != json!(sid));
    match statements.len() < before {
        true => ok(204, Value::Null),
        false => lambda_error(
            404,
            "ResourceNotFoundException",
            &format!("Statement {sid} is not found in resource policy."),
        ),
    }
}

fn ok(status: u16, body: Value) -> Response<Bytes> {
    let body = match body {
        Value::Null => Bytes::new(),
        doc => Bytes::from(doc.to_string()),
    };
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body)
        .unwrap_or_else(|_| Response::new(Bytes::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_is_written_as_lambda_writes_it() {
        let body = json!({"StatementId": "s", "Action": "lambda:InvokeFunction",
            "Principal": "apigateway.amazonaws.com", "SourceArn": "arn:aws:execute-api:r:a:x/*"});
        let s = statement(&body, "s", "arn:f:live");
        assert_eq!(
            s["Principal"],
            json!({"Service": "apigateway.amazonaws.com"})
        );
        assert_eq!(
            s["Condition"]["ArnLike"]["AWS:SourceArn"],
            "arn:aws:execute-api:r:a:x/*"
        );
        assert_eq!(s["Resource"], "arn:f:live");
    }

    #[test]
    fn policies_are_kept_per_qualifier_and_removed_by_sid() {
        let v = Versions::default();
        let body = json!({"StatementId": "s", "Action": "lambda:InvokeFunction",
            "Principal": "apigateway.amazonaws.com"});
        assert_eq!(add(&v, "f", "live", &body).status(), 201);
        assert_eq!(add(&v, "f", "live", &body).status(), 409);
        assert!(v.policy("f", "live").is_some());
        assert!(v.policy("f", "3").is_none());
        assert_eq!(remove(&v, "f", "3", "s").status(), 404);
        assert_eq!(remove(&v, "f", "live", "s").status(), 204);
        assert!(v.policy("f", "live").is_none());
    }

    #[test]
    fn a_stale_revision_is_refused() {
        let v = Versions::default();
        let latest = v.revision();
        if let Ok(mut r) = v.revisions.lock() {
            r.insert(("f".into(), "live".into()), latest.clone());
        }
        assert!(stale_revision(&v, "f", "live", &json!({"RevisionId": latest})).is_none());
        let refused = stale_revision(&v, "f", "live", &json!({"RevisionId": "old"}));
        assert_eq!(refused.map(|r| r.status().as_u16()), Some(412));
        assert!(stale_revision(&v, "f", "live", &json!({})).is_none());
    }
}
