//! The kinds of resource the deployer manages, by name. [`crate::resources`] lists the types
//! behind them once, in its `kinds!` table; that table does not compile unless it names every
//! kind here, each with its own type.

use serde::Serialize;

/// A kind of resource, in the order `up` applies them and `diff` shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Table,
    LogGroup,
    Role,
    Function,
    Alias,
    Api,
    Permission,
    Stage,
    Alerts,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Table => "table",
            Kind::LogGroup => "log_group",
            Kind::Role => "role",
            Kind::Function => "function",
            Kind::Alias => "alias",
            Kind::Api => "api",
            Kind::Permission => "permission",
            Kind::Stage => "stage",
            Kind::Alerts => "alerts",
        }
    }
}
