//! A verb's session with AWS: the clients, the account STS names, and the stack's names and
//! ARNs in it, with the progress it reports on and the bounds of its waits.

use crate::arns::Arns;
use crate::aws::{Clients, Target};
use crate::names::Names;
use crate::progress::Progress;
use crate::stack::Stack;
use crate::wait::Waits;

/// Clients, the account, and every derived name and ARN: what a verb talking to AWS needs.
pub struct Session<'p> {
    pub clients: Clients,
    pub names: Names,
    pub arns: Arns,
    pub progress: &'p Progress,
    pub waits: Waits,
}

impl<'p> Session<'p> {
    /// Loads the configuration, checks the region, and asks STS for the account, from which
    /// every name and ARN of `stack` is derived.
    pub async fn open(
        target: &Target,
        stack: &Stack,
        progress: &'p Progress,
    ) -> anyhow::Result<Session<'p>> {
        let clients = Clients::load(target, stack.region.as_deref()).await?;
        Session::check_region(&clients)?;
        let account = clients.account().await?;
        let names = Names::derive(stack, &clients.region);
        Ok(Session::new(clients, names, &account, progress))
    }

    pub fn new(
        clients: Clients,
        names: Names,
        account: &str,
        progress: &'p Progress,
    ) -> Session<'p> {
        Session {
            arns: Arns::of(&names, account),
            clients,
            names,
            progress,
            waits: Waits::aws(),
        }
    }

    /// Refuses a region of an unsupported partition, or a name that is not a region.
    pub fn check_region(clients: &Clients) -> anyhow::Result<()> {
        crate::conventions::Partition::check(&clients.region)
            .map(|_| ())
            .map_err(|why| {
                anyhow::anyhow!("{why} (from --region, stack.yaml or the AWS configuration)")
            })
    }
}
