//! The emulated data plane: what AWS does with what `up` deployed, which moto stores but never
//! runs. It sits in the recording proxy, in front of moto, and reads everything from moto as it
//! is now, so that a hand edit made there shows at once:
//!
//! - **API Gateway's execute-api** ([`gateway`]): `/_aws/execute-api/{api}/{stage}/{path}`
//!   serves the deployment the stage points at, as it was when `CreateDeployment` ran, with the
//!   stage's throttling, API Gateway's own answers and their gateway responses, and the Lambda
//!   proxy integration of each route;
//! - **the invoke permission** ([`access`]): the function's resource policy, for
//!   `apigateway.amazonaws.com` and the request's `execute-api` source ARN;
//! - **Lambda** ([`function`]): `Invoke` (from the gateway, and the control plane's) runs the
//!   deployed `bootstrap` of the invoked version, with its configuration, in warm processes
//!   (`lambda-local`, the runtime `deployer serve` uses);
//! - **the function's own credentials** ([`access`]): every call the function makes is
//!   authorized against its role's policies as they are in moto now;
//! - **versions and aliases** ([`versions`]): a resource policy per qualifier, and an alias's
//!   `RevisionId` that changes at each update and guards `UpdateAlias`, as Lambda keeps them;
//! - **a REST API's tags** ([`api_tags`]): tagging and untagging an API (moto tags only
//!   stages), shown by GetRestApi and GetRestApis;
//! - **logs** ([`logs`]): the function's lines, and Lambda's `START`, `END` and `REPORT`, in
//!   CloudWatch Logs, where `deployer logs` reads them;
//! - **metrics** ([`metrics`]): what API Gateway, Lambda and DynamoDB publish to CloudWatch
//!   for each request, where `deployer status` and the stack's alarms read them.
//!
//! What it does not reproduce: HTTPS and custom domains, authorizers, API keys and usage plans,
//! integrations other than Lambda proxy, asynchronous invocation, and concurrency limits.

mod access;
mod api_tags;
mod function;
mod gateway;
mod logs;
pub mod metrics;
mod propagation;
mod throttle;
mod versions;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use hyper::Response;

use crate::wire::Exchange;

pub use access::Principal;

/// The account moto answers for.
pub const ACCOUNT: &str = "123456789012";
/// The region the emulator's clients use.
pub const REGION: &str = "us-east-1";

/// The path prefix of the emulated stage URLs: `{endpoint}/_aws/execute-api/{api}/{stage}/…`,
/// LocalStack's convention for emulators without DNS.
pub const EXECUTE_API: &str = "/_aws/execute-api/";

/// A function version as Lambda runs it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Version {
    pub(crate) name: String,
    /// `$LATEST` or a number.
    pub(crate) version: String,
    pub(crate) code_sha256: String,
    pub(crate) environment: BTreeMap<String, String>,
    pub(crate) memory_mb: i32,
    pub(crate) timeout: Duration,
    pub(crate) role_arn: String,
    pub(crate) architecture: String,
}

impl Version {
    fn fingerprint(&self) -> String {
        format!("{self:?}")
    }
}

/// `arn:aws:lambda:R:A:function:NAME[:QUALIFIER]` (or a bare name) → the name and qualifier.
pub(crate) fn split_arn(arn: &str) -> (String, Option<String>) {
    let rest = arn.split_once(":function:").map_or(arn, |(_, rest)| rest);
    match rest.split_once(':') {
        Some((name, q)) => (name.to_string(), Some(q.to_string())),
        None => (rest.to_string(), None),
    }
}

/// SDK clients aimed straight at moto: the data plane's own reads and writes, never recorded.
#[derive(Debug, Clone)]
pub(crate) struct Moto {
    pub(crate) lambda: aws_sdk_lambda::Client,
    pub(crate) apigateway: aws_sdk_apigateway::Client,
    pub(crate) iam: aws_sdk_iam::Client,
    pub(crate) logs: aws_sdk_cloudwatchlogs::Client,
    pub(crate) dynamodb: aws_sdk_dynamodb::Client,
    pub(crate) cloudwatch: aws_sdk_cloudwatch::Client,
}

impl Moto {
    fn new(endpoint: &str) -> Moto {
        let credentials = aws_sdk_dynamodb::config::Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "dataplane",
        );
        macro_rules! client {
            ($sdk:ident) => {
                $sdk::Client::from_conf(
                    $sdk::Config::builder()
                        .behavior_version($sdk::config::BehaviorVersion::latest())
                        .region($sdk::config::Region::new(REGION))
                        .credentials_provider(credentials.clone())
                        .endpoint_url(endpoint)
                        .build(),
                )
            };
        }
        Moto {
            lambda: client!(aws_sdk_lambda),
            apigateway: client!(aws_sdk_apigateway),
            iam: client!(aws_sdk_iam),
            logs: client!(aws_sdk_cloudwatchlogs),
            dynamodb: client!(aws_sdk_dynamodb),
            cloudwatch: client!(aws_sdk_cloudwatch),
        }
    }
}

