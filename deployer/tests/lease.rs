//! One writer at a time, proven with the real binary against the emulator: deploys started
//! together (through a proxy adding 40 ms per request, as AWS's round trips do) make one stack
//! and never undo each other; a killed holder blocks the stack no longer than its expiry, and
//! `unlock` ends a wait at once; the read-only verbs never wait; and the function, whose role
//! reaches only the counter item, cannot touch the lease (or any other item).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use support::{deployer_command, Census, Fixture, STACK};
use testkit::{On, Realism, Trigger, When, SIGKILL};

const LEASE: &str = "deployer:lease:vc:prod";
const BUSY: &str = "another deploy holds the stack";

/// The fixture's realism, a round trip of 40 ms away: deploys that overlap for real.
fn slow() -> Realism {
    Realism {
        latency: Duration::from_millis(40),
        ..Realism::fast()
    }
}

/// The stack with its function's memory changed: an `up` that updates and releases.
fn changed() -> String {
    STACK.replace("memory_mb: 128", "memory_mb: 256")
}

fn spawn(f: &Fixture, args: &[&str]) -> Child {
    deployer_command(f.path(), f.proxy.endpoint())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Exit code and stderr.
fn finish(child: Child) -> (i32, String) {
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), stderr)
}

/// Writes the lease item as a deploy on another machine holds it, until `expires_in` from now.
async fn foreign_lease(f: &Fixture, expires_in: i64) {
    let c = f.clients().await;
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    let s = |v: &str| AttributeValue::S(v.into());
    let n = |v: i64| AttributeValue::N(v.to_string());
    c.dynamodb
        .put_item()
        .table_name("vc-prod")
        .item("id", s(LEASE))
        .item("holder_token", s("elsewhere-token"))
        .item("who", s("ci"))
        .item("host", s("runner-7"))
        .item("verb", s("up"))
        .item("since", n(now))
        .item("expires", n(now + expires_in))
        .item("ttl_s", n(600))
        .item("renewals", n(0))
        .item("generation", n(41))
        .item("machine", s("another-boot/pid:[1]"))
        .item("pid", n(1))
        .item("started", n(1))
        .send()
        .await
        .unwrap();
}

