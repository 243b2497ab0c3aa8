//! The application protocol server of this node (issue 12; `docs/app-protocol.md`).
//!
//! [`AppHub`] knows every instance this node runs that may speak the protocol: the
//! executor registers each one as it starts ([`executor::InstanceHooks::starting`] gives
//! it `ENCLUSTER_APP_SOCKET` and a fresh `ENCLUSTER_APP_TOKEN`), asks it to drain before a
//! stop, forgets it after, and adds its reported health to monitors. The listener
//! (`server`) accepts connections on `<data dir>/app/app.sock` (directory 0700, socket
//! 0600), authenticates each `hello` by the token and the peer's credentials, and answers
//! requests; checkpoints are written through the master as `cmdb::Command::PutCheckpoint`
//! and read from the local replica.
//!
//! When the node's lease is about to end (the executor fences at the same margin) every
//! unique instance is told `lease_lost` at once, and its checkpoint writes are refused.

mod registry;
mod server;
#[cfg(test)]
mod tests;

use crate::peer::PeerClient;
use app_sdk::protocol::{AgentEvent, Depth, ENV_SOCKET, ENV_TOKEN};
use cmdb::{Raft, SharedDb};
use model::{BootMs, NodeId, Resource, ResourceId};
use registry::{Instance, InstanceRecord};
use resource_agents::BoxFuture;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, oneshot, watch};
use tokio_util::sync::CancellationToken;

pub use server::serve;

/// The longest the lease watch sleeps before it looks again.
const LEASE_WAIT_MAX: Duration = Duration::from_secs(3600);

/// How long a fencing stop waits for `lease_lost` to reach the instance's sockets: a small
/// part of the executor's fence margin (150 ms), which the stop must finish within.
const LEASE_LOST_FLUSH: Duration = Duration::from_millis(20);

/// How many health-failure hints wait for the executor.
const HEALTH_EVENTS_CAPACITY: usize = 64;

/// This node's side of the application protocol. One per agent.
pub struct AppHub {
    socket_path: PathBuf,
    node: NodeId,
    node_name: String,
    raft: Raft,
    peer_client: PeerClient,
    shared: SharedDb,
    instances: Mutex<HashMap<ResourceId, Instance>>,
    health_events: broadcast::Sender<ResourceId>,
    lease: watch::Sender<Option<BootMs>>,
    next_change: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for AppHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppHub")
            .field("socket_path", &self.socket_path)
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

/// What the hub needs from the node.
pub struct HubConfig {
    /// The agent's data directory: the socket lives in `app/` under it.
    pub data_dir: PathBuf,
    /// Where the executor keeps each resource's state directory, to find instances that
    /// an earlier agent started.
    pub state_root: PathBuf,
    /// This node.
    pub node: NodeId,
    /// This node's name.
    pub node_name: String,
}

impl AppHub {
    /// A hub that knows the instances an earlier agent left running.
    pub fn new(config: HubConfig, raft: Raft, peer_client: PeerClient, shared: SharedDb) -> AppHub {
        let mut instances = HashMap::new();
        for (record, state_dir) in registry::scan_records(&config.state_root) {
            instances.insert(record.resource.clone(), Instance::new(record, state_dir));
        }
        let (health_events, _) = broadcast::channel(HEALTH_EVENTS_CAPACITY);
        AppHub {
            socket_path: config.data_dir.join("app").join("app.sock"),
            node: config.node,
            node_name: config.node_name,
            raft,
            peer_client,
            shared,
            instances: Mutex::new(instances),
            health_events,
            lease: watch::channel(None).0,
            next_change: std::sync::atomic::AtomicU64::new(1),
        }
    }

    /// The socket's path, given to every instance.
    pub fn socket_path(&self) -> &Path {
        &self.socket_path
    }

    /// A new lease for this node (the same one the executor gets).
    pub fn lease(&self, valid_until: BootMs) {
        self.lease.send_replace(Some(valid_until));
    }

    /// Follows the lease this node's executor holds (issue 16: the watchdog pets by it).
    pub fn lease_watch(&self) -> watch::Receiver<Option<BootMs>> {
        self.lease.subscribe()
    }

