//! Ctrl-C (SIGINT) and SIGTERM while `up` or `down` is changing things: the requests in flight
//! finish, no new request starts, and the verb says what was done and what was not, then exits
//! 130 (143 for SIGTERM). A second signal stops at once.
//!
//! Stopping between requests, not inside one, is what keeps a re-run simple: every request
//! either happened or did not, and the next `up` observes afresh and carries on.
//!
//! The stop is enforced in one place, an interceptor on every AWS client
//! ([`Guard`], added by [`crate::aws`]), so no code path can forget to check it.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// The signal received, or 0. Signals are process-wide, and so is this.
static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// Set when a renewal of this process's deploy lease found it taken by another (an
/// `unlock --force`): from then on [`Guard`] refuses every request, so the deploy stops
/// writing at once.
static LEASE_LOST: AtomicBool = AtomicBool::new(false);

/// Requests sent that may change something (any operation but Get*, List*, Describe*).
static WRITES: AtomicUsize = AtomicUsize::new(0);

const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

/// Starts listening for SIGINT and SIGTERM, from the verbs that write; the read-only verbs keep
/// the default (stop at once).
///
/// The flag is set in the signal handler itself, not by a task that runs later: from the moment
/// the signal arrives, [`Guard`] refuses every request, with no window in which a request whose
/// turn came could still start.
pub fn listen() -> anyhow::Result<()> {
    for signal in [SIGINT, SIGTERM] {
        // SAFETY: the action only swaps an atomic, writes with write(2) and exits with _exit(2),
        // all async-signal-safe.
        unsafe { signal_hook_registry::register(signal, move || on_signal(signal)) }?;
    }
    Ok(())
}

/// In the signal handler: the first signal asks for a stop, the second stops at once.
fn on_signal(signal: i32) {
    if RECEIVED.swap(signal, Ordering::SeqCst) != 0 {
        say(b"\nStopping now: a request may have been cut off; `up` repairs it.\n");
        // SAFETY: _exit(2) is async-signal-safe and takes a plain integer.
        unsafe { libc::_exit(128 + signal) };
    }
    say(b"\nInterrupted: finishing the requests in flight, then stopping (press Ctrl-C again to stop at once).\n");
}

/// Writes to stderr from a signal handler (where `eprintln!` may not be used).
fn say(text: &[u8]) {
    // SAFETY: write(2) is async-signal-safe; the buffer lives for the call.
    unsafe {
        libc::write(2, text.as_ptr().cast(), text.len());
    }
}

/// Whether a stop was asked for.
pub fn requested() -> bool {
    RECEIVED.load(Ordering::SeqCst) != 0
}

/// Whether any request that may change something was sent, so that "nothing was changed" is
/// said only when it is true.
pub fn wrote() -> bool {
    WRITES.load(Ordering::SeqCst) != 0
}

/// The conventional exit code: 128 + the signal (130 for SIGINT, 143 for SIGTERM).
pub fn exit_code() -> u8 {
    u8::try_from(128 + RECEIVED.load(Ordering::SeqCst)).unwrap_or(130)
}

/// Marks this process's deploy lease as lost ([`crate::lease`]'s renewal calls it).
pub fn lose_lease() {
    LEASE_LOST.store(true, Ordering::SeqCst);
}

/// `Some` once this process's deploy lease was lost.
pub fn lease_lost() -> Option<LeaseLost> {
    LEASE_LOST.load(Ordering::SeqCst).then_some(LeaseLost)
}

/// The error of a request refused because the deploy lease was lost.
#[derive(Debug, Clone, Copy)]
pub struct LeaseLost;

impl std::fmt::Display for LeaseLost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "not sent: this deploy's lease was taken over (by `deployer unlock --force`?), so it \
             stopped writing; run it again",
        )
    }
}

impl std::error::Error for LeaseLost {}

/// Fails every request that would start after a stop was asked for, and counts the writes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Guard;

/// The error a refused request carries.
#[derive(Debug)]
pub struct Stopped;

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not sent: the deployer was interrupted")
    }
}

impl std::error::Error for Stopped {}

impl Intercept for Guard {
    fn name(&self) -> &'static str {
        "interrupt::Guard"
    }

    // Once per operation (retries do not repeat it), and late enough that the operation's
    // name is in the bag.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if requested() {
            return Err(Box::new(Stopped));
        }
        if let Some(lost) = lease_lost() {
            return Err(Box::new(lost));
        }
        let read = config.load::<Metadata>().is_some_and(|m| {
            ["Get", "List", "Describe"]
                .iter()
                .any(|p| m.name().starts_with(p))
        });
        if !read {
            WRITES.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }
}
