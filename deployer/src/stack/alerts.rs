//! `alerts:`: who hears when the counter fails, each problem located at its line.

use serde_saphyr::Spanned;

use super::error::Checker;
use super::raw::RawAlerts;
use super::Alerts;

/// The default of `alerts.errors` and `alerts.throttles`: the first one in 5 minutes.
pub const DEFAULT_THRESHOLD: u32 = 1;
const MAX_THRESHOLD: u32 = 100_000;

pub fn validate(raw: &Spanned<RawAlerts>, c: &mut Checker) -> Alerts {
    let a = &raw.value;
    if a.email.is_none() && a.topic_arn.is_none() {
        c.hint(
            raw,
            "alerts",
            "alerts names nobody to tell",
            "set alerts.email (an address to notify) or alerts.topic_arn (an SNS topic of yours)"
                .into(),
        );
    }
    if let Some(e) = &a.email {
        if !is_email(&e.value) {
            c.hint(
                e,
                "alerts.email",
                format!("{:?} is not an e-mail address", e.value),
                "use one address, such as me@example.com".into(),
            );
        }
    }
    if let Some(t) = &a.topic_arn {
        if !is_topic_arn(&t.value) {
            c.hint(
                t,
                "alerts.topic_arn",
                format!("{:?} is not an SNS topic ARN", t.value),
                "use arn:aws:sns:REGION:ACCOUNT:NAME, as `aws sns list-topics` shows it".into(),
            );
        }
    }
    Alerts {
        email: a.email.as_ref().map(|e| e.value.clone()),
        topic_arn: a.topic_arn.as_ref().map(|t| t.value.clone()),
        errors: threshold(&a.errors, "alerts.errors", c),
        throttles: threshold(&a.throttles, "alerts.throttles", c),
    }
}

fn threshold(raw: &Option<Spanned<i64>>, key: &str, c: &mut Checker) -> u32 {
    let Some(v) = raw else {
        return DEFAULT_THRESHOLD;
    };
    match u32::try_from(v.value) {
        Ok(n) if (1..=MAX_THRESHOLD).contains(&n) => n,
        _ => {
            c.at(
                v,
                key,
                format!("{} is outside 1–{MAX_THRESHOLD} in 5 minutes", v.value),
            );
            DEFAULT_THRESHOLD
        }
    }
}

/// One address, as SNS's `email` protocol takes it: a local part, `@`, a dotted domain.
fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    s.len() <= 254
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.contains(|c: char| c.is_whitespace() || c == ',' || c == '<' || c == '>')
        && !domain.contains('@')
}

/// `arn:PARTITION:sns:REGION:ACCOUNT:NAME`, with a 12-digit account and a topic name SNS
/// accepts (1–256 letters, digits, hyphens, underscores; `.fifo` for FIFO topics).
fn is_topic_arn(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    let [arn, partition, sns, region, account, name] = parts.as_slice() else {
        return false;
    };
    *arn == "arn"
        && partition.starts_with("aws")
        && *sns == "sns"
        && !region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && (1..=256).contains(&name.len())
        && name
            .trim_end_matches(".fifo")
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_topics_are_checked_as_sns_takes_them() {
        assert!(is_email("me@example.com"));
        assert!(!is_email("me@localhost"));
        assert!(!is_email("me example@example.com"));
        assert!(!is_email("a@b@example.com"));
        assert!(!is_email("@example.com"));
        assert!(is_topic_arn("arn:aws:sns:us-east-1:123456789012:ops"));
        assert!(is_topic_arn(
            "arn:aws-cn:sns:cn-north-1:123456789012:ops.fifo"
        ));
        assert!(!is_topic_arn("arn:aws:sns:us-east-1:1234:ops"));
        assert!(!is_topic_arn("arn:aws:sqs:us-east-1:123456789012:ops"));
        assert!(!is_topic_arn("ops"));
    }
}
