//! What differs between the stack and the live account.
//!
//! Each resource module's pure `plan` yields typed changes of its own (`TableChange::Pitr`,
//! `ApiChange::Route`…), and its `apply` consumes exactly those. Each typed change [`Describe`]s
//! itself as a generic [`Change`]; a [`Plan`] of those renders as text for people (`+` create,
//! `~` update, `-` delete) and serialises to the contract's JSON (`resource`, `action`, `field`,
//! `expected`, `actual`). Both verbs show the same
//! list, so what `diff` reports is exactly what `up` would change.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

pub use crate::kind::Kind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Delete,
}

/// One difference: for `Create` the whole resource, for `Update` one field (expected against
/// actual), for `Delete` something live that the stack does not want.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub resource: Kind,
    /// The resource's name (or id, for an API).
    pub name: String,
    pub action: Action,
    /// The field that differs; `None` when the change is about the whole resource.
    pub field: Option<String>,
    /// What the stack wants (`null` for a delete).
    pub expected: Value,
    /// What is live (`null` for a create).
    pub actual: Value,
    /// Why, when the change cannot be applied as planned (such as a key schema change).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked: Option<String>,
}

impl Change {
    pub fn create(resource: Kind, name: &str, expected: Value) -> Change {
        Change {
            resource,
            name: name.to_string(),
            action: Action::Create,
            field: None,
            expected,
            actual: Value::Null,
            blocked: None,
        }
    }

    pub fn update(
        resource: Kind,
        name: &str,
        field: &str,
        expected: Value,
        actual: Value,
    ) -> Change {
        Change {
            resource,
            name: name.to_string(),
            action: Action::Update,
            field: Some(field.to_string()),
            expected,
            actual,
            blocked: None,
        }
    }

    pub fn delete(resource: Kind, name: &str, field: Option<&str>, actual: Value) -> Change {
        Change {
            resource,
            name: name.to_string(),
            action: Action::Delete,
            field: field.map(str::to_string),
            expected: Value::Null,
            actual,
            blocked: None,
        }
    }

    /// Whether this change is about `field` (or the whole resource, for `None`).
    pub fn is(&self, field: &str) -> bool {
        self.field.as_deref() == Some(field)
    }
}

/// A field whose live value is not what the stack wants.
#[derive(Debug, Clone, PartialEq)]
pub struct Update<T> {
    pub want: T,
    pub live: T,
}

impl<T: Serialize> Update<T> {
    /// The generic change of `field` of resource `name`.
    pub fn change(&self, kind: Kind, name: &str, field: &str) -> Change {
        Change::update(kind, name, field, json_of(&self.want), json_of(&self.live))
    }
}

/// A value as the JSON of a change.
pub fn json_of<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Collects typed changes for the fields that differ, so that a plan reads as a list of
/// comparisons: `diff.field(&want.pitr, &live.pitr, TableChange::Pitr)`.
#[derive(Debug)]
pub struct Differ<C> {
    changes: Vec<C>,
}

impl<C> Default for Differ<C> {
    fn default() -> Self {
        Differ {
            changes: Vec::new(),
        }
    }
}

impl<C> Differ<C> {
    pub fn new() -> Differ<C> {
        Differ::default()
    }

    /// Adds `make(Update { want, live })` when `want` and `live` differ.
    pub fn field<T: PartialEq + Clone>(
        &mut self,
        want: &T,
        live: &T,
        make: impl FnOnce(Update<T>) -> C,
    ) -> &mut Self {
        if want != live {
            self.changes.push(make(Update {
                want: want.clone(),
                live: live.clone(),
            }));
        }
        self
    }

    /// Adds a change that is not a field comparison (a create, a delete).
    pub fn push(&mut self, change: C) -> &mut Self {
        self.changes.push(change);
        self
    }

    pub fn done(self) -> Vec<C> {
        self.changes
    }
}

/// A typed change, as the generic [`Change`] that `diff` prints and serialises. `name` is the
/// resource's name; a change about something else (a duplicate API, a stray statement) names
/// that instead.
pub trait Describe {
    fn describe(&self, name: &str) -> Change;