/// Waits until a `verb` holds the lease: the second deploy then starts while the first writes.
async fn holding(f: &Fixture, verb: &str) {
    let started = Instant::now();
    loop {
        let item = lease_item(f).await.unwrap_or_default();
        if item
            .get("verb")
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
            == Some(verb)
            && item.contains_key("holder_token")
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{verb} never took the lease"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The lease item as it is now, `None` when there is none.
async fn lease_item(f: &Fixture) -> Option<std::collections::HashMap<String, AttributeValue>> {
    let c = f.clients().await;
    let got = c
        .dynamodb
        .get_item()
        .table_name("vc-prod")
        .key("id", AttributeValue::S(LEASE.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    got.item().cloned()
}

#[tokio::test]
async fn three_ups_from_empty_at_once_make_exactly_one_stack() {
    let f = Fixture::with(STACK, Some(slow()));
    let zip = f.zip_v1.to_str().unwrap().to_string();
    let runs: Vec<Child> = (0..3).map(|_| spawn(&f, &["up", "--zip", &zip])).collect();
    let (mut finished, mut met_a_lease) = (0, 0);
    for (i, run) in runs.into_iter().enumerate() {
        let (code, stderr) = finish(run);
        assert!(
            code == 0 || (code == 1 && stderr.contains(BUSY)),
            "up #{i} exited {code}:\n{stderr}"
        );
        finished += usize::from(code == 0);
        met_a_lease +=
            usize::from(stderr.contains(BUSY) || stderr.contains("waiting for the deploy lease"));
    }
    assert!(finished >= 1, "no up finished");
    // They ran at once: at least one met another's lease, waiting or refused.
    assert!(met_a_lease >= 1, "the three ups never overlapped");
    // With no further command: one of each, in sync.
    f.assert_deployed("vc", "three ups from empty").await;
    let item = lease_item(&f).await.expect("the lease item stays");
    assert!(
        !item.contains_key("holder_token"),
        "a lease was left held: {item:?}"
    );
}

#[tokio::test]
async fn an_up_and_a_down_together_leave_the_whole_stack_or_only_the_table() {
    let f = Fixture::with(STACK, Some(slow()));
    let c = f.clients().await;
    let v2 = f.zip_v2.to_str().unwrap().to_string();
    for down_first in [false, true] {
        f.write_stack(STACK);
        f.up(&f.zip_v1).ok();
        f.write_stack(&changed());
        let (first, second): (&[&str], &[&str]) = match down_first {
            false => (&["up", "--zip", &v2], &["down"]),
            true => (&["down"], &["up", "--zip", &v2]),
        };
        if down_first {
            // `down` deletes as a graph, in a few hundred ms: its deletion of the function is
            // held in flight (signal 0 sends nothing) so that the `up` surely meets its lease.
            f.proxy.arm(Trigger {
                on: On::Operation("DELETE /2015-03-31/functions/vc-prod".into()),
                signal: 0,
                when: When::InFlight(Duration::from_millis(1500)),
            });
        }
        let a = spawn(&f, first);
        f.proxy.target(a.id());
        holding(&f, first[0]).await;
        let b = spawn(&f, second);
        let ((ca, ea), (cb, eb)) = (finish(a), finish(b));
        assert_eq!((ca, cb), (0, 0), "{first:?}:\n{ea}\n{second:?}:\n{eb}");
        let census = Census::take(&c, "vc").await;
        match down_first {
            // The up came second: the whole stack, in sync with v2.
            true => {
                assert_eq!(census, Census::DEPLOYED, "{eb}");
                let diff = f.run(&["diff", "--zip", &v2]);
                assert_eq!(diff.code, 0, "{}", diff.stdout);
            }
            // The down came second: nothing but the table.
            false => assert_eq!(census, Census::DOWN, "{eb}"),
        }
        assert!(
            eb.contains("waiting for the deploy lease"),
            "the second did not wait for the first:\n{eb}"
        );
        f.run(&["down"]).ok();
    }
}

#[tokio::test]
async fn a_killed_holder_blocks_the_stack_no_longer_than_its_expiry() {
    let f = Fixture::new(STACK);
    f.up(&f.zip_v1).ok();
    f.write_stack(&changed());
    let v2 = f.zip_v2.to_str().unwrap().to_string();

    // Killed right after its lease was taken (its first UpdateItem): the lease is left held.
    f.proxy.take();
    f.proxy.arm(Trigger {
        on: On::Operation("UpdateItem".into()),
        signal: SIGKILL,
        when: When::AfterApplied,
    });
    let child = spawn(&f, &["up", "--zip", &v2]);
    f.proxy.target(child.id());
    let (code, _) = finish(child);
    assert!(f.proxy.fired(), "the up was not killed (exit {code})");
    let held = lease_item(&f).await.unwrap();
    assert!(held.contains_key("holder_token"), "{held:?}");

    // Its process is gone from this machine: the next up takes the lease at once.
    let started = Instant::now();
    let rerun = f.up(&f.zip_v2);
    assert_eq!(rerun.code, 0, "{}", rerun.stderr);
    assert!(
        rerun.stderr.contains("on this machine has ended"),
        "{}",
        rerun.stderr
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    f.assert_deployed_zip("vc", &f.zip_v2, "after the killed holder")
        .await;

    // A holder on another machine, killed 2 s before its expiry: waited for, then taken.
    foreign_lease(&f, 2).await;
    f.write_stack(STACK);
    let started = Instant::now();
    let after = f.up(&f.zip_v1);
    let waited = started.elapsed();
    assert_eq!(after.code, 0, "{}", after.stderr);
    assert!(after.stderr.contains("expired at"), "{}", after.stderr);
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(20),
        "waited {waited:?} for a lease expiring in 2 s"
    );
    f.assert_deployed("vc", "after the foreign holder expired")
        .await;
}

#[tokio::test]
async fn a_live_holder_is_waited_for_until_the_timeout_and_unlock_ends_the_wait() {
    let f = Fixture::new(STACK);
    f.up(&f.zip_v1).ok();
    f.write_stack(&changed());
    let v2 = f.zip_v2.to_str().unwrap().to_string();
    foreign_lease(&f, 600).await;

    // Waited for up to --lock-timeout, then a clear word naming the holder; nothing written.
    let started = Instant::now();
    let timed_out = f.run(&["up", "--zip", &v2, "--lock-timeout", "2s"]);
    assert_eq!(timed_out.code, 1, "{}", timed_out.stderr);
    assert!(
        timed_out
            .stderr
            .contains("another deploy holds the stack: ci@runner-7 (up, since "),
        "{}",
        timed_out.stderr
    );
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(timed_out.writes(), Vec::<String>::new(), "it wrote");
    assert_eq!(
        timed_out.lease_writes(),
        Vec::<String>::new(),
        "it wrote the lease"
    );

    // The read-only verbs neither wait nor touch the lease.
    for args in [
        vec!["diff", "--zip", v2.as_str()],
        vec!["outputs"],
        vec!["logs"],
    ] {
        let started = Instant::now();
        let run = f.run(&args);
        assert!(run.code == 0 || run.code == 2, "{args:?}: {}", run.stderr);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{args:?} waited"
        );
        let items: Vec<String> = run
            .calls
            .iter()
            .filter(|c| c.operation.ends_with("Item"))
            .map(ToString::to_string)
            .collect();
        assert_eq!(items, Vec::<String>::new(), "{args:?} read the lease");
    }

    // unlock refuses a holder that has not expired, unless forced.
    let refused = f.run(&["unlock"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("has not expired"),
        "{}",
        refused.stderr
    );

    // An up waiting with the default timeout goes on as soon as `unlock --force` clears it.
    let waiting = spawn(&f, &["up", "--zip", &v2]);
    std::thread::sleep(Duration::from_millis(1500));
    let unlocked = f.run(&["--output", "json", "unlock", "--force"]).ok();
    assert_eq!(unlocked.json()["released"]["who"], "ci");
    assert_eq!(unlocked.json()["released"]["host"], "runner-7");
    let cleared = Instant::now();
    let (code, stderr) = finish(waiting);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("waiting for the deploy lease"), "{stderr}");
    assert!(
        cleared.elapsed() < Duration::from_secs(20),
        "the wait did not end at the unlock"
    );
    let diff = f.run(&["diff", "--zip", &v2]);
    assert_eq!(diff.code, 0, "{}", diff.stdout);
    let nothing = f.run(&["unlock"]).ok();
    assert!(
        nothing.stdout.contains("No deploy holds stack vc"),
        "{}",
        nothing.stdout
    );
}

#[tokio::test]
async fn a_no_op_up_reads_the_lease_once_and_writes_nothing() {
    let f = Fixture::new(STACK);
    f.up(&f.zip_v1).ok();
    let noop = f.up(&f.zip_v1).ok();
    assert_eq!(noop.writes(), Vec::<String>::new());
    assert_eq!(noop.lease_writes(), Vec::<String>::new());
    let lease_reads = noop
        .calls
        .iter()
        .filter(|c| c.operation == "GetItem")
        .count();
    assert_eq!(lease_reads, 1, "{:?}", noop.calls);
}

#[tokio::test]
async fn a_take_whose_answer_was_lost_is_known_as_its_own() {
    let f = Fixture::new(STACK);
    f.up(&f.zip_v1).ok();
    f.write_stack(&changed());
    // The take is applied, its answer lost; the SDK's retry then finds the lease taken.
    f.proxy.faults(Some(testkit::Faults::once(
        "UpdateItem",
        testkit::Fault::ResetAfter,
    )));
    let started = Instant::now();
    let up = f.up(&f.zip_v2);
    f.proxy.faults(None);
    assert_eq!(up.code, 0, "{}", up.stderr);
    let takes: Vec<u16> = up
        .calls
        .iter()
        .filter(|c| c.operation == "UpdateItem")
        .map(|c| c.status)
        .collect();
    assert_eq!(
        takes.get(1),
        Some(&400),
        "the retry was not refused: {takes:?}"
    );
    assert!(
        !up.stderr.contains("waiting for the deploy lease"),
        "it waited for its own lease:\n{}",
        up.stderr
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    f.assert_deployed_zip("vc", &f.zip_v2, "after a lost take")
        .await;
}
