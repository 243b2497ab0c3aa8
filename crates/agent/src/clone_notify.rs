//! Clone notifications (Pacemaker's `notify=true` clones): the executor of the node whose
//! instance starts, stops, is promoted or demoted asks [`ClusterNotifier`] before the
//! operation and after it succeeded; the notifier works out from the local replica which
//! instances run, which are promoted and what every node is called, builds Pacemaker's
//! variables once (`resource_agents::notify_environment`) and sends them to every instance
//! that should hear: its own node's through the executor runtime's notification queue,
//! the others' over the peer channel (`/peer/notify`), whose handler hands them to that
//! node's runtime in turn. So every `notify` runs through the receiving node's resource
//! agent, one action of an instance at a time.
//!
//! Decision: the acting node sends them, not the master, because only it knows when the
//! operation really begins and ends; the master's plan knows neither. A notification that
//! fails, times out or cannot be delivered is logged and recorded as a `notify failed`
//! resource event, and never fails the operation (as in Pacemaker). A round waits at most
//! the executor's bound (5 s, less for a promoted role near its lease's end); what is still
//! unanswered then is reported as failed.

use std::collections::BTreeSet;
use std::time::Duration;

use cmdb::{ClusterDb, Raft, SharedDb};
use executor::{CloneNotifier, NotifyCall};
use model::{NodeId, Resource, ResourceId, ResourceState};
use resource_agents::{
    BoxFuture, CloneNotice, NotifyInstance, NotifyKind, NotifyOperation, Outcome,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::peer::PeerClient;

#[cfg(test)]
mod tests;

/// One notification sent to another node's instance (`/peer/notify`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NotifyRequest {
    /// The clone, as the sender's replica holds it.
    pub resource: Resource,
    /// Pacemaker's variables.
    pub env: Vec<(String, String)>,
    /// How long the instance's `notify` may take.
    pub timeout_ms: u64,
}

/// The answer: `Ok(true)` notified, `Ok(false)` no instance runs there, `Err` why not.
pub type NotifyAnswer = Result<bool, String>;

/// Sends notifications around this node's operations.
pub struct ClusterNotifier {
    pub(crate) node: NodeId,
    pub(crate) raft: Raft,
    pub(crate) shared: SharedDb,
    pub(crate) client: PeerClient,
    /// This node's own runtime's queue.
    pub(crate) inbox: mpsc::Sender<NotifyCall>,
}

impl std::fmt::Debug for ClusterNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterNotifier")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

/// Where one notification goes: a node, by id, name and peer address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) node: NodeId,
    pub(crate) peer_addr: String,
}

/// The notice every instance gets and the nodes that get it, from the replica: `acting`
/// is this node, whose operation the notice is about. Pure.
pub(crate) fn plan(
    db: &ClusterDb,
    acting: NodeId,
    resource: &ResourceId,
    operation: NotifyOperation,
    kind: NotifyKind,
) -> (CloneNotice, Vec<Target>) {
    let resources = &db.resources;
    let running = |id: &ResourceId, node: &NodeId| {
        resources
            .status
            .get(id)
            .and_then(|nodes| nodes.get(node))
            .is_some_and(|status| status.state == ResourceState::Running)
    };
    let known: BTreeSet<NodeId> = resources
        .status
        .get(resource)
        .map(|nodes| nodes.keys().copied().collect())
        .unwrap_or_default();
    let mut active: BTreeSet<NodeId> = known
        .iter()
        .copied()
        .filter(|n| running(resource, n))
        .collect();
    let roles: Vec<ResourceId> = resources
        .status
        .keys()
        .filter(|id| model::promotable::base_of(id).as_ref() == Some(resource))
        .cloned()
        .collect();
    let mut promoted: BTreeSet<NodeId> = active
        .iter()
        .copied()
        .filter(|node| roles.iter().any(|role| running(role, node)))
        .collect();
    // After the operation the replica may not know its outcome yet: count it as done.
    if kind == NotifyKind::Post {
        match operation {
            NotifyOperation::Start => {
                active.insert(acting);
            }
            NotifyOperation::Stop => {
                active.remove(&acting);
                promoted.remove(&acting);
            }
            NotifyOperation::Promote => {
                promoted.insert(acting);
            }
            NotifyOperation::Demote => {
                promoted.remove(&acting);
            }
        }
    }
    let name = |node: &NodeId| {
        db.nodes.get(node).map_or_else(
            || format!("node{}", node.0),
            |record| record.info.name.clone(),
        )
    };
    let instance = |node: &NodeId| NotifyInstance {
        instance: format!("{resource}:{}", node.0),
        node: name(node),
    };
    let mut all: BTreeSet<NodeId> = known.clone();
    all.insert(acting);
    let notice = CloneNotice {
        kind,
        operation,
        acting: vec![instance(&acting)],
        active: active.iter().map(instance).collect(),
        inactive: all.difference(&active).map(instance).collect(),
        promoted: promoted.iter().map(instance).collect(),
        unpromoted: active.difference(&promoted).map(instance).collect(),
        all_nodes: db
            .nodes
            .values()
            .map(|record| record.info.name.clone())
            .collect(),
    };
    let targets = active
        .iter()
        .filter_map(|node| {
            let record = db.nodes.get(node)?;
            Some(Target {
                node: *node,
                peer_addr: record.info.peer_addr.clone(),
            })
        })
        .collect();
    (notice, targets)
}

