//! The lease's pure parts: the item read back, when a holder is stale, the expressions sent.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;

use super::*;

fn holder() -> Holder {
    Holder {
        token: "t1".into(),
        who: "alice".into(),
        host: "laptop".into(),
        verb: "up".into(),
        since: 1_000,
        expires: 1_060,
        ttl_s: 60,
        renewals: 2,
        generation: 7,
        process: None,
        ci: Some("https://ci.example/jobs/9".into()),
    }
}

fn item(h: &Holder) -> HashMap<String, AttributeValue> {
    let mut u = Update::default();
    u.holder(h);
    u.set
        .iter()
        .map(|clause| {
            let (name, value) = clause.split_once(" = ").unwrap();
            (u.names[name].clone(), u.values[value].clone())
        })
        .collect()
}

#[test]
fn an_item_reads_back_as_its_holder_and_no_holder_is_free_at_its_generation() {
    assert_eq!(seen(None), Seen::Free { generation: 0 });
    let h = holder();
    assert_eq!(seen(Some(&item(&h))), Seen::Held(h.clone()));
    let mut released = item(&h);
    for attribute in HOLDER {
        released.remove(attribute);
    }
    assert_eq!(seen(Some(&released)), Seen::Free { generation: 7 });
}

#[test]
fn a_holder_is_stale_when_expired_or_unrenewed_for_its_ttl_and_not_before() {
    let h = holder();
    assert_eq!(stale(&h, 1_030, Duration::from_secs(59)), None);
    let expired = stale(&h, 1_061, Duration::ZERO).unwrap();
    assert!(
        expired.contains("expired at 1970-01-01T00:17:40Z"),
        "{expired}"
    );
    let still = stale(&h, 1_030, Duration::from_secs(60)).unwrap();
    assert!(still.contains("not been renewed for 60 s"), "{still}");
}

#[test]
fn a_holder_whose_process_ended_on_this_machine_is_stale_at_once() {
    let Some(me) = Process::me() else {
        panic!("this test needs /proc (Linux)");
    };
    let mut h = holder();
    h.expires = i64::MAX;
    h.process = Some(me.clone());
    assert_eq!(stale(&h, 0, Duration::ZERO), None, "this process is alive");
    // The same PID started at another tick: a reused PID, not the holder.
    h.process = Some(Process {
        started: me.started + 1,
        ..me.clone()
    });
    assert!(stale(&h, 0, Duration::ZERO).unwrap().contains("has ended"));
    // Another machine: only the expiry tells.
    h.process = Some(Process {
        machine: "elsewhere".into(),
        ..me
    });
    assert_eq!(stale(&h, 0, Duration::ZERO), None);
}

#[test]
fn the_holder_reads_as_who_where_what_and_when() {
    assert_eq!(
        holder().to_string(),
        "alice@laptop (up, since 1970-01-01T00:16:40Z, until 1970-01-01T00:17:40Z, \
         https://ci.example/jobs/9)"
    );
}

#[test]
fn a_take_sets_every_field_and_removes_the_optional_ones_it_lacks() {
    let mut u = Update::default();
    let mut h = holder();
    h.ci = None;
    u.holder(&h);
    let e = u.expression();
    assert!(
        e.starts_with("SET #holder_token = :holder_token, #who = :who"),
        "{e}"
    );
    assert!(e.ends_with("REMOVE #machine, #pid, #started, #ci"), "{e}");
    let mut r = Update::default();
    r.set(EXPIRES, n(5));
    r.add(RENEWALS, n(1));
    assert_eq!(
        r.expression(),
        "SET #expires = :expires ADD #renewals :renewals"
    );
}

#[test]
fn me_is_named_with_a_fresh_token_and_an_expiry_one_ttl_ahead() {
    let (a, b) = (Holder::me("up", 60, 0), Holder::me("down", 60, 0));
    assert_ne!(a.token, b.token);
    assert_eq!(a.expires - a.since, 60);
    assert_eq!(b.verb, "down");
    assert!(a.process.is_some(), "Linux names the process");
}
