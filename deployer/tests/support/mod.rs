//! The emulator fixture for the deployer's tests: a moto server, a recording proxy in front of
//! it, a temporary directory with a `stack.yaml`, two small function zips, and a way to run the
//! real `deployer` binary against all of it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use deployer::aws::Clients;
use testkit::{Call, Moto, Recorder};

/// The stack most tests deploy: everything explicit, as a user would write it.
pub const STACK: &str = "\
name: vc
region: us-east-1
stage: prod
table:
  point_in_time_recovery: true
  deletion_protection: true
function:
  memory_mb: 128
  timeout_s: 3
  log_retention_days: 14
api:
  routes: [GET /counter, GET /health]
  cors_origins: [\"https://example.com\"]
  throttle: { rate: 10, burst: 20 }
tags: { project: cloud-resume }
";

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The AWS requests it sent, in order.
    pub calls: Vec<Call>,
}

impl Run {
    pub fn writes(&self) -> Vec<String> {
        Recorder::writes(&self.calls)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "exit {}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }
}

pub struct Fixture {
    pub moto: Moto,
    pub proxy: Recorder,
    pub dir: tempfile::TempDir,
    /// A zip of /bin/true and one of /bin/false: two small, valid, different function codes.
    pub zip_v1: PathBuf,
    pub zip_v2: PathBuf,
}

impl Fixture {
    pub fn new(stack: &str) -> Fixture {
        let moto = Moto::start();
        let proxy = Recorder::start(moto.endpoint());
        let dir = tempfile::tempdir().unwrap();
        let zip = |binary: &str, name: &str| {
            let bytes = std::fs::read(binary).unwrap();
            let path = dir.path().join(name);
            std::fs::write(&path, deployer::package::zip_bootstrap(&bytes).unwrap()).unwrap();
            path
        };
        let zip_v1 = zip("/bin/true", "v1.zip");
        let zip_v2 = zip("/bin/false", "v2.zip");
        let fixture = Fixture {
            moto,
            proxy,
            dir,
            zip_v1,
            zip_v2,
        };
        fixture.write_stack(stack);
        fixture
    }

    pub fn write_stack(&self, stack: &str) {
        std::fs::write(self.dir.path().join("stack.yaml"), stack).unwrap();
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `deployer ARGS` in the fixture's directory, through the recording proxy.
    pub fn run(&self, args: &[&str]) -> Run {
        self.proxy.take();
        let (code, stdout, stderr) = deployer_at(self.path(), self.proxy.endpoint(), args);
        Run {
            code,
            stdout,
            stderr,
            calls: self.proxy.take(),
        }
    }

    pub fn up(&self, zip: &Path) -> Run {
        self.run(&["up", "--zip", zip.to_str().unwrap()])
    }

    /// SDK clients aimed straight at moto, for reading back and for changing things behind the
    /// deployer's back.
    pub async fn clients(&self) -> Clients {
        Clients::from_config(&self.moto.loader().load().await).unwrap()
    }
}

/// The real binary, in `dir`, against `endpoint`, with dummy credentials and nothing from the
/// machine's own AWS configuration.
pub fn deployer_command(dir: &Path, endpoint: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_deployer"));
    for (key, _) in std::env::vars() {
        if key.starts_with("AWS_") {
            command.env_remove(key);
        }
    }
    command
        .current_dir(dir)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("CI", "true")
        .env("NO_COLOR", "1");
    command
}

/// Runs the real binary (see [`deployer_command`]) and returns its exit code and output.
pub fn deployer_at(dir: &Path, endpoint: &str, args: &[&str]) -> (i32, String, String) {
    let out = deployer_command(dir, endpoint).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