    /// Watches the lease and tells every unique instance `lease_lost` once less than the
    /// executor's fence margin is left of it, until `shutdown`.
    pub async fn watch_lease(self: Arc<Self>, shutdown: CancellationToken) {
        let mut lease = self.lease.subscribe();
        loop {
            let valid_until = *lease.borrow_and_update();
            let wait = match valid_until {
                Some(valid_until) => {
                    let fence_at = valid_until
                        .0
                        .saturating_sub(executor::FENCE_MARGIN_DEFAULT.as_millis() as u64);
                    Duration::from_millis(fence_at.saturating_sub(crate::clock::boot_ms().0))
                }
                None => Duration::MAX,
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                changed = lease.changed() => if changed.is_err() { return },
                () = tokio::time::sleep(wait.min(LEASE_WAIT_MAX)), if valid_until.is_some() => {
                    if lease.has_changed().unwrap_or(false) {
                        continue;
                    }
                    self.lease_ended();
                    // Wait for a new lease before looking again (or for the shutdown).
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        changed = lease.changed() => if changed.is_err() { return },
                    }
                }
            }
        }
    }

    /// Whether less than the executor's fence margin is left of this node's lease.
    fn lease_ending(&self) -> bool {
        let margin = executor::FENCE_MARGIN_DEFAULT.as_millis() as u64;
        (*self.lease.borrow())
            .is_some_and(|valid_until| crate::clock::boot_ms().0 + margin >= valid_until.0)
    }

    fn lease_ended(&self) {
        let event = AgentEvent::LeaseLost {
            reason: format!("node {} lost its lease: stop serving now", self.node_name),
        };
        let mut instances = self.instances.lock().expect("app lock is never poisoned");
        for instance in instances
            .values_mut()
            .filter(|i| i.record.unique && !i.lease_lost)
        {
            instance.lease_lost = true;
            let resource = &instance.record.resource;
            tracing::warn!(resource = %resource, "Telling the application its lease is lost");
            instance.broadcast(&event);
        }
    }

    fn with_instance<T>(
        &self,
        resource: &ResourceId,
        f: impl FnOnce(&mut Instance) -> T,
    ) -> Option<T> {
        let mut instances = self.instances.lock().expect("app lock is never poisoned");
        instances.get_mut(resource).map(f)
    }

    fn new_token() -> String {
        hex::encode(rand::random::<[u8; 32]>())
    }
}

impl executor::InstanceHooks for AppHub {
    fn starting(
        &self,
        resource: &Resource,
        fencing_token: u64,
        state_dir: &Path,
    ) -> Vec<(String, String)> {
        let record = InstanceRecord {
            resource: resource.id.clone(),
            fencing_token,
            unique: resource.unique,
            token: AppHub::new_token(),
            params: resource.params.clone(),
            spoke: false,
            promoted: false,
        };
        // A new instance has set no promotion score yet (an earlier one may have).
        if let Err(error) = resource_agents::set_promotion_score(state_dir, None) {
            let id = &resource.id;
            tracing::warn!(resource = %id, error = %error, "Cannot clear the promotion score");
        }
        if let Err(error) = registry::write_record(state_dir, &record) {
            // The instance still runs; a restarted agent will not know its token.
            let id = &resource.id;
            tracing::warn!(resource = %id, error = %error, "Cannot record the instance's token");
        }
        let env = vec![
            (
                ENV_SOCKET.to_owned(),
                self.socket_path.display().to_string(),
            ),
            (ENV_TOKEN.to_owned(), record.token.clone()),
        ];
        let instance = Instance::new(record, state_dir.to_path_buf());
        let mut instances = self.instances.lock().expect("app lock is never poisoned");
        instances.insert(resource.id.clone(), instance);
        env
    }

