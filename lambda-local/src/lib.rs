//! A Lambda function's `bootstrap`, run here as Lambda and API Gateway run it:
//! - [`runtime_api`]: the Runtime API for one process, with its timeout, init and memory, and
//!   what it writes ([`capture`]);
//! - [`pool`]: warm processes, a new one whenever all are busy;
//! - [`events`]: HTTP to REST v1 proxy events and back;
//! - [`gateway`]: a stage's routes, and API Gateway's own answers with their gateway responses;
//! - [`emulation`]: a `bootstrap` of the other architecture, under qemu.
//!
//! `deployer serve` and `deployer invoke --local` use it with the stack's routes; testkit's
//! emulated request path uses it with what was deployed to the emulator. There is one runtime,
//! so the two cannot drift apart.

pub mod capture;
pub mod emulation;
pub mod events;
pub mod gateway;
pub mod pool;
pub mod runtime_api;

pub use capture::LogLine;
pub use events::{HttpRequest, HttpResponse, Route};
pub use pool::{Pool, Stats};
pub use runtime_api::{Invocation, Logs, Outcome, Sandbox, Spec};
