//! One writer at a time: the deploy lease. `up`, `down` and `rollback` hold it while they write;
//! the read-only verbs never take it and never wait for it.
//!
//! The lease is one item of the stack's own table (key [`crate::names::Names::lease`]), written
//! only with conditional `UpdateItem`s, so two deploys can never both hold it:
//! - **take**: on the generation seen free (`generation = g` and no holder; or no item at all),
//!   or on a stale holder exactly as seen (its token and its renewal count): the new holder
//!   names who, host, verb, since and expiry, and the generation goes up by one;
//! - **renew**: every quarter of the lease's time to live, on the holder's token;
//! - **release**: removes the holder (the generation stays), on the holder's token.
//!
//! A holder is stale when its expiry has passed, when its renewal count has stood still for a
//! whole time to live on the waiter's own clock (whatever the clocks of the two machines say),
//! or when it ran on this machine and its process is gone ([`holder::Process`]). A SIGKILLed
//! deploy therefore blocks the stack for at most the time to live.
//!
//! The generation is what lets `up` observe before it takes the lease (so that a no-op `up`
//! writes nothing): a take conditioned on the generation read before the observation succeeds
//! only if no deploy took the lease in between, so the observation still holds.
//!
//! Before the table exists there is nowhere to hold a lease: the table is made first, and
//! CreateTable is its own arbiter ([`crate::resources::table::make_home`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_types::error::metadata::ProvideErrorMetadata as _;

use crate::aws::{describe, is_not_found};
use crate::names::Names;

pub mod holder;
mod item;
mod wait;

use item::*;

pub use crate::interrupt::LeaseLost as Lost;
pub use holder::{Holder, Process};
pub use wait::{acquire, Acquired};

/// How long a lease lives without renewal. A killed deploy on another machine blocks the stack
/// this long at most; a live one renews it four times as often.
pub const TTL: Duration = Duration::from_secs(60);

/// How long a writer waits for the lease by default (`--lock-timeout`).
pub const DEFAULT_TIMEOUT: &str = "5m";

/// What a read of the lease found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// The table does not exist (or is not ACTIVE yet): there is nowhere to hold a lease.
    NoTable,
    /// No deploy holds it; `generation` counts the takes so far (0: never taken).
    Free {
        generation: u64,
    },
    Held(Holder),
    /// The table cannot hold it: its key is not the stack's (why, in words). The plan of such
    /// a table is refused before any lease is needed.
    Unusable(String),
}

/// The terms of a take: the time to live, how long to wait, how often to look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terms {
    pub ttl: Duration,
    pub timeout: Duration,
    pub poll: Duration,
}

impl Terms {
    pub fn waiting(timeout: Duration) -> Terms {
        Terms {
            ttl: TTL,
            timeout,
            poll: Duration::from_secs(1),
        }
    }
}

/// Where the lease lives: the client, the table and the item's key.
#[derive(Debug, Clone)]
pub struct Place {
    pub client: aws_sdk_dynamodb::Client,
    pub table: String,
    /// The table's partition key attribute.
    pub attribute: String,
    /// The lease item's key value.
    pub key: String,
}

impl Place {
    pub fn of(clients: &crate::aws::Clients, names: &Names) -> Place {
        Place {
            client: clients.lease.clone(),
            table: names.table.clone(),
            attribute: names.key.clone(),
            key: names.lease.clone(),
        }
    }

    fn item_key(&self) -> HashMap<String, AttributeValue> {
        HashMap::from([(self.attribute.clone(), s(&self.key))])
    }
}

/// Reads the lease, consistently (an eventually consistent read could show a released lease
/// as held, or worse, a taken one as free).
pub async fn read(place: &Place) -> anyhow::Result<Seen> {
    let got = place
        .client
        .get_item()
        .table_name(&place.table)
        .set_key(Some(place.item_key()))
        .consistent_read(true)
        .send()
        .await;
    match got {
        Ok(out) => Ok(seen(out.item())),
        Err(e) if is_not_found(&e) => Ok(Seen::NoTable),
        Err(e) if e.code() == Some("ValidationException") => Ok(Seen::Unusable(format!(
            "table {} cannot hold the deploy lease: {}",
            place.table,
            describe(&e)
        ))),
        Err(e) => Err(anyhow::anyhow!(
            "reading the deploy lease in table {}: {}",
            place.table,
            describe(&e)
        )),
    }
}

