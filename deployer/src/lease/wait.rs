//! Taking the lease: at once when it is free, after its holder is gone when it is stale, and
//! otherwise by waiting (the progress line says for whom and since when) up to the timeout.

use std::time::{Duration, Instant};

use super::{holder, read, stale, Held, Holder, Place, Seen, Terms};
use crate::interrupt;
use crate::progress::{Progress, Step};

/// What [`acquire`] came to.
pub enum Acquired {
    Held(Box<Held>),
    /// There is no table to hold a lease in (any more).
    NoTable,
}

/// Takes the lease for `verb`, starting from `first` (a read made by the caller), waiting while
/// a live deploy holds it, up to `terms.timeout`; then fails, naming the holder.
pub async fn acquire(
    place: &Place,
    first: Seen,
    verb: &str,
    terms: Terms,
    progress: &Progress,
) -> anyhow::Result<Acquired> {
    let started = Instant::now();
    let mut seen = first;
    let mut watch = Watch::default();
    let mut step: Option<Step> = None;
    loop {
        match &seen {
            Seen::NoTable => return Ok(Acquired::NoTable),
            Seen::Unusable(why) => anyhow::bail!("{why}"),
            Seen::Free { .. } | Seen::Held(_) => {}
        }
        if let Seen::Held(h) = &seen {
            match stale(h, holder::now(), watch.unchanged_for(h)) {
                Some(why) => progress.line(&format!("Taking over the deploy lease of {h}: {why}.")),
                None if started.elapsed() >= terms.timeout => {
                    anyhow::bail!(busy(h, terms.timeout))
                }
                None => {
                    let s =
                        step.get_or_insert_with(|| progress.step("waiting for the deploy lease"));
                    s.waiting(&format!("held by {h}"));
                    pause(terms.poll).await?;
                    seen = read(place).await?;
                    continue;
                }
            }
        }
        if let Some(held) = Held::take(place, &seen, verb, terms.ttl).await? {
            if let Some(s) = step {
                s.done("taken");
            }
            return Ok(Acquired::Held(Box::new(held)));
        }
        // Another deploy changed it between the read and the take: look again.
        seen = read(place).await?;
    }
}

/// "another deploy holds the stack: …", with what to do about it.
pub fn busy(h: &Holder, waited: Duration) -> String {
    format!(
        "another deploy holds the stack: {h}. Waited {} s for it; wait longer with \
         --lock-timeout, or, if that deploy is gone, run `deployer unlock` (it refuses while \
         the holder still renews the lease; --force overrides)",
        waited.as_secs()
    )
}

/// Sleeps for `poll`, in short slices, so that Ctrl-C ends a wait at once.
async fn pause(poll: Duration) -> anyhow::Result<()> {
    let until = Instant::now() + poll;
    while Instant::now() < until {
        if interrupt::requested() {
            return Err(anyhow::Error::new(interrupt::Stopped)
                .context("stopped while waiting for the deploy lease"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// The holder being waited for, and since when (on this machine's monotonic clock) its
/// renewal count has stood still.
#[derive(Default)]
struct Watch {
    seen: Option<(String, u64, Instant)>,
}

impl Watch {
    fn unchanged_for(&mut self, h: &Holder) -> Duration {
        match &self.seen {
            Some((token, renewals, since)) if *token == h.token && *renewals == h.renewals => {
                since.elapsed()
            }
            _ => {
                self.seen = Some((h.token.clone(), h.renewals, Instant::now()));
                Duration::ZERO
            }
        }
    }
}
