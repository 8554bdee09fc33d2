//! The realism layer: behaviours of real AWS that moto 5.2.5 lacks, reproduced in front of it.
//!
//! moto applies every change at once and refuses almost nothing, so code tested only against it
//! fails on its first real run. Each behaviour here is deterministic (driven by the clock and
//! by what was sent before, never by chance), documented where AWS documents it, and lasts a
//! configurable time: [`Realism::aws`] has AWS's magnitudes, [`Realism::fast`] the same shapes
//! in fractions of a second, for tests.
//!
//! It sits in the recording proxy ([`crate::Recorder::realism`]): before a request is forwarded
//! it may answer in AWS's place (a refusal), and after moto answered it may rewrite the answer
//! (a status that is still settling, a listing that lags).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::Response;
use serde_json::Value;

use crate::faults;
use crate::iam;
use crate::wire::{with_body, Exchange, Upstream};

mod apigateway;
mod authorize;
mod dynamodb;
mod lambda;
mod met;
mod sns;
mod tags;

pub use met::Met;

/// How long each behaviour lasts. Zero switches one off.
#[derive(Debug, Clone, PartialEq)]
pub struct Realism {
    /// Added to every request before it is forwarded: a region's round trip from a laptop or a
    /// CI runner (AWS answers control-plane calls in 50–200 ms).
    pub latency: Duration,
    /// How `latency` is spent. `false`: it is added before the request goes on to moto (as the
    /// peer kit's proxy adds it), and moto's own time comes on top. `true`: it is the whole
    /// round trip: the answer leaves `latency` after the request arrived, or when moto answered
    /// if that was later. AWS serves concurrent requests side by side where single-threaded
    /// moto serves them one after another, so there a wave of parallel reads costs one round
    /// trip, not one plus moto's time for each read of the wave. A function's run is never
    /// hidden in it: an `Invoke` through the emulated Lambda takes `latency` plus the run.
    pub round_trip: bool,
    /// A new table is `CREATING` (DescribeTable), and refuses UpdateTable, DeleteTable and
    /// TagResource with ResourceInUseException meanwhile (DynamoDB API reference, CreateTable:
    /// "CreateTable is an asynchronous operation ... DynamoDB sets the TableStatus to CREATING";
    /// ResourceInUseException: "tried to delete a table currently in the CREATING state").
    pub table_creating: Duration,
    /// UpdateContinuousBackups is refused with ContinuousBackupsUnavailableException ("Backups
    /// are being enabled for the table") for a while after CreateTable. terraform-provider-aws
    /// retries exactly this error in `updatePITR` (internal/service/dynamodb/table.go).
    pub pitr_unavailable: Duration,
    /// After PITR is turned on, DescribeContinuousBackups says `ENABLING` before `ENABLED`
    /// (terraform-provider-aws `waitPITRUpdated` waits through the `ENABLING` status).
    pub pitr_enabling: Duration,
    /// After UpdateTable the table is `UPDATING`, and UpdateTable, DeleteTable and TagResource
    /// get ResourceInUseException until it is `ACTIVE` again (DynamoDB API reference,
    /// UpdateTable: "the table status changes from ACTIVE to UPDATING ... you can't issue
    /// another UpdateTable request" while it is).
    pub table_updating: Duration,
    /// ListTagsOfResource answers with the previous tag set (or none) for a while after tags
    /// change (DynamoDB API reference, TagResource: "ListTagsOfResource uses an eventually
    /// consistent query ... DynamoDB might return your previous tag set").
    pub tag_lag: Duration,
    /// A new function is `State: Pending`, and updates fail with ResourceConflictException
    /// meanwhile (Lambda developer guide, "Lambda function states").
    pub function_pending: Duration,
    /// After UpdateFunctionCode or UpdateFunctionConfiguration, `LastUpdateStatus` is
    /// `InProgress`, and another update gets ResourceConflictException ("An update is in
    /// progress for resource") until it is done (same page, "Function states during updates").
    pub function_updating: Duration,
    /// Lambda answers CreateFunction and UpdateFunctionConfiguration with "The role defined for
    /// the function cannot be assumed by Lambda." for a while after the role was created or its
    /// trust policy changed: IAM is eventually consistent (IAM user guide, "Changes that I make
    /// are not always immediately visible"). The message is about the trust (Lambda assuming
    /// the role): a change of the role's permissions (PutRolePolicy) leaves an existing role
    /// assumable.
    pub role_propagation: Duration,
    /// A change of a role's permissions (PutRolePolicy, DeleteRolePolicy, AttachRolePolicy,
    /// DetachRolePolicy) applies to the calls of a function running as that role only after
    /// this long; meanwhile they get what the role allowed before (IAM user guide, "Changes
    /// that I make are not always immediately visible": IAM is eventually consistent).
    pub policy_propagation: Duration,
    /// CreateRestApi: one every 3 s per account, else 429 TooManyRequestsException with
    /// `Retry-After` (API Gateway developer guide, "Amazon API Gateway quotas", quotas for
    /// creating, deploying and managing an API: "CreateRestApi ... 1 request every 3 seconds").
    pub create_rest_api_every: Duration,
    /// DeleteRestApi: one every 30 s per account, else 429 with `Retry-After` (same table:
    /// "DeleteRestApi ... 1 request every 30 seconds per account").
    pub delete_rest_api_every: Duration,
    /// CreateDeployment: one every 5 s per account, else 429 with `Retry-After` (same table:
    /// "CreateDeployment ... 1 request every 5 seconds per account").
    pub create_deployment_every: Duration,
    /// GetRestApis does not list an API created this recently: API Gateway's control plane is
    /// eventually consistent across its own reads.
    pub rest_apis_lag: Duration,
    /// PutMethod on a method that exists is refused with ConflictException (API Gateway API
    /// reference, PutMethod errors: ConflictException). moto overwrites it instead.
    pub put_method_conflicts: bool,
    /// AddPermission with a statement id that exists is refused with ResourceConflictException
    /// (Lambda API reference, AddPermission errors). moto adds a second copy instead.
    pub permission_conflicts: bool,
    /// An e-mail subscription is `PendingConfirmation` until its address is confirmed
    /// ([`crate::Recorder::confirm_email`]); moto confirms it at once ([`sns`]).
    pub email_pending: bool,
    /// IAM actions the caller may not perform (`lambda:ListTags`): such a request gets
    /// AccessDenied in its service's shape, and GetFunction without `lambda:ListTags` answers
    /// with no `Tags` and a `TagsError` (Lambda developer guide, "Using tags on Lambda
    /// functions": "For tagged functions, this permission is also necessary for GetFunction").
    pub denied: BTreeSet<String>,
    /// The caller's identity policy: a request whose action on its resource (and, for a
    /// function's role, `iam:PassRole` to Lambda) the policy does not allow is refused with
    /// AccessDenied, as IAM's authorization would (IAM User Guide, "Policy evaluation logic").
    pub policy: Option<iam::Policy>,
}