    /// Why `up` must refuse this change, if it must (a key schema cannot change in place).
    fn blocked(&self) -> Option<String> {
        None
    }
}

/// The changes of a resource named `name`, as `diff` shows them, with the reason of any
/// change that cannot be applied.
pub fn describe_all<C: Describe>(name: &str, changes: &[C]) -> Vec<Change> {
    changes
        .iter()
        .map(|c| {
            let mut change = c.describe(name);
            change.blocked = c.blocked();
            change
        })
        .collect()
}

/// Every change for the stack, in apply order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    pub changes: Vec<Change>,
}

impl Plan {
    pub fn new(mut changes: Vec<Change>) -> Plan {
        // Stable: keeps each module's own order within a resource.
        changes.sort_by_key(|c| c.resource);
        Plan { changes }
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn for_kind(&self, kind: Kind) -> Vec<Change> {
        self.changes
            .iter()
            .filter(|c| c.resource == kind)
            .cloned()
            .collect()
    }

    /// `kind name` of each resource with a change, once each, in apply order, for the kinds
    /// `wanted` accepts.
    pub fn resources(&self, wanted: impl Fn(Kind) -> bool) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in self.changes.iter().filter(|c| wanted(c.resource)) {
            let line = format!("{} {}", c.resource.as_str(), c.name);
            if !out.contains(&line) {
                out.push(line);
            }
        }
        out
    }

    fn count(&self, action: Action) -> usize {
        let mut seen: Vec<(Kind, &str)> = Vec::new();
        for c in self.changes.iter().filter(|c| c.action == action) {
            // Several field updates of one resource count once.
            let key = (c.resource, c.name.as_str());
            if action != Action::Update || !seen.contains(&key) {
                seen.push(key);
            }
        }
        seen.len()
    }

    /// "2 to create, 1 to update, 0 to delete"
    pub fn summary(&self) -> String {
        format!(
            "{} to create, {} to update, {} to delete",
            self.count(Action::Create),
            self.count(Action::Update),
            self.count(Action::Delete)
        )
    }
}

