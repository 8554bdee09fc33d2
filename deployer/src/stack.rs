//! `stack.yaml` in two stages: [`RawStack`] is exactly what the user wrote, with the source
//! location of every value; [`Stack`] is the validated model the rest of the deployer uses.
//!
//! Validation reports every problem at once, each with the file, line, key and what to do, and
//! runs before any AWS call: a bad file costs nothing and changes nothing.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::names;

/// The Lambda architectures, as AWS spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Architecture {
    #[serde(rename = "x86_64")]
    X86_64,
    #[serde(rename = "arm64")]
    Arm64,
}

impl Architecture {
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "arm64",
        }
    }

    /// The Rust target that builds a `provided.al2023` binary for this architecture.
    pub fn rust_target(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64-unknown-linux-gnu",
            Architecture::Arm64 => "aarch64-unknown-linux-gnu",
        }
    }
}

/// One API route, `GET /counter`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route {
    pub method: String,
    pub path: String,
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throttle {
    pub rate: f64,
    pub burst: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub name: String,
    pub point_in_time_recovery: bool,
    pub deletion_protection: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    pub package: String,
    pub architecture: Architecture,
    pub memory_mb: u32,
    pub timeout_s: u32,
    pub log_retention_days: u32,
    pub counter_id: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Api {
    pub routes: Vec<Route>,
    pub cors_origins: Vec<String>,
    /// The request headers a preflight allows; empty: whatever the browser asks for.
    pub cors_headers: Vec<String>,
    pub throttle: Throttle,
}

impl Api {
    /// Every route the API serves: the stack's routes, plus `OPTIONS` on each of their paths when
    /// CORS is on, because the function answers preflights itself. `up` deploys these and the
    /// local API (`serve`, `invoke --local`) routes these, so the two cannot disagree.
    pub fn served_routes(&self) -> Vec<Route> {
        let mut routes = self.routes.clone();
        if !self.cors_origins.is_empty() {
            for r in &self.routes {
                let preflight = Route {
                    method: "OPTIONS".into(),
                    path: r.path.clone(),
                };
                if !routes.contains(&preflight) {
                    routes.push(preflight);
                }
            }
        }
        routes.sort();
        routes
    }
}

/// The validated stack. Only this type leaves this module.
#[derive(Debug, Clone, PartialEq)]
pub struct Stack {
    pub name: String,
    pub region: Option<String>,
    pub stage: String,
    pub table: Table,
    pub function: Function,
    pub api: Api,
    pub tags: BTreeMap<String, String>,
}

// ---------------------------------------------------------------------------------------------
// The raw file.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStack {
    name: Spanned<String>,
    region: Option<Spanned<String>>,
    stage: Option<Spanned<String>>,
    table: Option<RawTable>,
    function: Option<RawFunction>,
    api: Option<RawApi>,
    tags: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    name: Option<Spanned<String>>,
    point_in_time_recovery: Option<bool>,
    deletion_protection: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFunction {
    package: Option<Spanned<String>>,
    architecture: Option<Spanned<String>>,
    memory_mb: Option<Spanned<i64>>,
    timeout_s: Option<Spanned<i64>>,
    log_retention_days: Option<Spanned<i64>>,
    counter_id: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApi {
    routes: Option<Spanned<Vec<Spanned<String>>>>,
    cors_origins: Option<Vec<Spanned<String>>>,
    cors_headers: Option<Vec<Spanned<String>>>,
    throttle: Option<Spanned<RawThrottle>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThrottle {
    rate: Spanned<f64>,
    burst: Spanned<i64>,
}

// ---------------------------------------------------------------------------------------------
// Errors.

/// One problem in the file, at a line and column, about one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: u64,
    pub column: u64,
    pub key: String,
    pub message: String,
    pub hint: Option<String>,
}

/// Everything wrong with a stack file.
#[derive(Debug)]
pub struct StackError {
    pub path: PathBuf,
    pub problems: Vec<Problem>,
    /// The YAML parser's own rendering (with a source snippet), for syntax and type errors.
    pub snippet: Option<String>,
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(
            f,
            "{} is not a valid stack ({n} problem{}); nothing was sent to AWS:",
            self.path.display(),
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            write!(
                f,
                "  {}:{}:{}: {}: {}",
                self.path.display(),
                p.line,
                p.column,
                p.key,
                p.message
            )?;
            if let Some(hint) = &p.hint {
                write!(f, "\n      hint: {hint}")?;
            }
            writeln!(f)?;
        }
        if let Some(snippet) = &self.snippet {
            write!(f, "{snippet}")?;
        }
        Ok(())
    }
}

impl std::error::Error for StackError {}

/// Collects problems while validating.
struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    fn at<T>(&mut self, at: &Spanned<T>, key: &str, message: impl Into<String>) {
        self.push(
            at.referenced.line(),
            at.referenced.column(),
            key,
            message,
            None,
        );
    }

    fn hint<T>(&mut self, at: &Spanned<T>, key: &str, message: impl Into<String>, hint: String) {
        self.push(
            at.referenced.line(),
            at.referenced.column(),
            key,
            message,
            Some(hint),
        );
    }

    fn push(
        &mut self,
        line: u64,
        column: u64,
        key: &str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.problems.push(Problem {
            line,
            column,
            key: key.to_string(),
            message: message.into(),
            hint,
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Loading.

/// The largest stack file read: a real one is a few hundred bytes.
const MAX_FILE_BYTES: u64 = 256 * 1024;

/// Reads and validates the stack at `path`.
pub fn load(path: &Path) -> Result<Stack, anyhow::Error> {
    let size = std::fs::metadata(path)
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot read the stack file {}: {e}\n  hint: run from the project's top level, or pass --stack PATH",
                path.display()
            )
        })?
        .len();
    if size > MAX_FILE_BYTES {
        anyhow::bail!(
            "{} is {size} bytes; a stack file is at most {MAX_FILE_BYTES} bytes",
            path.display()
        );
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read the stack file {}: {e}", path.display()))?;
    Ok(parse(&text, path)?)
}

/// Parses and validates stack text; `path` is only used in messages.
pub fn parse(text: &str, path: &Path) -> Result<Stack, StackError> {
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: 32,
            max_nodes: 10_000,
            max_total_scalar_bytes: 1_000_000,
            max_aliases: 1_000,
            max_documents: 1,
        },
    };
    let raw: RawStack = match serde_saphyr::from_str_with_options(text, options) {
        Ok(raw) => raw,
        Err(e) => return Err(syntax_error(&e, text, path)),
    };
    let mut checker = Checker {
        problems: Vec::new(),
    };
    let stack = validate(raw, &mut checker);
    if checker.problems.is_empty() {
        Ok(stack)
    } else {
        checker.problems.sort_by_key(|p| (p.line, p.column));
        Err(StackError {
            path: path.to_path_buf(),
            problems: checker.problems,
            snippet: None,
        })
    }
}

