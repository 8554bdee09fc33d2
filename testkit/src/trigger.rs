//! Signals at an exact request: what a [`Trigger`] armed on the proxy waits for, and how the
//! signal is sent, so that "killed right after its k-th request" is a point a test names, not a
//! race it hopes to win.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::faults;
use crate::wire::Call;

/// When an armed signal is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum On {
    /// At the n-th request (1-based) after [`crate::Recorder::arm`].
    Nth(usize),
    /// At the n-th write (1-based) of the process under test after [`crate::Recorder::arm`]: exact
    /// whatever its reads (polls) before it were.
    NthWrite(usize),
    /// At the first request for this operation after [`crate::Recorder::arm`] (a `*` path segment
    /// matches any one segment).
    Operation(String),
}

/// Where, in the life of the matched request, the signal goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// The request is applied by the emulator, then the signal is sent and the connection
    /// reset: the process dies (SIGKILL) not knowing that its last request succeeded.
    AfterApplied,
    /// The signal is sent, then the request is held for this long and forwarded: it is in
    /// flight when the process learns of the signal. Every answer is held back from the signal
    /// until the process has taken it, so no request can follow an answer read before then.
    InFlight(Duration),
}

/// A signal to send to a process when a request arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub on: On,
    pub signal: i32,
    pub when: When,
}

/// A trigger armed on the proxy, what it has counted, and when its signal was taken.
#[derive(Debug, Default)]
pub(crate) struct Armed {
    trigger: Mutex<Option<Trigger>>,
    /// The process the trigger signals; 0 until [`crate::Recorder::target`].
    pub(crate) target: AtomicU32,
    /// Requests since [`Armed::arm`].
    seen: AtomicUsize,
    /// The writes of the process under test since the trigger was armed.
    writes_seen: AtomicUsize,
    pub(crate) fired: AtomicBool,
    /// When the process under test had taken the signal, on the proxy's clock.
    taken: Mutex<Option<Duration>>,
    /// Answers held while a signal is on its way.
    pub(crate) freeze: Freeze,
}

impl Armed {
    /// Arms `trigger`, counting requests from zero.
    pub(crate) fn arm(&self, trigger: Trigger) {
        self.target.store(0, Ordering::SeqCst);
        self.seen.store(0, Ordering::SeqCst);
        self.writes_seen.store(0, Ordering::SeqCst);
        self.fired.store(false, Ordering::SeqCst);
        if let Ok(mut taken) = self.taken.lock() {
            *taken = None;
        }
        if let Ok(mut armed) = self.trigger.lock() {
            *armed = Some(trigger);
        }
    }

    pub(crate) fn taken_at(&self) -> Option<Duration> {
        self.taken.lock().ok().and_then(|s| *s)
    }

    /// The armed trigger, if `call` is the request it waits for; it fires once.
    pub(crate) fn matched(&self, call: &Call) -> Option<Trigger> {
        let n = self.seen.fetch_add(1, Ordering::SeqCst) + 1;
        let own_write = call.write && call.caller.is_none();
        let w = match own_write {
            true => self.writes_seen.fetch_add(1, Ordering::SeqCst) + 1,
            false => 0,
        };
        let mut armed = self.trigger.lock().ok()?;
        let hit = match &armed.as_ref()?.on {
            On::Nth(k) => *k == n,
            On::NthWrite(k) => own_write && *k == w,
            On::Operation(op) => faults::matches(op, &call.operation),
        };
        if hit {
            self.fired.store(true, Ordering::SeqCst);
            armed.take()
        } else {
            None
        }
    }

    /// For an [`When::InFlight`] trigger: sends the signal with every answer held until the
    /// process has taken it, then holds the matched request as long as the trigger says.
    pub(crate) async fn in_flight(&self, trigger: &Trigger, clock: Instant) {
        let When::InFlight(hold) = trigger.when else {
            return;
        };
        // Signal 0 only holds the request: a test acting while it is in flight.
        if trigger.signal != 0 {
            self.freeze.hold(true);
            self.signal(trigger.signal, clock).await;
            self.freeze.hold(false);
        }
        tokio::time::sleep(hold).await;
    }

    /// Sends `signal` to the target process, waiting (briefly) for the test to name it.
    pub(crate) async fn signal(&self, signal: i32, clock: Instant) {
        for _ in 0..200 {
            let pid = self.target.load(Ordering::SeqCst);
            if pid != 0 {
                kill(pid, signal).await;
                if let Ok(mut at) = self.taken.lock() {
                    *at = Some(clock.elapsed());
                }
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Answers held back while a signal is on its way to the process under test: until it has
/// taken the signal, an answer could start its next request before it knew.
#[derive(Debug)]
pub(crate) struct Freeze(tokio::sync::watch::Sender<bool>);

impl Default for Freeze {
    fn default() -> Self {
        Freeze(tokio::sync::watch::Sender::new(false))
    }
}

impl Freeze {
    /// Holds every answer from now (`true`) or lets them go (`false`).
    pub(crate) fn hold(&self, held: bool) {
        self.0.send_replace(held);
    }

    /// Returns once answers may go.
    pub(crate) async fn passed(&self) {
        let mut held = self.0.subscribe();
        let _ = held.wait_for(|held| !held).await;
    }
}

/// Sends `signal` to `pid` and returns once the process has taken it: a SIGKILL when the process
/// is gone, so that it cannot read the answer of the request it died at; another signal when no
/// thread of it has the signal pending any more, and its handler has had a moment to run.
async fn kill(pid: u32, signal: i32) {
    let Ok(pid) = i32::try_from(pid) else { return };
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    unsafe {
        libc::kill(pid, signal);
    }
    if signal != libc::SIGKILL {
        for _ in 0..1000 {
            if !pending(pid, signal) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // The thread that took it runs the handler at once; its first step is the stop flag.
        tokio::time::sleep(Duration::from_millis(10)).await;
        return;
    }
    for _ in 0..500 {
        // SAFETY: as above; signal 0 only asks whether the process exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0 && !zombie(pid);
        if !alive {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Whether `signal` was sent to `pid` and none of its threads has taken it yet (the process's
/// shared pending set, `ShdPnd` in `/proc/PID/status`).
fn pending(pid: i32, signal: i32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    let Some(bit) = u32::try_from(signal - 1)
        .ok()
        .and_then(|s| 1u64.checked_shl(s))
    else {
        return false;
    };
    status
        .lines()
        .filter_map(|l| l.strip_prefix("ShdPnd:"))
        .any(|mask| u64::from_str_radix(mask.trim(), 16).is_ok_and(|m| m & bit != 0))
}

/// A killed child stays a zombie until its parent waits for it: dead enough.
fn zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z'))
        })
        .unwrap_or(true)
}
