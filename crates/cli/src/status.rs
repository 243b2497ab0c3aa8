//! `status`, at `crm_mon`'s level: warnings first, then the cluster line and quorum, nodes
//! with their modes, resources with groups and clones, directors and VIPs, pending moves
//! and failed actions in plain words.
//!
//! The compact form fits 100 columns (long cells are cut with `…`); `--full` adds the
//! addresses and prints every cell whole. Pure: `now_ms` arrives as a parameter, so the
//! output is pinned by snapshot tests.

use std::collections::BTreeSet;

use crate::render::{format_heartbeat, format_time};
use crate::views::{
    NodeNames, format_age, node_label, node_names, placement_text, resource_state, running_nodes,
};

/// The width the compact form fits in.
pub(crate) const STATUS_WIDTH: usize = 100;

/// The score the API uses for INFINITY.
const SCORE_INFINITY: i64 = 1_000_000;

/// Renders `status`; `full` prints addresses and whole cells.
pub(crate) fn render_status(status: &api::Status, now_ms: u64, full: bool) -> String {
    let names = node_names(&status.nodes);
    let mut text = warnings(status, &names);
    // --- rotate ---
    for warning in &status.cert_warnings {
        text.push_str(&format!("WARNING: {}\n", warning.message));
    }
    text.push_str(&header(status, &names));
    text.push('\n');
    text.push_str(&nodes_section(status, full));
    text.push('\n');
    text.push_str(&resources_section(status, &names, full));
    for section in [
        directors_section(status, &names, full),
        moves_section(status, &names, now_ms, full),
        failed_section(status, &names, now_ms, full),
        remote_section(status, &names, full),
        status_text_section(status, &names, full),
    ] {
        if !section.is_empty() {
            text.push('\n');
            text.push_str(&section);
        }
    }
    text
}

/// The last status text of each running instance that gave one (systemd's `STATUS=`).
fn status_text_section(status: &api::Status, names: &NodeNames, full: bool) -> String {
    let mut text = String::new();
    for view in &status.resources {
        for instance in &view.instances {
            let Some(said) = &instance.status_text else {
                continue;
            };
            let said = crate::views::shown_status_text(said);
            let line = format!(
                "  {} on {}: {said}",
                view.spec.name,
                node_named(instance.node, names)
            );
            text.push_str(&fit(&line, full));
            text.push('\n');
        }
    }
    if text.is_empty() {
        return text;
    }
    format!("Status texts:\n{text}")
}

/// The remote monitors' disagreements with a service's own monitor (issue 13 point 3).
fn remote_section(status: &api::Status, names: &NodeNames, full: bool) -> String {
    let mut text = String::new();
    for view in &status.remote_views {
        let what = match view.verdict.as_str() {
            "unreachable" => "unreachable, healthy on its node",
            "failed_inside" => "failing its own monitor, reachable",
            _ => continue,
        };
        let line = format!(
            "  {} on {}: {what}; {} of {} others reach it",
            view.target,
            node_named(view.node, names),
            view.reachable,
            view.observers
        );
        text.push_str(&fit(&line, full));
        text.push('\n');
    }
    if text.is_empty() {
        return text;
    }
    format!("Remote views:\n{text}")
}

/// `node N (name)`, or `node N` when the name is not known.
fn node_named(id: u64, names: &NodeNames) -> String {
    match names.get(&id) {
        Some(name) => format!("node {id} ({name})"),
        None => format!("node {id}"),
    }
}

fn quorum_lost(status: &api::Status) -> bool {
    status.quorum.as_deref() == Some("lost")
}

