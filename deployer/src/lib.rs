//! The visitor-counter deployer: reads `stack.yaml`, and creates, reconciles, checks for drift
//! and removes the whole stack. Data flows one way:
//! `stack.yaml` → [`stack`] → [`names`] → [`resources`] (observe) → [`plan`] → apply or print.

pub mod args;
pub mod arns;
pub mod aws;
pub mod cli;
pub mod conventions;
pub mod down;
pub mod duration;
pub mod init;
pub mod interrupt;
pub mod invoke;
pub mod kind;
pub mod lease;
pub mod local;
pub mod logs;
pub mod names;
pub mod package;
pub mod plan;
pub mod policy;
pub mod probe;
pub mod progress;
pub mod reconcile;
pub mod report;
pub mod resources;
pub mod rollback;
pub mod session;
pub mod snippet;
pub mod stack;
pub mod status;
pub mod verbs;
pub mod wait;
