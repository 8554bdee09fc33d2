//! Bounded waits and retries for AWS's eventual consistency. Every wait has a limit, reports
//! progress, and on timeout says what it was waiting for.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::progress::Step;

/// How long to keep trying, and how often: a wait checks again after a tenth of the time it has
/// waited so far, never sooner than `first` and never later than `interval`. So a wait that is
/// over in a moment costs a moment, and one that AWS makes long overshoots its end by at most a
/// tenth (a check every 2 s of a 20 s wait), for a few more requests than doubling pauses make.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub timeout: Duration,
    pub interval: Duration,
    /// The shortest pause: [`FIRST_POLL`] for a read; longer for an attempt that uploads the
    /// function's code.
    pub first: Duration,
}

impl Bound {
    /// A bound whose pauses start at [`FIRST_POLL`].
    pub const fn new(timeout: Duration, interval: Duration) -> Bound {
        Bound {
            timeout,
            interval,
            first: FIRST_POLL,
        }
    }
}

/// The shortest pause of a wait that only reads.
pub const FIRST_POLL: Duration = Duration::from_millis(100);

/// How much of the time waited so far the next pause is.
const PAUSE_FRACTION: u32 = 10;

/// The pauses of one wait, from when it started.
#[derive(Debug, Clone, Copy)]
struct Backoff {
    started: Instant,
    bound: Bound,
}

impl Backoff {
    fn of(bound: Bound) -> Backoff {
        Backoff {
            started: Instant::now(),
            bound,
        }
    }

    /// What is left of the next pause once the attempt sent at `sent` has been answered: the
    /// pauses are counted from one attempt's start to the next's, so that a slow answer is not
    /// a pause of its own.
    fn pause_since(&self, sent: Instant) -> Duration {
        pause_after(self.started.elapsed(), self.bound).saturating_sub(sent.elapsed())
    }
}

/// The pause after `waited`: a tenth of it, within the bound's first pause and interval.
fn pause_after(waited: Duration, bound: Bound) -> Duration {
    (waited / PAUSE_FRACTION)
        .max(bound.first)
        .min(bound.interval)
}

/// The bounds of every wait the deployer makes; tests shorten them.
#[derive(Debug, Clone, Copy)]
pub struct Waits {
    /// A new role cannot be assumed by Lambda for ~10 s (IAM is eventually consistent).
    pub role_propagation: Bound,
    /// A function is `Pending` after create and `InProgress` after each update.
    pub function_ready: Bound,
    /// A new table is `CREATING` for a few seconds.
    pub table_active: Bound,
    /// How long a non-idempotent create keeps trying (see [`create_once`]).
    pub create: Bound,
    /// A new table refuses point-in-time recovery for a while ("Backups are being enabled"),
    /// then reports `ENABLING` before `ENABLED`.
    pub pitr: Bound,
    /// New tags show in DynamoDB's ListTagsOfResource, and a new REST API in GetRestApis, only
    /// after a few seconds: both reads are eventually consistent.
    pub visible: Bound,
    /// API Gateway's per-account quotas: DeleteRestApi once per 30 s, CreateRestApi once per
    /// 3 s. A 429 says how long to wait (`Retry-After`); this bounds the whole wait.
    pub api_quota: Bound,
    /// A change of a role's permissions reaches the function's own calls after a few seconds:
    /// a probe right after it may still be denied.
    pub policy_propagation: Bound,
}

impl Waits {
    /// What real AWS needs, with room to spare.
    pub fn aws() -> Waits {
        let secs = Duration::from_secs;
        Waits {
            // Each attempt uploads the function's code: at most two a second.
            role_propagation: Bound {
                first: Duration::from_millis(500),
                ..Bound::new(secs(90), secs(2))
            },
            function_ready: Bound::new(secs(300), secs(1)),
            table_active: Bound::new(secs(300), secs(1)),
            create: Bound::new(secs(60), secs(2)),
            // terraform-provider-aws allows 20 minutes; minutes are typical.
            pitr: Bound::new(secs(600), secs(5)),
            visible: Bound::new(secs(60), secs(1)),
            // Two duplicate APIs to delete cost one 30 s wait; a few more, a few more.
            api_quota: Bound::new(secs(300), secs(30)),
            // IAM gives no figure; seconds are typical, so half a minute is room to spare.
            policy_propagation: Bound::new(secs(30), secs(2)),
        }
    }

    /// Millisecond waits, for tests against mocks and the emulator.
    pub fn fast() -> Waits {
        let fast = Bound::new(Duration::from_millis(500), Duration::from_millis(10));
        Waits {
            role_propagation: fast,
            function_ready: fast,
            table_active: fast,
            create: fast,
            pitr: fast,
            visible: fast,
            api_quota: fast,
            policy_propagation: fast,
        }
    }
}

/// Polls `check` until it yields `Some`, or fails after `bound.timeout` saying `what` it waited for.
pub async fn until<T, F, Fut>(
    what: &str,
    bound: Bound,
    step: &Step,
    mut check: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let started = Instant::now();
    let backoff = Backoff::of(bound);
    let mut tries = 0u32;
    loop {
        let sent = Instant::now();
        if let Some(value) = check().await? {
            return Ok(value);
        }
        tries += 1;
        if started.elapsed() >= bound.timeout {
            anyhow::bail!(
                "timed out after {:.0?} waiting for {what} ({tries} checks); \
                 nothing is lost: run the command again to carry on",
                bound.timeout
            );
        }
        step.waiting(&format!(
            "waiting for {what} ({:.1} s so far, at most {:.0?})",
            started.elapsed().as_secs_f64(),
            bound.timeout
        ));
        tokio::time::sleep(backoff.pause_since(sent)).await;
    }
}

