//! The REST API's wire types and a typed client.
//!
//! These types are the only HTTP JSON format of encluster: the agent converts between them
//! and `model`, the CLI and tools read them. Few dependencies on purpose (like Nomad's
//! separate api module), so a tool can use the client without pulling in the agent.
//! Fields are only added, never renamed, so the JSON stays stable for scripts.

mod alerts;
mod certs;
mod client;
mod fencing;
mod metrics;
mod operations;
mod resource_types;
mod resources;
mod servers;
mod session;
mod types;
mod users;
// --- witness ---
mod witness;

pub use alerts::*;
pub use certs::*;
pub use client::{Client, ClientError, MetricQuery};
pub use fencing::*;
pub use metrics::*;
pub use operations::*;
pub use resource_types::*;
pub use resources::*;
pub use servers::*;
pub use session::{FLOOR_HEADER, SEQ_HEADER, SESSION_HEADER, WriteSession};
pub use types::*;
pub use users::*;
pub use witness::*;
