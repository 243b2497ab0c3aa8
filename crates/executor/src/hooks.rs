//! The application side of instances: what the runtime asks of the agent's application
//! protocol server around each operation (see `app-sdk` and `agent::app`).
//!
//! The runtime calls these hooks; it never needs them: without hooks every operation runs
//! as before. An implementation must answer quickly and never block on the cmdb.

use model::{Resource, ResourceId};
use resource_agents::BoxFuture;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use tokio::sync::broadcast;

/// What the runtime asks of whatever serves applications on this node.
pub trait InstanceHooks: Send + Sync + std::fmt::Debug {
    /// An instance of `resource` is about to start under `fencing_token`, with its state in
    /// `state_dir`: register it and return the environment to give it (for example the
    /// protocol socket and the instance's token). Called once per start.
    fn starting(
        &self,
        resource: &Resource,
        fencing_token: u64,
        state_dir: &Path,
    ) -> Vec<(String, String)>;

    /// The instance is about to be stopped: tell the application to drain, and complete
    /// when it says it is ready or `deadline` has passed (at once if no application is
    /// connected).
    fn prepare_stop(&self, resource: &ResourceId, deadline: Duration) -> BoxFuture<'_, ()>;

    /// The instance has stopped: forget it.
    fn stopped(&self, resource: &ResourceId);

    /// The failure the application last reported for the instance under `fencing_token`,
    /// if its latest report at either depth was a failure.
    fn health_failure(&self, resource: &ResourceId, fencing_token: u64) -> Option<String>;

    /// Offers changed parameters to the running application (validate-then-set): `None`
    /// if no application is connected, else whether it accepted them, or why not.
    fn offer_params(
        &self,
        resource: &ResourceId,
        params: &BTreeMap<String, String>,
        timeout: Duration,
    ) -> BoxFuture<'_, Option<Result<(), String>>>;

    /// Names resources whose application just reported a failure, so the runtime
    /// monitors them at once. Hints only, like a resource agent's exit events.
    fn health_events(&self) -> Option<broadcast::Receiver<ResourceId>>;

    // --- more12 ---
    /// Asks the running application of the promotable `resource` to promote (`true`) or
    /// demote: `None` if no application of it is connected (the type's own agent does it
    /// then), else whether it did, or why not, within `timeout`.
    fn change_role(
        &self,
        resource: &ResourceId,
        promote: bool,
        timeout: Duration,
    ) -> BoxFuture<'_, Option<Result<(), String>>> {
        let _ = (resource, promote, timeout);
        Box::pin(async { None })
    }

    /// Whether the application of the promotable `resource` runs promoted (it answered a
    /// promote, and no demote since); `None` if it does not speak the protocol.
    fn promoted(&self, resource: &ResourceId) -> Option<bool> {
        let _ = resource;
        None
    }
}

// --- notify ---
/// Tells the instances of a clone of a start, stop, promotion or demotion of one of them
/// (Pacemaker's clone notifications), on every node that runs one: the agent implements it
/// over the peer channel, since only it knows the cluster. The runtime asks it before an
/// operation of a resource whose agent [`notifies`](resource_agents::ResourceAgent::notifies)
/// and after the operation succeeded.
pub trait CloneNotifier: Send + Sync + std::fmt::Debug {
    /// Sends the `kind` notification of `operation` of this node's instance of `resource`
    /// (the clone, never a promoted role) to every instance that should get it, and
    /// completes once all answered or `within` passed. A failure is logged and reported by
    /// the implementation and never fails the operation.
    fn notify(
        &self,
        resource: &Resource,
        operation: resource_agents::NotifyOperation,
        kind: resource_agents::NotifyKind,
        within: Duration,
    ) -> BoxFuture<'_, ()>;
}

/// A notification for this node's instance of `resource`, from the notifier of whichever
/// node acts: the runtime runs the resource agent's `notify` with `env` (Pacemaker's
/// variables) and answers with its outcome (`NotRunning` if no instance runs here).
#[derive(Debug)]
pub struct NotifyCall {
    /// The clone, as configured.
    pub resource: Resource,
    /// The notification's variables (`resource_agents::notify_environment`).
    pub env: Vec<(String, String)>,
    /// How long the agent's `notify` may take.
    pub timeout: Duration,
    /// Where the outcome goes.
    pub answer: tokio::sync::oneshot::Sender<resource_agents::Outcome>,
}
