//! Pure rendering of API answers as text for people and JSON for scripts.
//!
//! Nothing here does IO or reads a clock, so the output is pinned by snapshot tests.

use std::time::{Duration, UNIX_EPOCH};

use comfy_table::{Table, presets};

use crate::views::{node_names, render_status_resources};

/// The `status` header line, node table and resources section; `now_ms` dates failures.
pub(crate) fn render_status(status: &api::Status, now_ms: u64) -> String {
    let master = match status.master {
        Some(id) => match status.nodes.iter().find(|node| node.id == id) {
            Some(node) => format!("master node {id} ({})", node.name),
            None => format!("master node {id}"),
        },
        None if quorum_lost(status) => "no master (quorum lost)".to_string(),
        None => "no master".to_string(),
    };
    let mut text = format!(
        "cluster {}  {master}  term {}  commit {}  answered by node {}\n",
        status.cluster_name, status.term, status.commit_index, status.answered_by
    );
    match status.master {
        None if quorum_lost(status) => text.push_str(&quorum_lost_text(status)),
        None => text.push_str("warning: no master is known, so the cluster accepts no writes\n"),
        // Only the master hears heartbeats, so another node's answer has no heartbeat ages.
        Some(id) if id != status.answered_by => {
            let api = status
                .nodes
                .iter()
                .find(|node| node.id == id)
                .map(|node| &node.api_addr);
            let hint = api.map(|api| format!(" (--api {api})")).unwrap_or_default();
            text.push_str(&format!(
                "note: heartbeat ages are known only to the master; ask node {id}{hint}\n"
            ));
        }
        Some(_) => {}
    }
    text.push_str(&render_nodes(&status.nodes));
    let names = node_names(&status.nodes);
    text.push_str(&render_status_resources(&status.resources, &names, now_ms));
    text
}

/// Whether the answering node says it has no master backed by a quorum.
fn quorum_lost(status: &api::Status) -> bool {
    status.quorum.as_deref() == Some("lost")
}

/// What an operator must know when the answering node has lost its quorum: since when,
/// which master it last heard from, which voters it waits for, and the way out.
fn quorum_lost_text(status: &api::Status) -> String {
    let names = node_names(&status.nodes);
    let label = |id: u64| match names.get(&id) {
        Some(name) => format!("node {id} ({name})"),
        None => format!("node {id}"),
    };
    let heard = match (status.last_master, status.master_contact_ms) {
        (Some(id), Some(age)) => format!(
            "last heard from master {} {} ago",
            label(id),
            format_age(age)
        ),
        (Some(id), None) => format!("its last master was {}", label(id)),
        (None, _) => "it has heard from no master".to_string(),
    };
    let voters: Vec<String> = status
        .nodes
        .iter()
        .filter(|node| node.role == "voter" && node.id != status.answered_by)
        .map(|node| label(node.id))
        .collect();
    let waits_for = match voters.is_empty() {
        true => String::new(),
        false => format!(" until these voters answer again: {}", voters.join(", ")),
    };
    format!(
        "error: quorum lost: node {me} {heard}\n\
         The cluster accepts no writes{waits_for}.\n\
         The states below are the last master's record, not current.\n\
         If the lost voters are gone for good, stop this node's agent, run\n  \
         encluster force-quorum --yes-i-understand-the-risk --config <node {me}'s config>\n\
         on it and start it again (read the warning it prints first).\n",
        me = status.answered_by,
    )
}

/// A duration in milliseconds, in the unit heartbeat ages use.
fn format_age(age_ms: u64) -> String {
    format_heartbeat(Some(age_ms))
        .trim_end_matches(" ago")
        .to_string()
}

/// The node table of `status` and `node list`.
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
    format!(
        "{}  {:<16} {}",
        format_time(event.at_ms),
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
