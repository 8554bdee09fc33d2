//! The function's environment, as the stack sets it, and Lambda's limit on it: "the total size
//! of all environment variables doesn't exceed 4 KB", measured as the JSON of the variables
//! (Lambda's refusal quotes it: "String measured: {…}"). `api.cors_origins` is a list of any
//! length that becomes one variable, so the limit is checked at its line, before any AWS call.

use std::collections::BTreeMap;

use function::contract;
use serde_saphyr::Spanned;

use super::error::Checker;
use super::Stack;

/// Lambda's limit on the environment, in bytes of its JSON.
pub const ENVIRONMENT_BYTES: usize = 4096;

impl Stack {
    /// The function's environment: the names its contract reads. `TABLE_NAME` is the table's
    /// name, which `Names::table` is too (the ARN the role's policy grants), so the two cannot
    /// disagree; `TABLE_KEY` is the key the table is made with.
    pub fn environment(&self) -> BTreeMap<String, String> {
        let mut vars = BTreeMap::from([
            (contract::env::TABLE_NAME, self.table.name.clone()),
            (contract::env::TABLE_KEY, self.table.key.clone()),
            (contract::env::COUNTER_ID, self.function.counter_id.clone()),
            (contract::env::CORS_ORIGINS, self.api.cors_origins.join(",")),
            (
                contract::env::COUNT_BOTS,
                self.function.count_bots.to_string(),
            ),
        ]);
        if !self.api.cors_headers.is_empty() {
            vars.insert(contract::env::CORS_HEADERS, self.api.cors_headers.join(","));
        }
        vars.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }
}

/// The size Lambda measures: the environment's variables as JSON.
pub fn size(vars: &BTreeMap<String, String>) -> usize {
    serde_json::to_string(vars).map_or(usize::MAX, |json| json.len())
}

/// Refuses an environment over Lambda's limit, at the list that made it so: `origins` (the
/// first of `api.cors_origins`) or `headers` (of `api.cors_headers`), whichever holds more.
pub(super) fn check(
    stack: &Stack,
    origins: Option<&Spanned<String>>,
    headers: Option<&Spanned<String>>,
    c: &mut Checker,
) {
    let bytes = size(&stack.environment());
    if bytes <= ENVIRONMENT_BYTES {
        return;
    }
    let (origins_len, headers_len) = (
        stack.api.cors_origins.join(",").len(),
        stack.api.cors_headers.join(",").len(),
    );
    let (at, key, what) = match (origins, headers) {
        (Some(_), Some(h)) if headers_len > origins_len => (h, "api.cors_headers", "headers"),
        (Some(o), _) => (o, "api.cors_origins", "origins"),
        (None, Some(h)) => (h, "api.cors_headers", "headers"),
        (None, None) => return,
    };
    c.hint(
        at,
        key,
        format!(
            "the function's environment would be {bytes} bytes, over Lambda's limit of \
             {ENVIRONMENT_BYTES} (4 KB, measured as JSON); the {what} are one of its variables"
        ),
        format!("list fewer {what} (\"*\" allows any origin)"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_is_measured_as_lambda_measures_it() {
        let vars = BTreeMap::from([("A".to_string(), "bc".to_string())]);
        assert_eq!(size(&vars), r#"{"A":"bc"}"#.len());
        let stack = super::super::parse("name: vc\n", std::path::Path::new("stack.yaml"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(size(&stack.environment()) < ENVIRONMENT_BYTES);
        assert_eq!(stack.environment()[contract::env::TABLE_NAME], "vc-prod");
    }
}
