//! The one place where AWS clients are built: credentials, region, profile and endpoint from the
//! standard chain, with the CLI's overrides, adaptive retry for throttling, and timeouts.
//!
//! `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>` work untouched because aws-config reads
//! them; `--endpoint-url` overrides both.

use std::time::Duration;

use anyhow::Context as _;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::interrupt;

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
    pub sts: aws_sdk_sts::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub iam: aws_sdk_iam::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub apigateway: aws_sdk_apigateway::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
}

/// Throttling (`ThrottlingException`, `TooManyRequestsException`) is retried with backoff, and
/// adaptive mode also slows the client down while AWS keeps throttling it.
pub fn retry_config() -> RetryConfig {
    RetryConfig::adaptive()
        .with_max_attempts(6)
        .with_initial_backoff(Duration::from_millis(200))
        .with_max_backoff(Duration::from_secs(10))
}

/// Connecting takes milliseconds when AWS is reachable; a function zip upload can take a while
/// on a slow uplink, so an attempt gets a minute.
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .operation_attempt_timeout(Duration::from_secs(60))
        .build()
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
            sts: client!(aws_sdk_sts),
            dynamodb: client!(aws_sdk_dynamodb),
            iam: client!(aws_sdk_iam),
            lambda: client!(aws_sdk_lambda),
            apigateway: client!(aws_sdk_apigateway),
            logs: client!(aws_sdk_cloudwatchlogs),
        })
    }

    /// The account the credentials belong to (STS GetCallerIdentity).
    pub async fn account(&self) -> anyhow::Result<String> {
        let identity = self.sts.get_caller_identity().send().await.map_err(|e| {
            anyhow::anyhow!(
                "cannot identify the AWS account (sts:GetCallerIdentity): {}\n  \
                 hint: check your credentials (AWS_PROFILE, `aws sso login`, or AWS_ACCESS_KEY_ID) \
                 and that the endpoint is reachable",
                DisplayErrorContext(&e)
            )
        })?;
        identity
            .account
            .context("sts:GetCallerIdentity returned no account")
    }
}

/// Whether a failed request may still have been applied: its answer was lost or late, or AWS
/// answered 5xx or throttled (throttled requests are not applied, but looking costs little).
/// Only such failures are worth a look and another try; a 4xx refusal is final.
pub fn ambiguous<E: ProvideErrorMetadata>(
    error: &SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> bool {
    match error {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(e) => {
            e.raw().status().is_server_error()
                || matches!(
                    e.err().code(),
                    Some("ThrottlingException" | "Throttling" | "TooManyRequestsException")
                )
        }
        _ => false,
    }
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

/// Adds "what we were doing" to an SDK error, keeping the SDK's whole error chain.
pub trait AwsContext<T> {
    fn doing(self, what: impl FnOnce() -> String) -> anyhow::Result<T>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> AwsContext<T> for Result<T, E> {
    fn doing(self, what: impl FnOnce() -> String) -> anyhow::Result<T> {
        self.map_err(|e| anyhow::anyhow!("{}: {}", what(), DisplayErrorContext(&e)))
    }
}
