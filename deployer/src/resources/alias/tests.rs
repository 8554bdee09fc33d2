//! The alias's plan, on plain structs: a live version that matches needs nothing; one that
//! differs, is gone, names `$LATEST` or was rolled back is released (and says why, in words);
//! old versions are pruned beyond `keep_versions`, never the live one or the one before it.

use super::*;
use crate::plan::{describe_all, Action};
use crate::resources::function::tests as function_tests;

fn desired(keep: usize) -> Desired {
    Desired {
        name: "live".into(),
        function: "f".into(),
        keep_versions: keep,
        release: function_tests::desired(),
    }
}

fn live(version: &str, versions: &[u64], history: History) -> Observed {
    Observed {
        version: version.into(),
        revision_id: "r1".into(),
        history,
        live: Some(function_tests::live()),
        versions: versions.to_vec(),
    }
}

fn plan(d: &Desired, o: Option<&Observed>) -> Vec<AliasChange> {
    Alias::plan(d, o, Needs::NONE)
}

fn previous(v: &str) -> History {
    History {
        previous: Some(v.into()),
        rolled_back: false,
    }
}

#[test]
fn the_history_reads_back_what_it_writes() {
    for h in [
        History::default(),
        previous("3"),
        History {
            previous: Some("12".into()),
            rolled_back: true,
        },
    ] {
        assert_eq!(History::parse(&h.describe()), h);
    }
    assert_eq!(History::parse("made by hand"), History::default());
    assert_eq!(
        History::parse("deployer: previous=4 rolled-back")
            .previous
            .as_deref(),
        Some("4")
    );
}

#[test]
fn a_live_version_that_matches_needs_nothing_and_none_is_created() {
    let d = desired(5);
    assert!(plan(&d, Some(&live("3", &[1, 2, 3], previous("2")))).is_empty());
    assert_eq!(plan(&d, None), vec![AliasChange::Create]);
    let created = describe_all("live", &plan(&d, None));
    assert_eq!(created[0].action, Action::Create);
}

#[test]
fn a_version_that_differs_is_released_and_says_why() {
    let d = desired(5);
    let mut o = live("3", &[1, 2, 3], previous("2"));
    if let Some(l) = o.live.as_mut() {
        l.code_sha256 = "old=".into();
        l.memory_mb = 256;
    }
    let changes = plan(&d, Some(&o));
    assert_eq!(
        changes,
        vec![AliasChange::Release {
            live: "3".into(),
            revision_id: "r1".into(),
            why: "differs in code_sha256, memory_mb".into(),
        }]
    );
    let shown = describe_all("live", &changes);
    assert!(shown[0].is(VERSION));
    assert_eq!(
        shown[0].actual,
        json!("version 3 (differs in code_sha256, memory_mb)")
    );
}

#[test]
fn a_rolled_back_stage_is_drift_in_words() {
    let d = desired(5);
    let mut o = live(
        "3",
        &[1, 2, 3, 4],
        History {
            previous: Some("4".into()),
            rolled_back: true,
        },
    );
    if let Some(l) = o.live.as_mut() {
        l.code_sha256 = "old=".into();
    }
    let shown = describe_all("live", &plan(&d, Some(&o)));
    assert_eq!(
        shown[0].actual,
        json!("version 3 (rolled back from version 4; `up` rolls forward)")
    );
    let mut latest = live("$LATEST", &[], History::default());
    assert!(matches!(
        plan(&d, Some(&latest))[0],
        AliasChange::Release { .. }
    ));
    latest.version = "7".into();
    latest.live = None;
    let shown = describe_all("live", &plan(&d, Some(&latest)));
    assert_eq!(shown[0].actual, json!("version 7 (the version is gone)"));
}

#[test]
fn old_versions_are_pruned_but_never_the_live_one_or_the_one_before() {
    // In sync: keep the newest 2, and the live one (1) and the one before it (2) besides.
    let o = live("1", &[1, 2, 3, 4, 5, 6], previous("2"));
    assert_eq!(
        plan(&desired(2), Some(&o)),
        vec![AliasChange::Prune(vec![3, 4])]
    );
    // A release: the live version becomes the one before; the new one takes a place kept.
    let mut o = live("6", &[1, 2, 3, 4, 5, 6], previous("5"));
    if let Some(l) = o.live.as_mut() {
        l.code_sha256 = "old=".into();
    }
    let changes = plan(&desired(2), Some(&o));
    assert_eq!(changes.len(), 2);
    // After it: 7 live, 6 before it, and the newest two are 6 and 7.
    assert_eq!(changes[1], AliasChange::Prune(vec![1, 2, 3, 4, 5]));
    assert_eq!(prunable(&[3, 1, 2], 0, &["2"]), vec![1, 3]);
    assert!(prunable(&[1, 2], 5, &[]).is_empty());
    let pruned = describe_all("live", &[AliasChange::Prune(vec![1, 2])]);
    assert_eq!(
        (pruned[0].action, pruned[0].actual.clone()),
        (Action::Delete, json!([1, 2]))
    );
}