/// Turns a YAML or type error into a [`StackError`], with a "did you mean" for a typo'd key.
fn syntax_error(e: &serde_saphyr::Error, text: &str, path: &Path) -> StackError {
    let rendered = e.to_string();
    let (line, column) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((1, 1));
    // The first line reads "error: line L column C: MESSAGE"; the rest is a source snippet.
    let first = rendered.lines().next().unwrap_or_default();
    let message = first
        .split_once(": ")
        .map(|(_, rest)| rest)
        .and_then(|rest| rest.split_once(": ").map(|(_, m)| m))
        .unwrap_or(first)
        .trim()
        .to_string();
    let mut keys = key_path(text, line);
    let (key, hint) = match unknown_field(&message) {
        Some((field, expected)) => {
            if keys.last() != Some(&field) {
                keys.push(field.clone());
            }
            let hint = closest(&field, &expected)
                .map(|s| format!("did you mean `{s}`?"))
                .or_else(|| {
                    Some(format!(
                        "the keys allowed here are: {}",
                        expected.join(", ")
                    ))
                });
            (keys.join("."), hint)
        }
        None => match missing_field(&message) {
            Some(field) => (field, Some("add it: every stack needs a name".to_string())),
            None if keys.is_empty() => ("(document)".to_string(), None),
            None => (keys.join("."), None),
        },
    };
    let snippet = rendered
        .split_once('\n')
        .map(|(_, rest)| rest.replace("<input>", &path.display().to_string()));
    StackError {
        path: path.to_path_buf(),
        problems: vec![Problem {
            line,
            column,
            key,
            message,
            hint,
        }],
        snippet,
    }
}

/// "missing field `name`" → `name`.
fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split_once('`').map(|(f, _)| f.to_string())
}