impl Realism {
    /// AWS-typical magnitudes, each as documented or as commonly reported (the source beside
    /// it), all here so that they can be changed in one place. `make bench` measures the deployer
    /// in this mode, beside each verb's critical path computed from these same values.
    pub fn aws() -> Realism {
        let secs = Duration::from_secs;
        Realism {
            // A control-plane call from a laptop or a CI runner outside the region: a network
            // round trip of tens of ms plus the service's own time; AWS publishes no figure, and
            // 50-200 ms is what calls commonly take, so the middle of that.
            latency: Duration::from_millis(100),
            round_trip: true,
            // An on-demand table without indexes is ACTIVE within seconds; AWS gives no figure
            // (CreateTable: "asynchronous"), 5 s is commonly observed.
            table_creating: secs(5),
            // No figure is documented; a restore-ready table takes tens of seconds, and
            // deployers hit the refusal right after CreateTable (amplify-backend #1654, #2771),
            // which terraform-provider-aws retries (`updatePITR`) for up to 20 minutes.
            pitr_unavailable: secs(20),
            // The `ENABLING` status that terraform-provider-aws's `waitPITRUpdated` waits
            // through: seconds, as commonly observed.
            pitr_enabling: secs(5),
            // A change of settings without indexes (billing mode, deletion protection) is
            // ACTIVE again within seconds; no figure is documented.
            table_updating: secs(5),
            // "DynamoDB might return your previous tag set" (TagResource): seconds.
            tag_lag: secs(3),
            // A function outside a VPC commonly leaves `Pending` within a second or two (Lambda
            // developer guide, "Lambda function states", gives no figure; VPC ones take longer).
            function_pending: secs(2),
            // Likewise, `LastUpdateStatus: InProgress` after an update of a non-VPC function.
            function_updating: secs(2),
            // IAM is eventually consistent: a new role is commonly assumable after 5-10 s
            // (Chalice retries CreateFunction for 30 s, "15 seconds is not enough", aws/chalice
            // #172; terraform-provider-aws retries for 2 minutes, #14291).
            role_propagation: secs(8),
            // No figure is documented; a new permission is commonly in force within seconds.
            policy_propagation: secs(5),
            // API Gateway quotas, documented ("Amazon API Gateway quotas": CreateRestApi 1
            // request every 3 s, DeleteRestApi 1 every 30 s, CreateDeployment 1 every 5 s, per
            // account).
            create_rest_api_every: secs(3),
            delete_rest_api_every: secs(30),
            create_deployment_every: secs(5),
            // GetRestApis is eventually consistent; a new API commonly shows within seconds.
            rest_apis_lag: secs(2),
            put_method_conflicts: true,
            permission_conflicts: true,
            email_pending: true,
            denied: BTreeSet::new(),
            policy: None,
        }
    }

