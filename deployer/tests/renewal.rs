//! The lease's renewal, in-process against the emulator with a short time to live: a held lease
//! is renewed while its holder works, a waiter never sees it stale meanwhile, and a holder whose
//! lease was taken over (`unlock --force`) learns it at its next renewal and sends no further
//! request. A binary of its own: losing the lease stops every AWS client of the process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use deployer::lease::{self, Held, Place, Seen};
use support::{Fixture, STACK};

#[tokio::test]
async fn a_held_lease_is_renewed_and_a_holder_that_lost_it_stops_writing() {
    let f = Fixture::new(STACK);
    f.up(&f.zip_v1).ok();
    let through = testkit::dummy_loader().endpoint_url(f.proxy.endpoint());
    let clients = deployer::aws::Clients::from_config(&through.load().await).unwrap();
    let place = Place {
        client: clients.lease.clone(),
        table: "vc-prod".into(),
        attribute: "id".into(),
        key: "deployer:lease:vc:prod".into(),
    };
    let seen = lease::read(&place).await.unwrap();
    assert_eq!(seen, Seen::Free { generation: 1 }, "after one up");

    // A time to live of 4 s: renewed every second.
    let held = Held::take(&place, &seen, "test", Duration::from_secs(4))
        .await
        .unwrap()
        .expect("a free lease is taken");
    let first = held.holder.clone();
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let Seen::Held(now) = lease::read(&place).await.unwrap() else {
        panic!("the lease is not held")
    };
    assert_eq!(now.token, first.token);
    assert!(now.renewals >= 3, "renewed {} times in 4.5 s", now.renewals);
    assert!(now.expires > first.expires, "the expiry did not move");
    assert_eq!(
        lease::stale(&now, lease::holder::now(), Duration::ZERO),
        None,
        "a renewed lease looked stale"
    );

    // Taken over by `unlock --force`: the next renewal finds out, and from then on the process
    // sends nothing (every client's guard refuses), the lease's other holder untouched.
    assert!(lease::lost().is_none());
    let unlocked = f.run(&["unlock", "--force"]).ok();
    assert!(
        unlocked.stdout.contains("Cleared the deploy lease"),
        "{}",
        unlocked.stdout
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        lease::lost().is_some(),
        "the holder never learnt it lost the lease"
    );
    let refused = clients
        .iam
        .get_role()
        .role_name("vc-prod-role")
        .send()
        .await;
    let refused = refused.expect_err("a request went out after the loss");
    let why = aws_sdk_iam::error::DisplayErrorContext(&refused).to_string();
    assert!(why.contains("lease was taken over"), "{why}");
    assert_eq!(held.release().await, None);
    assert_eq!(
        lease::read(&place).await.unwrap(),
        Seen::Free { generation: 2 },
        "the release of a lost lease touched it"
    );
}
