//! From the raw file to the validated [`Stack`]: every rule of the stack file, each problem located
//! at its line. Numeric limits are data ([`LIMITS`]), not code, and routes are checked against
//! the function's own contract, so a route it cannot serve never reaches AWS.

use std::collections::BTreeMap;

use function::contract;
use serde_saphyr::Spanned;

use super::error::Checker;
use super::raw::{RawFunction, RawStack, RawTable};
use super::rules::{is_name, is_stage, tag_key_problem, tag_text_problem};
use super::{Architecture, Function, Stack, Table};
use crate::conventions;

mod api;

/// A whole number a key must hold, its bounds and its default.
struct Limit {
    key: &'static str,
    min: u32,
    max: u32,
    default: u32,
    unit: &'static str,
}

/// The numeric keys and what Lambda accepts for each.
const LIMITS: [Limit; 3] = [
    Limit {
        key: "function.memory_mb",
        min: 128,
        max: 10_240,
        default: 128,
        unit: "MB",
    },
    Limit {
        key: "function.timeout_s",
        min: 1,
        max: 900,
        default: 3,
        unit: "seconds",
    },
    Limit {
        key: "function.keep_versions",
        min: 0,
        max: 100,
        default: 5,
        unit: "versions",
    },
];

/// The retention values CloudWatch Logs accepts, in days.
pub const RETENTION_DAYS: [u32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// At most 50 tags per resource, for every service the stack uses; the deployer adds two.
pub const MAX_TAGS: usize = 50;

/// Validates `raw`; `stage` (from `--stage`) overrides the file's own.
pub fn stack(raw: RawStack, stage: Option<&str>, c: &mut Checker) -> Stack {
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
    let stage = match (stage, &raw.stage) {
        (Some(stage), _) => stage.to_string(),
        (None, Some(s)) => {
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
        (None, None) => "prod".to_string(),
    };
    derived_names(&raw.name, &stage, c);
    let region = raw.region.as_ref().map(|r| {
        if let Err(why) = conventions::Partition::check(&r.value) {
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
    let file_stage = raw.stage.as_ref().map_or("prod", |s| s.value.as_str());
    let overridden = stage != file_stage;
    let first = |list: Option<&Vec<Spanned<String>>>| list.and_then(|l| l.first()).cloned();
    let origins = first(raw.api.as_ref().and_then(|a| a.cors_origins.as_ref()));
    let headers = first(raw.api.as_ref().and_then(|a| a.cors_headers.as_ref()));
    let stack = Stack {
        table: table(raw.table.unwrap_or_default(), &name, &stage, overridden, c),
        function: function(raw.function.unwrap_or_default(), c),
        api: api::api(raw.api.unwrap_or_default(), c),
        alerts: raw.alerts.map(|a| super::alerts::validate(&a, c)),
        tags: tags(raw.tags, c),
        name,
        region,
        stage,
    };
    super::environment::check(&stack, origins.as_ref(), headers.as_ref(), c);
    stack
}

/// Derived names must fit AWS's limits; the error points at `name`, which the user controls.
fn derived_names(name: &Spanned<String>, stage: &str, c: &mut Checker) {
    for (what, derived, service) in [
        (
            "function",
            conventions::function_name(&name.value, stage),
            "Lambda",
        ),
        ("role", conventions::role_name(&name.value, stage), "IAM"),
    ] {
        if derived.len() > 64 {
            c.at(
                name,
                "name",
                format!(
                    "the {what} name {derived:?} would be {} characters; {service} allows 64",
                    derived.len()
                ),
            );
        }
    }
}

/// The placeholder in `table.name` that the stage fills, so that one file deploys a table per
/// stage.
pub const STAGE_PLACEHOLDER: &str = "{stage}";

/// `overridden`: `--stage` names another stage than the file's. A fixed `table.name` would then
/// point `dev` at `prod`'s data, so it must hold [`STAGE_PLACEHOLDER`].
fn table(raw: RawTable, name: &str, stage: &str, overridden: bool, c: &mut Checker) -> Table {
    let table_name = match &raw.name {
        Some(n) => {
            let filled = n.value.replace(STAGE_PLACEHOLDER, stage);
            let ok = (3..=255).contains(&filled.len())
                && filled
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "_.-".contains(ch));
            if !ok {
                c.hint(
                    n,
                    "table.name",
                    format!("{:?} is not a valid DynamoDB table name", n.value),
                    "use 3–255 characters from a-z, A-Z, 0-9, '_', '-' and '.', and {stage} for \
                     the stage"
                        .into(),
                );
            } else if overridden && !n.value.contains(STAGE_PLACEHOLDER) {
                c.hint(
                    n,
                    "table.name",
                    format!(
                        "{:?} names one table for every stage, so --stage {stage} would use \
                         this file's stage's table",
                        n.value
                    ),
                    format!(
                        "put {STAGE_PLACEHOLDER} in it (e.g. {name}-{STAGE_PLACEHOLDER}), or \
                         drop table.name for the default {name}-<stage>"
                    ),
                );
            }
            filled
        }
        None => conventions::default_table_name(name, stage),
    };
    Table {
        name: table_name,
        key: key(&raw.key, c),
        key_line: raw.key.as_ref().map(|k| k.referenced.line()),
        point_in_time_recovery: raw.point_in_time_recovery.unwrap_or(true),
        deletion_protection: raw.deletion_protection.unwrap_or(true),
    }
}

/// The partition key's name: DynamoDB takes 1–255 bytes for a key attribute's name.
fn key(raw: &Option<Spanned<String>>, c: &mut Checker) -> String {
    let Some(k) = raw else {
        return contract::DEFAULT_KEY.to_string();
    };
    if k.value.is_empty() || k.value.len() > 255 || k.value.trim() != k.value {
        c.hint(
            k,
            "table.key",
            format!("{:?} is not a DynamoDB key attribute name", k.value),
            "use 1–255 bytes without leading or trailing spaces, e.g. id or counter_id".into(),
        );
    }
    k.value.clone()
}

/// The counter item's key value: 1–1024 characters, not in the deployer's own prefix.
fn counter_id(raw: &Option<Spanned<String>>, c: &mut Checker) -> String {
    match raw {
        None => contract::DEFAULT_COUNTER_ID.to_string(),
        Some(id) => {
            if id.value.trim().is_empty() || id.value.len() > 1024 {
                c.at(id, "function.counter_id", "must be 1–1024 characters");
            } else if id.value.starts_with(crate::conventions::ITEM_PREFIX) {
                c.at(
                    id,
                    "function.counter_id",
                    format!(
                        "{:?} starts with {:?}, which is reserved for the deployer's own items \
                         (its deploy lease); pick another id",
                        id.value,
                        crate::conventions::ITEM_PREFIX
                    ),
                );
            }
            id.value.clone()
        }
    }
}

fn function(raw: RawFunction, c: &mut Checker) -> Function {
    let architecture = match &raw.architecture {
        None => Architecture::X86_64,
        Some(a) => Architecture::parse(&a.value).unwrap_or_else(|| {
            c.hint(
                a,
                "function.architecture",
                format!("{:?} is not a Lambda architecture", a.value),
                "use x86_64 or arm64".into(),
            );
            Architecture::X86_64
        }),
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
    let counter_id = counter_id(&raw.counter_id, c);
    Function {
        package,
        architecture,
        memory_mb: limited(c, &raw.memory_mb, &LIMITS[0]),
        timeout_s: limited(c, &raw.timeout_s, &LIMITS[1]),
        log_retention_days: retention(c, &raw.log_retention_days),
        counter_id,
        keep_versions: limited(c, &raw.keep_versions, &LIMITS[2]),
        count_bots: raw.count_bots.unwrap_or(false),
    }
}

fn limited(c: &mut Checker, value: &Option<Spanned<i64>>, limit: &Limit) -> u32 {
    let Some(v) = value else {
        return limit.default;
    };
    match u32::try_from(v.value) {
        Ok(n) if (limit.min..=limit.max).contains(&n) => n,
        _ => {
            c.at(
                v,
                limit.key,
                format!(
                    "{} is outside {}–{} {}",
                    v.value, limit.min, limit.max, limit.unit
                ),
            );
            limit.default
        }
    }
}

fn retention(c: &mut Checker, value: &Option<Spanned<i64>>) -> u32 {
    let Some(d) = value else {
        return 14;
    };
    if let Some(v) = u32::try_from(d.value)
        .ok()
        .filter(|v| RETENTION_DAYS.contains(v))
    {
        return v;
    }
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

fn tags(
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
        for problem in [
            tag_key_problem(&k),
            tag_text_problem("value", &v.value, 0, 256),
        ]
        .into_iter()
        .flatten()
        {
            c.at(&v, &key, problem);
        }
        tags.insert(k, v.value);
    }
    tags
}
