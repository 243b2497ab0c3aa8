//! Pure rendering of API answers as text for people and JSON for scripts.
//!
//! Nothing here does IO or reads a clock, so the output is pinned by snapshot tests.

use std::time::{Duration, UNIX_EPOCH};

use comfy_table::{Table, presets};

/// The node table of `node list`.
pub(crate) fn render_nodes(nodes: &[api::NodeStatus]) -> String {
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_header(vec![
            "ID",
            "NAME",
            "STATE",
            "ROLE",
            "MASTER",
            "HEARTBEAT",
            "PEER",
            "API",
        ]);
    for node in nodes {
        table.add_row(vec![
            node.id.to_string(),
            node.name.clone(),
            match &node.recorded_state {
                Some(recorded) if *recorded != node.state => {
                    format!("{} (was {recorded})", node.state)
                }
                _ => node.state.clone(),
            },
            node.role.clone(),
            if node.is_master { "*" } else { "" }.to_string(),
            format_heartbeat(node.last_heartbeat_ms),
            node.peer_addr.clone(),
            node.api_addr.clone(),
        ]);
    }
    let mut text = table.to_string();
    text.push('\n');
    text
}

/// How long ago a heartbeat was heard: milliseconds under a second, then coarser units.
pub(crate) fn format_heartbeat(age_ms: Option<u64>) -> String {
    match age_ms {
        None => "-".to_string(),
        Some(age_ms) if age_ms < 1_000 => format!("{age_ms} ms ago"),
        Some(age_ms) if age_ms < 60_000 => {
            format!("{}.{} s ago", age_ms / 1_000, age_ms % 1_000 / 100)
        }
        Some(age_ms) => {
            let age = Duration::from_secs(age_ms / 1_000);
            format!("{} ago", humantime::format_duration(age))
        }
    }
}

/// An event's time as RFC 3339 UTC with milliseconds.
pub(crate) fn format_time(at_ms: u64) -> String {
    let time = UNIX_EPOCH + Duration::from_millis(at_ms);
    humantime::format_rfc3339_millis(time).to_string()
}

/// One line of `events`: time, kind and message.
pub(crate) fn render_event_line(event: &api::Event) -> String {
    let severity = if event.severity.is_empty() {
        "info"
    } else {
        &event.severity
    };
    format!(
        "{}  {:<8} {:<16} {}",
        format_time(event.at_ms),
        severity,
        event.kind,
        event.message
    )
}

/// One line of `events --json`: the API's event object on a single line.
pub(crate) fn render_event_json(event: &api::Event) -> String {
    serde_json::to_string(event).expect("an api::Event always serializes to JSON")
}

/// `status --json` and `node list --json`: the API's JSON, pretty, in struct field order.
pub(crate) fn render_json<T: serde::Serialize>(value: &T) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("api types always serialize");
    text.push('\n');
    text
}
