//! One resource on this node: what it is doing, what it should do next, and how an
//! operation's outcome changes it.
//!
//! The decision table, applied only while no operation runs for the resource:
//!
//! | state            | wanted here?                  | next step                      |
//! |------------------|-------------------------------|--------------------------------|
//! | Running          | no (fenced)                   | stop                           |
//! | Running          | no (unassigned)               | stop, once its drain is over   |
//! | Running          | yes, under a newer token      | stop (then start: a restart)   |
//! | Running          | yes, reloadable params changed| reload, under the same grant   |
//! | Running          | yes, other params changed     | stop (grant spent: a restart)  |
//! | Running          | yes, same token               | monitor when due or on exit    |
//! | Failed           | any                           | stop, to clean up              |
//! | Unknown          | no                            | stop                           |
//! | Unknown          | yes, token spent              | stop (then a new grant starts) |
//! | Unknown          | yes                           | probe (one-shot monitor)       |
//! | Stopped          | yes, token not spent          | start                          |
//!
//! An instance is unknown when found in a state directory, or after an abandoned start. A
//! start in flight is abandoned (the runtime cancels it) when the lease is ending, when its
//! grant is withdrawn, and when the assigned parameters are no longer those it started
//! with: the instance is then stopped at once rather than after the start ends (which may
//! be never, for a start waiting on a probe that does not answer). After a parameter
//! change its grant counts as spent, so the master's new grant starts the new definition.
//!
//! A running instance whose type or parameters change (`model::change_effect`, with the
//! type's schema from [`crate::Event::Schema`]) is reloaded when the type can reload every
//! changed parameter: the reload runs under the same grant, and only its success makes the
//! new definition the running one. Any other change stops it under its grant, which spends
//! the grant, so the master's next grant starts the new definition: old and new never run
//! at once. A change of options only (timeouts, intervals, drain) applies at once.
//!
//! An instance of a user-defined type is monitored by its type's two checks at their own
//! intervals and timeouts (LooksAlive at depth 0, IsAlive deeper), not by the resource's
//! monitor options; when the type's command changes it is stopped under its grant.
//!
//! "Wanted" means assigned, and for a unique resource also a lease that is valid for more
//! than the fence margin. A token is *spent* once the instance failed under it, or was
//! stopped while still assigned under it (self-fencing when the lease ran out): the
//! executor never restarts by itself, the master decides with a new token (this keeps the
//! fail counts in one place, the cmdb, and the master's view of who may run what exact).
//! The drain (the resource's `drain` option, zero by default) starts when a running
//! instance's grant is withdrawn; it keeps the instance running, unmonitored, so that load
//! balancers following the resource can let its requests in flight finish. A new grant ends
//! it, and a lease that is ending overrides it.

use crate::clock::Now;
use crate::limits::{FENCE_STOP_TIMEOUT_MIN, REASON_BYTES_MAX, STOP_RETRY_INITIAL, STOP_RETRY_MAX};
use crate::types::{
    Assignment, Command, InstanceState, InstanceView, OperationKind, OperationRecord,
};
use model::{BootMs, ChangeEffect, Millis, ParamSchema, Resource, change_effect};
use resource_agents::{Outcome, Severity};
use std::time::Duration;

/// What the whole node knows when deciding for one instance.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Context {
    pub(crate) now: Now,
    /// The lease is valid for more than the fence margin.
    pub(crate) lease_ok: bool,
    pub(crate) lease_valid_until: BootMs,
    /// At least one assignment set arrived, so "unassigned" means "stop it".
    pub(crate) assignments_known: bool,
}

/// How an instance of a user-defined type is monitored: two checks at their own
/// intervals and depths (MSCS's LooksAlive and IsAlive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CheckPlan {
    /// The cheap, frequent check (depth 0).
    pub(crate) shallow: Cadence,
    /// The thorough, rarer check (`resource_agents::DEPTH_THOROUGH`).
    pub(crate) deep: Cadence,
}

