//! The thin runtime around [`Executor`]: it reads the clock, runs operations as tasks,
//! feeds their outcomes back, forwards process-exit hints, ticks every
//! [`TICK_INTERVAL`] and hands reports to the integrator.
//!
//! At startup it feeds the lease end and the assignment records left by an earlier life
//! (see `records.rs`), so that unassigned leftovers get stopped and assigned ones are
//! probed and adopted instead of started twice.
//!
//! Shutdown stops no resource: the agent restarting (an upgrade, a crash) must not bounce
//! services. Unique resources stay safe because the lease still bounds them; the next
//! agent adopts them. Shutdown waits for running operations, up to [`SHUTDOWN_GRACE`], and
//! joins every task it started.

mod records;
#[cfg(test)]
mod tests;

use crate::clock::Now;
use crate::executor::Executor;
use crate::hooks::{CloneNotifier, InstanceHooks, NotifyCall};
use crate::limits::{
    EXIT_QUEUE_MAX, FENCE_MARGIN_DEFAULT, IDLE_LEASE_RECORD_EVERY, IDLE_TICK_INTERVAL,
    NOTIFY_ROUND_MAX, NOTIFY_RUNNING_MAX, OPERATION_BACKSTOP_GRACE, PREPARE_STOP_MAX,
    REPORT_QUEUE_MAX, SHUTDOWN_GRACE, TICK_INTERVAL,
};
use crate::types::{Assignment, Command, Event, InstanceView, OperationKind, OperationRecord};
use model::{BootMs, Resource, ResourceId};
use resource_agents::{NotifyKind, NotifyOperation};
use resource_agents::{OperationRequest, Outcome, ResourceAgent, Severity};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::{AbortHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// The resource agents of this node, by type name: created on first use with
/// `resource_agents::builtin` and kept, since the process agent owns the tasks that reap
/// its children; user types' agents are built from their definitions
/// ([`Event::UserTypes`]) around one shared supervisor.
pub struct Agents {
    ocf_root: PathBuf,
    by_type: HashMap<String, Arc<dyn ResourceAgent>>,
    // --- types ---
    /// The one supervisor of every user type's processes: rebuilding a type's agent keeps
    /// supervising what the old one started.
    supervisor: Arc<resource_agents::ProcessAgent>,
    /// The user types whose agents are in `by_type`, as they were built.
    user_types: HashMap<String, model::TypeWithRoles>,
}

impl Agents {
    /// No agent yet; OCF scripts are looked up under `ocf_root` (usually `/usr/lib/ocf`).
    pub fn new(ocf_root: impl Into<PathBuf>) -> Agents {
        Agents {
            ocf_root: ocf_root.into(),
            by_type: HashMap::new(),
            supervisor: Arc::new(resource_agents::ProcessAgent::new()),
            user_types: HashMap::new(),
        }
    }

    /// Builds an agent for every new or changed user type and drops those of types that
    /// are gone; returns the agents built, whose schema the executor must learn again.
    fn set_user_types(&mut self, types: &[model::TypeWithRoles]) -> Vec<Arc<dyn ResourceAgent>> {
        let wanted: HashMap<&str, &model::TypeWithRoles> = types
            .iter()
            .map(|t| (t.definition.name.as_str(), t))
            .collect();
        let gone: Vec<String> = self
            .user_types
            .keys()
            .filter(|name| !wanted.contains_key(name.as_str()))
            .cloned()
            .collect();
        for name in gone {
            self.user_types.remove(&name);
            self.by_type.remove(&name);
        }
        let mut built = Vec::new();
        for defined in types {
            let name = &defined.definition.name;
            if self.user_types.get(name) == Some(defined) {
                continue;
            }
            let agent = resource_agents::UserTypeAgent::new(
                defined.definition.clone(),
                Arc::clone(&self.supervisor),
            )
            .with_roles(defined.roles.clone());
            let agent: Arc<dyn ResourceAgent> = Arc::new(agent);
            tracing::info!(type_name = %name, "Resource type defined");
            self.by_type.insert(name.clone(), Arc::clone(&agent));
            // A promoted role's agent wraps the type's: built again over the new one.
            let role = format!("{}{name}", model::promotable::ROLE_TYPE_PREFIX);
            self.by_type.remove(&role);
            self.user_types.insert(name.clone(), defined.clone());
            built.push(agent);
        }
        built
    }

    /// The status text the agents know for `resource`'s running instance (systemd's
    /// `STATUS=`): every agent is asked, since the instance's type is not at hand.
    fn status_text(&self, resource: &ResourceId) -> Option<String> {
        let supervisor: &dyn ResourceAgent = self.supervisor.as_ref();
        std::iter::once(supervisor)
            .chain(self.by_type.values().map(|agent| agent.as_ref()))
            .find_map(|agent| agent.status_text(resource))
    }

    /// Uses `agent` for its type instead of the built-in one (a fake in tests or the
    /// simulator, or an agent the integrator also uses elsewhere).
    pub fn insert(&mut self, agent: Arc<dyn ResourceAgent>) {
        self.by_type.insert(agent.type_name().to_owned(), agent);
    }

    /// The agent for `type_name`, and whether it was just created.
    fn get(&mut self, type_name: &str) -> Result<(Arc<dyn ResourceAgent>, bool), String> {
        if let Some(agent) = self.by_type.get(type_name) {
            return Ok((Arc::clone(agent), false));
        }
        if let Some(base) = type_name.strip_prefix(model::promotable::ROLE_TYPE_PREFIX) {
            // The promoted role of a promotable resource runs through its type's agent.
            let (inner, _) = self.get(base)?;
            let role: Arc<dyn ResourceAgent> = Arc::new(resource_agents::PromotedRole::new(inner));
            self.by_type.insert(type_name.to_owned(), Arc::clone(&role));
            return Ok((role, true));
        }
        let agent = match resource_agents::builtin(type_name, &self.ocf_root) {
            Ok(agent) => agent,
            // Perhaps a user type not defined here yet: what its pid file records can still
            // be monitored and stopped. Not kept, so the real agent replaces it.
            Err(error) => {
                let stand_in = resource_agents::UndefinedTypeAgent::new(
                    type_name,
                    error.to_string(),
                    Arc::clone(&self.supervisor),
                );
                return Ok((Arc::new(stand_in), false));
            }
        };
        self.by_type
            .insert(type_name.to_owned(), Arc::clone(&agent));
        Ok((agent, true))
    }
}

/// Where and as whom the runtime runs operations.
#[derive(Debug)]
pub struct RuntimeConfig {
    /// Each resource gets `state_root/<resource id>` as its state directory; the runtime
    /// also keeps its records there. It must survive agent restarts.
    pub state_root: PathBuf,
    /// This node's name, given to resource agents.
    pub node_name: String,
    /// The clocks of `now`: the boot clock (also the lease's `valid_until`) and the wall
    /// clock for reports. The boot clock must be the same across agent restarts and for the
    /// lease watchdogs, for the recorded lease to mean anything: [`crate::system_now`]'s is
    /// `CLOCK_BOOTTIME`.
    pub clock: fn() -> Now,
    /// Where to publish every instance's view after each change, for `status` and
    /// debugging; `None` publishes nothing.
    pub status: Option<watch::Sender<Status>>,
    /// The application protocol server of this node, if any: it gives each started
    /// instance its environment, drains it before a stop, and adds its reported health to
    /// monitors (see [`InstanceHooks`]).
    pub hooks: Option<Arc<dyn InstanceHooks>>,
    /// Told of every finished operation and how long it took (the agent's metrics: monitor
    /// latency, restarts); `None` tells no one.
    pub observer: Option<Arc<dyn OperationObserver>>,
    // --- notify ---
    /// Sends clone notifications around this node's starts, stops, promotions and
    /// demotions of clones that take them; `None` sends none.
    pub notifier: Option<Arc<dyn CloneNotifier>>,
    /// Notifications for this node's instances, from any node's notifier; the runtime runs
    /// each through the instance's resource agent.
    pub notify_calls: Option<mpsc::Receiver<NotifyCall>>,
}

/// Hears of every finished operation: its resource, kind, whether it succeeded and how
/// long it took on the boot clock (to the millisecond). Must return at once.
pub trait OperationObserver: Send + Sync + std::fmt::Debug {
    /// `operation` of `resource` ended, `ok` or not, after `took`.
    fn finished(&self, resource: &ResourceId, operation: OperationKind, ok: bool, took: Duration);
}

/// Every instance the executor knows, by resource id.
pub type Status = BTreeMap<ResourceId, InstanceView>;

/// Runs `executor` until `shutdown` is cancelled, then returns it.
///
/// `inputs` carries assignments and leases from the integrator; if it closes, the runtime
/// keeps monitoring and fencing until shutdown, since stopping silently would leave unique
/// resources running past their lease. Reports wait in a bounded queue while `reports` is
/// full; past [`REPORT_QUEUE_MAX`] the oldest are dropped, with a warning.
pub async fn run(
    executor: Executor,
    agents: Agents,
    config: RuntimeConfig,
    mut inputs: mpsc::Receiver<Event>,
    reports: mpsc::Sender<OperationRecord>,
    shutdown: CancellationToken,
) -> Executor {
    let (exits_sender, mut exits) = mpsc::channel(EXIT_QUEUE_MAX);
    let mut config = config;
    let mut notify_calls = config.notify_calls.take();
    let mut runtime = Runtime {
        executor,
        agents,
        config,
        tasks: JoinSet::new(),
        running: HashMap::new(),
        pending: VecDeque::new(),
        watchers: JoinSet::new(),
        exits_sender,
        watchers_stop: shutdown.child_token(),
        recorded_lease: None,
        notifications: JoinSet::new(),
        deferred: Vec::new(),
    };
    runtime.watch_inserted_agents();
    runtime.recover();
    let mut next_tick = tokio::time::Instant::now();
    let mut inputs_open = true;
    loop {
        // An idle machine is ticked rarely; one that has work again within a tick.
        if !runtime.is_idle() {
            next_tick = next_tick.min(tokio::time::Instant::now() + TICK_INTERVAL);
        }
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            Some(joined) = runtime.tasks.join_next_with_id() => runtime.joined(joined),
            Some(resource) = exits.recv() => runtime.feed(Event::Exited(resource)),
            Some(call) = next_call(&mut notify_calls) => runtime.notify_call(call),
            Some(_) = runtime.notifications.join_next() => {}
            event = inputs.recv(), if inputs_open => match event {
                Some(event) => runtime.feed(event),
                None => {
                    tracing::warn!("Executor inputs closed, monitoring and fencing go on");
                    inputs_open = false;
                }
            },
            () = tokio::time::sleep_until(next_tick) => {
                runtime.feed(Event::Tick);
                let every = if runtime.is_idle() { IDLE_TICK_INTERVAL } else { TICK_INTERVAL };
                next_tick = tokio::time::Instant::now() + every;
            }
            permit = reports.reserve(), if !runtime.pending.is_empty() => match permit {
                Ok(permit) => permit.send(runtime.pending.pop_front().expect("not empty")),
                Err(_) => {
                    tracing::warn!(dropped = runtime.pending.len(), "Report receiver gone");
                    runtime.pending.clear();
                }
            },
        }
    }
    runtime.shut_down().await;
    runtime.executor
}