/// One request served by the emulated stage, for tests and metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct Served {
    pub api: String,
    pub stage: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    /// Lambda's request id, when the function was invoked.
    pub lambda_request_id: Option<String>,
    pub latency_ms: f64,
}

/// The data plane's state: the code it saw deployed, the deployments it snapshotted, the
/// function processes it keeps warm, the stages' token buckets and the functions' credentials.
pub struct DataPlane {
    moto: Moto,
    /// This proxy's own address: what the function processes call AWS through.
    endpoint: Mutex<String>,
    functions: function::Functions,
    deployments: gateway::Deployments,
    buckets: throttle::Buckets,
    principals: access::Principals,
    versions: versions::Versions,
    api_tags: api_tags::ApiTags,
    pending: propagation::Pending,
    served: Mutex<Vec<Served>>,
}

impl DataPlane {
    /// The data plane of the moto at `upstream`.
    pub fn new(upstream: &str) -> DataPlane {
        DataPlane {
            moto: Moto::new(upstream),
            endpoint: Mutex::new(String::new()),
            functions: function::Functions::default(),
            deployments: gateway::Deployments::default(),
            buckets: throttle::Buckets::default(),
            principals: access::Principals::default(),
            versions: versions::Versions::default(),
            api_tags: api_tags::ApiTags::default(),
            pending: propagation::Pending::default(),
            served: Mutex::new(Vec::new()),
        }
    }

    /// Where the function processes send their AWS calls: this proxy.
    pub fn listen_at(&self, endpoint: &str) {
        if let Ok(mut e) = self.endpoint.lock() {
            *e = endpoint.to_string();
        }
    }

    fn endpoint(&self) -> String {
        self.endpoint.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// Every request the emulated stages served so far, forgetting them.
    pub fn take_served(&self) -> Vec<Served> {
        self.served
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default()
    }

    /// Whether `path` is an emulated stage's.
    pub fn is_execute_api(path: &str) -> bool {
        path.starts_with(EXECUTE_API)
    }

    /// The function a request's credentials stand for, if they are a function's.
    pub fn principal(&self, parts: &hyper::http::request::Parts) -> Option<Principal> {
        self.principals.of_request(parts)
    }

    /// Before a change of a role's permissions reaches moto: keeps the documents its sessions
    /// still get for `window` (those of an earlier change still propagating, or the role's as
    /// they are).
    pub(crate) async fn permissions_changing(&self, ex: &Exchange<'_>, window: Duration) {
        let Some(role) = propagation::changed_role(ex).filter(|_| !window.is_zero()) else {
            return;
        };
        let former = match propagation::applied(self, &role) {
            Some(documents) => documents,
            None => access::role_documents(self, &role)
                .await
                .unwrap_or_default(),
        };
        propagation::record(self, role, window, former);
    }

    /// The tags of the REST API an API Gateway request acts on (`aws:ResourceTag`).
    pub(crate) async fn resource_tags(
        &self,
        ex: &Exchange<'_>,
    ) -> Option<std::collections::BTreeMap<String, String>> {
        api_tags::of_request(self, ex).await
    }

    /// Answers what the data plane serves in moto's place: Lambda's `Invoke`, its qualified
    /// resource policies, a refusal of a stale `UpdateAlias`, and a REST API's tagging.
    pub async fn before(&self, ex: &Exchange<'_>) -> Option<Response<Bytes>> {
        if let Some(answer) = api_tags::before(self, ex).await {
            return Some(answer);
        }
        match versions::before(self, ex).await {
            Some(answer) => Some(answer),
            None => function::invoke_api(self, ex).await,
        }
    }

    /// Learns from what moto accepted (the code of a function, a new deployment, an alias's
    /// new revision), and gives moto's answer as Lambda would have made it.
    pub async fn after(&self, ex: &Exchange<'_>, answer: Response<Bytes>) -> Response<Bytes> {
        if !answer.status().is_success() {
            return answer;
        }
        self.functions.capture_code(ex);
        self.functions.learn_version(ex, &answer);
        gateway::snapshot_new_deployment(self, ex, &answer).await;
        let answer = api_tags::after(self, ex, answer);
        versions::after(self, ex, answer)
    }

    /// Refuses a call of a function that its role's policies do not allow, as AWS would.
    pub async fn authorize(&self, ex: &Exchange<'_>, who: &Principal) -> Option<Response<Bytes>> {
        access::authorize(self, ex, who).await
    }

    /// What DynamoDB publishes when it throttles a function's call (`ThrottledRequests`).
    pub async fn throttled(&self, call: &crate::wire::Call, body: &[u8]) {
        let request: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        if let ("dynamodb", Some(table)) = (call.service.as_str(), request["TableName"].as_str()) {
            metrics::throttled(self, table, &call.operation).await;
        }
    }

    /// Serves a request to an emulated stage.
    pub async fn execute_api(
        &self,
        parts: &hyper::http::request::Parts,
        body: Bytes,
        source_ip: &str,
    ) -> Response<Bytes> {
        gateway::serve(self, parts, body, source_ip).await
    }
}
