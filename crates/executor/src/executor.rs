//! The executor's state machine: events and `now` in, commands out. No IO, no clock.
//!
//! Every event updates what the node knows (assignments, lease, outcomes), then every
//! instance is evaluated once: operations that must give way to a stop are cancelled, and
//! due operations are started, stops first, up to [`OPERATIONS_IN_FLIGHT_MAX`] at once.
//! The same events and times always give the same commands.

use crate::clock::Now;
use crate::instance::{CheckPlan, Context, Instance, Step};
use crate::limits::{INSTANCE_COUNT_MAX, OPERATIONS_IN_FLIGHT_MAX, UNCONFIRMED_REPORT_INTERVAL};
use crate::types::{
    Assignment, Command, Event, ExecutorConfig, InstanceState, InstanceView, OperationKind,
    OperationRecord, Unconfirmed,
};
use model::{BootMs, Millis, ParamSchema, ResourceId};
use resource_agents::Outcome;
use std::collections::BTreeMap;

/// Carries out this node's assignments: see the crate documentation for the rules.
#[derive(Debug)]
pub struct Executor {
    config: ExecutorConfig,
    instances: BTreeMap<ResourceId, Instance>,
    /// The end of this node's lease, on the boot clock; zero until the first
    /// [`Event::Lease`].
    lease_valid_until: BootMs,
    /// Whether an assignment set arrived: before that, nothing is started or stopped
    /// (except by self-fencing), since the executor does not know what is wanted.
    assignments_known: bool,
    /// What the cluster doubts is stopped here (see [`Event::Unconfirmed`]), with the
    /// token to confirm under and when to confirm next.
    unconfirmed: BTreeMap<ResourceId, (u64, BootMs)>,
    /// Grants an earlier life stopped under (see [`Event::Spent`]), until the first
    /// assignment set shows whether they still stand.
    spent_before: BTreeMap<ResourceId, u64>,
    /// The parameter schemas of resource types (see [`Event::Schema`]), by type name.
    schemas: BTreeMap<String, ParamSchema>,
    /// User-defined types (see [`Event::UserTypes`]), by name.
    user_types: BTreeMap<String, model::UserType>,
}

impl Executor {
    /// An executor that runs nothing and holds no lease yet.
    pub fn new(config: ExecutorConfig) -> Executor {
        Executor {
            config,
            instances: BTreeMap::new(),
            lease_valid_until: BootMs(0),
            assignments_known: false,
            unconfirmed: BTreeMap::new(),
            spent_before: BTreeMap::new(),
            schemas: BTreeMap::new(),
            user_types: BTreeMap::new(),
        }
    }

    /// Applies one event at time `now` and returns what to do, in order.
    pub fn handle(&mut self, event: Event, now: Now) -> Vec<Command> {
        let mut commands = Vec::new();
        match event {
            Event::Assignments(assignments) => {
                self.assign(assignments, now.boot);
                self.restate_spent(now, &mut commands);
            }
            Event::Lease { valid_until } => self.lease_valid_until = valid_until,
            Event::OperationDone {
                resource,
                operation,
                fencing_token,
                outcome,
                started_at,
                ended_at,
            } => {
                let done = Done {
                    operation,
                    fencing_token,
                    outcome,
                    started_at,
                    ended_at,
                };
                self.complete(&resource, done, now, &mut commands);
            }
            Event::Exited(resource) => {
                if let Some(instance) = self.instances.get_mut(&resource) {
                    instance.exited();
                }
            }
            Event::Found(records) => self.found(records),
            Event::Spent(records) => self.spent_before(records),
            Event::Tick => {}
            Event::Unconfirmed(list) => self.doubt(list, now.boot),
            Event::Schema { type_name, schema } => match schema {
                Some(schema) => {
                    self.schemas.insert(type_name, schema);
                }
                None => {
                    self.schemas.remove(&type_name);
                }
            },
            Event::UserTypes(types) => self.user_types(types),
        }
        self.evaluate(now, &mut commands);
        self.confirm(now, &mut commands);
        self.instances
            .retain(|_, instance| !instance.is_forgettable());
        commands
    }

    /// Whether a tick could change anything: false while an instance or an unconfirmed
    /// resource is known. (The runtime also counts its running operations.)
    pub fn is_idle(&self) -> bool {
        self.instances.is_empty() && self.unconfirmed.is_empty()
    }

