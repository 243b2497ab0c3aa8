//! Issue 10's operations in flight, walked through the real pieces without IO: the cmdb's
//! `ClusterDb::apply`, the master's `placement::round`, the agent's feed (`assignments_of`,
//! `unconfirmed_of`, `to_report`) and one `executor::Executor` per node, with a scripted
//! resource agent whose processes the walk can see.
//!
//! Method: every step of 100 ms the master plans and writes, each node's feed passes on
//! what changed, the fake agent finishes the operations that are due, and the executors
//! tick. A start on a node listed in its resource's `hang_on` parameter waits for ever
//! (like a start waiting on a TCP probe of a port nobody listens on), with its process
//! already spawned; a stop takes `stop_steps` steps. After every step no unique resource
//! may have a process on two nodes. Each test then asks that the cluster settles: what was
//! deleted or stopped has no process and no record left, what was moved or updated runs as
//! asked, and a resource created afterwards starts.

use std::collections::BTreeMap;

use cmdb::{ClusterDb, Command};
use executor::{Command as Run, Event, Executor, ExecutorConfig, OperationKind};
use model::{
    LocationConstraint, Millis, NodeHealth, NodeId, Resource, ResourceId, SCORE_INFINITY,
    TargetRole,
};
use resource_agents::Outcome;

use crate::placement::round;
use crate::resources::{assignments_of, to_report, unconfirmed_of};

const STEP_MS: Millis = 100;
const STEPS_MAX: usize = 600;

/// One operation the fake resource agent is running.
struct Operation {
    resource: Resource,
    operation: OperationKind,
    fencing_token: u64,
    started_at: model::BootMs,
    steps_left: u32,
}

/// One node: its executor, what its feed last passed on, and its fake resource agent.
struct Node {
    executor: Executor,
    fed: Option<(Vec<executor::Assignment>, Vec<executor::Unconfirmed>)>,
    /// The processes running, with the definition each was started with.
    processes: BTreeMap<ResourceId, Resource>,
    operations: Vec<Operation>,
    /// A paused feed passes nothing on (the node's replica lags behind).
    paused: bool,
}

pub(super) struct Walk {
    db: ClusterDb,
    nodes: BTreeMap<NodeId, Node>,
    now: Millis,
}

pub(super) fn process(name: &str, params: &[(&str, &str)]) -> Resource {
    Resource {
        id: ResourceId(name.into()),
        type_name: "process".into(),
        params: params
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
        options: Default::default(),
        unique: true,
        clone: None,
        utilization: BTreeMap::new(),
    }
}

pub(super) fn id(name: &str) -> ResourceId {
    ResourceId(name.into())
}

impl Walk {
    pub(super) fn new(nodes: &[u64]) -> Walk {
        let mut walk = Walk {
            db: ClusterDb::default(),
            nodes: BTreeMap::new(),
            now: 1_000,
        };
        for node in nodes {
            let mut executor = Executor::new(ExecutorConfig::default());
            executor.handle(
                Event::Lease {
                    valid_until: model::BootMs(1 << 50),
                },
                both_clocks(walk.now),
            );
            let node_state = Node {
                executor,
                fed: None,
                processes: BTreeMap::new(),
                operations: Vec::new(),
                paused: false,
            };
            walk.nodes.insert(NodeId(*node), node_state);
        }
        walk
    }

    /// Apply an operator's (or the old master's) command; it must be accepted.
    pub(super) fn apply(&mut self, command: Command) {
        let result = self.db.apply(command);
        assert!(
            !matches!(result, cmdb::CommandResult::Rejected(_)),
            "{result:?}"
        );
    }

    pub(super) fn create(&mut self, resource: Resource) {
        self.apply(Command::PutResource {
            resource,
            create: true,
        });
    }

    pub(super) fn update(&mut self, resource: Resource) {
        self.apply(Command::PutResource {
            resource,
            create: false,
        });
    }

    pub(super) fn delete(&mut self, name: &str) {
        self.apply(Command::DeleteResource { id: id(name) });
    }

    pub(super) fn stop(&mut self, name: &str) {
        self.apply(Command::SetTargetRole {
            resource: id(name),
            role: TargetRole::Stopped,
        });
    }

