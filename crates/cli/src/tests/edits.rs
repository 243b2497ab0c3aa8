//! In-place edits against the fake agent: `group update` (a new member list, or `--add`
//! and `--remove` on the current one) and `constraint update`, the requests they send, what
//! they say, and the refusals they show.

use auth::ClusterCa;
use clap::Parser;

use super::fake_agent::{api_args, error_text, fake_agent, write_ca};
use super::resource_agent::{json, nodes, requests};
use crate::edits::{edited_members, group_update_message};
use crate::resource_args::{ConstraintAdd, GroupCommand};
use crate::{CliCommand, ConstraintCommand, run};

/// The agent's refusal of a member that does not exist: one problem with its fix.
const GHOST_REFUSAL: &str =
    "members: ghost does not exist: create the resource first, or leave it out of group site";

fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| name.to_string()).collect()
}

/// A cluster file whose only group is `site` with `members`.
fn config_with_site(members: &[&str]) -> String {
    json(&api::ClusterSpec {
        groups: vec![api::GroupSpec {
            name: "site".into(),
            members: strings(members),
        }],
        ..api::ClusterSpec::default()
    })
}

#[test]
fn add_and_remove_edit_the_current_members_in_order() {
    let current = strings(&["ip", "web", "app"]);
    let edited = edited_members(
        "site",
        &current,
        &strings(&["db", "cache"]),
        &strings(&["web"]),
    )
    .expect("edited");
    assert_eq!(edited, strings(&["ip", "app", "db", "cache"]));
}

#[test]
fn removing_a_stranger_or_adding_a_member_again_is_refused() {
    let current = strings(&["ip", "web"]);
    let stranger =
        edited_members("site", &current, &[], &strings(&["db"])).expect_err("db is no member");
    assert_eq!(
        stranger.to_string(),
        "db is not a member of group site (its members: ip, web)"
    );
    let again =
        edited_members("site", &current, &strings(&["web"]), &[]).expect_err("web is a member");
    assert_eq!(again.to_string(), "web is already a member of group site");
}

#[test]
fn the_message_says_who_joined_and_who_left() {
    let message = group_update_message(
        "site",
        Some(&strings(&["ip", "web", "old"])),
        &strings(&["web", "ip", "db"]),
    );
    let parts: Vec<&str> = message.split("; ").collect();
    assert_eq!(
        parts,
        [
            "updated group site: web, ip, db run together, started in this order",
            "db joined",
            "old left, still a resource",
            "the members that stayed keep running",
        ]
    );
    let unknown = group_update_message("site", None, &strings(&["ip"]));
    assert_eq!(
        unknown,
        "updated group site: ip run together, started in this order"
    );
}

#[test]
fn a_member_list_with_add_or_remove_is_refused_by_the_command_line() {
    #[derive(clap::Parser, Debug)]
    struct Line {
        #[command(subcommand)]
        command: CliCommand,
    }
    let error = Line::try_parse_from("x group update site ip web --add db".split(' '))
        .expect_err("members and --add");
    assert!(error.to_string().contains("cannot be used with"), "{error}");
    let parsed = Line::try_parse_from(
        "x constraint update order-a-b-mandatory order b a --optional".split(' '),
    )
    .expect("parses");
    assert!(matches!(
        parsed.command,
        CliCommand::Constraint(ConstraintCommand::Update {
            constraint: ConstraintAdd::Order { optional: true, .. },
            ..
        })
    ));
}

#[tokio::test]
async fn group_update_with_add_and_remove_puts_the_edited_members() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ClusterCa::generate("test").expect("CA");
    let stored = json(&api::GroupSpec {
        name: "site".into(),
        members: strings(&["ip", "db"]),
    });
    let responses = vec![(200, config_with_site(&["ip", "web"])), (200, stored)];
    let agent = fake_agent(&ca, responses).await;
    let args = api_args(agent.addr, write_ca(dir.path(), &ca));
    let command = GroupCommand::Update {
        name: "site".into(),
        members: Vec::new(),
        add: strings(&["db"]),
        remove: strings(&["web"]),
    };
    run(&args, CliCommand::Group(command))
        .await
        .expect("updated");
    let seen = requests(agent).await;
    assert_eq!(
        seen,
        vec![
            "GET /v1/config".to_string(),
            r#"PUT /v1/groups/site {"name":"site","members":["ip","db"]}"#.to_string(),
        ]
    );
}

#[tokio::test]
async fn a_refused_group_update_shows_the_agents_reason_and_that_nothing_changed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ClusterCa::generate("test").expect("CA");
    let refusal = json(&serde_json::json!({ "error": GHOST_REFUSAL }));
    let responses = vec![(200, config_with_site(&["ip"])), (400, refusal)];
    let agent = fake_agent(&ca, responses).await;
    let addr = agent.addr;
    let args = api_args(addr, write_ca(dir.path(), &ca));
    let command = GroupCommand::Update {
        name: "site".into(),
        members: strings(&["ip", "ghost"]),
        add: Vec::new(),
        remove: Vec::new(),
    };
    let error = run(&args, CliCommand::Group(command))
        .await
        .expect_err("refused");
    assert_eq!(
        error_text(error, addr),
        format!(
            "the agent refused the edit of group site, nothing was changed:\n  - {GHOST_REFUSAL}"
        )
    );
    requests(agent).await;
}

#[tokio::test]
async fn constraint_update_resolves_the_node_and_puts_the_new_constraint() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ClusterCa::generate("test").expect("CA");
    let view = api::ConstraintView {
        id: "location-db-3-50".into(),
        origin: "constraint".into(),
        constraint: api::ConstraintSpec::Location {
            resource: "db".into(),
            node: 3,
            score: "50".into(),
        },
        expires_at_ms: None,
    };
    let agent = fake_agent(&ca, vec![(200, nodes()), (200, json(&view))]).await;
    let args = api_args(agent.addr, write_ca(dir.path(), &ca));
    let command = ConstraintCommand::Update {
        id: "location-db-2-50".into(),
        constraint: ConstraintAdd::Location {
            resource: "db".into(),
            node: "node3".into(),
            score: "50".into(),
        },
    };
    run(&args, CliCommand::Constraint(command))
        .await
        .expect("updated");
    let seen = requests(agent).await;
    assert_eq!(
        seen,
        vec![
            "GET /v1/nodes".to_string(),
            concat!(
                r#"PUT /v1/constraints/location-db-2-50 "#,
                r#"{"type":"location","resource":"db","node":3,"score":"50"}"#
            )
            .to_string(),
        ]
    );
}
