//! An AWS error, as a person reads it and as the deployer decides on it: one line with the
//! service, operation, code, AWS's message and a hint ([`describe`]); whether it means "not
//! there" ([`Found`]); whether the request may have been applied all the same ([`ambiguous`]).

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

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

/// How long a quota's refusal asked to wait (API Gateway's `Retry-After`), or the quota's own
/// period when it did not say.
pub fn retry_after(seconds: Option<&str>, quota: std::time::Duration) -> std::time::Duration {
    seconds
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(std::time::Duration::from_secs)
        .unwrap_or(quota)
}

/// Whether an SDK error says "there is no such thing", in any service's spelling.
pub fn is_not_found<E: ProvideErrorMetadata>(
    error: &SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> bool {
    matches!(
        error.code(),
        Some(
            "ResourceNotFoundException"
                | "NotFoundException"
                | "NoSuchEntity"
                | "NoSuchEntityException"
        )
    )
}

/// A read that may find nothing: NotFound, in any service's spelling, is `None`; any other
/// failure (a denied read, throttling) is an error, never "absent".
pub trait Found<T> {
    fn found(self, what: impl FnOnce() -> String) -> anyhow::Result<Option<T>>;
}

impl<T, E> Found<T> for Result<T, SdkError<E, aws_smithy_runtime_api::http::Response>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    fn found(self, what: impl FnOnce() -> String) -> anyhow::Result<Option<T>> {
        match self {
            Ok(value) => Ok(Some(value)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(anyhow::anyhow!("{}: {}", what(), describe(&e))),
        }
    }
}

/// Adds "what we were doing" to an SDK error, as one line: see [`describe`].
pub trait AwsContext<T> {
    fn doing(self, what: impl FnOnce() -> String) -> anyhow::Result<T>;
}

impl<T, E> AwsContext<T> for Result<T, SdkError<E, aws_smithy_runtime_api::http::Response>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    fn doing(self, what: impl FnOnce() -> String) -> anyhow::Result<T> {
        self.map_err(|e| anyhow::anyhow!("{}: {}", what(), describe(&e)))
    }
}

/// `dynamodb UpdateContinuousBackups`: the service and operation an SDK error type belongs to,
/// read from its type path (`aws_sdk_dynamodb::operation::…::UpdateContinuousBackupsError`), so
/// that no call site has to repeat them.
pub fn operation_of<E>() -> (String, String) {
    let path = std::any::type_name::<E>();
    let service = path
        .split("::")
        .next()
        .and_then(|c| c.strip_prefix("aws_sdk_"))
        .unwrap_or("aws")
        .replace("cloudwatchlogs", "logs");
    let operation = path
        .rsplit("::")
        .next()
        .map(|o| o.strip_suffix("Error").unwrap_or(o))
        .unwrap_or("request")
        .to_string();
    (service, operation)
}

/// One line for a failed AWS call: service, operation, error code, AWS's own message, then what
/// to do about it. Never the SDK's `Debug` structure, never the credential chain's every step.
pub fn describe<E>(error: &SdkError<E, aws_smithy_runtime_api::http::Response>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (service, operation) = operation_of::<E>();
    let (what, hint) = match error {
        SdkError::ServiceError(e) => {
            let code = e.err().code().unwrap_or("UnknownError");
            let message = one_line(e.err().message().unwrap_or(""));
            let status = e.raw().status().as_u16();
            (
                format!("{code}: {message}"),
                hint_for(code, status, &service, &operation),
            )
        }
        SdkError::TimeoutError(_) => (
            "no answer in time".to_string(),
            "AWS or the network is slow; run the same command again: it carries on".to_string(),
        ),
        SdkError::DispatchFailure(d) if d.is_io() || d.is_timeout() => (
            format!("could not reach AWS: {}", root_cause(error)),
            "check the network, and the endpoint (--endpoint-url, AWS_ENDPOINT_URL)".to_string(),
        ),
        SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_) => {
            let cause = root_cause(error);
            let credentials = cause.to_ascii_lowercase().contains("credential");
            (
                if credentials {
                    "no AWS credentials were found".to_string()
                } else {
                    cause
                },
                "check your credentials: AWS_PROFILE (then `aws sso login` if it uses SSO), \
                 or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                    .to_string(),
            )
        }
        SdkError::ResponseError(r) => (
            format!("unreadable answer (HTTP {})", r.raw().status().as_u16()),
            "the endpoint may not be AWS; check --endpoint-url and AWS_ENDPOINT_URL".to_string(),
        ),
        _ => (root_cause(error), String::new()),
    };
    let mut line = format!("{service} {operation}: {what}");
    if !hint.is_empty() {
        line.push_str(&format!(" (hint: {hint})"));
    }
    line
}

