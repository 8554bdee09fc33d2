//! The lease item: its attributes, and the conditional `UpdateItem`s that write it, built up
//! clause by clause.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::{Holder, Place, Sent};

// The lease item's attributes.
pub(super) const TOKEN: &str = "holder_token";
pub(super) const WHO: &str = "who";
pub(super) const HOST: &str = "host";
pub(super) const VERB: &str = "verb";
pub(super) const SINCE: &str = "since";
pub(super) const EXPIRES: &str = "expires";
pub(super) const TTL_S: &str = "ttl_s";
pub(super) const RENEWALS: &str = "renewals";
pub(super) const GENERATION: &str = "generation";
pub(super) const MACHINE: &str = "machine";
pub(super) const PID: &str = "pid";
pub(super) const STARTED: &str = "started";
pub(super) const CI: &str = "ci";
/// Every attribute of a holder: what a release removes.
pub(super) const HOLDER: [&str; 12] = [
    TOKEN, WHO, HOST, VERB, SINCE, EXPIRES, TTL_S, RENEWALS, MACHINE, PID, STARTED, CI,
];

pub(super) fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

pub(super) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// One `UpdateItem`'s expression, built up clause by clause.
#[derive(Default)]
pub(super) struct Update {
    pub(super) set: Vec<String>,
    pub(super) add: Vec<String>,
    pub(super) remove: Vec<String>,
    pub(super) names: HashMap<String, String>,
    pub(super) values: HashMap<String, AttributeValue>,
}

impl Update {
    pub(super) fn name(&mut self, placeholder: &str, attribute: &str) {
        self.names
            .insert(placeholder.to_string(), attribute.to_string());
    }

    pub(super) fn value(&mut self, placeholder: &str, value: AttributeValue) {
        self.values.insert(placeholder.to_string(), value);
    }

    pub(super) fn set(&mut self, attribute: &str, value: AttributeValue) {
        self.name(&format!("#{attribute}"), attribute);
        self.value(&format!(":{attribute}"), value);
        self.set.push(format!("#{attribute} = :{attribute}"));
    }

    pub(super) fn add(&mut self, attribute: &str, value: AttributeValue) {
        self.name(&format!("#{attribute}"), attribute);
        self.value(&format!(":{attribute}"), value);
        self.add.push(format!("#{attribute} :{attribute}"));
    }

    pub(super) fn remove(&mut self, attribute: &str) {
        self.name(&format!("#{attribute}"), attribute);
        self.remove.push(format!("#{attribute}"));
    }

    /// Sets every attribute of `h`, and removes the optional ones it lacks.
    pub(super) fn holder(&mut self, h: &Holder) {
        self.set(TOKEN, s(&h.token));
        self.set(WHO, s(&h.who));
        self.set(HOST, s(&h.host));
        self.set(VERB, s(&h.verb));
        self.set(SINCE, n(h.since));
        self.set(EXPIRES, n(h.expires));
        self.set(TTL_S, n(h.ttl_s));
        self.set(RENEWALS, n(h.renewals));
        self.set(GENERATION, n(h.generation));
        match &h.process {
            Some(p) => {
                self.set(MACHINE, s(&p.machine));
                self.set(PID, n(p.pid));
                self.set(STARTED, n(p.started));
            }
            None => [MACHINE, PID, STARTED].iter().for_each(|a| self.remove(a)),
        }
        match &h.ci {
            Some(job) => self.set(CI, s(job)),
            None => self.remove(CI),
        }
    }

    pub(super) fn expression(&self) -> String {
        let mut clauses = Vec::new();
        for (word, parts) in [
            ("SET", &self.set),
            ("ADD", &self.add),
            ("REMOVE", &self.remove),
        ] {
            if !parts.is_empty() {
                clauses.push(format!("{word} {}", parts.join(", ")));
            }
        }
        clauses.join(" ")
    }

    pub(super) async fn send(mut self, place: &Place, condition: &str) -> Sent {
        for placeholder in ["#holder_token", "#generation", "#renewals"] {
            self.name(placeholder, &placeholder[1..]);
        }
        // DynamoDB refuses a name placeholder that no expression uses.
        self.names.retain(|p, _| {
            self.set
                .iter()
                .chain(&self.add)
                .chain(&self.remove)
                .any(|c| c.contains(p.as_str()))
                || condition.contains(p.as_str())
        });
        place
            .client
            .update_item()
            .table_name(&place.table)
            .set_key(Some(place.item_key()))
            .update_expression(self.expression())
            .condition_expression(condition)
            .set_expression_attribute_names(Some(self.names))
            .set_expression_attribute_values(Some(self.values))
            .send()
            .await
    }
}