/// What the reader must know before trusting anything below, first.
fn warnings(status: &api::Status, names: &NodeNames) -> String {
    let me = node_named(status.answered_by, names);
    if status.master.is_none() {
        let age = match status.master_contact_ms {
            Some(age_ms) => format!(" from {} ago", duration_text(age_ms)),
            None => String::new(),
        };
        let mut text = format!("WARNING: no master reachable; showing {me}'s last view{age}\n");
        if quorum_lost(status) {
            text.push_str(&quorum_lost_text(status, names));
        } else {
            text.push_str(
                "The cluster accepts no writes until a master is elected; \
                 the states below may be out of date.\n",
            );
        }
        return text;
    }
    let mut text = match (&status.master_unreachable, status.view.as_deref()) {
        (Some(problem), _) => format!(
            "WARNING: the master did not answer; showing {me}'s own view, which may be out \
             of date\n  ({})\n",
            cut(problem, STATUS_WIDTH - 4)
        ),
        // An agent that predates forwarding answers with its own view.
        (None, None) if status.master != Some(status.answered_by) => {
            let master = status.master.unwrap_or_default();
            format!(
                "note: {me} is not the master and its agent does not forward status; \
                 heartbeat ages are known only to {}\n",
                node_named(master, names)
            )
        }
        _ => String::new(),
    };
    text.push_str(&two_nodes_without_a_witness(status, names));
    text
}

/// What a two-node cluster without a witness cannot survive (issue 16): the loss of its
/// only voter, or, with both voting, of either node.
fn two_nodes_without_a_witness(status: &api::Status, names: &NodeNames) -> String {
    if status.nodes.len() != 2 || status.witness.is_some() {
        return String::new();
    }
    let voters: Vec<u64> = status
        .nodes
        .iter()
        .filter(|node| node.role == "voter")
        .map(|node| node.id)
        .collect();
    let loss = match voters[..] {
        [voter] => {
            let other = status.nodes.iter().find(|node| node.id != voter);
            let Some(other) = other else {
                return String::new();
            };
            format!(
                "if {} is lost, {} cannot take over",
                node_named(voter, names),
                node_named(other.id, names)
            )
        }
        [_, _] => "if either node is lost, the other cannot take over".to_owned(),
        _ => return String::new(),
    };
    format!(
        "note: two nodes and no witness: {loss} without `encluster force-quorum`; a \
         witness on a third machine lets either node survive (`encluster witness add`)\n"
    )
}

