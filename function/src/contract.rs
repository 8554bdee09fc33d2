//! The function's contract with the stack that deploys it: the paths and methods it serves, the
//! table key and attributes it reads and writes, and the environment variables it reads.
//!
//! The deployer takes every one of these from here, never from literals of its own: a route the
//! function cannot serve, a table keyed otherwise, or a variable under another name cannot be
//! deployed, because there is only one place that says what they are.

/// A path the function serves, with the methods it takes there. `OPTIONS`, the CORS preflight,
/// is answered on every served path as well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    pub path: &'static str,
    pub methods: &'static [&'static str],
    /// The `Allow` header: the methods and `OPTIONS`.
    pub allow: &'static str,
}

/// `/counter`: counts a visit (GET from a page, POST from a beacon) and returns the count.
pub const COUNTER: Served = Served {
    path: "/counter",
    methods: &["GET", "POST"],
    allow: "GET, POST, OPTIONS",
};

/// `/count`: the count, read without counting a visit (a second page of the same visit).
pub const READ: Served = Served {
    path: "/count",
    methods: &["GET"],
    allow: "GET, OPTIONS",
};

/// `/health`: reads the table, never writes.
pub const HEALTH: Served = Served {
    path: "/health",
    methods: &["GET"],
    allow: "GET, OPTIONS",
};

/// Every path the function serves.
pub const SERVED: [Served; 3] = [COUNTER, READ, HEALTH];

/// The preflight method, answered on every served path.
pub const PREFLIGHT: &str = "OPTIONS";

/// The routes a stack deploys when it names none: `(method, path)`.
pub const DEFAULT_ROUTES: [(&str, &str); 3] = [
    ("GET", COUNTER.path),
    ("GET", READ.path),
    ("GET", HEALTH.path),
];

/// Whether the function answers `method` on `path` with something other than 404 or 405.
pub fn serves(method: &str, path: &str) -> bool {
    SERVED
        .iter()
        .any(|s| s.path == path && (method == PREFLIGHT || s.methods.contains(&method)))
}

/// Every route the function serves, as `METHOD /path`, for messages.
pub fn routes() -> Vec<String> {
    SERVED
        .iter()
        .flat_map(|s| s.methods.iter().map(move |m| format!("{m} {}", s.path)))
        .collect()
}

/// The table's partition key when the stack names none (`table.key`), and its DynamoDB scalar
/// type (a string). The stack's choice reaches the function as [`env::TABLE_KEY`].
pub const DEFAULT_KEY: &str = "id";
pub const KEY_TYPE: &str = "S";
/// The attribute that holds the count.
pub const COUNT: &str = "visit_count";
/// Set on every visit.
pub const LAST_UPDATED: &str = "last_updated";
/// Set on the first visit.
pub const CREATED: &str = "created_date";
/// The item counted when `COUNTER_ID` is not set.
pub const DEFAULT_COUNTER_ID: &str = "main_counter";

/// The DynamoDB operations the function calls, and nothing else: the role's policy grants
/// exactly these actions (`dynamodb:GetItem`, `dynamodb:UpdateItem`), derived from here.
pub mod calls {
    /// `counter::read`: `/health`'s read of the count.
    pub const READ: &str = "GetItem";
    /// `counter::increment`: a visit, one atomic `ADD`.
    pub const COUNT: &str = "UpdateItem";
    /// Every call, as its service names it.
    pub const ALL: [&str; 2] = [READ, COUNT];

    /// The IAM action of a call: `dynamodb:GetItem`.
    pub fn action(call: &str) -> String {
        format!("dynamodb:{call}")
    }
}