    fn prepare_stop(&self, resource: &ResourceId, deadline: Duration) -> BoxFuture<'_, ()> {
        // A stop because the lease is ending (the executor fences at the same margin as the
        // lease watch) is a lease loss: say so first, whichever of the two looked first.
        if self.lease_ending() {
            self.lease_ended();
            let senders = self
                .with_instance(resource, |i| i.connections.values().cloned().collect())
                .unwrap_or_default();
            return Box::pin(flushed(senders));
        }
        let (ready_tx, ready) = oneshot::channel();
        let told = self.with_instance(resource, |instance| {
            if instance.lease_lost {
                return false;
            }
            let event = AgentEvent::PrepareStop {
                deadline_ms: deadline.as_millis() as u64,
            };
            instance.stop_ready = Some(ready_tx);
            instance.broadcast(&event) > 0
        });
        Box::pin(async move {
            if told == Some(true) {
                let _ = tokio::time::timeout(deadline, ready).await;
            }
        })
    }

    fn stopped(&self, resource: &ResourceId) {
        let mut instances = self.instances.lock().expect("app lock is never poisoned");
        if let Some(instance) = instances.remove(resource) {
            registry::remove_record(&instance.state_dir);
        }
    }

    fn health_failure(&self, resource: &ResourceId, fencing_token: u64) -> Option<String> {
        self.with_instance(resource, |instance| {
            if instance.record.fencing_token != fencing_token {
                return None;
            }
            let reasons: Vec<String> = instance
                .health
                .iter()
                .map(|(depth, reason)| format!("{} failed: {reason}", depth_name(*depth)))
                .collect();
            (!reasons.is_empty()).then(|| reasons.join("; "))
        })
        .flatten()
    }

    fn offer_params(
        &self,
        resource: &ResourceId,
        params: &BTreeMap<String, String>,
        timeout: Duration,
    ) -> BoxFuture<'_, Option<Result<(), String>>> {
        let change = self
            .next_change
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (answer_tx, answer) = oneshot::channel();
        let event = AgentEvent::ParamsChanged {
            change,
            params: params.clone(),
        };
        let offered = self.with_instance(resource, |instance| {
            instance.offers.insert(change, answer_tx);
            instance.broadcast(&event) > 0
        });
        let resource = resource.clone();
        let params = params.clone();
        Box::pin(async move {
            if offered != Some(true) {
                self.with_instance(&resource, |instance| instance.offers.remove(&change));
                return None;
            }
            let answer = match tokio::time::timeout(timeout, answer).await {
                Ok(Ok(answer)) => answer,
                _ => Err("no answer to the parameter change in time".to_owned()),
            };
            self.with_instance(&resource, |instance| {
                instance.offers.remove(&change);
                if answer.is_ok() {
                    instance.record.params = params;
                    let _ = registry::write_record(&instance.state_dir, &instance.record);
                }
            });
            Some(answer)
        })
    }

    fn health_events(&self) -> Option<broadcast::Receiver<ResourceId>> {
        Some(self.health_events.subscribe())
    }

    fn change_role(
        &self,
        resource: &ResourceId,
        promote: bool,
        timeout: Duration,
    ) -> BoxFuture<'_, Option<Result<(), String>>> {
        let change = self
            .next_change
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (answer_tx, answer) = oneshot::channel();
        let event = if promote {
            AgentEvent::Promote { change }
        } else {
            AgentEvent::Demote { change }
        };
        let asked = self.with_instance(resource, |instance| {
            if !instance.record.spoke {
                return false;
            }
            instance.offers.insert(change, answer_tx);
            let asked = instance.broadcast(&event) > 0;
            if !asked && !promote {
                // Nobody left to demote (the application is gone): not promoted any more.
                instance.record.promoted = false;
                let _ = registry::write_record(&instance.state_dir, &instance.record);
            }
            asked
        });
        let resource = resource.clone();
        Box::pin(async move {
            if asked != Some(true) {
                self.with_instance(&resource, |instance| instance.offers.remove(&change));
                return None;
            }
            let what = if promote { "promote" } else { "demote" };
            let answer = match tokio::time::timeout(timeout, answer).await {
                Ok(Ok(answer)) => answer,
                _ => Err(format!("no answer to the {what} in time")),
            };
            self.with_instance(&resource, |instance| {
                instance.offers.remove(&change);
                if answer.is_ok() {
                    instance.record.promoted = promote;
                    let _ = registry::write_record(&instance.state_dir, &instance.record);
                }
            });
            tracing::info!(resource = %resource, what, ok = answer.is_ok(), "Application answered");
            Some(answer)
        })
    }

    fn promoted(&self, resource: &ResourceId) -> Option<bool> {
        self.with_instance(resource, |instance| {
            instance.record.spoke.then_some(instance.record.promoted)
        })
        .flatten()
    }
}

/// Completes once every connection has taken its queued events (written them to its
/// socket), or after `LEASE_LOST_FLUSH`: the stop signal should not overtake `lease_lost`.
async fn flushed(senders: Vec<tokio::sync::mpsc::Sender<AgentEvent>>) {
    let empty = |sender: &tokio::sync::mpsc::Sender<AgentEvent>| {
        sender.is_closed() || sender.capacity() == sender.max_capacity()
    };
    let wait = async {
        while !senders.iter().all(empty) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    };
    let _ = tokio::time::timeout(LEASE_LOST_FLUSH, wait).await;
}

pub(crate) fn depth_name(depth: Depth) -> &'static str {
    match depth {
        Depth::LooksAlive => "looks_alive",
        Depth::IsAlive => "is_alive",
    }
}
