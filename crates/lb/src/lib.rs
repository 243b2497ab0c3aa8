//! The load-balancer data plane: TCP and HTTP proxying for virtual services.
//!
//! It receives immutable configuration snapshots and exposes counters.
//! It must never know about the cluster database or the scheduler, and its hot path must never
//! wait on control-plane code or its locks.

mod activity;
mod config;
mod counters;
mod director;
// --- openapi --- The fuzz targets' entry points (issue 15).
#[doc(hidden)]
pub mod fuzzing;
mod h1;
mod health;
mod http;
pub mod limits;
mod maglev;
mod metered;
mod metrics;
mod persistence;
mod pool;
mod proxy_body;
mod relay;
mod service;
mod upstream;

pub use config::{
    Algorithm, ConfigError, HealthCheck, HealthCheckKind, LbConfig, Protocol, ServerConfig,
    ServerState, ServiceConfig,
};
pub use counters::{
    LATENCY_BOUNDS_MICROS, LATENCY_BUCKETS, LatencySnapshot, LbSnapshot, ServerSnapshot,
    ServiceSnapshot,
};
pub use director::{ApplyError, BindFailure, Director, DirectorOptions, LbCounters, run};
pub use health::{fall_bound, rise_bound};
pub use limits::{BODY_READ_TIMEOUT, HEADER_READ_TIMEOUT};
pub use metrics::render_prometheus;
pub use relay::TcpRelay;
