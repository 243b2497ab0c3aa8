//! Resources in the cluster database: the declared configuration, the observed status, the
//! master's assignments with fencing tokens, and the bounded operation log.
//!
//! Everything here changes only through `apply`, deterministically: fencing tokens come
//! from a counter in the replicated state, so every replica hands out the same tokens.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use model::{
    ClusterConfig, ColocationConstraint, Constraint, Group, GroupId, LocationConstraint, Millis,
    NodeConfig, NodeId, OrderConstraint, Resource, ResourceId, ResourceState, ResourceStatus,
    TargetRole,
};
use serde::{Deserialize, Serialize};

use crate::command::CommandResult;
use crate::limits::OPERATIONS_MAX;

/// A constraint as stored in the log. `model::Constraint` is internally tagged for TOML and
/// JSON, which the compact log encoding cannot read, so the log keeps this mirror.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoredConstraint {
    /// See `model::OrderConstraint`.
    Order(OrderConstraint),
    /// See `model::ColocationConstraint`.
    Colocation(ColocationConstraint),
    /// See `model::LocationConstraint`.
    Location(LocationConstraint),
}

impl From<Constraint> for StoredConstraint {
    fn from(constraint: Constraint) -> StoredConstraint {
        match constraint {
            Constraint::Order(c) => StoredConstraint::Order(c),
            Constraint::Colocation(c) => StoredConstraint::Colocation(c),
            Constraint::Location(c) => StoredConstraint::Location(c),
        }
    }
}

impl From<StoredConstraint> for Constraint {
    fn from(constraint: StoredConstraint) -> Constraint {
        match constraint {
            StoredConstraint::Order(c) => Constraint::Order(c),
            StoredConstraint::Colocation(c) => Constraint::Colocation(c),
            StoredConstraint::Location(c) => Constraint::Location(c),
        }
    }
}

/// A constraint as the operator writes it: `order db then web`, `colocation web with db
/// INFINITY`, `location web on node 2 50`.
impl std::fmt::Display for StoredConstraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoredConstraint::Order(order) => {
                write!(f, "order {} then {}", order.first, order.then)?;
                if order.kind == model::OrderKind::Optional {
                    f.write_str(" (optional)")?;
                }
                Ok(())
            }
            StoredConstraint::Colocation(colocation) => write!(
                f,
                "colocation {} with {} {}",
                colocation.resource,
                colocation.with,
                model::score_display(colocation.score)
            ),
            StoredConstraint::Location(location) => write!(
                f,
                "location {} on node {} {}",
                location.resource,
                location.node,
                model::score_display(location.score)
            ),
        }
    }
}

/// What an executor did, as reported to the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationReport {
    /// The resource.
    pub resource: ResourceId,
    /// `start`, `stop` or `monitor`.
    pub operation: String,
    /// The grant the operation ran under.
    pub fencing_token: u64,
    /// Whether it succeeded, in the executor's words.
    pub ok: bool,
    /// The instance's state afterwards.
    pub state_after: ResourceState,
    /// Failure reason in plain words.
    pub reason: Option<String>,
    /// When it started and finished, on the reporting node's clock.
    pub started_at: Millis,
    /// When it finished.
    pub finished_at: Millis,
}

/// One entry of the operation log (for audits: who ran what, when, under which token).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationEntry {
    /// The node that ran it.
    pub node: NodeId,
    /// What it reported.
    pub report: OperationReport,
}

