//! Taking over a stack built by hand: resources under the stack's names that carry no deployer
//! tags are the user's until `--adopt` says otherwise, and those tagged for another stack are
//! never taken.
//!
//! Adopting is tagging: every kind's plan already compares the stack's tags with the live ones,
//! so an adopted resource is reconciled like any other (its configuration, policy and code
//! replaced as the stack says), and from then on found as the stack's. What this module adds is
//! the decision, made before any write (the deploy lease's included), and what the user is shown:
//! which resources are taken, and the count the table holds before and after.

use serde::Serialize;

use crate::aws::Clients;
use crate::names::Names;
use crate::plan::Kind;
use crate::resources::table;
use crate::resources::tags::Owner;
use crate::resources::{Claim, Desired, Observed, Planned};

/// Why `up` must refuse the plan, before any write: a resource of another stack; one without
/// tags, unless `adopt`; or a change that cannot be made ([`Planned::blocked`]).
pub fn refusal(d: &Desired, claims: &[Claim], planned: &Planned, adopt: bool) -> Option<String> {
    let mut why = Vec::new();
    let others: Vec<String> = claims
        .iter()
        .filter(|c| matches!(c.owner, Owner::Other { .. }))
        .map(line)
        .collect();
    if !others.is_empty() {
        why.push(format!(
            "resources under this stack's names belong to another stack, and are never \
             taken:\n{}\n(give this stack another name, with name: or --stage, or remove them \
             with the other stack's `deployer down`)",
            others.join("\n")
        ));
    }
    let untagged: Vec<String> = claims
        .iter()
        .filter(|c| c.owner == Owner::Untagged)
        .map(line)
        .collect();
    if !untagged.is_empty() && !adopt {
        why.push(format!(
            "resources under this stack's names were not made by the deployer:\n{}\n(to take \
             them over as they are, the table with every item and its count, run `deployer up \
             --adopt`; `deployer diff --adopt` shows what that would change)",
            untagged.join("\n")
        ));
    }
    if let Some(b) = planned.blocked(d) {
        let (kind, name) = (b.kind.as_str(), &b.name);
        why.push(format!("{kind} {name} cannot be reconciled: {}.", b.why));
    }
    match why.is_empty() {
        true => None,
        false => Some(format!("{}\nNothing was changed.", why.join("\n"))),
    }
}

/// What `up` makes of a plan before any write, and `diff` previews: why it is refused, if it
/// is, and otherwise what `--adopt` takes over (with the count read now).
#[derive(Debug)]
pub struct Verdict {
    pub refused: Option<String>,
    pub adoption: Option<Adoption>,
}

pub async fn verdict(
    clients: &Clients,
    names: &Names,
    (d, o, planned): (&Desired, &Observed, &Planned),
    adopt: bool,
) -> anyhow::Result<Verdict> {
    let claims = o.claims(d, names);
    let refused = refusal(d, &claims, planned, adopt);
    let adoption = match (adopt, &refused) {
        (true, None) => Adoption::of(clients, names, &claims).await?,
        _ => None,
    };
    Ok(Verdict { refused, adoption })
}

/// Before a table is refused as untagged: one made moments ago may not list its tags yet (a
/// run killed right after CreateTable), so its tags are read again for a while
/// ([`table::settle_new`]). With `--adopt` nothing is refused, and nothing waits.
pub async fn settle(clients: &Clients, names: &Names, o: &mut Observed) -> anyhow::Result<()> {
    match o.table.as_mut() {
        Some(live) => table::settle_new(clients, &names.table, live).await,
        None => Ok(()),
    }
}

fn line(c: &Claim) -> String {
    format!("  {} {} {}", c.kind.as_str(), c.name, c.owner)
}

/// What adopting takes over, for the report: each resource, and the counter item's count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Adoption {
    /// `kind name` of each resource taken over.
    pub adopted: Vec<String>,
    /// The counter item's count as read before adopting (`None`: no item yet).
    pub count_before: Option<u64>,
    /// Read again once `up` is done; `None` for `diff`, or when there is no item.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count_after: Option<u64>,
}

