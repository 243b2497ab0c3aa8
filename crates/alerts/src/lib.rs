//! Alerts: what happened, told to recipients outside the cluster.
//!
//! Two kinds of recipient, both with the formats their users already have tools for:
//! executables called with Pacemaker's alert-agent environment ([`pacemaker_env`]), so the
//! sample agents Debian's `pacemaker-common` ships run unmodified, and HTTP webhooks with
//! the body Prometheus Alertmanager sends ([`alertmanager_body`]). Building the message is
//! pure; [`run_executable`] and [`post_webhook`] deliver it with a timeout and a cap on
//! what a recipient may print, so a recipient that hangs or floods cannot hold the agent.

use std::time::Duration;

pub mod delivery;

use serde_json::json;
use tokio::io::AsyncReadExt;

/// Pacemaker's default timeout of an alert agent.
pub const EXECUTABLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The most bytes of a recipient's output kept (for the event that records a failure).
pub const OUTPUT_BYTES_MAX: usize = 4 * 1024;

/// The version the environment claims: the Pacemaker release whose alert interface it
/// follows (agents check only that it is set).
pub const PACEMAKER_ALERT_VERSION: &str = "2.1.5";

/// What an alert is about, as Pacemaker's `CRM_alert_kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertKind {
    /// A node joined, left or changed state.
    Node,
    /// A resource operation ended (a failure, a start, a stop).
    Resource,
    /// A node was fenced.
    Fencing,
    /// A node attribute changed.
    Attribute,
}

impl AlertKind {
    /// The word Pacemaker uses.
    pub fn word(self) -> &'static str {
        match self {
            AlertKind::Node => "node",
            AlertKind::Resource => "resource",
            AlertKind::Fencing => "fencing",
            AlertKind::Attribute => "attribute",
        }
    }
}

/// One alert, as the master records it.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// Unique in the cluster, so a recipient can drop a repeat after a change of master.
    pub id: u64,
    /// What it is about.
    pub kind: AlertKind,
    /// When it happened, ms since the epoch.
    pub at_ms: u64,
    /// The node's name and id.
    pub node: String,
    /// The node's id.
    pub node_id: u64,
    /// In words: the node's new state, the operation's result, the fencing's outcome.
    pub desc: String,
    /// The resource, for resource alerts.
    pub resource: Option<String>,
    /// The operation (`start`, `stop`, `monitor`) or fencing action.
    pub task: Option<String>,
    /// The operation's interval in ms (0 for one-shot operations).
    pub interval_ms: u64,
    /// The OCF return code the operation gave, and the one expected.
    pub rc: i32,
    /// The expected return code.
    pub target_rc: i32,
    /// Pacemaker's execution status (0 done, 1 pending, 2 cancelled, 3 timed out, ...).
    pub status: i32,
    /// An attribute's name and value, for attribute alerts.
    pub attribute: Option<(String, String)>,
}

/// The environment of an alert executable, as Pacemaker sets it, for `recipient` (the
/// configured value, e.g. a log file's path) as the `sequence`-th alert this node sent.
pub fn pacemaker_env(alert: &Alert, recipient: &str, sequence: u64) -> Vec<(String, String)> {
    let seconds = alert.at_ms / 1_000;
    let micros = (alert.at_ms % 1_000) * 1_000;
    let day = seconds % 86_400;
    // Pacemaker's default format, "%H:%M:%S.%06N", in UTC.
    let timestamp = format!(
        "{:02}:{:02}:{:02}.{micros:06}",
        day / 3_600,
        day / 60 % 60,
        day % 60
    );
    let (attribute_name, attribute_value) = alert.attribute.clone().unwrap_or_default();
    let pairs = [
        ("CRM_alert_version", PACEMAKER_ALERT_VERSION.to_owned()),
        ("CRM_alert_recipient", recipient.to_owned()),
        ("CRM_alert_node_sequence", sequence.to_string()),
        ("CRM_alert_timestamp", timestamp),
        ("CRM_alert_timestamp_epoch", seconds.to_string()),
        ("CRM_alert_timestamp_usec", micros.to_string()),
        ("CRM_alert_kind", alert.kind.word().to_owned()),
        ("CRM_alert_node", alert.node.clone()),
        ("CRM_alert_nodeid", alert.node_id.to_string()),
        ("CRM_alert_desc", alert.desc.clone()),
        ("CRM_alert_rsc", alert.resource.clone().unwrap_or_default()),
        ("CRM_alert_task", alert.task.clone().unwrap_or_default()),
        ("CRM_alert_interval", alert.interval_ms.to_string()),
        ("CRM_alert_rc", alert.rc.to_string()),
        ("CRM_alert_target_rc", alert.target_rc.to_string()),
        ("CRM_alert_status", alert.status.to_string()),
        ("CRM_alert_attribute_name", attribute_name),
        ("CRM_alert_attribute_value", attribute_value),
    ];
    pairs
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect()
}

