//! An API Gateway REST API stage in front of a Lambda proxy integration: the route is matched,
//! the request becomes a REST v1 proxy event, the function's answer becomes the HTTP response,
//! and API Gateway's own answers (no route, a failed or forbidden invocation, throttling) carry
//! the headers of the API's gateway responses, as AWS adds them.
//!
//! `deployer serve` runs it with the stack's routes; testkit's emulated request path runs it
//! with a deployment read back from the emulator, so both answer as API Gateway does.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::events::{self, Context, HttpRequest, HttpResponse, Route};

/// The prefix of a gateway response's header parameters.
const HEADER: &str = "gatewayresponse.header.";

/// API Gateway's own answers, by response type (`DEFAULT_4XX`…): the headers each adds, as
/// mappings (`'value'`, or `method.request.header.Origin` from the request).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GatewayResponses {
    pub by_type: BTreeMap<String, BTreeMap<String, String>>,
}

/// One of API Gateway's own answers: its status, body (byte for byte as AWS sends it), error
/// type (`x-amzn-ErrorType`) and gateway response type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub body: &'static str,
    pub error_type: &'static str,
    /// The specific gateway response type; it falls back to `DEFAULT_4XX` or `DEFAULT_5XX`.
    pub kind: &'static str,
}

/// No resource and method match (a route added without a new deployment included): 403.
pub const MISSING_AUTHENTICATION_TOKEN: Refusal = Refusal {
    status: 403,
    body: r#"{"message":"Missing Authentication Token"}"#,
    error_type: "MissingAuthenticationTokenException",
    kind: "MISSING_AUTHENTICATION_TOKEN",
};
/// Over the stage's rate or burst.
pub const THROTTLED: Refusal = Refusal {
    status: 429,
    body: r#"{"message":"Too Many Requests"}"#,
    error_type: "TooManyRequestsException",
    kind: "THROTTLED",
};
/// The function failed, timed out, crashed or answered something that is not a proxy response
/// (a real capture is 36 bytes: the space after the colon is AWS's).
pub const BAD_GATEWAY: Refusal = Refusal {
    status: 502,
    body: r#"{"message": "Internal server error"}"#,
    error_type: "InternalServerErrorException",
    kind: "DEFAULT_5XX",
};
/// API Gateway may not invoke the function: its resource policy does not allow this API
/// ("Execution failed due to configuration error: Invalid permissions on Lambda function").
pub const INVALID_PERMISSIONS: Refusal = Refusal {
    status: 500,
    body: r#"{"message": "Internal server error"}"#,
    error_type: "InternalServerErrorException",
    kind: "API_CONFIGURATION_ERROR",
};

impl GatewayResponses {
    /// The response type whose headers apply to `refusal`: its own, when the API customises it,
    /// else the default of its class.
    fn headers_for(&self, refusal: Refusal) -> Option<&BTreeMap<String, String>> {
        let default = if refusal.status < 500 {
            "DEFAULT_4XX"
        } else {
            "DEFAULT_5XX"
        };
        self.by_type
            .get(refusal.kind)
            .or_else(|| self.by_type.get(default))
    }

    /// API Gateway's answer `refusal` to `req`, with the headers of its gateway response.
    pub fn answer(&self, refusal: Refusal, req: &HttpRequest) -> HttpResponse {
        let mut response = HttpResponse {
            status: refusal.status,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("x-amzn-errortype".into(), refusal.error_type.into()),
            ],
            body: refusal.body.as_bytes().to_vec(),
        };
        for (param, mapping) in self.headers_for(refusal).into_iter().flatten() {
            let Some(name) = param.strip_prefix(HEADER) else {
                continue;
            };
            let value = match mapping.strip_prefix("method.request.header.") {
                Some(header) => req.header(header).map(str::to_string),
                None => Some(mapping.trim_matches('\'').to_string()),
            };
            if let Some(value) = value {
                response.headers.push((name.to_lowercase(), value));
            }
        }
        response
    }
}

/// A route as a deployment serves it: its resource's id, and what the integration calls.
#[derive(Debug, Clone, PartialEq)]
pub struct Served {
    pub route: Route,
    pub resource_id: String,
    /// The integration's URI (`arn:…:lambda:path/2015-03-31/functions/ARN/invocations`).
    pub uri: String,
}

/// One stage of one API, as it serves requests.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub account_id: String,
    pub api_id: String,
    pub stage: String,
    pub domain_name: String,
    pub routes: Vec<Served>,
    pub responses: GatewayResponses,
}