/// The dotted key path of the value on `line` (1-based), read from the indentation of the lines
/// above it: `memory_mb: lots` under `function:` is `function.memory_mb`. Written here because
/// the YAML parser reports a position, not a path.
fn key_path(text: &str, line: u64) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let Some(last) = usize::try_from(line)
        .ok()
        .and_then(|l| l.checked_sub(1))
        .filter(|l| *l < lines.len())
    else {
        return Vec::new();
    };
    let mut path = Vec::new();
    let mut indent = usize::MAX;
    for l in lines[..=last].iter().rev() {
        let trimmed = l.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let here = l.len() - trimmed.len();
        if here >= indent {
            continue;
        }
        indent = here;
        let entry = trimmed.trim_start_matches("- ");
        if let Some((key, _)) = entry.split_once(':') {
            let key = key.trim();
            if !key.is_empty() && !key.contains([' ', '{', '[', '"', '\'']) {
                path.push(key.to_string());
            }
        }
        if here == 0 {
            break;
        }
    }
    path.reverse();
    path
}

/// Reads serde's "unknown field `x`, expected one of a, b" (or "expected `a`").
fn unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, rest) = rest.split_once('`')?;
    let list = rest
        .split_once("expected one of ")
        .map(|(_, l)| l)
        .or_else(|| rest.split_once("expected ").map(|(_, l)| l))
        .unwrap_or("");
    let expected = list
        .split(',')
        .map(|s| s.trim().trim_matches('`').to_string())
        .filter(|s| !s.is_empty())
        .collect();
    Some((field.to_string(), expected))
}

/// The candidate nearest to `word` by edit distance, if it is near enough to be a typo.
pub fn closest<'a>(word: &str, candidates: &'a [String]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.as_str())
}

/// Levenshtein distance; written here because the keys are few and short.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

// ---------------------------------------------------------------------------------------------
// Validation.

/// The retention values CloudWatch Logs accepts, in days.
pub const RETENTION_DAYS: [u32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];
const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY",
];

fn validate(raw: RawStack, c: &mut Checker) -> Stack {
    let name = raw.name.value.clone();
    if !is_name(&name, 1, 40) {
        c.hint(
            &raw.name,
            "name",
            format!("{name:?} is not a usable stack name"),
            "use 1–40 letters, digits and hyphens, starting with a letter, e.g. visitor-counter"
                .into(),
        );
    }
    let stage = match &raw.stage {
        Some(s) => {
            if !is_stage(&s.value) {
                c.hint(
                    s,
                    "stage",
                    format!("{:?} is not a valid API Gateway stage name", s.value),
                    "use 1–64 letters, digits, hyphens or underscores, e.g. prod".into(),
                );
            }
            s.value.clone()
        }
        None => "prod".to_string(),
    };
    // Derived names must fit AWS's limits; the error points at `name`, which the user controls.
    let function_name = names::function_name(&name, &stage);
    if function_name.len() > 64 {
        c.at(
            &raw.name,
            "name",
            format!(
                "the function name {function_name:?} would be {} characters; Lambda allows 64",
                function_name.len()
            ),
        );
    }
    let role_name = names::role_name(&name, &stage);
    if role_name.len() > 64 {
        c.at(
            &raw.name,
            "name",
            format!(
                "the role name {role_name:?} would be {} characters; IAM allows 64",
                role_name.len()
            ),
        );
    }
    let region = raw.region.as_ref().map(|r| {
        if let Err(why) = names::Partition::check(&r.value) {
            c.hint(
                r,
                "region",
                why,
                "use a region code such as us-east-1, eu-west-2, cn-north-1 or us-gov-west-1"
                    .into(),
            );
        }
        r.value.clone()
    });

    let table = validate_table(raw.table, &name, &stage, c);
    let function = validate_function(raw.function, c);
    let api = validate_api(raw.api, c);
    let tags = validate_tags(raw.tags, c);
    Stack {
        name,
        region,
        stage,
        table,
        function,
        api,
        tags,
    }
}

fn validate_table(raw: Option<RawTable>, name: &str, stage: &str, c: &mut Checker) -> Table {
    let raw = raw.unwrap_or(RawTable {
        name: None,
        point_in_time_recovery: None,
        deletion_protection: None,
    });
    let table_name = match &raw.name {
        Some(n) => {
            let ok = (3..=255).contains(&n.value.len())
                && n.value
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "_.-".contains(ch));
            if !ok {
                c.hint(
                    n,
                    "table.name",
                    format!("{:?} is not a valid DynamoDB table name", n.value),
                    "use 3–255 characters from a-z, A-Z, 0-9, '_', '-' and '.'".into(),
                );
            }
            n.value.clone()
        }
        None => names::default_table_name(name, stage),
    };
    Table {
        name: table_name,
        point_in_time_recovery: raw.point_in_time_recovery.unwrap_or(true),
        deletion_protection: raw.deletion_protection.unwrap_or(true),
    }
}

