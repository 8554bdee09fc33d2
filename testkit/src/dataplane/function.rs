//! Lambda's `Invoke`, run for real: the invoked version's configuration is read from moto, its
//! code is the zip that passed through `CreateFunction` or `UpdateFunctionCode` (moto keeps it
//! where it cannot be fetched), and the `bootstrap` in it runs in warm `lambda-local` processes,
//! one pool per version and configuration, so that a change of either starts cold, as on Lambda.

use std::collections::HashMap;
use std::io::Read as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use bytes::Bytes;
use hyper::Response;
use lambda_local::{Invocation, Logs, Outcome, Pool, Spec};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{logs, metrics, split_arn, DataPlane, Version, ACCOUNT, REGION};
use crate::wire::Exchange;

/// The code seen deployed, and the processes kept warm.
#[derive(Default)]
pub(super) struct Functions {
    /// `base64(sha256(zip))`, as Lambda's `CodeSha256`, → the zip.
    code: Mutex<HashMap<String, Arc<Vec<u8>>>>,
    /// The same key → the extracted `bootstrap`.
    extracted: Mutex<HashMap<String, PathBuf>>,
    dir: Mutex<Option<tempfile::TempDir>>,
    /// `name:version` → the configuration's fingerprint and its pool.
    pools: tokio::sync::Mutex<HashMap<String, (String, Arc<Pool>)>>,
    /// `name:$LATEST` and `name:version` → the architecture, as the requests that passed set it:
    /// moto keeps the `Architectures` of CreateFunction but drops UpdateFunctionCode's.
    architectures: Mutex<HashMap<String, String>>,
}

/// What one invocation came to, with the lines Lambda logged for it.
pub(super) struct Ran {
    pub(super) version: Version,
    pub(super) invocation: Invocation,
    pub(super) lines: Vec<logs::Line>,
}

impl Ran {
    /// The response payload, or the error payload Lambda returns for a failure.
    pub(super) fn payload(&self) -> (Bytes, bool) {
        let id = &self.invocation.request_id;
        match &self.invocation.outcome {
            Outcome::Response(body) => (body.clone(), false),
            Outcome::Error(body) => (body.clone(), true),
            Outcome::Timeout => (
                Bytes::from(
                    json!({
                        "errorType": "Sandbox.Timedout",
                        "errorMessage": format!(
                            "RequestId: {id} Error: Task timed out after {:.2} seconds",
                            self.version.timeout.as_secs_f64()
                        ),
                    })
                    .to_string(),
                ),
                true,
            ),
            Outcome::Crashed(why) => (
                Bytes::from(
                    json!({
                        "errorType": "Runtime.ExitError",
                        "errorMessage": format!("RequestId: {id} Error: Runtime exited with error: {why}"),
                    })
                    .to_string(),
                ),
                true,
            ),
        }
    }
}