    /// Every behaviour, in fractions of a second, with no added latency: what the end-to-end
    /// suites run through.
    pub fn fast() -> Realism {
        Realism {
            latency: Duration::ZERO,
            round_trip: false,
            table_creating: Duration::from_millis(150),
            pitr_unavailable: Duration::from_millis(500),
            pitr_enabling: Duration::from_millis(200),
            table_updating: Duration::from_millis(250),
            tag_lag: Duration::from_millis(250),
            function_pending: Duration::from_millis(200),
            function_updating: Duration::from_millis(200),
            role_propagation: Duration::from_millis(600),
            // Off in the suites at large: the tests of it set it.
            policy_propagation: Duration::ZERO,
            create_rest_api_every: Duration::from_millis(300),
            delete_rest_api_every: Duration::from_millis(1500),
            create_deployment_every: Duration::from_millis(300),
            rest_apis_lag: Duration::from_millis(250),
            put_method_conflicts: true,
            permission_conflicts: true,
            email_pending: true,
            denied: BTreeSet::new(),
            policy: None,
        }
    }

    /// Nothing but `latency`: moto as it is, a round trip away.
    pub fn latency_only(latency: Duration) -> Realism {
        Realism {
            latency,
            round_trip: false,
            table_creating: Duration::ZERO,
            pitr_unavailable: Duration::ZERO,
            pitr_enabling: Duration::ZERO,
            table_updating: Duration::ZERO,
            tag_lag: Duration::ZERO,
            function_pending: Duration::ZERO,
            function_updating: Duration::ZERO,
            role_propagation: Duration::ZERO,
            policy_propagation: Duration::ZERO,
            create_rest_api_every: Duration::ZERO,
            delete_rest_api_every: Duration::ZERO,
            create_deployment_every: Duration::ZERO,
            rest_apis_lag: Duration::ZERO,
            put_method_conflicts: false,
            permission_conflicts: false,
            email_pending: false,
            denied: BTreeSet::new(),
            policy: None,
        }
    }

    /// The same, with every request checked against `policy`.
    pub fn enforce(mut self, policy: iam::Policy) -> Realism {
        self.policy = Some(policy);
        self
    }

    /// The same, with `action` denied.
    pub fn deny(mut self, action: &str) -> Realism {
        self.denied.insert(action.to_string());
        self
    }
}