fn validate_function(raw: Option<RawFunction>, c: &mut Checker) -> Function {
    let raw = raw.unwrap_or(RawFunction {
        package: None,
        architecture: None,
        memory_mb: None,
        timeout_s: None,
        log_retention_days: None,
        counter_id: None,
    });
    let architecture = match &raw.architecture {
        None => Architecture::X86_64,
        Some(a) => match a.value.as_str() {
            "x86_64" => Architecture::X86_64,
            "arm64" => Architecture::Arm64,
            other => {
                c.hint(
                    a,
                    "function.architecture",
                    format!("{other:?} is not a Lambda architecture"),
                    "use x86_64 or arm64".into(),
                );
                Architecture::X86_64
            }
        },
    };
    let memory_mb = ranged(
        c,
        &raw.memory_mb,
        "function.memory_mb",
        128,
        10_240,
        128,
        "MB",
    );
    let timeout_s = ranged(
        c,
        &raw.timeout_s,
        "function.timeout_s",
        1,
        900,
        3,
        "seconds",
    );
    let log_retention_days = match &raw.log_retention_days {
        None => 14,
        Some(d) => {
            let ok = u32::try_from(d.value)
                .ok()
                .filter(|v| RETENTION_DAYS.contains(v));
            match ok {
                Some(v) => v,
                None => {
                    let nearest = RETENTION_DAYS
                        .iter()
                        .min_by_key(|v| (i64::from(**v) - d.value).abs())
                        .copied()
                        .unwrap_or(14);
                    c.hint(
                        d,
                        "function.log_retention_days",
                        format!("{} is not a retention CloudWatch Logs accepts", d.value),
                        format!(
                            "the nearest accepted value is {nearest}; accepted: {}",
                            RETENTION_DAYS.map(|v| v.to_string()).join(", ")
                        ),
                    );
                    14
                }
            }
        }
    };
    let package = match &raw.package {
        None => "function".to_string(),
        Some(p) => {
            let ok = !p.value.is_empty()
                && p.value
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "-_".contains(ch));
            if !ok {
                c.at(
                    p,
                    "function.package",
                    format!("{:?} is not a cargo package name", p.value),
                );
            }
            p.value.clone()
        }
    };
    let counter_id = match &raw.counter_id {
        None => "main_counter".to_string(),
        Some(id) => {
            if id.value.trim().is_empty() || id.value.len() > 1024 {
                c.at(id, "function.counter_id", "must be 1–1024 characters");
            }
            id.value.clone()
        }
    };
    Function {
        package,
        architecture,
        memory_mb,
        timeout_s,
        log_retention_days,
        counter_id,
    }
}

fn ranged(
    c: &mut Checker,
    value: &Option<Spanned<i64>>,
    key: &str,
    min: u32,
    max: u32,
    default: u32,
    unit: &str,
) -> u32 {
    let Some(v) = value else {
        return default;
    };
    match u32::try_from(v.value) {
        Ok(n) if (min..=max).contains(&n) => n,
        _ => {
            c.at(v, key, format!("{} is outside {min}–{max} {unit}", v.value));
            default
        }
    }
}

