//! The `bootstrap` binary: reads the configuration and builds the DynamoDB client once per
//! execution environment, then serves invocations from the Lambda Runtime API.

use std::process::ExitCode;
use std::sync::Arc;

use function::{log, Config, State};
use lambda_http::{service_fn, Request};

// One invocation at a time per execution environment: a multi-threaded scheduler has nothing to
// run in parallel, and starting its worker threads cost 0.8–1.0 ms of init (medians of 40
// processes, three rounds: 4.2–4.8 ms multi-threaded, 3.3–3.9 ms current-thread; README).
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // Init steps, measured by `target/release/init_steps` (medians of 40 fresh processes): the
    // JSON log subscriber 0.08 ms, the configuration 0.004 ms, the HTTPS client with compiled-in
    // roots 0.02 ms, aws-config's chain and the client 1.2 ms. All kept: the logs are the
    // function's contract, and the standard chain (environment credentials, AWS_ENDPOINT_URL*,
    // FIPS and dual-stack settings) is worth its 1.2 ms over a hand-built configuration.
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
        async move { Ok::<_, std::convert::Infallible>(function::handle(&state, req).await) }
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