/// How often one check runs and how long it may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cadence {
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
}

impl CheckPlan {
    /// The plan of a user type's two checks.
    pub(crate) fn of(definition: &model::UserType) -> CheckPlan {
        let cadence = |check: &model::HealthCheck| Cadence {
            interval: check.interval,
            timeout: check.timeout,
        };
        CheckPlan {
            shallow: cadence(&definition.looks_alive),
            deep: cadence(&definition.is_alive),
        }
    }
}

/// The next operation for an idle instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    Stop {
        fence: bool,
    },
    Start,
    Monitor {
        probe: bool,
    },
    /// Apply reloadable parameter changes to the running instance.
    Reload,
}

impl Step {
    /// Lower runs first when more operations are due than may run at once: safety first.
    pub(crate) fn priority(self) -> u8 {
        match self {
            Step::Stop { fence: true } => 0,
            Step::Stop { fence: false } => 1,
            Step::Start | Step::Reload => 2,
            Step::Monitor { probe: true } => 3,
            Step::Monitor { probe: false } => 4,
        }
    }
}

/// Why a running operation is abandoned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Preempt {
    /// A monitor gives way to a stop.
    ForStop,
    /// The lease is ending: self-fencing.
    LeaseEnding,
    /// The grant of a starting instance was withdrawn, or its resource deleted.
    Withdrawn,
    /// The resource's type or parameters changed while it was starting.
    Redefined,
}

impl Preempt {
    fn reason(self) -> &'static str {
        match self {
            Preempt::ForStop => "abandoned for a stop",
            Preempt::LeaseEnding => "abandoned: the lease was ending",
            Preempt::Withdrawn => "abandoned: grant withdrawn",
            Preempt::Redefined => "abandoned: parameters changed",
        }
    }
}

/// The operation running for an instance.
#[derive(Clone, Debug, PartialEq, Eq)]
struct InFlight {
    operation: OperationKind,
    fencing_token: u64,
    /// Identifies the run (echoed in its answer).
    started_at: BootMs,
    /// For the report.
    started_wall: Millis,
    timeout: Duration,
    probe: bool,
    /// For a reload: the definition the instance runs once it succeeds.
    target: Option<Resource>,
    /// For a monitor: its depth (0 for the cheap check).
    depth: u32,
}

/// When a stop that failed may be tried again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct StopRetry {
    attempts: u32,
    not_before: BootMs,
}

/// One resource on this node.
#[derive(Clone, Debug)]
pub(crate) struct Instance {
    /// The definition the instance was started (or found) with; stops and monitors use it,
    /// so a changed configuration applies from the next start.
    running: Resource,
    /// The grant in the current assignment set.
    assigned: Option<Assignment>,
    state: InstanceState,
    /// The grant the instance runs or last ran under.
    token: u64,
    /// The newest token under which the instance failed: never started again under it.
    spent: Option<u64>,
    in_flight: Option<InFlight>,
    next_monitor_at: Option<BootMs>,
    monitor_requested: bool,
    stop_retry: Option<StopRetry>,
    /// A running instance whose grant was withdrawn stops only at this time (its drain).
    drain_until: Option<BootMs>,
    // --- types ---
    /// For a user-defined type, its two checks; `None` monitors by the resource's options.
    checks: Option<CheckPlan>,
    /// When the thorough check is due next (user types only).
    next_deep_monitor_at: Option<BootMs>,
    /// The type's command changed while the instance ran: stop it under its grant.
    type_changed: bool,
}

impl Instance {
    /// A newly assigned resource with no record on this node: nothing of it runs here.
    pub(crate) fn assigned(assignment: Assignment) -> Instance {
        Instance {
            running: assignment.resource.clone(),
            token: 0,
            assigned: Some(assignment),
            state: InstanceState::Stopped,
            spent: None,
            in_flight: None,
            next_monitor_at: None,
            monitor_requested: false,
            stop_retry: None,
            drain_until: None,
            checks: None,
            next_deep_monitor_at: None,
            type_changed: false,
        }
    }

