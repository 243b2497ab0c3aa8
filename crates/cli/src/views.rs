//! Pure rendering of resources: the `resource list` table, `resource show`, `explain`,
//! the one-line summaries that `--wait` prints as progress, and the words `status` uses.
//!
//! The current time arrives as a parameter, so failure ages are pinned by snapshot tests.

use std::collections::BTreeMap;
use std::time::Duration;

use comfy_table::{ContentArrangement, Table, presets};

/// Node names by id, for labels; an unknown id is shown as `node N`.
pub(crate) type NodeNames = BTreeMap<u64, String>;

/// The names of the nodes in a node list.
pub(crate) fn node_names(nodes: &[api::NodeStatus]) -> NodeNames {
    nodes
        .iter()
        .map(|node| (node.id, node.name.clone()))
        .collect()
}

/// A node's name, or `node N` when the name is not known.
pub(crate) fn node_label(id: u64, names: &NodeNames) -> String {
    match names.get(&id) {
        Some(name) => name.clone(),
        None => format!("node {id}"),
    }
}

/// What one instance is doing, from its observed state and whether the master assigns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Observed running and assigned here.
    Running,
    /// Assigned here but not (yet) observed running.
    Starting,
    /// Observed running (or possibly running) but no longer assigned here.
    Stopping,
    /// Its last start or monitor failed and the master still assigns it here.
    Recovering,
    /// Failed and no longer assigned here.
    Failed,
    /// Not known yet, for example before the first monitor after a restart.
    Unknown,
    /// Not running and not assigned: nothing happens here.
    Stopped,
}

impl Phase {
    pub(crate) fn word(self) -> &'static str {
        match self {
            Phase::Running => "running",
            Phase::Starting => "starting",
            Phase::Stopping => "stopping",
            Phase::Recovering => "recovering",
            Phase::Failed => "failed",
            Phase::Unknown => "unknown",
            Phase::Stopped => "stopped",
        }
    }

    /// Whether an instance may be running here (so it is not yet gone from this node).
    pub(crate) fn is_active(self) -> bool {
        self != Phase::Stopped
    }

    /// Whether something runs or happens here: active, except a failed instance the master
    /// no longer assigns, which stays failed (with its fail count) until a cleanup.
    pub(crate) fn is_busy(self) -> bool {
        !matches!(self, Phase::Stopped | Phase::Failed)
    }
}

pub(crate) fn instance_phase(instance: &api::InstanceView) -> Phase {
    let assigned = instance.assigned_token.is_some();
    match (instance.state.as_str(), assigned) {
        ("running", true) => Phase::Running,
        ("running", false) => Phase::Stopping,
        ("failed", true) => Phase::Recovering,
        ("failed", false) => Phase::Failed,
        ("stopped", true) => Phase::Starting,
        ("stopped", false) => Phase::Stopped,
        (_, true) => Phase::Starting,
        (_, false) => Phase::Unknown,
    }
}

/// The nodes an instance runs on in a steady state, in node order.
pub(crate) fn running_nodes(view: &api::ResourceView) -> Vec<u64> {
    view.instances
        .iter()
        .filter(|instance| instance_phase(instance) == Phase::Running)
        .map(|instance| instance.node)
        .collect()
}

fn is_disabled(view: &api::ResourceView) -> bool {
    view.spec.target_role.as_deref() == Some("stopped")
}

/// The resource's state in one word: `running`, `starting`, `stopping`, `moving`,
/// `recovering`, `failed`, `unknown`, `stopped` or `stopped (disabled)`.
pub(crate) fn resource_state(view: &api::ResourceView) -> String {
    let phases: Vec<Phase> = view.instances.iter().map(instance_phase).collect();
    let has = |phase: Phase| phases.contains(&phase);
    let state = if has(Phase::Starting) && has(Phase::Stopping) {
        "moving"
    } else if has(Phase::Recovering) {
        "recovering"
    } else if has(Phase::Starting) {
        "starting"
    } else if has(Phase::Stopping) {
        "stopping"
    } else if has(Phase::Running) && unreachable(view) {
        "unreachable"
    } else if has(Phase::Running) {
        "running"
    } else if has(Phase::Unknown) {
        "unknown"
    } else if has(Phase::Failed) {
        "failed"
    } else if is_disabled(view) {
        "stopped (disabled)"
    } else {
        "stopped"
    };
    state.to_string()
}

/// Whether the remote monitors find an instance healthy on its node but unreachable from
/// the other nodes.
fn unreachable(view: &api::ResourceView) -> bool {
    view.instances
        .iter()
        .any(|instance| instance.remote.as_deref() == Some("unreachable"))
}