/// What the layer remembers of what was sent.
#[derive(Debug, Default)]
pub(super) struct World {
    /// Table name → when it was created and last updated, and when PITR was turned on.
    pub(super) tables: HashMap<String, Table>,
    /// Resource ARN → the tag set ListTagsOfResource still shows, and until when.
    pub(super) stale_tags: HashMap<String, (Instant, Value)>,
    /// Function name → its settling state.
    pub(super) functions: HashMap<String, Function>,
    /// Role name → when it or its policy last changed.
    pub(super) roles: HashMap<String, Instant>,
    pub(super) last_create_api: Option<Instant>,
    pub(super) last_delete_api: Option<Instant>,
    pub(super) last_deployment: Option<Instant>,
    /// REST API id → when it was created.
    pub(super) new_apis: HashMap<String, Instant>,
    /// The e-mail addresses whose owner confirmed their subscription.
    pub(super) confirmed_emails: BTreeSet<String>,
    /// `(statement id, action)`: what a statement of [`Realism::policy`] alone allowed.
    pub(super) authorized: BTreeSet<(String, String)>,
    /// How often each behaviour happened.
    pub(super) met: BTreeMap<Met, usize>,
}

#[derive(Debug, Default, Clone)]
pub(super) struct Table {
    pub(super) created: Option<Instant>,
    pub(super) updated: Option<Instant>,
    pub(super) pitr_enabled: Option<Instant>,
}

#[derive(Debug, Default, Clone)]
pub(super) struct Function {
    pub(super) created: Option<Instant>,
    pub(super) updated: Option<Instant>,
    /// Set by [`Layer::fail_function`]: the last update failed, for this reason.
    pub(super) failed: Option<String>,
    /// The `Architectures` of the last UpdateFunctionCode that named them: Lambda applies them
    /// with the code (API reference, UpdateFunctionCode), moto 5.2.5 ignores them.
    pub(super) architectures: Option<Value>,
}

/// The behaviours in force, and what they remember.
#[derive(Debug)]
pub(crate) struct Layer {
    pub(crate) config: Realism,
    world: Mutex<World>,
}

pub(crate) type Answer = Response<Bytes>;

pub(super) fn within(since: Option<Instant>, window: Duration) -> bool {
    since.is_some_and(|t| t.elapsed() < window)
}

pub(super) fn left(since: Option<Instant>, window: Duration) -> Duration {
    since
        .map(|t| window.saturating_sub(t.elapsed()))
        .unwrap_or_default()
}

impl Layer {
    pub(crate) fn new(config: Realism) -> Layer {
        Layer {
            config,
            world: Mutex::new(World::default()),
        }
    }

    pub(super) fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks the last update of `function` as failed with `reason`, as Lambda does when an
    /// update cannot be applied; the next update that goes through clears it.
    pub(crate) fn fail_function(&self, function: &str, reason: &str) {
        self.world()
            .functions
            .entry(function.to_string())
            .or_default()
            .failed = Some(reason.to_string());
    }

    /// The owner of `email` followed the link AWS sent: its subscriptions are confirmed.
    pub(crate) fn confirm_email(&self, email: &str) {
        self.world().confirmed_emails.insert(email.to_string());
    }

    /// Answers in AWS's place, or `None` to forward the request.
    /// `tags`: the tags of the resource the request acts on, where IAM reads them
    /// (`aws:ResourceTag`), for an enforced policy.
    pub(crate) async fn before(
        &self,
        ex: &Exchange<'_>,
        upstream: &Upstream,
        tags: Option<&iam::Tags>,
    ) -> Option<Answer> {
        if !self.config.latency.is_zero() && !self.config.round_trip {
            tokio::time::sleep(self.config.latency).await;
        }
        if let Some(refusal) = self
            .authorize(ex, tags)
            .or_else(|| self::tags::refused(self, ex))
        {
            return Some(refusal);
        }
        match ex.call.service.as_str() {
            "dynamodb" => dynamodb::before(self, ex, upstream).await,
            "lambda" => lambda::before(self, ex, upstream).await,
            "apigateway" => apigateway::before(self, ex, upstream).await,
            _ => None,
        }
    }

    /// Holds an answer until the round trip of a request that arrived at `arrived` is over
    /// ([`Realism::round_trip`]); at once otherwise.
    pub(crate) async fn round_trip(&self, arrived: Instant) {
        if self.config.round_trip {
            tokio::time::sleep(self.config.latency.saturating_sub(arrived.elapsed())).await;
        }
    }

    /// Holds the answer of a function's run for a whole round trip on top of the run
    /// ([`Realism::round_trip`]); at once otherwise (the latency came before the run).
    pub(crate) async fn after_run(&self) {
        if self.config.round_trip {
            tokio::time::sleep(self.config.latency).await;
        }
    }

