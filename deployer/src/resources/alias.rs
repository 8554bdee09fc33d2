//! The `live` alias: the version that takes traffic. API Gateway invokes the alias, never
//! `$LATEST`, so a change of code or configuration reaches visitors only through a release:
//! - `PublishVersion` makes the new version (after the function's own changes are applied);
//! - the probe invokes that version directly ([`crate::probe`]); a failure leaves the alias;
//! - `UpdateAlias` moves the alias with the `RevisionId` that was read, so two deploys cannot
//!   interleave a switch: the second fails with `PreconditionFailedException`, and says so;
//! - old versions are pruned: `function.keep_versions` of the newest, and never the live one or
//!   its predecessor.
//!
//! The history that makes "the version before" unambiguous lives in the alias's description
//! (`deployer: previous=3`), in AWS, so that `rollback` works from any machine.

use aws_sdk_lambda::operation::get_alias::GetAliasOutput;
use aws_sdk_lambda::types::FunctionConfiguration;
use serde_json::json;

use super::function;
use super::{Ctx, Needs, Removed, Resource};
use crate::aws::{Clients, Found};
use crate::names::Names;
use crate::plan::{Change, Describe, Kind};

mod release;

pub use release::{switch, wait_policy_in_force, Switch};

/// The field of a release: which version the alias names.
pub const VERSION: &str = "version";
/// The field of a prune: the old versions deleted.
pub const VERSIONS: &str = "versions";
/// The start of every description the deployer writes on the alias.
const HISTORY: &str = "deployer:";

#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub name: String,
    pub function: String,
    pub keep_versions: usize,
    /// What the live version must run: the function as the stack wants it.
    pub release: function::Desired,
}

impl Desired {
    pub fn of(names: &Names, keep_versions: u32, release: function::Desired) -> Desired {
        Desired {
            name: names.alias.clone(),
            function: names.function.clone(),
            keep_versions: usize::try_from(keep_versions).unwrap_or(usize::MAX),
            release,
        }
    }
}

/// What the alias's description remembers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// The version that served before the live one.
    pub previous: Option<String>,
    /// Whether the live version came from `rollback`.
    pub rolled_back: bool,
}

impl History {
    pub fn parse(description: &str) -> History {
        let Some(rest) = description.strip_prefix(HISTORY) else {
            return History::default();
        };
        let mut history = History::default();
        for word in rest.split_whitespace() {
            match word.split_once('=') {
                Some(("previous", v)) if !v.is_empty() => history.previous = Some(v.to_string()),
                _ if word == "rolled-back" => history.rolled_back = true,
                _ => {}
            }
        }
        history
    }