/// The next notification for this node, if anyone sends them.
async fn next_call(calls: &mut Option<mpsc::Receiver<NotifyCall>>) -> Option<NotifyCall> {
    match calls {
        Some(calls) => calls.recv().await,
        None => std::future::pending().await,
    }
}

/// What a running operation is about, to turn a panic into an outcome.
struct Running {
    resource: ResourceId,
    operation: OperationKind,
    fencing_token: u64,
    started_at: BootMs,
    abort: AbortHandle,
    /// The clone notification to send once it succeeded.
    post: Option<Notice>,
}

/// A clone notification about this node's instance of `resource` (the clone itself).
#[derive(Clone)]
struct Notice {
    notifier: Arc<dyn CloneNotifier>,
    resource: Resource,
    operation: NotifyOperation,
}

impl Notice {
    /// The notification of `run`, if its agent takes them: a start or stop of a clone,
    /// or a start (promote) or stop (demote) of a promoted role.
    fn of(
        notifier: Option<&Arc<dyn CloneNotifier>>,
        agent: &dyn ResourceAgent,
        run: &RunSpec,
    ) -> Option<Notice> {
        let notifier = notifier?;
        let role = model::promotable::base_of(&run.resource.id);
        let operation = match (run.operation, role.is_some()) {
            (OperationKind::Start, false) => NotifyOperation::Start,
            (OperationKind::Stop, false) => NotifyOperation::Stop,
            (OperationKind::Start, true) => NotifyOperation::Promote,
            (OperationKind::Stop, true) => NotifyOperation::Demote,
            (OperationKind::Monitor | OperationKind::Reload, _) => return None,
        };
        let resource = match role {
            Some(base) => {
                let prefix = model::promotable::ROLE_TYPE_PREFIX;
                let type_name = run.resource.type_name.strip_prefix(prefix)?;
                Resource {
                    id: base,
                    type_name: type_name.to_owned(),
                    unique: false,
                    clone: Some(model::CloneOptions::default()),
                    ..run.resource.clone()
                }
            }
            None if run.resource.clone.is_some() => run.resource.clone(),
            None => return None,
        };
        agent.notifies(&run.resource.params).then(|| Notice {
            notifier: Arc::clone(notifier),
            resource,
            operation,
        })
    }

