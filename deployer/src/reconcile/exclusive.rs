//! `up` under the deploy lease: the plan it applies is made from an observation that no other
//! deploy could change before `up` took the lease.
//!
//! `up` reads the lease before it observes (in the same wave as STS), and takes it only when
//! the plan has changes, so a no-op `up` writes nothing at all. The take is conditioned on the
//! generation that read saw: it succeeds only if no deploy took the lease in between, and then
//! the observation still holds. When the take fails, or the lease was held, `up` waits for the
//! lease, takes it, and observes again.
//!
//! From empty there is no table to hold a lease in: the table is made first
//! ([`table::make_home`]). The run whose CreateTable made it knows that no deploy held a lease
//! before it; any other run waits for the lease and observes again.

use crate::lease::{self, Acquired, Held, Place, Seen, Terms};
use crate::resources::table::{self, Home};
use crate::resources::{Ctx, Desired, Observed, Planned};
use crate::session::Session;

use super::{observe, plan, refusal};

/// What `up` applies, and the lease it holds while it does (none when there is nothing to do).
pub struct Exclusive {
    pub observed: Observed,
    pub planned: Planned,
    pub held: Option<Held>,
    /// Whether `up` waited for another deploy and observed again.
    pub waited: bool,
}

/// Takes the lease for the changes `observed` calls for (observed after `seen` was read), or
/// waits for it and observes again, until the plan is made under the lease or is empty.
pub async fn exclusive(
    session: &Session<'_>,
    d: &Desired,
    mut observed: Observed,
    mut seen: Seen,
    terms: Terms,
    adopt: bool,
) -> anyhow::Result<Exclusive> {
    let place = Place::of(&session.clients, &session.names);
    let mut waited = false;
    loop {
        let mut planned = plan(d, &observed);
        // Nothing to do, or a plan `up` refuses (before any write, the lease's included): a
        // change it cannot make, or resources that are not the stack's to take.
        let claims = observed.claims(d, &session.names);
        if planned.is_empty() || refusal(d, &claims, &planned, adopt).is_some() {
            return Ok(Exclusive {
                observed,
                planned,
                held: None,
                waited,
            });
        }
        if let Some(held) = take(session, d, &place, &seen, &mut planned, terms).await? {
            return Ok(Exclusive {
                observed,
                planned,
                held: Some(held),
                waited,
            });
        }
        // Another deploy is at work, or was since the observation: wait, then look again.
        waited = true;
        match wait(session, d, &place, terms).await? {
            Waited::Held(ex) => return Ok(*ex),
            Waited::NoTable(again) => (observed, seen) = (*again, Seen::NoTable),
        }
    }
}

/// Takes the lease as `seen` promises, without waiting; `None` when another deploy is (or was)
/// at work. From empty, makes the table first, and marks its creation done in `planned`.
async fn take(
    session: &Session<'_>,
    d: &Desired,
    place: &Place,
    seen: &Seen,
    planned: &mut Planned,
    terms: Terms,
) -> anyhow::Result<Option<Held>> {
    match seen {
        Seen::NoTable => match table::make_home(Ctx::of(session), &d.table).await? {
            Home::Made => {
                let never_taken = Seen::Free { generation: 0 };
                let held = Held::take(place, &never_taken, "up", terms.ttl).await?;
                if held.is_some() {
                    table::mark_made(&mut planned.table);
                }
                Ok(held)
            }
            Home::Found | Home::Gone => Ok(None),
        },
        Seen::Free { .. } => Held::take(place, seen, "up", terms.ttl).await,
        Seen::Held(_) => Ok(None),
        Seen::Unusable(why) => anyhow::bail!("{why}"),
    }
}

/// What waiting for the lease came to.
enum Waited {
    /// Taken, and the stack observed again under it.
    Held(Box<Exclusive>),
    /// The table went away meanwhile (a `down --delete-table`): what is live now.
    NoTable(Box<Observed>),
}

/// Waits for the lease, takes it, and observes again; releases it at once when there turns out
/// to be nothing to do (the other deploy did it).
async fn wait(
    session: &Session<'_>,
    d: &Desired,
    place: &Place,
    terms: Terms,
) -> anyhow::Result<Waited> {
    let first = lease::read(place).await?;
    let acquired = lease::acquire(place, first, "up", terms, session.progress).await?;
    let observing = observe(&session.clients, &session.names).await;
    let held = match acquired {
        Acquired::NoTable => return Ok(Waited::NoTable(Box::new(observing?))),
        Acquired::Held(held) => *held,
    };
    let observed = match observing {
        Ok(observed) => observed,
        Err(e) => {
            held.end(session.progress).await;
            return Err(e);
        }
    };
    let planned = plan(d, &observed);
    let held = match planned.is_empty() {
        true => {
            held.end(session.progress).await;
            None
        }
        false => Some(held),
    };
    Ok(Waited::Held(Box::new(Exclusive {
        observed,
        planned,
        held,
        waited: true,
    })))
}
