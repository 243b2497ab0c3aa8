//! Cluster events: node transitions, membership changes and operator actions, kept in a
//! bounded log in the cmdb (newest kept).

use crate::{Millis, NodeHealth, NodeId, NodeRole};
use serde::{Deserialize, Serialize};

/// One entry of the cluster's event log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the event log; increases by one per event and is never reused.
    pub seq: u64,
    /// When the master observed the event, in milliseconds since the Unix epoch.
    pub at_ms: Millis,
    /// What happened.
    pub kind: EventKind,
}

/// What an event records. Persisted in the Raft log: append variants, never reorder.
/// Externally tagged on purpose: the compact log encoding cannot read internally tagged enums.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The failure detector changed a node's health.
    NodeHealth {
        node: NodeId,
        from: NodeHealth,
        to: NodeHealth,
        silence_ms: u64,
    },
    /// A node joined the cluster.
    NodeJoined { node: NodeId, name: String },
    /// A node was removed from the cluster.
    NodeRemoved { node: NodeId, reason: String },
    /// A node's Raft role changed (dynamic quorum promotes learners and shrinks voters).
    NodeRole {
        node: NodeId,
        role: NodeRole,
        reason: String,
    },
    /// A new master took over.
    MasterElected { node: NodeId, term: u64 },
    /// The operator forced quorum on a surviving minority.
    QuorumForced { node: NodeId, voters: Vec<NodeId> },
    /// The master granted (`start`), withdrew (`stop`) or wrote off (`lost`) a resource on a
    /// node, with the scheduler's reason.
    ResourceAction {
        resource: crate::ResourceId,
        node: NodeId,
        action: String,
        reason: String,
    },
    // --- mon ---
    /// An operator changed the cluster through the API; `actor` is the API token's label.
    OperatorAction { actor: String, action: String },
    /// An alert could not be delivered to a recipient after every retry.
    AlertFailed {
        recipient: String,
        event: u64,
        attempts: u32,
        error: String,
    },
    /// A threshold rule on a metric series started (`firing`) or stopped holding.
    Threshold {
        rule: String,
        node: NodeId,
        series: String,
        value: String,
        firing: bool,
    },
    /// A director's health checks found a real server of a virtual service healthy again
    /// or unhealthy.
    ServerHealth {
        node: NodeId,
        service: String,
        server: String,
        healthy: bool,
    },
    // --- remote ---
    /// The master found a service's own monitor and the remote monitors of the other nodes
    /// disagreeing (`unreachable`: healthy on its node, a majority of its observers cannot
    /// reach it; `failed_inside`: the reverse), or agreeing again (`reachable`, `down`).
    RemoteView {
        /// `<kind>:<name>`: `resource:web`, `vip:v1`, `listener:web@10.0.0.5:80`, `node:2`.
        target: String,
        /// The node it runs on.
        node: NodeId,
        /// `unreachable`, `failed_inside`, `reachable` or `down`.
        verdict: String,
        /// The observers with a fresh view.
        observers: u32,
        /// Of those, the ones that reached it.
        reachable: u32,
    },
    // --- fence ---
    /// The cluster fenced a node, or tried to (issue 16): `started` names the devices it
    /// is about to try, `confirmed` and `failed` what each device answered.
    Fencing {
        node: NodeId,
        outcome: crate::fence::FenceOutcome,
        /// Why: `lost` (the master fences a lost node) or the operator's `manual`.
        reason: String,
        /// The devices tried in order, each with its answer.
        detail: String,
    },
    // --- lockout ---
    /// Repeated failed logins locked a user name (existing or not) for a while.
    LoginLocked {
        user: String,
        /// Failed logins in a row.
        failures: u32,
        /// How long the name is locked.
        lockout_s: u64,
    },
    // --- rotate ---
    /// A node's certificate or the cluster CA expires within 30 days.
    CertExpiring {
        /// `node <name>` or `CA`.
        subject: String,
        expires_at_ms: Millis,
        /// The command that fixes it.
        fix: String,
    },
}

/// How much an event matters, as alert filters and the UI read it (Alertmanager's
/// `severity` label words).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// A change an operator may want to know about.
    Info,
    /// Degraded but handled: a suspect node, a failed operation, a lost instance.
    Warning,
    /// An operator must act, or service was lost: a node down, a resource given up.
    Critical,
}

