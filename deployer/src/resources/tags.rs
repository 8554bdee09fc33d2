//! Tags, the same way for every kind: the stack's tags are compared with the live ones on the
//! keys the stack sets (tags someone else added are theirs, and left alone), and only the
//! missing or different ones are sent, through each service's own tagging call.

use std::collections::BTreeMap;
use std::future::Future;

use crate::conventions::{STACK_TAG, STAGE_TAG};
use crate::names::Names;
use crate::plan::{Differ, Update};

pub type Tags = BTreeMap<String, String>;

/// The field name of every tags change.
pub const TAGS: &str = "tags";

/// The live tags restricted to the keys the stack sets: the `live` side of a tags change.
pub fn live_subset(want: &Tags, live: &Tags) -> Tags {
    live.iter()
        .filter(|(k, _)| want.contains_key(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The tags of `want` that `live` lacks or holds with another value.
pub fn missing(want: &Tags, live: &Tags) -> Tags {
    want.iter()
        .filter(|(k, v)| live.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Adds `make(update)` to `diff` when some wanted tag is missing or different.
pub fn compare<C>(
    diff: &mut Differ<C>,
    want: &Tags,
    live: &Tags,
    make: impl FnOnce(Update<Tags>) -> C,
) {
    diff.field(want, &live_subset(want, live), make);
}

/// Sends the tags `update` lacks, through `send` (each service tags in its own shape).
pub async fn apply<F, Fut, T>(update: &Update<Tags>, send: F) -> anyhow::Result<T>
where
    F: FnOnce(Tags) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    send(missing(&update.want, &update.live)).await
}

/// Whether `tags` say the resource belongs to this stack and stage.
pub fn ours<'a>(names: &Names, tags: impl IntoIterator<Item = (&'a String, &'a String)>) -> bool {
    let tags: BTreeMap<&String, &String> = tags.into_iter().collect();
    tags.get(&STACK_TAG.to_string()) == Some(&&names.stack)
        && tags.get(&STAGE_TAG.to_string()) == Some(&&names.stage)
}

/// Whether `live` carries the stack and stage tags of `want` (the stack's tags): [`ours`], for
/// a plan, which knows the desired tags rather than the names.
pub fn carries_owner(want: &Tags, live: &Tags) -> bool {
    [STACK_TAG, STAGE_TAG]
        .iter()
        .all(|k| want.get(*k).is_some_and(|v| live.get(*k) == Some(v)))
}

/// Whose a live resource is, when it is not this stack's and stage's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// No `deployer:stack` tag: made by hand (or by another tool). Taken only with `--adopt`.
    Untagged,
    /// Tagged for another stack, or another stage of this one: never taken.
    Other { stack: String, stage: String },
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owner::Untagged => write!(f, "carries no {STACK_TAG} tag"),
            Owner::Other { stack, stage } => {
                write!(f, "is tagged {STACK_TAG}={stack}, {STAGE_TAG}={stage}")
            }
        }
    }
}

/// Whose the resource tagged `tags` is: `None` when it is this stack's. A resource with this
/// stack's tag and no stage tag is this stack's (the stage tag is repaired as drift).
pub fn owner(names: &Names, tags: &Tags) -> Option<Owner> {
    let Some(stack) = tags.get(STACK_TAG) else {
        return Some(Owner::Untagged);
    };
    let stage = tags.get(STAGE_TAG);
    if stack == &names.stack && stage.is_none_or(|s| s == &names.stage) {
        return None;
    }
    Some(Owner::Other {
        stack: stack.clone(),
        stage: stage.cloned().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_stacks_keys_are_compared_and_only_what_is_missing_is_sent() {
        let want = Tags::from([("a".into(), "1".into()), ("b".into(), "2".into())]);
        let live = Tags::from([("a".into(), "1".into()), ("team".into(), "x".into())]);
        assert_eq!(
            live_subset(&want, &live),
            Tags::from([("a".into(), "1".into())])
        );
        assert_eq!(
            missing(&want, &live),
            Tags::from([("b".into(), "2".into())])
        );
        let mut diff = Differ::new();
        compare(&mut diff, &want, &live, |u| u);
        assert_eq!(diff.done().len(), 1);
        let mut diff = Differ::new();
        compare(&mut diff, &want, &want, |u| u);
        assert!(diff.done().is_empty());
    }

    #[test]
    fn a_resource_is_ours_untagged_or_another_stacks_by_its_two_tags() {
        let path = std::path::Path::new("stack.yaml");
        let stack = crate::stack::parse("name: vc\n", path).unwrap_or_else(|e| panic!("{e}"));
        let names = Names::derive(&stack, "us-east-1");
        let tags = |pairs: &[(&str, &str)]| -> Tags {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let ours = tags(&[(STACK_TAG, "vc"), (STAGE_TAG, "prod"), ("team", "x")]);
        assert_eq!(owner(&names, &ours), None);
        // The stage tag lost by hand: still ours, and repaired as drift.
        assert_eq!(owner(&names, &tags(&[(STACK_TAG, "vc")])), None);
        assert_eq!(
            owner(&names, &tags(&[("team", "x")])),
            Some(Owner::Untagged)
        );
        assert_eq!(owner(&names, &Tags::new()), Some(Owner::Untagged));
        let other = |stack: &str, stage: &str| Owner::Other {
            stack: stack.into(),
            stage: stage.into(),
        };
        let blog = tags(&[(STACK_TAG, "blog"), (STAGE_TAG, "prod")]);
        assert_eq!(owner(&names, &blog), Some(other("blog", "prod")));
        let dev = tags(&[(STACK_TAG, "vc"), (STAGE_TAG, "dev")]);
        assert_eq!(owner(&names, &dev), Some(other("vc", "dev")));
        assert_eq!(
            other("vc", "dev").to_string(),
            "is tagged deployer:stack=vc, deployer:stage=dev"
        );
    }
}