impl Functions {
    /// Keeps the zip of a `CreateFunction` or `UpdateFunctionCode` that moto accepted.
    pub(super) fn capture_code(&self, ex: &Exchange<'_>) {
        if ex.call.service != "lambda" {
            return;
        }
        let body = ex.json();
        self.learn_architecture(ex, &body);
        let zip = match (ex.method(), ex.path().ends_with("/code")) {
            ("POST", false) if ex.path().trim_end_matches('/') == "/2015-03-31/functions" => {
                body["Code"]["ZipFile"].as_str().map(str::to_string)
            }
            ("PUT", true) => body["ZipFile"].as_str().map(str::to_string),
            _ => None,
        };
        let Some(bytes) =
            zip.and_then(|z| base64::engine::general_purpose::STANDARD.decode(z).ok())
        else {
            return;
        };
        let sha = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&bytes));
        if let Ok(mut code) = self.code.lock() {
            code.insert(sha, Arc::new(bytes));
        }
    }

    /// Remembers the architecture a CreateFunction or UpdateFunctionCode gave `$LATEST`.
    fn learn_architecture(&self, ex: &Exchange<'_>, body: &serde_json::Value) {
        let Some(arch) = body["Architectures"][0].as_str() else {
            return;
        };
        let name = match (ex.method(), ex.path().strip_suffix("/code")) {
            ("POST", None) => body["FunctionName"].as_str().map(str::to_string),
            ("PUT", Some(path)) => path.rsplit('/').next().map(crate::realism::percent_decode),
            _ => None,
        };
        if let (Some(name), Ok(mut known)) = (name, self.architectures.lock()) {
            known.insert(format!("{}:$LATEST", split_arn(&name).0), arch.to_string());
        }
    }

    /// Remembers that a version PublishVersion made has `$LATEST`'s architecture.
    pub(super) fn learn_version(&self, ex: &Exchange<'_>, answer: &Response<Bytes>) {
        let path = ex.path().trim_matches('/');
        let Some(name) = path
            .strip_prefix("2015-03-31/functions/")
            .and_then(|rest| rest.strip_suffix("/versions"))
        else {
            return;
        };
        let name = split_arn(&crate::realism::percent_decode(name)).0;
        let doc: serde_json::Value = serde_json::from_slice(answer.body()).unwrap_or_default();
        let (Some(version), Ok(mut known)) = (doc["Version"].as_str(), self.architectures.lock())
        else {
            return;
        };
        if ex.method() == "POST" {
            if let Some(arch) = known.get(&format!("{name}:$LATEST")).cloned() {
                known.insert(format!("{name}:{version}"), arch);
            }
        }
    }

    /// The architecture learned for `name:version`, if any.
    fn architecture(&self, name: &str, version: &str) -> Option<String> {
        let known = self.architectures.lock().ok()?;
        known.get(&format!("{name}:{version}")).cloned()
    }

    /// The `bootstrap` of the code whose hash is `sha`, extracted once.
    fn bootstrap(&self, sha: &str) -> Result<PathBuf, String> {
        if let Some(path) = self.extracted.lock().ok().and_then(|e| e.get(sha).cloned()) {
            return Ok(path);
        }
        let zip = self
            .code
            .lock()
            .ok()
            .and_then(|c| c.get(sha).cloned())
            .ok_or_else(|| {
                format!(
                    "the emulator did not see the code {sha} being deployed (it keeps only the \
                     zips sent through it since it started)"
                )
            })?;
        let mut dir = self.dir.lock().map_err(|_| "poisoned".to_string())?;
        if dir.is_none() {
            *dir = Some(tempfile::tempdir().map_err(|e| e.to_string())?);
        }
        let root = dir
            .as_ref()
            .map(|d| d.path().to_path_buf())
            .unwrap_or_default();
        let path = root
            .join(hex(sha.as_bytes()).get(..32).unwrap_or("code"))
            .join("bootstrap");
        extract(&zip, &path)?;
        if let Ok(mut e) = self.extracted.lock() {
            e.insert(sha.to_string(), path.clone());
        }
        Ok(path)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes the zip's `bootstrap` to `path`, executable. Lambda refuses a zip without one at
/// init (Runtime.InvalidEntrypoint); so does this.
fn extract(zip: &[u8], path: &std::path::Path) -> Result<(), String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip))
        .map_err(|e| format!("the deployed code is not a zip: {e}"))?;
    let mut entry = archive.by_name("bootstrap").map_err(|_| {
        "Error: Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]".to_string()
    })?;
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    }
    std::fs::write(path, bytes).map_err(|e| e.to_string())?;
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| e.to_string())
}

/// An error from Lambda's API, as the SDK reads it.
pub(super) fn lambda_error(status: u16, code: &str, message: &str) -> Response<Bytes> {
    crate::faults::aws_error("lambda", status, code, message)
}

