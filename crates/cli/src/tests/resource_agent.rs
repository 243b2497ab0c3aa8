//! Resource commands against the fake agent: the requests the CLI sends (method, path and
//! JSON body), the order of its calls, and how `--wait` polls until the goal or a timeout.

use std::time::Duration;

use auth::ClusterCa;
use expect_test::expect;

use super::fake_agent::{FakeAgent, api_args, body, error_text, fake_agent, write_ca};
use super::resources::{instance, view};
use crate::resource_args::{ResourceCommand, ResourceOptionArgs, WaitArgs};
use crate::views::NodeNames;
use crate::wait::{Goal, WaitConfig, wait_for};
use crate::{CliCommand, NodeCommand, run};

/// Every request the fake agent received: request line, then the body if there is one.
pub(super) async fn requests(mut agent: FakeAgent) -> Vec<String> {
    let mut seen = Vec::new();
    while let Some(request) = agent.requests.recv().await {
        let line = request.lines().next().unwrap_or_default().to_string();
        let line = line.trim_end_matches(" HTTP/1.1").to_string();
        match body(&request) {
            "" => seen.push(line),
            body => seen.push(format!("{line} {body}")),
        }
    }
    agent.task.await.expect("fake agent ends");
    seen
}

pub(super) fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("JSON")
}

pub(super) fn nodes() -> String {
    json(&super::three_node_status().nodes)
}

#[tokio::test]
async fn resource_create_posts_the_spec() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ClusterCa::generate("test").expect("CA");
    let agent = fake_agent(&ca, vec![(200, json(&view("web", vec![])))]).await;
    let args = api_args(agent.addr, write_ca(dir.path(), &ca));
    let options = ResourceOptionArgs {
        param: vec![("command".to_string(), "/bin/sleep".to_string())],
        stickiness: Some(50),
        ..ResourceOptionArgs::default()
    };
    let command = ResourceCommand::Create {
        name: "web".to_string(),
        type_name: "process".to_string(),
        options: Box::new(options),
    };
    run(&args, CliCommand::Resource(command))
        .await
        .expect("created");
    let seen = requests(agent).await;
    assert_eq!(seen.len(), 1);
    assert!(seen[0].starts_with("POST /v1/resources {"), "{seen:?}");
    let sent: api::ResourceSpec =
        serde_json::from_str(body_of(&seen[0])).expect("the body is a ResourceSpec");
    assert_eq!(sent.params["command"], "/bin/sleep");
    assert_eq!(
        (sent.type_name.as_str(), sent.stickiness),
        ("process", Some(50))
    );
}

pub(super) fn body_of(line: &str) -> &str {
    line.find('{').map_or("", |start| &line[start..])
}

#[tokio::test]
async fn resource_update_reads_then_puts_the_merged_spec() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ClusterCa::generate("test").expect("CA");
    let mut current = view("my web", vec![instance(1, "running", true)]);
    current
        .spec
        .params
        .insert("port".to_string(), "80".to_string());
    current
        .spec
        .params
        .insert("debug".to_string(), "1".to_string());
    let responses = vec![(200, json(&current)), (200, json(&current))];
    let agent = fake_agent(&ca, responses).await;
    let args = api_args(agent.addr, write_ca(dir.path(), &ca));
    let command = ResourceCommand::Update {
        name: "my web".to_string(),
        type_name: None,
        options: Box::new(ResourceOptionArgs {
            param: vec![("port".to_string(), "8080".to_string())],
            ..ResourceOptionArgs::default()
        }),
        unset_param: vec!["debug".to_string()],
        dry_run: false,
    };
    run(&args, CliCommand::Resource(command))
        .await
        .expect("updated");
    let seen = requests(agent).await;
    assert_eq!(seen[0], "GET /v1/resources/my%20web");
    assert!(
        seen[1].starts_with("PUT /v1/resources/my%20web {"),
        "{seen:?}"
    );
    let sent: api::ResourceSpec = serde_json::from_str(body_of(&seen[1])).expect("spec");
    assert_eq!(
        sent.params.into_iter().collect::<Vec<_>>(),
        [("port".to_string(), "8080".to_string())]
    );
}

