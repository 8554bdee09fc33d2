//! What the proxy can do to a request instead of (or besides) forwarding it: the failures real
//! AWS produces, each in the wire shape of the service's protocol, drawn from a seeded RNG so
//! that a failing run can be replayed exactly.

use std::time::Duration;

use bytes::Bytes;
use hyper::{Response, StatusCode};

/// One kind of failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 500 with the protocol's internal-error shape; the request never reaches the emulator.
    ServerError,
    /// 503 with the protocol's unavailable shape; the request never reaches the emulator.
    Unavailable,
    /// The service's throttling error, as AWS sends it:
    /// - DynamoDB and CloudWatch Logs (awsJson): 400 `ThrottlingException`;
    /// - IAM and STS (awsQuery, XML): 400 `Throttling`;
    /// - Lambda and API Gateway (restJson): 429 `TooManyRequestsException`.
    Throttle,
    /// The connection is reset before the request is forwarded: nothing happened.
    ResetBefore,
    /// The request is forwarded and applied, then the connection is reset before the answer:
    /// the client cannot know that it succeeded. The hardest case for a non-idempotent create.
    ResetAfter,
    /// The request is forwarded after a delay: in [`Faults::kinds`], of up to this long; as
    /// injected ([`crate::Recorder::injected`]), of exactly the length drawn from the seed.
    Latency(Duration),
    /// The request is held this long before it is forwarded: longer than the client's timeout.
    Stall(Duration),
}

/// Every fault that fails a request, plus latency: the mix the deployer's fault tests use.
pub fn all() -> Vec<Fault> {
    vec![
        Fault::ServerError,
        Fault::Unavailable,
        Fault::Throttle,
        Fault::ResetBefore,
        Fault::ResetAfter,
        Fault::Latency(Duration::from_millis(300)),
    ]
}

/// Which requests fail, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// The RNG's seed; the same seed and the same request order give the same faults.
    pub seed: u64,
    /// The share of requests that get a fault, 0.0 to 1.0.
    pub rate: f64,
    /// Drawn from uniformly for each request that gets a fault.
    pub kinds: Vec<Fault>,
    /// Only requests to this SigV4 service (`dynamodb`…) are touched; `None` touches all.
    pub service: Option<String>,
    /// Only this operation (`CreateRole`, or `POST /restapis/*/stages` where `*` is any one path
    /// segment) is touched; `None` touches all.
    pub operation: Option<String>,
    /// At most this many faults are injected; `None` has no limit.
    pub limit: Option<usize>,
}

impl Faults {
    pub fn new(seed: u64, rate: f64, kinds: Vec<Fault>) -> Faults {
        Faults {
            seed,
            rate,
            kinds,
            service: None,
            operation: None,
            limit: None,
        }
    }

    /// The first request for `operation` (see [`Faults::operation`]) gets `fault`; no other.
    pub fn once(operation: &str, fault: Fault) -> Faults {
        Faults {
            operation: Some(operation.to_string()),
            limit: Some(1),
            ..Faults::new(0, 1.0, vec![fault])
        }
    }

    /// Every request to `service` gets `fault`.
    pub fn always(service: &str, fault: Fault) -> Faults {
        Faults {
            service: Some(service.to_string()),
            ..Faults::new(0, 1.0, vec![fault])
        }
    }
}

/// The seeded draw of each request, keyed by its operation and its ordinal among that
/// operation's requests (the 3rd `GetItem`), so that a request added elsewhere (a new read of
/// another kind) does not move the faults every later request draws.
#[derive(Debug)]
pub(crate) struct Dice {
    faults: Faults,
    seen: std::collections::HashMap<String, u64>,
    injected: usize,
}

impl Dice {
    pub(crate) fn new(faults: Faults) -> Dice {
        Dice {
            faults,
            seen: std::collections::HashMap::new(),
            injected: 0,
        }
    }