impl ClusterNotifier {
    /// Sends `request` to `target`'s instance and waits for its answer.
    async fn send(
        &self,
        target: &Target,
        request: NotifyRequest,
        within: Duration,
    ) -> NotifyAnswer {
        if target.node == self.node {
            return deliver(&self.inbox, request).await;
        }
        let answer: Result<NotifyAnswer, _> = self
            .client
            .call(&target.peer_addr, "/peer/notify", &request, within)
            .await;
        answer.unwrap_or_else(|error| Err(error.to_string()))
    }

    /// Logs the failures of a round and records them as events.
    async fn report(&self, resource: &ResourceId, label: &str, failures: Vec<(NodeId, String)>) {
        let mut events = Vec::new();
        for (node, reason) in failures {
            tracing::warn!(%resource, %node, notification = label, %reason, "Notification failed");
            events.push(model::EventKind::ResourceAction {
                resource: resource.clone(),
                node,
                action: "notify failed".into(),
                reason: format!("{label}: {reason}"),
            });
        }
        let command = cmdb::Command::RecordEvents {
            at_ms: crate::clock::now_ms(),
            events,
        };
        if let Err(error) =
            crate::resources::write_to_master(&self.raft, &self.shared, &self.client, &command)
                .await
        {
            tracing::warn!(%resource, %error, "Cannot record the failed notifications");
        }
    }
}

/// Hands `request` to this node's runtime and waits for the outcome.
pub(crate) async fn deliver(
    inbox: &mpsc::Sender<NotifyCall>,
    request: NotifyRequest,
) -> NotifyAnswer {
    let (answer, answered) = oneshot::channel();
    let call = NotifyCall {
        resource: request.resource,
        env: request.env,
        timeout: Duration::from_millis(request.timeout_ms),
        answer,
    };
    inbox
        .try_send(call)
        .map_err(|_| "the node's notification queue is full".to_owned())?;
    match answered.await {
        Ok(Outcome::Ok) => Ok(true),
        Ok(Outcome::NotRunning) => Ok(false),
        Ok(outcome) => Err(outcome.to_string()),
        Err(_) => Err("the executor stopped".into()),
    }
}

impl CloneNotifier for ClusterNotifier {
    fn notify(
        &self,
        resource: &Resource,
        operation: NotifyOperation,
        kind: NotifyKind,
        within: Duration,
    ) -> BoxFuture<'_, ()> {
        let resource = resource.clone();
        Box::pin(async move {
            let (notice, targets) = self
                .shared
                .read(|db| plan(db, self.node, &resource.id, operation, kind));
            let label = format!("{}-{}", kind.as_str(), operation.as_str());
            let env = resource_agents::notify_environment(&notice);
            let timeout = within.min(resource.options.monitor_timeout);
            let request = NotifyRequest {
                resource: resource.clone(),
                env,
                timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            };
            let sends = targets.iter().map(|target| async {
                let answer =
                    tokio::time::timeout(within, self.send(target, request.clone(), within));
                let answer = answer
                    .await
                    .unwrap_or_else(|_| Err("no answer in time".into()));
                (target.node, answer)
            });
            let answers = futures::future::join_all(sends).await;
            let failures: Vec<(NodeId, String)> = answers
                .into_iter()
                .filter_map(|(node, answer)| answer.err().map(|reason| (node, reason)))
                .collect();
            let nodes = targets.len();
            let id = &resource.id;
            tracing::debug!(resource = %id, notification = %label, nodes, "Clone notified");
            if !failures.is_empty() {
                self.report(&resource.id, &label, failures).await;
            }
        })
    }
}