    /// Rewrites moto's answer as AWS would have given it, and remembers what happened.
    pub(crate) fn after(&self, ex: &Exchange<'_>, answer: Answer) -> Answer {
        if !answer.status().is_success() {
            return answer;
        }
        match ex.call.service.as_str() {
            "dynamodb" => dynamodb::after(self, ex, answer),
            "lambda" => lambda::after(self, ex, answer),
            "iam" => {
                self.iam_after(ex);
                answer
            }
            "apigateway" => apigateway::after(self, ex, answer),
            "sns" => sns::after(self, ex, answer),
            _ => answer,
        }
    }

    /// A role was made, or whom it trusts changed: Lambda cannot assume it for a while.
    fn iam_after(&self, ex: &Exchange<'_>) {
        let op = ex.call.operation.as_str();
        if matches!(op, "CreateRole" | "UpdateAssumeRolePolicy") {
            if let Some(role) = form_value(ex.body, "RoleName") {
                self.world().roles.insert(role, Instant::now());
            }
        }
    }
}

/// Percent-decoding, as the wire layer does it.
pub(crate) use crate::wire::percent_decode;

/// The table a DynamoDB request is about, from `TableName` or a table `ResourceArn`.
pub(super) fn table_of(body: &Value) -> Option<String> {
    if let Some(name) = body["TableName"].as_str() {
        return Some(name.to_string());
    }
    let arn = body["ResourceArn"].as_str()?;
    arn.split_once(":table/")
        .map(|(_, rest)| rest.split('/').next().unwrap_or(rest).to_string())
}

/// A form value of a query-protocol body (IAM, STS).
pub(crate) fn form_value(body: &[u8], key: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| percent_decode(&v.replace('+', " ")))
    })
}

/// Applies `edit` to a JSON answer; returns the new answer and the edited value (`Null` when the
/// body was not JSON, in which case the answer is returned unchanged).
pub(crate) fn rewrite_json(answer: &Answer, edit: impl FnOnce(&mut Value)) -> (Answer, Value) {
    let Ok(mut value) = serde_json::from_slice::<Value>(answer.body()) else {
        return (with_body(answer, answer.body().clone()), Value::Null);
    };
    edit(&mut value);
    let text = Bytes::from(value.to_string());
    (with_body(answer, text), value)
}

/// API Gateway's answer to a control-plane call over its quota.
pub(super) fn too_many_requests(wait: Duration) -> Answer {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut answer = faults::aws_error(
        "apigateway",
        429,
        "TooManyRequestsException",
        "Too Many Requests",
    );
    if let Ok(value) = hyper::header::HeaderValue::from_str(&seconds.to_string()) {
        answer.headers_mut().insert("retry-after", value);
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_name_their_table_function_and_role() {
        assert_eq!(
            table_of(&json!({"TableName": "vc-prod"})),
            Some("vc-prod".into())
        );
        assert_eq!(
            table_of(&json!({"ResourceArn": "arn:aws:dynamodb:us-east-1:1:table/vc-prod"})),
            Some("vc-prod".into())
        );
        assert_eq!(table_of(&json!({})), None);
        assert_eq!(
            form_value(
                b"Action=CreateRole&RoleName=vc-prod-role&Version=2010-05-08",
                "RoleName"
            ),
            Some("vc-prod-role".into())
        );
    }

    #[test]
    fn a_quota_refusal_says_when_to_come_back() {
        let answer = too_many_requests(Duration::from_millis(2100));
        assert_eq!(answer.status(), 429);
        assert_eq!(answer.headers()["retry-after"], "3");
        assert_eq!(
            answer.headers()["x-amzn-errortype"],
            "TooManyRequestsException"
        );
    }

    #[test]
    fn windows_open_and_close_with_the_clock() {
        let now = Some(Instant::now());
        assert!(within(now, Duration::from_secs(60)));
        assert!(!within(now, Duration::ZERO));
        assert!(!within(None, Duration::from_secs(60)));
        assert!(left(now, Duration::from_secs(60)) > Duration::from_secs(59));
        assert_eq!(left(None, Duration::from_secs(60)), Duration::ZERO);
    }
}