/// The webhook body Prometheus Alertmanager sends (version 4), for `alerts` to the
/// receiver `receiver` of cluster `cluster`; each alert's fingerprint is its id.
pub fn alertmanager_body(alerts: &[Alert], receiver: &str, cluster: &str) -> serde_json::Value {
    let items: Vec<serde_json::Value> = alerts
        .iter()
        .map(|alert| {
            let mut labels = json!({
                "alertname": format!("encluster_{}", alert.kind.word()),
                "cluster": cluster,
                "node": alert.node,
            });
            if let Some(resource) = &alert.resource {
                labels["resource"] = json!(resource);
            }
            if let Some(task) = &alert.task {
                labels["task"] = json!(task);
            }
            json!({
                "status": "firing",
                "labels": labels,
                "annotations": { "description": alert.desc },
                "startsAt": rfc3339(alert.at_ms),
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "",
                "fingerprint": format!("{:016x}", alert.id),
            })
        })
        .collect();
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{cluster=\"{cluster}\"}}"),
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": receiver,
        "groupLabels": { "cluster": cluster },
        "commonLabels": { "cluster": cluster },
        "commonAnnotations": {},
        "externalURL": "",
        "alerts": items,
    })
}

/// `at_ms` as RFC 3339 in UTC with milliseconds.
fn rfc3339(at_ms: u64) -> String {
    let seconds = at_ms / 1_000;
    let days = (seconds / 86_400) as i64;
    let day = seconds % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        day / 3_600,
        day / 60 % 60,
        day % 60,
        at_ms % 1_000
    )
}

/// Why a delivery failed, in words for the event that records it.
pub type DeliveryError = String;

/// Runs the alert executable `path` with `env` (and nothing else of the agent's
/// environment but `PATH`), killed after `timeout`; its output is read up to
/// [`OUTPUT_BYTES_MAX`] and the rest discarded, so a flood cannot grow the agent.
pub async fn run_executable(
    path: &str,
    env: &[(String, String)],
    timeout: Duration,
) -> Result<(), DeliveryError> {
    let mut command = tokio::process::Command::new(path);
    command
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .map_err(|error| format!("cannot run alert agent {path}: {error}"))?;
    normal_priority(child.id());
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let run = async {
        let mut kept = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match stdout.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(read) => {
                    let room = OUTPUT_BYTES_MAX.saturating_sub(kept.len());
                    kept.extend_from_slice(&chunk[..read.min(room)]);
                }
            }
        }
        (child.wait().await, kept)
    };
    match tokio::time::timeout(timeout, run).await {
        Err(_) => Err(format!(
            "alert agent {path} did not finish within {timeout:?} and was killed"
        )),
        Ok((Err(error), _)) => Err(format!("alert agent {path}: {error}")),
        Ok((Ok(status), _)) if status.success() => Ok(()),
        Ok((Ok(status), output)) => Err(format!(
            "alert agent {path} failed ({status}): {}",
            String::from_utf8_lossy(&output).trim()
        )),
    }
}

/// Posts `body` to the webhook `url`, failing after `timeout` or on a non-2xx answer.
pub async fn post_webhook(
    client: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
    timeout: Duration,
) -> Result<(), DeliveryError> {
    let answer = client
        .post(url)
        .timeout(timeout)
        .json(body)
        .send()
        .await
        .map_err(|error| format!("webhook {url}: {error}"))?;
    if answer.status().is_success() {
        Ok(())
    } else {
        Err(format!("webhook {url} answered {}", answer.status()))
    }
}

#[cfg(test)]
mod tests;

/// The agent runs above normal priority (see `resource_agents::priority`); an alert agent
/// it starts is put back to normal at once.
fn normal_priority(pid: Option<u32>) {
    use rustix::process::{Pid, setpriority_process};
    if let Some(pid) = pid
        .and_then(|pid| i32::try_from(pid).ok())
        .and_then(Pid::from_raw)
    {
        let _ = setpriority_process(Some(pid), 0);
    }
}
