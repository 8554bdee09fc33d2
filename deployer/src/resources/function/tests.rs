//! The function's plan, on plain structs: every field compared, environment variables one by
//! one, a failed last update reported with its reason, each described as `diff` shows it.

use serde_json::Value;

use super::*;
use crate::plan::describe_all;
use crate::resources::Needs;

pub(crate) fn desired() -> Desired {
    Desired {
        name: "f".into(),
        runtime: RUNTIME.into(),
        handler: HANDLER.into(),
        architecture: "x86_64".into(),
        memory_mb: 128,
        timeout_s: 3,
        role_arn: "arn:role".into(),
        environment: Tags::from([
            ("TABLE_NAME".into(), "t".into()),
            ("COUNTER_ID".into(), "main_counter".into()),
        ]),
        code: Code {
            sha256: "abc=".into(),
            zip: Arc::new(Vec::new()),
        },
        tags: Tags::new(),
        description: "d".into(),
    }
}

pub(crate) fn live() -> Observed {
    let d = desired();
    Observed {
        arn: "arn:f".into(),
        runtime: d.runtime,
        handler: d.handler,
        architecture: d.architecture,
        memory_mb: d.memory_mb,
        timeout_s: d.timeout_s,
        role_arn: d.role_arn,
        environment: d.environment,
        code_sha256: d.code.sha256,
        tags: d.tags,
        last_update: SUCCESSFUL.into(),
    }
}

fn fields(o: &Observed) -> Vec<(String, Value, Value)> {
    describe_all("f", &Function::plan(&desired(), Some(o), Needs::NONE))
        .into_iter()
        .map(|c| (c.field.unwrap_or_default(), c.expected, c.actual))
        .collect()
}

#[test]
fn a_matching_function_needs_nothing() {
    assert_eq!(
        Function::plan(&desired(), Some(&live()), Needs::NONE),
        vec![]
    );
    assert!(matches!(
        Function::plan(&desired(), None, Needs::NONE)[..],
        [FunctionChange::Create { .. }]
    ));
}

#[test]
fn every_configuration_field_is_compared() {
    let mut o = live();
    o.code_sha256 = "old=".into();
    o.runtime = "python3.12".into();
    o.handler = "index.handler".into();
    o.architecture = "arm64".into();
    o.memory_mb = 256;
    o.timeout_s = 30;
    o.role_arn = "arn:other".into();
    assert_eq!(
        fields(&o),
        [
            (CODE.into(), json!("abc="), json!("old=")),
            (
                RUNTIME_FIELD.into(),
                json!("provided.al2023"),
                json!("python3.12")
            ),
            (
                HANDLER_FIELD.into(),
                json!("bootstrap"),
                json!("index.handler")
            ),
            (ARCHITECTURE.into(), json!("x86_64"), json!("arm64")),
            (MEMORY.into(), json!(128), json!(256)),
            (TIMEOUT.into(), json!(3), json!(30)),
            (ROLE.into(), json!("arn:role"), json!("arn:other")),
        ]
    );
}

#[test]
fn environment_variables_added_changed_and_removed_are_each_a_change() {
    let mut o = live();
    o.environment
        .insert("TABLE_NAME".into(), "old-table".into());
    o.environment.remove("COUNTER_ID");
    o.environment.insert("DEBUG".into(), "1".into());
    assert_eq!(
        fields(&o),
        [
            (
                "environment.COUNTER_ID".into(),
                json!("main_counter"),
                json!(null)
            ),
            ("environment.DEBUG".into(), json!(null), json!("1")),
            (
                "environment.TABLE_NAME".into(),
                json!("t"),
                json!("old-table")
            ),
        ]
    );
    assert_eq!(
        previous_table(&desired(), Some(&o)),
        Some("old-table".into())
    );
    assert_eq!(previous_table(&desired(), Some(&live())), None);
}

#[test]
fn a_failed_last_update_is_drift_that_resends_code_and_configuration() {
    let mut o = live();
    o.last_update = "Failed: the KMS key is invalid".into();
    assert_eq!(
        fields(&o),
        [(
            LAST_UPDATE.into(),
            json!("Successful"),
            json!("Failed: the KMS key is invalid")
        )]
    );
    let changes = Function::plan(&desired(), Some(&o), Needs::NONE);
    assert!(!changes[0].is_code() && !changes[0].is_configuration());
}
