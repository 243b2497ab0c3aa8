//! Unit tests of the CLI: rendering, config resolution, error messages and `--follow`.
//!
//! Rendering is pinned with expect-test snapshots (`UPDATE_EXPECT=1` rewrites them).
//! Config resolution runs on temporary directories and explicit argument values, never on
//! the process environment. The `fake_agent` module checks the error messages against a real
//! TLS listener on loopback.

mod apply;
mod config;
mod edits;
mod errors;
mod failover;
mod fake_agent;
mod follow;
mod resource_agent;
mod resources;
mod status;
mod types;
mod undo;
mod user_types;
mod wait;

use clap::{CommandFactory, Parser};
use expect_test::{Expect, expect};

use crate::render::{
    format_heartbeat, format_time, render_event_json, render_event_line, render_nodes,
};
use crate::{ApiArgs, CliCommand, KvCommand, NodeCommand};

pub(crate) fn node(id: u64, state: &str, role: &str, heartbeat_ms: Option<u64>) -> api::NodeStatus {
    api::NodeStatus {
        id,
        name: format!("node{id}"),
        state: state.to_string(),
        role: role.to_string(),
        is_master: id == 2,
        last_heartbeat_ms: heartbeat_ms,
        peer_addr: format!("10.0.0.{id}:7510"),
        api_addr: format!("10.0.0.{id}:7511"),
        recorded_state: None,
        standby: false,
        maintenance: false,
        version: Some("0.11.0 (commit 26a84198743b)".into()),
        format: Some(2),
    }
}

pub(crate) fn three_node_status() -> api::Status {
    api::Status {
        cluster_name: "demo".to_string(),
        answered_by: 2,
        master: Some(2),
        term: 7,
        commit_index: 1234,
        applied_index: 1230,
        nodes: vec![
            node(1, "online", "voter", Some(42)),
            node(2, "online", "voter", Some(0)),
            node(3, "down", "learner", Some(5_300)),
        ],
        resources: Vec::new(),
        quorum: Some("has".to_string()),
        last_master: Some(2),
        master_contact_ms: Some(0),
        view: Some("master".to_string()),
        forwarded_by: None,
        master_unreachable: None,
        failed_actions: Vec::new(),
        moves: Vec::new(),
        groups: Vec::new(),
        remote_views: Vec::new(),
        format: Some(2),
        cert_warnings: Vec::new(),
        witness: None,
    }
}

pub(crate) fn check(actual: String, expected: Expect) {
    expected.assert_eq(&actual);
}