/// What to do about an AWS error code.
fn hint_for(code: &str, status: u16, service: &str, operation: &str) -> String {
    let action = iam_action(service, operation);
    match code {
        c if c.starts_with("AccessDenied") || c == "UnauthorizedOperation" => format!(
            "the credentials may not call {action}; grant it (`deployer policy` prints the whole \
             policy the deployer needs)"
        ),
        "ExpiredToken" | "ExpiredTokenException" | "RequestExpired" => {
            "the credentials expired; refresh them (`aws sso login`, or new keys)".to_string()
        }
        "InvalidClientTokenId"
        | "UnrecognizedClientException"
        | "SignatureDoesNotMatch"
        | "InvalidSignatureException" => {
            "AWS does not accept these credentials; check AWS_PROFILE or AWS_ACCESS_KEY_ID"
                .to_string()
        }
        "Throttling" | "ThrottlingException" | "TooManyRequestsException" => {
            "AWS kept throttling after every retry; wait a minute, then run again".to_string()
        }
        _ if status >= 500 => {
            "AWS failed on its side; run the same command again: it carries on".to_string()
        }
        _ => String::new(),
    }
}

/// The IAM action an operation needs, as a policy names it.
pub fn iam_action(service: &str, operation: &str) -> String {
    match service {
        // API Gateway authorizes its control plane by HTTP verb, not by operation.
        "apigateway" => format!("apigateway:{}", apigateway_verb(operation)),
        _ => format!("{service}:{operation}"),
    }
}

fn apigateway_verb(operation: &str) -> &'static str {
    for (prefix, verb) in [
        ("Get", "GET"),
        ("Create", "POST"),
        ("Put", "PUT"),
        ("Update", "PATCH"),
        ("Delete", "DELETE"),
        ("Tag", "PUT"),
        ("Untag", "DELETE"),
    ] {
        if operation.starts_with(prefix) {
            return verb;
        }
    }
    "*"
}

/// The innermost message of an error's chain, on one line.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(next) = current.source() {
        current = next;
    }
    one_line(&current.to_string())
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::retry_config;
    use aws_sdk_lambda::operation::get_function::GetFunctionError;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn denied() -> SdkError<GetFunctionError, aws_smithy_runtime_api::http::Response> {
        SdkError::service_error(
            GetFunctionError::generic(
                ErrorMetadata::builder()
                    .code("AccessDeniedException")
                    .message("User: arn:aws:iam::1:user/ci is not authorized\n to perform: lambda:GetFunction")
                    .build(),
            ),
            aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(403).unwrap_or_else(|e| panic!("{e}")),
                SdkBody::empty(),
            ),
        )
    }

    #[test]
    fn an_aws_error_is_one_line_with_service_operation_code_message_and_hint() {
        let line = describe(&denied());
        assert_eq!(
            line,
            "lambda GetFunction: AccessDeniedException: User: arn:aws:iam::1:user/ci is not \
             authorized to perform: lambda:GetFunction (hint: the credentials may not call \
             lambda:GetFunction; grant it (`deployer policy` prints the whole policy the \
             deployer needs))"
        );
        assert!(!line.contains('\n'));
    }

    #[test]
    fn operations_are_named_from_the_error_type() {
        assert_eq!(
            operation_of::<aws_sdk_dynamodb::operation::update_continuous_backups::UpdateContinuousBackupsError>(),
            ("dynamodb".to_string(), "UpdateContinuousBackups".to_string())
        );
        assert_eq!(
            operation_of::<aws_sdk_cloudwatchlogs::operation::create_log_group::CreateLogGroupError>(
            ),
            ("logs".to_string(), "CreateLogGroup".to_string())
        );
        assert_eq!(
            iam_action("apigateway", "DeleteRestApi"),
            "apigateway:DELETE"
        );
        assert_eq!(iam_action("iam", "PutRolePolicy"), "iam:PutRolePolicy");
    }

    #[test]
    fn throttling_is_retried_in_standard_mode_with_more_attempts() {
        let retry = retry_config();
        assert_eq!(retry.mode(), aws_config::retry::RetryMode::Standard);
        assert_eq!(retry.max_attempts(), 8);
    }
}