#[tokio::test]
async fn schema_violation_lists_every_problem_and_names_the_resource() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ClusterCa::generate("test").expect("CA");
    let answer = r#"{"error":"MaxUser: 11 is above the maximum 10; port: required"}"#;
    let agent = fake_agent(&ca, vec![(400, answer.to_string())]).await;
    let args = api_args(agent.addr, write_ca(dir.path(), &ca));
    let command = ResourceCommand::Create {
        name: "app".to_string(),
        type_name: "ocf:heartbeat:Dummy".to_string(),
        options: Box::default(),
    };
    let error = run(&args, CliCommand::Resource(command))
        .await
        .expect_err("400");
    expect![[r#"
        the agent refused resource app, nothing was changed:
          - MaxUser: 11 is above the maximum 10
          - port: required"#]]
    .assert_eq(&error_text(error, agent.addr));
}

#[tokio::test]
async fn node_standby_resolves_the_node_posts_the_mode_then_looks_up_names() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ClusterCa::generate("test").expect("CA");
    let mode = r#"{"node":2,"mode":"standby"}"#.to_string();
    let agent = fake_agent(&ca, vec![(200, nodes()), (200, mode), (200, nodes())]).await;
    let args = api_args(agent.addr, write_ca(dir.path(), &ca));
    let command = CliCommand::Node(NodeCommand::Standby {
        node: "node2".into(),
        wait: WaitArgs::default(),
    });
    run(&args, command).await.expect("standby");
    expect![[r#"
        [
            "GET /v1/nodes",
            "POST /v1/nodes/2/mode {\"mode\":\"standby\"}",
            "GET /v1/nodes",
        ]
    "#]]
    .assert_debug_eq(&requests(agent).await);
}

#[tokio::test]
async fn location_constraint_resolves_the_node_name_to_its_id() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ClusterCa::generate("test").expect("CA");
    let added = r#"{"added":true}"#.to_string();
    let agent = fake_agent(&ca, vec![(200, nodes()), (200, added)]).await;
    let args = api_args(agent.addr, write_ca(dir.path(), &ca));
    let add = crate::ConstraintAdd::Location {
        resource: "web".to_string(),
        node: "node3".to_string(),
        score: "-INFINITY".to_string(),
    };
    let command = CliCommand::Constraint(crate::ConstraintCommand::Add(add));
    run(&args, command).await.expect("added");
    let seen = requests(agent).await;
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0], "GET /v1/nodes");
    let sent: api::ConstraintSpec = serde_json::from_str(body_of(&seen[1])).expect("constraint");
    assert!(seen[1].starts_with("POST /v1/constraints {"), "{seen:?}");
    assert_eq!(
        sent,
        api::ConstraintSpec::Location {
            resource: "web".to_string(),
            node: 3,
            score: "-INFINITY".to_string(),
        }
    );
}

#[tokio::test]
async fn apply_with_yes_asks_for_the_diff_then_applies() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ClusterCa::generate("test").expect("CA");
    let file = dir.path().join("cluster.toml");
    std::fs::write(&file, "[[group]]\nname = \"g\"\nmembers = [\"a\"]\n").expect("write");
    let changes = vec!["+ group g [a]".to_string()];
    let planned = api::ApplyResult {
        changes: changes.clone(),
        applied: false,
    };
    let applied = api::ApplyResult {
        changes,
        applied: true,
    };
    let agent = fake_agent(&ca, vec![(200, json(&planned)), (200, json(&applied))]).await;
    let args = api_args(agent.addr, write_ca(dir.path(), &ca));
    let command = CliCommand::Apply {
        file,
        dry_run: false,
        yes: true,
    };
    run(&args, command).await.expect("applied");
    let sent = r#"{"resource":[],"group":[{"name":"g","members":["a"]}],"constraint":[]}"#;
    assert_eq!(
        requests(agent).await,
        [
            format!("POST /v1/apply?dry_run=true {sent}"),
            format!("POST /v1/apply?dry_run=false {sent}"),
        ]
    );
}

#[tokio::test]
async fn apply_dry_run_changes_nothing_and_a_bad_file_sends_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ClusterCa::generate("test").expect("CA");
    let file = dir.path().join("cluster.toml");
    std::fs::write(&file, "").expect("write");
    let planned = api::ApplyResult {
        changes: vec!["- resource web".to_string()],
        applied: false,
    };
    let agent = fake_agent(&ca, vec![(200, json(&planned))]).await;
    let args = api_args(agent.addr, write_ca(dir.path(), &ca));
    let command = CliCommand::Apply {
        file: file.clone(),
        dry_run: true,
        yes: false,
    };
    run(&args, command).await.expect("dry run");
    std::fs::write(&file, "[[resource]]\nname = 1\n").expect("write");
    let command = CliCommand::Apply {
        file,
        dry_run: true,
        yes: false,
    };
    let error = run(&args, command).await.expect_err("bad file");
    let text = format!("{error:#}").replace(&dir.path().display().to_string(), "$DIR");
    expect![[r#"
        $DIR/cluster.toml is not a valid cluster file: line 2, column 8: invalid type:
        integer `1`, expected a string (quote it: names and durations are strings, like
        monitor_interval = "10s") (in `name = 1`)"#]]
    .assert_eq(&super::wrap(&text));
    let empty = r#"{"resource":[],"group":[],"constraint":[]}"#;
    assert_eq!(
        requests(agent).await,
        [format!("POST /v1/apply?dry_run=true {empty}")]
    );
}

pub(super) fn client_and_target(
    agent: &FakeAgent,
    dir: &std::path::Path,
    ca: &ClusterCa,
) -> (api::Client, crate::config::Target) {
    let args = api_args(agent.addr, write_ca(dir, ca));
    let target = crate::config::resolve(&args, &[]).expect("resolves");
    let client = crate::config::client_for(&target).expect("client");
    (client, target)
}

#[tokio::test]
async fn wait_polls_the_resource_until_it_runs_on_the_target() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ClusterCa::generate("test").expect("CA");
    let polls = [
        view("web", vec![instance(1, "running", true)]),
        view(
            "web",
            vec![instance(1, "running", false), instance(2, "stopped", true)],
        ),
        view("web", vec![instance(2, "running", true)]),
    ];
    let responses = polls.iter().map(|view| (200, json(view))).collect();
    let agent = fake_agent(&ca, responses).await;
    let (client, target) = client_and_target(&agent, dir.path(), &ca);
    let goal = Goal::RunningOn {
        resources: vec!["web".to_string()],
        node: 2,
    };
    let config = WaitConfig {
        poll: Duration::from_millis(1),
        timeout: Duration::from_secs(30),
    };
    wait_for(&client, &target, &goal, &NodeNames::new(), config)
        .await
        .expect("reached");
    assert_eq!(requests(agent).await, ["GET /v1/resources/web"; 3]);
}

