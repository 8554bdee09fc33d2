//! The emulator fixture for the deployer's tests: a moto server, a recording proxy in front of
//! it, a temporary directory with a `stack.yaml`, two codes of the real function and one that
//! exits at init, and a way to run the real `deployer` binary against all of it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod browser;

use std::path::{Path, PathBuf};
use std::process::Command;

use deployer::aws::Clients;
use deployer::local::runtime_api::Spec;
use testkit::{Call, Moto, Realism, Recorder};

/// The real function's `bootstrap`, built in release as `package` builds it, once per test
/// binary (cargo's no-op build takes the workspace's lock, which parallel tests would queue on).
pub fn real_bootstrap() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            deployer::package::build(
                "function",
                deployer::stack::Architecture::X86_64,
                &testkit::workspace_root(),
            )
            .unwrap()
            .executable
        })
        .clone()
}

/// The real `bootstrap` under the local Runtime API, with Lambda's variables, dummy credentials
/// and `env`, killed after `timeout` as Lambda would.
pub fn rust_spec(env: &[(&str, &str)], timeout: std::time::Duration) -> Spec {
    let mut vars: Vec<(String, String)> = vec![
        ("AWS_LAMBDA_FUNCTION_NAME".into(), "vc-prod".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), "128".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into()),
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
    ];
    vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Spec {
        program: real_bootstrap(),
        args: vec![],
        cwd: None,
        env: vars,
        timeout,
        function_arn: "arn:aws:lambda:us-east-1:123456789012:function:vc-prod".into(),
        logs: lambda_local::Logs::Discard,
    }
}

/// An API Gateway REST event for `path`, from the function's own fixture.
pub fn rest_event(path: &str) -> bytes::Bytes {
    let text = std::fs::read_to_string(
        testkit::workspace_root().join("function/tests/data/rest-get-health.json"),
    )
    .unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["path"] = serde_json::json!(path);
    v["resource"] = serde_json::json!(path);
    bytes::Bytes::from(v.to_string())
}

/// `invoke --local --output json` of the bootstrap in `zip`, with the fixture's stack.
pub fn invoke_local(f: &Fixture, zip: &Path) -> Run {
    f.run(&[
        "--output",
        "json",
        "invoke",
        "--local",
        "--zip",
        zip.to_str().unwrap(),
    ])
}

/// The real function, built in release as `package` builds it, zipped once per test binary.
pub fn real_zip() -> PathBuf {
    static ZIP: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ZIP.get_or_init(|| {
        let binary = real_bootstrap();
        let zip = deployer::package::zip_bootstrap(&std::fs::read(binary).unwrap()).unwrap();
        let path = std::env::temp_dir().join(format!(
            "real-bootstrap-{}-{}.zip",
            std::process::id(),
            env!("CARGO_CRATE_NAME")
        ));
        std::fs::write(&path, zip).unwrap();
        path
    })
    .clone()
}

/// The stack most tests deploy: everything explicit, as a user would write it.
/// moto's account.
pub const ACCOUNT: &str = "123456789012";

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
    /// The AWS requests the deployed function's processes sent meanwhile (through the emulated
    /// request path), in order.
    pub function_calls: Vec<Call>,
}

impl Run {
    /// The writes to the stack's resources. The deploy lease's (the deployer's only item
    /// calls, the one item its policy reaches) are [`Run::lease_writes`].
    pub fn writes(&self) -> Vec<String> {
        Call::writes(&self.stack_calls())
    }

    /// The writes AWS accepted: what changed, without attempts refused for now.
    pub fn applied(&self) -> Vec<String> {
        Call::applied(&self.stack_calls())
    }

    /// The writes AWS accepted, after checking that each refused one was a `PublishVersion`
    /// answered with a conflict: a release sends it again while the code's update is in
    /// progress, and that is the only refusal a run may meet.
    #[track_caller]
    pub fn writes_past_updates(&self) -> Vec<String> {
        let calls = self.stack_calls();
        for c in calls.iter().filter(|c| c.write && !c.succeeded()) {
            assert!(
                c.operation.ends_with("/versions") && c.status == 409,
                "a refused write other than a publish during an update: {c}"
            );
        }
        Call::applied(&calls)
    }