/// The quorum-loss details: who was last heard, which voters are missing, the way out.
fn quorum_lost_text(status: &api::Status, names: &NodeNames) -> String {
    let heard = match (status.last_master, status.master_contact_ms) {
        (Some(id), Some(age)) => format!(
            "last heard from master {} {} ago",
            node_named(id, names),
            duration_text(age)
        ),
        (Some(id), None) => format!("its last master was {}", node_named(id, names)),
        (None, _) => "it has heard from no master".to_string(),
    };
    let voters: Vec<String> = status
        .nodes
        .iter()
        .filter(|node| node.role == "voter" && node.id != status.answered_by)
        .map(|node| node_named(node.id, names))
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

/// A duration in the unit heartbeat ages use, without `ago`.
fn duration_text(age_ms: u64) -> String {
    format_heartbeat(Some(age_ms))
        .trim_end_matches(" ago")
        .to_string()
}

/// The cluster line and the quorum line.
fn header(status: &api::Status, names: &NodeNames) -> String {
    let master = match status.master {
        Some(id) => format!("master {}", node_named(id, names)),
        None if quorum_lost(status) => "no master (quorum lost)".to_string(),
        None => "no master".to_string(),
    };
    let asked = match status.forwarded_by {
        Some(asked) => format!(", asked through {}", node_named(asked, names)),
        None => String::new(),
    };
    let view = match status.view.as_deref() {
        Some("master") => format!("the master's{asked}"),
        _ => format!("{}'s own", node_named(status.answered_by, names)),
    };
    // --- upgrade --- The cluster format, from agents that report it.
    let format = status
        .format
        .map(|format| format!(", format {format}"))
        .unwrap_or_default();
    let mut text = format!(
        "cluster {}: {master}, term {}, commit {}{format}\n",
        status.cluster_name, status.term, status.commit_index
    );
    let voters: Vec<&api::NodeStatus> = status
        .nodes
        .iter()
        .filter(|node| node.role == "voter")
        .collect();
    let online = voters.iter().filter(|node| node.state == "online").count();
    let has = match status.quorum.as_deref() {
        Some("lost") => "LOST",
        _ if status.master.is_some() => "yes",
        _ => "no",
    };
    text.push_str(&format!(
        "quorum: {has}, {online} of {} voters online; view: {view}\n",
        voters.len()
    ));
    text
}

/// A table of plain columns: cells longer than their column's limit are cut with `…`
/// (compact form), every row indented by two spaces, no trailing spaces.
struct Columns {
    limits: Vec<usize>,
    /// Columns whose cells may grow past their limit while the line still fits in
    /// `STATUS_WIDTH`, the first listed first (so `node2 (promoted)` is not cut when the
    /// other columns leave room).
    flex: Vec<usize>,
    /// Each row's cells, and whether it is a title spanning the columns (a group's name),
    /// which takes no part in the widths.
    rows: Vec<(Vec<String>, bool)>,
}

impl Columns {
    fn new(header: &[&str], limits: &[usize], full: bool) -> Columns {
        let limits = match full {
            true => vec![usize::MAX; limits.len()],
            false => limits.to_vec(),
        };
        let header = header.iter().map(|cell| cell.to_string()).collect();
        Columns {
            limits,
            flex: Vec::new(),
            rows: vec![(header, false)],
        }
    }

    /// Lets `columns` take the room the others leave (see [`Columns::flex`]).
    fn flexible(mut self, columns: &[usize]) -> Columns {
        self.flex = columns.to_vec();
        self
    }

    fn row(&mut self, cells: Vec<String>) {
        let cells = cells
            .into_iter()
            .enumerate()
            .zip(&self.limits)
            .map(
                |((column, cell), limit)| match self.flex.contains(&column) {
                    true => cell,
                    false => cut(&cell, *limit),
                },
            )
            .collect();
        self.rows.push((cells, false));
    }

    /// Each column's width: its widest cell, a flexible column's cut to its limit plus
    /// whatever room is left in `STATUS_WIDTH`, given out in the order of `flex`.
    fn widths(&self) -> Vec<usize> {
        let columns = self.limits.len();
        let natural: Vec<usize> = (0..columns)
            .map(|column| {
                let width = |(row, title): &(Vec<String>, bool)| match title {
                    true => 0,
                    false => row.get(column).map_or(0, |cell| cell.chars().count()),
                };
                self.rows.iter().map(width).max().unwrap_or(0)
            })
            .collect();
        let mut widths: Vec<usize> = natural
            .iter()
            .zip(&self.limits)
            .map(|(width, limit)| (*width).min(*limit))
            .collect();
        // Two spaces of indent, two between columns.
        let used = 2 + widths.iter().sum::<usize>() + 2 * columns.saturating_sub(1);
        let mut room = STATUS_WIDTH.saturating_sub(used);
        for column in &self.flex {
            let grown = natural[*column].min(widths[*column] + room);
            room -= grown - widths[*column];
            widths[*column] = grown;
        }
        widths
    }

    fn title(&mut self, title: String) {
        self.rows.push((vec![title], true));
    }

    fn render(&self) -> String {
        let widths = self.widths();
        let mut text = String::new();
        for (row, title) in &self.rows {
            if *title {
                text.push_str(&format!("  {}\n", row.join(" ")));
                continue;
            }
            let mut line = String::from(" ");
            for (cell, width) in row.iter().zip(&widths) {
                let cell = cut(cell, *width);
                line.push(' ');
                line.push_str(&cell);
                let pad = width.saturating_sub(cell.chars().count());
                line.push_str(&" ".repeat(pad + 1));
            }
            text.push_str(line.trim_end());
            text.push('\n');
        }
        text
    }
}

/// `text` cut to `limit` characters, ending in `…` when cut.
fn cut(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_string();
    }
    let mut kept: String = text.chars().take(limit.saturating_sub(1)).collect();
    kept.push('…');
    kept
}