    pub(super) fn move_to(&mut self, name: &str, node: u64) {
        let constraint = LocationConstraint {
            resource: id(name),
            node: NodeId(node),
            score: SCORE_INFINITY,
            expires_at: None,
        };
        self.apply(Command::SetMove {
            resource: id(name),
            constraints: vec![constraint],
        });
    }

    pub(super) fn pause_feeds(&mut self, paused: bool) {
        for node in self.nodes.values_mut() {
            node.paused = paused;
        }
    }

    pub(super) fn resources(&self) -> &cmdb::ResourceDb {
        &self.db.resources
    }

    /// The nodes where a process of `name` runs, with the definition it started with.
    pub(super) fn processes(&self, name: &str) -> Vec<(u64, Resource)> {
        self.nodes
            .iter()
            .filter_map(|(node, state)| Some((node.0, state.processes.get(&id(name))?.clone())))
            .collect()
    }

    /// The nodes where a start of `name` is in flight.
    pub(super) fn starting(&self, name: &str) -> Vec<u64> {
        self.nodes
            .iter()
            .filter(|(_, state)| {
                state.operations.iter().any(|operation| {
                    operation.resource.id == id(name) && operation.operation == OperationKind::Start
                })
            })
            .map(|(node, _)| node.0)
            .collect()
    }

    /// The nodes where a stop of `name` is in flight.
    pub(super) fn stopping(&self, name: &str) -> Vec<u64> {
        self.nodes
            .iter()
            .filter(|(_, state)| {
                state.operations.iter().any(|operation| {
                    operation.resource.id == id(name) && operation.operation == OperationKind::Stop
                })
            })
            .map(|(node, _)| node.0)
            .collect()
    }

    /// Step until `done` holds, failing with `what` and the cmdb's resource state if it
    /// does not within `STEPS_MAX` steps.
    pub(super) fn until(&mut self, what: &str, done: impl Fn(&Walk) -> bool) {
        for _ in 0..STEPS_MAX {
            if done(self) {
                return;
            }
            self.step();
        }
        panic!(
            "never: {what}\nassignments {:?}\nstatus {:?}\nreported {:?}",
            self.db.resources.assignments,
            self.db.resources.status,
            self.db.resources.reported_tokens
        );
    }

    /// One step of the whole cluster; then the safety check.
    pub(super) fn step(&mut self) {
        self.now += STEP_MS;
        let health: BTreeMap<NodeId, NodeHealth> = self
            .nodes
            .keys()
            .map(|node| (*node, NodeHealth::Online))
            .collect();
        let planned = round(&self.db.resources, &health, self.now);
        if !planned.changes.is_empty() {
            self.apply(Command::ChangeAssignments {
                changes: planned.changes,
            });
        }
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for node in ids {
            self.feed(node);
            self.finish_operations(node);
            self.handle(node, Event::Tick);
        }
        self.check_unique();
    }

    fn feed(&mut self, node: NodeId) {
        let state = &self.nodes[&node];
        if state.paused {
            return;
        }
        let assignments = assignments_of(&self.db.resources, node);
        let unconfirmed = unconfirmed_of(&self.db.resources, node);
        let current = (assignments.clone(), unconfirmed.clone());
        if state.fed.as_ref() == Some(&current) {
            return;
        }
        let previous = self
            .nodes
            .get_mut(&node)
            .expect("known node")
            .fed
            .replace(current);
        if previous.as_ref().map(|p| &p.0) != Some(&assignments) {
            self.handle(node, Event::Assignments(assignments));
        }
        if previous.as_ref().map(|p| &p.1) != Some(&unconfirmed) {
            self.handle(node, Event::Unconfirmed(unconfirmed));
        }
    }