    pub fn describe(&self) -> String {
        let mut text = HISTORY.to_string();
        if let Some(previous) = &self.previous {
            text.push_str(&format!(" previous={previous}"));
        }
        if self.rolled_back {
            text.push_str(" rolled-back");
        }
        text
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// The version the alias names (`$LATEST` only if someone pointed it there).
    pub version: String,
    pub revision_id: String,
    pub history: History,
    /// The live version's configuration; `None` when it cannot be found.
    pub live: Option<function::Observed>,
    /// Every published version, oldest first.
    pub versions: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AliasChange {
    /// No alias yet: publish, probe, then create it.
    Create,
    /// The live version is not what the stack's code and configuration would publish: publish,
    /// probe, then move the alias from `live` (read at `revision_id`).
    Release {
        live: String,
        revision_id: String,
        /// Why: the fields that differ, or that the stage was rolled back.
        why: String,
    },
    /// Old versions beyond `keep_versions`, deleted after the release.
    Prune(Vec<u64>),
}

impl AliasChange {
    /// Whether it publishes a version of the function's code (and so waits for that code).
    pub fn releases(&self) -> bool {
        matches!(self, AliasChange::Create | AliasChange::Release { .. })
    }
}

impl Describe for AliasChange {
    fn describe(&self, name: &str) -> Change {
        let k = Kind::Alias;
        let new = "a new version of the stack's code and configuration, probed first";
        match self {
            AliasChange::Create => Change::create(k, name, json!({ VERSION: new })),
            AliasChange::Release { live, why, .. } => Change::update(
                k,
                name,
                VERSION,
                json!(new),
                json!(format!("version {live} ({why})")),
            ),
            AliasChange::Prune(versions) => {
                Change::delete(k, name, Some(VERSIONS), json!(versions))
            }
        }
    }
}

pub struct Alias;

impl Resource for Alias {
    const KIND: Kind = Kind::Alias;
    type Desired = Desired;
    type Observed = Observed;
    type Change = AliasChange;

    fn name(d: &Desired) -> &str {
        &d.name
    }

    async fn observe(
        clients: &Clients,
        names: &Names,
        _needs: Needs<'_>,
    ) -> anyhow::Result<Option<Observed>> {
        let function = &names.function;
        let (found, versions) =
            tokio::try_join!(read(clients, names), list_versions(clients, function))?;
        let Some(found) = found else {
            return Ok(None);
        };
        let version = found.function_version().unwrap_or_default().to_string();
        let live = version_configuration(clients, function, &version).await?;
        Ok(Some(Observed {
            history: History::parse(found.description().unwrap_or_default()),
            revision_id: found.revision_id().unwrap_or_default().to_string(),
            live: live.map(|c| function::observed(&c, Default::default())),
            version,
            versions,
        }))
    }

    fn plan(d: &Desired, o: Option<&Observed>, _needs: Needs<'_>) -> Vec<AliasChange> {
        let Some(o) = o else {
            return vec![AliasChange::Create];
        };
        let mut changes = Vec::new();
        if let Some(why) = stale(d, o) {
            changes.push(AliasChange::Release {
                live: o.version.clone(),
                revision_id: o.revision_id.clone(),
                why,
            });
        }
        let (keep, protected) = match changes.is_empty() {
            // The live version, and the one before it, stay.
            true => {
                let mut protected = vec![o.version.as_str()];
                protected.extend(o.history.previous.as_deref());
                (d.keep_versions, protected)
            }
            // After the release the live version becomes the one before, and the new version
            // takes one of the places kept.
            false => (d.keep_versions.saturating_sub(1), vec![o.version.as_str()]),
        };
        let old = prunable(&o.versions, keep, &protected);
        if !old.is_empty() {
            changes.push(AliasChange::Prune(old));
        }
        changes
    }

    async fn apply(
        ctx: Ctx<'_>,
        d: &Desired,
        changes: &[AliasChange],
        _needs: Needs<'_>,
    ) -> anyhow::Result<()> {
        release::apply(ctx, d, changes).await
    }

    /// The alias and the versions go with the function; `down` has nothing of its own to remove.
    async fn delete(_ctx: Ctx<'_>, _d: &Desired) -> anyhow::Result<Removed> {
        Ok(Removed::Absent)
    }
}

/// Why the live version is not the one the stack would publish, if it is not.
fn stale(d: &Desired, o: &Observed) -> Option<String> {
    if o.version == "$LATEST" {
        return Some("the alias names $LATEST, which no probe has checked".into());
    }
    let Some(live) = &o.live else {
        return Some("the version is gone".into());
    };
    let differs = function::differs(&d.release, live);
    match (differs.is_empty(), o.history.rolled_back) {
        (true, _) => None,
        (false, true) => Some(format!(
            "rolled back from version {}; `up` rolls forward",
            o.history.previous.as_deref().unwrap_or("?")
        )),
        (false, false) => Some(format!("differs in {}", differs.join(", "))),
    }
}

/// The published versions to delete: all but the newest `keep` and the `protected` ones.
pub fn prunable(versions: &[u64], keep: usize, protected: &[&str]) -> Vec<u64> {
    let mut sorted = versions.to_vec();
    sorted.sort_unstable();
    let newest = sorted.len().saturating_sub(keep);
    sorted[..newest]
        .iter()
        .copied()
        .filter(|v| !protected.contains(&v.to_string().as_str()))
        .collect()
}

/// The `live` alias as it is now, if there is one.
pub async fn read(clients: &Clients, names: &Names) -> anyhow::Result<Option<GetAliasOutput>> {
    let (function, alias) = (&names.function, &names.alias);
    clients
        .lambda
        .get_alias()
        .function_name(function)
        .name(alias)
        .send()
        .await
        .found(|| format!("reading alias {alias} of function {function}"))
}

/// The version the `live` alias names now, if there is one.
pub async fn live_version(clients: &Clients, names: &Names) -> anyhow::Result<Option<String>> {
    let found = read(clients, names).await?;
    Ok(found.and_then(|a| a.function_version().map(str::to_string)))
}

/// Every published version of `function` (not `$LATEST`), oldest first.
pub async fn list_versions(clients: &Clients, function: &str) -> anyhow::Result<Vec<u64>> {
    let pages = clients
        .lambda
        .list_versions_by_function()
        .function_name(function)
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>()
        .await;
    let mut versions = Vec::new();
    for page in pages {
        let Some(v) = page.found(|| format!("listing the versions of function {function}"))? else {
            return Ok(Vec::new());
        };
        versions.extend(v.version().and_then(|n| n.parse::<u64>().ok()));
    }
    versions.sort_unstable();
    Ok(versions)
}

/// The configuration of version `version` of `function`, if it exists.
pub async fn version_configuration(
    clients: &Clients,
    function: &str,
    version: &str,
) -> anyhow::Result<Option<FunctionConfiguration>> {
    let found = clients
        .lambda
        .get_function()
        .function_name(function)
        .qualifier(version)
        .send()
        .await
        .found(|| format!("reading version {version} of function {function}"))?;
    Ok(found.and_then(|f| f.configuration))
}

#[cfg(test)]
mod tests;