    /// A resource recorded in a state directory by an earlier life: it may run.
    pub(crate) fn found(record: Assignment) -> Instance {
        Instance {
            running: record.resource,
            token: record.fencing_token,
            assigned: None,
            state: InstanceState::Unknown,
            spent: None,
            in_flight: None,
            next_monitor_at: None,
            monitor_requested: false,
            stop_retry: None,
            drain_until: None,
            checks: None,
            next_deep_monitor_at: None,
            type_changed: false,
        }
    }

    /// The token of the current grant, if any.
    pub(crate) fn assigned_token(&self) -> Option<u64> {
        self.assigned.as_ref().map(|a| a.fencing_token)
    }

    /// Counts every grant up to `token` as spent here (stopped under by an earlier life).
    pub(crate) fn spend(&mut self, token: u64) {
        self.spent = Some(self.spent.map_or(token, |spent| spent.max(token)));
    }

    /// Takes the current grant, `None` when it is withdrawn. A running instance that loses
    /// its grant starts its drain (its `drain` option) now; a new grant ends the drain.
    pub(crate) fn set_assigned(&mut self, assignment: Option<Assignment>, now: BootMs) {
        // The newest definition says how long to drain: an operator may set it on a running
        // resource just before moving it.
        let drain = self
            .assigned
            .as_ref()
            .map_or(self.running.options.drain, |a| a.resource.options.drain);
        self.drain_until = match &assignment {
            Some(_) => None,
            None if self.assigned.is_some()
                && self.state == InstanceState::Running
                && !drain.is_zero() =>
            {
                Some(now.saturating_add(drain))
            }
            None => self.drain_until,
        };
        // Options apply at once; parameters and the type only by a reload or a restart.
        if let Some(assigned) = &assignment
            && change_effect(None, &self.running, &assigned.resource) == ChangeEffect::Options
        {
            self.running = assigned.resource.clone();
        }
        self.assigned = assignment;
    }

    /// Takes the user type's checks (`None` for other types); a running instance that had
    /// no thorough check scheduled gets one.
    pub(crate) fn set_checks(&mut self, checks: Option<CheckPlan>, now: BootMs) {
        self.checks = checks;
        match checks {
            None => self.next_deep_monitor_at = None,
            Some(plan) => {
                if self.state == InstanceState::Running && self.next_deep_monitor_at.is_none() {
                    self.next_deep_monitor_at = Some(now.saturating_add(plan.deep.interval));
                }
            }
        }
    }

    /// The type's command changed: a running instance restarts under a new grant.
    pub(crate) fn type_changed(&mut self) {
        if self.state == InstanceState::Running {
            self.type_changed = true;
        }
    }