#[tokio::test]
async fn wait_gives_up_after_the_timeout_with_what_it_saw_last() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ClusterCa::generate("test").expect("CA");
    let starting = view("web", vec![instance(2, "stopped", true)]);
    let agent = fake_agent(&ca, vec![(200, json(&starting))]).await;
    let (client, target) = client_and_target(&agent, dir.path(), &ca);
    let goal = Goal::Running {
        resource: "web".to_string(),
    };
    let config = WaitConfig {
        poll: Duration::from_millis(1),
        timeout: Duration::ZERO,
    };
    let error = wait_for(&client, &target, &goal, &NodeNames::new(), config)
        .await
        .expect_err("timed out");
    expect![[r#"
        timed out after 0s waiting for web to run; last seen: web: starting on node 2;
        it may still get there: see `encluster resource show web` and `encluster explain
        web`"#]]
    .assert_eq(&super::wrap(&error.to_string()));
    assert_eq!(requests(agent).await.len(), 1);
}

#[tokio::test]
async fn wait_stops_at_once_when_the_resource_is_gone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ClusterCa::generate("test").expect("CA");
    let gone = r#"{"error":"resource \"web\" does not exist"}"#.to_string();
    let agent = fake_agent(&ca, vec![(404, gone)]).await;
    let (client, target) = client_and_target(&agent, dir.path(), &ca);
    let goal = Goal::Stopped {
        resource: "web".to_string(),
    };
    let config = WaitConfig {
        poll: Duration::from_millis(1),
        timeout: Duration::from_secs(30),
    };
    let error = wait_for(&client, &target, &goal, &NodeNames::new(), config)
        .await
        .expect_err("404");
    let text = error_text(error, agent.addr);
    assert_eq!(
        text,
        "the agent at https://ADDR refused the request: resource \"web\" does not exist (HTTP 404)"
    );
}

#[tokio::test]
async fn move_to_a_named_node_with_wait_resolves_moves_then_polls() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ClusterCa::generate("test").expect("CA");
    let before = view("web", vec![instance(1, "running", true)]);
    let after = view("web", vec![instance(2, "running", true)]);
    let responses = vec![(200, nodes()), (200, json(&before)), (200, json(&after))];
    let agent = fake_agent(&ca, responses).await;
    let args = api_args(agent.addr, write_ca(dir.path(), &ca));
    let command = ResourceCommand::Move {
        name: "web".to_string(),
        target: crate::MoveArgs {
            to: Some("node2".to_string()),
            for_duration: Some("10m".to_string()),
            clear: false,
        },
        wait: WaitArgs {
            wait: true,
            timeout: Duration::from_secs(30),
        },
    };
    run(&args, CliCommand::Resource(command))
        .await
        .expect("moved");
    expect![[r#"
        [
            "GET /v1/nodes",
            "POST /v1/resources/web/move {\"to\":2,\"for_duration\":\"10m\"}",
            "GET /v1/resources/web",
        ]
    "#]]
    .assert_debug_eq(&requests(agent).await);
}

#[tokio::test]
async fn move_away_with_wait_remembers_where_it_ran_before_moving() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ClusterCa::generate("test").expect("CA");
    let before = view("web", vec![instance(1, "running", true)]);
    let after = view("web", vec![instance(3, "running", true)]);
    let responses = vec![
        (200, nodes()),
        (200, json(&before)),
        (200, json(&before)),
        (200, json(&after)),
    ];
    let agent = fake_agent(&ca, responses).await;
    let args = api_args(agent.addr, write_ca(dir.path(), &ca));
    let command = ResourceCommand::Move {
        name: "web".to_string(),
        target: crate::MoveArgs::default(),
        wait: WaitArgs {
            wait: true,
            timeout: Duration::from_secs(30),
        },
    };
    run(&args, CliCommand::Resource(command))
        .await
        .expect("moved away");
    expect![[r#"
        [
            "GET /v1/nodes",
            "GET /v1/resources/web",
            "POST /v1/resources/web/move {\"to\":null,\"for_duration\":null}",
            "GET /v1/resources/web",
        ]
    "#]]
    .assert_debug_eq(&requests(agent).await);
}