    async fn send(&self, kind: NotifyKind, within: Duration) {
        self.notifier
            .notify(&self.resource, self.operation, kind, within)
            .await;
    }
}

struct Runtime {
    executor: Executor,
    agents: Agents,
    config: RuntimeConfig,
    tasks: JoinSet<Event>,
    running: HashMap<tokio::task::Id, Running>,
    pending: VecDeque<OperationRecord>,
    watchers: JoinSet<()>,
    exits_sender: mpsc::Sender<ResourceId>,
    watchers_stop: CancellationToken,
    /// The lease last written to `executor-lease.json`, and when (`record_lease`).
    recorded_lease: Option<(BootMs, BootMs)>,
    /// Clone notifications running: post-notifications of this node's operations and
    /// notifications of this node's instances (`notify_call`).
    notifications: JoinSet<()>,
    /// Stops waiting for an operation of one of their promoted roles (`spawn`).
    deferred: Vec<RunSpec>,
}

impl Runtime {
    /// Feeds what an earlier life left: the lease first, so found unique resources it
    /// still covers are not fenced, then the records.
    fn recover(&mut self) {
        let now = (self.config.clock)();
        if let Some(valid_until) = records::read_lease(&self.config.state_root, now) {
            self.feed(Event::Lease { valid_until });
        }
        let scan = records::scan(&self.config.state_root);
        if !scan.found.is_empty() {
            let count = scan.found.len();
            tracing::info!(count, "Found resources from an earlier agent");
        }
        self.feed(Event::Found(scan.found));
        self.feed(Event::Spent(scan.spent));
    }

