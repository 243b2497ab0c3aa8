//! Listing and undoing changes against the fake agent: `move --clear`, `resource ban`,
//! `resource clear`, `unmanage`, `constraint list|remove`, `config export`, and what
//! `--wait` says while it waits and when it gives up.

use std::time::Duration;

use auth::ClusterCa;
use clap::Parser;
use expect_test::expect;

use super::check;
use super::fake_agent::{api_args, error_text, fake_agent, write_ca};
use super::resource_agent::{body_of, client_and_target, json, nodes, requests};
use super::resources::{instance, names, view};
use crate::resource_args::{MoveArgs, ResourceCommand, WaitArgs};
use crate::wait::{Goal, WaitConfig, wait_for};
use crate::{CliCommand, ConstraintCommand, run};

#[tokio::test]
async fn move_clear_posts_clear_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ClusterCa::generate("test").expect("CA");
    let answer = json(&view("web", vec![]));
    let agent = fake_agent(&ca, vec![(200, nodes()), (200, answer)]).await;
    let args = api_args(agent.addr, write_ca(dir.path(), &ca));
    let command = ResourceCommand::Move {
        name: "web".to_string(),
        target: MoveArgs {
            clear: true,
            ..MoveArgs::default()
        },
        wait: WaitArgs::default(),
    };
    run(&args, CliCommand::Resource(command))
        .await
        .expect("cleared");
    let seen = requests(agent).await;
    assert_eq!(
        seen,
        vec![
            "GET /v1/nodes".to_string(),
            r#"POST /v1/resources/web/move {"to":null,"for_duration":null,"clear":true}"#
                .to_string()
        ]
    );
}

/// The command line as the `encluster` binary parses it.
#[derive(clap::Parser, Debug)]
struct Line {
    #[command(subcommand)]
    command: CliCommand,
}

#[test]
fn move_clear_with_a_target_or_duration_is_refused_by_the_command_line() {
    for line in [
        "x resource move web --clear --to 2",
        "x group move web --clear --for 10m",
    ] {
        let words = line.split(' ');
        let error = Line::try_parse_from(words).expect_err(line);
        assert!(error.to_string().contains("cannot be used with"), "{error}");
    }
    let parsed = Line::try_parse_from("x resource move web --clear".split(' ')).expect("parses");
    assert!(matches!(
        parsed.command,
        CliCommand::Resource(ResourceCommand::Move { target, .. }) if target.clear
    ));
}

#[tokio::test]
async fn ban_resolves_the_node_name_and_posts_the_ban() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ClusterCa::generate("test").expect("CA");
    let agent = fake_agent(&ca, vec![(200, nodes()), (200, "{}".to_string())]).await;
    let args = api_args(agent.addr, write_ca(dir.path(), &ca));
    let command = ResourceCommand::Ban {
        name: "web".to_string(),
        node: "node3".to_string(),
        for_duration: Some("10m".to_string()),
    };
    run(&args, CliCommand::Resource(command))
        .await
        .expect("banned");
    let seen = requests(agent).await;
    assert!(
        seen[1].starts_with("POST /v1/resources/web/ban {"),
        "{seen:?}"
    );
    let sent: api::BanRequest = serde_json::from_str(body_of(&seen[1])).expect("a ban");
    assert_eq!(
        sent,
        api::BanRequest {
            node: 3,
            for_duration: Some("10m".to_string())
        }
    );
}

#[tokio::test]
async fn constraint_remove_deletes_by_id_and_an_unknown_id_is_explained() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ClusterCa::generate("test").expect("CA");
    let missing = r#"{"error":"no constraint \"x\"; `encluster constraint list` shows the ids"}"#;
    let agent = fake_agent(
        &ca,
        vec![(200, "{}".to_string()), (404, missing.to_string())],
    )
    .await;
    let args = api_args(agent.addr, write_ca(dir.path(), &ca));
    let remove =
        |id: &str| CliCommand::Constraint(ConstraintCommand::Remove { id: id.to_string() });
    run(&args, remove("cli-ban-web-on-3"))
        .await
        .expect("removed");
    let error = run(&args, remove("x")).await.expect_err("unknown id");
    let text = error_text(error, agent.addr);
    assert!(text.contains("constraint list"), "{text}");
    let seen = requests(agent).await;
    assert_eq!(seen[0], "DELETE /v1/constraints/cli-ban-web-on-3");
}

