//! `encluster incidents` (where each failover's time went) and `encluster alert
//! add|list|remove|test` (recipients and threshold rules). Rendering is pure and pinned by
//! snapshot tests.

use anyhow::bail;
use comfy_table::{ContentArrangement, Table, presets};

use crate::commands::Output;
use crate::errors::explain;
use crate::render::render_json;
use crate::resource_commands::Session;

/// `encluster alert ...`.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum AlertCommand {
    /// Add (or replace) a recipient or a threshold rule: exactly one of --exec, --webhook
    /// and --rule.
    Add {
        /// Its name.
        name: String,
        /// An executable run with Pacemaker's alert-agent environment, e.g.
        /// /usr/share/pacemaker/alerts/alert_file.sh.sample.
        #[arg(long = "exec", value_name = "PATH")]
        executable: Option<String>,
        /// The executable's CRM_alert_recipient, e.g. a log file for the sample agents.
        #[arg(long)]
        recipient: Option<String>,
        /// A URL that gets Alertmanager's webhook JSON.
        #[arg(long)]
        webhook: Option<String>,
        /// A threshold rule, e.g. "host_data_disk_used_ratio > 0.9 for 1m clear 0.85".
        #[arg(long)]
        rule: Option<String>,
        /// Only these kinds: node, resource, fencing, attribute (repeat; default all).
        #[arg(long = "kind")]
        kinds: Vec<String>,
        /// The least severity sent: info (default), warning or critical.
        #[arg(long)]
        severity: Option<String>,
        /// How long one delivery may take (default 30s, Pacemaker's).
        #[arg(long)]
        timeout: Option<String>,
    },
    /// The recipients and rules, with how far each recipient's delivery has come.
    List {
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a recipient or rule.
    Remove {
        /// Its name.
        name: String,
    },
    /// Send one test alert to a recipient (from the master) and say what happened.
    Test {
        /// The recipient's name.
        name: String,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn run_incidents(session: &Session<'_>, json: bool) -> anyhow::Result<()> {
    let incidents = session
        .client
        .incidents()
        .await
        .map_err(|e| explain(e, session.target))?;
    let mut output = Output::stdout();
    if json {
        return output.text(&render_json(&incidents));
    }
    output.text(&render_incidents(&incidents.incidents))
}

pub(crate) async fn run_alert(session: &Session<'_>, command: AlertCommand) -> anyhow::Result<()> {
    let client = session.client;
    let mut output = Output::stdout();
    match command {
        add @ AlertCommand::Add { .. } => {
            let (name, spec) = add_spec(add)?;
            client
                .put_alert(&spec)
                .await
                .map_err(|e| explain(e, session.target))?;
            output.line(&format!("alert {name} added"))
        }
        AlertCommand::List { json } => {
            let alerts = client
                .alerts()
                .await
                .map_err(|e| explain(e, session.target))?;
            if json {
                return output.text(&render_json(&alerts));
            }
            output.text(&render_alerts(&alerts.alerts))
        }
        AlertCommand::Remove { name } => {
            client
                .remove_alert(&name)
                .await
                .map_err(|e| explain(e, session.target))?;
            output.line(&format!("alert {name} removed"))
        }
        AlertCommand::Test { name, json } => {
            let result = client
                .test_alert(&name)
                .await
                .map_err(|e| explain(e, session.target))?;
            if json {
                output.text(&render_json(&result))?;
            }
            match (&result.error, json) {
                (Some(error), _) => bail!("test alert to {name} failed: {error}"),
                (None, false) => output.line(&render_test(&result)),
                (None, true) => Ok(()),
            }
        }
    }
}

/// The API's spec of `alert add`; exactly one target must be given.
fn add_spec(command: AlertCommand) -> anyhow::Result<(String, api::AlertSpec)> {
    let AlertCommand::Add {
        name,
        executable,
        recipient,
        webhook,
        rule,
        kinds,
        severity,
        timeout,
    } = command
    else {
        bail!("not an `alert add` command");
    };
    let given = [&executable, &webhook, &rule]
        .iter()
        .filter(|o| o.is_some())
        .count();
    if given != 1 {
        bail!("alert add {name}: give exactly one of --exec PATH, --webhook URL, --rule EXPR");
    }
    let spec = api::AlertSpec {
        name: name.clone(),
        executable,
        recipient,
        webhook,
        rule,
        kinds,
        severity,
        timeout,
    };
    Ok((name, spec))
}

/// The line `alert test` prints for a delivered test alert.
pub(crate) fn render_test(result: &api::AlertTestResult) -> String {
    format!(
        "test alert delivered to {} in {} ms (sent by node {})",
        result.name, result.elapsed_ms, result.sent_by
    )
}

/// The `incidents` table: when each failover was detected and how long each phase took
/// after the one before it.
pub(crate) fn render_incidents(incidents: &[api::Incident]) -> String {
    if incidents.is_empty() {
        return "no incidents\n".to_owned();
    }
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_header(vec![
            "ID",
            "CAUSE",
            "DETECTED",
            "DOWN",
            "LEASE/FENCE",
            "STOPPED",
            "STARTED",
            "HEALTHY",
            "TOTAL",
        ]);
    for incident in incidents {
        let cause = match &incident.resource {
            Some(resource) => format!("{resource} failed on {}", node_label(incident)),
            None => format!("{} lost", node_label(incident)),
        };
        // The node's work may move once its lease ended or a fence confirmed it off,
        // whichever came first.
        let fenced_first = match (incident.fence_confirmed_at_ms, incident.lease_ended_at_ms) {
            (Some(fenced), Some(ended)) => fenced < ended,
            (fenced, _) => fenced.is_some(),
        };
        let safe = match fenced_first {
            true => (incident.fence_confirmed_at_ms, " fence"),
            false => (incident.lease_ended_at_ms, ""),
        };
        let phases = [
            (incident.down_at_ms, ""),
            safe,
            (incident.stopped_at_ms, ""),
            (incident.started_at_ms, ""),
            (incident.healthy_at_ms, ""),
        ];
        let mut row = vec![
            incident.id.to_string(),
            cause,
            time_of_day(incident.detected_at_ms),
        ];
        let mut previous = incident.detected_at_ms;
        for (phase, suffix) in phases {
            row.push(match phase {
                Some(at) => {
                    let cell = format!("+{}{suffix}", duration(at.saturating_sub(previous)));
                    previous = previous.max(at);
                    cell
                }
                None => "-".to_owned(),
            });
        }
        row.push(match (incident.closed, incident.healthy_at_ms) {
            (true, Some(at)) => duration(at.saturating_sub(incident.detected_at_ms)),
            (true, None) => "closed".to_owned(),
            (false, _) => "open".to_owned(),
        });
        table.add_row(row);
    }
    format!("{table}\n")
}

fn node_label(incident: &api::Incident) -> String {
    if incident.node_name.is_empty() {
        format!("node {}", incident.node)
    } else {
        incident.node_name.clone()
    }
}

/// `HH:MM:SS` in UTC (each phase after it is given to the millisecond).
fn time_of_day(at_ms: u64) -> String {
    let day_ms = at_ms % 86_400_000;
    format!(
        "{:02}:{:02}:{:02}",
        day_ms / 3_600_000,
        day_ms / 60_000 % 60,
        day_ms / 1_000 % 60,
    )
}

/// `850ms` below ten seconds, `12.3s` below ten minutes, then `14m`.
fn duration(ms: u64) -> String {
    match ms {
        0..10_000 => format!("{ms}ms"),
        10_000..600_000 => format!("{:.1}s", ms as f64 / 1000.0),
        _ => format!("{}m", ms / 60_000),
    }
}

/// The `alert list` table.
pub(crate) fn render_alerts(alerts: &[api::AlertView]) -> String {
    if alerts.is_empty() {
        return "no alerts; add one with `encluster alert add NAME --webhook URL`\n".to_owned();
    }
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(100)
        .set_header(vec![
            "NAME",
            "TYPE",
            "TARGET",
            "FILTER",
            "NEXT EVENT",
            "PENDING",
        ]);
    for alert in alerts {
        let spec = &alert.spec;
        let (kind, target) = match (&spec.executable, &spec.webhook, &spec.rule) {
            (Some(path), _, _) => match &spec.recipient {
                Some(recipient) => ("exec", format!("{path} {recipient}")),
                None => ("exec", path.clone()),
            },
            (_, Some(url), _) => ("webhook", url.clone()),
            (_, _, Some(rule)) => ("rule", rule.clone()),
            _ => ("?", String::new()),
        };
        let mut filter = spec.kinds.join(",");
        if let Some(severity) = spec.severity.as_deref().filter(|s| *s != "info") {
            if !filter.is_empty() {
                filter.push(' ');
            }
            filter.push_str(&format!(">= {severity}"));
        }
        let rule = kind == "rule";
        table.add_row(vec![
            spec.name.clone(),
            kind.to_owned(),
            target,
            if filter.is_empty() {
                "all".into()
            } else {
                filter
            },
            if rule {
                "-".into()
            } else {
                alert.next_event.to_string()
            },
            if rule {
                "-".into()
            } else {
                alert.pending.to_string()
            },
        ]);
    }
    format!("{table}\n")
}

#[cfg(test)]
mod tests;
