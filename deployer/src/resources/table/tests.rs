//! The table's plan on plain structs, described as `diff` shows it.

use super::*;
use crate::resources::Needs;

fn desired() -> Desired {
    Desired {
        name: "t".into(),
        arn: "arn".into(),
        key: "id".into(),
        key_line: None,
        point_in_time_recovery: true,
        deletion_protection: true,
        tags: Tags::from([("deployer:stack".into(), "vc".into())]),
        retain: true,
    }
}

fn live() -> Observed {
    Observed {
        arn: "arn".into(),
        status: "ACTIVE".into(),
        created: None,
        key_schema: vec![key("id")],
        billing_mode: ON_DEMAND.into(),
        point_in_time_recovery: true,
        deletion_protection: true,
        tags: Tags::from([
            ("deployer:stack".into(), "vc".into()),
            ("team".into(), "x".into()),
        ]),
    }
}

#[test]
fn a_missing_table_is_created_and_a_matching_one_needs_nothing() {
    assert!(matches!(
        Table::plan(&desired(), None, Needs::NONE)[..],
        [TableChange::Create {
            ref key,
            pitr: true,
            protection: true,
            made: false
        }] if key == "id:S:HASH"
    ));
    assert_eq!(Table::plan(&desired(), Some(&live()), Needs::NONE), vec![]);
    assert_eq!(key("counter_id"), "counter_id:S:HASH");
}

#[test]
fn each_field_that_differs_is_one_change_described_as_before() {
    let mut o = live();
    o.billing_mode = "PROVISIONED".into();
    o.point_in_time_recovery = false;
    o.deletion_protection = false;
    o.tags.clear();
    let fields: Vec<_> = Table::plan(&desired(), Some(&o), Needs::NONE)
        .iter()
        .map(|c| c.describe("t"))
        .map(|c| (c.field.unwrap_or_default(), c.expected, c.actual))
        .collect();
    assert_eq!(
        fields,
        [
            (
                BILLING_MODE.into(),
                json!("PAY_PER_REQUEST"),
                json!("PROVISIONED")
            ),
            (PITR.into(), json!(true), json!(false)),
            (DELETION_PROTECTION.into(), json!(true), json!(false)),
            (TAGS.into(), json!({"deployer:stack": "vc"}), json!({})),
        ]
    );
}

#[test]
fn a_different_key_schema_is_blocked_not_replaced() {
    let mut o = live();
    o.key_schema = vec!["pk:S:HASH".into(), "sk:S:RANGE".into()];
    let changes = Table::plan(&desired(), Some(&o), Needs::NONE);
    assert_eq!(changes.len(), 1);
    let c = crate::plan::describe_all("t", &changes).remove(0);
    assert!(c.is(KEY_SCHEMA));
    assert!(c.blocked.unwrap_or_default().contains("replacement needed"));
    assert!(changes[0]
        .blocked()
        .is_some_and(|why| why.contains("replacement needed")));
}

#[test]
fn a_table_keyed_otherwise_is_refused_naming_its_key_and_the_line_that_would_keep_it() {
    let mut o = live();
    o.key_schema = vec![key("counter_id")];
    let why = |d: &Desired| Table::plan(d, Some(&o), Needs::NONE)[0].blocked().unwrap();
    let defaulted = why(&desired());
    assert!(defaulted.contains("keyed \"counter_id\""), "{defaulted}");
    assert!(defaulted.contains("table.key is not set"), "{defaulted}");
    assert!(
        defaulted.contains("set table.key: counter_id"),
        "{defaulted}"
    );
    let mut d = desired();
    d.key_line = Some(7);
    let written = why(&d);
    assert!(
        written.contains("table.key (stack.yaml line 7) says \"id\""),
        "{written}"
    );
    // The stack's key, when it is the live one, is no change at all.
    d.key = "counter_id".into();
    assert_eq!(Table::plan(&d, Some(&o), Needs::NONE), vec![]);
}