/// Wraps a long message at spaces so its snapshot fits the line width.
pub(crate) fn wrap(text: &str) -> String {
    let mut lines: Vec<String> = vec![String::new()];
    for word in text.split(' ') {
        let line = lines.last_mut().expect("there is always a line");
        if !line.is_empty() && line.len() + 1 + word.len() > 80 {
            lines.push(word.to_string());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines.join("\n")
}

#[test]
fn empty_node_list_renders_only_the_header() {
    check(
        render_nodes(&[]),
        expect![[r#"
            ┌────┬──────┬───────┬──────┬────────┬───────────┬──────┬─────┐
            │ ID ┆ NAME ┆ STATE ┆ ROLE ┆ MASTER ┆ HEARTBEAT ┆ PEER ┆ API │
            ╞════╪══════╪═══════╪══════╪════════╪═══════════╪══════╪═════╡
            └────┴──────┴───────┴──────┴────────┴───────────┴──────┴─────┘
        "#]],
    );
}

#[test]
fn heartbeat_age_uses_milliseconds_under_a_second_then_coarser_units() {
    let ages = [
        None,
        Some(0),
        Some(42),
        Some(999),
        Some(1_000),
        Some(1_540),
        Some(59_999),
    ];
    let more = [Some(61_000), Some(3_600_000), Some(90_061_000)];
    let rendered: Vec<String> = ages.into_iter().chain(more).map(format_heartbeat).collect();
    check(
        rendered.join("\n"),
        expect![[r#"
            -
            0 ms ago
            42 ms ago
            999 ms ago
            1.0 s ago
            1.5 s ago
            59.9 s ago
            1m 1s ago
            1h ago
            1day 1h 1m 1s ago"#]],
    );
}

fn event(seq: u64, at_ms: u64, kind: &str, message: &str) -> api::Event {
    api::Event {
        seq,
        at_ms,
        kind: kind.to_string(),
        message: message.to_string(),
        detail: serde_json::json!({ "node": 3, "state": "down" }),
        severity: "critical".into(),
        actor: None,
    }
}

#[test]
fn event_time_is_rfc3339_utc_with_milliseconds() {
    assert_eq!(format_time(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(format_time(1_763_692_812_345), "2025-11-21T02:40:12.345Z");
}

#[test]
fn event_line_shows_time_severity_kind_and_message() {
    let node_down = event(
        17,
        1_763_692_812_345,
        "node_health",
        "node 3 (node3) is down",
    );
    let master = event(
        18,
        1_763_692_812_400,
        "master_changed",
        "node 2 is the master",
    );
    let lines = [render_event_line(&node_down), render_event_line(&master)];
    check(
        lines.join("\n"),
        expect![[r#"
            2025-11-21T02:40:12.345Z  critical node_health      node 3 (node3) is down
            2025-11-21T02:40:12.400Z  critical master_changed   node 2 is the master"#]],
    );
}

#[test]
fn event_json_is_one_line_per_event() {
    let node_down = event(17, 1_763_692_812_345, "node_health", "node 3 is down");
    let expected = concat!(
        r#"{"seq":17,"at_ms":1763692812345,"kind":"node_health","#,
        r#""message":"node 3 is down","detail":{"node":3,"state":"down"},"severity":"critical"}"#
    );
    assert_eq!(render_event_json(&node_down), expected);
}

#[test]
fn node_removal_message_names_the_node_when_known() {
    let named = crate::commands::removed_message(3, Some("node3"));
    let unnamed = crate::commands::removed_message(3, None);
    check(
        format!("{named}\n{unnamed}"),
        expect![[r#"
            removed node 3 (node3) from the cluster; stop its agent if it still runs
            removed node 3 from the cluster; stop its agent if it still runs"#]],
    );
}

/// The `encluster` binary flattens `ApiArgs` and the subcommands like this.
#[derive(clap::Parser, Debug)]
struct TestCli {
    #[command(flatten)]
    api: ApiArgs,
    #[command(subcommand)]
    command: CliCommand,
}

#[test]
fn command_line_definition_is_consistent() {
    TestCli::command().debug_assert();
}

#[test]
fn global_flags_are_accepted_after_the_subcommand() {
    let cli = TestCli::try_parse_from([
        "encluster",
        "node",
        "list",
        "--json",
        "--api",
        "127.0.0.11:7511",
        "--ca",
        "ca.pem",
    ])
    .expect("valid command line");
    assert_eq!(cli.api.api.as_deref(), Some("127.0.0.11:7511"));
    assert_eq!(cli.api.ca.as_deref(), Some(std::path::Path::new("ca.pem")));
    assert!(matches!(
        cli.command,
        CliCommand::Node(NodeCommand::List { json: true })
    ));
}

#[test]
fn subcommands_parse_their_arguments_and_defaults() {
    let parse = |args: &[&str]| {
        TestCli::try_parse_from(std::iter::once("encluster").chain(args.iter().copied()))
            .expect("valid command line")
            .command
    };
    let events = parse(&["events", "--follow"]);
    assert!(matches!(
        events,
        CliCommand::Events {
            follow: true,
            json: false,
            last: 50
        }
    ));
    let CliCommand::Node(NodeCommand::Remove { node }) = parse(&["node", "remove", "4"]) else {
        panic!("node remove parsed as another command");
    };
    assert_eq!(node, "4");
    let CliCommand::Kv(KvCommand::Get { key, stale }) = parse(&["kv", "get", "k1", "--stale"])
    else {
        panic!("kv get parsed as another command");
    };
    assert_eq!((key.as_str(), stale), ("k1", true));
    let CliCommand::Kv(KvCommand::Put { key, value }) = parse(&["kv", "put", "k1", "v 1"]) else {
        panic!("kv put parsed as another command");
    };
    assert_eq!((key.as_str(), value.as_str()), ("k1", "v 1"));
    assert!(TestCli::try_parse_from(["encluster", "node", "remove"]).is_err());
}

#[test]
fn every_node_subcommand_takes_the_node_by_name_or_id_regression_issue_11() {
    let parse = |args: &[&str]| {
        TestCli::try_parse_from(std::iter::once("encluster").chain(args.iter().copied()))
            .expect("valid command line")
            .command
    };
    let nodes = [
        api::NodeStatus {
            id: 2,
            name: "node2".into(),
            ..node(2, "up", "voter", None)
        },
        node(3, "up", "voter", None),
    ];
    let node_of = |command: CliCommand| match command {
        CliCommand::Node(
            NodeCommand::Remove { node }
            | NodeCommand::Standby { node, .. }
            | NodeCommand::Online { node }
            | NodeCommand::Maintenance { node }
            | NodeCommand::Ready { node },
        ) => node,
        other => panic!("not a node subcommand: {other:?}"),
    };
    for subcommand in ["remove", "standby", "online", "maintenance", "ready"] {
        for given in ["node2", "2"] {
            let text = node_of(parse(&["node", subcommand, given]));
            let resolved = crate::resource_args::resolve_node(&text, &nodes).expect("a node");
            assert_eq!(resolved, 2, "node {subcommand} {given}");
        }
    }
}

#[test]
fn the_cli_refuses_a_duration_with_the_servers_message_regression_issue_11() {
    // `--for 10minutes` passed the CLI and failed on the server; both now use one parser.
    let parse = |args: &[&str]| {
        TestCli::try_parse_from(std::iter::once("encluster").chain(args.iter().copied()))
    };
    let accepted = parse(&["resource", "move", "web", "--to", "2", "--for", "10minutes"]);
    assert!(accepted.is_ok(), "{accepted:?}");
    let error = parse(&["resource", "move", "web", "--for", "10 parsecs"])
        .expect_err("not a duration")
        .to_string();
    let server = model::parse_duration_text("10 parsecs").expect_err("refused");
    assert!(error.contains(&server.to_string()), "{error}");
    let timeout = parse(&[
        "node",
        "standby",
        "node2",
        "--wait",
        "--timeout",
        "2minutes",
    ]);
    assert!(timeout.is_ok(), "{timeout:?}");
}

#[test]
fn type_help_lists_every_built_in_type_and_the_type_list() {
    let mut command = TestCli::command();
    let create = command
        .find_subcommand_mut("resource")
        .and_then(|resource| resource.find_subcommand_mut("create"))
        .expect("resource create");
    let help = create.render_long_help().to_string();
    for word in [
        "process",
        "vip",
        "lb",
        "ocf:<provider>:<agent>",
        "encluster type list",
    ] {
        assert!(help.contains(word), "{word} in {help}");
    }
}

#[test]
fn every_api_flag_has_its_environment_variable() {
    let command = TestCli::command();
    let envs: Vec<(String, String)> = command
        .get_arguments()
        .filter_map(|arg| {
            let env = arg.get_env()?.to_string_lossy().into_owned();
            Some((arg.get_id().to_string(), env))
        })
        .collect();
    check(
        format!("{envs:#?}"),
        expect![[r#"
            [
                (
                    "api",
                    "ENCLUSTER_API",
                ),
                (
                    "token",
                    "ENCLUSTER_TOKEN",
                ),
                (
                    "ca",
                    "ENCLUSTER_CA",
                ),
                (
                    "cli_config",
                    "ENCLUSTER_CLI_CONFIG",
                ),
            ]"#]],
    );
}