/// The version `qualifier` (or `$LATEST`) of `name`, as Lambda would run it now.
async fn resolve(
    dp: &DataPlane,
    name: &str,
    qualifier: Option<&str>,
) -> Result<Version, Response<Bytes>> {
    let gone = qualifier.is_some_and(|q| dp.versions.is_deleted(name, q));
    let got = dp
        .moto
        .lambda
        .get_function()
        .function_name(name)
        .set_qualifier(qualifier.map(str::to_string))
        .send()
        .await;
    let config = match got.ok().and_then(|g| g.configuration) {
        Some(c) if !gone => c,
        _ => {
            let arn = format!(
                "arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}:{}",
                qualifier.unwrap_or("$LATEST")
            );
            return Err(lambda_error(
                404,
                "ResourceNotFoundException",
                &format!("Function not found: {arn}"),
            ));
        }
    };
    Ok(Version {
        name: name.to_string(),
        version: config.version().unwrap_or("$LATEST").to_string(),
        code_sha256: config.code_sha256().unwrap_or_default().to_string(),
        environment: config
            .environment()
            .and_then(|e| e.variables())
            .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        memory_mb: config.memory_size().unwrap_or(128),
        timeout: Duration::from_secs(u64::try_from(config.timeout().unwrap_or(3)).unwrap_or(3)),
        role_arn: config.role().unwrap_or_default().to_string(),
        architecture: dp
            .functions
            .architecture(name, config.version().unwrap_or("$LATEST"))
            .or_else(|| {
                config
                    .architectures()
                    .first()
                    .map(|a| a.as_str().to_string())
            })
            .unwrap_or_else(|| "x86_64".into()),
    })
}

/// How Lambda starts a process of `v`: its `bootstrap`, Lambda's variables, the function's, and
/// credentials that stand for its role; its AWS calls go through this proxy.
fn spec(dp: &DataPlane, v: &Version, bootstrap: PathBuf) -> Result<Spec, String> {
    let mut env: Vec<(String, String)> = vec![
        ("AWS_LAMBDA_FUNCTION_NAME".into(), v.name.clone()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(),
            v.memory_mb.to_string(),
        ),
        ("AWS_LAMBDA_FUNCTION_VERSION".into(), v.version.clone()),
        ("AWS_LAMBDA_LOG_GROUP_NAME".into(), logs::group(&v.name)),
        ("AWS_LAMBDA_INITIALIZATION_TYPE".into(), "on-demand".into()),
        ("AWS_REGION".into(), REGION.into()),
        ("AWS_DEFAULT_REGION".into(), REGION.into()),
        ("AWS_ENDPOINT_URL".into(), dp.endpoint()),
        ("_HANDLER".into(), "bootstrap".into()),
        ("TZ".into(), ":UTC".into()),
        ("LANG".into(), "en_US.UTF-8".into()),
    ];
    env.extend(dp.principals.credentials(&v.role_arn, &v.name));
    env.extend(
        v.environment
            .iter()
            .map(|(k, val)| (k.clone(), val.clone())),
    );
    let target = match v.architecture.as_str() {
        "arm64" => "aarch64-unknown-linux-gnu",
        _ => "x86_64-unknown-linux-gnu",
    };
    let (program, args) =
        match lambda_local::emulation::emulation(target).map_err(|e| format!("{e:#}"))? {
            None => (bootstrap, Vec::new()),
            Some((qemu, mut args)) => {
                args.push(bootstrap.display().to_string());
                (qemu, args)
            }
        };
    Ok(Spec {
        program,
        args,
        cwd: None,
        env,
        timeout: v.timeout,
        function_arn: format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{}", v.name),
        logs: Logs::Capture,
    })
}

/// Runs version `qualifier` of `name` with `event`, writes its logs, and returns what came of
/// it; an answer in Lambda's shape when it cannot run at all.
pub(super) async fn run(
    dp: &DataPlane,
    name: &str,
    qualifier: Option<&str>,
    event: Bytes,
) -> Result<Ran, Response<Bytes>> {
    let version = resolve(dp, name, qualifier).await?;
    let pool = pool(dp, &version).await?;
    let started = SystemTime::now();
    let invocation = pool.run(event).await;
    let lines = logs::lines(&version, &invocation, started);
    logs::write(dp, &version, &invocation, &lines).await;
    let failed = !matches!(invocation.outcome, Outcome::Response(_));
    let ms = invocation.duration.as_secs_f64() * 1000.0;
    metrics::lambda(dp, &version, qualifier, failed, ms).await;
    Ok(Ran {
        version,
        invocation,
        lines,
    })
}