/// What an item says: no item or no holder is free; a holder is parsed whole.
pub fn seen(item: Option<&HashMap<String, AttributeValue>>) -> Seen {
    let Some(item) = item else {
        return Seen::Free { generation: 0 };
    };
    let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    let num = |k: &str| item.get(k).and_then(|v| v.as_n().ok()?.parse::<i64>().ok());
    let count = |k: &str| num(k).and_then(|v| u64::try_from(v).ok());
    let generation = count(GENERATION).unwrap_or(0);
    let Some(token) = text(TOKEN) else {
        return Seen::Free { generation };
    };
    let process = match (text(MACHINE), count(PID), count(STARTED)) {
        (Some(machine), Some(pid), Some(started)) => Some(Process {
            machine,
            pid: u32::try_from(pid).unwrap_or(0),
            started,
        }),
        _ => None,
    };
    Seen::Held(Holder {
        token,
        who: text(WHO).unwrap_or_default(),
        host: text(HOST).unwrap_or_default(),
        verb: text(VERB).unwrap_or_default(),
        since: num(SINCE).unwrap_or(0),
        expires: num(EXPIRES).unwrap_or(0),
        ttl_s: count(TTL_S).unwrap_or(TTL.as_secs()),
        renewals: count(RENEWALS).unwrap_or(0),
        generation,
        process,
        ci: text(CI),
    })
}

/// Whether a waiter may take a held lease: `Some(why)` when its holder is gone.
/// `unchanged_for` is how long the waiter has seen this very renewal of it.
pub fn stale(h: &Holder, now: i64, unchanged_for: Duration) -> Option<String> {
    if h.process.as_ref().and_then(Process::alive) == Some(false) {
        let pid = h.process.as_ref().map_or(0, |p| p.pid);
        return Some(format!("its process {pid} on this machine has ended"));
    }
    if now > h.expires {
        return Some(format!("it expired at {}", holder::time(h.expires)));
    }
    (unchanged_for.as_secs() >= h.ttl_s).then(|| {
        format!(
            "it has not been renewed for {} s, its whole time to live",
            h.ttl_s
        )
    })
}

/// Takes the lease as `seen` (free, or held by a stale holder); `Ok(None)` when another deploy
/// changed it first.
pub async fn take(place: &Place, seen: &Seen, me: &Holder) -> anyhow::Result<Option<Holder>> {
    let mut update = Update::default();
    let condition = match seen {
        Seen::NoTable => anyhow::bail!("no table {} holds a deploy lease", place.table),
        Seen::Unusable(why) => anyhow::bail!("{why}"),
        Seen::Free { generation: 0 } => {
            "attribute_not_exists(#id) OR (attribute_not_exists(#holder_token) AND attribute_not_exists(#generation))".to_string()
        }
        Seen::Free { generation } => {
            update.value(":seen_generation", n(generation));
            "#generation = :seen_generation AND attribute_not_exists(#holder_token)".to_string()
        }
        Seen::Held(h) => {
            update.value(":seen_token", s(&h.token));
            update.value(":seen_renewals", n(h.renewals));
            "#holder_token = :seen_token AND #renewals = :seen_renewals".to_string()
        }
    };
    let mut me = me.clone();
    me.generation = match seen {
        Seen::Held(h) => h.generation + 1,
        Seen::Free { generation } => generation + 1,
        Seen::NoTable | Seen::Unusable(_) => 1,
    };
    update.name("#id", &place.attribute);
    update.holder(&me);
    let sent = update.send(place, &condition).await;
    if conditional(sent, place, "taking the deploy lease")? {
        return Ok(Some(me));
    }
    // Refused: another deploy was first, or this very take went through and its answer was
    // lost, and the SDK's retry then found the lease taken (by us). Only a read tells.
    Ok(match read(place).await? {
        Seen::Held(h) if h.token == me.token => Some(h),
        _ => None,
    })
}

/// Renews `mine`; `Ok(false)` when it is no longer ours.
pub async fn renew(place: &Place, mine: &Holder, expires: i64) -> anyhow::Result<bool> {
    let mut update = Update::default();
    update.set(EXPIRES, n(expires));
    update.add(RENEWALS, n(1));
    update.value(":mine", s(&mine.token));
    let sent = update.send(place, "#holder_token = :mine").await;
    conditional(sent, place, "renewing the deploy lease")
}

