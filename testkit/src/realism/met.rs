//! What the layer did, counted: a test that relies on a behaviour asserts that it happened, so
//! that a window too short for the run, or a matcher that no longer matches, fails the test
//! instead of letting it pass through moto's plain answers.

use std::collections::BTreeMap;

use super::Layer;

/// A behaviour of the layer, counted each time it refused a request or changed an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Met {
    /// DescribeTable said `CREATING`.
    TableCreating,
    /// DescribeTable said `UPDATING`.
    TableUpdating,
    /// A change to a table still `CREATING` or `UPDATING` was refused (ResourceInUseException).
    TableInUse,
    /// An item request to a table still `CREATING` was refused (ResourceNotFoundException).
    ItemsWhileCreating,
    /// UpdateContinuousBackups right after CreateTable was refused.
    PitrUnavailable,
    /// DescribeContinuousBackups said `ENABLING`.
    PitrEnabling,
    /// ListTagsOfResource showed the tags as they were before a change.
    TagLag,
    /// Lambda could not assume a new role yet.
    RoleNotAssumable,
    /// KMS could not grant a new role the environment's key yet.
    KmsGrant,
    /// A function configuration said `Pending`.
    FunctionPending,
    /// A function configuration said `InProgress`.
    FunctionInProgress,
    /// A change to a function `Pending` or `InProgress` was refused (ResourceConflictException).
    FunctionBusy,
    /// PublishVersion named other code than `$LATEST` holds.
    OtherCode,
    /// An environment over 4 KB was refused.
    EnvironmentTooLarge,
    /// AddPermission named a statement id that exists.
    PermissionExists,
    /// GetFunction answered a TagsError instead of the tags.
    TagsHidden,
    /// A quota of API Gateway's refused a call (429).
    ApiQuota,
    /// GetRestApis left out an API created moments ago.
    RestApisLag,
    /// PutMethod on a method that exists was refused.
    MethodExists,
    /// A tag with a character its service does not take was refused.
    TagCharacters,
}

impl Layer {
    /// Counts `met` once.
    pub(super) fn met(&self, met: Met) {
        *self.world().met.entry(met).or_default() += 1;
    }

    /// How often each behaviour happened since the layer was set.
    pub(crate) fn counts(&self) -> BTreeMap<Met, usize> {
        self.world().met.clone()
    }
}