/// The master's decisions and the observed state of resources.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ResourceDb {
    /// Resources, by id.
    pub resources: BTreeMap<ResourceId, Resource>,
    /// Groups, by id.
    pub groups: BTreeMap<GroupId, Group>,
    /// Constraints declared by the operator.
    pub constraints: Vec<StoredConstraint>,
    /// Temporary preferences from `resource move`, one set per resource, replaced by the
    /// next move of the same resource and ignored by the scheduler once expired.
    pub moves: BTreeMap<ResourceId, Vec<LocationConstraint>>,
    /// Per-node standby, maintenance and capacity.
    pub node_config: BTreeMap<NodeId, NodeConfig>,
    /// Observed state per resource and node.
    pub status: BTreeMap<ResourceId, BTreeMap<NodeId, ResourceStatus>>,
    /// The master's assignments: node to resource to the grant's fencing token.
    pub assignments: BTreeMap<NodeId, BTreeMap<ResourceId, u64>>,
    /// The next fencing token; tokens only ever increase.
    pub next_fencing_token: u64,
    /// The newest operation reports, oldest first.
    pub operations: VecDeque<OperationEntry>,
    /// The fencing token of the last report accepted per resource and node: a stopped or
    /// failed instance reported under the current grant's token has spent that grant.
    pub reported_tokens: BTreeMap<ResourceId, BTreeMap<NodeId, u64>>,
    /// Bans from `resource ban` (`-INFINITY` location preferences, possibly expiring), per
    /// resource, until `resource clear`; kept apart from moves so a move never lifts a ban.
    pub bans: BTreeMap<ResourceId, Vec<LocationConstraint>>,
    /// Resources the cluster leaves alone (`resource unmanage`).
    pub unmanaged: BTreeSet<ResourceId>,
    // --- types ---
    /// User-defined resource types, by name (`encluster type create`).
    pub types: BTreeMap<String, model::UserType>,
    // --- promo ---
    /// Per promotable resource, each node's promotion score (`SetPromotionScore`).
    pub promotion_scores: BTreeMap<ResourceId, BTreeMap<NodeId, i64>>,
    /// Promotable clones, with the most instances promoted at once (`PutPromotable`).
    pub promotable: BTreeMap<ResourceId, u32>,
}

/// A change of the master's assignments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AssignmentChange {
    /// Grant `resource` to `node` under a new fencing token.
    Assign { node: NodeId, resource: ResourceId },
    /// Withdraw the grant: the node must stop the resource.
    Unassign { node: NodeId, resource: ResourceId },
    /// The node is down and its lease has ended: its instances are gone.
    Lost { node: NodeId, resource: ResourceId },
}

impl ResourceDb {
    /// The configuration as the scheduler sees it: declared constraints plus moves, and a
    /// node config for every known node.
    pub fn cluster_config(&self, nodes: impl Iterator<Item = NodeId>) -> ClusterConfig {
        let mut node_config = self.node_config.clone();
        for node in nodes {
            node_config.entry(node).or_insert_with(|| NodeConfig {
                id: node,
                standby: false,
                maintenance: false,
                capacity: BTreeMap::new(),
            });
        }
        let mut constraints: Vec<Constraint> = self
            .constraints
            .iter()
            .cloned()
            .map(Constraint::from)
            .collect();
        for moves in self.moves.values().chain(self.bans.values()) {
            constraints.extend(moves.iter().cloned().map(Constraint::Location));
        }
        ClusterConfig {
            nodes: node_config,
            resources: self.resources.clone(),
            groups: self.groups.clone(),
            constraints,
            unmanaged: self.unmanaged.clone(),
            promotable: self.promotable.clone(),
        }
    }

    /// Check a changed configuration; on success keep it, else report why and change
    /// nothing.
    pub(crate) fn try_config(&mut self, change: impl FnOnce(&mut ResourceDb)) -> CommandResult {
        self.try_config_explained(change, |error| error.to_string())
    }

    /// `try_config`, with the refusal of an invalid configuration in `explain`'s words
    /// (an edit names the field at fault and the fix). Accepts and refuses exactly what
    /// `try_config` does.
    pub(crate) fn try_config_explained(
        &mut self,
        change: impl FnOnce(&mut ResourceDb),
        explain: impl FnOnce(model::ConfigError) -> String,
    ) -> CommandResult {
        let mut candidate = self.clone();
        change(&mut candidate);
        let config = candidate.cluster_config(std::iter::empty());
        if let Err(error) = config.validate() {
            return CommandResult::Rejected(explain(error));
        }
        if let Err(reason) = candidate.check_typed_resources() {
            return CommandResult::Rejected(reason);
        }
        *self = candidate;
        CommandResult::Ok
    }

