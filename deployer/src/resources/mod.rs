//! One module per resource kind. Each has the same three parts:
//! - `observe` reads the live resource (or finds nothing), and sends no write;
//! - `plan` compares desired with observed, purely, into [`Change`](crate::plan::Change)s;
//! - `apply` carries those changes out.
//!
//! `delete` (for `down`) lives beside them.

pub mod api;
pub mod function;
pub mod logs;
pub mod permission;
pub mod role;
pub mod table;

use std::collections::BTreeMap;

use crate::aws::Clients;
use crate::names::Names;
use crate::progress::Progress;
use crate::wait::Waits;

/// What every `apply` and `delete` needs, in one place.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    pub clients: &'a Clients,
    pub names: &'a Names,
    pub progress: &'a Progress,
    pub waits: &'a Waits,
}

/// The tags of `desired` that the live resource lacks or holds with another value.
pub fn missing_tags(
    desired: &BTreeMap<String, String>,
    live: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    desired
        .iter()
        .filter(|(k, v)| live.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The live tags restricted to the keys the stack sets: the `actual` side of a tags change.
/// Tags someone else added are theirs, and left alone.
pub fn live_subset(
    desired: &BTreeMap<String, String>,
    live: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    live.iter()
        .filter(|(k, _)| desired.contains_key(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The field name of every tags change.
pub const TAGS: &str = "tags";

/// Adds a tags change when some desired tag is missing or different.
pub fn plan_tags(
    changes: &mut Vec<crate::plan::Change>,
    kind: crate::plan::Kind,
    name: &str,
    desired: &BTreeMap<String, String>,
    live: &BTreeMap<String, String>,
) {
    let actual = live_subset(desired, live);
    crate::plan::compare(changes, kind, name, TAGS, desired, &actual);
}