/// The active instances: `node2`, or `node1 (stopping), node2 (starting)` when they differ;
/// `-` for none. A promotable resource's promoted instance says so: `node1 (promoted)`.
pub(crate) fn placement_text(view: &api::ResourceView, names: &NodeNames) -> String {
    let active: Vec<(u64, Phase, Option<&str>)> = view
        .instances
        .iter()
        .map(|instance| {
            let role = instance
                .role
                .as_deref()
                .filter(|role| *role != "unpromoted");
            (instance.node, instance_phase(instance), role)
        })
        .filter(|(_, phase, _)| phase.is_active())
        .collect();
    // The state column already says what a single kind of instance does.
    let mixed = active.iter().any(|(_, phase, _)| *phase != active[0].1);
    let parts: Vec<String> = active
        .iter()
        .map(|(node, phase, role)| {
            let notes: Vec<&str> = mixed
                .then(|| phase.word())
                .into_iter()
                .chain(*role)
                .collect();
            match notes.is_empty() {
                false => format!("{} ({})", node_label(*node, names), notes.join(", ")),
                true => node_label(*node, names),
            }
        })
        .collect();
    if parts.is_empty() {
        "-".to_string()
    } else {
        parts.join(", ")
    }
}

/// The state and where: `running on node2`, `moving on node1 (stopping), node2 (starting)`.
pub(crate) fn state_text(view: &api::ResourceView, names: &NodeNames) -> String {
    let placement = placement_text(view, names);
    if placement == "-" {
        resource_state(view)
    } else {
        format!("{} on {placement}", resource_state(view))
    }
}

/// One line about a resource for `--wait` progress: `web: running on node2`.
pub(crate) fn resource_summary(view: &api::ResourceView, names: &NodeNames) -> String {
    format!("{}: {}", view.spec.name, state_text(view, names))
}

fn fail_total(view: &api::ResourceView) -> u32 {
    view.instances
        .iter()
        .map(|instance| instance.fail_count)
        .sum()
}

/// The newest failure in plain words with its node and age, or `-`.
pub(crate) fn last_failure_text(
    view: &api::ResourceView,
    names: &NodeNames,
    now_ms: u64,
) -> String {
    let newest = view
        .instances
        .iter()
        .filter(|instance| instance.last_failure.is_some())
        .max_by_key(|instance| instance.last_failure_at_ms.unwrap_or(0));
    match newest {
        None => "-".to_string(),
        Some(instance) => failure_text(instance, names, now_ms),
    }
}

fn failure_text(instance: &api::InstanceView, names: &NodeNames, now_ms: u64) -> String {
    let message = instance.last_failure.as_deref().unwrap_or("failed");
    let node = node_label(instance.node, names);
    match instance.last_failure_at_ms {
        Some(at_ms) => format!("{message} (on {node}, {})", format_age(now_ms, at_ms)),
        None => format!("{message} (on {node})"),
    }
}

/// How long ago something happened, to the second: `just now`, `42s ago`, `3m 5s ago`.
pub(crate) fn format_age(now_ms: u64, at_ms: u64) -> String {
    let seconds = now_ms.saturating_sub(at_ms) / 1_000;
    if seconds == 0 {
        return "just now".to_string();
    }
    let age = humantime::format_duration(Duration::from_secs(seconds));
    format!("{age} ago")
}

/// The table of `resource list` and of the `status` resources section.
pub(crate) fn render_resource_table(
    views: &[api::ResourceView],
    names: &NodeNames,
    now_ms: u64,
) -> String {
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        // Long failure messages wrap to the terminal's width; a pipe gets whole lines.
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(vec![
            "NAME",
            "TYPE",
            "STATE",
            "NODE(S)",
            "FAILS",
            "LAST FAILURE",
        ]);
    for view in views {
        let name = match &view.group {
            Some(group) => format!("{} [{group}]", view.spec.name),
            None => view.spec.name.clone(),
        };
        table.add_row(vec![
            name,
            view.spec.type_name.clone(),
            resource_state(view),
            placement_text(view, names),
            fail_total(view).to_string(),
            last_failure_text(view, names, now_ms),
        ]);
    }
    let mut text = table.to_string();
    text.push('\n');
    text
}

/// `resource show`: configuration, then one line per node with state.
pub(crate) fn render_resource(view: &api::ResourceView, names: &NodeNames, now_ms: u64) -> String {
    let spec = &view.spec;
    let mut text = format!("resource {} ({})\n", spec.name, spec.type_name);
    text.push_str(&format!("  state: {}\n", state_text(view, names)));
    if let Some(group) = &view.group {
        text.push_str(&format!("  group: {group}\n"));
    }
    if spec.params.is_empty() {
        text.push_str("  params: none\n");
    } else {
        text.push_str("  params:\n");
        for (key, value) in &spec.params {
            text.push_str(&format!("    {key} = {value:?}\n"));
        }
    }
    for line in options_lines(spec) {
        text.push_str(&format!("  {line}\n"));
    }
    if !spec.utilization.is_empty() {
        let parts: Vec<String> = spec
            .utilization
            .iter()
            .map(|(key, amount)| format!("{key}={amount}"))
            .collect();
        text.push_str(&format!("  utilization: {}\n", parts.join(", ")));
    }
    if view.instances.is_empty() {
        text.push_str("  nodes: none yet\n");
    } else {
        text.push_str("  nodes:\n");
        for instance in &view.instances {
            text.push_str(&format!("    {}\n", instance_line(instance, names, now_ms)));
        }
    }
    text
}