    /// Delete a resource with everything that names it.
    pub(crate) fn delete_resource(&mut self, id: &ResourceId) -> CommandResult {
        if self.resources.remove(id).is_none() {
            return CommandResult::Rejected(format!("resource {id} does not exist"));
        }
        self.constraints
            .retain(|c| !Constraint::from(c.clone()).resources().contains(&id));
        self.moves.remove(id);
        self.bans.remove(id);
        self.unmanaged.remove(id);
        self.promotion_scores.remove(id);
        self.promotable.remove(id);
        for group in self.groups.values_mut() {
            group.members.retain(|m| m != id);
        }
        let emptied: Vec<GroupId> = self
            .groups
            .iter()
            .filter(|(_, g)| g.members.is_empty())
            .map(|(id, _)| id.clone())
            .collect();
        for group in emptied {
            self.forget_group(&group);
        }
        // Instances that may still run, and grants, stay until the instances are confirmed
        // stopped: the master withdraws the grants, the executors stop what is no longer
        // assigned and report it. What is known stopped is forgotten now.
        let nodes: Vec<NodeId> = self
            .status
            .get(id)
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default();
        for node in nodes {
            self.forget_if_gone(id, node);
        }
        CommandResult::Ok
    }

    /// Replace the declared resources, groups and constraints (`apply -f`); moves and bans
    /// of what is gone go too. `apply`'s dry run calls this on a copy, so the dry run and
    /// the real apply accept and refuse exactly the same files.
    pub fn replace_config(
        &mut self,
        resources: Vec<Resource>,
        groups: Vec<Group>,
        constraints: Vec<StoredConstraint>,
    ) -> CommandResult {
        self.try_config(|db| {
            db.resources = resources.into_iter().map(|r| (r.id.clone(), r)).collect();
            db.groups = groups.into_iter().map(|g| (g.id.clone(), g)).collect();
            db.constraints = constraints;
            let named = |id: &ResourceId| {
                db.resources.contains_key(id) || db.groups.contains_key(&GroupId(id.0.clone()))
            };
            db.moves.retain(|id, _| named(id));
            db.bans.retain(|id, _| named(id));
            db.unmanaged.retain(|id| db.resources.contains_key(id));
            let clones = |id: &ResourceId| db.resources.get(id).is_some_and(|r| r.clone.is_some());
            db.promotable.retain(|id, _| clones(id));
        })
    }

    /// Delete a group; its members stay. Constraints, moves and bans that name the group
    /// itself go with it (those naming members stay).
    pub(crate) fn delete_group(&mut self, id: &GroupId) -> CommandResult {
        if !self.groups.contains_key(id) {
            return CommandResult::Rejected(format!("group {id} does not exist"));
        }
        self.forget_group(id);
        CommandResult::Ok
    }

    fn forget_group(&mut self, id: &GroupId) {
        self.groups.remove(id);
        if self.resources.contains_key(&ResourceId(id.0.clone())) {
            return;
        }
        let name = ResourceId(id.0.clone());
        self.constraints
            .retain(|c| !Constraint::from(c.clone()).resources().contains(&&name));
        self.moves.remove(&name);
        self.bans.remove(&name);
    }

    /// Remove one declared constraint equal to `constraint`.
    pub(crate) fn remove_constraint(&mut self, constraint: &StoredConstraint) -> CommandResult {
        match self.constraints.iter().position(|c| c == constraint) {
            Some(position) => {
                self.constraints.remove(position);
                CommandResult::Ok
            }
            None => CommandResult::Rejected("no such constraint".to_owned()),
        }
    }

    /// Replace the bans of `resource` (a resource or a group); empty lifts them all.
    pub(crate) fn set_bans(
        &mut self,
        resource: ResourceId,
        bans: Vec<LocationConstraint>,
    ) -> CommandResult {
        self.try_config(|db| {
            if bans.is_empty() {
                db.bans.remove(&resource);
            } else {
                db.bans.insert(resource, bans);
            }
        })
    }