fn nodes_section(status: &api::Status, full: bool) -> String {
    let mut header = vec![
        "ID",
        "NAME",
        "STATE",
        "MODE",
        "ROLE",
        "HEARTBEAT",
        "",
        "VERSION",
    ];
    let mut limits = vec![6, 20, 22, 20, 7, 12, 6, 20];
    if full {
        header.extend(["PEER", "API"]);
        limits.extend([0, 0]);
    }
    let mut table = Columns::new(&header, &limits, full);
    for node in &status.nodes {
        let state = match &node.recorded_state {
            Some(recorded) if *recorded != node.state => {
                format!("{} (was {recorded})", node.state)
            }
            _ => node.state.clone(),
        };
        let mode: Vec<&str> = [(node.standby, "standby"), (node.maintenance, "maintenance")]
            .into_iter()
            .filter_map(|(on, word)| on.then_some(word))
            .collect();
        let mut cells = vec![
            node.id.to_string(),
            node.name.clone(),
            state,
            if mode.is_empty() {
                "-".into()
            } else {
                mode.join(", ")
            },
            node.role.clone(),
            format_heartbeat(node.last_heartbeat_ms),
            if node.is_master { "master" } else { "" }.to_string(),
            version_text(node, status.format, full),
        ];
        if full {
            cells.extend([node.peer_addr.clone(), node.api_addr.clone()]);
        }
        table.row(cells);
    }
    format!("Nodes ({}):\n{}", status.nodes.len(), table.render())
}

// --- upgrade ---
/// A node's version as its heartbeats report it (the master's view only): the version
/// (with its commit in full), and the highest format it writes when that is not the
/// cluster's; `unreported` for an agent that predates reports (0.11.0); `-` when unknown
/// here (a view that is not the master's).
fn version_text(node: &api::NodeStatus, cluster_format: Option<u32>, full: bool) -> String {
    let version = match (&node.version, node.format) {
        (Some(version), _) if full => version.clone(),
        (Some(version), _) => version.split(' ').next().unwrap_or(version).to_string(),
        (None, Some(_)) => "unreported".to_string(),
        (None, None) => return "-".to_string(),
    };
    match node.format {
        Some(format) if Some(format) != cluster_format => format!("{version} (format {format})"),
        _ => version,
    }
}

fn resources_section(status: &api::Status, names: &NodeNames, full: bool) -> String {
    if status.resources.is_empty() {
        return "Resources: none configured\n".to_string();
    }
    let failed = status
        .resources
        .iter()
        .filter(|view| matches!(resource_state(view).as_str(), "failed" | "recovering"))
        .count();
    let mut title = format!("Resources ({}", status.resources.len());
    if failed > 0 {
        title.push_str(&format!(", {failed} failed or recovering"));
    }
    title.push_str("):\n");
    let header = ["NAME", "TYPE", "STATE", "NODE(S)", "FAILS"];
    // The type and the nodes take the room the others leave: a promoted instance's
    // `(promoted)` and a promotable type's name are not cut in a 100-column table.
    let mut table = Columns::new(&header, &[24, 24, 18, 20, 5], full).flexible(&[3, 1]);
    let mut shown: BTreeSet<&str> = BTreeSet::new();
    for view in &status.resources {
        if shown.contains(view.spec.name.as_str()) {
            continue;
        }
        let group = view
            .group
            .as_deref()
            .and_then(|name| status.groups.iter().find(|group| group.name == name));
        let Some(group) = group else {
            shown.insert(&view.spec.name);
            table.row(resource_cells(view, "", names));
            continue;
        };
        table.title(format!("group {}:", group.name));
        for member in &group.members {
            let found = status.resources.iter().find(|v| v.spec.name == *member);
            if let Some(member_view) = found {
                shown.insert(&member_view.spec.name);
                table.row(resource_cells(member_view, "  ", names));
            }
        }
    }
    format!("{title}{}", table.render())
}

fn resource_cells(view: &api::ResourceView, indent: &str, names: &NodeNames) -> Vec<String> {
    let spec = &view.spec;
    let kind = match (spec.clone, spec.clone_max) {
        _ if spec.promoted_max.is_some() => format!("{} (promotable)", spec.type_name),
        (true, Some(max)) => format!("{} (clone, max {max})", spec.type_name),
        (true, None) => format!("{} (clone)", spec.type_name),
        (false, _) => spec.type_name.clone(),
    };
    let fails: u32 = view.instances.iter().map(|i| i.fail_count).sum();
    vec![
        format!("{indent}{}", spec.name),
        kind,
        resource_state(view),
        placement_text(view, names),
        if fails == 0 {
            String::new()
        } else {
            fails.to_string()
        },
    ]
}

