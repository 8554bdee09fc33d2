//! A teammate's (or an attacker's) `stack.yaml`: whatever the bytes, loading gives a validated
//! stack or a located error. Never a panic, never a hang, and bounded memory for alias bombs and
//! deep nesting (serde-saphyr's budget). Property-based, with proptest; the failures it ever
//! finds are kept beside this file, in `hostile_stack.proptest-regressions`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use deployer::stack;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// Every case must finish this fast; a hang or a blow-up would not.
const BOUND: Duration = Duration::from_secs(2);

fn load(text: &str) {
    let started = Instant::now();
    match stack::parse(text, Path::new("stack.yaml")) {
        Ok(s) => {
            // A valid stack really is valid: the derived names fit AWS's limits.
            assert!(deployer::naming::function_name(&s.name, &s.stage).len() <= 64);
            assert!((128..=10_240).contains(&s.function.memory_mb));
        }
        Err(e) => {
            let text = e.to_string();
            assert!(
                !e.problems.is_empty(),
                "an error names at least one problem"
            );
            assert!(text.contains("nothing was sent to AWS"), "{text}");
        }
    }
    assert!(started.elapsed() < BOUND, "took {:?}", started.elapsed());
}

const KEYS: &[&str] = &[
    "name",
    "region",
    "stage",
    "table",
    "function",
    "api",
    "tags",
    "memory_mb",
    "timeout_s",
    "routes",
    "cors_origins",
    "throttle",
    "rate",
    "burst",
    "point_in_time_recovery",
    "deletion_protection",
    "package",
    "architecture",
    "log_retention_days",
    "counter_id",
];

fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| n.to_string()),
        "[a-zA-Z0-9 _./:-]{0,40}",
        Just("true".to_string()),
        Just("~".to_string()),
        Just("GET /counter".to_string()),
        Just("\"https://example.com\"".to_string()),
        "\\PC{0,20}",
    ]
}

/// YAML-shaped text built from the stack's own keys, nested, with flow collections and aliases.
fn yamlish() -> impl Strategy<Value = String> {
    let leaf = scalar();
    let node = leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..5).prop_map(|kv| {
                let body: Vec<String> = kv.into_iter().map(|(k, v)| format!("{k}: {v}")).collect();
                format!("{{{}}}", body.join(", "))
            }),
        ]
    });
    prop::collection::vec((prop::sample::select(KEYS), node, 0..3usize), 1..10).prop_map(|lines| {
        lines
            .into_iter()
            .map(|(k, v, indent)| format!("{}{k}: {v}", "  ".repeat(indent)))
            .collect::<Vec<_>>()
            .join("\n")
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_text_loads_or_fails_with_a_located_error(text in "\\PC{0,400}") {
        load(&text);
    }

    #[test]
    fn yaml_shaped_stacks_load_or_fail_with_a_located_error(text in yamlish()) {
        load(&text);
        load(&format!("name: vc\n{text}"));
    }

    #[test]
    fn deep_nesting_is_refused_not_recursed(depth in 1usize..20_000, open in prop::sample::select(vec!["[", "{a: "])) {
        let close = if open == "[" { "]" } else { "}" };
        load(&format!("name: vc\ntags: {}{}{}", open.repeat(depth), "x", close.repeat(depth)));
    }

    #[test]
    fn alias_bombs_are_refused_within_the_budget(levels in 1usize..12, width in 2usize..12) {
        let mut text = String::from("a0: &a0 [\"https://example.com\"]\n");
        for l in 1..levels {
            let refs = vec![format!("*a{}", l - 1); width].join(", ");
            text.push_str(&format!("a{l}: &a{l} [{refs}]\n"));
        }
        text.push_str(&format!("name: vc\napi:\n  cors_origins: *a{}\n", levels - 1));
        load(&text);
    }
}