    fn finish_operations(&mut self, node: NodeId) {
        let state = self.nodes.get_mut(&node).expect("known node");
        let mut finished = Vec::new();
        for operation in &mut state.operations {
            if operation.operation == OperationKind::Start && hangs(&operation.resource, node) {
                continue;
            }
            operation.steps_left = operation.steps_left.saturating_sub(1);
        }
        state.operations.retain_mut(|operation| {
            let due = operation.steps_left == 0;
            if due {
                finished.push(Operation {
                    resource: operation.resource.clone(),
                    ..*operation
                });
            }
            !due
        });
        for operation in finished {
            let id = operation.resource.id.clone();
            let state = self.nodes.get_mut(&node).expect("known node");
            let outcome = match operation.operation {
                OperationKind::Start => Outcome::Ok,
                OperationKind::Stop => {
                    state.processes.remove(&id);
                    Outcome::Ok
                }
                OperationKind::Monitor if state.processes.contains_key(&id) => Outcome::Ok,
                OperationKind::Monitor => Outcome::NotRunning,
                OperationKind::Reload => Outcome::Ok,
            };
            let done = Event::OperationDone {
                resource: id,
                operation: operation.operation,
                fencing_token: operation.fencing_token,
                outcome,
                started_at: operation.started_at,
                ended_at: None,
            };
            self.handle(node, done);
        }
    }

    fn handle(&mut self, node: NodeId, event: Event) {
        let now = self.now;
        let state = self.nodes.get_mut(&node).expect("known node");
        let commands = state.executor.handle(event, both_clocks(now));
        for command in commands {
            let state = self.nodes.get_mut(&node).expect("known node");
            match command {
                Run::Run {
                    resource,
                    operation,
                    fencing_token,
                    started_at,
                    ..
                } => {
                    if operation == OperationKind::Start {
                        state
                            .processes
                            .insert(resource.id.clone(), resource.clone());
                    }
                    let steps_left = match operation {
                        OperationKind::Stop => stop_steps(&resource),
                        _ => 1,
                    };
                    state.operations.push(Operation {
                        resource,
                        operation,
                        fencing_token,
                        started_at,
                        steps_left,
                    });
                }
                // The operation is abandoned; what it spawned runs on until a stop.
                Run::Cancel { resource } => {
                    state.operations.retain(|o| o.resource.id != resource);
                }
                Run::Report(record) => {
                    let report = to_report(record);
                    self.apply(Command::RecordOperation {
                        node,
                        report,
                        at_ms: now,
                    });
                }
            }
        }
    }

    fn check_unique(&self) {
        let mut seen: BTreeMap<&ResourceId, u64> = BTreeMap::new();
        for (node, state) in &self.nodes {
            for (resource, definition) in &state.processes {
                if !definition.unique {
                    continue;
                }
                if let Some(other) = seen.insert(resource, node.0) {
                    panic!("{resource} runs on nodes {other} and {} at once", node.0);
                }
            }
        }
    }

    /// Nothing of `name` is left: no process, no operation, no grant, status or token.
    pub(super) fn gone(&self, name: &str) -> bool {
        let resources = &self.db.resources;
        let resource = id(name);
        self.processes(name).is_empty()
            && self.starting(name).is_empty()
            && self.stopping(name).is_empty()
            && !resources.resources.contains_key(&resource)
            && !resources.status.contains_key(&resource)
            && !resources.reported_tokens.contains_key(&resource)
            && resources
                .assignments
                .values()
                .all(|m| !m.contains_key(&resource))
    }

    /// `name` runs on exactly one node, and the cmdb agrees.
    pub(super) fn running_on(&self, name: &str) -> Option<u64> {
        let processes = self.processes(name);
        let [(node, _)] = &processes[..] else {
            return None;
        };
        let state = self
            .db
            .resources
            .status
            .get(&id(name))?
            .get(&NodeId(*node))?
            .state;
        (state == model::ResourceState::Running && self.starting(name).is_empty()).then_some(*node)
    }
}

fn stop_steps(resource: &Resource) -> u32 {
    resource
        .params
        .get("stop_steps")
        .and_then(|steps| steps.parse().ok())
        .unwrap_or(1)
}

/// Whether a start of `resource` on `node` waits for ever.
fn hangs(resource: &Resource, node: NodeId) -> bool {
    resource
        .params
        .get("hang_on")
        .is_some_and(|nodes| nodes.split(',').any(|n| n == node.0.to_string()))
}

/// The walk keeps one clock: both of the executor's clocks read it.
fn both_clocks(now: u64) -> executor::Now {
    executor::Now {
        boot: model::BootMs(now),
        wall: now,
    }
}
