//! One file, two stages: `--stage` overrides the file's `stage`, and every derived name, tag and
//! the default table name follow it. `dev` and `prod` live side by side, `diff` of one never sees
//! the other, and `down --stage dev` leaves `prod` as it was.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{Census, Fixture, STACK};

#[tokio::test]
async fn dev_beside_prod_from_one_file() {
    let f = Fixture::new(STACK);
    let c = f.clients().await;
    let zip = f.zip_v1.to_str().unwrap().to_string();
    let dev = |args: &[&str]| {
        let mut all = vec!["--stage", "dev"];
        all.extend_from_slice(args);
        f.run(&all)
    };

    f.up(&f.zip_v1).ok();
    let created = dev(&["up", "--zip", &zip]).ok();
    assert!(
        created.stdout.contains("vc-dev") && !created.stdout.contains("vc-prod"),
        "{}",
        created.stdout
    );
    assert_eq!(Census::of_stage(&c, "vc", "dev").await, Census::DEPLOYED);
    assert_eq!(Census::take(&c, "vc").await, Census::DEPLOYED);
    assert_eq!(dev(&["diff", "--zip", &zip]).code, 0);
    assert_eq!(f.run(&["diff", "--zip", &zip]).code, 0);
    let function = c
        .lambda
        .get_function()
        .function_name("vc-dev")
        .send()
        .await
        .unwrap();
    let tags = function.tags().unwrap();
    assert_eq!(tags.get("deployer:stage").map(String::as_str), Some("dev"));
    let env = function.configuration().unwrap().environment().unwrap();
    assert_eq!(
        env.variables()
            .unwrap()
            .get("TABLE_NAME")
            .map(String::as_str),
        Some("vc-dev"),
        "dev's function counts in dev's table"
    );

    // Drift in dev is dev's alone.
    c.lambda
        .update_function_configuration()
        .function_name("vc-dev")
        .memory_size(512)
        .send()
        .await
        .unwrap();
    let drift = dev(&["--output", "json", "diff", "--zip", &zip]);
    assert_eq!(drift.code, 2, "{}", drift.stdout);
    assert!(drift.stdout.contains("vc-dev"), "{}", drift.stdout);
    let prod = f.run(&["--output", "json", "diff", "--zip", &zip]);
    assert_eq!(prod.code, 0, "prod saw dev's drift: {}", prod.stdout);

    // Down of dev leaves prod untouched: no write to any of prod's resources.
    let down = dev(&["down", "--delete-table"]).ok();
    let touched: Vec<String> = down
        .writes()
        .into_iter()
        .filter(|w| w.contains("vc-prod") || w.contains("/prod"))
        .collect();
    assert_eq!(
        touched,
        Vec::<String>::new(),
        "down --stage dev wrote to prod"
    );
    assert_eq!(Census::of_stage(&c, "vc", "dev").await, Census::GONE);
    assert_eq!(Census::take(&c, "vc").await, Census::DEPLOYED);
    assert_eq!(f.run(&["diff", "--zip", &zip]).code, 0);
}

#[test]
fn a_fixed_table_name_with_another_stage_is_refused_before_any_call() {
    let f = Fixture::new(&STACK.replace("table:\n", "table:\n  name: visitors\n"));
    let zip = f.zip_v1.to_str().unwrap().to_string();
    let run = f.run(&["--stage", "dev", "up", "--zip", &zip]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("stack.yaml:5:")
            && run.stderr.contains("table.name")
            && run.stderr.contains("{stage}"),
        "{}",
        run.stderr
    );
    assert_eq!(run.calls.len(), 0, "{:?}", run.calls);

    // With the placeholder, each stage has its own table.
    f.write_stack(&STACK.replace("table:\n", "table:\n  name: visitors-{stage}\n"));
    let dry = f
        .run(&["--stage", "dev", "up", "--dry-run", "--zip", &zip])
        .ok();
    assert!(dry.stdout.contains("visitors-dev"), "{}", dry.stdout);
}

#[test]
fn a_bad_stage_name_is_a_usage_error() {
    let f = Fixture::new(STACK);
    let run = f.run(&["--stage", "no/slash", "diff"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("--stage"), "{}", run.stderr);
    assert_eq!(run.calls.len(), 0);
}
