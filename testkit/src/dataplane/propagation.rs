//! IAM applies a change of a role's permissions to the role's sessions only after a while (IAM
//! user guide, "Changes that I make are not always immediately visible"). For
//! [`crate::Realism::policy_propagation`] after PutRolePolicy, DeleteRolePolicy, AttachRolePolicy
//! or DetachRolePolicy, a function's own calls are authorized by its role's documents as they
//! were before the change.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::DataPlane;
use crate::realism::form_value;
use crate::wire::Exchange;

/// The calls that change what a role may do.
const CHANGES: [&str; 4] = [
    "PutRolePolicy",
    "DeleteRolePolicy",
    "AttachRolePolicy",
    "DetachRolePolicy",
];

/// A change of a role's permissions on its way: when it was made, how long it takes, and the
/// documents IAM applies meanwhile.
type Change = (Instant, Duration, Vec<Value>);

/// Role name → its change still propagating.
#[derive(Debug, Default)]
pub(super) struct Pending {
    by_role: Mutex<HashMap<String, Change>>,
}

/// The role whose permissions `ex` changes, if it is such a call.
pub(super) fn changed_role(ex: &Exchange<'_>) -> Option<String> {
    let op = ex.call.operation.as_str();
    if ex.call.service != "iam" || !CHANGES.contains(&op) {
        return None;
    }
    form_value(ex.body, "RoleName")
}

/// Remembers that `role`'s sessions get `documents` for `window` from now.
pub(super) fn record(dp: &DataPlane, role: String, window: Duration, documents: Vec<Value>) {
    if let Ok(mut pending) = dp.pending.by_role.lock() {
        pending.insert(role, (Instant::now(), window, documents));
    }
}

/// The documents IAM still applies to the sessions of `role_arn` (or a role's name) while a
/// change of its permissions propagates; `None` once it has.
pub(super) fn applied(dp: &DataPlane, role_arn: &str) -> Option<Vec<Value>> {
    let role = role_arn.rsplit('/').next().unwrap_or(role_arn);
    let pending = dp.pending.by_role.lock().ok()?;
    let (at, window, documents) = pending.get(role)?;
    (at.elapsed() < *window).then(|| documents.clone())
}