    /// The deploy lease's writes: taking, renewing and releasing it.
    pub fn lease_writes(&self) -> Vec<String> {
        let lease: Vec<Call> = self.calls.iter().filter(|c| is_lease(c)).cloned().collect();
        Call::writes(&lease)
    }

    fn stack_calls(&self) -> Vec<Call> {
        self.calls
            .iter()
            .filter(|c| !is_lease(c))
            .cloned()
            .collect()
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

/// Whether `c` is one of the deployer's item calls: on the deploy lease's item, or the read
/// of the count that adoption shows. It sends no other.
pub fn is_lease(c: &Call) -> bool {
    c.caller.is_none() && c.service == "dynamodb" && c.operation.ends_with("Item")
}

/// The three zips of every fixture, made once per test binary (zipping the real function takes
/// a while): the real function, the same with a few bytes more, and /bin/true.
fn zips() -> &'static [Vec<u8>; 3] {
    static ZIPS: std::sync::OnceLock<[Vec<u8>; 3]> = std::sync::OnceLock::new();
    ZIPS.get_or_init(|| {
        let real = std::fs::read(real_bootstrap()).unwrap();
        let zip = |bytes: &[u8]| deployer::package::zip_bootstrap(bytes).unwrap();
        [
            zip(&real),
            zip(&[real.as_slice(), b"\0v2"].concat()),
            zip(&std::fs::read("/bin/true").unwrap()),
        ]
    })
}

/// Every fixture's proxy reproduces real AWS's documented behaviours (see [`Realism`]) unless a
/// test switches them off: moto alone is kinder than AWS.
pub struct Fixture {
    pub moto: Moto,
    pub proxy: Recorder,
    pub dir: tempfile::TempDir,
    /// Two codes of the real function that differ (v2's `bootstrap` carries a few bytes more
    /// at its end, which an ELF never reads): each passes the probe `up` makes before traffic.
    pub zip_v1: PathBuf,
    pub zip_v2: PathBuf,
    /// A zip of /bin/true: a valid executable that exits at init, never reaching the Runtime
    /// API, as a broken build does.
    pub zip_exits: PathBuf,
}

impl Fixture {
    pub fn new(stack: &str) -> Fixture {
        Fixture::with(stack, Some(Realism::fast()))
    }

    /// A fixture whose proxy forwards to moto as it is (`None`), or with `realism`.
    pub fn with(stack: &str, realism: Option<Realism>) -> Fixture {
        let moto = Moto::start();
        let proxy = Recorder::start(moto.endpoint());
        proxy.realism(realism);
        let dir = tempfile::tempdir().unwrap();
        let zip = |bytes: &[u8], name: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        };
        let [v1, v2, exits] = zips();
        let zip_v1 = zip(v1, "v1.zip");
        let zip_v2 = zip(v2, "v2.zip");
        let zip_exits = zip(exits, "exits.zip");
        let fixture = Fixture {
            moto,
            proxy,
            dir,
            zip_v1,
            zip_v2,
            zip_exits,
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
        let (function_calls, calls) = self
            .proxy
            .take()
            .into_iter()
            .partition(|c| c.caller.is_some());
        Run {
            code,
            stdout,
            stderr,
            calls,
            function_calls,
        }
    }

    /// `deployer policy` (`--read-only`: the readers') for the fixture's stack.yaml, as JSON.
    pub fn printed_policy(&self, read_only: bool) -> serde_json::Value {
        self.proxy.realism(Some(Realism::fast()));
        let mut args = vec!["policy"];
        if read_only {
            args.push("--read-only");
        }
        let run = self.run(&args).ok();
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}:\n{}", run.stdout))
    }

