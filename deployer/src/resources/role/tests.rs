//! The role's plan and its documents, on plain values.

use super::*;

fn desired() -> Desired {
    Desired {
        name: "r".into(),
        trust: json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
        policy_name: "p".into(),
        policy: json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["dynamodb:UpdateItem", "dynamodb:GetItem"], "Resource": "arn:t"}]}),
        tags: Tags::new(),
        function: "f".into(),
    }
}

fn live() -> Observed {
    let d = desired();
    Observed {
        arn: "arn:r".into(),
        trust: d.trust.clone(),
        inline: BTreeMap::from([("p".into(), Some(d.policy.clone()))]),
        managed: vec![],
        tags: Tags::new(),
    }
}

fn arns() -> Arns {
    let s = crate::stack::parse(
        "name: visitor-counter\ntable:\n  name: resume-visitors\n",
        std::path::Path::new("stack.yaml"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    Arns::of(&Names::derive(&s, "us-east-1"), "123456789012")
}

#[test]
fn the_policy_is_exactly_the_contracts_calls_on_the_counter_item_and_the_log_streams() {
    assert_eq!(
        counter_policy(&arns(), "main_counter"),
        json!({
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "Counter",
                    "Effect": "Allow",
                    "Action": ["dynamodb:GetItem", "dynamodb:UpdateItem"],
                    "Resource": "arn:aws:dynamodb:us-east-1:123456789012:table/resume-visitors",
                    "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["main_counter"]}},
                },
                {
                    "Sid": "Logs",
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/visitor-counter-prod:*",
                },
            ],
        })
    );
    assert_eq!(
        trust_policy(&arns())["Statement"][0]["Condition"],
        json!({"StringEquals": {"aws:SourceAccount": "123456789012"}})
    );
}

#[test]
fn url_encoded_documents_parse() {
    let v = parse_policy("%7B%22Version%22%3A%222012-10-17%22%7D").unwrap_or_default();
    assert_eq!(v, json!({"Version": "2012-10-17"}));
}

#[test]
fn equal_policies_in_other_shapes_are_no_change() {
    let mut o = live();
    o.inline.insert(
        "p".into(),
        Some(json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:UpdateItem"], "Resource": ["arn:t"]}})),
    );
    o.trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com"]}, "Action": ["sts:AssumeRole"]}]});
    assert_eq!(Role::plan(&desired(), Some(&o), Needs::NONE), vec![]);
}

#[test]
fn a_broadened_policy_an_extra_policy_and_a_managed_policy_are_each_reported() {
    let mut o = live();
    o.inline.insert("p".into(), Some(json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}]})));
    o.inline.insert("hotfix".into(), None);
    o.managed
        .push("arn:aws:iam::aws:policy/AdministratorAccess".into());
    let changes = crate::plan::describe_all("r", &Role::plan(&desired(), Some(&o), Needs::NONE));
    let summary: Vec<_> = changes
        .iter()
        .map(|c| (c.action, c.field.clone().unwrap_or_default()))
        .collect();
    use crate::plan::Action;
    assert_eq!(
        summary,
        [
            (Action::Update, INLINE_POLICY.to_string()),
            (Action::Delete, EXTRA_INLINE_POLICY.to_string()),
            (Action::Delete, MANAGED_POLICY.to_string()),
        ]
    );
    assert_eq!(changes[1].actual, json!("hotfix"));
}

#[test]
fn a_missing_role_is_created_and_a_missing_policy_is_put() {
    assert!(matches!(
        Role::plan(&desired(), None, Needs::NONE)[..],
        [RoleChange::Create { .. }]
    ));
    let mut o = live();
    o.inline.clear();
    let changes = Role::plan(&desired(), Some(&o), Needs::NONE);
    assert_eq!(changes.len(), 1);
    assert!(matches!(&changes[0], RoleChange::Policy(u) if u.live == Value::Null));
}
