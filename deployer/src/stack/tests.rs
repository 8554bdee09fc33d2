//! The stack's validation, on small files: defaults, located problems, hints, and the routes
//! the function's contract allows.

use std::path::Path;

use super::*;

fn ok(text: &str) -> Stack {
    match parse(text, Path::new("stack.yaml")) {
        Ok(stack) => stack,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn the_smallest_stack_gets_every_default() {
    let stack = ok("name: visitor-counter\n");
    assert_eq!(stack.stage, "prod");
    assert_eq!(stack.table.name, "visitor-counter-prod");
    assert!(stack.table.point_in_time_recovery && stack.table.deletion_protection);
    assert_eq!(stack.function.memory_mb, 128);
    assert_eq!(stack.function.timeout_s, 3);
    assert_eq!(stack.function.log_retention_days, 14);
    assert_eq!(stack.function.architecture, Architecture::X86_64);
    let routes: Vec<String> = stack.api.routes.iter().map(Route::to_string).collect();
    assert_eq!(routes, ["GET /counter", "GET /count", "GET /health"]);
    assert!(!stack.function.count_bots);
    assert_eq!(stack.table.key, "id");
    assert_eq!(
        stack.api.throttle,
        Throttle {
            rate: 10.0,
            burst: 20
        }
    );
}

#[test]
fn a_typo_in_a_key_suggests_the_key() {
    let e = parse(
        "name: a\nfunction:\n  memroy_mb: 256\n",
        Path::new("stack.yaml"),
    )
    .unwrap_err();
    let p = &e.problems[0];
    assert_eq!((p.line, p.column), (3, 3));
    assert_eq!(p.key, "function.memroy_mb");
    assert_eq!(p.hint.as_deref(), Some("did you mean `memory_mb`?"));
}

#[test]
fn every_problem_is_reported_at_once_in_line_order() {
    let e = parse(
        "name: a\nfunction:\n  timeout_s: 0\n  memory_mb: 64\n",
        Path::new("stack.yaml"),
    )
    .unwrap_err();
    let keys: Vec<_> = e
        .problems
        .iter()
        .map(|p| (p.line, p.key.as_str()))
        .collect();
    assert_eq!(keys, [(3, "function.timeout_s"), (4, "function.memory_mb")]);
}

#[test]
fn a_type_error_names_the_dotted_key() {
    let e = parse(
        "name: a\nfunction:\n  package: f\n  memory_mb: lots\n",
        Path::new("s.yaml"),
    )
    .unwrap_err();
    assert_eq!(
        (e.problems[0].key.as_str(), e.problems[0].line),
        ("function.memory_mb", 4)
    );
}

#[test]
fn a_route_the_function_does_not_serve_is_refused_with_the_served_routes() {
    let e = parse(
        "name: a\napi:\n  routes: [GET /visits, GET /health, POST /health]\n",
        Path::new("stack.yaml"),
    )
    .unwrap_err();
    let found: Vec<_> = e
        .problems
        .iter()
        .map(|p| (p.line, p.key.as_str(), p.message.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (
                3,
                "api.routes",
                "GET /visits is not a route the function serves"
            ),
            (
                3,
                "api.routes",
                "POST /health is not a route the function serves"
            ),
        ]
    );
    assert!(e.problems[0]
        .hint
        .as_deref()
        .unwrap_or("")
        .contains("GET /counter, POST /counter, GET /count, GET /health"));
}

#[test]
fn the_stage_can_be_overridden_and_names_follow_it() {
    let text = "name: vc\nstage: prod\n";
    let dev =
        parse_with(text, Path::new("stack.yaml"), Some("dev")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(dev.stage, "dev");
    assert_eq!(dev.table.name, "vc-dev");
}
