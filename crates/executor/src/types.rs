//! The values that go in and out of the executor's state machine: events, commands,
//! reports and the read-only view of each instance.

use model::{BootMs, Millis, ParamSchema, Resource, ResourceId, ResourceState};
use resource_agents::Outcome;
use std::fmt;
use std::time::Duration;

/// What the master wants this node to run.
///
/// A new fencing token for the same resource means "a new grant": if the instance runs
/// under an older token, the executor stops it and starts it again. This is how the master
/// asks for a restart in place after a failure.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Assignment {
    /// The resource, as configured when the master wrote the assignment.
    pub resource: Resource,
    /// Grows with every new grant of the resource, cluster-wide.
    pub fencing_token: u64,
}

/// One input of the state machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The full set of assignments for this node, replacing the previous set. Resources not
    /// in the set are stopped if they run.
    Assignments(Vec<Assignment>),
    /// This node's lease: unique resources may run only while `now.boot < valid_until`, on
    /// the boot clock (so a wall-clock step never lengthens it).
    Lease { valid_until: BootMs },
    /// An operation that a [`Command::Run`] asked for has finished.
    OperationDone {
        resource: ResourceId,
        operation: OperationKind,
        fencing_token: u64,
        outcome: Outcome,
        /// The `started_at` of the [`Command::Run`], echoed back.
        started_at: BootMs,
        /// For a successful stop: when the instance had in fact ended (wall clock), if
        /// something outside the agent ended it earlier (a lease watchdog of a hung agent).
        /// The record then reports that time as `finished_at`, so the log never claims it
        /// ran until then.
        ended_at: Option<Millis>,
    },
    /// A supervised process of this resource exited (a hint from the resource agent's
    /// exit events): monitor it now.
    Exited(ResourceId),
    /// Resources that an earlier life of this executor may have left running, as recorded
    /// in their state directories. The runtime sends it once, before anything else. Until
    /// the first [`Event::Assignments`] they are left alone (except by self-fencing); then
    /// the unassigned ones are stopped and the assigned ones probed and adopted.
    Found(Vec<Assignment>),
    /// Grants that an earlier life of this executor stopped its resource under, as
    /// recorded in their state directories (sent once, with [`Event::Found`]). Each is
    /// spent: the master, seeing the stop under the grant, may start the resource
    /// elsewhere, so only a newer grant may start it here again, even right after a
    /// restart whose assignment feed still shows the old grant.
    Spent(Vec<Assignment>),
    /// Time passed: run what became due.
    Tick,
    /// What the cluster records as possibly active on this node although it is not
    /// assigned here: a grant withdrawn (or its resource deleted) before the node reported
    /// under it, or an instance whose stop report was lost. The set replaces the previous
    /// one. The executor stops whatever of these it runs, as for any unassigned resource;
    /// one it has no instance of (it never saw the grant, or already stopped and forgot
    /// it) it confirms with a stop report, repeated while the cluster still doubts it, so
    /// that no stale record keeps the master waiting for a report that would never come.
    Unconfirmed(Vec<Unconfirmed>),
    /// The parameter schema of a resource type, as its resource agent declares it (`None`
    /// if it could not be read). It says which parameter changes a running instance can
    /// take by a reload; without it, every parameter change restarts the instance.
    Schema {
        type_name: String,
        schema: Option<ParamSchema>,
    },
    // --- types ---
    /// Every user-defined resource type, as the cmdb holds it, replacing the previous set.
    /// Their instances are monitored at the types' two depths and intervals (LooksAlive
    /// and IsAlive); a running instance whose type's command, arguments or environment
    /// changed is stopped under its grant, so the master's next grant starts the new one.
    /// The runtime rebuilds each changed type's resource agent (with its role programs)
    /// before it feeds this.
    UserTypes(Vec<model::TypeWithRoles>),
}

/// One entry of [`Event::Unconfirmed`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unconfirmed {
    /// The resource, which may no longer be configured.
    pub resource: ResourceId,
    /// The token to confirm under: the newest one this node reported for the resource, or
    /// zero (a stop is never stale, and no token above what the node started under is
    /// invented).
    pub fencing_token: u64,
}

