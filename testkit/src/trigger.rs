//! Signals at an exact request: what a [`Trigger`] armed on the proxy waits for, and how the
//! signal is sent, so that "killed right after its k-th request" is a point a test names, not a
//! race it hopes to win.

use std::time::Duration;

/// When an armed signal is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum On {
    /// At the n-th request (1-based) after [`Recorder::arm`].
    Nth(usize),
    /// At the n-th write (1-based) of the process under test after [`Recorder::arm`]: exact
    /// whatever its reads (polls) before it were.
    NthWrite(usize),
    /// At the first request for this operation after [`Recorder::arm`] (a `*` path segment
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
    /// flight when the process learns of the signal.
    InFlight(Duration),
}

/// A signal to send to a process when a request arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub on: On,
    pub signal: i32,
    pub when: When,
}

/// Sends `signal` to `pid`; a SIGKILL is waited out until the process is gone, so that it
/// cannot read the answer of the request it died at.
pub(crate) async fn kill(pid: u32, signal: i32) {
    let Ok(pid) = i32::try_from(pid) else { return };
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    unsafe {
        libc::kill(pid, signal);
    }
    if signal != libc::SIGKILL {
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

/// A killed child stays a zombie until its parent waits for it: dead enough.
fn zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z'))
        })
        .unwrap_or(true)
}