/// How a create that AWS does not make idempotent failed.
pub enum CreateError {
    /// It may have been applied (the answer was lost, timed out, or was a 5xx or throttling).
    Ambiguous(anyhow::Error),
    /// It was refused for now by a quota, and AWS said when to try again (`Retry-After`): it
    /// was not applied.
    Later(anyhow::Error, Duration),
    /// It was refused; trying again would not help.
    Refused(anyhow::Error),
}

impl CreateError {
    /// Classifies a failed create: ambiguous when it may still have been applied.
    pub fn of<E>(what: &str, error: SdkError<E, HttpResponse>) -> CreateError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let ambiguous = crate::aws::error::ambiguous(&error);
        let error = anyhow::anyhow!("{what}: {}", crate::aws::error::describe(&error));
        if ambiguous {
            CreateError::Ambiguous(error)
        } else {
            CreateError::Refused(error)
        }
    }
}

/// Makes a create without ever making it twice, and without failing on its own lost answer.
/// The SDK's own retries must be off for `send`: a blind retry after a lost answer makes a
/// second REST API or a second permission statement, and fails CreateRole, CreateTable or
/// CreateStage with "already exists" although the first attempt succeeded. Instead, after an
/// ambiguous failure, `look` checks whether the thing now exists, and only if it does not is
/// `send` tried again, within `bound`.
pub async fn create_once<T, S, SF, L, LF>(
    what: &str,
    bound: Bound,
    step: &Step,
    send: S,
    look: L,
) -> anyhow::Result<T>
where
    S: Fn() -> SF,
    SF: Future<Output = Result<T, CreateError>>,
    L: Fn() -> LF,
    LF: Future<Output = anyhow::Result<Option<T>>>,
{
    // Set by an ambiguous failure: from then on, every attempt looks before it sends.
    let unsure = AtomicBool::new(false);
    let (send, look, unsure) = (&send, &look, &unsure);
    retry(bound, step, move || async move {
        if unsure.load(Ordering::Relaxed) {
            // A failed look proves nothing either way; the send below may then be refused.
            if let Ok(Some(value)) = look().await {
                return Attempt::Done(value);
            }
        }
        match send().await {
            Ok(value) => Attempt::Done(value),
            Err(CreateError::Refused(e)) => Attempt::Failed(e),
            Err(CreateError::Later(e, wait)) => {
                Attempt::After(e, format!("{what}: over AWS's request quota"), wait)
            }
            Err(CreateError::Ambiguous(e)) => {
                unsure.store(true, Ordering::Relaxed);
                Attempt::Again(e, format!("{what} failed, and may have been made"))
            }
        }
    })
    .await
}

/// What an attempt of [`retry`] came to.
pub enum Attempt<T, E> {
    Done(T),
    /// Worth another try after the next backoff pause (with the reason shown as progress).
    Again(E, String),
    /// Worth another try after this long, as AWS said (`Retry-After`), with the reason.
    After(E, String, Duration),
    Failed(E),
}

/// Runs `attempt` until it is done or fails for good, retrying for at most `bound.timeout`.
/// Returns the last error when the bound runs out.
pub async fn retry<T, E, F, Fut>(bound: Bound, step: &Step, mut attempt: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Attempt<T, E>>,
{
    let started = Instant::now();
    let backoff = Backoff::of(bound);
    let mut tries = 1u32;
    loop {
        let sent = Instant::now();
        let (error, why, pause) = match attempt().await {
            Attempt::Done(value) => return Ok(value),
            Attempt::Failed(error) => return Err(error),
            Attempt::Again(error, why) => (error, why, backoff.pause_since(sent)),
            Attempt::After(error, why, pause) => (error, why, pause),
        };
        if crate::interrupt::requested() || started.elapsed() + pause > bound.timeout {
            return Err(error);
        }
        step.waiting(&format!(
            "{why}; try {} in {:.1} s",
            tries + 1,
            pause.as_secs_f64()
        ));
        tokio::time::sleep(pause).await;
        tries += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_is_a_tenth_of_the_wait_so_far_within_its_bounds() {
        let bound = Bound::new(Duration::from_secs(600), Duration::from_secs(5));
        let ms = Duration::from_millis;
        assert_eq!(pause_after(Duration::ZERO, bound), FIRST_POLL);
        assert_eq!(pause_after(ms(900), bound), FIRST_POLL);
        assert_eq!(pause_after(ms(2_000), bound), ms(200));
        assert_eq!(pause_after(ms(20_000), bound), ms(2_000));
        assert_eq!(pause_after(ms(120_000), bound), ms(5_000));
        let uploads = Waits::aws().role_propagation;
        assert_eq!(pause_after(ms(1_000), uploads), ms(500));
        assert_eq!(pause_after(ms(60_000), uploads), ms(2_000));
        let fast = Waits::fast().pitr;
        assert_eq!(pause_after(Duration::ZERO, fast), ms(10));
    }

    /// A wait ends at most a tenth (or one first pause) after the moment it could have: the
    /// overshoot the critical path's ratio of `make bench` allows.
    #[test]
    fn a_wait_overshoots_its_end_by_at_most_a_tenth() {
        let bound = Waits::aws().pitr;
        for end_ms in [300u64, 2_000, 5_000, 20_000, 45_000] {
            let end = Duration::from_millis(end_ms);
            let mut at = Duration::ZERO;
            let mut checks = 1;
            while at < end {
                at += pause_after(at, bound);
                checks += 1;
            }
            let over = at - end;
            assert!(
                over <= (end / 10).max(FIRST_POLL),
                "{end:?}: seen {over:?} late"
            );
            // Ten in the first second, then about one more each tenth longer: 51 for 45 s.
            assert!(checks <= 60, "{end:?}: {checks} checks");
        }
    }
}