    /// Let the cluster manage a resource again, or leave it alone.
    pub(crate) fn set_managed(&mut self, resource: ResourceId, managed: bool) -> CommandResult {
        if !self.resources.contains_key(&resource) {
            return CommandResult::Rejected(format!("resource {resource} does not exist"));
        }
        if managed {
            self.unmanaged.remove(&resource);
        } else {
            self.unmanaged.insert(resource);
        }
        CommandResult::Ok
    }

    /// Whether `resource` is declared, or is a promoted role of a declared promotable
    /// resource (see `model::promotable`).
    pub fn configured(&self, resource: &ResourceId) -> bool {
        self.resources.contains_key(resource) || self.resource(resource).is_some()
    }

    /// The definition of `resource`: a declared resource, or a promoted role of one.
    pub fn resource(&self, resource: &ResourceId) -> Option<Resource> {
        match self.resources.get(resource) {
            Some(declared) => Some(declared.clone()),
            None => model::promotable::role_of(&self.resources, &self.promotable, resource),
        }
    }

    /// Create or replace a resource; `promoted_max` makes it promotable. Replacing a
    /// promotable resource by `PutResource` (`None`) keeps it promotable while it stays a
    /// clone.
    pub(crate) fn put_resource(
        &mut self,
        resource: Resource,
        create: bool,
        promoted_max: Option<u32>,
    ) -> CommandResult {
        let exists = self.resources.contains_key(&resource.id);
        if create && exists {
            return CommandResult::Rejected(format!("resource {} already exists", resource.id));
        }
        if !create && !exists {
            return CommandResult::Rejected(format!("resource {} does not exist", resource.id));
        }
        self.try_config(|db| {
            match promoted_max {
                Some(max) => {
                    db.promotable.insert(resource.id.clone(), max);
                }
                None if resource.clone.is_none() => {
                    db.promotable.remove(&resource.id);
                }
                None => {}
            }
            db.resources.insert(resource.id.clone(), resource);
        })
    }

    // --- servers ---
    /// Apply `edit` to the real servers of the virtual service `id` (an `lb` resource), in
    /// one step, so concurrent edits never lose one another.
    pub(crate) fn edit_server(
        &mut self,
        id: &model::ResourceId,
        edit: &model::ServerEdit,
    ) -> CommandResult {
        let Some(resource) = self.resources.get(id) else {
            return CommandResult::Rejected(format!("resource {id} does not exist"));
        };
        if resource.type_name != "lb" {
            return CommandResult::Rejected(format!(
                "{id} is a {} resource, not a virtual service (lb)",
                resource.type_name
            ));
        }
        match edit.apply(&resource.params) {
            Ok(params) => {
                let mut resource = resource.clone();
                resource.params = params;
                self.put_resource(resource, false, None)
            }
            Err(problem) => CommandResult::Rejected(problem),
        }
    }

    /// Record the promotion score `node`'s instance of `resource` set, or its removal.
    /// Refused for a resource that is not promotable (a removal is always accepted, so a
    /// stop racing with a delete is no error).
    pub(crate) fn set_promotion_score(
        &mut self,
        node: NodeId,
        resource: ResourceId,
        score: Option<i64>,
    ) -> CommandResult {
        let Some(score) = score else {
            if let Some(scores) = self.promotion_scores.get_mut(&resource) {
                scores.remove(&node);
                if scores.is_empty() {
                    self.promotion_scores.remove(&resource);
                }
            }
            return CommandResult::Ok;
        };
        if !self.promotable.contains_key(&resource) {
            return CommandResult::Rejected(format!(
                "resource {resource} is not promotable, so it has no promotion score"
            ));
        }
        self.promotion_scores
            .entry(resource)
            .or_default()
            .insert(node, score);
        CommandResult::Ok
    }

