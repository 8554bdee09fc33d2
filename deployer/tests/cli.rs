//! The real binary's command line: bad stack files, usage errors and exit codes. None of these
//! may send a single AWS request; a recording proxy stands where AWS would be, and counts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};

use support::deployer_at;
use testkit::Recorder;

/// A proxy whose upstream is a closed port: anything that reached it would be recorded (and fail).
fn tripwire() -> Recorder {
    Recorder::start("http://127.0.0.1:9")
}

fn bad_stacks() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/bad-stacks");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// `# expect: KEY @ LINE` on the first line of each corpus file.
fn expectation(file: &Path) -> (String, u32) {
    let text = std::fs::read_to_string(file).unwrap();
    let first = text.lines().next().unwrap();
    let (key, line) = first
        .strip_prefix("# expect: ")
        .unwrap()
        .rsplit_once(" @ ")
        .unwrap();
    (key.to_string(), line.parse().unwrap())
}

#[test]
fn every_bad_stack_is_refused_with_its_key_and_line_and_no_aws_call() {
    let files = bad_stacks();
    assert!(files.len() >= 25, "the corpus has {} files", files.len());
    let proxy = tripwire();
    for file in &files {
        let name = file.file_name().unwrap().to_str().unwrap();
        let (key, line) = expectation(file);
        for verb in [&["diff"][..], &["up"], &["down"], &["package"]] {
            let mut args = vec!["--stack", file.to_str().unwrap()];
            args.extend_from_slice(verb);
            let (code, stdout, stderr) =
                deployer_at(file.parent().unwrap(), proxy.endpoint(), &args);
            assert_eq!(code, 1, "{name} {verb:?}: exit {code}\n{stderr}");
            assert!(
                stdout.is_empty(),
                "{name}: stdout must stay clean: {stdout}"
            );
            assert!(
                stderr.contains("nothing was sent to AWS"),
                "{name}: {stderr}"
            );
            assert!(
                stderr.contains(&format!(": {key}: ")),
                "{name}: expected key {key}:\n{stderr}"
            );
            assert!(
                line > 0 && stderr.contains(&format!("{}:{line}:", file.display())),
                "{name}: expected line {line}:\n{stderr}"
            );
        }
    }
    assert_eq!(
        proxy.calls(),
        vec![],
        "a bad stack file caused AWS requests"
    );
}

#[test]
fn a_typo_gets_a_did_you_mean() {
    let file = bad_stacks()
        .into_iter()
        .find(|f| f.ends_with("unknown-function-key.yaml"))
        .unwrap();
    let proxy = tripwire();
    let (_, _, stderr) = deployer_at(
        file.parent().unwrap(),
        proxy.endpoint(),
        &["--stack", file.to_str().unwrap(), "diff"],
    );
    assert!(
        stderr.contains("hint: did you mean `memory_mb`?"),
        "{stderr}"
    );
}

#[test]
fn a_missing_stack_file_says_how_to_point_at_one() {
    let dir = tempfile::tempdir().unwrap();
    let proxy = tripwire();
    let (code, _, stderr) = deployer_at(dir.path(), proxy.endpoint(), &["diff"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("cannot read the stack file stack.yaml"),
        "{stderr}"
    );
    assert!(stderr.contains("--stack PATH"), "{stderr}");
    assert_eq!(proxy.calls(), vec![]);
}

#[test]
fn usage_errors_exit_1_never_the_drift_code() {
    let dir = tempfile::tempdir().unwrap();
    let proxy = tripwire();
    for args in [
        &["frobnicate"][..],
        &["diff", "--no-such-flag"],
        &["--output", "yaml", "diff"],
        &[],
    ] {
        let (code, _, stderr) = deployer_at(dir.path(), proxy.endpoint(), args);
        assert_eq!(code, 1, "{args:?}: {stderr}");
    }
    let (code, stdout, _) = deployer_at(dir.path(), proxy.endpoint(), &["--help"]);
    assert_eq!(code, 0);
    for verb in ["package", "up", "diff", "down"] {
        assert!(stdout.contains(verb), "--help lists {verb}:\n{stdout}");
    }
}

/// A directory with the usual stack.yaml and a valid function zip (of /bin/true).
fn stack_with_zip() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("stack.yaml"), support::STACK).unwrap();
    let zip = dir.path().join("f.zip");
    let binary = std::fs::read("/bin/true").unwrap();
    std::fs::write(&zip, deployer::package::zip_bootstrap(&binary).unwrap()).unwrap();
    (dir, zip)
}

