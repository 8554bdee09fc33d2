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
            assert!(deployer::conventions::function_name(&s.name, &s.stage).len() <= 64);
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
    fn nesting_beyond_the_depth_budget_is_refused_on_its_line_without_recursing(depth in 40usize..20_000, open in prop::sample::select(vec!["[", "{a: "])) {
        let close = if open == "[" { "]" } else { "}" };
        let e = refused(&format!("name: vc\ntags: {}{}{}", open.repeat(depth), "x", close.repeat(depth)));
        prop_assert_eq!(e.problems[0].line, 2, "{}", e);
    }

    #[test]
    fn alias_bombs_are_refused_on_the_line_that_expands_them(levels in 2usize..12, width in 2usize..12) {
        // Each anchor repeats the one before `width` times: expanding the last one would build
        // width^(levels-1) strings. cors_origins wants strings, not lists; either the type check
        // or the budget refuses it, before anything is expanded beyond the budget.
        let mut text = String::from("name: vc\napi:\n  routes: [GET /counter]\n  cors_origins:\n    - &a0 [\"https://example.com\"]\n");
        let mut line = 6;
        for l in 1..levels {
            let refs = vec![format!("*a{}", l - 1); width].join(", ");
            text.push_str(&format!("    - &a{l} [{refs}]\n"));
            line += 1;
        }
        let e = refused(&text);
        prop_assert!(e.problems.iter().all(|p| (4..line).contains(&(p.line as usize))), "lines 4 to {}: {}", line - 1, e);
    }
}

/// Loads a text that must be refused, within the bound, with a located error.
fn refused(text: &str) -> stack::StackError {
    let started = Instant::now();
    let e = stack::parse(text, Path::new("stack.yaml")).expect_err("a hostile stack was accepted");
    assert!(started.elapsed() < BOUND, "took {:?}", started.elapsed());
    assert!(
        !e.problems.is_empty() && e.problems.iter().all(|p| p.line > 0),
        "{e}"
    );
    e
}