    /// Apply the master's assignment changes; returns the tokens of new grants in order.
    pub fn change_assignments(&mut self, changes: Vec<AssignmentChange>) -> Vec<u64> {
        let mut tokens = Vec::new();
        for change in changes {
            match change {
                AssignmentChange::Assign { node, resource } => {
                    self.next_fencing_token = self.next_fencing_token.max(1);
                    let token = self.next_fencing_token;
                    self.next_fencing_token += 1;
                    self.assignments
                        .entry(node)
                        .or_default()
                        .insert(resource, token);
                    tokens.push(token);
                }
                AssignmentChange::Unassign { node, resource } => {
                    let withdrawn = self
                        .assignments
                        .get_mut(&node)
                        .and_then(|map| map.remove(&resource));
                    if let Some(token) = withdrawn {
                        self.doubt_unreported(node, &resource, token);
                    }
                    self.forget_if_gone(&resource, node);
                }
                AssignmentChange::Lost { node, resource } => {
                    if let Some(map) = self.assignments.get_mut(&node) {
                        map.remove(&resource);
                    }
                    if let Some(status) = self
                        .status
                        .get_mut(&resource)
                        .and_then(|m| m.get_mut(&node))
                    {
                        status.state = ResourceState::Stopped;
                    }
                    self.forget_if_gone(&resource, node);
                }
            }
        }
        self.assignments.retain(|_, map| !map.is_empty());
        tokens
    }

    /// A grant withdrawn before its node reported under it: the start may be under way, so
    /// the instance counts as unknown (possibly running) until the node reports it
    /// stopped. The executor abandons such a start and stops it, or, if it never saw the
    /// grant, confirms that nothing runs (it is told what the cluster doubts). Without
    /// this, either the master would have to wait for the start to end before withdrawing
    /// (blocking every other start meanwhile, for ever if the resource was deleted and the
    /// node never reports), or nothing would say the instance may still run.
    fn doubt_unreported(&mut self, node: NodeId, resource: &ResourceId, token: u64) {
        let reported = self
            .reported_tokens
            .get(resource)
            .and_then(|m| m.get(&node));
        if reported == Some(&token) {
            return;
        }
        let status = self
            .status
            .entry(resource.clone())
            .or_default()
            .entry(node)
            .or_default();
        if status.state == ResourceState::Stopped {
            status.state = ResourceState::Unknown;
        }
    }

    /// Forget what is left of a resource that is no longer configured on `node` once
    /// nothing of it may run there: no grant, and no instance that is not stopped.
    fn forget_if_gone(&mut self, resource: &ResourceId, node: NodeId) {
        if self.configured(resource) {
            return;
        }
        let assigned = self
            .assignments
            .get(&node)
            .is_some_and(|m| m.contains_key(resource));
        if assigned {
            return;
        }
        if let Some(map) = self.status.get_mut(resource) {
            if map.get(&node).is_some_and(|s| s.state.is_active()) {
                return;
            }
            map.remove(&node);
            if map.is_empty() {
                self.status.remove(resource);
            }
        }
        if let Some(map) = self.reported_tokens.get_mut(resource) {
            map.remove(&node);
            if map.is_empty() {
                self.reported_tokens.remove(resource);
            }
        }
    }

