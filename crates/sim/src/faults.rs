//! The hostile world of the chaos phase: crashes, pauses, partitions, loss and delay, and
//! an operator who changes the configuration at any moment, also while operations are in
//! flight. Then the quiesce phase: every fault is removed, and the operator repairs what
//! an operator would (standby off, failures cleaned up) until the cluster must converge.

use std::collections::BTreeSet;
use std::time::Duration;

use model::{
    LocationConstraint, NodeConfig, NodeId, Resource, ResourceId, ResourceOptions, TargetRole,
};

use crate::node::Node;
use crate::raft::{Entry, Origin};
use crate::world::{Ev, Phase, World};

impl World {
    /// Schedules the first fault and operator action, and the end of the chaos phase.
    pub(crate) fn start_chaos(&mut self) {
        for k in 0..self.config.initial_resources {
            self.at(400 + k * 100, Ev::Operator);
        }
        let gap = self.config.fault_gap_ms;
        self.at(500 + gap, Ev::Fault);
        let gap = self.config.operator_gap_ms;
        self.at(1_000 + gap, Ev::Operator);
        self.at(self.config.chaos_ms, Ev::EndChaos);
        if self.config.fencing.is_some() {
            self.at(300, Ev::ConfigureFencing);
        }
    }

    fn live_nodes(&self) -> Vec<NodeId> {
        self.nodes
            .values()
            .filter(|n| n.up && !n.paused)
            .map(|n| n.id)
            .collect()
    }

    pub(crate) fn on_fault(&mut self) {
        if self.phase != Phase::Chaos {
            return;
        }
        let gap = self.config.fault_gap_ms;
        let next = self.rng.range(gap / 2, gap * 3 / 2);
        self.at(next, Ev::Fault);
        let live = self.live_nodes();
        if live.is_empty() {
            return;
        }
        let leader = self.raft.leader.filter(|l| live.contains(l));
        let target = match leader {
            Some(leader) if self.rng.percent(30) => leader,
            _ => *self.rng.pick(&live),
        };
        let roll = self.rng.range(0, 99);
        self.note(|| format!("fault {roll} on node {target}"));
        match roll {
            0..=24 => self.crash(target),
            25..=54 => {
                let length = self.rng.range(50, 2_500);
                self.nodes.get_mut(&target).expect("known node").paused = true;
                self.at(length, Ev::Resume(target));
            }
            55..=84 => self.partition(target),
            _ => {
                self.net.loss_percent = self.rng.range(0, 30);
                self.net.jitter_ms = self.rng.range(1, 40);
            }
        }
    }

    fn partition(&mut self, target: NodeId) {
        let mut side = BTreeSet::from([target]);
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        if self.rng.percent(30) {
            side.insert(*self.rng.pick(&ids));
        }
        let partition = self.net.cut(side);
        let length = self.rng.range(100, 3_000);
        self.at(length, Ev::Heal(partition));
    }

    /// Kills a node's agent (SIGKILL): it restarts later from what is on disk.
    fn crash(&mut self, node: NodeId) {
        self.kill(node);
        let length = self.rng.range(100, 3_000);
        self.at(length, Ev::Restart(node));
    }

    /// A crash with no restart (kill -9 of the agent, never started again).
    pub(crate) fn kill(&mut self, node: NodeId) {
        let state = self.nodes.get_mut(&node).expect("known node");
        state.up = false;
        state.paused = false;
        state.deferred.clear();
        // What the process held in memory is gone, proposals in flight included.
        state.raft.leading = None;
    }

    pub(crate) fn restart(&mut self, node: NodeId) {
        let old = &self.nodes[&node];
        // A node powered off by its fence stays off until the operator powers it on.
        if old.up || self.fencing.off.contains(&node) {
            return;
        }
        let fresh = Node::restarted(old, &self.config, self.now);
        self.nodes.insert(node, fresh);
        self.start_timers(node);
        let found = self.found_records(node);
        self.executor_event(node, executor::Event::Found(found));
        let spent = self.spent_records(node);
        self.executor_event(node, executor::Event::Spent(spent));
        self.feed_executor(node);
    }

    pub(crate) fn resume(&mut self, node: NodeId) {
        let state = self.nodes.get_mut(&node).expect("known node");
        if !state.paused {
            return;
        }
        state.paused = false;
        let deferred = std::mem::take(&mut state.deferred);
        for event in deferred {
            self.at(0, event);
        }
    }

    /// The chaos phase ends: every fault is removed.
    pub(crate) fn end_chaos(&mut self) {
        self.phase = Phase::Quiesce;
        self.net.heal_all();
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for node in ids {
            self.resume(node);
            self.restart(node);
        }
        self.at(1_000, Ev::Operator);
    }