/// Each `lb` service with where it is directed from and what it listens on, and each VIP
/// with its holder.
fn directors_section(status: &api::Status, names: &NodeNames, full: bool) -> String {
    let mut table = Columns::new(&["NAME", "KIND", "ADDRESS", "ON"], &[24, 8, 40, 20], full);
    let mut any = false;
    for view in &status.resources {
        let (kind, address) = match view.spec.type_name.as_str() {
            "lb" => ("director", view.spec.params.get("listen")),
            "vip" => ("vip", view.spec.params.get("ip")),
            _ => continue,
        };
        any = true;
        let on: Vec<String> = running_nodes(view)
            .into_iter()
            .map(|node| node_label(node, names))
            .collect();
        table.row(vec![
            view.spec.name.clone(),
            kind.to_string(),
            address.cloned().unwrap_or_else(|| "-".into()),
            if on.is_empty() {
                "-".into()
            } else {
                on.join(", ")
            },
        ]);
    }
    match any {
        true => format!("Directors and VIPs:\n{}", table.render()),
        false => String::new(),
    }
}

fn score_text(score: i64) -> String {
    if score >= SCORE_INFINITY {
        "INFINITY".to_string()
    } else if score <= -SCORE_INFINITY {
        "-INFINITY".to_string()
    } else {
        score.to_string()
    }
}

/// Move preferences still in force, with their end.
fn moves_section(status: &api::Status, names: &NodeNames, now_ms: u64, full: bool) -> String {
    let mut lines = String::new();
    for pending in &status.moves {
        let verb = if pending.score >= 0 {
            "prefers"
        } else {
            "avoids"
        };
        let until = match pending.expires_at_ms {
            Some(at_ms) => format!(
                "until {} (in {})",
                time_text(at_ms, full),
                format_in(now_ms, at_ms)
            ),
            None => "until cleared".to_string(),
        };
        let line = format!(
            "  * {} {verb} {} ({}) {until}",
            pending.resource,
            node_label(pending.node, names),
            score_text(pending.score)
        );
        lines.push_str(&fit(&line, full));
        lines.push('\n');
    }
    match lines.is_empty() {
        true => String::new(),
        false => format!("Pending moves:\n{lines}"),
    }
}

/// How long until `at_ms`, to the second.
fn format_in(now_ms: u64, at_ms: u64) -> String {
    let seconds = at_ms.saturating_sub(now_ms) / 1_000;
    humantime::format_duration(std::time::Duration::from_secs(seconds)).to_string()
}

/// A time for people: to the second, or with milliseconds in the full form.
fn time_text(at_ms: u64, full: bool) -> String {
    let time = format_time(at_ms);
    match full {
        true => time,
        false => format!("{}Z", &time[..time.len().min(19)]),
    }
}

fn fit(line: &str, full: bool) -> String {
    match full {
        true => line.to_string(),
        false => cut(line, STATUS_WIDTH),
    }
}

/// Every failure still counted, in plain words: resource, operation, node, when, why.
fn failed_section(status: &api::Status, names: &NodeNames, now_ms: u64, full: bool) -> String {
    let mut lines = String::new();
    for action in &status.failed_actions {
        let operation = action.operation.as_deref().unwrap_or("operation");
        let when = match action.at_ms {
            Some(at_ms) => format!(
                " {} ({})",
                format_age(now_ms, at_ms),
                time_text(at_ms, full)
            ),
            None => String::new(),
        };
        let count = match action.fail_count {
            1 => "1 failure".to_string(),
            count => format!("{count} failures"),
        };
        let reason = action.reason.as_deref().unwrap_or("no reason given");
        let line = format!(
            "  * {}: {operation} failed on {}{when}, {count}",
            action.resource,
            node_label(action.node, names),
        );
        lines.push_str(&fit(&line, full));
        lines.push('\n');
        lines.push_str(&fit(&format!("      {}", reason.replace('\n', " ")), full));
        lines.push('\n');
    }
    match lines.is_empty() {
        true => String::new(),
        false => {
            format!("Failed actions (`encluster resource cleanup NAME` forgets them):\n{lines}")
        }
    }
}