    /// From now on, every request through the proxy is held to `document` as IAM would hold the
    /// deployer's credentials (with [`Realism::fast`]); what the layer remembered starts afresh.
    pub fn enforce(&self, document: &serde_json::Value) {
        self.proxy
            .realism(Some(Realism::fast().enforce(testkit::iam::Policy {
                document: document.clone(),
                region: "us-east-1".into(),
                account: ACCOUNT.into(),
            })));
    }

    /// Holds every request from now on to the policy `deployer policy` prints for the stack.
    pub fn enforce_printed_policy(&self) {
        let printed = self.printed_policy(false);
        self.enforce(&printed);
    }

    pub fn up(&self, zip: &Path) -> Run {
        self.run(&["up", "--zip", zip.to_str().unwrap()])
    }

    /// Checks that stack `stack` (deployed from `zip_v1`) has converged: `diff` exits 0, and
    /// there is exactly one of each resource.
    pub async fn assert_deployed(&self, stack: &str, context: &str) {
        self.assert_deployed_zip(stack, &self.zip_v1, context).await;
    }

    /// [`Fixture::assert_deployed`], deployed from `zip`.
    pub async fn assert_deployed_zip(&self, stack: &str, zip: &Path, context: &str) {
        let diff = self.run(&["diff", "--zip", zip.to_str().unwrap()]);
        assert_eq!(
            diff.code, 0,
            "{context}: drift after up:\n{}{}",
            diff.stdout, diff.stderr
        );
        assert_eq!(
            Census::take(&self.clients().await, stack).await,
            Census::DEPLOYED,
            "{context}: not exactly one of each"
        );
    }

    /// SDK clients aimed straight at moto, for reading back and for changing things behind the
    /// deployer's back. Lambda's go through the proxy, as the deployer's do: its data plane keeps
    /// what moto does not (each alias's resource policy, its revision, the versions deleted).
    /// They sign as the operator, whom a policy enforced on the deployer does not hold.
    pub async fn clients(&self) -> Clients {
        let mut clients = Clients::from_config(&self.moto.loader().load().await).unwrap();
        let lambda = testkit::operator_loader().endpoint_url(self.proxy.endpoint());
        clients.lambda = aws_sdk_lambda::Client::new(&lambda.load().await);
        clients
    }
}

/// Edits the counter's inline policy of stack `vc` (stage `prod`) by hand, as a person in the
/// console would: `edit` gets the document and returns the new one, which must differ.
pub async fn edit_counter_policy(c: &Clients, edit: impl Fn(&str) -> String) {
    let policy = c
        .iam
        .get_role_policy()
        .role_name("vc-prod-role")
        .policy_name("vc-counter-access")
        .send()
        .await
        .unwrap();
    let decoded =
        percent_encoding::percent_decode_str(policy.policy_document()).decode_utf8_lossy();
    let edited = edit(&decoded);
    assert_ne!(edited, decoded, "the edit changed nothing");
    c.iam
        .put_role_policy()
        .role_name("vc-prod-role")
        .policy_name("vc-counter-access")
        .policy_document(edited)
        .send()
        .await
        .unwrap();
}

/// The count of stack `vc`'s counter item (stage `prod`), read straight from moto.
pub async fn count(c: &Clients) -> u64 {
    let item = c
        .dynamodb
        .get_item()
        .table_name("vc-prod")
        .key(
            "id",
            aws_sdk_dynamodb::types::AttributeValue::S("main_counter".into()),
        )
        .send()
        .await
        .unwrap();
    item.item()
        .and_then(|i| i.get("visit_count"))
        .and_then(|v| v.as_n().ok())
        .map_or(0, |n| n.parse().unwrap())
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

/// How many of each resource of one stack (stage `prod`) exist, counted the way a person
/// auditing the account would: REST APIs by their stack tags, everything else by derived name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Census {
    pub apis: usize,
    pub roles: usize,
    pub functions: usize,
    pub statements: usize,
    pub log_groups: usize,
    pub tables: usize,
}