/// A value as a person reads it: strings bare, everything else as compact JSON.
pub fn show(value: &Value) -> String {
    match value {
        Value::Null => "(none)".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The leaves where two JSON values differ, as `(path, actual, expected)`, so that a policy
/// change reads `inline_policy.Counter.Resource: …/old → …/new` rather than as two documents.
/// Statements are matched by `Sid` when they have one.
pub fn leaf_changes(path: &str, actual: &Value, expected: &Value) -> Vec<(String, Value, Value)> {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            let mut keys: Vec<&String> = a.keys().chain(e.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter()
                .flat_map(|k| {
                    let child = format!("{path}.{k}");
                    let (av, ev) = (
                        a.get(k).unwrap_or(&Value::Null),
                        e.get(k).unwrap_or(&Value::Null),
                    );
                    leaf_changes(&child, av, ev)
                })
                .collect()
        }
        (Value::Array(a), Value::Array(e)) if by_sid(a).is_some() && by_sid(e).is_some() => {
            let (a, e) = (by_sid(a).unwrap_or_default(), by_sid(e).unwrap_or_default());
            let mut sids: Vec<&String> = a.keys().chain(e.keys()).collect();
            sids.sort();
            sids.dedup();
            sids.into_iter()
                .flat_map(|sid| {
                    let child = format!("{path}.{sid}");
                    let (av, ev) = (
                        a.get(sid).copied().unwrap_or(&Value::Null),
                        e.get(sid).copied().unwrap_or(&Value::Null),
                    );
                    leaf_changes(&child, av, ev)
                })
                .collect()
        }
        (a, e) if a == e => Vec::new(),
        (a, e) => vec![(path.to_string(), a.clone(), e.clone())],
    }
}

fn by_sid(list: &[Value]) -> Option<std::collections::BTreeMap<String, &Value>> {
    list.iter()
        .map(|v| {
            v.get("Sid")
                .and_then(Value::as_str)
                .map(|sid| (sid.to_string(), v))
        })
        .collect()
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.changes.is_empty() {
            return writeln!(f, "No changes: the live stack matches stack.yaml.");
        }
        let mut current: Option<(Kind, &str, Action)> = None;
        for c in &self.changes {
            let head = (c.resource, c.name.as_str(), c.action);
            let same_resource = current.is_some_and(|(k, n, _)| k == c.resource && n == c.name);
            match (c.action, &c.field) {
                (Action::Create, _) => {
                    writeln!(f, "  + {:<11} {}", c.resource.as_str(), c.name)?;
                }
                (Action::Update, Some(field)) => {
                    if !same_resource {
                        writeln!(f, "  ~ {:<11} {}", c.resource.as_str(), c.name)?;
                    }
                    for (path, actual, expected) in leaf_changes(field, &c.actual, &c.expected) {
                        writeln!(
                            f,
                            "      ~ {path}: {} → {} (live → stack)",
                            show(&actual),
                            show(&expected)
                        )?;
                    }
                }
                (Action::Delete, Some(field)) => {
                    if !same_resource {
                        writeln!(f, "  ~ {:<11} {}", c.resource.as_str(), c.name)?;
                    }
                    writeln!(
                        f,
                        "      - {field}: {} (not in stack.yaml)",
                        show(&c.actual)
                    )?;
                }
                (Action::Update | Action::Delete, None) => {
                    writeln!(
                        f,
                        "  - {:<11} {} ({})",
                        c.resource.as_str(),
                        c.name,
                        show(&c.actual)
                    )?;
                }
            }
            if let Some(why) = &c.blocked {
                writeln!(f, "      ! {why}")?;
            }
            current = Some(head);
        }
        writeln!(f, "Plan: {}.", self.summary())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_text_groups_field_changes_under_their_resource() {
        let plan = Plan::new(vec![
            Change::update(
                Kind::Function,
                "vc-prod",
                "memory_mb",
                json!(256),
                json!(128),
            ),
            Change::create(Kind::Table, "vc-prod", json!({})),
            Change::update(Kind::Function, "vc-prod", "timeout_s", json!(5), json!(3)),
            Change::delete(
                Kind::Role,
                "vc-prod-role",
                Some("managed_policy"),
                json!("arn:aws:iam::aws:policy/Admin"),
            ),
        ]);
        let text = plan.to_string();
        assert_eq!(
            text,
            "  + table       vc-prod\n\
             \x20 ~ role        vc-prod-role\n\
             \x20     - managed_policy: arn:aws:iam::aws:policy/Admin (not in stack.yaml)\n\
             \x20 ~ function    vc-prod\n\
             \x20     ~ memory_mb: 128 → 256 (live → stack)\n\
             \x20     ~ timeout_s: 3 → 5 (live → stack)\n\
             Plan: 1 to create, 1 to update, 1 to delete.\n"
        );
    }

    #[test]
    fn a_policy_change_shows_only_the_leaves_that_differ() {
        let old = json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "Counter", "Action": ["dynamodb:GetItem"], "Resource": "arn:table/old"},
            {"Sid": "Logs", "Action": ["logs:PutLogEvents"], "Resource": "arn:logs"}]});
        let new = json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "Logs", "Action": ["logs:PutLogEvents"], "Resource": "arn:logs"},
            {"Sid": "Counter", "Action": ["dynamodb:GetItem"], "Resource": "arn:table/new"}]});
        assert_eq!(
            leaf_changes("inline_policy", &old, &new),
            [(
                "inline_policy.Statement.Counter.Resource".to_string(),
                json!("arn:table/old"),
                json!("arn:table/new")
            )]
        );
        assert_eq!(leaf_changes("memory_mb", &json!(128), &json!(256)).len(), 1);
        assert!(leaf_changes("x", &json!({"a": 1}), &json!({"a": 1})).is_empty());
    }

    #[test]
    fn the_json_has_the_contract_keys() {
        let c = Change::update(Kind::Function, "f", "memory_mb", json!(256), json!(128));
        let v = serde_json::to_value(&c).unwrap_or_default();
        assert_eq!(
            v,
            json!({"resource": "function", "name": "f", "action": "update", "field": "memory_mb", "expected": 256, "actual": 128})
        );
    }
}
