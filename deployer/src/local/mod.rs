//! Running the real function here, as `up` would deploy it: the stack's routes as a stage
//! ([`stage`]), the built `bootstrap` in warm processes behind the Lambda Runtime API, with the
//! environment `up` derives ([`spec`]), and the local API ([`serve`]). The runtime itself is
//! `lambda-local`, which testkit's emulated request path runs too, so `serve` and the emulated
//! stage cannot answer differently.

pub mod serve;

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use lambda_local::gateway::{self, GatewayResponses, Integration, Invoked, Stage};
use lambda_local::{HttpRequest, HttpResponse, Logs, Outcome, Pool, Spec};

pub use lambda_local::runtime_api;

use crate::arns::Arns;
use crate::names::Names;
use crate::stack::{Architecture, Stack};

/// Variables passed from the deployer's environment to the function, so that it reaches the same
/// AWS (or emulator) with the same credentials, trusting the same CA bundle if one is set.
const PASSED_THROUGH: [&str; 9] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ENDPOINT_URL",
    "AWS_CA_BUNDLE",
    "HOME",
];

/// How this host runs a `bootstrap` of `arch`: natively (`None`), or under Debian's user-mode
/// emulator, as the program and its first arguments.
pub fn emulation(arch: Architecture) -> anyhow::Result<Option<(PathBuf, Vec<String>)>> {
    lambda_local::emulation::emulation(arch.rust_target())
}

/// The process spec of the stack's function: Lambda's variables, and the function environment
/// derived by [`Names`], the same one `up` deploys; under [`emulation`] when the function's
/// architecture is not the host's.
pub fn spec(
    stack: &Stack,
    names: &Names,
    arns: &Arns,
    bootstrap: PathBuf,
    endpoint_url: Option<&str>,
) -> anyhow::Result<Spec> {
    let mut env: Vec<(String, String)> = vec![
        ("AWS_LAMBDA_FUNCTION_NAME".into(), names.function.clone()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(),
            stack.function.memory_mb.to_string(),
        ),
        ("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into()),
        ("AWS_LAMBDA_LOG_GROUP_NAME".into(), names.log_group.clone()),
        ("AWS_LAMBDA_LOG_STREAM_NAME".into(), "local".into()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE".into(), "on-demand".into()),
        ("AWS_REGION".into(), names.region.clone()),
        ("AWS_DEFAULT_REGION".into(), names.region.clone()),
        ("_HANDLER".into(), crate::conventions::HANDLER.into()),
    ];
    for (k, v) in std::env::vars() {
        if PASSED_THROUGH.contains(&k.as_str()) || k.starts_with("AWS_ENDPOINT_URL_") {
            env.push((k, v));
        }
    }
    if let Some(url) = endpoint_url {
        env.retain(|(k, _)| k != "AWS_ENDPOINT_URL");
        env.push(("AWS_ENDPOINT_URL".into(), url.to_string()));
    }
    env.extend(stack.environment());
    let (program, args) = match emulation(stack.function.architecture)? {
        None => (bootstrap, Vec::new()),
        Some((emulator, mut args)) => {
            args.push(bootstrap.display().to_string());
            (emulator, args)
        }
    };
    Ok(Spec {
        program,
        args,
        cwd: None,
        env,
        timeout: Duration::from_secs(u64::from(stack.function.timeout_s)),
        function_arn: arns.function.clone(),
        logs: Logs::Stderr,
    })
}

/// The stage `up` deploys, as API Gateway serves it: the stack's routes (with the `OPTIONS`
/// preflights CORS adds), each a Lambda proxy integration, and the gateway responses' headers.
pub fn stage(stack: &Stack, arns: &Arns) -> Stage {
    let uri = arns.integration_uri();
    let routes = stack
        .api
        .served_routes()
        .into_iter()
        .map(|route| gateway::Served {
            route,
            resource_id: "local".into(),
            uri: uri.clone(),
        })
        .collect();
    let by_type = crate::resources::api::gateway_responses(&stack.api.cors_origins)
        .into_iter()
        .filter(|(_, params)| !params.is_empty())
        .collect();
    Stage {
        account_id: arns.account.clone(),
        api_id: "local".into(),
        stage: stack.stage.clone(),
        domain_name: "localhost".into(),
        routes,
        responses: GatewayResponses { by_type },
    }
}

/// The pool of function processes behind every route of a local stage.
struct Local<'a>(&'a Pool);

impl Integration for Local<'_> {
    async fn invoke(&self, _served: &gateway::Served, event: Bytes) -> Invoked {
        match self.0.invoke(event).await {
            Outcome::Response(payload) => Invoked::Response(payload),
            Outcome::Error(body) => Invoked::Failed(format!(
                "the function failed: {}",
                String::from_utf8_lossy(&body)
            )),
            Outcome::Timeout => Invoked::Failed("the function timed out and was stopped".into()),
            Outcome::Crashed(why) => Invoked::Failed(why),
        }
    }
}

/// One HTTP request through the local stage (its path may carry the stage, as stage URLs do):
/// route, event, function, response, as API Gateway does.
pub async fn handle(pool: &Pool, stage: &Stage, mut req: HttpRequest) -> HttpResponse {
    req.path = without_stage(&stage.stage, &req.path).to_string();
    let id = runtime_api::request_id();
    let (response, failed) = gateway::handle(stage, &Local(pool), &req, &id).await;
    if let Some(why) = failed {
        eprintln!("  ! {} {}: {why}", req.method, req.path);
    }
    response
}

/// `/prod/counter` → `/counter` for stage `prod`; any other path as it is.
pub fn without_stage<'a>(stage: &str, path: &'a str) -> &'a str {
    match path.strip_prefix('/').and_then(|p| p.strip_prefix(stage)) {
        Some(rest) if rest.starts_with('/') => rest,
        _ => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stage_prefix_is_dropped_only_when_it_is_the_stage() {
        assert_eq!(without_stage("prod", "/prod/counter"), "/counter");
        assert_eq!(without_stage("prod", "/counter"), "/counter");
        assert_eq!(
            without_stage("prod", "/production/counter"),
            "/production/counter"
        );
    }

    #[test]
    fn the_local_stage_serves_the_stacks_routes_and_preflights() {
        let s = crate::stack::parse(
            "name: vc\napi:\n  cors_origins: [\"https://a.example\"]\n",
            std::path::Path::new("stack.yaml"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let names = Names::derive(&s, "us-east-1");
        let stage = stage(&s, &Arns::of(&names, "123456789012"));
        assert!(stage.find("GET", "/counter").is_some());
        assert!(stage.find("OPTIONS", "/counter").is_some());
        assert!(stage.find("POST", "/counter").is_none());
        assert!(stage.responses.by_type.contains_key("DEFAULT_4XX"));
    }
}