/// The warm pool of `v`; a new one (cold) when its code or configuration changed.
async fn pool(dp: &DataPlane, v: &Version) -> Result<Arc<Pool>, Response<Bytes>> {
    let key = format!("{}:{}", v.name, v.version);
    let fingerprint = v.fingerprint();
    let mut pools = dp.functions.pools.lock().await;
    if let Some((known, pool)) = pools.get(&key) {
        if *known == fingerprint {
            return Ok(Arc::clone(pool));
        }
    }
    let bootstrap = dp
        .functions
        .bootstrap(&v.code_sha256)
        .map_err(|why| lambda_error(502, "InvalidZipFileException", &why))?;
    let spec = spec(dp, v, bootstrap).map_err(|why| lambda_error(500, "ServiceException", &why))?;
    let pool = Arc::new(Pool::new(spec));
    if let Some((_, old)) = pools.insert(key, (fingerprint, Arc::clone(&pool))) {
        old.shutdown().await;
    }
    Ok(pool)
}

/// Lambda's `Invoke` API (`POST /2015-03-31/functions/{name}/invocations`), run here: 200 with
/// the function's payload, `X-Amz-Function-Error` when it failed, `X-Amz-Executed-Version`,
/// and with `X-Amz-Log-Type: Tail` the last 4 KB of its log in `X-Amz-Log-Result`.
pub(super) async fn invoke_api(dp: &DataPlane, ex: &Exchange<'_>) -> Option<Response<Bytes>> {
    if ex.call.service != "lambda" || ex.method() != "POST" {
        return None;
    }
    let path = ex.path().trim_matches('/');
    let rest = path.strip_prefix("2015-03-31/functions/")?;
    let function = crate::realism::percent_decode(rest.strip_suffix("/invocations")?);
    let (name, arn_qualifier) = split_arn(&function);
    let qualifier = ex.query("Qualifier").or(arn_qualifier);
    let ran = match run(dp, &name, qualifier.as_deref(), ex.body.clone()).await {
        Ok(ran) => ran,
        Err(answer) => return Some(answer),
    };
    let (payload, failed) = ran.payload();
    let mut answer = Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("x-amz-executed-version", ran.version.version.as_str())
        .header("x-amzn-requestid", ran.invocation.request_id.as_str());
    if failed {
        answer = answer.header("x-amz-function-error", "Unhandled");
    }
    let tail = ex
        .parts
        .headers
        .get("x-amz-log-type")
        .is_some_and(|t| t == "Tail");
    if tail {
        answer = answer.header("x-amz-log-result", logs::tail(&ran.lines));
    }
    Some(
        answer
            .body(payload)
            .unwrap_or_else(|_| Response::new(Bytes::new())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn function_arns_split_into_name_and_qualifier() {
        assert_eq!(
            split_arn("arn:aws:lambda:us-east-1:1:function:vc-prod:live"),
            ("vc-prod".to_string(), Some("live".to_string()))
        );
        assert_eq!(
            split_arn("arn:aws:lambda:us-east-1:1:function:vc-prod"),
            ("vc-prod".to_string(), None)
        );
        assert_eq!(split_arn("vc-prod"), ("vc-prod".to_string(), None));
        assert_eq!(
            split_arn("vc-prod:3"),
            ("vc-prod".to_string(), Some("3".to_string()))
        );
    }

    #[test]
    fn failures_have_lambdas_error_payloads() {
        let v = Version {
            name: "f".into(),
            version: "$LATEST".into(),
            code_sha256: String::new(),
            environment: std::collections::BTreeMap::new(),
            memory_mb: 128,
            timeout: Duration::from_secs(3),
            role_arn: String::new(),
            architecture: "x86_64".into(),
        };
        let ran = |outcome| Ran {
            version: v.clone(),
            invocation: Invocation {
                request_id: "r1".into(),
                environment: "e".into(),
                outcome,
                duration: Duration::ZERO,
                cold: false,
                init: None,
                init_logs: vec![],
                logs: vec![],
                max_memory_mb: 1,
            },
            lines: vec![],
        };
        let (payload, failed) = ran(Outcome::Timeout).payload();
        assert!(failed);
        let v: Value = serde_json::from_slice(&payload).unwrap_or_default();
        assert_eq!(v["errorType"], "Sandbox.Timedout");
        assert_eq!(
            v["errorMessage"],
            "RequestId: r1 Error: Task timed out after 3.00 seconds"
        );
        let (_, failed) = ran(Outcome::Response(Bytes::from_static(b"{}"))).payload();
        assert!(!failed);
    }
}