#[test]
fn constraint_table_shows_ids_origins_and_expiry() {
    let constraints = vec![
        api::ConstraintView {
            id: "order-db-web-mandatory".to_string(),
            origin: "constraint".to_string(),
            constraint: api::ConstraintSpec::Order {
                first: "db".to_string(),
                then: "web".to_string(),
                kind: None,
            },
            expires_at_ms: None,
        },
        api::ConstraintView {
            id: "cli-ban-web-on-3".to_string(),
            origin: "ban".to_string(),
            constraint: api::ConstraintSpec::Location {
                resource: "web".to_string(),
                node: 3,
                score: "-INFINITY".to_string(),
            },
            expires_at_ms: Some(1_700_000_000_000),
        },
    ];
    check(
        crate::undo::render_constraints(&constraints, &names()),
        expect![[r#"
            ID                      ORIGIN      CONSTRAINT               EXPIRES
            order-db-web-mandatory  constraint  db then web (mandatory)  -
            cli-ban-web-on-3        ban         web on n3 -INFINITY      2023-11-14T22:13:20.000Z
        "#]],
    );
    assert_eq!(
        crate::undo::render_constraints(&[], &names()),
        "no constraints, moves or bans\n"
    );
}

#[test]
fn exported_cluster_file_reads_back_as_the_same_spec() {
    let spec = api::ClusterSpec {
        resources: vec![api::ResourceSpec {
            name: "db".to_string(),
            type_name: "process".to_string(),
            params: [
                ("command".to_string(), "/bin/sleep".to_string()),
                ("args".to_string(), "1000 \"quoted\"".to_string()),
            ]
            .into(),
            unique: Some(false),
            monitor_interval: Some("5s".to_string()),
            stickiness: Some(-10),
            utilization: [("memory".to_string(), 64)].into(),
            ..api::ResourceSpec::default()
        }],
        groups: vec![api::GroupSpec {
            name: "g".to_string(),
            members: vec!["db".to_string()],
        }],
        constraints: vec![api::ConstraintSpec::Location {
            resource: "g".to_string(),
            node: 2,
            score: "-INFINITY".to_string(),
        }],
        types: Vec::new(),
        alerts: vec![api::AlertSpec {
            name: "pager".to_string(),
            webhook: Some("http://127.0.0.1:9093/hook".to_string()),
            kinds: vec!["resource".to_string()],
            severity: Some("warning".to_string()),
            timeout: Some("30000ms".to_string()),
            ..api::AlertSpec::default()
        }],
        fence: vec![api::FenceDeviceSpec {
            name: "ipmi".to_string(),
            agent: "fence_ipmilan".to_string(),
            hosts: "n1,n2:bmc2".to_string(),
            params: [("ip".to_string(), "10.0.0.9".to_string())].into(),
            level: Some(1),
            timeout: Some("20s".to_string()),
            action: Some("off".to_string()),
        }],
    };
    let text = crate::apply::render_cluster_file(&spec).expect("renders");
    let back = crate::apply::parse_cluster_file(&text).expect("parses");
    assert_eq!(back, spec);
    check(
        text,
        expect![[r##"
            # The cluster as `encluster config export` wrote it; `encluster apply -f FILE` makes the
            # cluster match it (what is not in the file is removed).

            [[resource]]
            name = "db"
            type = "process"
            monitor_interval = "5s"
            stickiness = -10
            unique = false
            [resource.params]
            args = '1000 "quoted"'
            command = "/bin/sleep"
            [resource.utilization]
            memory = 64

            [[group]]
            name = "g"
            members = ["db"]

            [[constraint]]
            type = "location"
            node = 2
            resource = "g"
            score = "-INFINITY"

            [[alert]]
            name = "pager"
            kinds = ["resource"]
            severity = "warning"
            timeout = "30000ms"
            webhook = "http://127.0.0.1:9093/hook"

            [[fence]]
            name = "ipmi"
            agent = "fence_ipmilan"
            action = "off"
            hosts = "n1,n2:bmc2"
            level = 1
            timeout = "20s"
            [fence.params]
            ip = "10.0.0.9"
        "##]],
    );
}

#[tokio::test]
async fn wait_timeout_names_what_it_waits_for_and_why_from_explain() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ClusterCa::generate("test").expect("CA");
    let elsewhere = json(&view("web", vec![instance(1, "running", true)]));
    let explanation = json(&api::Explanation {
        resource: "web".to_string(),
        nodes: vec![1],
        reasons: vec!["node 2: cannot run it: ban by location constraint".to_string()],
    });
    let agent = fake_agent(&ca, vec![(200, elsewhere), (200, explanation)]).await;
    let (client, target) = client_and_target(&agent, dir.path(), &ca);
    let goal = Goal::RunningOn {
        resources: vec!["web".to_string()],
        node: 2,
    };
    let config = WaitConfig {
        poll: Duration::ZERO,
        timeout: Duration::ZERO,
    };
    let error = wait_for(&client, &target, &goal, &names(), config)
        .await
        .expect_err("times out");
    let text = error_text(error, agent.addr);
    assert!(text.contains("waiting for web to run on n2"), "{text}");
    assert!(
        text.contains("why web is not there yet (explain):\n  node 2: cannot run it: ban"),
        "{text}"
    );
    let seen = requests(agent).await;
    assert_eq!(
        seen,
        vec!["GET /v1/resources/web", "GET /v1/resources/web/explain"]
    );
}
