//! In-place edits of groups and constraints (issue 14, point 3), end to end: a group of two
//! running resources gets a third member and a new order through the API while its two
//! running members are not restarted (the same process, the same grant, no stop and no
//! second start in the operation log); the edit is an operator action naming its user; an
//! operator (not admin) is refused; bad edits are refused naming the field and the fix,
//! with nothing changed; the CLI's `group update --remove`, `apply -f` of a changed group
//! and `constraint update` change them in place too, and a bad `constraint update` is
//! refused with the constraint left as it was.
//!
//! Method: a real two-node cluster on loopback, driven through `api::Client` and the CLI
//! binary; every wait polls the API with a deadline.

use std::process::Output;
use std::time::Duration;

use api::{ClientError, GroupSpec};
use e2e::output_text as text;
use e2e::specs::sleeper;
use e2e::{Cluster, wait_until};

const SETTLE: Duration = Duration::from_secs(30);

fn ok(output: Output) -> String {
    assert!(output.status.success(), "{}", text(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn group(members: &[&str]) -> GroupSpec {
    GroupSpec {
        name: "pair".into(),
        members: members.iter().map(|m| m.to_string()).collect(),
    }
}

/// Where a running resource is: its node, its process and the token of its grant.
#[derive(Debug, PartialEq, Eq)]
struct Running {
    node: u64,
    pid: u32,
    token: u64,
}

/// `name` running on exactly one node (on `on`, if given), once it is.
async fn running(cluster: &Cluster, name: &str, on: Option<u64>) -> Running {
    wait_until(&format!("{name} running on {on:?}"), SETTLE, || async {
        let view = cluster.client(1).resource(name).await.ok()?;
        let instance = view.instances.iter().find(|i| i.state == "running")?;
        let token = instance.assigned_token?;
        let (node, pid) = cluster.sole_instance(name).await?;
        let here = on.is_none_or(|on| on == node) && node == instance.node;
        here.then_some(Running { node, pid, token })
    })
    .await
}

/// How many `stop` and `start` operations of `name` the operation log holds.
async fn stops_and_starts(cluster: &Cluster, master: u64, name: &str) -> (usize, usize) {
    let log = cluster
        .client(master)
        .operations(Some(name), false)
        .await
        .expect("the operation log");
    let count = |operation: &str| {
        let matching = log.operations.iter().filter(|o| o.operation == operation);
        matching.count()
    };
    (count("stop"), count("start"))
}

/// The members of group `pair` as the cluster declares it.
async fn members(cluster: &Cluster, master: u64) -> Vec<String> {
    let config = cluster.client(master).config().await.expect("config");
    let pair = config.groups.into_iter().find(|g| g.name == "pair");
    pair.expect("group pair").members
}

/// `a` and `b` as they ran before the edits: where, and their stops and starts so far.
struct Before {
    running: [Running; 2],
    operations: [(usize, usize); 2],
}

/// `a` and `b` still run as `before` says, with no stop or start since.
async fn still_running(cluster: &Cluster, master: u64, before: &Before) {
    let names = ["a", "b"].into_iter().zip(&before.running);
    for ((name, was), operations) in names.zip(before.operations) {
        let now = running(cluster, name, Some(was.node)).await;
        assert_eq!(&now, was, "{name} was restarted or moved");
        let since = stops_and_starts(cluster, master, name).await;
        assert_eq!(since, operations, "{name}: stops and starts");
    }
}

/// Through the API, by an administrator labelled alice: `c` joins group `pair` at the end
/// and `b` now starts first; `a` and `b` keep running, and the edit is alice's action.
async fn the_api_adds_a_member_and_reorders(cluster: &Cluster, master: u64, before: &Before) {
    let issued = ok(cluster.cli(master, &["token", "admin", "--label", "alice"]));
    let alice = cluster.client_with_token(master, Some(issued.trim().to_owned()));
    let stored = alice
        .update_group("pair", &group(&["b", "a", "c"]))
        .await
        .expect("the edit");
    assert_eq!(stored, group(&["b", "a", "c"]));
    running(cluster, "c", Some(before.running[0].node)).await;
    still_running(cluster, master, before).await;
    let events = cluster.client(master).events(0, 0).await.expect("events");
    let audited = events.events.into_iter().find(|e| {
        e.kind == "operator_action" && e.message.contains("update group pair to [b, a, c]")
    });
    let audited = audited.expect("the edit is an operator action");
    assert_eq!(audited.actor.as_deref(), Some("alice"));
}

/// An operator may move a group but not change it; bad edits are refused, naming the
/// field and the fix, with nothing changed.
async fn bad_edits_change_nothing(cluster: &Cluster, master: u64, before: &Before) {
    let made = ok(cluster.cli(
        master,
        &["token", "create", "--role", "operator", "--label", "ops"],
    ));
    let operator = cluster.client_with_token(master, Some(made.trim().to_owned()));
    let refused = operator.update_group("pair", &group(&["a", "b"])).await;
    let needs_admin = matches!(
        &refused,
        Err(ClientError::Api { status: 403, message }) if message.contains("admin")
    );
    assert!(needs_admin, "{refused:?}");
    let admin = cluster.client(master);
    let ghost = admin
        .update_group("pair", &group(&["b", "a", "ghost"]))
        .await;
    assert_eq!(
        refusal(ghost),
        "members: ghost does not exist: create the resource first, or leave it out of group pair"
    );
    let other = GroupSpec {
        name: "other".into(),
        members: vec!["d".into()],
    };
    admin.create_group(&other).await.expect("another group");
    let taken = admin
        .update_group("pair", &group(&["b", "a", "c", "d"]))
        .await;
    let taken = refusal(taken);
    assert!(
        taken.starts_with("members: d is already in group other: take it out of that group"),
        "{taken}"
    );
    let nope = GroupSpec {
        name: "nope".into(),
        members: vec!["a".into()],
    };
    let missing = refusal(admin.update_group("nope", &nope).await);
    assert!(missing.contains("group nope does not exist"), "{missing}");
    assert_eq!(members(cluster, master).await, ["b", "a", "c"]);
    still_running(cluster, master, before).await;
}

/// The CLI takes `c` out of the group, and `apply -f` of the exported file with `c` back
/// in puts it back in place; `a` and `b` keep running.
async fn the_cli_and_apply_edit_in_place(cluster: &Cluster, master: u64, before: &Before) {
    let said = ok(cluster.cli(master, &["group", "update", "pair", "--remove", "c"]));
    assert!(said.contains("c left, still a resource"), "{said}");
    assert_eq!(members(cluster, master).await, ["b", "a"]);
    let exported = ok(cluster.cli(master, &["config", "export"]));
    let old_line = "members = [\"b\", \"a\"]";
    assert!(exported.contains(old_line), "{exported}");
    let file = cluster.dir.path().join("edited.toml");
    let edited = exported.replace(old_line, "members = [\"b\", \"a\", \"c\"]");
    std::fs::write(&file, edited).expect("write the file");
    let file = file.to_str().expect("utf-8 path");
    let applied = ok(cluster.cli(master, &["apply", "-f", file, "--yes"]));
    assert!(applied.contains("~ group pair [b, a, c]"), "{applied}");
    assert_eq!(members(cluster, master).await, ["b", "a", "c"]);
    running(cluster, "c", Some(before.running[0].node)).await;
    still_running(cluster, master, before).await;
}

/// `constraint update` replaces a constraint in place, under its new id; a bad one is
/// refused under its field and changes nothing.
async fn a_constraint_is_updated_in_place(cluster: &Cluster, master: u64) {
    ok(cluster.cli(master, &["constraint", "add", "order", "pair", "d"]));
    let update = |id: &'static str, then: &'static str, optional: bool| {
        let mut args = vec!["constraint", "update", id, "order", "pair", then];
        if optional {
            args.push("--optional");
        }
        cluster.cli(master, &args)
    };
    let updated = ok(update("order-pair-d-mandatory", "d", true));
    assert!(
        updated.contains("its id is now order-pair-d-optional"),
        "{updated}"
    );
    let bad = update("order-pair-d-optional", "ghost", false);
    assert!(!bad.status.success(), "a constraint on ghost was accepted");
    let expected =
        "then: ghost is neither a resource nor a group: create it first, or name another";
    assert!(text(&bad).contains(expected), "{}", text(&bad));
    let listed = cluster
        .client(master)
        .constraints()
        .await
        .expect("constraints");
    let ids: Vec<String> = listed.into_iter().map(|c| c.id).collect();
    assert_eq!(ids, ["order-pair-d-optional"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_edit_adds_and_reorders_members_without_restarting_the_running_ones() {
    let cluster = Cluster::start(2, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let admin = cluster.client(master);
    for name in ["a", "b", "c", "d"] {
        admin.create_resource(&sleeper(name)).await.expect("create");
    }
    admin
        .create_group(&group(&["a", "b"]))
        .await
        .expect("group");
    let first = running(&cluster, "a", None).await;
    let second = running(&cluster, "b", Some(first.node)).await;
    running(&cluster, "c", None).await;
    let before = Before {
        running: [first, second],
        operations: [
            stops_and_starts(&cluster, master, "a").await,
            stops_and_starts(&cluster, master, "b").await,
        ],
    };
    the_api_adds_a_member_and_reorders(&cluster, master, &before).await;
    bad_edits_change_nothing(&cluster, master, &before).await;
    the_cli_and_apply_edit_in_place(&cluster, master, &before).await;
    a_constraint_is_updated_in_place(&cluster, master).await;
    still_running(&cluster, master, &before).await;
}

/// The message of a refusal (HTTP 400).
fn refusal<T: std::fmt::Debug>(result: Result<T, ClientError>) -> String {
    match result {
        Err(ClientError::Api {
            status: 400,
            message,
        }) => message,
        other => panic!("expected a refusal, got {other:?}"),
    }
}
