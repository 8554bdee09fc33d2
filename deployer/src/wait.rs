//! Bounded waits and retries for AWS's eventual consistency. Every wait has a limit, reports
//! progress, and on timeout says what it was waiting for.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::progress::Step;

/// How long to keep trying, and how often.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub timeout: Duration,
    pub interval: Duration,
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
}

impl Waits {
    /// What real AWS needs, with room to spare.
    pub fn aws() -> Waits {
        Waits {
            role_propagation: Bound {
                timeout: Duration::from_secs(90),
                interval: Duration::from_secs(2),
            },
            function_ready: Bound {
                timeout: Duration::from_secs(300),
                interval: Duration::from_secs(1),
            },
            table_active: Bound {
                timeout: Duration::from_secs(300),
                interval: Duration::from_secs(1),
            },
            create: Bound {
                timeout: Duration::from_secs(60),
                interval: Duration::from_secs(2),
            },
        }
    }

    /// Millisecond waits, for tests against mocks and the emulator.
    pub fn fast() -> Waits {
        let fast = Bound {
            timeout: Duration::from_millis(500),
            interval: Duration::from_millis(10),
        };
        Waits {
            role_propagation: fast,
            function_ready: fast,
            table_active: fast,
            create: fast,
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
    let mut tries = 0u32;
    loop {
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
        step.waiting(&format!("waiting for {what} ({:.0?})", started.elapsed()));
        tokio::time::sleep(bound.interval).await;
    }
}

/// How a create that AWS does not make idempotent failed.
pub enum CreateError {
    /// It may have been applied (the answer was lost, timed out, or was a 5xx or throttling).
    Ambiguous(anyhow::Error),
    /// It was refused; trying again would not help.
    Refused(anyhow::Error),
}

impl CreateError {
    /// Classifies a failed create: ambiguous when it may still have been applied.
    pub fn of<E>(what: &str, error: SdkError<E, HttpResponse>) -> CreateError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let ambiguous = crate::aws::ambiguous(&error);
        let error = anyhow::anyhow!("{what}: {}", DisplayErrorContext(&error));
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
    /// Worth another try after the interval (with the reason shown as progress).
    Again(E, String),
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
    let mut tries = 1u32;
    loop {
        match attempt().await {
            Attempt::Done(value) => return Ok(value),
            Attempt::Failed(error) => return Err(error),
            Attempt::Again(error, why) => {
                if crate::interrupt::requested()
                    || started.elapsed() + bound.interval > bound.timeout
                {
                    return Err(error);
                }
                step.waiting(&format!(
                    "{why}; try {} in {:.0?}",
                    tries + 1,
                    bound.interval
                ));
                tokio::time::sleep(bound.interval).await;
                tries += 1;
            }
        }
    }
}
