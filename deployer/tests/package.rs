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
fn a_binary_needing_a_newer_glibc_than_al2023_is_refused_on_either_machine() {
    // Prepared ELFs (tests/data/elf/README.md): arc4random arrived in GLIBC 2.36, so a binary
    // calling it cannot start on provided.al2023. Prepared, not built here, so that the test
    // means the same on any host, whatever its own glibc. The arm64 one is refused for its
    // GLIBC alone: its machine matches the stack's.
    let arm64 = support::STACK.replace("function:\n", "function:\n  architecture: arm64\n");
    for (fixture, stack) in [
        ("needs-glibc-2.36", support::STACK.to_string()),
        ("needs-glibc-2.36-aarch64", arm64),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let elf = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/elf")
                .join(fixture),
        )
        .unwrap();
        assert_eq!(
            deployer::package::required_glibc(&elf).unwrap(),
            Some((2, 36)),
            "{fixture}"
        );
        std::fs::write(dir.path().join("stack.yaml"), stack).unwrap();
        let zip = dir.path().join("f.zip");
        std::fs::write(&zip, deployer::package::zip_bootstrap(&elf).unwrap()).unwrap();
        let tripwire = Recorder::start("http://127.0.0.1:9");
        let (code, _, stderr) = deployer_at(
            dir.path(),
            tripwire.endpoint(),
            &["up", "--zip", zip.to_str().unwrap()],
        );
        assert_eq!(code, 1, "{fixture}: {stderr}");
        assert!(
            stderr.contains("needs GLIBC_2.36 but provided.al2023 has GLIBC_2.34"),
            "{fixture}: {stderr}"
        );
        assert!(stderr.contains("\"GLIBC_2.36 not found\""), "{stderr}");
        assert_eq!(tripwire.calls(), vec![], "{fixture}");
    }
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

/// A workspace whose `cargo` (through `CARGO`) is a script that logs each run and "builds" a
/// small real ELF, so that what makes `package` run cargo is seen without a release build.
struct FakeWorkspace {
    dir: tempfile::TempDir,
}

impl FakeWorkspace {
    fn new() -> FakeWorkspace {
        let w = FakeWorkspace {
            dir: tempfile::tempdir().unwrap(),
        };
        let root = w.dir.path();
        std::fs::write(root.join("stack.yaml"), "name: vc\n").unwrap();
        for file in [
            "Cargo.toml",
            "Cargo.lock",
            "function/Cargo.toml",
            "function/src/main.rs",
        ] {
            w.edit(file, "x", 60);
        }
        let source = root.join("main.c");
        std::fs::write(&source, "int main(void) { return 0; }\n").unwrap();
        let cc = Command::new("cc")
            .arg("-o")
            .arg(root.join("elf"))
            .arg(&source)
            .output()
            .unwrap_or_else(|e| panic!("this test needs a C compiler (`cc`): {e}; install gcc"));
        assert!(
            cc.status.success(),
            "{}",
            String::from_utf8_lossy(&cc.stderr)
        );
        let script = format!(
            "#!/bin/sh\necho \"$*\" >> {root}/cargo.log\nmkdir -p {root}/target/release\n\
             cp {root}/elf {root}/target/release/bootstrap\n\
             echo '{{\"reason\":\"compiler-artifact\",\"package_id\":\"path+file://{root}/function#0.1.0\",\
             \"manifest_path\":\"{root}/function/Cargo.toml\",\"target\":{{\"name\":\"bootstrap\",\"kind\":[\"bin\"]}},\
             \"executable\":\"{root}/target/release/bootstrap\",\"fresh\":false}}'\n",
            root = root.display()
        );
        std::fs::write(root.join("cargo"), script).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(root.join("cargo"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        w
    }

    /// Writes `file`, dated `seconds_ago`.
    fn edit(&self, file: &str, text: &str, seconds_ago: u64) {
        let path = self.dir.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        let when = std::time::SystemTime::now() - std::time::Duration::from_secs(seconds_ago);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(when))
            .unwrap();
    }

    /// `deployer package`, with extra environment; returns the zip's sha256.
    fn package(&self, env: &[(&str, &str)]) -> String {
        let tripwire = Recorder::start("http://127.0.0.1:9");
        let mut command = support::deployer_command(self.dir.path(), tripwire.endpoint());
        command
            .args(["--output", "json", "package"])
            .env("CARGO", self.dir.path().join("cargo"));
        for (k, v) in env {
            command.env(k, v);
        }
        let out = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        json["sha256"].as_str().unwrap().to_string()
    }

    fn cargo_runs(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("cargo.log"))
            .unwrap_or_default()
            .lines()
            .count()
    }
}

#[test]
fn cargo_runs_only_when_something_the_binary_is_built_from_changed() {
    let w = FakeWorkspace::new();
    let first = w.package(&[]);
    assert_eq!(w.cargo_runs(), 1);
    assert_eq!(w.package(&[]), first, "the same binary, the same zip");
    assert_eq!(w.cargo_runs(), 1, "nothing changed: cargo is not run");

    w.edit("function/src/main.rs", "edited", 30);
    w.package(&[]);
    assert_eq!(w.cargo_runs(), 2, "a source edited");
    w.package(&[]);
    assert_eq!(w.cargo_runs(), 2);

    w.edit("function/src/new.rs", "x", 20);
    w.package(&[]);
    assert_eq!(w.cargo_runs(), 3, "a new source file");

    w.package(&[("RUSTFLAGS", "-Copt-level=1")]);
    assert_eq!(w.cargo_runs(), 4, "a flag that changes the build");

    w.edit("Cargo.lock", "a dependency moved", 10);
    w.package(&[]);
    assert_eq!(w.cargo_runs(), 5, "the lock file");
    w.package(&[]);
    assert_eq!(w.cargo_runs(), 5);
}