    /// The end of the newest lease fed (`BootMs(0)` before any).
    pub fn lease_valid_until(&self) -> BootMs {
        self.lease_valid_until
    }

    /// Every instance this executor knows, by resource id, for status and debugging.
    pub fn instances(&self) -> impl Iterator<Item = (&ResourceId, InstanceView)> + '_ {
        self.instances
            .iter()
            .map(|(id, instance)| (id, instance.view()))
    }

    /// Whether unique resources may run at `now` (boot clock): more than the fence margin
    /// is left of the lease.
    pub fn lease_ok(&self, now: BootMs) -> bool {
        now.saturating_add(self.config.fence_margin) < self.lease_valid_until
    }

    fn assign(&mut self, assignments: Vec<Assignment>, now: BootMs) {
        let mut wanted: BTreeMap<ResourceId, Assignment> = BTreeMap::new();
        for assignment in assignments {
            let id = assignment.resource.id.clone();
            // A duplicate is a master bug; the newest grant is the safe reading of it.
            match wanted.get(&id) {
                Some(kept) if kept.fencing_token >= assignment.fencing_token => {}
                _ => {
                    wanted.insert(id, assignment);
                }
            }
        }
        if wanted.len() > INSTANCE_COUNT_MAX {
            tracing::warn!(
                count = wanted.len(),
                max = INSTANCE_COUNT_MAX,
                "Too many assignments, ignoring those past the limit"
            );
            while wanted.len() > INSTANCE_COUNT_MAX {
                wanted.pop_last();
            }
        }
        for (id, instance) in &mut self.instances {
            instance.set_assigned(wanted.remove(id), now);
        }
        for (id, assignment) in wanted {
            self.instances.insert(id, Instance::assigned(assignment));
        }
        self.assignments_known = true;
    }

    /// Applies the grants an earlier life stopped under to the first assignment set. One
    /// still granted is spent; its stop is reported again, since the earlier life may have
    /// ended before its report left: the master, still seeing the resource run here under
    /// that grant, would otherwise never grant it anew.
    fn restate_spent(&mut self, now: Now, commands: &mut Vec<Command>) {
        for (id, token) in std::mem::take(&mut self.spent_before) {
            let Some(instance) = self.instances.get_mut(&id) else {
                continue;
            };
            instance.spend(token);
            if instance.assigned_token() == Some(token) {
                commands.push(Command::Report(OperationRecord {
                    resource: id,
                    operation: OperationKind::Stop,
                    fencing_token: token,
                    outcome: Outcome::Ok,
                    started_at: now.wall,
                    finished_at: now.wall,
                    state_after: InstanceState::Stopped,
                }));
            }
        }
    }

    /// Remembers the grants an earlier life stopped under, for the first assignment set:
    /// a grant it still shows is spent; any later grant is newer than all of them.
    fn spent_before(&mut self, records: Vec<Assignment>) {
        for record in records.into_iter().take(INSTANCE_COUNT_MAX) {
            let token = self.spent_before.entry(record.resource.id).or_insert(0);
            *token = (*token).max(record.fencing_token);
        }
    }

    fn found(&mut self, records: Vec<Assignment>) {
        for record in records {
            if self.instances.len() >= INSTANCE_COUNT_MAX {
                tracing::warn!(
                    max = INSTANCE_COUNT_MAX,
                    "Too many resources found, ignoring the rest"
                );
                break;
            }
            let id = record.resource.id.clone();
            self.instances
                .entry(id)
                .or_insert_with(|| Instance::found(record));
        }
    }

    /// Takes the cluster's new set of doubts; one already known keeps its next
    /// confirmation time, a new one is confirmed at once.
    fn doubt(&mut self, list: Vec<Unconfirmed>, now: BootMs) {
        let mut unconfirmed = BTreeMap::new();
        for entry in list.into_iter().take(INSTANCE_COUNT_MAX) {
            let due_at = match self.unconfirmed.get(&entry.resource) {
                Some((token, due_at)) if *token == entry.fencing_token => *due_at,
                _ => now,
            };
            unconfirmed.insert(entry.resource, (entry.fencing_token, due_at));
        }
        self.unconfirmed = unconfirmed;
    }

    /// Confirms every doubt that is due and of which nothing runs here with a stop report.
    /// One that has an instance is left to that instance's own stop and its report, and
    /// looked at again later, in case that report is lost.
    fn confirm(&mut self, now: Now, commands: &mut Vec<Command>) {
        if !self.assignments_known {
            return;
        }
        let next = now.boot.saturating_add(UNCONFIRMED_REPORT_INTERVAL);
        for (resource, (token, due_at)) in &mut self.unconfirmed {
            if *due_at > now.boot {
                continue;
            }
            *due_at = next;
            if self.instances.contains_key(resource) {
                continue;
            }
            commands.push(Command::Report(OperationRecord {
                resource: resource.clone(),
                operation: OperationKind::Stop,
                fencing_token: *token,
                outcome: Outcome::NotRunning,
                started_at: now.wall,
                finished_at: now.wall,
                state_after: InstanceState::Stopped,
            }));
        }
    }

    fn complete(
        &mut self,
        resource: &ResourceId,
        done: Done,
        now: Now,
        commands: &mut Vec<Command>,
    ) {
        let Some(instance) = self.instances.get_mut(resource) else {
            tracing::debug!(resource = %resource, "Ignoring the outcome of an unknown resource");
            return;
        };
        // A stopped instance that had ended before now (its watchdog fenced it while the
        // agent hung) finished then; nothing else in a successful stop depends on `now`.
        // Both are wall-clock times, for the record only.
        let ended = matches!(done.outcome, Outcome::Ok | Outcome::NotRunning)
            && done.operation == OperationKind::Stop;
        let finished_at = match done.ended_at {
            Some(ended_at) if ended && ended_at < now.wall => ended_at,
            _ => now.wall,
        };
        let applied = instance.complete(
            done.operation,
            done.fencing_token,
            done.started_at,
            done.outcome,
            now.boot,
            finished_at,
        );
        match applied {
            None => tracing::debug!(resource = %resource, "Ignoring a stale operation outcome"),
            Some(Some(record)) => commands.push(Command::Report(record)),
            Some(None) => {}
        }
    }

    /// Takes the new set of user types; instances of a type whose command changed are
    /// marked to restart.
    fn user_types(&mut self, types: Vec<model::TypeWithRoles>) {
        let types: BTreeMap<String, model::UserType> = types
            .into_iter()
            .map(|t| (t.definition.name.clone(), t.definition))
            .collect();
        for instance in self.instances.values_mut() {
            let old = self.user_types.get(instance.type_name());
            let new = types.get(instance.type_name());
            if let (Some(old), Some(new)) = (old, new)
                && old.run != new.run
            {
                instance.type_changed();
            }
        }
        self.user_types = types;
    }

    fn evaluate(&mut self, now: Now, commands: &mut Vec<Command>) {
        for instance in self.instances.values_mut() {
            let checks = self.user_types.get(instance.type_name()).map(CheckPlan::of);
            instance.set_checks(checks, now.boot);
        }
        let context = Context {
            now,
            lease_ok: self.lease_ok(now.boot),
            lease_valid_until: self.lease_valid_until,
            assignments_known: self.assignments_known,
        };
        let schemas = &self.schemas;
        let schema_of = |instance: &Instance| schemas.get(instance.type_name());
        for (id, instance) in &mut self.instances {
            if let Some(why) = instance.must_preempt(&context, schema_of(instance)) {
                let record = instance.abandon(why, now.wall);
                commands.push(Command::Cancel {
                    resource: id.clone(),
                });
                commands.extend(record.map(Command::Report));
            }
        }
        let mut due: Vec<(Step, ResourceId)> = Vec::new();
        let mut busy = 0;
        for (id, instance) in &self.instances {
            if instance.is_busy() {
                busy += 1;
            } else if let Some(step) = instance.decide(&context, schema_of(instance)) {
                due.push((step, id.clone()));
            }
        }
        // A stable sort keeps resource-id order within a priority: deterministic.
        due.sort_by_key(|(step, _)| step.priority());
        let free = OPERATIONS_IN_FLIGHT_MAX.saturating_sub(busy);
        for (step, id) in due.into_iter().take(free) {
            if let Step::Stop { fence: true } = step {
                tracing::warn!(resource = %id, "Lease ending, stopping unique resource");
            }
            let instance = self.instances.get_mut(&id).expect("decided from this map");
            commands.push(instance.begin(step, &context));
        }
    }
}

/// A finished operation, as carried by [`Event::OperationDone`].
struct Done {
    operation: OperationKind,
    fencing_token: u64,
    outcome: Outcome,
    started_at: BootMs,
    ended_at: Option<Millis>,
}
