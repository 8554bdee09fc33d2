//! `package` for real: a release build of the function, zipped twice to the same bytes; and the
//! checks that keep a binary Lambda could not run from ever being uploaded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Read;
use std::path::Path;
use std::process::Command;

use support::deployer_at;
use testkit::Recorder;

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

#[test]
fn package_builds_the_function_into_the_same_zip_every_time() {
    let tripwire = Recorder::start("http://127.0.0.1:9");
    let run = |args: &[&str]| {
        let (code, stdout, stderr) = deployer_at(workspace(), tripwire.endpoint(), args);
        assert_eq!(code, 0, "{stderr}");
        serde_json::from_str::<serde_json::Value>(&stdout).unwrap()
    };
    let first = run(&["--output", "json", "package"]);
    let zip = std::fs::read(first["path"].as_str().unwrap()).unwrap();
    let second = run(&["--output", "json", "package"]);
    assert_eq!(
        first["sha256"], second["sha256"],
        "two builds of one binary must zip identically"
    );
    assert_eq!(first["sha256"], deployer::package::sha256_base64(&zip));
    assert!(
        zip.len() < 4 * 1024 * 1024,
        "the zip is {} bytes; the target is under 4 MB",
        zip.len()
    );

    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    assert_eq!(archive.len(), 1);
    let mut entry = archive.by_name("bootstrap").unwrap();
    assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
    let mut binary = Vec::new();
    entry.read_to_end(&mut binary).unwrap();
    let glibc = deployer::package::required_glibc(&binary).unwrap();
    assert!(
        glibc.is_some_and(|v| v <= deployer::package::AL2023_GLIBC),
        "{glibc:?}"
    );
    assert_eq!(tripwire.calls(), vec![], "package talks to no AWS service");
}

#[test]
fn a_binary_needing_a_newer_glibc_than_al2023_is_refused() {
    // arc4random arrived in GLIBC 2.36: a binary calling it cannot start on provided.al2023.
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("main.c");
    std::fs::write(
        &source,
        "#include <stdlib.h>\nint main(void) { return (int)(arc4random() & 1); }\n",
    )
    .unwrap();
    let binary = dir.path().join("bootstrap");
    let cc = Command::new("cc")
        .arg("-o")
        .arg(&binary)
        .arg(&source)
        .output();
    let cc = cc.unwrap_or_else(|e| panic!("this test needs a C compiler (`cc`): {e}; install gcc"));
    assert!(
        cc.status.success(),
        "cc failed: {}",
        String::from_utf8_lossy(&cc.stderr)
    );
    let elf = std::fs::read(&binary).unwrap();
    assert_eq!(
        deployer::package::required_glibc(&elf).unwrap(),
        Some((2, 36))
    );

    std::fs::write(dir.path().join("stack.yaml"), support::STACK).unwrap();
    let zip = dir.path().join("f.zip");
    std::fs::write(&zip, deployer::package::zip_bootstrap(&elf).unwrap()).unwrap();
    let tripwire = Recorder::start("http://127.0.0.1:9");
    let (code, _, stderr) = deployer_at(
        dir.path(),
        tripwire.endpoint(),
        &["up", "--zip", zip.to_str().unwrap()],
    );
    assert_eq!(code, 1);
    assert!(
        stderr.contains("needs GLIBC_2.36 but provided.al2023 has GLIBC_2.34"),
        "{stderr}"
    );
    assert!(stderr.contains("\"GLIBC_2.36 not found\""), "{stderr}");
    assert_eq!(tripwire.calls(), vec![]);
}

#[test]
fn arm64_without_its_rust_target_says_how_to_install_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("stack.yaml"),
        "name: vc\nfunction:\n  architecture: arm64\n",
    )
    .unwrap();
    // An empty rustup home has no targets at all, whatever this machine has installed.
    let rustup_home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_deployer"))
        .current_dir(dir.path())
        .arg("package")
        .env("RUSTUP_HOME", rustup_home.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("rustup target add aarch64-unknown-linux-gnu"),
        "{stderr}"
    );
}