    /// The draw of the next request of `service` `operation`, from the seed, the operation
    /// (its ids made generic) and its ordinal.
    fn rng(&mut self, service: &str, operation: &str) -> fastrand::Rng {
        use std::hash::{Hash as _, Hasher as _};
        let key = format!("{service} {}", generic(operation));
        let ordinal = self.seen.entry(key.clone()).or_insert(0);
        *ordinal += 1;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (self.faults.seed, key, *ordinal).hash(&mut hasher);
        fastrand::Rng::with_seed(hasher.finish())
    }

    pub(crate) fn roll(&mut self, service: &str, operation: &str) -> Option<Fault> {
        let f = &self.faults;
        if f.service.as_deref().is_some_and(|s| s != service)
            || f.operation
                .as_deref()
                .is_some_and(|p| !matches(p, operation))
            || f.limit.is_some_and(|limit| self.injected >= limit)
        {
            return None;
        }
        let (rate, kinds) = (f.rate, f.kinds.len().max(1));
        let mut rng = self.rng(service, operation);
        let hit = rng.f64() < rate;
        let pick = rng.usize(..kinds);
        let f = &self.faults;
        // A latency's own length is drawn from the same generator: a seed replays it too.
        let fault = match f.kinds.get(pick).copied() {
            Some(Fault::Latency(max)) if hit => {
                let most = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
                Some(Fault::Latency(Duration::from_millis(rng.u64(0..=most))))
            }
            kind if hit => kind,
            _ => None,
        };
        self.injected += usize::from(fault.is_some());
        fault
    }
}

