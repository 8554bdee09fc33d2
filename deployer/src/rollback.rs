//! `rollback`: moves the `live` alias back to the version that served before it (as the alias's
//! description remembers it), or to the one named, after probing it: one write, `UpdateAlias`,
//! at the revision read. Nothing is rebuilt; the history is in AWS, so any machine can roll back.
//! The next `up` rolls forward (a rolled-back stage is drift).

use std::fmt::{self, Display};

use serde::Serialize;

use crate::probe;
use crate::resources::alias::{self, History, Switch};
use crate::session::Session;

/// What `rollback` did: `{"function", "alias", "from", "to", "counter_value"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RollbackReport {
    pub function: String,
    pub alias: String,
    pub from: String,
    pub to: String,
    /// The count the probe of `to` read.
    pub counter_value: u64,
}

impl Display for RollbackReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Rolled back: alias {} of function {} moved from version {} to version {} (probed: \
             the count reads {}).",
            self.alias, self.function, self.from, self.to, self.counter_value
        )?;
        writeln!(
            f,
            "`deployer diff` reports this as drift until `deployer up` rolls forward."
        )
    }
}

/// Moves the alias to `to`, or to the version before the live one.
pub async fn rollback(session: &Session<'_>, to: Option<&str>) -> anyhow::Result<RollbackReport> {
    let (clients, names) = (&session.clients, &session.names);
    let (function, alias) = (&names.function, &names.alias);
    let live = alias::read(clients, names).await?.ok_or_else(|| {
        anyhow::anyhow!(
            "function {function} has no `{alias}` alias, so there is nothing to roll back; \
                 `deployer up` creates it"
        )
    })?;
    let from = live.function_version().unwrap_or_default().to_string();
    let history = History::parse(live.description().unwrap_or_default());
    let target = target(to, &history, &from)?;
    if alias::version_configuration(clients, function, &target)
        .await?
        .is_none()
    {
        let versions = alias::list_versions(clients, function).await?;
        anyhow::bail!(
            "version {target} of function {function} does not exist (old versions are pruned \
             beyond function.keep_versions); its versions are: {versions:?}"
        );
    }
    let step = session
        .progress
        .step(format!("probing version {target} of function {function}"));
    let passed = probe::run(clients, function, &target).await.map_err(|e| {
        e.context(format!(
            "version {target} failed its probe, so the alias stays at version {from}"
        ))
    })?;
    step.done("");
    let step = session.progress.step(format!(
        "moving alias {alias} of function {function} from version {from} to {target}"
    ));
    let switch = Switch {
        version: &target,
        revision_id: live.revision_id().unwrap_or_default(),
        history: History {
            previous: Some(from.clone()),
            rolled_back: true,
        },
    };
    alias::switch(clients, function, alias, &switch).await?;
    step.done("");
    Ok(RollbackReport {
        function: function.clone(),
        alias: alias.clone(),
        from,
        to: target,
        counter_value: passed.counter_value,
    })
}

/// The version to move to: the one named, or the one the history remembers.
fn target(to: Option<&str>, history: &History, live: &str) -> anyhow::Result<String> {
    let target = match (to, &history.previous) {
        (Some(v), _) => v.to_string(),
        (None, Some(previous)) => previous.clone(),
        (None, None) => anyhow::bail!(
            "the alias does not say which version served before version {live} (only `up` \
             records it); pass --to VERSION"
        ),
    };
    if target.parse::<u64>().is_err() {
        anyhow::bail!("--to {target}: a version is a number, such as 3");
    }
    if target == live {
        anyhow::bail!("version {target} is already live; nothing to do");
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(previous: Option<&str>) -> History {
        History {
            previous: previous.map(str::to_string),
            rolled_back: false,
        }
    }

    #[test]
    fn the_target_is_the_named_version_or_the_one_before() {
        assert_eq!(
            target(None, &history(Some("3")), "4").ok(),
            Some("3".into())
        );
        assert_eq!(
            target(Some("2"), &history(Some("3")), "4").ok(),
            Some("2".into())
        );
    }

    #[test]
    fn no_history_a_bad_version_or_the_live_one_is_refused() {
        let e = target(None, &history(None), "4").unwrap_err().to_string();
        assert!(e.contains("pass --to VERSION"), "{e}");
        let e = target(Some("$LATEST"), &history(None), "4")
            .unwrap_err()
            .to_string();
        assert!(e.contains("a version is a number"), "{e}");
        let e = target(None, &history(Some("4")), "4")
            .unwrap_err()
            .to_string();
        assert!(e.contains("already live"), "{e}");
    }
}
