//! SNS's e-mail subscriptions as they really are: pending until their owner follows the link in
//! the message AWS sends (SNS developer guide, "Email notifications": the subscription is
//! `PendingConfirmation` until confirmed; "Deleting an Amazon SNS subscription and topic": a
//! pending subscription cannot be deleted, SNS removes it after 48 hours). moto confirms them at
//! once. Here `Subscribe` answers `pending confirmation` and the listings show
//! `PendingConfirmation` in place of the ARN until a test confirms the address
//! ([`crate::Recorder::confirm_email`]).

use bytes::Bytes;

use super::{form_value, Answer, Layer};
use crate::wire::{with_body, Exchange};

/// What AWS shows in place of a pending subscription's ARN, in listings and in `Subscribe`.
pub const PENDING: &str = "PendingConfirmation";
const PENDING_ANSWER: &str = "pending confirmation";

/// Rewrites moto's answers for the e-mail addresses not confirmed yet.
pub(super) fn after(layer: &Layer, ex: &Exchange<'_>, answer: Answer) -> Answer {
    if !layer.config.email_pending {
        return answer;
    }
    let confirmed = |endpoint: &str| layer.world().confirmed_emails.contains(endpoint);
    let Ok(text) = std::str::from_utf8(answer.body()) else {
        return answer;
    };
    let rewritten = match ex.call.operation.as_str() {
        "Subscribe" => {
            let email = form_value(ex.body, "Protocol").as_deref() == Some("email");
            let wants_arn = form_value(ex.body, "ReturnSubscriptionArn").as_deref() == Some("true");
            let endpoint = form_value(ex.body, "Endpoint").unwrap_or_default();
            if !email || wants_arn || confirmed(&endpoint) {
                return answer;
            }
            replace_arn(text, PENDING_ANSWER)
        }
        "ListSubscriptionsByTopic" | "ListSubscriptions" => pending_members(text, &confirmed),
        _ => return answer,
    };
    with_body(&answer, Bytes::from(rewritten))
}

/// Each `<member>` of an e-mail subscription whose endpoint is not confirmed, with
/// [`PENDING`] for its ARN.
fn pending_members(text: &str, confirmed: &dyn Fn(&str) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<member>") {
        let Some(len) = rest[start..].find("</member>") else {
            break;
        };
        let member = &rest[start..start + len];
        out.push_str(&rest[..start]);
        let email = element(member, "Protocol") == Some("email");
        let endpoint = element(member, "Endpoint").unwrap_or_default();
        if email && !confirmed(endpoint) {
            out.push_str(&replace_arn(member, PENDING));
        } else {
            out.push_str(member);
        }
        rest = &rest[start + len..];
    }
    out.push_str(rest);
    out
}

fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&format!("</{name}>"))?;
    Some(&xml[start..start + len])
}

fn replace_arn(xml: &str, with: &str) -> String {
    match element(xml, "SubscriptionArn") {
        Some(arn) if !arn.is_empty() => xml.replacen(
            &format!("<SubscriptionArn>{arn}</SubscriptionArn>"),
            &format!("<SubscriptionArn>{with}</SubscriptionArn>"),
            1,
        ),
        _ => xml.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unconfirmed_email_subscriptions_are_pending() {
        let member = |protocol: &str, endpoint: &str, n: u8| {
            format!(
                "<member><SubscriptionArn>arn:aws:sns:us-east-1:1:t:{n}</SubscriptionArn>\
                 <Protocol>{protocol}</Protocol><Endpoint>{endpoint}</Endpoint></member>"
            )
        };
        let xml = format!(
            "<Subscriptions>{}{}{}</Subscriptions>",
            member("email", "a@example.com", 1),
            member("email", "b@example.com", 2),
            member("sqs", "arn:aws:sqs:us-east-1:1:q", 3)
        );
        let out = pending_members(&xml, &|e| e == "b@example.com");
        assert_eq!(out.matches(PENDING).count(), 1);
        assert!(out.contains("t:2</SubscriptionArn>") && out.contains("t:3</SubscriptionArn>"));
        assert!(!out.contains("t:1</SubscriptionArn>"));
    }
}