fn validate_api(raw: Option<RawApi>, c: &mut Checker) -> Api {
    let raw = raw.unwrap_or(RawApi {
        routes: None,
        cors_origins: None,
        cors_headers: None,
        throttle: None,
    });
    let routes = match &raw.routes {
        None => vec![
            Route {
                method: "GET".into(),
                path: "/counter".into(),
            },
            Route {
                method: "GET".into(),
                path: "/health".into(),
            },
        ],
        Some(list) => {
            if list.value.is_empty() {
                c.hint(
                    list,
                    "api.routes",
                    "no routes: the API would serve nothing",
                    "list at least one, e.g. [GET /counter, GET /health]".into(),
                );
            }
            let mut routes: Vec<Route> = Vec::new();
            for r in &list.value {
                match parse_route(&r.value) {
                    Ok(route) if routes.contains(&route) => {
                        c.at(r, "api.routes", format!("{route} is listed twice"));
                    }
                    Ok(route) => routes.push(route),
                    Err(why) => c.hint(
                        r,
                        "api.routes",
                        format!("{:?} is not a route: {why}", r.value),
                        "write METHOD /path, e.g. GET /counter".into(),
                    ),
                }
            }
            routes.sort();
            routes
        }
    };
    let cors_origins = raw
        .cors_origins
        .unwrap_or_default()
        .into_iter()
        .filter_map(|o| {
            if o.value == "*" || is_origin(&o.value) {
                Some(o.value)
            } else {
                c.hint(
                    &o,
                    "api.cors_origins",
                    format!("{:?} is not an origin", o.value),
                    "write scheme://host[:port] with no path, e.g. https://example.com, or \"*\""
                        .into(),
                );
                None
            }
        })
        .collect();
    let cors_headers = raw
        .cors_headers
        .unwrap_or_default()
        .into_iter()
        .filter_map(|h| {
            let ok = !h.value.is_empty()
                && h.value.len() <= 100
                && h.value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if ok {
                Some(h.value)
            } else {
                c.hint(
                    &h,
                    "api.cors_headers",
                    format!("{:?} is not an HTTP header name", h.value),
                    "list header names, e.g. [Content-Type, X-Requested-With]".into(),
                );
                None
            }
        })
        .collect();
    let throttle = match &raw.throttle {
        None => Throttle {
            rate: 10.0,
            burst: 20,
        },
        Some(t) => {
            let rate = t.value.rate.value;
            if !(rate.is_finite() && rate > 0.0 && rate <= 10_000.0) {
                c.at(
                    &t.value.rate,
                    "api.throttle.rate",
                    format!("{rate} is outside 0–10000 requests per second"),
                );
            }
            // A burst of 0 lets no request through: every call would be a 429.
            let burst = match u32::try_from(t.value.burst.value) {
                Ok(b) if (1..=5_000).contains(&b) => b,
                _ => {
                    c.hint(
                        &t.value.burst,
                        "api.throttle.burst",
                        format!("{} is outside 1–5000 requests", t.value.burst.value),
                        "a burst of 0 would refuse every request with 429; 20 suits a personal site"
                            .into(),
                    );
                    0
                }
            };
            Throttle { rate, burst }
        }
    };
    Api {
        routes,
        cors_origins,
        cors_headers,
        throttle,
    }
}

/// At most 50 tags per resource, for every service the stack uses; the deployer adds two.
pub const MAX_TAGS: usize = 50;

fn validate_tags(
    raw: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
    c: &mut Checker,
) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::new();
    let Some(raw) = raw else {
        return tags;
    };
    let room = MAX_TAGS - 2;
    if raw.value.len() > room {
        c.at(
            &raw,
            "tags",
            format!(
                "{} tags; at most {room}: AWS allows {MAX_TAGS} per resource, and the deployer \
                 adds its own two",
                raw.value.len()
            ),
        );
    }
    for (k, v) in raw.value {
        // serde-saphyr locates values, not keys; a value sits on its key's line.
        let key = format!("tags.{k}");
        if let Some(problem) = tag_key_problem(&k) {
            c.at(&v, &key, problem);
        }
        if let Some(problem) = tag_text_problem("value", &v.value, 0, 256) {
            c.at(&v, &key, problem);
        }
        tags.insert(k, v.value);
    }
    tags
}

fn tag_key_problem(k: &str) -> Option<String> {
    if let Some(problem) = tag_text_problem("key", k, 1, 128) {
        return Some(problem);
    }
    if k.to_ascii_lowercase().starts_with("aws:") {
        return Some("keys starting with aws: are reserved by AWS".into());
    }
    if k.starts_with(names::TAG_PREFIX) {
        return Some(format!(
            "keys starting with {} are set by the deployer",
            names::TAG_PREFIX
        ));
    }
    None
}

