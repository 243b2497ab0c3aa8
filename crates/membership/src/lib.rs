//! Failure detection and the dynamic-quorum policy, as sans-IO state machines.
//!
//! The master feeds the [`Detector`] with heartbeats and periodic ticks and gets back the
//! health transitions to record in the cmdb; [`plan_quorum`] then decides whether the Raft
//! voter set should change so that nodes failing one after another leave a writing master;
//! [`judge_claim`] and [`claim_step`] are the witness of a two-node cluster.
//!
//! This crate must never do IO, read a clock, spawn tasks or use randomness: `now` is always
//! an argument (its `clippy.toml` bans the clocks), so the simulator and the tests can replay
//! any schedule exactly. Sending and receiving heartbeats belongs to the agent's runtime.

mod config;
mod detector;
mod limits;
mod quorum;
mod witness;

pub use config::{ConfigError, DetectorConfig};
pub use detector::{Detector, Transition};
pub use limits::{DETECTOR_DURATION_MAX, FLAP_HISTORY_MAX, LAG_NOTICED_MS, UNCORROBORATED_SHARE};
pub use quorum::{QuorumChange, QuorumInput, force_quorum_voters, plan_quorum};
pub use witness::{ClaimInput, ClaimStep, Epoch, Grant, Verdict, claim_step, judge_claim};