/// Removes the holder `token`; `Ok(false)` when it was not the holder any more. A table that is
/// gone (`down --delete-table`) took the lease with it.
pub async fn release(place: &Place, token: &str) -> anyhow::Result<bool> {
    let mut update = Update::default();
    for attribute in HOLDER {
        update.remove(attribute);
    }
    update.value(":mine", s(token));
    let sent = update.send(place, "#holder_token = :mine").await;
    match sent {
        Err(e) if is_not_found(&e) => Ok(true),
        sent => conditional(sent, place, "releasing the deploy lease"),
    }
}

type Sent = Result<
    aws_sdk_dynamodb::operation::update_item::UpdateItemOutput,
    aws_sdk_dynamodb::error::SdkError<aws_sdk_dynamodb::operation::update_item::UpdateItemError>,
>;

/// A conditional write's outcome: `false` when its condition did not hold.
fn conditional(sent: Sent, place: &Place, doing: &str) -> anyhow::Result<bool> {
    match sent {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(anyhow::anyhow!(
            "{doing} in table {}: {}",
            place.table,
            describe(&e)
        )),
    }
}

/// `Some` once this process's lease was lost (see [`crate::interrupt::lose_lease`]).
pub fn lost() -> Option<Lost> {
    crate::interrupt::lease_lost()
}

/// A lease this process holds, renewed in the background until [`Held::release`].
pub struct Held {
    pub place: Place,
    pub holder: Holder,
    renewing: tokio::task::JoinHandle<()>,
    released: Arc<AtomicBool>,
}

impl Held {
    /// Takes the lease as `seen` for `verb` (see [`take`]) and starts renewing it; `None` when
    /// another deploy changed it first.
    pub async fn take(
        place: &Place,
        seen: &Seen,
        verb: &str,
        ttl: Duration,
    ) -> anyhow::Result<Option<Held>> {
        let me = Holder::me(verb, ttl.as_secs(), 0);
        Ok(take(place, seen, &me)
            .await?
            .map(|mine| Held::start(place.clone(), mine)))
    }

    fn start(place: Place, holder: Holder) -> Held {
        let released = Arc::new(AtomicBool::new(false));
        let renewing = tokio::spawn(renewals(
            place.clone(),
            holder.clone(),
            Arc::clone(&released),
        ));
        Held {
            place,
            holder,
            renewing,
            released,
        }
    }

    /// [`Held::release`], saying a failure as a warning on `progress`: the one way a verb
    /// lets go of its lease.
    pub async fn end(self, progress: &crate::progress::Progress) {
        if let Some(warning) = self.release().await {
            progress.line(&format!("warning: {warning}"));
        }
    }

    /// The table that held the lease was deleted, and the lease with it: stops renewing, and
    /// writes nothing (an `UpdateItem` on a deleted table fails with ResourceNotFoundException).
    pub fn gone_with_table(self) {
        self.released.store(true, Ordering::SeqCst);
        self.renewing.abort();
    }

    /// Stops renewing and releases the lease. A failure is said, not raised: the lease then
    /// expires by itself within its time to live, and `deployer unlock` clears it at once.
    pub async fn release(self) -> Option<String> {
        self.released.store(true, Ordering::SeqCst);
        self.renewing.abort();
        match release(&self.place, &self.holder.token).await {
            Ok(_) => None,
            Err(e) => Some(format!(
                "{e:#}; the lease expires by itself at the latest at {} (`deployer unlock` \
                 clears it now)",
                holder::time(holder::now() + i64::try_from(self.holder.ttl_s).unwrap_or(60))
            )),
        }
    }
}

impl Drop for Held {
    /// A lease dropped unreleased (a failure on the way) stops being renewed, and so expires.
    fn drop(&mut self) {
        self.renewing.abort();
    }
}

async fn renewals(place: Place, mine: Holder, released: Arc<AtomicBool>) {
    let every = Duration::from_secs(mine.ttl_s.max(4) / 4);
    loop {
        tokio::time::sleep(every).await;
        if released.load(Ordering::SeqCst) {
            return;
        }
        let expires = holder::now() + i64::try_from(mine.ttl_s).unwrap_or(60);
        // A failed renewal is tried again at the next turn; only "not ours" ends it.
        if let Ok(false) = renew(&place, &mine, expires).await {
            crate::interrupt::lose_lease();
            return;
        }
    }
}

#[cfg(test)]
mod tests;
