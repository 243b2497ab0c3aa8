//! `status` rendering: the 100-column layout with node modes, groups, clones, directors and
//! VIPs, pending moves and failed actions; the warnings at the top when the view is not the
//! master's; `--full`; and the JSON contract.

use expect_test::{expect, expect_file};

use super::resources::{NOW_MS, instance, view};
use super::{check, node, three_node_status};
use crate::render::render_json;
use crate::status::{STATUS_WIDTH, render_status};

/// The exit reason a failing OCF start leaves, long enough to have overflowed the old table.
const LONG_REASON: &str = "start: exit code 1 (generic error): ocf-exit-reason:Could not \
    start the database server: /var/lib/db/data is not writable by user db; check the \
    mount options and the ownership of the directory, then run `encluster resource cleanup db` \
    to try again";

/// A two-resource group on node 1, a clone with a director on nodes 1 and 3, a VIP, a failed
/// `db`, node 2 in standby and node 3 in maintenance, and a move of `web` that expires.
fn busy_status() -> api::Status {
    let mut status = three_node_status();
    status.nodes[1].standby = true;
    status.nodes[2].state = "online".to_string();
    status.nodes[2].role = "voter".to_string();
    status.nodes[2].maintenance = true;
    let mut ip = view("ip", vec![instance(2, "running", true)]);
    ip.spec.type_name = "vip".to_string();
    ip.spec.params.insert("ip".into(), "127.0.0.50".into());
    ip.group = Some("site".to_string());
    let mut web = view("web", vec![instance(2, "running", true)]);
    web.group = Some("site".to_string());
    let mut lb = view(
        "lbweb",
        vec![instance(1, "running", true), instance(3, "running", true)],
    );
    lb.spec.type_name = "lb".to_string();
    lb.spec.clone = true;
    lb.spec
        .params
        .insert("listen".into(), "127.0.0.100:8080,127.0.0.101:8080".into());
    let mut db = view("db", vec![instance(1, "failed", false)]);
    db.spec.type_name = "ocf:heartbeat:pgsql".to_string();
    db.instances[0].fail_count = 3;
    db.instances[0].last_failure = Some(LONG_REASON.to_string());
    db.instances[0].last_failure_at_ms = Some(NOW_MS - 125_000);
    status.resources = vec![db, ip, lb, web];
    status.groups = vec![api::GroupSpec {
        name: "site".to_string(),
        members: vec!["ip".to_string(), "web".to_string()],
    }];
    status.failed_actions = vec![api::FailedAction {
        resource: "db".to_string(),
        node: 1,
        operation: Some("start".to_string()),
        at_ms: Some(NOW_MS - 125_000),
        reason: Some(LONG_REASON.to_string()),
        fail_count: 3,
    }];
    status.moves = vec![api::PendingMove {
        resource: "web".to_string(),
        node: 2,
        score: 1_000_000,
        expires_at_ms: Some(NOW_MS + 598_000),
    }];
    status
}

#[test]
fn status_shows_modes_groups_clones_directors_moves_and_failed_actions_in_100_columns() {
    let text = render_status(&busy_status(), NOW_MS, false);
    assert_fits(&text);
    expect_file!["../../test_data/status-busy.txt"].assert_eq(&text.clone());
}

fn assert_fits(text: &str) {
    for line in text.lines() {
        let width = line.chars().count();
        assert!(width <= STATUS_WIDTH, "{width} columns: {line}");
    }
}

#[test]
fn full_status_adds_addresses_and_keeps_the_whole_failure() {
    let text = render_status(&busy_status(), NOW_MS, true);
    assert!(text.contains(LONG_REASON), "{text}");
    assert!(text.contains("10.0.0.2:7510") && text.contains("10.0.0.2:7511"));
    assert!(text.contains("2025-11-21T02:37:55.000Z"), "{text}");
}

