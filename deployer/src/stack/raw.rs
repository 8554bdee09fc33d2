//! `stack.yaml` exactly as the user wrote it: every value with its source location, so that each
//! problem can be reported at its line. Nothing here is trusted; [`super::validate`] turns it into
//! the [`super::Stack`] the rest of the deployer uses.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStack {
    pub name: Spanned<String>,
    pub region: Option<Spanned<String>>,
    pub stage: Option<Spanned<String>>,
    pub table: Option<RawTable>,
    pub function: Option<RawFunction>,
    pub api: Option<RawApi>,
    pub alerts: Option<Spanned<RawAlerts>>,
    pub tags: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTable {
    pub name: Option<Spanned<String>>,
    pub key: Option<Spanned<String>>,
    pub point_in_time_recovery: Option<bool>,
    pub deletion_protection: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFunction {
    pub package: Option<Spanned<String>>,
    pub architecture: Option<Spanned<String>>,
    pub memory_mb: Option<Spanned<i64>>,
    pub timeout_s: Option<Spanned<i64>>,
    pub log_retention_days: Option<Spanned<i64>>,
    pub counter_id: Option<Spanned<String>>,
    pub keep_versions: Option<Spanned<i64>>,
    pub count_bots: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApi {
    pub id: Option<Spanned<String>>,
    pub routes: Option<Spanned<Vec<Spanned<String>>>>,
    pub cors_origins: Option<Vec<Spanned<String>>>,
    pub cors_headers: Option<Vec<Spanned<String>>>,
    pub throttle: Option<Spanned<RawThrottle>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawThrottle {
    pub rate: Spanned<f64>,
    pub burst: Spanned<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlerts {
    pub email: Option<Spanned<String>>,
    pub topic_arn: Option<Spanned<String>>,
    pub errors: Option<Spanned<i64>>,
    pub throttles: Option<Spanned<i64>>,
}

/// Reads the raw stack, within a budget that refuses hostile YAML (deep nesting, alias bombs)
/// before it costs anything.
pub fn read(text: &str) -> Result<RawStack, serde_saphyr::Error> {
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: 32,
            max_nodes: 10_000,
            max_total_scalar_bytes: 1_000_000,
            max_aliases: 1_000,
            max_documents: 1,
        },
    };
    serde_saphyr::from_str_with_options(text, options)
}