impl Severity {
    /// The word used in the API, the CLI and alert labels.
    pub fn word(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// The severity a word names, as the API and the CLI accept it.
    pub fn parse(text: &str) -> Option<Severity> {
        match text.trim() {
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.word())
    }
}

impl EventKind {
    /// How much the event matters; a pure function of the kind, so it is never stored.
    pub fn severity(&self) -> Severity {
        match self {
            EventKind::NodeHealth { to, .. } => match to {
                NodeHealth::Online => Severity::Info,
                NodeHealth::Suspect => Severity::Warning,
                NodeHealth::Down => Severity::Critical,
            },
            EventKind::NodeRemoved { .. }
            | EventKind::AlertFailed { .. }
            | EventKind::LoginLocked { .. }
            | EventKind::CertExpiring { .. } => Severity::Warning,
            EventKind::QuorumForced { .. } => Severity::Critical,
            EventKind::ResourceAction { action, .. } => match action.as_str() {
                "give up" => Severity::Critical,
                "failed" | "lost" => Severity::Warning,
                _ => Severity::Info,
            },
            EventKind::Threshold { firing: true, .. }
            | EventKind::ServerHealth { healthy: false, .. } => Severity::Warning,
            EventKind::Fencing { outcome, .. } => match outcome {
                crate::fence::FenceOutcome::Failed => Severity::Critical,
                _ => Severity::Warning,
            },
            EventKind::NodeJoined { .. }
            | EventKind::NodeRole { .. }
            | EventKind::MasterElected { .. }
            | EventKind::OperatorAction { .. }
            | EventKind::Threshold { firing: false, .. }
            | EventKind::ServerHealth { healthy: true, .. } => Severity::Info,
            EventKind::RemoteView { verdict, .. } => match verdict.as_str() {
                "unreachable" | "failed_inside" => Severity::Warning,
                _ => Severity::Info,
            },
        }
    }

    /// Who caused the event, for operator actions.
    pub fn actor(&self) -> Option<&str> {
        match self {
            EventKind::OperatorAction { actor, .. } => Some(actor),
            _ => None,
        }
    }

    /// A one-line description for humans (CLI and UI).
    pub fn describe(&self) -> String {
        match self {
            EventKind::NodeHealth {
                node,
                from,
                to,
                silence_ms,
            } => {
                format!("node {node} {from} -> {to} (silent {silence_ms} ms)")
            }
            EventKind::NodeJoined { node, name } => format!("node {node} ({name}) joined"),
            EventKind::NodeRemoved { node, reason } => format!("node {node} removed: {reason}"),
            EventKind::NodeRole { node, role, reason } => {
                format!("node {node} is now a {role}: {reason}")
            }
            EventKind::MasterElected { node, term } => {
                format!("node {node} is master (term {term})")
            }
            EventKind::QuorumForced { node, voters } => {
                format!("quorum forced by node {node}; voters now {voters:?}")
            }
            EventKind::ResourceAction {
                resource,
                node,
                action,
                reason,
            } => {
                format!("{action} {resource} on node {node}: {reason}")
            }
            EventKind::OperatorAction { actor, action } => format!("{actor}: {action}"),
            EventKind::AlertFailed {
                recipient,
                event,
                attempts,
                error,
            } => format!(
                "alert of event {event} to {recipient} failed after {attempts} attempts: {error}"
            ),
            EventKind::Threshold {
                rule,
                node,
                series,
                value,
                firing,
            } => {
                let state = if *firing { "firing" } else { "resolved" };
                format!("rule {rule} {state} on node {node}: {series} = {value}")
            }
            EventKind::ServerHealth {
                node,
                service,
                server,
                healthy,
            } => {
                let state = if *healthy { "healthy" } else { "unhealthy" };
                format!("server {server} of {service} is {state} (director node {node})")
            }
            EventKind::RemoteView {
                target,
                node,
                verdict,
                observers,
                reachable,
            } => {
                let seen = format!("{reachable} of {observers} other nodes reach it");
                match verdict.as_str() {
                    "unreachable" => {
                        format!("{target} on node {node} is healthy there but unreachable: {seen}")
                    }
                    "failed_inside" => format!(
                        "{target} on node {node} fails its own monitor but answers outside: {seen}"
                    ),
                    _ => format!("{target} on node {node} is {verdict} again: {seen}"),
                }
            }
            EventKind::Fencing {
                node,
                outcome,
                reason,
                detail,
            } => format!("fencing node {node} ({reason}) {outcome}: {detail}"),
            EventKind::LoginLocked {
                user,
                failures,
                lockout_s,
            } => format!(
                "login {user:?} locked for {lockout_s} s after {failures} failed logins in a row"
            ),
            EventKind::CertExpiring {
                subject,
                expires_at_ms,
                fix,
            } => format!(
                "the certificate of {subject} expires at {expires_at_ms} ms since the epoch; \
                 run `{fix}`"
            ),
        }
    }
}
