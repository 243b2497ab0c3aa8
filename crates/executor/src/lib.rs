//! The executor: carries out this node's assignments through the resource agents, runs
//! periodic monitors, and reports every outcome for the cmdb (Pacemaker's `pacemaker-execd`).
//!
//! [`Executor`] is a sans-IO state machine: [`Event`]s and `now` in, [`Command`]s out.
//! `now` is a [`Now`]: the boot clock (`model::BootMs`) for every timing decision, above all
//! the lease, so that a wall-clock step never lengthens it; the wall clock only for the
//! times in reports.
//! [`runtime::run`] does the IO: it runs the operations, feeds their outcomes back, forwards
//! process-exit hints and ticks the clock.
//!
//! Rules it keeps:
//! * at most one operation runs per resource; the next one is decided when it ends;
//! * a unique resource starts only while the lease is valid for more than the fence margin,
//!   and is stopped at once when less is left (self-fencing), abandoning a start or monitor
//!   (an abandoned start is reported, with the instance unknown, so the log shows every
//!   instance that may have run);
//! * a start whose grant is withdrawn (a stop, a move, a deleted resource) or whose
//!   parameters change is abandoned the same way and the instance stopped at once: an
//!   operation in flight never outlives what it was for (a parameter change then needs a
//!   new grant, like any restart);
//! * what the cluster records as possibly running here without a grant, and the executor
//!   does not run, is confirmed stopped with a report (see [`Event::Unconfirmed`]);
//! * monitors run every `monitor_interval` while running, and at once on a process exit;
//! * a failure is reported and the instance stopped to clean up, never restarted by the
//!   executor itself: the master asks for a restart in place with a new fencing token, or
//!   moves the resource, so fail counts live in one place;
//! * every report carries the fencing token of the grant it ran under.
//!
//! This crate must never write to the cmdb or decide placement: it only runs what it is
//! assigned and says what happened. The state machine must never read a clock or do IO.

mod clock;
mod executor;
mod hooks;
mod instance;
mod limits;
pub mod runtime;
mod types;

pub use clock::{Now, boot_clock_ms, system_now, wall_clock_ms};
pub use executor::Executor;
pub use hooks::{CloneNotifier, InstanceHooks, NotifyCall};
pub use limits::{FENCE_MARGIN_DEFAULT, NOTIFY_CALL_QUEUE_MAX};
pub use types::{
    Assignment, Command, Event, ExecutorConfig, InstanceState, InstanceView, OperationKind,
    OperationRecord, Unconfirmed,
};

#[cfg(test)]
mod tests;