    fn feed(&mut self, event: Event) {
        if let Event::UserTypes(types) = &event {
            for agent in self.agents.set_user_types(types) {
                self.describe(&agent);
            }
        }
        // Ticks and exit hints change nothing visible unless they lead to commands.
        let visible = !matches!(event, Event::Tick | Event::Exited(_));
        let now = (self.config.clock)();
        if let (
            Some(observer),
            Event::OperationDone {
                resource,
                operation,
                outcome,
                started_at,
                ..
            },
        ) = (&self.config.observer, &event)
        {
            let took = Duration::from_millis(now.boot.0.saturating_sub(started_at.0));
            observer.finished(resource, *operation, outcome.is_ok(), took);
        }
        let mut commands = self.executor.handle(event, now);
        self.record_lease(now.boot);
        let changed = visible || !commands.is_empty();
        // A promoted role's operations first: a stop of its base that comes with them waits
        // for them (`spawn`), so the instance is demoted before it is stopped.
        commands.sort_by_key(|command| {
            !matches!(command, Command::Run { resource, .. }
                if model::promotable::base_of(&resource.id).is_some())
        });
        for command in commands {
            self.carry_out(command);
        }
        if changed && let Some(status) = &self.config.status {
            let agents = &self.agents;
            status.send_replace(
                self.executor
                    .instances()
                    .map(|(id, mut view)| {
                        if view.state == crate::InstanceState::Running {
                            view.status_text = agents.status_text(id);
                        }
                        (id.clone(), view)
                    })
                    .collect(),
            );
        }
    }

    /// Whether a tick could change anything: the machine knows no instance and no
    /// operation runs.
    fn is_idle(&self) -> bool {
        self.executor.is_idle() && self.tasks.is_empty()
    }

    /// Records the newest lease for the watchdogs and a restarted agent: before any command
    /// runs while the node has instances (so a watchdog started by a command reads it), and
    /// at most every [`IDLE_LEASE_RECORD_EVERY`] while idle.
    fn record_lease(&mut self, now: BootMs) {
        let lease = self.executor.lease_valid_until();
        if lease == BootMs(0) || self.recorded_lease.is_some_and(|(until, _)| until == lease) {
            return;
        }
        let recent = self.recorded_lease.is_some_and(|(_, at)| {
            now.0.saturating_sub(at.0) < IDLE_LEASE_RECORD_EVERY.as_millis() as u64
        });
        if self.is_idle() && recent {
            return;
        }
        match records::write_lease(&self.config.state_root, lease) {
            Ok(()) => self.recorded_lease = Some((lease, now)),
            Err(error) => tracing::warn!(error = %error, "Cannot record the lease"),
        }
    }

    fn carry_out(&mut self, command: Command) {
        match command {
            Command::Run {
                resource,
                operation,
                fencing_token,
                timeout,
                interval,
                started_at,
                depth,
            } => {
                let run = RunSpec {
                    resource,
                    operation,
                    fencing_token,
                    timeout,
                    interval,
                    started_at,
                    depth,
                };
                self.spawn(run);
            }
            Command::Cancel { resource } => {
                self.deferred.retain(|run| run.resource.id != resource);
                for running in self.running.values().filter(|r| r.resource == resource) {
                    tracing::debug!(
                        resource = %resource,
                        operation = %running.operation,
                        "Abandoning operation"
                    );
                    running.abort.abort();
                }
            }
            Command::Report(record) => {
                if self.pending.len() >= REPORT_QUEUE_MAX {
                    self.pending.pop_front();
                    tracing::warn!("Report queue full, dropping the oldest report");
                }
                self.pending.push_back(record);
            }
        }
    }

