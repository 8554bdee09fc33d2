//! `init`: a commented `stack.yaml` to start from, with every setting at its default and said
//! what it does. It never overwrites a file: the one there may hold someone's work.

use std::io::Write as _;
use std::path::Path;

use crate::stack;

/// The template; `{name}` and `{region}` are filled in.
const TEMPLATE: &str = r#"# A visitor counter: a DynamoDB table, a Rust Lambda function and an API Gateway REST API.
# `deployer up` creates or reconciles it; `deployer diff` reports drift; `deployer down` removes it.
name: {name}                 # prefix of every resource, and the tag deployer:stack
region: {region}
stage: prod                  # `--stage dev` deploys another copy beside it from this same file
table:
  # name: {name}-{stage}     # default; {stage} follows --stage
  key: id                    # the partition key; a table built by hand may say counter_id
  point_in_time_recovery: true
  deletion_protection: true  # `down` keeps the table (your data) unless --delete-table
function:
  package: function          # the cargo package built into bootstrap
  architecture: x86_64       # or arm64 (Graviton, about 20% cheaper); built from any host
  memory_mb: 128
  timeout_s: 3
  log_retention_days: 14
  counter_id: main_counter
  keep_versions: 5           # old versions kept for `rollback`, besides the live one and the one before
api:
  # id: a1b2c3d4e5           # a REST API built by hand, to keep its URL (with `up --adopt`)
  routes: [GET /counter, GET /count, GET /health]
  cors_origins: ["https://example.com"]   # the site that reads the count; "*" allows any
  throttle: { rate: 10, burst: 20 }       # requests per second for the whole stage
# alerts:                    # e-mail me when the counter fails (4 alarms: free within 10)
#   email: me@example.com    # confirm the message AWS sends
tags: { project: visitor-counter }
"#;

/// The commented stack for `name` in `region`, checked to load before it is written.
pub fn template(name: &str, region: &str) -> anyhow::Result<String> {
    let text = TEMPLATE
        .replace("{name}-{stage}", &format!("{name}-{{stage}}"))
        .replace("{name}", name)
        .replace("{region}", region);
    stack::parse(&text, Path::new("stack.yaml"))
        .map_err(|e| anyhow::anyhow!("--name {name:?} --region {region:?}: {e}"))?;
    Ok(text)
}

/// Writes the template at `path`; refuses to touch an existing file.
pub fn write(path: &Path, name: &str, region: &str) -> anyhow::Result<()> {
    let text = template(name, region)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => anyhow::anyhow!(
                "{} exists; nothing was written (init never overwrites: move it away, or pass \
                 --stack to write another file)",
                path.display()
            ),
            _ => anyhow::anyhow!("cannot create {}: {e}", path.display()),
        })?;
    file.write_all(text.as_bytes())
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_loads_with_its_defaults() {
        let text = template("my-site", "eu-west-2").unwrap_or_default();
        let s = stack::parse(&text, Path::new("stack.yaml"));
        let s = s.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (s.name.as_str(), s.region.as_deref()),
            ("my-site", Some("eu-west-2"))
        );
        assert_eq!(s.table.name, "my-site-prod");
        assert!(text.contains("# name: my-site-{stage}"), "{text}");
    }

    #[test]
    fn a_bad_name_is_refused_before_anything_is_written() {
        assert!(template("Not A Name!", "us-east-1").is_err_and(|e| e.to_string().contains("name")));
        assert!(template("ok", "mars-1").is_err());
    }
}
