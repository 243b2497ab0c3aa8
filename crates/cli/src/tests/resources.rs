//! Resource rendering and the resource command line: tables, `show`, `explain`, the
//! `status` resources section, argument parsing and building the request bodies.
//!
//! Views are built by hand the way the agent fills them; `now` is fixed, so failure ages
//! are pinned by the snapshots.

use std::collections::BTreeMap;

use clap::Parser;
use expect_test::expect;

use super::{TestCli, check, wrap};
use crate::resource_args::{
    ConstraintAdd, ConstraintCommand, ResourceCommand, constraint_spec, new_spec, parse_key_value,
    parse_score, resolve_node, update_spec,
};
use crate::resource_commands::{constraint_text, move_message, node_mode_message};
use crate::views::{
    NodeNames, Phase, format_age, instance_phase, render_explanation, render_resource,
    render_resource_table, resource_state,
};
use crate::{CliCommand, NodeCommand};

/// 2025-11-21T02:40:00Z, the "now" of every rendering test.
pub(super) const NOW_MS: u64 = 1_763_692_800_000;

pub(super) fn instance(node: u64, state: &str, assigned: bool) -> api::InstanceView {
    api::InstanceView {
        node,
        state: state.to_string(),
        fail_count: 0,
        last_failure: None,
        last_failure_at_ms: None,
        assigned_token: assigned.then_some(10 + node),
        role: None,
        promotion_score: None,
        remote: None,
        status_text: None,
    }
}

pub(super) fn view(name: &str, instances: Vec<api::InstanceView>) -> api::ResourceView {
    api::ResourceView {
        spec: api::ResourceSpec {
            name: name.to_string(),
            type_name: "process".to_string(),
            ..api::ResourceSpec::default()
        },
        group: None,
        instances,
        managed: true,
    }
}

pub(super) fn names() -> NodeNames {
    (1..=3).map(|id| (id, format!("n{id}"))).collect()
}

fn failed_twice(node: u64, assigned: bool) -> api::InstanceView {
    api::InstanceView {
        fail_count: 2,
        last_failure: Some("exit 1".to_string()),
        last_failure_at_ms: Some(NOW_MS - 125_000),
        ..instance(node, "failed", assigned)
    }
}

