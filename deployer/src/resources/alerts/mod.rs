//! `alerts:`: the stack's SNS topic with its e-mail subscription, and its CloudWatch alarms,
//! reconciled as one kind: the alarms notify the topic, and neither means anything alone.
//!
//! - `alerts.email`: the stack's own topic (`{function}-alerts`) and the address subscribed to
//!   it; a changed address is subscribed, and the old one removed once it was confirmed (a
//!   pending one cannot be, and lapses by itself);
//! - `alerts.topic_arn`: a topic of the user's that the alarms notify as well; never changed;
//! - the alarms ([`alarms`]): each compared whole, and replaced whole when it differs;
//! - without `alerts:`, the stack's alarms and topic are removed (those carrying its tags).
//!
//! The gateway's alarm watches the live API's name, which an adopted API keeps
//! ([`Needs::api_name`]).

pub mod alarms;
pub mod topic;

use serde_json::json;

use super::tags::{self, Tags, TAGS};
use super::{Ctx, Needs, Removed, Resource};
use crate::arns::Arns;
use crate::aws::Clients;
use crate::names::Names;
use crate::plan::{json_of, Change, Describe, Differ, Kind, Update};
use crate::stack::Stack;

pub use alarms::{Alarm, LiveAlarm, KINDS};
use topic::{LiveTopic, Subscription};

#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    /// The topic's name: how plans name the kind.
    pub name: String,
    pub tags: Tags,
    /// `None`: no `alerts:`, so nothing of the kind.
    pub wanted: Option<Wanted>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Wanted {
    /// The address subscribed to the stack's own topic; `None`: no topic of its own.
    pub email: Option<String>,
    pub alarms: Vec<Alarm>,
}

