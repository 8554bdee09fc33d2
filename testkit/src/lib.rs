//! Test support shared by the workspace: a real moto server per test, started from the
//! project's `.venv` and stopped when the handle drops, and a recording proxy in front of it.
//!
//! A test that needs the emulator and cannot start it fails, with the command that fixes it;
//! it never skips.

pub mod dataplane;
pub mod faults;
pub mod iam;
pub mod policy;
pub mod proxy;
pub mod realism;
pub mod tls;
pub mod trigger;
pub mod visitors;
pub mod wire;

pub use faults::{Fault, Faults};
/// The signals the proxy's triggers send.
pub use libc::{SIGINT, SIGKILL, SIGTERM};
pub use proxy::{Call, On, Recorder, Trigger, When};
pub use realism::{Met, Realism};
pub use tls::TlsFront;
pub use wire::waves;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use aws_config::{BehaviorVersion, ConfigLoader, Region};
use aws_sdk_dynamodb::config::Credentials;

/// Prints a figure of a sweep (kill points, fault seeds, actions deleted) on the test process's
/// own stderr, past libtest's capture, so that `make test` and `make soak` show it for a test
/// that passes.
pub fn figure(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// How long moto may take to import and bind before the test gives up.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The workspace root (this crate lives one level below it).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// A running single-threaded moto server on a free loopback port.
pub struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    /// Starts moto, or panics (failing the test) with the command that sets the emulator up.
    pub fn start() -> Moto {
        match Moto::try_start() {
            Ok(moto) => moto,
            Err(why) => panic!(
                "the moto emulator could not start: {why}\n\
                 Set it up with `make setup` (or `scripts/emulator setup`), then run the tests again."
            ),
        }
    }

    fn try_start() -> Result<Moto, String> {
        let root = workspace_root();
        let python = root.join(".venv/bin/python");
        if !python.exists() {
            return Err(format!("{} does not exist", python.display()));
        }
        let log = std::env::temp_dir().join(format!("moto-{}.log", std::process::id()));
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
        let mut child = Command::new(&python)
            .arg(root.join("scripts/moto_server.py"))
            .args(["--port", "0", "--quiet", "--parent-pid"])
            .arg(std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
        let stdout = child.stdout.take().ok_or("moto's stdout is not piped")?;

        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let ready = rx.recv_timeout(START_TIMEOUT).unwrap_or_default();
        match ready.trim().strip_prefix("READY ") {
            Some(endpoint) => Ok(Moto {
                child,
                endpoint: endpoint.to_string(),
            }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!(
                    "it did not report READY within {START_TIMEOUT:?}; its log is {}",
                    log.display()
                ))
            }
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Empties every service (`POST /moto-api/reset`), as a fresh server would be, without the
    /// cost of starting one. Its configuration (Lambda without Docker) stays.
    pub fn reset(&self) -> Result<(), String> {
        use std::io::{Read, Write};
        let addr = self.endpoint.trim_start_matches("http://");
        let mut stream =
            std::net::TcpStream::connect(addr).map_err(|e| format!("connecting to moto: {e}"))?;
        write!(
            stream,
            "POST /moto-api/reset HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .map_err(|e| format!("resetting moto: {e}"))?;
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .map_err(|e| format!("resetting moto: {e}"))?;
        match answer.split_whitespace().nth(1) {
            Some("200") => Ok(()),
            _ => Err(format!(
                "moto refused the reset: {}",
                answer.lines().next().unwrap_or("")
            )),
        }
    }

    /// An SDK config loader aimed at this server, with dummy credentials and `us-east-1`.
    pub fn loader(&self) -> ConfigLoader {
        dummy_loader().endpoint_url(&self.endpoint)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Creates the counter's table as the deployer does (on-demand, partition key `id`, a string),
/// for tests and benchmarks that run the function without deploying.
pub async fn create_counter_table(
    db: &aws_sdk_dynamodb::Client,
    name: &str,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    counter_table(db, name)?.send().await?;
    Ok(())
}

/// The CreateTable of [`create_counter_table`], to send as it is or with more (tags).
pub fn counter_table(
    db: &aws_sdk_dynamodb::Client,
    name: &str,
) -> Result<
    aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder,
    aws_sdk_dynamodb::error::BuildError,
> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    Ok(db
        .create_table()
        .table_name(name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()?,
        )
        .billing_mode(BillingMode::PayPerRequest))
}

/// A loader with dummy credentials and a fixed region, and nothing read from the machine's
/// AWS configuration: tests never touch a real account.
pub fn dummy_loader() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "testing", "testing", None, None, "testkit",
        ))
}

/// The access key of the person at the console: what a test changes behind the deployer's back
/// is signed with it, and an enforced policy ([`Realism::enforce`]) holds the deployer's
/// credentials only, as IAM holds each principal to its own policies.
pub const OPERATOR_KEY: &str = "operator";

/// [`dummy_loader`], signing as the operator ([`OPERATOR_KEY`]).
pub fn operator_loader() -> ConfigLoader {
    dummy_loader().credentials_provider(Credentials::new(
        OPERATOR_KEY,
        "operator",
        None,
        None,
        "testkit",
    ))
}