/// The keys and values of the function's JSON responses: the function writes them, `deployer
/// invoke` reads them.
pub mod response {
    /// `/counter` and `/count`: the count after this visit.
    pub const COUNT: &str = "count";
    /// `/counter` and `/count`: whether this request added a visit (`false` for a read, a
    /// crawler, a prefetch, or a page on an origin the stack does not allow).
    pub const COUNTED: &str = "counted";
    /// `/health`: `healthy` or `unhealthy`; `error` on a failure.
    pub const STATUS: &str = "status";
    pub const HEALTHY: &str = "healthy";
    pub const UNHEALTHY: &str = "unhealthy";
    pub const ERROR: &str = "error";
    /// `/health`: `connected` or `error`.
    pub const DATABASE: &str = "database";
    pub const CONNECTED: &str = "connected";
    /// `/health`: the count, read.
    pub const COUNTER_VALUE: &str = "counter_value";
    /// `/health` and the probe: the function version that answered (Lambda's
    /// `AWS_LAMBDA_FUNCTION_VERSION`: `$LATEST`, or a published version's number).
    pub const VERSION: &str = "version";
    /// Every answer the function makes itself: Lambda's request id, for `deployer logs`.
    pub const REQUEST_ID: &str = "requestId";
    /// A failure's message for people.
    pub const MESSAGE: &str = "message";
}

/// The deployer's probe: a direct invocation, `{"deployer_probe": true}`, never a proxy event,
/// so API Gateway cannot send it. The function answers it by doing what a visit needs without
/// counting: its init, a read of the counter item, and an `UpdateItem` of the item whose
/// condition cannot hold, so that DynamoDB's `ConditionalCheckFailedException` proves the table,
/// the key and the right to count, and the count is unchanged.
pub mod probe {
    /// The event's one key.
    pub const EVENT: &str = "deployer_probe";
    /// The answer: `{"ok": true, "version": V, "counter_value": N, "requestId": R}`, or
    /// `{"ok": false, "message": M, "requestId": R}`.
    pub const OK: &str = "ok";

    /// Whether an invocation's event is the probe.
    pub fn is_probe(event: &serde_json::Value) -> bool {
        event.get(EVENT).is_some()
    }

    /// The probe's event.
    pub fn event() -> serde_json::Value {
        serde_json::json!({ EVENT: true })
    }
}

/// The variable Lambda sets to the running version: `$LATEST`, or a published version's number.
pub const VERSION_ENV: &str = "AWS_LAMBDA_FUNCTION_VERSION";

/// The environment variables the function reads at init.
pub mod env {
    /// The table that holds the counter. Required.
    pub const TABLE_NAME: &str = "TABLE_NAME";
    /// The table's partition key attribute; unset: [`super::DEFAULT_KEY`].
    pub const TABLE_KEY: &str = "TABLE_KEY";
    /// The counter item's key value.
    pub const COUNTER_ID: &str = "COUNTER_ID";
    /// Comma-separated origins allowed to read the responses, or `*`.
    pub const CORS_ORIGINS: &str = "CORS_ORIGINS";
    /// Comma-separated request headers a preflight allows; unset: the ones asked for.
    pub const CORS_HEADERS: &str = "CORS_HEADERS";
    /// `true`: crawlers, previews, audits and prefetches are counted like visitors. Unset or
    /// anything else: they get the count, uncounted.
    pub const COUNT_BOTS: &str = "COUNT_BOTS";
}

/// The keys of the function's JSON log lines: `log.rs` writes them, `deployer logs` reads them.
pub mod log {
    /// RFC 3339, with microseconds.
    pub const TIME: &str = "timestamp";
    /// `INFO`, `ERROR`…
    pub const LEVEL: &str = "level";
    pub const MESSAGE: &str = "message";
    /// The Lambda request id: the one a failed response shows the client.
    pub const REQUEST_ID: &str = "requestId";
    /// The level of a failure's line.
    pub const ERROR: &str = "ERROR";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allow_headers_list_each_paths_methods_and_the_preflight() {
        for s in SERVED {
            let mut expected: Vec<&str> = s.methods.to_vec();
            expected.push(PREFLIGHT);
            assert_eq!(s.allow, expected.join(", "), "{}", s.path);
        }
    }

    #[test]
    fn served_routes_are_known_and_others_are_not() {
        assert!(serves("GET", "/counter") && serves("POST", "/counter"));
        assert!(serves("OPTIONS", "/health"));
        assert!(!serves("POST", "/health"));
        assert!(!serves("GET", "/visits"));
        assert_eq!(
            routes(),
            ["GET /counter", "POST /counter", "GET /count", "GET /health"]
        );
        assert!(DEFAULT_ROUTES.iter().all(|(m, p)| serves(m, p)));
    }
}
