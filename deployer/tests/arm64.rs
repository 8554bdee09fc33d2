//! Graviton from this x86_64 host, with nothing installed by hand (`make setup` installs the
//! Rust target, Debian's cross toolchain and qemu-user): `package` cross-builds an aarch64
//! `bootstrap` within al2023's glibc, `invoke --local` runs it under user-mode emulation, and
//! `up` switches a live function between the architectures in one update each way.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Read;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

use deployer::stack::Architecture;
use support::{deployer_at, real_zip, Fixture, STACK};

fn arm64(stack: &str) -> String {
    stack.replace("function:\n", "function:\n  architecture: arm64\n")
}

/// `deployer package` of the function for arm64, as a user runs it: the zip's path, once per
/// test binary. The stack sits inside the workspace, where cargo finds the function's package.
fn arm64_zip() -> PathBuf {
    static ZIP: OnceLock<PathBuf> = OnceLock::new();
    ZIP.get_or_init(|| {
        let dir = testkit::workspace_root().join("target/tests/arm64");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("stack.yaml"), arm64(STACK)).unwrap();
        let tripwire = testkit::Recorder::start("http://127.0.0.1:9");
        let started = Instant::now();
        let (code, stdout, stderr) =
            deployer_at(&dir, tripwire.endpoint(), &["--output", "json", "package"]);
        assert_eq!(code, 0, "the arm64 package failed:\n{stderr}");
        let out: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let zip = PathBuf::from(out["path"].as_str().unwrap());
        eprintln!(
            "arm64: package in {:.1} s, zip {} bytes",
            started.elapsed().as_secs_f64(),
            std::fs::metadata(&zip).unwrap().len()
        );
        assert_eq!(tripwire.calls(), vec![], "package talks to no AWS service");
        zip
    })
    .clone()
}

fn bootstrap_of(zip: &PathBuf) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    let mut binary = Vec::new();
    archive
        .by_name("bootstrap")
        .unwrap()
        .read_to_end(&mut binary)
        .unwrap();
    binary
}

#[test]
fn an_arm64_package_is_an_aarch64_elf_within_al2023s_glibc_and_deterministic() {
    let zip = arm64_zip();
    let binary = bootstrap_of(&zip);
    assert_eq!(
        deployer::package::machine(&binary).unwrap(),
        Some(Architecture::Arm64)
    );
    let glibc = deployer::package::required_glibc(&binary).unwrap();
    assert!(
        glibc.is_some_and(|v| v <= deployer::package::AL2023_GLIBC),
        "{glibc:?}"
    );
    // The same binary zips to the same bytes, and the x86_64 zip is another file.
    let again = deployer::package::zip_bootstrap(&binary).unwrap();
    assert_eq!(std::fs::read(&zip).unwrap(), again);
    assert_ne!(zip, real_zip());
}

#[test]
fn a_zip_of_the_other_architecture_is_refused_before_any_call() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("stack.yaml"), arm64(STACK)).unwrap();
    let tripwire = testkit::Recorder::start("http://127.0.0.1:9");
    let x86 = real_zip();
    let (code, _, stderr) = deployer_at(
        dir.path(),
        tripwire.endpoint(),
        &["up", "--zip", x86.to_str().unwrap()],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("built for x86_64 but function.architecture is arm64"),
        "{stderr}"
    );
    assert_eq!(tripwire.calls(), vec![]);
}

#[test]
fn invoke_local_passes_every_check_on_the_arm64_bootstrap_under_emulation() {
    let f = Fixture::new(&arm64(STACK));
    let zip = arm64_zip();
    f.up(&zip).ok();
    let run = support::invoke_local(&f, &zip).ok();
    let report = run.json();
    assert_eq!(report["passed"], true, "{report:#}");
    assert_eq!(report["checks"].as_array().unwrap().len(), 6, "{report:#}");
    assert_eq!(
        run.stderr.matches("user-mode emulation").count(),
        1,
        "said once:\n{}",
        run.stderr
    );
}

#[test]
fn up_switches_the_architecture_in_one_update_each_way() {
    let f = Fixture::new(STACK);
    let (x86, arm) = (real_zip(), arm64_zip());
    f.up(&x86).ok();
    // The code, then the release of a version with it.
    let update = vec![
        "lambda PUT /2015-03-31/functions/vc-prod/code".to_string(),
        "lambda POST /2015-03-31/functions/vc-prod/versions".to_string(),
        "lambda PUT /2015-03-31/functions/vc-prod/aliases/live".to_string(),
    ];

    f.write_stack(&arm64(STACK));
    assert_eq!(
        f.up(&arm).ok().writes_past_updates(),
        update,
        "x86_64 → arm64"
    );
    assert_eq!(
        f.up(&arm).ok().writes(),
        Vec::<String>::new(),
        "arm64, again"
    );
    assert_eq!(f.run(&["diff", "--zip", arm.to_str().unwrap()]).code, 0);

    f.write_stack(STACK);
    assert_eq!(
        f.up(&x86).ok().writes_past_updates(),
        update,
        "arm64 → x86_64"
    );
    assert_eq!(
        f.up(&x86).ok().writes(),
        Vec::<String>::new(),
        "x86_64, again"
    );
    assert_eq!(f.run(&["diff", "--zip", x86.to_str().unwrap()]).code, 0);
}