impl Stage {
    /// The route serving `method path` (the path below the stage); `ANY` takes every method.
    pub fn find(&self, method: &str, path: &str) -> Option<&Served> {
        let path = match path.strip_suffix('/') {
            Some(trimmed) if !trimmed.is_empty() => trimmed,
            _ => path,
        };
        self.routes
            .iter()
            .find(|r| r.route.path == path && (r.route.method == method || r.route.method == "ANY"))
    }
}

/// What calling the integration came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Invoked {
    /// The function's proxy response.
    Response(Bytes),
    /// The function failed: an error, a crash, a timeout (API Gateway answers 502).
    Failed(String),
    /// API Gateway may not invoke the function (API Gateway answers 500).
    Forbidden(String),
}

/// The integration behind a stage's routes.
#[allow(async_fn_in_trait)]
pub trait Integration {
    /// Invokes what `served` integrates with, with the proxy `event`.
    async fn invoke(&self, served: &Served, event: Bytes) -> Invoked;
}

/// One request through `stage`, as API Gateway serves it; `request_id` is API Gateway's own.
/// Returns the response and, when the function was invoked, why it failed if it did.
pub async fn handle(
    stage: &Stage,
    integration: &impl Integration,
    req: &HttpRequest,
    request_id: &str,
) -> (HttpResponse, Option<String>) {
    let Some(served) = stage.find(&req.method, &req.path) else {
        return (
            stage.responses.answer(MISSING_AUTHENTICATION_TOKEN, req),
            None,
        );
    };
    let ctx = Context {
        account_id: stage.account_id.clone(),
        api_id: stage.api_id.clone(),
        stage: stage.stage.clone(),
        resource_id: served.resource_id.clone(),
        request_id: request_id.to_string(),
        domain_name: stage.domain_name.clone(),
    };
    let event = events::to_event(req, &served.route, &ctx);
    let answer = integration
        .invoke(served, Bytes::from(event.to_string()))
        .await;
    let failed = |why: String| (stage.responses.answer(BAD_GATEWAY, req), Some(why));
    match answer {
        Invoked::Response(payload) => match events::from_response(&payload) {
            Ok(response) => (response, None),
            Err(why) => failed(why),
        },
        Invoked::Failed(why) => failed(why),
        Invoked::Forbidden(why) => (stage.responses.answer(INVALID_PERMISSIONS, req), Some(why)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage() -> Stage {
        let cors = BTreeMap::from([
            (
                "gatewayresponse.header.Access-Control-Allow-Origin".to_string(),
                "method.request.header.Origin".to_string(),
            ),
            (
                "gatewayresponse.header.Vary".to_string(),
                "'Origin'".to_string(),
            ),
        ]);
        Stage {
            account_id: "1".into(),
            api_id: "a".into(),
            stage: "prod".into(),
            domain_name: "a.execute-api.us-east-1.amazonaws.com".into(),
            routes: vec![
                Served {
                    route: Route::parse("GET /counter").unwrap_or_else(|| panic!()),
                    resource_id: "r1".into(),
                    uri: "uri".into(),
                },
                Served {
                    route: Route::parse("ANY /echo").unwrap_or_else(|| panic!()),
                    resource_id: "r2".into(),
                    uri: "uri".into(),
                },
            ],
            responses: GatewayResponses {
                by_type: BTreeMap::from([("DEFAULT_4XX".to_string(), cors)]),
            },
        }
    }

    #[test]
    fn routes_match_on_method_and_path_and_any_takes_every_method() {
        let s = stage();
        assert!(s.find("GET", "/counter").is_some());
        assert!(s.find("GET", "/counter/").is_some());
        assert!(s.find("POST", "/counter").is_none());
        assert!(s.find("DELETE", "/echo").is_some());
        assert!(s.find("GET", "/nope").is_none());
    }

    #[test]
    fn gateway_answers_carry_their_response_types_headers() {
        let s = stage();
        let req = HttpRequest {
            method: "GET".into(),
            path: "/nope".into(),
            headers: vec![("Origin".into(), "https://example.com".into())],
            ..Default::default()
        };
        let missing = s.responses.answer(MISSING_AUTHENTICATION_TOKEN, &req);
        assert_eq!(missing.status, 403);
        assert_eq!(
            missing.header("access-control-allow-origin"),
            Some("https://example.com")
        );
        assert_eq!(missing.header("vary"), Some("Origin"));
        assert_eq!(
            String::from_utf8_lossy(&missing.body),
            r#"{"message":"Missing Authentication Token"}"#
        );
        let failed = s.responses.answer(BAD_GATEWAY, &req);
        assert_eq!(failed.status, 502);
        assert_eq!(failed.header("access-control-allow-origin"), None);
        assert_eq!(failed.body.len(), 36, "AWS's own 502 body");
    }
}
