//! The `bootstrap` binary: reads the configuration and builds the DynamoDB client once per
//! execution environment, then serves invocations from the Lambda Runtime API.

use std::process::ExitCode;
use std::sync::Arc;

use function::{log, Config, State};
use lambda_http::{service_fn, Request};

// One invocation at a time per execution environment: a multi-threaded scheduler has nothing to
// run in parallel, and starting its worker threads costs init time (`bench/src/bin/init_steps.rs`
// measures each step; the README has the figures).
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // Every init step is kept (`init_steps` measures each): the logs are the function's
    // contract, and the standard chain (environment credentials, AWS_ENDPOINT_URL*, FIPS and
    // dual-stack settings), the costliest step, is worth it over a hand-built configuration.
    log::init();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(message) => {
            // An init failure: Lambda reports Runtime.ExitError and this line says why.
            tracing::error!(error = %message, "configuration error");
            return ExitCode::FAILURE;
        }
    };
    // Trust anchors compiled in, or AWS_CA_BUNDLE's: no certificate store is read (tls.rs).
    let roots = function::tls::Roots::from_lookup(|key| std::env::var(key).ok());
    let http = match function::tls::http_client(&roots) {
        Ok(http) => http,
        Err(message) => {
            tracing::error!(error = %message, "configuration error");
            return ExitCode::FAILURE;
        }
    };
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http);
    let state = Arc::new(State::new(function::dynamodb_client(loader).await, config));

    let served = lambda_http::run(service_fn(move |req: Request| {
        let state = Arc::clone(&state);
        async move { function::invocation(&state, req).await }
    }))
    .await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %error, "the Lambda runtime stopped");
            ExitCode::FAILURE
        }
    }
}