impl Desired {
    pub fn of(stack: &Stack, names: &Names, arns: &Arns) -> Desired {
        let wanted = stack.alerts.as_ref().map(|a| {
            let mut actions = Vec::new();
            if a.email.is_some() {
                actions.push(arns.topic.clone());
            }
            actions.extend(a.topic_arn.clone());
            Wanted {
                email: a.email.clone(),
                alarms: alarms::wanted(names, a, &names.api, &actions),
            }
        });
        Desired {
            name: names.topic.clone(),
            tags: names.tags.clone(),
            wanted,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub topic: Option<LiveTopic>,
    pub alarms: Vec<LiveAlarm>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AlertsChange {
    /// The stack's topic, and `email` subscribed to it.
    CreateTopic {
        email: Option<String>,
    },
    TopicTags(Update<Tags>),
    Subscribe(String),
    Unsubscribe(Subscription),
    DeleteTopic {
        arn: String,
    },
    /// Created (`live: None`) or replaced whole.
    PutAlarm {
        alarm: Box<Alarm>,
        live: Option<Box<Alarm>>,
    },
    AlarmTags {
        arn: String,
        name: String,
        update: Update<Tags>,
    },
    DeleteAlarm(Alarm),
}

const SUBSCRIPTION: &str = "subscription";

impl Describe for AlertsChange {
    fn describe(&self, name: &str) -> Change {
        let k = Kind::Alerts;
        match self {
            AlertsChange::CreateTopic { email } => {
                Change::create(k, name, json!({"topic": name, "email": email}))
            }
            AlertsChange::TopicTags(u) => u.change(k, name, TAGS),
            AlertsChange::Subscribe(email) => {
                Change::update(k, name, SUBSCRIPTION, json!(email), serde_json::Value::Null)
            }
            AlertsChange::Unsubscribe(s) => {
                Change::delete(k, name, Some(SUBSCRIPTION), json!(s.endpoint))
            }
            AlertsChange::DeleteTopic { arn } => Change::delete(k, name, None, json!(arn)),
            AlertsChange::PutAlarm { alarm, live: None } => {
                Change::create(k, &alarm.name, json_of(alarm))
            }
            AlertsChange::PutAlarm {
                alarm,
                live: Some(live),
            } => Change::update(k, &alarm.name, "alarm", json_of(alarm), json_of(live)),
            AlertsChange::AlarmTags { name, update, .. } => update.change(k, name, TAGS),
            AlertsChange::DeleteAlarm(a) => Change::delete(k, &a.name, None, json_of(a)),
        }
    }
}

pub struct Alerts;

impl Resource for Alerts {
    const KIND: Kind = Kind::Alerts;
    type Desired = Desired;
    type Observed = Observed;
    type Change = AlertsChange;

    fn name(d: &Desired) -> &str {
        &d.name
    }

    fn tags(o: &Observed) -> Option<&Tags> {
        o.topic
            .as_ref()
            .map(|t| &t.tags)
            .or_else(|| o.alarms.first().map(|a| &a.tags))
    }

    async fn observe(
        clients: &Clients,
        names: &Names,
        _needs: Needs<'_>,
    ) -> anyhow::Result<Option<Observed>> {
        let find = async {
            match topic::find(clients, &names.topic).await? {
                Some(arn) => topic::read(clients, &arn).await,
                None => Ok(None),
            }
        };
        let (topic, alarms) = tokio::try_join!(find, alarms::read(clients, names))?;
        if topic.is_none() && alarms.is_empty() {
            return Ok(None);
        }
        Ok(Some(Observed { topic, alarms }))
    }

    fn plan(d: &Desired, o: Option<&Observed>, needs: Needs<'_>) -> Vec<AlertsChange> {
        let live_topic = o.and_then(|o| o.topic.as_ref());
        let live_alarms = o.map_or(&[][..], |o| o.alarms.as_slice());
        let mut diff = Differ::new();
        let Some(wanted) = &d.wanted else {
            for a in live_alarms
                .iter()
                .filter(|a| tags::carries_owner(&d.tags, &a.tags))
            {
                diff.push(AlertsChange::DeleteAlarm(a.alarm.clone()));
            }
            if let Some(t) = live_topic.filter(|t| tags::carries_owner(&d.tags, &t.tags)) {
                diff.push(AlertsChange::DeleteTopic { arn: t.arn.clone() });
            }
            return diff.done();
        };
        plan_topic(&mut diff, d, wanted, live_topic);
        for want in &wanted.alarms {
            let want = on_live_api(want, needs.api_name);
            let live = live_alarms.iter().find(|l| l.alarm.name == want.name);
            if live.is_none_or(|l| l.alarm != want) {
                diff.push(AlertsChange::PutAlarm {
                    live: live.map(|l| Box::new(l.alarm.clone())),
                    alarm: Box::new(want.clone()),
                });
            }
            if let Some(l) = live {
                tags::compare(&mut diff, &d.tags, &l.tags, |update| {
                    AlertsChange::AlarmTags {
                        arn: l.arn.clone(),
                        name: want.name.clone(),
                        update,
                    }
                });
            }
        }
        diff.done()
    }

    async fn apply(
        ctx: Ctx<'_>,
        d: &Desired,
        changes: &[AlertsChange],
        _needs: Needs<'_>,
    ) -> anyhow::Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let step = ctx.step(super::creates(changes), "alerts", &d.name);
        carry_out(ctx, d, changes).await?;
        step.done("");
        Ok(())
    }

    async fn delete(ctx: Ctx<'_>, d: &Desired) -> anyhow::Result<Removed> {
        let Some(live) = Alerts::observe(ctx.clients, ctx.names, Needs::NONE).await? else {
            return Ok(Removed::Absent);
        };
        let without = Desired {
            wanted: None,
            ..d.clone()
        };
        let changes = Alerts::plan(&without, Some(&live), Needs::NONE);
        if changes.is_empty() {
            return Ok(Removed::NotOurs(d.name.clone()));
        }
        let step = ctx.progress.step(format!("deleting alerts {}", d.name));
        carry_out(ctx, &without, &changes).await?;
        step.done("");
        Ok(Removed::Deleted(
            changes.iter().map(|c| c.describe(&d.name).name).collect(),
        ))
    }
}

/// The changes in order: the topic's, the alarms' (at once), the alarms deleted, the topic
/// deleted last (its alarms notify it until they are gone).
async fn carry_out(ctx: Ctx<'_>, d: &Desired, changes: &[AlertsChange]) -> anyhow::Result<()> {
    apply_topic(ctx, d, changes).await?;
    let puts = changes.iter().map(|c| async move {
        match c {
            AlertsChange::PutAlarm { alarm, .. } => alarms::put(ctx, alarm, &d.tags).await,
            AlertsChange::AlarmTags { arn, update, .. } => {
                tags::apply(update, |missing| async move {
                    alarms::tag(ctx, arn, &missing).await
                })
                .await
            }
            _ => Ok(()),
        }
    });
    futures_util::future::try_join_all(puts).await?;
    let gone: Vec<String> = changes
        .iter()
        .filter_map(|c| match c {
            AlertsChange::DeleteAlarm(a) => Some(a.name.clone()),
            _ => None,
        })
        .collect();
    alarms::delete(ctx, &gone).await?;
    for c in changes {
        if let AlertsChange::DeleteTopic { arn } = c {
            topic::delete(ctx, arn).await?;
        }
    }
    Ok(())
}

/// The topic's changes: made with its subscription, tagged, its address kept current, or
/// removed when `alerts` no longer asks for an address.
fn plan_topic(
    diff: &mut Differ<AlertsChange>,
    d: &Desired,
    wanted: &Wanted,
    live: Option<&LiveTopic>,
) {
    match (&wanted.email, live) {
        (Some(email), None) => {
            diff.push(AlertsChange::CreateTopic {
                email: Some(email.clone()),
            });
        }
        (Some(email), Some(t)) => {
            tags::compare(diff, &d.tags, &t.tags, AlertsChange::TopicTags);
            let emails = t.subscriptions.iter().filter(|s| s.protocol == "email");
            if !emails.clone().any(|s| &s.endpoint == email) {
                diff.push(AlertsChange::Subscribe(email.clone()));
            }
            for old in emails.filter(|s| &s.endpoint != email && s.confirmed()) {
                diff.push(AlertsChange::Unsubscribe(old.clone()));
            }
        }
        (None, Some(t)) if tags::carries_owner(&d.tags, &t.tags) => {
            diff.push(AlertsChange::DeleteTopic { arn: t.arn.clone() });
        }
        (None, _) => {}
    }
}

/// Carries out the topic's changes (the ARN is the stack's: [`Arns::topic`]).
async fn apply_topic(ctx: Ctx<'_>, d: &Desired, changes: &[AlertsChange]) -> anyhow::Result<()> {
    let arn = &ctx.arns.topic;
    for c in changes {
        match c {
            AlertsChange::CreateTopic { email } => {
                let made = topic::create(ctx, &d.name, &d.tags).await?;
                if let Some(email) = email {
                    topic::subscribe(ctx, &made, email).await?;
                }
            }
            AlertsChange::TopicTags(update) => {
                tags::apply(update, |missing| async move {
                    topic::tag(ctx, arn, &missing).await
                })
                .await?;
            }
            AlertsChange::Subscribe(email) => topic::subscribe(ctx, arn, email).await?,
            AlertsChange::Unsubscribe(s) => topic::unsubscribe(ctx, &s.arn).await?,
            _ => {}
        }
    }
    Ok(())
}

/// `want`, watching the live API's name on the stage's metrics when the API is adopted.
fn on_live_api(want: &Alarm, api_name: Option<&str>) -> Alarm {
    let mut alarm = want.clone();
    if let Some(name) = api_name.filter(|n| !n.is_empty()) {
        for (dim, value) in &mut alarm.dimensions {
            if dim == "ApiName" {
                *value = name.to_string();
            }
        }
    }
    alarm
}

#[cfg(test)]
mod tests;
