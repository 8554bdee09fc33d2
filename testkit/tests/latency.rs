//! The realism layer's latency, both ways it can be spent: added before moto (moto's time on
//! top, one request after another), or as the whole round trip (AWS-typical mode: a wave of
//! parallel requests costs one round trip, however long single-threaded moto takes to serve it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use testkit::{dummy_loader, Moto, Realism, Recorder};

const LATENCY: Duration = Duration::from_millis(300);
const WAVE: usize = 64;

/// Sends a wave of `WAVE` parallel reads; returns how long the wave took, and each answer's
/// round trip as the proxy saw it.
async fn wave(proxy: &Recorder) -> (Duration, Vec<Duration>) {
    let db = Client::new(&dummy_loader().endpoint_url(proxy.endpoint()).load().await);
    db.list_tables().send().await.unwrap();
    proxy.take();
    let started = Instant::now();
    let mut reads = tokio::task::JoinSet::new();
    for _ in 0..WAVE {
        let db = db.clone();
        reads.spawn(async move { db.list_tables().send().await });
    }
    while let Some(read) = reads.join_next().await {
        read.unwrap().unwrap();
    }
    let took = started.elapsed();
    let trips = proxy
        .take()
        .iter()
        .map(|c| c.answered.unwrap() - c.sent)
        .collect();
    (took, trips)
}

#[tokio::test]
async fn a_round_trip_holds_every_answer_for_the_latency_and_hides_moto_in_it() {
    let moto = Moto::start();
    let proxy = Recorder::start(moto.endpoint());
    // Moto's own time for the wave: it serves one request after another.
    proxy.realism(Some(Realism::latency_only(Duration::ZERO)));
    let (moto_alone, _) = wave(&proxy).await;
    assert!(
        moto_alone >= Duration::from_millis(40),
        "moto served {WAVE} reads in {moto_alone:?}: too fast for this test to tell the modes apart"
    );

    proxy.realism(Some(Realism {
        round_trip: true,
        ..Realism::latency_only(LATENCY)
    }));
    let (took, trips) = wave(&proxy).await;
    assert_eq!(trips.len(), WAVE);
    assert!(trips.iter().all(|t| *t >= LATENCY), "{trips:?}");
    // The wave is one round trip: moto's time is inside it. Added on top, it would cost all of
    // moto's time and the client's own (64 connections) besides; the client's share alone stays
    // under a tenth of moto's (it reached half on a loaded machine).
    assert!(
        took < LATENCY.max(moto_alone) + moto_alone * 9 / 10,
        "the wave took {took:?}, moto alone {moto_alone:?}"
    );

    // Added before moto, the same latency comes with moto's time on top.
    proxy.realism(Some(Realism::latency_only(LATENCY)));
    let (took, trips) = wave(&proxy).await;
    assert!(trips.iter().all(|t| *t >= LATENCY), "{trips:?}");
    assert!(
        took >= LATENCY + moto_alone / 2,
        "the wave took {took:?}, moto alone {moto_alone:?}"
    );
}