#[test]
fn status_relayed_from_a_follower_says_it_is_the_masters_view() {
    let mut status = three_node_status();
    status.forwarded_by = Some(1);
    let text = render_status(&status, NOW_MS, false);
    assert_fits(&text);
    check(
        text,
        expect![[r#"
            cluster demo: master node 2 (node2), term 7, commit 1234, format 2
            quorum: yes, 2 of 2 voters online; view: the master's, asked through node 1 (node1)

            Nodes (3):
              ID  NAME   STATE   MODE  ROLE     HEARTBEAT          VERSION
              1   node1  online  -     voter    42 ms ago          0.11.0
              2   node2  online  -     voter    0 ms ago   master  0.11.0
              3   node3  down    -     learner  5.3 s ago          0.11.0

            Resources: none configured
        "#]],
    );
}

#[test]
fn status_without_a_reachable_master_warns_at_the_top_with_the_views_age() {
    let mut status = three_node_status();
    status.answered_by = 3;
    status.master = None;
    status.quorum = Some("lost".to_string());
    status.view = Some("local".to_string());
    status.master_contact_ms = Some(12_345);
    status.nodes = vec![
        node(1, "unknown", "voter", None),
        node(2, "unknown", "voter", None),
        node(3, "online", "voter", None),
    ];
    status.nodes[0].recorded_state = Some("down".to_string());
    status.nodes[1].recorded_state = Some("online".to_string());
    status.nodes[1].is_master = false;
    let text = render_status(&status, NOW_MS, false);
    assert_fits(&text);
    expect_file!["../../test_data/status-no-master.txt"].assert_eq(&text);
}

#[test]
fn status_when_the_master_does_not_answer_says_whose_view_it_is() {
    let mut status = three_node_status();
    status.answered_by = 1;
    status.view = Some("local".to_string());
    status.master_unreachable = Some("master 2 at 10.0.0.2:7511 did not answer".to_string());
    for node in &mut status.nodes {
        node.last_heartbeat_ms = None;
    }
    let text = render_status(&status, NOW_MS, false);
    assert_fits(&text);
    let top: Vec<&str> = text.lines().take(3).collect();
    expect_file!["../../test_data/status-master-unreachable.txt"].assert_eq(&top.join("\n"));
}

#[test]
fn status_json_keeps_every_field_name_of_earlier_versions() {
    let mut status = busy_status();
    status.resources.clear();
    status.nodes.truncate(1);
    status.failed_actions[0].reason = Some("exit 1".to_string());
    expect_file!["../../test_data/status-json.txt"].assert_eq(&render_json(&status));
    let parsed: api::Status = serde_json::from_str(&render_json(&status)).expect("valid JSON");
    assert_eq!(parsed, status);
    // An answer of an agent that predates the new fields still reads.
    let old = r#"{"cluster_name":"c","answered_by":1,"master":1,"term":1,"commit_index":1,
        "applied_index":1,"nodes":[{"id":1,"name":"n","state":"online","role":"voter",
        "is_master":true,"last_heartbeat_ms":0,"peer_addr":"a:1","api_addr":"a:2"}]}"#;
    let parsed: api::Status = serde_json::from_str(old).expect("old status JSON reads");
    assert!(parsed.failed_actions.is_empty() && !parsed.nodes[0].standby);
}

/// A service healthy on its node but unreachable from the others (issue 13 point 3) is
/// `unreachable` in the table, and the remote views section says what each side sees.
#[test]
fn status_shows_a_service_unreachable_from_outside_and_the_remote_views() {
    let mut status = three_node_status();
    let mut web = view("web", vec![instance(2, "running", true)]);
    web.instances[0].remote = Some("unreachable".to_string());
    status.resources = vec![web];
    status.remote_views = vec![
        api::RemoteView {
            target: "resource:web".to_string(),
            node: 2,
            verdict: "unreachable".to_string(),
            observers: 2,
            reachable: 0,
        },
        api::RemoteView {
            target: "node:1".to_string(),
            node: 1,
            verdict: "reachable".to_string(),
            observers: 2,
            reachable: 2,
        },
    ];
    let text = render_status(&status, NOW_MS, false);
    assert_fits(&text);
    let row = text
        .lines()
        .find(|line| line.trim_start().starts_with("web "))
        .expect("web's row");
    assert!(row.contains("unreachable"), "{row}");
    assert!(
        text.contains(
            "Remote views:\n  resource:web on node 2 (node2): unreachable, healthy on its node; \
             0 of 2 others reach it\n"
        ),
        "{text}"
    );
    assert!(
        !text.contains("node:1 on"),
        "agreeing views are not listed: {text}"
    );
}

/// r12: a promotable clone of a long OCF type on three nodes: the 100-column table shows
/// its type and its promoted instance in full instead of cutting `(promoted)`, and still
/// fits; where the line cannot fit, the nodes are cut last.
#[test]
fn status_shows_the_promoted_instance_in_full_in_100_columns_r12() {
    let status = three_node_status();
    let mut db = view(
        "db",
        vec![
            instance(1, "running", true),
            instance(2, "running", true),
            instance(3, "running", true),
        ],
    );
    db.spec.type_name = "ocf:pacemaker:Stateful".to_string();
    db.spec.clone = true;
    db.spec.promoted_max = Some(1);
    for (instance, role) in db
        .instances
        .iter_mut()
        .zip(["unpromoted", "promoted", "unpromoted"])
    {
        instance.role = Some(role.to_string());
    }
    let mut long = db.clone();
    long.spec.name = "a-resource-name-of-24-ch".to_string();
    long.spec.type_name = "ocf:heartbeat:a-very-long-agent-name".to_string();
    let table = |resources: Vec<api::ResourceView>| {
        let mut status = status.clone();
        status.resources = resources;
        let text = render_status(&status, NOW_MS, false);
        assert_fits(&text);
        let lines: Vec<&str> = text
            .lines()
            .skip_while(|line| !line.starts_with("Resources"))
            .take(4)
            .collect();
        lines.join("\n")
    };
    // Room enough: the whole type and the whole placement; then no room for both: the
    // nodes stay whole, the type is cut.
    let tables = format!("{}\n\n{}\n", table(vec![db.clone()]), table(vec![db, long]));
    expect_file!["../../test_data/status-promotable.txt"].assert_eq(&tables);
}

// --- upgrade ---
/// During a rolling upgrade the first line names the cluster format and the nodes table
/// each node's version: the new build with the higher format it could write, a node of
/// 0.11.0 that reports none, and `-` for one the master has not heard yet.
#[test]
fn status_shows_the_cluster_format_and_each_nodes_version_during_an_upgrade() {
    let mut status = three_node_status();
    status.format = Some(1);
    status.nodes[0].version = Some("0.11.0 (commit 0123456789ab)".into());
    status.nodes[0].format = Some(2);
    status.nodes[1].version = None;
    status.nodes[1].format = Some(1);
    status.nodes[2].version = None;
    status.nodes[2].format = None;
    let text = render_status(&status, NOW_MS, false);
    assert_fits(&text);
    let first = text.lines().next().unwrap_or_default();
    assert!(first.ends_with(", format 1"), "{first}");
    let row = |id: &str| {
        text.lines()
            .find(|line| line.trim_start().starts_with(id))
            .unwrap_or_default()
            .to_string()
    };
    assert!(row("1 ").ends_with("0.11.0 (format 2)"), "{text}");
    assert!(row("2 ").ends_with("unreported"), "{text}");
    assert!(row("3 ").ends_with('-'), "{text}");
    let full = render_status(&status, NOW_MS, true);
    assert!(
        full.contains("0.11.0 (commit 0123456789ab) (format 2)"),
        "{full}"
    );
}

// --- witness ---
/// Issue 16: a two-node cluster without a witness is told what it cannot survive; with
/// one, nothing is said.
#[test]
fn status_warns_a_two_node_cluster_without_a_witness() {
    let mut status = three_node_status();
    status.nodes.truncate(2);
    status.nodes[0].role = "learner".to_string();
    let text = render_status(&status, NOW_MS, false);
    let first = text.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("note: two nodes and no witness: if node 2")
            && text.contains("cannot take over without `encluster force-quorum`")
            && text.contains("`encluster witness add`"),
        "{text}"
    );
    status.nodes[0].role = "voter".to_string();
    let text = render_status(&status, NOW_MS, false);
    assert!(
        text.contains("if either node is lost, the other cannot take over"),
        "{text}"
    );
    status.witness = Some("192.0.2.9:7480".to_string());
    let text = render_status(&status, NOW_MS, false);
    assert!(!text.contains("witness"), "{text}");
}

/// The last `STATUS=` of a running instance shows in its own section of `status` and on
/// its node's line in `resource show`, with any control character escaped.
#[test]
fn status_and_resource_show_give_an_instances_status_text_escaped() {
    let mut status = three_node_status();
    let mut web = view("web", vec![instance(2, "running", true)]);
    web.instances[0].status_text = Some("serving 3 clients\u{1b}[2J".to_string());
    status.resources = vec![web.clone()];
    let text = render_status(&status, NOW_MS, false);
    assert_fits(&text);
    assert!(
        text.contains("Status texts:\n  web on node 2 (node2): serving 3 clients\\u{1b}[2J\n"),
        "{text}"
    );
    let names = (1..=3).map(|id| (id, format!("node{id}"))).collect();
    let shown = crate::views::render_resource(&web, &names, NOW_MS);
    assert!(
        shown.contains(", status: serving 3 clients\\u{1b}[2J\n"),
        "{shown}"
    );
}