    /// Record an executor's report. A report under an older token than the current grant
    /// on that node describes an instance that has since been replaced, and changes only
    /// the log, except a stop, which is always the truth about the node.
    ///
    /// Reports about a deleted resource are recorded too, until it is stopped there: the
    /// master keeps its instances stopping, and learns that a grant it still holds was
    /// reported on (otherwise it would count as a start under way for ever).
    ///
    /// Returns the event of a counted failure: every failure is in the event log, with its
    /// count and how long the next restart waits ([`model::restart_backoff`]).
    pub(crate) fn record(
        &mut self,
        node: NodeId,
        report: OperationReport,
        at_ms: Millis,
    ) -> Option<model::EventKind> {
        let mut event = None;
        let current = self
            .assignments
            .get(&node)
            .and_then(|m| m.get(&report.resource))
            .copied();
        let stale =
            current.is_some_and(|token| report.fencing_token < token) && report.operation != "stop";
        if !stale {
            self.reported_tokens
                .entry(report.resource.clone())
                .or_default()
                .insert(node, report.fencing_token);
            let status = self.status.entry(report.resource.clone()).or_default();
            let entry = status.entry(node).or_default();
            entry.state = report.state_after;
            // A start that left the instance unknown was abandoned (the lease was ending,
            // its grant was withdrawn, its parameters changed), not failed: no fail count.
            let failed = !report.ok
                && report.operation != "stop"
                && report.state_after != ResourceState::Unknown;
            if failed {
                // A failure long after the previous one starts a new run: the count, and
                // with it the restart backoff, starts again from one.
                let reset_ms = u64::try_from(model::FAILURE_STREAK_RESET.as_millis())
                    .expect("ten minutes fit in u64");
                if entry
                    .last_failure_at
                    .is_some_and(|last| at_ms >= last.saturating_add(reset_ms))
                {
                    entry.fail_count = 0;
                }
                entry.fail_count = entry.fail_count.saturating_add(1);
                entry.last_failure_at = Some(at_ms);
                entry.last_failure = report.reason.clone();
                event = Some(failure_event(node, &report, entry.fail_count));
            }
        }
        self.forget_if_gone(&report.resource, node);
        self.operations.push_back(OperationEntry { node, report });
        while self.operations.len() > OPERATIONS_MAX {
            self.operations.pop_front();
        }
        event
    }

    /// Whether the grant of `resource` on `node` is spent: the executor reported the
    /// instance stopped or failed under the grant's own token, so only a new grant (a new
    /// token) starts it again.
    pub fn grant_spent(&self, node: NodeId, resource: &ResourceId) -> bool {
        let Some(token) = self.assignments.get(&node).and_then(|m| m.get(resource)) else {
            return false;
        };
        let reported = self
            .reported_tokens
            .get(resource)
            .and_then(|m| m.get(&node));
        let state = self
            .status
            .get(resource)
            .and_then(|m| m.get(&node))
            .map(|s| s.state);
        reported == Some(token)
            && matches!(state, Some(ResourceState::Stopped | ResourceState::Failed))
    }

    /// Forget failures so the scheduler may use the node again.
    pub(crate) fn cleanup(&mut self, resource: &ResourceId, node: Option<NodeId>) {
        if let Some(map) = self.status.get_mut(resource) {
            for (id, status) in map.iter_mut() {
                if node.is_none_or(|n| n == *id) {
                    status.fail_count = 0;
                    status.last_failure = None;
                    status.last_failure_at = None;
                    // A failed instance that is no longer assigned has been stopped by its
                    // executor; one still assigned is probed again by its monitor.
                    let assigned = self
                        .assignments
                        .get(id)
                        .is_some_and(|m| m.contains_key(resource));
                    if status.state == ResourceState::Failed {
                        status.state = if assigned {
                            ResourceState::Unknown
                        } else {
                            ResourceState::Stopped
                        };
                    }
                }
            }
        }
    }

    /// Set a resource's target role.
    pub(crate) fn set_target_role(&mut self, id: &ResourceId, role: TargetRole) -> CommandResult {
        match self.resources.get_mut(id) {
            Some(resource) => {
                resource.options.target_role = role;
                CommandResult::Ok
            }
            None => CommandResult::Rejected(format!("resource {id} does not exist")),
        }
    }
}

/// The event of the `fail_count`-th failure of `report.resource` on `node`.
fn failure_event(node: NodeId, report: &OperationReport, fail_count: u32) -> model::EventKind {
    let what = report
        .reason
        .clone()
        .unwrap_or_else(|| format!("{} failed", report.operation));
    let backoff = model::restart_backoff(fail_count);
    let next = if backoff.is_zero() {
        String::new()
    } else {
        format!("; a restart here waits {} s", backoff.as_secs())
    };
    model::EventKind::ResourceAction {
        resource: report.resource.clone(),
        node,
        action: "failed".to_owned(),
        reason: format!("{what} (failure {fail_count}{next})"),
    }
}

mod edits;
#[cfg(test)]
mod tests;
mod user_types;