    /// An operator request, sent to a random live node, which forwards it to the master.
    pub(crate) fn on_operator(&mut self) {
        let command = match self.phase {
            Phase::Chaos => {
                let gap = self.config.operator_gap_ms;
                let next = self.rng.range(gap / 2, gap * 3 / 2);
                self.at(next, Ev::Operator);
                self.operator_change()
            }
            Phase::Quiesce => {
                self.at(500, Ev::Operator);
                self.operator_repair()
            }
        };
        let live = self.live_nodes();
        let Some(command) = command.filter(|_| !live.is_empty()) else {
            return;
        };
        let entry = *self.rng.pick(&live);
        self.note(|| format!("operator via node {entry}: {command:?}"));
        let state = &self.nodes[&entry];
        match (state.raft.leading.is_some(), state.raft.leader) {
            (true, _) => self.propose(entry, Entry::Command(command), Origin::Operator),
            (false, Some(master)) => {
                let msg = crate::net::Msg::Write {
                    from: entry,
                    req: 0,
                    command,
                };
                self.send(entry, master, msg);
            }
            (false, None) => {}
        }
    }

    fn resource(&mut self, id: ResourceId) -> Resource {
        let interval = self.rng.range(300, 2_000);
        Resource {
            id,
            type_name: "process".into(),
            params: [("version".to_owned(), self.rng.range(0, 9).to_string())].into(),
            options: ResourceOptions {
                monitor_interval: Duration::from_millis(interval),
                monitor_timeout: Duration::from_secs(1),
                start_timeout: Duration::from_secs(1),
                stop_timeout: Duration::from_secs(1),
                migration_threshold: *self.rng.pick(&[0, 0, 2]),
                ..ResourceOptions::default()
            },
            unique: self.rng.percent(75),
            clone: None,
            utilization: Default::default(),
        }
    }

    /// The creation of `resource`; with `promotable` runs every other one a promotable
    /// clone, with no draw of its own, so the random stream (and every other decision)
    /// stays that of the default run.
    fn create(&self, mut resource: Resource) -> cmdb::Command {
        if self.config.promotable && self.next_resource.is_multiple_of(2) {
            resource.unique = false;
            resource.clone = Some(model::CloneOptions { max: None });
            return cmdb::Command::PutPromotable {
                resource: Box::new(resource),
                create: true,
                promoted_max: 1,
            };
        }
        cmdb::Command::PutResource {
            resource,
            create: true,
        }
    }

    /// What the operator changes now: create, delete, update, move, standby, stop, start.
    fn operator_change(&mut self) -> Option<cmdb::Command> {
        let existing: Vec<Resource> = self
            .reference
            .resources
            .resources
            .values()
            .cloned()
            .collect();
        let roll = self.rng.range(0, 99);
        if existing.is_empty() || roll < 30 {
            let id = ResourceId(format!("r{}", self.next_resource));
            self.next_resource += 1;
            let resource = self.resource(id);
            return Some(self.create(resource));
        }
        let mut resource = self.rng.pick(&existing).clone();
        let nodes: Vec<NodeId> = self.nodes.keys().copied().collect();
        let node = *self.rng.pick(&nodes);
        Some(match roll {
            30..=41 => cmdb::Command::DeleteResource { id: resource.id },
            42..=56 => {
                resource
                    .params
                    .insert("version".into(), self.rng.range(10, 99).to_string());
                cmdb::Command::PutResource {
                    resource,
                    create: false,
                }
            }
            57..=71 => self.operator_move(resource.id, node),
            72..=81 => {
                let standby = !self
                    .reference
                    .resources
                    .node_config
                    .get(&node)
                    .is_some_and(|c| c.standby);
                let config = NodeConfig {
                    id: node,
                    standby,
                    maintenance: false,
                    capacity: Default::default(),
                };
                cmdb::Command::SetNodeConfig { node: config }
            }
            82..=93 => {
                let role = if resource.options.target_role == TargetRole::Started {
                    TargetRole::Stopped
                } else {
                    TargetRole::Started
                };
                cmdb::Command::SetTargetRole {
                    resource: resource.id,
                    role,
                }
            }
            _ => cmdb::Command::Cleanup {
                resource: resource.id,
                node: None,
            },
        })
    }

    /// `resource move` to `node`, sometimes expiring, sometimes cleared.
    fn operator_move(&mut self, resource: ResourceId, node: NodeId) -> cmdb::Command {
        let expires_at = self
            .rng
            .percent(50)
            .then(|| self.now + self.rng.range(500, 5_000));
        let constraint = LocationConstraint {
            resource: resource.clone(),
            node,
            score: 1_000,
            expires_at,
        };
        let constraints = if self.rng.percent(20) {
            Vec::new()
        } else {
            vec![constraint]
        };
        cmdb::Command::SetMove {
            resource,
            constraints,
        }
    }

    /// What an operator does to let the healed cluster run everything: standby off,
    /// failures cleaned up.
    fn operator_repair(&mut self) -> Option<cmdb::Command> {
        let resources = &self.reference.resources;
        if let Some(config) = resources.node_config.values().find(|c| c.standby) {
            let node = NodeConfig {
                standby: false,
                ..config.clone()
            };
            return Some(cmdb::Command::SetNodeConfig { node });
        }
        let failed = resources.status.iter().find(|(_, nodes)| {
            nodes
                .values()
                .any(|s| s.fail_count > 0 || s.state == model::ResourceState::Failed)
        });
        failed.map(|(id, _)| cmdb::Command::Cleanup {
            resource: id.clone(),
            node: None,
        })
    }
}