impl Adoption {
    /// The untagged resources of `claims`, with the count read now when the table is one of
    /// them (a table of the stack's own holds no count worth showing here). `None` when
    /// nothing is to be adopted.
    pub async fn of(
        clients: &Clients,
        names: &Names,
        claims: &[Claim],
    ) -> anyhow::Result<Option<Adoption>> {
        let untagged: Vec<&Claim> = claims
            .iter()
            .filter(|c| c.owner == Owner::Untagged)
            .collect();
        if untagged.is_empty() {
            return Ok(None);
        }
        let count_before = match untagged.iter().any(|c| c.kind == Kind::Table) {
            true => table::count(clients, names).await?,
            false => None,
        };
        Ok(Some(Adoption {
            adopted: untagged
                .iter()
                .map(|c| format!("{} {}", c.kind.as_str(), c.name))
                .collect(),
            count_before,
            count_after: None,
        }))
    }
}

impl Adoption {
    /// Reads the count again once `up` is done, when there was one before.
    pub async fn read_after(&mut self, clients: &Clients, names: &Names) -> anyhow::Result<()> {
        if self.count_before.is_some() {
            self.count_after = table::count(clients, names).await?;
        }
        Ok(())
    }
}

impl std::fmt::Display for Adoption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "Adopting (made without the deployer):")?;
        for a in &self.adopted {
            writeln!(f, "  {a}")?;
        }
        match (self.count_before, self.count_after) {
            (Some(before), Some(after)) => {
                writeln!(f, "Count: {before} before adopting, {after} after.")
            }
            (Some(before), None) => writeln!(f, "Count: {before}, kept."),
            (None, _) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stack `vc` wanted, and planned against nothing live.
    fn planned() -> (Desired, Planned) {
        let path = std::path::Path::new("stack.yaml");
        let stack = crate::stack::parse("name: vc\n", path).unwrap_or_else(|e| panic!("{e}"));
        let names = Names::derive(&stack, "us-east-1");
        let arns = crate::arns::Arns::of(&names, "123456789012");
        let code = crate::resources::function::Code {
            sha256: "abc=".into(),
            zip: std::sync::Arc::new(Vec::new()),
        };
        let d = crate::reconcile::desired(&stack, &names, &arns, code);
        let nothing = Observed {
            table: None,
            log_group: None,
            role: None,
            function: None,
            alias: None,
            api: None,
            permission: None,
            stage: None,
            alerts: None,
        };
        let planned = crate::reconcile::plan(&d, &nothing);
        (d, planned)
    }

    fn claim(kind: Kind, owner: Owner) -> Claim {
        Claim {
            kind,
            name: "vc-prod".into(),
            owner,
        }
    }

    #[test]
    fn untagged_resources_are_refused_without_adopt_and_named_each() {
        let (d, planned) = planned();
        let claims = [
            claim(Kind::Table, Owner::Untagged),
            claim(Kind::Role, Owner::Untagged),
        ];
        let why = refusal(&d, &claims, &planned, false).unwrap();
        assert!(
            why.contains("  table vc-prod carries no deployer:stack tag"),
            "{why}"
        );
        assert!(why.contains("  role vc-prod carries no"), "{why}");
        assert!(why.contains("deployer up --adopt"), "{why}");
        assert_eq!(refusal(&d, &claims, &planned, true), None);
        assert_eq!(refusal(&d, &[], &planned, false), None);
    }

    #[test]
    fn another_stacks_resources_are_refused_even_with_adopt() {
        let (d, planned) = planned();
        let other = Owner::Other {
            stack: "blog".into(),
            stage: "prod".into(),
        };
        let claims = [
            claim(Kind::Table, Owner::Untagged),
            claim(Kind::Function, other),
        ];
        let why = refusal(&d, &claims, &planned, true).unwrap();
        assert!(
            why.contains("function vc-prod is tagged deployer:stack=blog, deployer:stage=prod"),
            "{why}"
        );
        assert!(why.contains("never taken"), "{why}");
        // The untagged table is adopted; only the other stack's function is refused.
        assert!(!why.contains("table vc-prod"), "{why}");
    }
}