fn instance_line(instance: &api::InstanceView, names: &NodeNames, now_ms: u64) -> String {
    let mut line = format!(
        "{}: {}, {}",
        node_label(instance.node, names),
        instance_phase(instance).word(),
        match instance.fail_count {
            1 => "1 failure".to_string(),
            count => format!("{count} failures"),
        }
    );
    if instance.last_failure.is_some() {
        let message = instance.last_failure.as_deref().unwrap_or("failed");
        line.push_str(&format!(", last: {message}"));
        if let Some(at_ms) = instance.last_failure_at_ms {
            line.push_str(&format!(" ({})", format_age(now_ms, at_ms)));
        }
    }
    if let Some(token) = instance.assigned_token {
        line.push_str(&format!(", assigned (token {token})"));
    }
    if let Some(role) = &instance.role {
        line.push_str(&format!(", {role}"));
    }
    if let Some(score) = instance.promotion_score {
        line.push_str(&format!(" (promotion score {score})"));
    }
    if let Some(text) = &instance.status_text {
        line.push_str(&format!(", status: {}", shown_status_text(text)));
    }
    line
}

/// An instance's status text as printed: control characters escaped again (the agent
/// escapes them already; a terminal must never get one from an application).
pub(crate) fn shown_status_text(text: &str) -> String {
    text.chars()
        .flat_map(|c| -> Box<dyn Iterator<Item = char>> {
            if c.is_control() {
                Box::new(c.escape_default())
            } else {
                Box::new(std::iter::once(c))
            }
        })
        .collect()
}

/// The options of `resource show`, as lines: placement, operations, target role.
fn options_lines(spec: &api::ResourceSpec) -> Vec<String> {
    let mut placement = Vec::new();
    if let Some(promoted_max) = spec.promoted_max {
        placement.push(format!("promotable (at most {promoted_max} promoted)"));
    }
    if spec.clone {
        match spec.clone_max {
            Some(max) => placement.push(format!("clone (at most {max})")),
            None => placement.push("clone (every eligible node)".to_string()),
        }
    } else if spec.unique != Some(false) {
        placement.push("unique".to_string());
    }
    if let Some(stickiness) = spec.stickiness {
        placement.push(format!("stickiness {stickiness}"));
    }
    match spec.migration_threshold {
        Some(0) => placement.push("never moves after failures".to_string()),
        Some(threshold) => placement.push(format!("moves after {threshold} failures")),
        None => {}
    }
    if let Some(timeout) = &spec.failure_timeout {
        placement.push(format!("failures expire after {timeout}"));
    }
    let mut operations = Vec::new();
    if let Some(interval) = &spec.monitor_interval {
        operations.push(format!("monitor every {interval}"));
    }
    let timeouts = [
        ("monitor", &spec.monitor_timeout),
        ("start", &spec.start_timeout),
        ("stop", &spec.stop_timeout),
    ];
    for (operation, timeout) in timeouts {
        if let Some(timeout) = timeout {
            operations.push(format!("{operation} timeout {timeout}"));
        }
    }
    if let Some(drain) = &spec.drain {
        operations.push(format!("drain {drain} before a planned stop"));
    }
    let mut lines = vec![format!("placement: {}", placement.join(", "))];
    if !operations.is_empty() {
        lines.push(format!("operations: {}", operations.join(", ")));
    }
    if let Some(role) = &spec.target_role {
        lines.push(format!("target role: {role}"));
    }
    lines
}

/// `explain`: where the resource is placed and every reason, one per line.
pub(crate) fn render_explanation(explanation: &api::Explanation, names: &NodeNames) -> String {
    let placement: Vec<String> = explanation
        .nodes
        .iter()
        .map(|node| node_label(*node, names))
        .collect();
    let mut text = if placement.is_empty() {
        format!(
            "{} is stopped: it is placed on no node\n",
            explanation.resource
        )
    } else {
        format!(
            "{} is placed on {}\n",
            explanation.resource,
            placement.join(", ")
        )
    };
    if explanation.reasons.is_empty() {
        text.push_str("  (the scheduler gave no reasons)\n");
    }
    for reason in &explanation.reasons {
        text.push_str(&format!("  - {reason}\n"));
    }
    text
}