/// `operation` with the ids in its path as `*` (a REST API's or a resource's id: a segment with
/// a digit, or 10 lowercase letters and digits), so that runs draw alike whatever ids AWS gave.
pub fn generic(operation: &str) -> String {
    operation
        .split('/')
        .map(|s| {
            let id = s.bytes().any(|b| b.is_ascii_digit())
                || (s.len() == 10
                    && s.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
            if id {
                "*"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether `operation` is one that `pattern` names (a `*` path segment matches any one segment),
/// as [`Faults::once`] and [`crate::On::Operation`] match.
pub fn matches(pattern: &str, operation: &str) -> bool {
    let (p, o): (Vec<&str>, Vec<&str>) =
        (pattern.split('/').collect(), operation.split('/').collect());
    p.len() == o.len() && p.iter().zip(&o).all(|(p, o)| *p == "*" || p == o)
}

/// The error AWS would send for `fault` from `service`, in that service's protocol.
pub(crate) fn response(service: &str, fault: Fault) -> Response<Bytes> {
    let (status, code, message) = match fault {
        Fault::Throttle => match service {
            "lambda" | "apigateway" => (429, "TooManyRequestsException", "Rate exceeded"),
            "iam" | "sts" | "monitoring" => (400, "Throttling", "Rate exceeded"),
            "sns" => (400, "Throttled", "Rate exceeded"),
            _ => (400, "ThrottlingException", "Rate exceeded"),
        },
        Fault::Unavailable => (503, "ServiceUnavailable", "Service unavailable (injected)"),
        _ => (500, "InternalFailure", "Internal failure (injected)"),
    };
    aws_error(service, status, code, message)
}

/// An error answer from `service`, in that service's protocol: XML for IAM, STS and SNS, CBOR
/// for CloudWatch, JSON with `x-amzn-errortype` for Lambda and API Gateway, JSON with
/// `__type` for the rest.
pub(crate) fn aws_error(service: &str, status: u16, code: &str, message: &str) -> Response<Bytes> {
    let request_id = "00000000-0000-0000-0000-000000fa0175";
    if service == "monitoring" {
        return cbor_error(status, code, message, request_id);
    }
    let (content_type, body) = match service {
        "iam" | "sts" | "sns" => (
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>{}</Type><Code>{code}</Code>\
                 <Message>{}</Message></Error><RequestId>{request_id}</RequestId>\
                 </ErrorResponse>",
                if status < 500 { "Sender" } else { "Receiver" },
                xml_escape(message)
            ),
        ),
        "lambda" | "apigateway" => (
            "application/json",
            serde_json::json!({"message": message}).to_string(),
        ),
        _ => (
            "application/x-amz-json-1.1",
            serde_json::json!({"__type": code, "message": message}).to_string(),
        ),
    };
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", content_type)
        .header("x-amzn-requestid", request_id);
    if matches!(service, "lambda" | "apigateway") {
        builder = builder.header("x-amzn-errortype", code);
    }
    builder
        .body(Bytes::from(body))
        .unwrap_or_else(|_| Response::new(Bytes::new()))
}

/// An error in Smithy RPC v2 CBOR (CloudWatch): a CBOR map with `__type` and `message`, and
/// the query-compatible code in `x-amzn-query-error`, as CloudWatch sends it.
fn cbor_error(status: u16, code: &str, message: &str, request_id: &str) -> Response<Bytes> {
    let mut body = Vec::new();
    let map = serde_json::json!({"__type": code, "message": message});
    if ciborium::into_writer(&map, &mut body).is_err() {
        body.clear();
    }
    let fault = if status < 500 { "Sender" } else { "Receiver" };
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/cbor")
        .header("smithy-protocol", "rpc-v2-cbor")
        .header("x-amzn-query-error", format!("{code};{fault}"))
        .header("x-amzn-requestid", request_id)
        .body(Bytes::from(body))
        .unwrap_or_else(|_| Response::new(Bytes::new()))
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_added_elsewhere_moves_no_other_draw() {
        let draws = |extra: bool| {
            let mut dice = Dice::new(Faults::new(7, 0.5, all()));
            (0..40)
                .map(|i| {
                    if extra && i % 3 == 0 {
                        dice.roll("sns", "ListTopics");
                    }
                    dice.roll("dynamodb", "GetItem")
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(draws(false), draws(true));
        assert!(draws(false).iter().any(Option::is_some));
        assert_eq!(
            generic("PUT /restapis/amhpqamzun/resources/ild723q1rl/methods/GET"),
            "PUT /restapis/*/resources/*/methods/GET"
        );
    }

    #[test]
    fn the_same_seed_draws_the_same_faults() {
        let draw = |seed| {
            let mut dice = Dice::new(Faults::new(seed, 0.3, all()));
            (0..200)
                .map(|_| dice.roll("iam", "GetRole"))
                .collect::<Vec<_>>()
        };
        // Latencies included: the delay injected is drawn from the seed, not at the moment.
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        let delays: std::collections::BTreeSet<Duration> = draw(7)
            .into_iter()
            .filter_map(|f| match f {
                Some(Fault::Latency(d)) => Some(d),
                _ => None,
            })
            .collect();
        assert!(delays.len() > 1, "every latency was as long: {delays:?}");
        let hits = draw(7).iter().filter(|f| f.is_some()).count();
        assert!((35..=85).contains(&hits), "{hits} of 200 at 30%");
    }

    #[test]
    fn a_service_filter_leaves_other_services_alone() {
        let mut dice = Dice::new(Faults::always("dynamodb", Fault::Throttle));
        assert_eq!(dice.roll("lambda", "GET /x"), None);
        assert_eq!(dice.roll("dynamodb", "GetItem"), Some(Fault::Throttle));
    }

    #[test]
    fn once_hits_the_first_matching_operation_only() {
        let mut dice = Dice::new(Faults::once("POST /restapis/*/stages", Fault::ResetAfter));
        assert_eq!(dice.roll("apigateway", "POST /restapis"), None);
        assert_eq!(
            dice.roll("apigateway", "POST /restapis/a1/stages/prod"),
            None
        );
        assert_eq!(
            dice.roll("apigateway", "POST /restapis/a1/stages"),
            Some(Fault::ResetAfter)
        );
        assert_eq!(dice.roll("apigateway", "POST /restapis/a1/stages"), None);
    }

    #[test]
    fn throttling_has_each_protocols_shape() {
        let iam = response("iam", Fault::Throttle);
        assert_eq!(iam.status(), 400);
        assert_eq!(iam.headers()["content-type"], "text/xml");
        let lambda = response("lambda", Fault::Throttle);
        assert_eq!(lambda.status(), 429);
        assert_eq!(
            lambda.headers()["x-amzn-errortype"],
            "TooManyRequestsException"
        );
        let db = response("dynamodb", Fault::Throttle);
        assert_eq!(db.status(), 400);
    }
}