    fn spawn(&mut self, run: RunSpec) {
        // As Pacemaker orders it, an instance is demoted before it stops: the master may send
        // both at once, and a stop first would end the application before it answers its
        // demote. The stop waits while an operation of one of its roles runs here.
        if run.operation == OperationKind::Stop && self.role_busy(&run.resource.id) {
            self.deferred.push(run);
            return;
        }
        let agent = match self.agents.get(&run.resource.type_name) {
            Ok((agent, created)) => {
                if created {
                    self.watch(&agent);
                    self.describe(&agent);
                }
                Ok(agent)
            }
            Err(reason) => Err(reason),
        };
        let state_dir = records::state_dir(&self.config.state_root, &run.resource.id);
        let node_name = self.config.node_name.clone();
        let hooks = self.config.hooks.clone();
        let notice = match &agent {
            Ok(agent) => Notice::of(self.config.notifier.as_ref(), agent.as_ref(), &run),
            Err(_) => None,
        };
        let pre = notice
            .clone()
            .map(|notice| (notice, self.pre_notify_budget(&run)));
        let context = OperationContext {
            node_name,
            hooks,
            pre,
        };
        let resource = run.resource.id.clone();
        let (operation, fencing_token, started_at) =
            (run.operation, run.fencing_token, run.started_at);
        let span = tracing::info_span!(
            "operation",
            resource = %resource,
            %operation,
            token = fencing_token
        );
        let abort = self
            .tasks
            .spawn(operate(agent, state_dir, context, run).instrument(span));
        let running = Running {
            resource,
            operation,
            fencing_token,
            started_at,
            abort,
            post: notice,
        };
        self.running.insert(running.abort.id(), running);
    }

    /// Whether an operation of a promoted role of `base` runs on this node.
    fn role_busy(&self, base: &ResourceId) -> bool {
        self.running
            .values()
            .any(|r| model::promotable::base_of(&r.resource).as_ref() == Some(base))
    }

    /// Starts the deferred stops whose roles are done.
    fn spawn_deferred(&mut self) {
        let (ready, waiting): (Vec<RunSpec>, Vec<RunSpec>) = std::mem::take(&mut self.deferred)
            .into_iter()
            .partition(|run| !self.role_busy(&run.resource.id));
        self.deferred = waiting;
        for run in ready {
            self.spawn(run);
        }
    }

    fn joined(&mut self, joined: Result<(tokio::task::Id, Event), tokio::task::JoinError>) {
        let id = match &joined {
            Ok((id, _)) => *id,
            Err(error) => error.id(),
        };
        let running = self.running.remove(&id);
        if !self.deferred.is_empty() {
            self.spawn_deferred();
        }
        match joined {
            Ok((_, event)) => {
                let done =
                    matches!(&event, Event::OperationDone { outcome, .. } if outcome.is_ok());
                if let Some(notice) = running.and_then(|r| r.post).filter(|_| done) {
                    // After the report, in a task of its own: an operation's end never
                    // waits for the other instances.
                    self.notifications.spawn(async move {
                        notice.send(NotifyKind::Post, NOTIFY_ROUND_MAX).await
                    });
                }
                self.feed(event)
            }
            Err(error) if error.is_cancelled() => {}
            Err(error) => {
                // A panicking resource agent is a bug; the operation still needs an outcome.
                let Some(running) = running else {
                    tracing::error!(error = %error, "Reading a resource type's schema panicked");
                    return;
                };
                tracing::error!(resource = %running.resource, error = %error, "Operation panicked");
                self.feed(Event::OperationDone {
                    resource: running.resource,
                    operation: running.operation,
                    fencing_token: running.fencing_token,
                    outcome: Outcome::failed(Severity::Hard, "the resource agent panicked"),
                    started_at: running.started_at,
                    ended_at: None,
                });
            }
        }
    }

    fn watch_inserted_agents(&mut self) {
        let supervisor: Arc<dyn ResourceAgent> = self.agents.supervisor.clone();
        self.watch(&supervisor);
        let agents: Vec<_> = self.agents.by_type.values().cloned().collect();
        for agent in agents {
            self.watch(&agent);
            self.describe(&agent);
        }
        if let Some(events) = self.config.hooks.as_ref().and_then(|h| h.health_events()) {
            self.forward_hints(events);
        }
    }

    /// Reads the agent's schema in a task and feeds it as [`Event::Schema`]: it says which
    /// parameter changes a running instance of the type can take by a reload.
    fn describe(&mut self, agent: &Arc<dyn ResourceAgent>) {
        let agent = Arc::clone(agent);
        self.tasks.spawn(async move {
            let schema = agent.meta().await.ok();
            Event::Schema {
                type_name: agent.type_name().to_owned(),
                schema,
            }
        });
    }

