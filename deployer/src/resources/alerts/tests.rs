use super::*;
use crate::stack;
use std::path::Path;

const ALERTING: &str = "name: vc\nstage: prod\nalerts: { email: me@example.com }\n";

fn desired(text: &str) -> Desired {
    let s = stack::parse(text, Path::new("stack.yaml")).unwrap();
    let names = Names::derive(&s, "us-east-1");
    Desired::of(&s, &names, &Arns::of(&names, "123456789012"))
}

fn live(d: &Desired) -> Observed {
    let wanted = d.wanted.as_ref().unwrap();
    Observed {
        topic: Some(LiveTopic {
            arn: "arn:aws:sns:us-east-1:123456789012:vc-prod-alerts".into(),
            tags: d.tags.clone(),
            subscriptions: vec![Subscription {
                protocol: "email".into(),
                endpoint: "me@example.com".into(),
                arn: "arn:aws:sns:us-east-1:123456789012:vc-prod-alerts:1".into(),
            }],
        }),
        alarms: wanted
            .alarms
            .iter()
            .map(|a| LiveAlarm {
                alarm: a.clone(),
                arn: format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{}", a.name),
                tags: d.tags.clone(),
            })
            .collect(),
    }
}

#[test]
fn an_address_makes_a_topic_and_four_alarms_that_notify_it() {
    let d = desired(ALERTING);
    let changes = Alerts::plan(&d, None, Needs::NONE);
    assert_eq!(changes.len(), 5);
    assert_eq!(
        changes[0],
        AlertsChange::CreateTopic {
            email: Some("me@example.com".into())
        }
    );
    let names: Vec<String> = changes[1..]
        .iter()
        .map(|c| c.describe("vc-prod-alerts").name)
        .collect();
    assert_eq!(
        names,
        [
            "vc-prod-function-errors",
            "vc-prod-gateway-5xx",
            "vc-prod-function-throttles",
            "vc-prod-table-throttles"
        ]
    );
    for alarm in &d.wanted.as_ref().unwrap().alarms {
        assert_eq!(
            alarm.actions,
            ["arn:aws:sns:us-east-1:123456789012:vc-prod-alerts"]
        );
        assert_eq!((alarm.period, alarm.threshold), (300, 1.0));
    }
    assert!(Alerts::plan(&d, Some(&live(&d)), Needs::NONE).is_empty());
}

#[test]
fn an_alarm_edited_by_hand_is_replaced_whole_and_a_new_address_subscribed() {
    let d = desired(ALERTING);
    let mut o = live(&d);
    o.alarms[1].alarm.threshold = 50.0;
    let moved = desired(&ALERTING.replace("me@", "you@"));
    let changes = Alerts::plan(&moved, Some(&o), Needs::NONE);
    let described: Vec<(String, Option<String>)> = changes
        .iter()
        .map(|c| {
            let c = c.describe("vc-prod-alerts");
            (c.name, c.field)
        })
        .collect();
    assert_eq!(
        described,
        [
            ("vc-prod-alerts".into(), Some("subscription".into())),
            ("vc-prod-alerts".into(), Some("subscription".into())),
            ("vc-prod-gateway-5xx".into(), Some("alarm".into())),
        ]
    );
    assert!(matches!(&changes[1], AlertsChange::Unsubscribe(s) if s.endpoint == "me@example.com"));
}

#[test]
fn the_gateway_alarm_watches_the_live_apis_name() {
    let d = desired(ALERTING);
    let needs = Needs {
        api_id: Some("a1b2c3d4e5"),
        api_name: Some("resume-api"),
    };
    let changes = Alerts::plan(&d, Some(&live(&d)), needs);
    let AlertsChange::PutAlarm { alarm, .. } = &changes[0] else {
        panic!("{changes:?}");
    };
    assert_eq!(
        alarm.dimensions,
        [
            ("ApiName".to_string(), "resume-api".to_string()),
            ("Stage".into(), "prod".into())
        ]
    );
}

#[test]
fn without_alerts_only_the_stacks_own_alarms_and_topic_go() {
    let d = desired(ALERTING);
    let mut o = live(&d);
    o.alarms[0].tags.clear();
    let quiet = desired("name: vc\nstage: prod\n");
    let changes = Alerts::plan(&quiet, Some(&o), Needs::NONE);
    assert_eq!(changes.len(), 4, "three alarms and the topic: {changes:?}");
    assert!(matches!(
        changes.last(),
        Some(AlertsChange::DeleteTopic { .. })
    ));
    let topic_only = desired("name: vc\nstage: prod\nalerts: { topic_arn: \"arn:aws:sns:us-east-1:123456789012:ops\" }\n");
    let changes = Alerts::plan(&topic_only, Some(&live(&d)), Needs::NONE);
    assert!(
        matches!(changes[0], AlertsChange::DeleteTopic { .. }),
        "{changes:?}"
    );
    assert_eq!(
        changes.len(),
        5,
        "the topic, and every alarm now notifying the user's topic"
    );
}