#[test]
fn resource_list_shows_running_moving_and_clone_placements() {
    let mut web = view("web", vec![instance(2, "running", true)]);
    web.group = Some("site".to_string());
    let db = view(
        "db",
        vec![instance(1, "running", false), instance(2, "stopped", true)],
    );
    let mut agents = view(
        "agents",
        (1..=3)
            .map(|node| instance(node, "running", true))
            .collect(),
    );
    agents.spec.clone = true;
    check(
        render_resource_table(&[web, db, agents], &names(), NOW_MS),
        expect![[r#"
            ┌────────────┬─────────┬─────────┬──────────────────────────────┬───────┬──────────────┐
            │ NAME       ┆ TYPE    ┆ STATE   ┆ NODE(S)                      ┆ FAILS ┆ LAST FAILURE │
            ╞════════════╪═════════╪═════════╪══════════════════════════════╪═══════╪══════════════╡
            │ web [site] ┆ process ┆ running ┆ n2                           ┆ 0     ┆ -            │
            │ db         ┆ process ┆ moving  ┆ n1 (stopping), n2 (starting) ┆ 0     ┆ -            │
            │ agents     ┆ process ┆ running ┆ n1, n2, n3                   ┆ 0     ┆ -            │
            └────────────┴─────────┴─────────┴──────────────────────────────┴───────┴──────────────┘
        "#]],
    );
}

#[test]
fn resource_list_shows_fail_counts_and_the_newest_failure_in_words() {
    let worker = view(
        "worker",
        vec![failed_twice(3, false), instance(1, "stopped", false)],
    );
    let retry = view("retry", vec![failed_twice(1, true)]);
    check(
        render_resource_table(&[worker, retry], &names(), NOW_MS),
        expect![[r#"
            ┌────────┬─────────┬────────────┬─────────┬───────┬───────────────────────────┐
            │ NAME   ┆ TYPE    ┆ STATE      ┆ NODE(S) ┆ FAILS ┆ LAST FAILURE              │
            ╞════════╪═════════╪════════════╪═════════╪═══════╪═══════════════════════════╡
            │ worker ┆ process ┆ failed     ┆ n3      ┆ 2     ┆ exit 1 (on n3, 2m 5s ago) │
            │ retry  ┆ process ┆ recovering ┆ n1      ┆ 2     ┆ exit 1 (on n1, 2m 5s ago) │
            └────────┴─────────┴────────────┴─────────┴───────┴───────────────────────────┘
        "#]],
    );
}

#[test]
fn resource_state_says_why_nothing_runs() {
    let mut disabled = view("vip", vec![]);
    disabled.spec.target_role = Some("stopped".to_string());
    let states = [
        resource_state(&disabled),
        resource_state(&view("new", vec![])),
        resource_state(&view("old", vec![instance(1, "stopped", false)])),
        resource_state(&view("gone", vec![instance(1, "running", false)])),
        resource_state(&view("probe", vec![instance(1, "unknown", false)])),
    ];
    assert_eq!(
        states,
        [
            "stopped (disabled)",
            "stopped",
            "stopped",
            "stopping",
            "unknown"
        ]
    );
}

#[test]
fn resource_show_lists_configuration_and_every_node() {
    let mut web = view(
        "web",
        vec![failed_twice(1, false), instance(2, "running", true)],
    );
    web.group = Some("site".to_string());
    web.spec.params = BTreeMap::from([
        ("command".to_string(), "/usr/bin/python3".to_string()),
        ("args".to_string(), "-m http.server 8080".to_string()),
    ]);
    web.spec.unique = Some(true);
    web.spec.monitor_interval = Some("10s".to_string());
    web.spec.stickiness = Some(100);
    web.spec.migration_threshold = Some(3);
    web.spec.utilization = BTreeMap::from([("memory".to_string(), 512)]);
    check(
        render_resource(&web, &names(), NOW_MS),
        expect![[r#"
            resource web (process)
              state: running on n1 (failed), n2 (running)
              group: site
              params:
                args = "-m http.server 8080"
                command = "/usr/bin/python3"
              placement: unique, stickiness 100, moves after 3 failures
              operations: monitor every 10s
              utilization: memory=512
              nodes:
                n1: failed, 2 failures, last: exit 1 (2m 5s ago)
                n2: running, 0 failures, assigned (token 12)
        "#]],
    );
}

#[test]
fn resource_show_of_a_new_clone_says_it_has_no_nodes_yet() {
    let mut agents = view("agents", vec![]);
    agents.spec.clone = true;
    agents.spec.clone_max = Some(2);
    check(
        render_resource(&agents, &NodeNames::new(), NOW_MS),
        expect![[r#"
            resource agents (process)
              state: stopped
              params: none
              placement: clone (at most 2)
              nodes: none yet
        "#]],
    );
}

#[test]
fn instance_phase_combines_observed_state_and_assignment() {
    let cases = ["running", "stopped", "failed", "unknown"];
    let phases: Vec<String> = cases
        .iter()
        .flat_map(|state| [true, false].map(|assigned| (state.to_string(), assigned)))
        .map(|(state, assigned)| {
            let phase: Phase = instance_phase(&instance(1, &state, assigned));
            let assigned = if assigned { "assigned" } else { "not assigned" };
            format!("{state}, {assigned}: {phase:?}")
        })
        .collect();
    check(
        phases.join("\n"),
        expect![[r#"
            running, assigned: Running
            running, not assigned: Stopping
            stopped, assigned: Starting
            stopped, not assigned: Stopped
            failed, assigned: Recovering
            failed, not assigned: Failed
            unknown, assigned: Starting
            unknown, not assigned: Unknown"#]],
    );
}

#[test]
fn failure_age_is_in_plain_units() {
    let ages: Vec<String> = [0, 999, 42_000, 125_000, 7_200_000]
        .into_iter()
        .map(|age| format_age(NOW_MS, NOW_MS - age))
        .collect();
    assert_eq!(
        ages,
        ["just now", "just now", "42s ago", "2m 5s ago", "2h ago"]
    );
    assert_eq!(format_age(NOW_MS, NOW_MS + 5_000), "just now", "clock skew");
}

#[test]
fn explain_prints_the_placement_and_one_reason_per_line() {
    let placed = api::Explanation {
        resource: "web".to_string(),
        nodes: vec![2],
        reasons: vec![
            "node1 is banned after 3 failures (migration threshold 3)".to_string(),
            "node2 preferred: stickiness 100".to_string(),
        ],
    };
    let stopped = api::Explanation {
        resource: "vip".to_string(),
        nodes: vec![],
        reasons: vec![],
    };
    let text = render_explanation(&placed, &names()) + &render_explanation(&stopped, &names());
    check(
        text,
        expect![[r#"
            web is placed on n2
              - node1 is banned after 3 failures (migration threshold 3)
              - node2 preferred: stickiness 100
            vip is stopped: it is placed on no node
              (the scheduler gave no reasons)
        "#]],
    );
}

fn parse(args: &[&str]) -> CliCommand {
    TestCli::try_parse_from(std::iter::once("encluster").chain(args.iter().copied()))
        .expect("valid command line")
        .command
}

fn parse_error(args: &[&str]) -> String {
    let error = TestCli::try_parse_from(std::iter::once("encluster").chain(args.iter().copied()))
        .expect_err("invalid command line");
    let text = error.to_string();
    let lines: Vec<&str> = text.lines().take_while(|line| !line.is_empty()).collect();
    lines.join("")
}

#[test]
fn resource_create_turns_flags_into_the_spec() {
    let command = parse(&[
        "resource",
        "create",
        "web",
        "--type",
        "process",
        "--param",
        "command=/bin/sleep",
        "--param",
        "args=a=b",
        "--clone",
        "--clone-max",
        "2",
        "--monitor-interval",
        "5s",
        "--stop-timeout",
        "1m 30s",
        "--stickiness",
        "-10",
        "--migration-threshold",
        "3",
        "--failure-timeout",
        "10m",
        "--utilization",
        "memory=512",
        "--stopped",
    ]);
    let CliCommand::Resource(ResourceCommand::Create {
        name,
        type_name,
        options,
    }) = command
    else {
        panic!("parsed as another command: {command:?}");
    };
    let spec = new_spec(&name, &type_name, &options);
    check(
        serde_json::to_string_pretty(&spec).expect("JSON"),
        expect![[r#"
            {
              "name": "web",
              "type": "process",
              "params": {
                "args": "a=b",
                "command": "/bin/sleep"
              },
              "unique": false,
              "clone": true,
              "clone_max": 2,
              "monitor_interval": "5s",
              "monitor_timeout": null,
              "start_timeout": null,
              "stop_timeout": "1m 30s",
              "stickiness": -10,
              "migration_threshold": 3,
              "failure_timeout": "10m",
              "target_role": "stopped",
              "utilization": {
                "memory": 512
              }
            }"#]],
    );
}

#[test]
fn resource_create_with_only_a_type_leaves_every_option_to_the_cluster() {
    let CliCommand::Resource(ResourceCommand::Create {
        name,
        type_name,
        options,
    }) = parse(&["resource", "create", "vip", "--type", "vip"])
    else {
        panic!("parsed as another command");
    };
    let spec = new_spec(&name, &type_name, &options);
    let expected = api::ResourceSpec {
        name: "vip".to_string(),
        type_name: "vip".to_string(),
        ..api::ResourceSpec::default()
    };
    assert_eq!(spec, expected);
}

#[test]
fn bad_resource_flags_are_refused_with_the_reason() {
    let errors = [
        parse_error(&[
            "resource", "create", "web", "--type", "process", "--param", "port",
        ]),
        parse_error(&[
            "resource", "create", "web", "--type", "process", "--param", "=1",
        ]),
        parse_error(&[
            "resource", "create", "w", "--type", "t", "--unique", "--clone",
        ]),
        parse_error(&["resource", "create", "w", "--type", "t", "--clone-max", "2"]),
        parse_error(&[
            "resource",
            "create",
            "w",
            "--type",
            "t",
            "--stop-timeout",
            "soon",
        ]),
        parse_error(&[
            "resource",
            "create",
            "w",
            "--type",
            "t",
            "--utilization",
            "mem=lots",
        ]),
        parse_error(&["resource", "create", "web"]),
    ];
    check(
        errors.map(|error| wrap(&error)).join("\n"),
        expect![[r#"
            error: invalid value 'port' for '--param <KEY=VALUE>': expected KEY=VALUE, like
            port=8080, but "port" has no `=`
            error: invalid value '=1' for '--param <KEY=VALUE>': expected KEY=VALUE, but
            "=1" has no key before `=`
            error: the argument '--unique' cannot be used with '--clone'
            error: the following required arguments were not provided:  --clone
            error: invalid value 'soon' for '--stop-timeout <DURATION>': "soon" is not a
            duration: write it like 500ms, 10s, 5m, 10minutes or 1h30m
            error: invalid value 'mem=lots' for '--utilization <KEY=N>': expected KEY=N with
            a whole number, like memory=512, but got "mem=lots"
            error: the following required arguments were not provided:  --type <TYPE>"#]],
    );
}

#[test]
fn param_parsing_keeps_everything_after_the_first_equals_sign() {
    assert_eq!(
        parse_key_value("args=--port=80"),
        Ok(("args".to_string(), "--port=80".to_string()))
    );
    assert_eq!(
        parse_key_value("empty="),
        Ok(("empty".to_string(), String::new()))
    );
}

#[test]
fn resource_update_merges_params_removes_unset_ones_and_keeps_the_rest() {
    let CliCommand::Resource(ResourceCommand::Update {
        type_name,
        options,
        unset_param,
        ..
    }) = parse(&[
        "resource",
        "update",
        "web",
        "--param",
        "port=8081",
        "--unset-param",
        "debug",
        "--unique",
        "--started",
    ])
    else {
        panic!("parsed as another command");
    };
    let mut current = view("web", vec![]).spec;
    current.params = BTreeMap::from([
        ("command".to_string(), "/bin/web".to_string()),
        ("port".to_string(), "8080".to_string()),
        ("debug".to_string(), "true".to_string()),
    ]);
    current.clone = true;
    current.clone_max = Some(3);
    current.stickiness = Some(100);
    current.target_role = Some("stopped".to_string());
    let updated = update_spec(
        current.clone(),
        type_name.as_deref(),
        &options,
        &unset_param,
    )
    .expect("valid update");
    let mut expected = current;
    expected.params = BTreeMap::from([
        ("command".to_string(), "/bin/web".to_string()),
        ("port".to_string(), "8081".to_string()),
    ]);
    expected.unique = Some(true);
    expected.clone = false;
    expected.clone_max = None;
    expected.target_role = Some("started".to_string());
    assert_eq!(updated, expected);
}

#[test]
fn unsetting_a_parameter_the_resource_lacks_names_the_ones_it_has() {
    let mut current = view("web", vec![]).spec;
    current.params = BTreeMap::from([("port".to_string(), "80".to_string())]);
    let options = crate::ResourceOptionArgs::default();
    let error = update_spec(current, None, &options, &["prot".to_string()]).expect_err("typo");
    assert_eq!(
        error.to_string(),
        "--unset-param prot: resource web has no parameter prot (it has port)"
    );
}

#[test]
fn constraints_parse_negative_and_infinite_scores() {
    let command = parse(&["constraint", "add", "location", "web", "node2", "-INFINITY"]);
    let CliCommand::Constraint(ConstraintCommand::Add(add)) = command else {
        panic!("parsed as another command");
    };
    assert!(matches!(&add, ConstraintAdd::Location { node, score, .. }
        if node == "node2" && score == "-INFINITY"));
    let location = constraint_spec(&add, Some(2));
    let CliCommand::Constraint(ConstraintCommand::Add(colocation)) =
        parse(&["constraint", "add", "colocation", "db", "web", "-100"])
    else {
        panic!("parsed as another command");
    };
    let CliCommand::Constraint(ConstraintCommand::Add(order)) =
        parse(&["constraint", "add", "order", "db", "web", "--optional"])
    else {
        panic!("parsed as another command");
    };
    let specs = [
        location,
        constraint_spec(&colocation, None),
        constraint_spec(&order, None),
    ];
    let json: Vec<String> = specs
        .iter()
        .map(|spec| serde_json::to_string(spec).expect("JSON"))
        .collect();
    let words: Vec<String> = specs.iter().map(constraint_text).collect();
    check(
        format!("{}\n{}", json.join("\n"), words.join("\n")),
        expect![[r#"
            {"type":"location","resource":"web","node":2,"score":"-INFINITY"}
            {"type":"colocation","resource":"db","with":"web","score":"-100"}
            {"type":"order","first":"db","then":"web","kind":"optional"}
            location: web on node 2, score -INFINITY
            colocation: db with web, score -100
            optional order: db starts before web, web stops before db"#]],
    );
}

#[test]
fn scores_are_whole_numbers_or_infinity() {
    assert_eq!(parse_score("inf"), Ok("INFINITY".to_string()));
    assert_eq!(parse_score("+Infinity"), Ok("INFINITY".to_string()));
    assert_eq!(parse_score(" 50 "), Ok("50".to_string()));
    assert_eq!(
        parse_score("lots"),
        Err("\"lots\" is not a score: use a whole number, INFINITY or -INFINITY".to_string())
    );
}

#[test]
fn nodes_are_found_by_name_or_id() {
    let nodes = super::three_node_status().nodes;
    assert_eq!(resolve_node("node3", &nodes).expect("by name"), 3);
    assert_eq!(resolve_node("2", &nodes).expect("by id"), 2);
    let error = resolve_node("node9", &nodes).expect_err("unknown");
    assert_eq!(
        error.to_string(),
        "no node \"node9\" in the cluster; the nodes are 1 (node1), 2 (node2), 3 (node3)"
    );
}

#[test]
fn wait_flags_default_to_sixty_seconds() {
    let CliCommand::Resource(ResourceCommand::Move { target, wait, .. }) = parse(&[
        "resource", "move", "web", "--to", "node2", "--for", "10m", "--wait",
    ]) else {
        panic!("parsed as another command");
    };
    assert_eq!(target.to.as_deref(), Some("node2"));
    assert_eq!(target.for_duration.as_deref(), Some("10m"));
    assert!(wait.wait);
    assert_eq!(wait.timeout.as_secs(), 60);
    let CliCommand::Node(NodeCommand::Standby { node, wait }) =
        parse(&["node", "standby", "node2", "--wait", "--timeout", "5s"])
    else {
        panic!("parsed as another command");
    };
    assert_eq!(
        (node.as_str(), wait.wait, wait.timeout.as_secs()),
        ("node2", true, 5)
    );
}

#[test]
fn apply_and_explain_parse_their_arguments() {
    let CliCommand::Apply { file, dry_run, yes } =
        parse(&["apply", "-f", "cluster.toml", "--dry-run"])
    else {
        panic!("parsed as another command");
    };
    assert_eq!(
        (file.to_str(), dry_run, yes),
        (Some("cluster.toml"), true, false)
    );
    assert!(matches!(parse(&["explain", "web"]), CliCommand::Explain { name } if name == "web"));
}

#[test]
fn move_and_node_mode_messages_say_what_happens_next() {
    let lines = [
        move_message("resource", "web", Some(2), Some("10m"), &names()),
        move_message("group", "site", None, None, &names()),
        node_mode_message(2, "standby", &names()),
        node_mode_message(2, "online", &names()),
        node_mode_message(3, "maintenance", &NodeNames::new()),
        node_mode_message(3, "ready", &NodeNames::new()),
    ];
    check(
        lines.map(|line| wrap(&line)).join("\n"),
        expect![[r#"
            resource web moves to n2; the preference expires after 10m
            group site moves away from where it runs; the preference stays until `encluster
            group move site --clear` (a new move replaces it)
            n2 is in standby: its resources move away; `encluster node online 2` ends it
            n2 is online: it may run resources again
            node 3 is in maintenance: encluster leaves its resources alone until `encluster
            node ready 3`
            node 3 is ready: encluster manages its resources again"#]],
    );
}

#[test]
fn schema_violations_are_listed_one_per_line() {
    let target = crate::config::Target {
        api: "https://127.0.0.11:7511".to_string(),
        apis: vec!["https://127.0.0.11:7511".to_string()],
        token: None,
        token_origin: None,
        ca: "ca.pem".into(),
        ca_origin: crate::config::Origin::Argument,
    };
    let error = api::ClientError::Api {
        status: 400,
        message: "MaxUser: 11 is above the maximum 10; port: required".to_string(),
    };
    let error = crate::errors::explain_invalid(error, &target, "resource web");
    check(
        format!("{error:#}"),
        expect![[r#"
            the agent refused resource web, nothing was changed:
              - MaxUser: 11 is above the maximum 10
              - port: required"#]],
    );
}

// --- promo ---
#[test]
fn resource_create_promotable_makes_a_clone_that_promotes_one_by_default() {
    let spec = |args: &[&str]| {
        let mut all = vec![
            "resource",
            "create",
            "pg",
            "--type",
            "ocf:pacemaker:Stateful",
        ];
        all.extend_from_slice(args);
        let CliCommand::Resource(ResourceCommand::Create {
            name,
            type_name,
            options,
        }) = parse(&all)
        else {
            panic!("parsed as another command");
        };
        new_spec(&name, &type_name, &options)
    };
    let one = spec(&["--promotable"]);
    assert!(one.clone);
    assert_eq!((one.unique, one.promoted_max), (Some(false), Some(1)));
    let two = spec(&["--promotable", "--promoted-max", "2"]);
    assert_eq!(two.promoted_max, Some(2));
    let refused = parse_error(&[
        "resource",
        "create",
        "w",
        "--type",
        "t",
        "--promoted-max",
        "2",
    ]);
    assert!(refused.contains("--promotable"), "{refused}");
    let refused = parse_error(&[
        "resource",
        "create",
        "w",
        "--type",
        "t",
        "--unique",
        "--promotable",
    ]);
    assert!(refused.contains("cannot be used with"), "{refused}");
}

#[test]
fn status_marks_the_promoted_instance_and_show_gives_roles_and_scores() {
    let mut pg = view(
        "pg",
        vec![
            instance(1, "running", true),
            instance(2, "running", true),
            instance(3, "running", true),
        ],
    );
    pg.spec.clone = true;
    pg.spec.promoted_max = Some(1);
    for (instance, (role, score)) in
        pg.instances
            .iter_mut()
            .zip([("unpromoted", 5), ("promoted", 10), ("unpromoted", 5)])
    {
        instance.role = Some(role.to_owned());
        instance.promotion_score = Some(score);
    }
    let names = names();
    assert_eq!(
        crate::views::placement_text(&pg, &names),
        "n1, n2 (promoted), n3"
    );
    let shown = crate::views::render_resource(&pg, &names, NOW_MS);
    assert!(shown.contains("promotable (at most 1 promoted)"), "{shown}");
    assert!(
        shown.contains(
            "n2: running, 0 failures, assigned (token 12), promoted (promotion score 10)"
        ),
        "{shown}"
    );
}