#[test]
fn an_unreachable_endpoint_is_an_error_not_drift() {
    let (dir, zip) = stack_with_zip();
    let (code, stdout, stderr) = deployer_at(
        dir.path(),
        "http://127.0.0.1:9",
        &["diff", "--zip", zip.to_str().unwrap()],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("cannot identify the AWS account"),
        "{stderr}"
    );
}

#[test]
fn a_zip_without_bootstrap_is_refused_before_any_call() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("stack.yaml"), support::STACK).unwrap();
    let zip = dir.path().join("f.zip");
    std::fs::write(&zip, b"not a zip").unwrap();
    let proxy = tripwire();
    let (code, _, stderr) = deployer_at(
        dir.path(),
        proxy.endpoint(),
        &["up", "--zip", zip.to_str().unwrap()],
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("is not a zip file"), "{stderr}");
    assert_eq!(proxy.calls(), vec![]);
}

#[test]
fn missing_credentials_are_an_error_not_drift() {
    let (dir, zip) = stack_with_zip();
    let proxy = tripwire();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_deployer"))
        .current_dir(dir.path())
        .args(["diff", "--zip", zip.to_str().unwrap()])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("AWS_ENDPOINT_URL", proxy.endpoint())
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("check your credentials"), "{stderr}");
    assert!(out.stdout.is_empty());
}

/// Every verb and every long flag (each verb's and the global ones) the CLI defines, walked
/// from its own definition: `(verb, word, is a flag)`.
fn every_verb_and_flag() -> Vec<(String, String, bool)> {
    use clap::CommandFactory as _;
    let cli = deployer::cli::Cli::command();
    let flags = |verb: &str, c: &clap::Command| -> Vec<(String, String, bool)> {
        c.get_arguments()
            .filter(|a| !a.is_hide_set())
            .filter_map(|a| a.get_long())
            .map(|long| (verb.to_string(), long.to_string(), true))
            .collect()
    };
    let mut all = flags("deployer", &cli);
    for verb in cli.get_subcommands().filter(|v| !v.is_hide_set()) {
        all.push((verb.get_name().into(), verb.get_name().into(), false));
        all.extend(flags(verb.get_name(), verb));
    }
    assert!(all.len() > 30, "the walk found {} words", all.len());
    all
}

#[test]
fn completions_cover_every_verb_and_flag_for_each_shell() {
    let proxy = tripwire();
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let (code, stdout, stderr) =
            deployer_at(dir.path(), proxy.endpoint(), &["completions", shell]);
        assert_eq!(code, 0, "{shell}: {stderr}");
        let missing: Vec<String> = every_verb_and_flag()
            .into_iter()
            .filter(|(_, word, flag)| {
                let written = match (*flag, shell) {
                    (false, _) => word.clone(),
                    (true, "fish") => format!("-l {word}"),
                    (true, _) => format!("--{word}"),
                };
                !stdout.contains(&written)
            })
            .map(|(verb, word, _)| format!("{verb}: {word}"))
            .collect();
        assert!(missing.is_empty(), "{shell}: not completed: {missing:?}");
        if shell == "bash" {
            let script = dir.path().join("deployer.bash");
            std::fs::write(&script, &stdout).unwrap();
            let check = std::process::Command::new("bash")
                .arg("-n")
                .arg(&script)
                .output()
                .unwrap();
            assert!(
                check.status.success(),
                "{}",
                String::from_utf8_lossy(&check.stderr)
            );
        }
    }
    assert_eq!(proxy.calls(), vec![], "completions talk to no AWS service");
}
