//! The stack's SNS topic, which its alarms notify, and the e-mail subscription to it.
//!
//! SNS finds a topic by ARN only; before the account is known, `find` lists the region's topics
//! for the stack's name. An e-mail subscription waits for its owner to confirm the message AWS
//! sends: until then `ListSubscriptionsByTopic` shows no ARN (`PendingConfirmation`), it cannot
//! be removed, and SNS deletes it after 48 hours; subscribing the same address again sends the
//! message again, so an address already subscribed (pending or not) is left alone.

use aws_sdk_sns::types::Tag;

use super::super::tags::Tags;
use super::super::Ctx;
use crate::aws::{AwsContext, Clients, Found};

/// What `ListSubscriptionsByTopic` calls a subscription awaiting confirmation.
pub const PENDING: &str = "PendingConfirmation";

/// One subscription: its protocol and endpoint, and its ARN ([`PENDING`] until confirmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub protocol: String,
    pub endpoint: String,
    pub arn: String,
}

impl Subscription {
    pub fn confirmed(&self) -> bool {
        self.arn.starts_with("arn:")
    }
}

/// The live topic.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveTopic {
    pub arn: String,
    pub tags: Tags,
    pub subscriptions: Vec<Subscription>,
}

/// The ARN of the region's topic named `name`, if there is one.
pub async fn find(clients: &Clients, name: &str) -> anyhow::Result<Option<String>> {
    let suffix = format!(":{name}");
    let mut pages = clients.sns.list_topics().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.doing(|| format!("listing SNS topics for {name}"))?;
        let found = page
            .topics()
            .iter()
            .filter_map(|t| t.topic_arn())
            .find(|arn| arn.ends_with(&suffix));
        if let Some(arn) = found {
            return Ok(Some(arn.to_string()));
        }
    }
    Ok(None)
}

/// The topic at `arn`, with its tags and subscriptions; `None` when it is gone.
pub async fn read(clients: &Clients, arn: &str) -> anyhow::Result<Option<LiveTopic>> {
    let tags = clients
        .sns
        .list_tags_for_resource()
        .resource_arn(arn)
        .send();
    let subscriptions = clients
        .sns
        .list_subscriptions_by_topic()
        .topic_arn(arn)
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>();
    let (tags, subscriptions) = tokio::join!(tags, subscriptions);
    let Some(tags) = tags.found(|| format!("reading the tags of topic {arn}"))? else {
        return Ok(None);
    };
    let mut subs = Vec::new();
    for s in subscriptions {
        let Some(s) = s.found(|| format!("reading the subscriptions of topic {arn}"))? else {
            return Ok(None);
        };
        subs.push(Subscription {
            protocol: s.protocol().unwrap_or_default().into(),
            endpoint: s.endpoint().unwrap_or_default().into(),
            arn: s.subscription_arn().unwrap_or_default().into(),
        });
    }
    Ok(Some(LiveTopic {
        arn: arn.to_string(),
        tags: tags
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect(),
        subscriptions: subs,
    }))
}

/// Creates the topic with `tags` (idempotent for the same name and tags); its ARN.
pub async fn create(ctx: Ctx<'_>, name: &str, tags: &Tags) -> anyhow::Result<String> {
    let made = ctx
        .clients
        .sns
        .create_topic()
        .name(name)
        .set_tags(Some(sns_tags(tags)?))
        .send()
        .await
        .doing(|| format!("creating topic {name}"))?;
    made.topic_arn
        .ok_or_else(|| anyhow::anyhow!("CreateTopic gave topic {name} no ARN"))
}

/// Subscribes `email` to the topic: AWS sends it a message to confirm.
pub async fn subscribe(ctx: Ctx<'_>, arn: &str, email: &str) -> anyhow::Result<()> {
    ctx.clients
        .sns
        .subscribe()
        .topic_arn(arn)
        .protocol("email")
        .endpoint(email)
        .send()
        .await
        .doing(|| format!("subscribing {email} to topic {arn}"))?;
    Ok(())
}

/// Removes a confirmed subscription.
pub async fn unsubscribe(ctx: Ctx<'_>, subscription: &str) -> anyhow::Result<()> {
    ctx.clients
        .sns
        .unsubscribe()
        .subscription_arn(subscription)
        .send()
        .await
        .found(|| format!("removing subscription {subscription}"))?;
    Ok(())
}

/// Adds `tags` to the topic.
pub async fn tag(ctx: Ctx<'_>, arn: &str, tags: &Tags) -> anyhow::Result<()> {
    ctx.clients
        .sns
        .tag_resource()
        .resource_arn(arn)
        .set_tags(Some(sns_tags(tags)?))
        .send()
        .await
        .doing(|| format!("tagging topic {arn}"))?;
    Ok(())
}

/// Deletes the topic and its subscriptions; `None` when it was gone already.
pub async fn delete(ctx: Ctx<'_>, arn: &str) -> anyhow::Result<Option<()>> {
    let gone = ctx
        .clients
        .sns
        .delete_topic()
        .topic_arn(arn)
        .send()
        .await
        .found(|| format!("deleting topic {arn}"))?;
    Ok(gone.map(|_| ()))
}

fn sns_tags(tags: &Tags) -> anyhow::Result<Vec<Tag>> {
    tags.iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| anyhow::anyhow!("tag {k}: {e}"))
        })
        .collect()
}
