//! The one place where AWS clients are built: credentials, region, profile and endpoint from the
//! standard chain, with the CLI's overrides, standard retry for throttling, and timeouts. Also
//! the one place where an AWS error becomes a line a person reads.
//!
//! `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>` work untouched because aws-config reads
//! them; `--endpoint-url` overrides both.

use std::time::Duration;

use anyhow::Context as _;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction};

use crate::interrupt;

pub mod error;

pub use error::{
    ambiguous, describe, iam_action, is_not_found, operation_of, retry_after, AwsContext, Found,
};

/// Where to deploy, as the CLI's global flags say.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
}

/// Every client the deployer uses, sharing one configuration.
#[derive(Debug, Clone)]
pub struct Clients {
    pub region: String,
    /// An emulator's address, when API Gateway's endpoint is one (plain HTTP, or loopback): its
    /// stages are served under `{emulator}/_aws/execute-api/{api}/{stage}`, not AWS's domain.
    pub emulator: Option<String>,
    pub sts: aws_sdk_sts::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// DynamoDB for the deploy lease's item only: without the interrupt guard, so that a lease
    /// is still released after Ctrl-C, and not counted among the stack's writes.
    pub lease: aws_sdk_dynamodb::Client,
    pub iam: aws_sdk_iam::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub apigateway: aws_sdk_apigateway::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    /// CloudWatch's metrics and alarms (`status`, `alerts:`).
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// The alerts' topic and its subscription.
    pub sns: aws_sdk_sns::Client,
}

/// Throttling (`ThrottlingException`, `TooManyRequestsException`), 5xx and dropped connections
/// are retried with jittered exponential backoff, up to 8 attempts (about 20 s in all).
///
/// Standard mode, not adaptive: adaptive's client-side rate limiter, after a few throttles,
/// slowed every later request of a low-rate tool like this one for 9–29 s in our fault runs,
/// against 0.4–1.6 s for the same seeds in standard mode. The deployer sends a few dozen
/// requests, far below any quota, so it gains nothing from adaptive's token bucket; more
/// attempts cover a longer throttling burst instead.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(8)
        .with_initial_backoff(Duration::from_millis(100))
        .with_max_backoff(Duration::from_secs(5))
}

/// Connecting takes milliseconds when AWS is reachable; a function zip upload can take a while
/// on a slow uplink, so an attempt gets a minute.
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .operation_attempt_timeout(Duration::from_secs(60))
        .build()
}

/// SNS throttles with the code `Throttled` (its `ThrottledException`, HTTP 400), which is not
/// among the codes the SDK's standard retry knows as throttling, and its model does not mark
/// it retryable: without this, one throttled `ListTopics` failed a whole `up`.
#[derive(Debug)]
struct SnsThrottled;

impl ClassifyRetry for SnsThrottled {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(Err(_)) = ctx.output_or_error() else {
            return RetryAction::NoActionIndicated;
        };
        let body = ctx
            .response()
            .and_then(|r| r.body().bytes())
            .unwrap_or_default();
        let code = b"<Code>Throttled</Code>";
        if body.windows(code.len()).any(|w| w == code) {
            RetryAction::throttling_error()
        } else {
            RetryAction::NoActionIndicated
        }
    }

    fn name(&self) -> &'static str {
        "SNS Throttled"
    }
}

impl Clients {
    /// Loads the configuration. The region is `--region`, else the stack's `region`, else the
    /// standard chain's.
    pub async fn load(target: &Target, stack_region: Option<&str>) -> anyhow::Result<Clients> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(retry_config())
            .timeout_config(timeout_config());
        if let Some(region) = target.region.as_deref().or(stack_region) {
            loader = loader.region(Region::new(region.to_string()));
        }
        if let Some(profile) = &target.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &target.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let config = loader.load().await;
        Clients::from_config(&config)
    }

    pub fn from_config(config: &SdkConfig) -> anyhow::Result<Clients> {
        let region = config.region().map(|r| r.to_string()).context(
            "no AWS region: set `region` in stack.yaml, pass --region, or set AWS_REGION",
        )?;
        // Every client refuses to start a request once the user has interrupted.
        macro_rules! client {
            ($sdk:ident) => {
                $sdk::Client::from_conf(
                    $sdk::config::Builder::from(config)
                        .interceptor(interrupt::Guard)
                        .build(),
                )
            };
        }
        Ok(Clients {
            region,
            emulator: apigateway_endpoint(config).filter(|url| is_emulator(url)),
            sts: client!(aws_sdk_sts),
            dynamodb: client!(aws_sdk_dynamodb),
            lease: aws_sdk_dynamodb::Client::new(config),
            iam: client!(aws_sdk_iam),
            lambda: client!(aws_sdk_lambda),
            apigateway: client!(aws_sdk_apigateway),
            logs: client!(aws_sdk_cloudwatchlogs),
            cloudwatch: client!(aws_sdk_cloudwatch),
            sns: aws_sdk_sns::Client::from_conf(
                aws_sdk_sns::config::Builder::from(config)
                    .interceptor(interrupt::Guard)
                    .retry_classifier(SnsThrottled)
                    .build(),
            ),
        })
    }

    /// The account the credentials belong to (STS GetCallerIdentity).
    pub async fn account(&self) -> anyhow::Result<String> {
        let identity = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .doing(|| "cannot identify the AWS account".to_string())?;
        identity
            .account
            .context("sts:GetCallerIdentity returned no account")
    }
}

/// The endpoint API Gateway's client uses, resolved as the SDK resolves it: `--endpoint-url`,
/// else `AWS_ENDPOINT_URL_API_GATEWAY` (or the profile's `services` section), else
/// `AWS_ENDPOINT_URL`.
fn apigateway_endpoint(config: &SdkConfig) -> Option<String> {
    if config.get_origin("endpoint_url").is_client_config() {
        return config.endpoint_url().map(str::to_string);
    }
    let key = aws_types::service_config::ServiceConfigKey::builder()
        .service_id("API Gateway")
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .ok()?;
    config
        .service_config()
        .and_then(|c| c.load_config(key))
        .or_else(|| config.endpoint_url().map(str::to_string))
}

/// Whether an endpoint is an emulator's rather than AWS's (or a VPC endpoint's, which are
/// HTTPS on AWS's domains): plain HTTP, or a loopback host.
pub fn is_emulator(url: &str) -> bool {
    let host = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split(['/', ':'])
        .next()
        .unwrap_or("");
    url.starts_with("http://") || matches!(host, "localhost" | "127.0.0.1" | "[" | "::1")
}

/// The configuration override for one attempt only, for the creates that
/// [`crate::wait::create_once`] retries itself:
/// `.customize().config_override(single_attempt!(aws_sdk_iam))`.
#[macro_export]
macro_rules! single_attempt {
    ($sdk:ident) => {
        $sdk::config::Builder::default().retry_config(aws_config::retry::RetryConfig::disabled())
    };
}