/// Which resource-agent operation to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OperationKind {
    Start,
    Stop,
    Monitor,
    /// Applies reloadable parameter changes to a running instance, under the same grant.
    Reload,
}

/// One output of the state machine, for the runtime to carry out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Run a resource-agent operation and answer with [`Event::OperationDone`].
    Run {
        resource: Resource,
        operation: OperationKind,
        fencing_token: u64,
        timeout: Duration,
        /// The monitor interval for recurring monitors; zero for everything else, including
        /// the one-shot probe that finds out whether a resource already runs.
        interval: Duration,
        /// Echo it in [`Event::OperationDone`], so a late answer to an older run is ignored.
        started_at: BootMs,
        /// For monitors, the check's depth (`OperationRequest::depth`); zero otherwise.
        depth: u32,
    },
    /// Abandon the operation running for this resource (its answer, if any, is ignored).
    /// Only monitors, and starts when the lease ends, are abandoned, so that a stop can run
    /// at once.
    Cancel { resource: ResourceId },
    /// Tell the cluster (the integrator writes it to the cmdb).
    Report(OperationRecord),
}

/// The outcome of one operation, for the cmdb. Recurring monitors that find the resource
/// healthy are not reported; everything else is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperationRecord {
    pub resource: ResourceId,
    pub operation: OperationKind,
    /// The grant the operation ran under; the master ignores records of older grants.
    pub fencing_token: u64,
    /// The resource agent's outcome; a failure reason is cut to a bounded length.
    pub outcome: Outcome,
    /// When the operation began, on the wall clock: for people and the operation log.
    pub started_at: Millis,
    /// When it ended, on the wall clock.
    pub finished_at: Millis,
    /// The instance's state once the outcome is applied.
    pub state_after: InstanceState,
}

/// What the executor believes about one resource on this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InstanceState {
    /// Started, and the latest monitor (if any) found it healthy.
    Running,
    /// Nothing of it runs here.
    Stopped,
    /// A start, monitor or stop failed: it may be half running. The executor stops it to
    /// clean up but does not start it again under the same fencing token.
    Failed { reason: String },
    /// Found in a state directory and not probed yet; never appears in a report.
    Unknown,
}

impl InstanceState {
    /// The cmdb's word for this state.
    pub fn resource_state(&self) -> ResourceState {
        match self {
            InstanceState::Running => ResourceState::Running,
            InstanceState::Stopped => ResourceState::Stopped,
            InstanceState::Failed { .. } => ResourceState::Failed,
            InstanceState::Unknown => ResourceState::Unknown,
        }
    }
}

impl fmt::Display for InstanceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstanceState::Failed { reason } => write!(f, "failed: {reason}"),
            other => write!(f, "{}", other.resource_state()),
        }
    }
}

impl fmt::Display for OperationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OperationKind::Start => "start",
            OperationKind::Stop => "stop",
            OperationKind::Monitor => "monitor",
            OperationKind::Reload => "reload",
        })
    }
}

/// A read-only view of one instance, for status and debugging.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceView {
    pub state: InstanceState,
    /// The grant the instance runs or last ran under.
    pub fencing_token: u64,
    /// The grant in the current assignment set, if the resource is assigned here.
    pub assigned_token: Option<u64>,
    /// The operation running now, if any.
    pub operation: Option<OperationKind>,
    /// When the next recurring monitor is due, while running.
    pub next_monitor_at: Option<BootMs>,
    // --- status ---
    /// The last status text the running instance gave of itself (systemd's `STATUS=`), as
    /// its resource agent knew it when the view was published; filled in by the runtime.
    pub status_text: Option<String>,
}

/// How the executor behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecutorConfig {
    /// Unique resources are stopped this long before the lease ends, and started only while
    /// more than this is left of it.
    pub fence_margin: Duration,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            fence_margin: crate::limits::FENCE_MARGIN_DEFAULT,
        }
    }
}