    pub(crate) fn is_busy(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Nothing left to do or remember: not assigned, stopped and idle.
    pub(crate) fn is_forgettable(&self) -> bool {
        self.assigned.is_none() && self.state == InstanceState::Stopped && self.in_flight.is_none()
    }

    /// A process of the resource exited: check it as soon as it is idle. An exit during a
    /// start may be the new process dying at once, so it counts too (at worst, the late
    /// hint of an earlier stop costs one needless monitor).
    pub(crate) fn exited(&mut self) {
        let starting = self
            .in_flight
            .as_ref()
            .is_some_and(|in_flight| in_flight.operation == OperationKind::Start);
        if self.state == InstanceState::Running || starting {
            self.monitor_requested = true;
        }
    }

    pub(crate) fn view(&self) -> InstanceView {
        InstanceView {
            state: self.state.clone(),
            fencing_token: self.token,
            assigned_token: self.assigned.as_ref().map(|a| a.fencing_token),
            operation: self.in_flight.as_ref().map(|f| f.operation),
            next_monitor_at: self.next_monitor_at,
            status_text: None,
        }
    }

    /// The type the instance runs as.
    pub(crate) fn type_name(&self) -> &str {
        &self.running.type_name
    }

    fn unique(&self) -> bool {
        // Either definition saying unique is enough: it only makes the executor safer.
        self.running.unique || self.assigned.as_ref().is_some_and(|a| a.resource.unique)
    }

    fn fenced(&self, context: &Context) -> bool {
        self.unique() && !context.lease_ok
    }

    fn wanted(&self, context: &Context) -> bool {
        self.assigned.is_some() && !self.fenced(context)
    }

    /// Whether, and why, the running operation must be abandoned so that a stop can run
    /// now: a monitor gives way to any needed stop; a start to self-fencing, to the
    /// withdrawal of its grant and to a change of what it runs.
    pub(crate) fn must_preempt(
        &self,
        context: &Context,
        schema: Option<&ParamSchema>,
    ) -> Option<Preempt> {
        let in_flight = self.in_flight.as_ref()?;
        match in_flight.operation {
            OperationKind::Stop => None,
            OperationKind::Start if self.fenced(context) => Some(Preempt::LeaseEnding),
            OperationKind::Start => match &self.assigned {
                None => Some(Preempt::Withdrawn),
                Some(assigned) if redefined(&self.running, &assigned.resource) => {
                    Some(Preempt::Redefined)
                }
                Some(_) => None,
            },
            OperationKind::Monitor | OperationKind::Reload => {
                matches!(self.decide(context, schema), Some(Step::Stop { .. }))
                    .then_some(Preempt::ForStop)
            }
        }
    }

    /// Forgets the running operation after a [`Command::Cancel`]. An abandoned start may
    /// have left something running, so the instance becomes unknown and gets stopped; the
    /// start is reported, so the operation log shows every instance that may have run. A
    /// start abandoned for new parameters spends its grant: only a new grant restarts it.
    /// `now` is on the wall clock, for the record.
    pub(crate) fn abandon(&mut self, why: Preempt, now: Millis) -> Option<OperationRecord> {
        let in_flight = self
            .in_flight
            .take()
            .expect("only a running operation is abandoned");
        if in_flight.operation != OperationKind::Start {
            return None;
        }
        self.state = InstanceState::Unknown;
        self.token = in_flight.fencing_token;
        if why == Preempt::Redefined {
            let token = in_flight.fencing_token;
            self.spent = Some(self.spent.map_or(token, |spent| spent.max(token)));
        }
        Some(OperationRecord {
            resource: self.running.id.clone(),
            operation: OperationKind::Start,
            fencing_token: in_flight.fencing_token,
            outcome: Outcome::failed(Severity::Soft, why.reason()),
            started_at: in_flight.started_wall,
            finished_at: now,
            state_after: self.state.clone(),
        })
    }

    /// The next step for an idle instance, per the table in the module documentation.
    pub(crate) fn decide(&self, context: &Context, schema: Option<&ParamSchema>) -> Option<Step> {
        let fenced = self.fenced(context);
        if !context.assignments_known && !fenced {
            return None;
        }
        let wanted = self.wanted(context);
        let stop = Step::Stop { fence: fenced };
        let stop_allowed = self
            .stop_retry
            .is_none_or(|retry| retry.not_before <= context.now.boot);
        match &self.state {
            InstanceState::Running | InstanceState::Unknown if !wanted => {
                // A drain waits, unless the lease is ending: self-fencing never waits.
                let draining = !fenced && self.drain_until.is_some_and(|at| context.now.boot < at);
                (stop_allowed && !draining).then_some(stop)
            }
            InstanceState::Failed { .. } => stop_allowed.then_some(stop),
            InstanceState::Unknown if self.assigned_spent() => stop_allowed.then_some(stop),
            InstanceState::Unknown => Some(Step::Monitor { probe: true }),
            InstanceState::Running => {
                let assigned = self.assigned.as_ref().expect("wanted means assigned");
                if assigned.fencing_token > self.token {
                    return Some(stop);
                }
                if self.type_changed {
                    return stop_allowed.then_some(stop);
                }
                match change_effect(schema, &self.running, &assigned.resource) {
                    ChangeEffect::Restart => return stop_allowed.then_some(stop),
                    ChangeEffect::Reload => return Some(Step::Reload),
                    ChangeEffect::None | ChangeEffect::Options => {}
                }
                let due = [self.next_monitor_at, self.next_deep_monitor_at]
                    .into_iter()
                    .flatten()
                    .any(|at| at <= context.now.boot);
                (self.monitor_requested || due).then_some(Step::Monitor { probe: false })
            }
            InstanceState::Stopped => {
                let assigned = self.assigned.as_ref().filter(|_| wanted)?;
                let token = assigned.fencing_token;
                let fresh = token >= self.token && self.spent.is_none_or(|spent| token > spent);
                fresh.then_some(Step::Start)
            }
        }
    }

    /// Whether the current grant is spent here, so the instance may not run under it.
    fn assigned_spent(&self) -> bool {
        let Some(assigned) = &self.assigned else {
            return false;
        };
        self.spent
            .is_some_and(|spent| assigned.fencing_token <= spent)
    }

    /// Starts `step` and returns the command that runs it.
    pub(crate) fn begin(&mut self, step: Step, context: &Context) -> Command {
        assert!(
            self.in_flight.is_none(),
            "one operation at a time per resource"
        );
        let options = &self.running.options;
        let mut target = None;
        let mut depth = 0;
        let (operation, token, timeout, interval) = match step {
            Step::Start => {
                let assigned = self
                    .assigned
                    .as_ref()
                    .expect("only an assigned resource starts");
                self.running = assigned.resource.clone();
                let timeout = self.running.options.start_timeout;
                (
                    OperationKind::Start,
                    assigned.fencing_token,
                    timeout,
                    Duration::ZERO,
                )
            }
            Step::Stop { fence } => {
                let timeout = if fence {
                    fence_stop_timeout(options.stop_timeout, context)
                } else {
                    options.stop_timeout
                };
                (OperationKind::Stop, self.token, timeout, Duration::ZERO)
            }
            Step::Monitor { probe: true } => {
                // A probe asks about the grant recorded by the earlier life; if the master
                // has granted a newer one since, the adopted instance is then restarted.
                let timeout = options.monitor_timeout;
                (OperationKind::Monitor, self.token, timeout, Duration::ZERO)
            }
            Step::Reload => {
                let assigned = self
                    .assigned
                    .as_ref()
                    .expect("only an assigned resource reloads");
                target = Some(assigned.resource.clone());
                let timeout = assigned.resource.options.start_timeout;
                (OperationKind::Reload, self.token, timeout, Duration::ZERO)
            }
            Step::Monitor { probe: false } => {
                self.monitor_requested = false;
                let (cadence, deep) = self.monitor_cadence(context.now.boot);
                if deep {
                    depth = resource_agents::DEPTH_THOROUGH;
                }
                (
                    OperationKind::Monitor,
                    self.token,
                    cadence.timeout,
                    cadence.interval,
                )
            }
        };
        self.in_flight = Some(InFlight {
            operation,
            fencing_token: token,
            started_at: context.now.boot,
            started_wall: context.now.wall,
            timeout,
            probe: step == Step::Monitor { probe: true },
            target: target.clone(),
            depth,
        });
        Command::Run {
            resource: target.unwrap_or_else(|| self.running.clone()),
            operation,
            fencing_token: token,
            timeout,
            interval,
            started_at: context.now.boot,
            depth,
        }
    }

    /// The cadence of the next recurring monitor, and whether it is the thorough check.
    fn monitor_cadence(&self, now: BootMs) -> (Cadence, bool) {
        match self.checks {
            Some(plan) => {
                let deep = self.next_deep_monitor_at.is_some_and(|at| at <= now);
                (if deep { plan.deep } else { plan.shallow }, deep)
            }
            None => {
                let options = &self.running.options;
                let cadence = Cadence {
                    interval: options.monitor_interval,
                    timeout: options.monitor_timeout,
                };
                (cadence, false)
            }
        }
    }

    /// Applies a finished operation; `None` if it is not the one running (a stale answer,
    /// for example from an abandoned monitor). Returns the record to report, if any, with
    /// `finished_at` (wall clock) as its end; `now` is on the boot clock.
    pub(crate) fn complete(
        &mut self,
        operation: OperationKind,
        fencing_token: u64,
        started_at: BootMs,
        outcome: Outcome,
        now: BootMs,
        finished_at: Millis,
    ) -> Option<Option<OperationRecord>> {
        let in_flight = self.in_flight.as_ref()?;
        let matches = in_flight.operation == operation
            && in_flight.fencing_token == fencing_token
            && in_flight.started_at == started_at;
        if !matches {
            return None;
        }
        let in_flight = self.in_flight.take().expect("checked above");
        let reported = match in_flight.operation {
            OperationKind::Start => self.started(&in_flight, &outcome, now),
            OperationKind::Stop => self.stopped(&in_flight, &outcome, now),
            OperationKind::Monitor => self.monitored(&in_flight, &outcome, now),
            OperationKind::Reload => self.reloaded(&in_flight, &outcome, now),
        };
        Some(reported.then(|| OperationRecord {
            resource: self.running.id.clone(),
            operation,
            fencing_token,
            outcome: bounded(outcome),
            started_at: in_flight.started_wall,
            finished_at,
            state_after: self.state.clone(),
        }))
    }

    fn started(&mut self, in_flight: &InFlight, outcome: &Outcome, now: BootMs) -> bool {
        self.token = in_flight.fencing_token;
        self.type_changed = false;
        if outcome.is_ok() {
            self.state = InstanceState::Running;
            self.schedule_monitor(now);
            self.schedule_deep_monitor(now);
        } else {
            self.fail(in_flight, outcome);
        }
        true
    }

    fn stopped(&mut self, in_flight: &InFlight, outcome: &Outcome, now: BootMs) -> bool {
        self.next_monitor_at = None;
        self.next_deep_monitor_at = None;
        self.monitor_requested = false;
        match outcome {
            Outcome::Ok | Outcome::NotRunning => {
                self.state = InstanceState::Stopped;
                self.stop_retry = None;
                // Stopped by this node itself (its lease was ending) while the grant still
                // stands: the master, seeing the stop under that grant, may start the
                // resource elsewhere, so the grant is spent and only a new one restarts it.
                let same_grant = self
                    .assigned
                    .as_ref()
                    .is_some_and(|a| a.fencing_token == in_flight.fencing_token);
                if same_grant {
                    let token = in_flight.fencing_token;
                    self.spent = Some(self.spent.map_or(token, |spent| spent.max(token)));
                }
            }
            Outcome::Failed { .. } | Outcome::Timeout => {
                self.state = InstanceState::Failed {
                    reason: failure_reason(in_flight, outcome),
                };
                let attempts = self
                    .stop_retry
                    .map_or(1, |retry| retry.attempts.saturating_add(1));
                let wait = stop_retry_wait(attempts);
                let not_before = now.saturating_add(wait);
                self.stop_retry = Some(StopRetry {
                    attempts,
                    not_before,
                });
            }
        }
        true
    }

    /// Returns whether to report: probes always, recurring monitors only when they fail.
    fn monitored(&mut self, in_flight: &InFlight, outcome: &Outcome, now: BootMs) -> bool {
        match outcome {
            Outcome::Ok => {
                if in_flight.probe {
                    self.state = InstanceState::Running;
                }
                self.schedule_monitor(now);
                if in_flight.probe || in_flight.depth > 0 {
                    self.schedule_deep_monitor(now);
                }
                in_flight.probe
            }
            Outcome::NotRunning if in_flight.probe => {
                self.state = InstanceState::Stopped;
                true
            }
            Outcome::NotRunning | Outcome::Failed { .. } | Outcome::Timeout => {
                self.token = in_flight.fencing_token;
                self.fail(in_flight, outcome);
                true
            }
        }
    }

    /// A reload is always reported. Its success makes the new definition the running one;
    /// its failure spends the grant, so the master restarts the resource.
    fn reloaded(&mut self, in_flight: &InFlight, outcome: &Outcome, now: BootMs) -> bool {
        if outcome.is_ok() {
            self.running = in_flight.target.clone().expect("a reload has a target");
            self.schedule_monitor(now);
        } else {
            self.fail(in_flight, outcome);
        }
        true
    }

    fn fail(&mut self, in_flight: &InFlight, outcome: &Outcome) {
        self.state = InstanceState::Failed {
            reason: failure_reason(in_flight, outcome),
        };
        self.spent = Some(
            self.spent
                .map_or(in_flight.fencing_token, |s| s.max(in_flight.fencing_token)),
        );
        self.next_monitor_at = None;
        self.next_deep_monitor_at = None;
        self.monitor_requested = false;
    }

    fn schedule_monitor(&mut self, now: BootMs) {
        let interval = match self.checks {
            Some(plan) => plan.shallow.interval,
            None => self.running.options.monitor_interval,
        };
        self.next_monitor_at = (!interval.is_zero()).then(|| now.saturating_add(interval));
    }

    /// The thorough check of a user type's instance, one interval from `now`.
    fn schedule_deep_monitor(&mut self, now: BootMs) {
        self.next_deep_monitor_at = self
            .checks
            .map(|plan| now.saturating_add(plan.deep.interval));
    }
}

/// Whether `assigned` runs something else than `running` was started with: another type
/// or other parameters. Options (timeouts, intervals, drain) apply without a restart.
fn redefined(running: &Resource, assigned: &Resource) -> bool {
    running.type_name != assigned.type_name || running.params != assigned.params
}

/// A self-fencing stop must end before the lease does: its timeout is what is left of the
/// lease (so the process agent escalates to SIGKILL in time), but never less than a floor.
fn fence_stop_timeout(stop_timeout: Duration, context: &Context) -> Duration {
    let left = context.lease_valid_until.saturating_since(context.now.boot);
    stop_timeout.min(left.max(FENCE_STOP_TIMEOUT_MIN))
}

fn stop_retry_wait(attempts: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(16));
    STOP_RETRY_INITIAL
        .saturating_mul(factor)
        .min(STOP_RETRY_MAX)
}

fn failure_reason(in_flight: &InFlight, outcome: &Outcome) -> String {
    let operation = in_flight.operation;
    let reason = match outcome {
        Outcome::Failed { reason, .. } => format!("{operation} failed: {reason}"),
        Outcome::Timeout => format!("{operation} timed out after {:?}", in_flight.timeout),
        Outcome::NotRunning => format!("{operation} found it not running"),
        Outcome::Ok => unreachable!("an ok outcome is not a failure"),
    };
    truncate(reason)
}

/// The outcome with its reason cut to [`REASON_BYTES_MAX`].
fn bounded(outcome: Outcome) -> Outcome {
    match outcome {
        Outcome::Failed { reason, severity } => Outcome::Failed {
            reason: truncate(reason),
            severity,
        },
        other => other,
    }
}

fn truncate(mut text: String) -> String {
    if text.len() > REASON_BYTES_MAX {
        let mut end = REASON_BYTES_MAX;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}