/// The characters every service of the stack accepts in a tag: letters, numbers and spaces in
/// any script, and `_ . : / = + - @` (the tagging APIs' pattern `[\p{L}\p{Z}\p{N}_.:/=+\-@]*`).
fn tag_text_problem(what: &str, text: &str, min: usize, max: usize) -> Option<String> {
    static ALLOWED: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let allowed = ALLOWED.get_or_init(|| regex::Regex::new(r"^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$").ok());
    let n = text.chars().count();
    if !(min..=max).contains(&n) {
        return Some(format!("a tag {what} has {min}–{max} characters, not {n}"));
    }
    if allowed.as_ref().is_some_and(|re| !re.is_match(text)) {
        let bad: String = text
            .chars()
            .filter(|ch| {
                !allowed
                    .as_ref()
                    .is_some_and(|re| re.is_match(&ch.to_string()))
            })
            .take(5)
            .collect();
        return Some(format!(
            "a tag {what} may hold letters, numbers, spaces and _ . : / = + - @, not {bad:?}"
        ));
    }
    None
}

fn parse_route(text: &str) -> Result<Route, String> {
    let mut parts = text.split_whitespace();
    let (Some(method), Some(path), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err("expected a method and a path".into());
    };
    if !METHODS.contains(&method) {
        return Err(format!("the method must be one of {}", METHODS.join(", ")));
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err("the path must start with /".into());
    };
    if rest.is_empty() {
        return Err("the root path / cannot be routed".into());
    }
    for segment in rest.split('/') {
        let ok = !segment.is_empty()
            && segment
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch));
        if !ok {
            return Err(format!(
                "the path segment {segment:?} is not plain letters, digits, '-', '_' or '.'"
            ));
        }
    }
    Ok(Route {
        method: method.to_string(),
        path: path.to_string(),
    })
}

fn is_name(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len())
        && s.starts_with(|ch: char| ch.is_ascii_alphabetic())
        && s.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
}

fn is_stage(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-_".contains(ch))
}

fn is_origin(s: &str) -> bool {
    let Some((scheme, host)) = s.split_once("://") else {
        return false;
    };
    matches!(scheme, "http" | "https")
        && !host.is_empty()
        && !host.contains('/')
        && host
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-.:[]".contains(ch))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Stack {
        match parse(text, Path::new("stack.yaml")) {
            Ok(stack) => stack,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn the_smallest_stack_gets_every_default() {
        let stack = ok("name: visitor-counter\n");
        assert_eq!(stack.stage, "prod");
        assert_eq!(stack.table.name, "visitor-counter-prod");
        assert!(stack.table.point_in_time_recovery && stack.table.deletion_protection);
        assert_eq!(stack.function.memory_mb, 128);
        assert_eq!(stack.function.timeout_s, 3);
        assert_eq!(stack.function.log_retention_days, 14);
        assert_eq!(stack.function.architecture, Architecture::X86_64);
        assert_eq!(stack.api.routes.len(), 2);
        assert_eq!(
            stack.api.throttle,
            Throttle {
                rate: 10.0,
                burst: 20
            }
        );
    }

    #[test]
    fn a_typo_in_a_key_suggests_the_key() {
        let e = parse(
            "name: a\nfunction:\n  memroy_mb: 256\n",
            Path::new("stack.yaml"),
        )
        .unwrap_err();
        let p = &e.problems[0];
        assert_eq!((p.line, p.column), (3, 3));
        assert_eq!(p.key, "function.memroy_mb");
        assert_eq!(p.hint.as_deref(), Some("did you mean `memory_mb`?"));
    }

    #[test]
    fn every_problem_is_reported_at_once_in_line_order() {
        let e = parse(
            "name: a\nfunction:\n  timeout_s: 0\n  memory_mb: 64\n",
            Path::new("stack.yaml"),
        )
        .unwrap_err();
        let keys: Vec<_> = e
            .problems
            .iter()
            .map(|p| (p.line, p.key.as_str()))
            .collect();
        assert_eq!(keys, [(3, "function.timeout_s"), (4, "function.memory_mb")]);
    }

    #[test]
    fn a_type_error_names_the_dotted_key() {
        let e = parse(
            "name: a\nfunction:\n  package: f\n  memory_mb: lots\n",
            Path::new("s.yaml"),
        )
        .unwrap_err();
        assert_eq!(
            (e.problems[0].key.as_str(), e.problems[0].line),
            ("function.memory_mb", 4)
        );
        assert_eq!(key_path("a:\n  b:\n    - c: 1\n", 3), ["a", "b", "c"]);
        assert_eq!(key_path("x: 1\n", 9), Vec::<String>::new());
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("memroy_mb", "memory_mb"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", "abc"), 0);
        assert_eq!(
            closest("tabel", &["table".into(), "tags".into()]),
            Some("table")
        );
        assert_eq!(closest("zzzzzz", &["table".into()]), None);
    }
}