impl Census {
    /// A deployed stack: exactly one of everything.
    pub const DEPLOYED: Census = Census {
        apis: 1,
        roles: 1,
        functions: 1,
        statements: 1,
        log_groups: 1,
        tables: 1,
    };
    /// After `down --delete-table`: nothing at all.
    pub const GONE: Census = Census {
        apis: 0,
        roles: 0,
        functions: 0,
        statements: 0,
        log_groups: 0,
        tables: 0,
    };
    /// After `down`: only the table, which holds the data.
    pub const DOWN: Census = Census {
        apis: 0,
        roles: 0,
        functions: 0,
        statements: 0,
        log_groups: 0,
        tables: 1,
    };

    /// The resources of stack `stack`, stage `prod`.
    pub async fn take(c: &Clients, stack: &str) -> Census {
        Census::of_stage(c, stack, "prod").await
    }

    /// The resources of stack `stack`, stage `stage`, by their derived names.
    pub async fn of_stage(c: &Clients, stack: &str, stage: &str) -> Census {
        let prefix = format!("{stack}-{stage}");
        let apis = c
            .apigateway
            .get_rest_apis()
            .limit(500)
            .send()
            .await
            .unwrap();
        let apis = apis
            .items()
            .iter()
            .filter(|a| {
                let tags = a.tags().cloned().unwrap_or_default();
                tags.get("deployer:stack").map(String::as_str) == Some(stack)
                    && tags.get("deployer:stage").map(String::as_str) == Some(stage)
            })
            .count();
        // Every page of each listing: a sweep leaves more tables behind than one page holds.
        let roles: Vec<_> = c
            .iam
            .list_roles()
            .into_paginator()
            .items()
            .send()
            .collect()
            .await;
        let roles = roles
            .into_iter()
            .map(Result::unwrap)
            .filter(|r| r.role_name().starts_with(&prefix))
            .count();
        let functions: Vec<_> = c
            .lambda
            .list_functions()
            .into_paginator()
            .items()
            .send()
            .collect()
            .await;
        let functions = functions
            .into_iter()
            .map(Result::unwrap)
            .filter(|f| f.function_name() == Some(prefix.as_str()))
            .count();
        // No function, or a function with no policy, is "0 statements"; any other failure of
        // the read fails the test, so that it never passes for a clean `down`. The statement
        // lives on the `live` alias; one on the function itself counts too.
        let mut statements = 0;
        for qualifier in [None, Some("live")] {
            let read = c
                .lambda
                .get_policy()
                .function_name(&prefix)
                .set_qualifier(qualifier.map(str::to_string))
                .send()
                .await;
            statements += match read {
                Ok(p) => deployer::resources::permission::parse(p.policy().unwrap_or("{}")).len(),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_resource_not_found_exception()) =>
                {
                    0
                }
                Err(e) => panic!(
                    "GetPolicy {prefix} {qualifier:?}: {}",
                    aws_sdk_lambda::error::DisplayErrorContext(&e)
                ),
            };
        }
        let groups = c
            .logs
            .describe_log_groups()
            .log_group_name_prefix(format!("/aws/lambda/{prefix}"))
            .send()
            .await
            .unwrap();
        let tables: Vec<_> = c
            .dynamodb
            .list_tables()
            .into_paginator()
            .items()
            .send()
            .collect()
            .await;
        let tables = tables
            .into_iter()
            .map(Result::unwrap)
            .filter(|t| *t == prefix)
            .count();
        Census {
            apis,
            roles,
            functions,
            statements,
            log_groups: groups.log_groups().len(),
            tables,
        }
    }
}

/// A write's kind, as runs compare: its service and its operation, the ids in it (and a stack's
/// name that holds a digit) made generic.
pub fn kind_of(call: &Call) -> (String, String) {
    (
        call.service.clone(),
        testkit::faults::generic(&call.operation),
    )
}

/// The kinds of write that `calls` made and AWS accepted (a refusal changes nothing), in order,
/// each once.
pub fn write_kinds(calls: &[Call]) -> Vec<(String, String)> {
    let mut kinds = Vec::new();
    for write in calls.iter().filter(|c| c.write && c.succeeded()) {
        let kind = kind_of(write);
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    kinds
}
