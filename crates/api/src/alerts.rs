//! Wire types of incidents and alerts: `GET /v1/incidents`, `GET|POST /v1/alerts`,
//! `DELETE /v1/alerts/{name}` and `POST /v1/alerts/{name}/test` (issue 13, points 5 and 6).

use serde::{Deserialize, Serialize};

/// One resource's way through a failover; times in ms since the epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IncidentResource {
    /// The resource.
    pub resource: String,
    /// When its stop was confirmed where it failed (a report, or the write-off once the
    /// lost node's lease had ended).
    pub stopped_at_ms: Option<u64>,
    /// The node it was started on again.
    pub started_on: Option<u64>,
    /// When that start was granted.
    pub started_at_ms: Option<u64>,
    /// When it was first reported healthy there.
    pub healthy_at_ms: Option<u64>,
    /// No node could run it; the master gave it up.
    pub given_up: bool,
}

/// One failover with the time of each phase (ms since the epoch, the master's clock).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Incident {
    /// Increases by one per incident.
    pub id: u64,
    /// `node_lost` or `resource_failed`.
    pub cause: String,
    /// The node it started on.
    pub node: u64,
    /// That node's name.
    pub node_name: String,
    /// The resource that failed (`resource_failed` only).
    pub resource: Option<String>,
    /// Fault detected: the node turned suspect, or the failure was recorded.
    pub detected_at_ms: u64,
    /// The node was declared down (`node_lost` only).
    pub down_at_ms: Option<u64>,
    /// The master wrote the node's grants off: its lease had ended.
    pub lease_ended_at_ms: Option<u64>,
    /// A fencing device confirmed the node powered off (`node_lost` with fencing only).
    #[serde(default)]
    pub fence_confirmed_at_ms: Option<u64>,
    /// The last resource's stop was confirmed.
    pub stopped_at_ms: Option<u64>,
    /// The last resource's start was granted.
    pub started_at_ms: Option<u64>,
    /// The last resource was first reported healthy.
    pub healthy_at_ms: Option<u64>,
    /// Every resource is healthy again or given up.
    pub closed: bool,
    /// Each resource's phases.
    pub resources: Vec<IncidentResource>,
}

/// `GET /v1/incidents`: the newest incidents, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Incidents {
    /// The incidents.
    pub incidents: Vec<Incident>,
}

/// An alert recipient or threshold rule, as `POST /v1/alerts` takes it and
/// `GET /v1/alerts` and `apply -f` (`[[alert]]`) show it. Exactly one of `executable`,
/// `webhook` and `rule` is set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertSpec {
    /// Its name.
    pub name: String,
    /// An executable run with Pacemaker's alert-agent environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executable: Option<String>,
    /// `CRM_alert_recipient` for the executable (e.g. a log file for the sample agents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    /// A URL that gets Alertmanager's webhook body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
    /// A threshold rule, e.g. `host_data_disk_used_ratio > 0.9 for 1m clear 0.85`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Pacemaker's alert kinds wanted (`node`, `resource`, `fencing`, `attribute`); all
    /// when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<String>,
    /// The least severity wanted: `info` (default), `warning` or `critical`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// How long one delivery may take, e.g. `30s` (Pacemaker's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// One configured alert with its delivery state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertView {
    /// The configuration.
    #[serde(flatten)]
    pub spec: AlertSpec,
    /// The first event not yet delivered to it (recipients only).
    pub next_event: u64,
    /// Events at or after `next_event` in the event log that it still waits for.
    pub pending: u64,
}

/// `GET /v1/alerts`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Alerts {
    /// The recipients and rules, by name.
    pub alerts: Vec<AlertView>,
}

/// `POST /v1/alerts/{name}/test`: what happened to a test alert.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertTestResult {
    /// The recipient.
    pub name: String,
    /// It accepted the alert.
    pub delivered: bool,
    /// Why not.
    pub error: Option<String>,
    /// How long the delivery took.
    pub elapsed_ms: u64,
    /// The node that sent it (the master).
    pub sent_by: u64,
}