    /// Forwards the agent's process-exit hints, if it has any, until shutdown.
    fn watch(&mut self, agent: &Arc<dyn ResourceAgent>) {
        if let Some(exit_events) = agent.exit_events() {
            self.forward_hints(exit_events);
        }
    }

    /// Forwards hints that a resource needs a monitor now, until shutdown.
    fn forward_hints(&mut self, mut exit_events: broadcast::Receiver<ResourceId>) {
        let exits = self.exits_sender.clone();
        let stop = self.watchers_stop.clone();
        self.watchers.spawn(async move {
            loop {
                let resource = tokio::select! {
                    () = stop.cancelled() => return,
                    received = exit_events.recv() => match received {
                        Ok(resource) => resource,
                        // Hints only: a lost one delays detection to the next monitor.
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                };
                if exits.send(resource).await.is_err() {
                    return;
                }
            }
        });
    }

    /// How long an operation of `run` may wait for its pre-notifications: a stop or start
    /// of a unique resource (a promoted role) never waits past its lease's fence margin,
    /// so a notification cannot delay a demote at the lease's end (zero skips them).
    fn pre_notify_budget(&self, run: &RunSpec) -> Duration {
        if !run.resource.unique {
            return NOTIFY_ROUND_MAX;
        }
        let now = (self.config.clock)().boot;
        let left = self.executor.lease_valid_until().0.saturating_sub(now.0);
        let left = Duration::from_millis(left).saturating_sub(FENCE_MARGIN_DEFAULT * 2);
        left.min(NOTIFY_ROUND_MAX)
    }

    /// Runs a notification for this node's instance, as another node's notifier asked.
    fn notify_call(&mut self, call: NotifyCall) {
        let running = self.executor.instances().any(|(id, view)| {
            *id == call.resource.id && view.state == crate::InstanceState::Running
        });
        let token = self
            .executor
            .instances()
            .find(|(id, _)| **id == call.resource.id)
            .map_or(0, |(_, view)| view.fencing_token);
        if !running {
            let _ = call.answer.send(Outcome::NotRunning);
            return;
        }
        if self.notifications.len() >= NOTIFY_RUNNING_MAX {
            let busy = Outcome::failed(Severity::Soft, "too many notifications at once");
            let _ = call.answer.send(busy);
            return;
        }
        let agent = match self.agents.get(&call.resource.type_name) {
            Ok((agent, _)) => agent,
            Err(reason) => {
                let _ = call.answer.send(Outcome::failed(Severity::Hard, reason));
                return;
            }
        };
        let state_dir = match records::state_dir(&self.config.state_root, &call.resource.id) {
            Ok(state_dir) => state_dir,
            Err(reason) => {
                let _ = call.answer.send(Outcome::failed(Severity::Hard, reason));
                return;
            }
        };
        let request = OperationRequest {
            resource: call.resource.id.clone(),
            params: call.resource.params.clone(),
            timeout: call.timeout,
            interval: Duration::ZERO,
            state_dir,
            node_name: self.config.node_name.clone(),
            fencing_token: token,
            unique: false,
            depth: 0,
            env: call.env,
        };
        let answer = call.answer;
        let span = tracing::info_span!("notify", resource = %request.resource);
        self.notifications.spawn(
            async move {
                let bound = request.timeout + OPERATION_BACKSTOP_GRACE;
                let outcome = tokio::time::timeout(bound, agent.notify(&request))
                    .await
                    .unwrap_or(Outcome::Timeout);
                let _ = answer.send(outcome);
            }
            .instrument(span),
        );
    }

    async fn shut_down(&mut self) {
        self.notifications.shutdown().await;
        self.watchers_stop.cancel();
        let waited = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if waited.is_err() {
            tracing::warn!(
                count = self.tasks.len(),
                "Abandoning operations still running at shutdown"
            );
            self.tasks.shutdown().await;
        }
        while self.watchers.join_next().await.is_some() {}
        self.running.clear();
    }
}

/// One operation to run, as the state machine asked.
struct RunSpec {
    resource: Resource,
    operation: OperationKind,
    fencing_token: u64,
    timeout: Duration,
    interval: Duration,
    started_at: BootMs,
    depth: u32,
}

/// What an operation gets besides its spec: the node, the application hooks, and the
/// clone notification to send before it, with how long it may wait for it.
struct OperationContext {
    node_name: String,
    hooks: Option<Arc<dyn InstanceHooks>>,
    pre: Option<(Notice, Duration)>,
}

/// Runs one operation and turns it into the event that reports its end.
async fn operate(
    agent: Result<Arc<dyn ResourceAgent>, String>,
    state_dir: Result<PathBuf, String>,
    context: OperationContext,
    run: RunSpec,
) -> Event {
    let OperationContext {
        node_name,
        hooks,
        pre,
    } = context;
    let mut ended_at = None;
    let outcome = match (agent, state_dir) {
        (Ok(agent), Ok(state_dir)) => {
            // A start registers the instance with the hooks, which give its environment.
            let env = match &hooks {
                // A promoted role is no instance of its own: its resource's instance is.
                Some(hooks)
                    if run.operation == OperationKind::Start
                        && model::promotable::base_of(&run.resource.id).is_none() =>
                {
                    hooks.starting(&run.resource, run.fencing_token, &state_dir)
                }
                _ => Vec::new(),
            };
            let request = OperationRequest {
                resource: run.resource.id.clone(),
                params: run.resource.params.clone(),
                timeout: run.timeout,
                interval: run.interval,
                state_dir,
                node_name,
                fencing_token: run.fencing_token,
                unique: run.resource.unique,
                depth: run.depth,
                env,
            };
            if let Some((notice, within)) = pre.filter(|(_, within)| !within.is_zero()) {
                notice.send(NotifyKind::Pre, within).await;
            }
            let outcome = with_hooks(hooks.as_deref(), agent.as_ref(), &run, &request).await;
            // A lease watchdog that fenced the instance while this agent hung left the time
            // it did; the stop reports it as the instance's end.
            if run.operation == OperationKind::Stop
                && matches!(outcome, Outcome::Ok | Outcome::NotRunning)
            {
                ended_at = resource_agents::take_fenced_at(&request.state_dir)
                    .map(|fenced_at| fenced_at.wall);
            }
            outcome
        }
        // Nothing can have started without an agent or a state directory, so a stop
        // succeeds and a monitor finds nothing; only a start fails.
        (Err(reason), _) | (_, Err(reason)) => match run.operation {
            OperationKind::Start => Outcome::failed(Severity::Fatal, reason),
            OperationKind::Stop => Outcome::Ok,
            OperationKind::Monitor => Outcome::NotRunning,
            OperationKind::Reload => Outcome::failed(Severity::Fatal, reason),
        },
    };
    log_outcome(&run, &outcome);
    Event::OperationDone {
        resource: run.resource.id,
        operation: run.operation,
        fencing_token: run.fencing_token,
        outcome,
        started_at: run.started_at,
        ended_at,
    }
}

/// The operation, with the application told before a stop and asked after a monitor.
async fn with_hooks(
    hooks: Option<&dyn InstanceHooks>,
    agent: &dyn ResourceAgent,
    run: &RunSpec,
    request: &OperationRequest,
) -> Outcome {
    let Some(hooks) = hooks else {
        return bounded_operation(agent, run, request).await;
    };
    let resource = &request.resource;
    if let Some(base) = model::promotable::base_of(resource) {
        if let Some(outcome) = role_through_application(hooks, &base, run, request).await {
            return outcome;
        }
        return bounded_operation(agent, run, request).await;
    }
    match run.operation {
        OperationKind::Stop => {
            // The drain comes out of the stop's own time, so the stop still ends in time.
            let deadline = (request.timeout / 2).min(PREPARE_STOP_MAX);
            let began = tokio::time::Instant::now();
            hooks.prepare_stop(resource, deadline).await;
            let mut rest = request.clone();
            rest.timeout = request.timeout.saturating_sub(began.elapsed());
            let outcome = bounded_operation(agent, run, &rest).await;
            if matches!(outcome, Outcome::Ok | Outcome::NotRunning) {
                hooks.stopped(resource);
            }
            outcome
        }
        OperationKind::Monitor => {
            let outcome = bounded_operation(agent, run, request).await;
            match hooks.health_failure(resource, run.fencing_token) {
                Some(reason) if outcome.is_ok() => Outcome::failed(
                    Severity::Soft,
                    format!("the application reported a failure: {reason}"),
                ),
                _ => outcome,
            }
        }
        OperationKind::Reload => {
            match hooks
                .offer_params(resource, &request.params, request.timeout)
                .await
            {
                // The application applied them itself: the new definition now runs.
                Some(Ok(())) => {
                    let assignment = Assignment {
                        resource: run.resource.clone(),
                        fencing_token: run.fencing_token,
                    };
                    if let Err(error) = records::write_assignment(&request.state_dir, &assignment) {
                        tracing::warn!(error = %error, "Cannot record the reloaded assignment");
                    }
                    Outcome::Ok
                }
                Some(Err(reason)) => Outcome::failed(
                    Severity::Soft,
                    format!("the application rejected the new parameters: {reason}"),
                ),
                None => bounded_operation(agent, run, request).await,
            }
        }
        OperationKind::Start => bounded_operation(agent, run, request).await,
    }
}

/// An operation of the promoted role of `base` (start is promote, stop demote) through
/// the application of `base`'s instance, when it speaks the protocol: its answer is the
/// outcome. `None` when it does not (the role's resource agent runs it then).
async fn role_through_application(
    hooks: &dyn InstanceHooks,
    base: &ResourceId,
    run: &RunSpec,
    request: &OperationRequest,
) -> Option<Outcome> {
    let promote = match run.operation {
        OperationKind::Start => true,
        OperationKind::Stop => false,
        OperationKind::Monitor => {
            return hooks.promoted(base).map(|promoted| {
                if promoted {
                    Outcome::Ok
                } else {
                    Outcome::NotRunning
                }
            });
        }
        OperationKind::Reload => return None,
    };
    if promote {
        let assignment = Assignment {
            resource: run.resource.clone(),
            fencing_token: run.fencing_token,
        };
        if let Err(error) = records::write_assignment(&request.state_dir, &assignment) {
            tracing::warn!(error = %error, "Cannot record the role's assignment");
        }
    }
    let what = if promote { "promote" } else { "demote" };
    match hooks.change_role(base, promote, request.timeout).await? {
        Ok(()) => Some(Outcome::Ok),
        Err(reason) => Some(Outcome::failed(
            Severity::Soft,
            format!("the application failed to {what}: {reason}"),
        )),
    }
}

/// The operation, with the record kept up to date and a backstop past its own timeout.
async fn bounded_operation(
    agent: &dyn ResourceAgent,
    run: &RunSpec,
    request: &OperationRequest,
) -> Outcome {
    if run.operation == OperationKind::Start {
        let assignment = Assignment {
            resource: run.resource.clone(),
            fencing_token: run.fencing_token,
        };
        if let Err(error) = records::write_assignment(&request.state_dir, &assignment) {
            let reason = format!(
                "cannot record the assignment in {}: {error}",
                request.state_dir.display()
            );
            return Outcome::failed(Severity::Hard, reason);
        }
    }
    let operation = async {
        match run.operation {
            OperationKind::Start => agent.start(request).await,
            OperationKind::Stop => agent.stop(request).await,
            OperationKind::Monitor => agent.monitor(request).await,
            OperationKind::Reload => agent.reload(request).await,
        }
    };
    let backstop = run.timeout.saturating_add(OPERATION_BACKSTOP_GRACE);
    let outcome = tokio::time::timeout(backstop, operation)
        .await
        .unwrap_or(Outcome::Timeout);
    // A reloaded instance runs its new definition: a later agent stops or adopts that one.
    if run.operation == OperationKind::Reload && outcome.is_ok() {
        let assignment = Assignment {
            resource: run.resource.clone(),
            fencing_token: run.fencing_token,
        };
        if let Err(error) = records::write_assignment(&request.state_dir, &assignment) {
            let dir = request.state_dir.display();
            tracing::warn!(dir = %dir, error = %error, "Cannot record the reloaded assignment");
        }
    }
    if run.operation == OperationKind::Stop && matches!(outcome, Outcome::Ok | Outcome::NotRunning)
    {
        let stopped = Assignment {
            resource: run.resource.clone(),
            fencing_token: run.fencing_token,
        };
        if let Err(error) = records::write_stopped(&request.state_dir, &stopped) {
            // The stop is not reported as done: a restart could otherwise start the
            // resource again under a grant the master already counts as released.
            let reason = format!(
                "stopped, but cannot record it in {}: {error}",
                request.state_dir.display()
            );
            return Outcome::failed(Severity::Hard, reason);
        }
    }
    outcome
}

fn log_outcome(run: &RunSpec, outcome: &Outcome) {
    let resource = &run.resource.id;
    let token = run.fencing_token;
    match (run.operation, outcome) {
        (OperationKind::Start, Outcome::Ok) => {
            tracing::info!(resource = %resource, token, "Resource started");
        }
        (OperationKind::Reload, Outcome::Ok) => {
            tracing::info!(resource = %resource, token, "Resource reloaded");
        }
        (OperationKind::Stop, Outcome::Ok | Outcome::NotRunning) => {
            tracing::info!(resource = %resource, token, "Resource stopped");
        }
        (OperationKind::Monitor, Outcome::Ok | Outcome::NotRunning) => {
            tracing::debug!(resource = %resource, token, outcome = %outcome, "Resource monitored");
        }
        (operation, outcome) => {
            tracing::warn!(
                resource = %resource,
                token,
                operation = %operation,
                outcome = %outcome,
                "Operation failed"
            );
        }
    }
}
