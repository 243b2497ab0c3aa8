//! Every change can be listed and undone, end to end: `move --clear`, bans and `clear`,
//! `unmanage`, `constraint list|remove`, what `--wait` says when it gives up, and the
//! declarative round trip `config export` / `apply -f` with the repository's example file.

use std::process::Output;
use std::time::Duration;

use api::{ConstraintSpec, ConstraintView, NodeModeRequest};
use e2e::output_text as text;
use e2e::specs::sleeper;
use e2e::{Cluster, wait_until};

const SETTLE: Duration = Duration::from_secs(30);

fn ok(output: Output) -> String {
    assert!(output.status.success(), "{}", text(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The one node where `name` runs with a live process, once it is there.
async fn running_on(cluster: &Cluster, name: &str, on: Option<u64>) -> (u64, u32) {
    wait_until(&format!("{name} running on {on:?}"), SETTLE, || async {
        let (node, pid) = cluster.sole_instance(name).await?;
        on.is_none_or(|on| on == node).then_some((node, pid))
    })
    .await
}

async fn prefer(cluster: &Cluster, master: u64, name: &str, node: u64) {
    let spec = ConstraintSpec::Location {
        resource: name.into(),
        node,
        score: "500".into(),
    };
    cluster
        .client(master)
        .add_constraint(&spec)
        .await
        .expect("add the preference");
}

fn constraints(cluster: &Cluster, node: u64) -> Vec<ConstraintView> {
    let json = ok(cluster.cli(node, &["constraint", "list", "--json"]));
    serde_json::from_str(&json).expect("constraint list --json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_clear_returns_the_resource_to_where_the_scheduler_puts_it() {
    let cluster = Cluster::start(3, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let client = cluster.client(master);
    client
        .create_resource(&sleeper("mover"))
        .await
        .expect("create");
    let (home, _) = running_on(&cluster, "mover", None).await;
    prefer(&cluster, master, "mover", home).await;
    let away = (1..=3).find(|n| *n != home).expect("another node");
    let to = away.to_string();
    ok(cluster.cli(
        master,
        &["resource", "move", "mover", "--to", &to, "--wait"],
    ));
    running_on(&cluster, "mover", Some(away)).await;
    let listed = constraints(&cluster, master);
    assert!(
        listed.iter().any(|c| c.origin == "move"),
        "the move is not listed: {listed:?}"
    );
    let cleared = ok(cluster.cli(master, &["resource", "move", "mover", "--clear", "--wait"]));
    assert!(cleared.contains("cleared the move"), "{cleared}");
    running_on(&cluster, "mover", Some(home)).await;
    assert!(
        constraints(&cluster, master)
            .iter()
            .all(|c| c.origin != "move"),
        "the move is still listed"
    );
}

/// Issue 11: a group moved after one of its members was moved timed out with `INFINITY`
/// preferences for two nodes. A move of a group or of any member replaces the group's
/// earlier move, so the second move gets there and one preference is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r11_group_moved_twice_keeps_one_preference_and_gets_there() {
    let cluster = Cluster::start(3, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let client = cluster.client(master);
    for name in ["first", "second"] {
        client
            .create_resource(&sleeper(name))
            .await
            .expect("create");
    }
    let group = api::GroupSpec {
        name: "pair".into(),
        members: vec!["first".into(), "second".into()],
    };
    client.create_group(&group).await.expect("group");
    let (node, _) = running_on(&cluster, "second", None).await;
    let others: Vec<u64> = (1..=3).filter(|n| *n != node).collect();
    let (one, two) = (others[0].to_string(), others[1].to_string());
    let wait = ["--wait", "--timeout", "30s"];
    let moved = cluster.cli(
        master,
        &[&["resource", "move", "second", "--to", &one][..], &wait].concat(),
    );
    ok(moved);
    let moved = cluster.cli(
        master,
        &[&["group", "move", "pair", "--to", &two][..], &wait].concat(),
    );
    ok(moved);
    running_on(&cluster, "first", Some(others[1])).await;
    let moves: Vec<ConstraintView> = constraints(&cluster, master)
        .into_iter()
        .filter(|c| c.origin == "move")
        .collect();
    assert_eq!(moves.len(), 1, "{moves:?}");
    assert_eq!(moves[0].id, format!("cli-prefer-pair-on-{two}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ban_keeps_a_resource_off_a_node_and_clear_lifts_it() {
    let cluster = Cluster::start(2, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let client = cluster.client(master);
    client
        .create_resource(&sleeper("banned"))
        .await
        .expect("create");
    let (home, _) = running_on(&cluster, "banned", None).await;
    prefer(&cluster, master, "banned", home).await;
    let other = if home == 1 { 2 } else { 1 };
    let home_text = home.to_string();
    let said = ok(cluster.cli(master, &["resource", "ban", "banned", "--node", &home_text]));
    assert!(said.contains("banned banned from"), "{said}");
    running_on(&cluster, "banned", Some(other)).await;
    let id = format!("cli-ban-banned-on-{home}");
    assert!(
        constraints(&cluster, master).iter().any(|c| c.id == id),
        "the ban is not listed as {id}"
    );
    // Waiting for what the ban forbids times out, and says what it waited for and why.
    let refused = cluster.cli(
        master,
        &[
            "resource",
            "move",
            "banned",
            "--to",
            &home_text,
            "--wait",
            "--timeout",
            "2s",
        ],
    );
    assert!(!refused.status.success());
    let message = text(&refused);
    assert!(
        message.contains("waiting for banned to run on"),
        "{message}"
    );
    assert!(message.contains("why banned is not there yet"), "{message}");
    assert!(message.contains("ban by location constraint"), "{message}");
    let cleared = ok(cluster.cli(master, &["resource", "clear", "banned", "--wait"]));
    assert!(cleared.contains(&id), "{cleared}");
    running_on(&cluster, "banned", Some(home)).await;
    assert!(
        constraints(&cluster, master)
            .iter()
            .all(|c| c.origin == "constraint"),
        "moves or bans are left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmanaged_process_keeps_running_when_its_node_goes_standby() {
    let cluster = Cluster::start(2, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let client = cluster.client(master);
    client
        .create_resource(&sleeper("kept"))
        .await
        .expect("create");
    let (node, pid) = running_on(&cluster, "kept", None).await;
    // A marker that prefers the same node: once it has left the standby node, the master
    // has scheduled a round that saw the standby.
    client
        .create_resource(&sleeper("marker"))
        .await
        .expect("marker");
    prefer(&cluster, master, "marker", node).await;
    running_on(&cluster, "marker", Some(node)).await;
    ok(cluster.cli(master, &["resource", "unmanage", "kept"]));
    let shown = ok(cluster.cli(master, &["resource", "show", "kept", "--json"]));
    let view: api::ResourceView = serde_json::from_str(&shown).expect("resource JSON");
    assert!(!view.managed, "{shown}");
    let standby = NodeModeRequest {
        mode: "standby".into(),
    };
    client.set_node_mode(node, &standby).await.expect("standby");
    running_on(&cluster, "marker", Some(if node == 1 { 2 } else { 1 })).await;
    assert_eq!(
        cluster.resource_pid(node, "kept"),
        Some(pid),
        "the unmanaged process was touched"
    );
    ok(cluster.cli(master, &["resource", "manage", "kept"]));
    wait_until(
        "the managed resource to leave the standby node",
        SETTLE,
        || async { cluster.resource_pid(node, "kept").is_none().then_some(()) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constraint_list_shows_and_remove_removes_by_id() {
    let cluster = Cluster::start(2, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let client = cluster.client(master);
    for name in ["a", "b"] {
        client
            .create_resource(&sleeper(name))
            .await
            .expect("create");
    }
    ok(cluster.cli(master, &["constraint", "add", "order", "a", "b"]));
    ok(cluster.cli(master, &["constraint", "add", "location", "a", "2", "50"]));
    ok(cluster.cli(
        master,
        &["resource", "ban", "b", "--node", "1", "--for", "10m"],
    ));
    let table = ok(cluster.cli(master, &["constraint", "list"]));
    for id in ["order-a-b-mandatory", "location-a-2-50", "cli-ban-b-on-1"] {
        assert!(table.contains(id), "{id} missing from:\n{table}");
    }
    let listed = constraints(&cluster, master);
    let ban = listed.iter().find(|c| c.origin == "ban").expect("the ban");
    assert!(ban.expires_at_ms.is_some(), "{ban:?}");
    ok(cluster.cli(master, &["constraint", "remove", "order-a-b-mandatory"]));
    ok(cluster.cli(master, &["constraint", "remove", "cli-ban-b-on-1"]));
    let left: Vec<String> = constraints(&cluster, master)
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(left, vec!["location-a-2-50".to_string()]);
    let unknown = cluster.cli(master, &["constraint", "remove", "order-a-b-mandatory"]);
    assert!(!unknown.status.success());
    assert!(
        text(&unknown).contains("constraint list"),
        "{}",
        text(&unknown)
    );
}

fn example_file() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/cluster.toml")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_file_applies_and_export_round_trips_unchanged() {
    let cluster = Cluster::start(2, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let example = example_file();
    let example = example.to_str().expect("utf-8 path");
    ok(cluster.cli(master, &["apply", "-f", example, "--yes"]));
    running_on(&cluster, "app", None).await;
    // Operational state is not in the file and survives the apply.
    ok(cluster.cli(master, &["resource", "ban", "cache", "--node", "2"]));
    let exported = ok(cluster.cli(master, &["config", "export"]));
    assert!(
        exported.contains("[[alert]]\nname = \"disk-nearly-full\""),
        "the example's alert rule is exported: {exported}"
    );
    let file = cluster.dir.path().join("exported.toml");
    std::fs::write(&file, &exported).expect("write the export");
    let path = file.to_str().expect("utf-8 path");
    let dry = ok(cluster.cli(master, &["apply", "-f", path, "--dry-run"]));
    assert!(dry.contains("no changes"), "{dry}");
    let applied = ok(cluster.cli(master, &["apply", "-f", path, "--yes"]));
    assert!(applied.contains("no changes"), "{applied}");
    let again = ok(cluster.cli(master, &["config", "export"]));
    assert_eq!(again, exported, "a second export differs");
    assert!(
        constraints(&cluster, master)
            .iter()
            .any(|c| c.origin == "ban"),
        "apply removed the ban"
    );
}

/// Files the configuration check refuses: the dry run must refuse each with the same
/// words as the real apply, and neither may change anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_and_real_apply_refuse_bad_files_alike() {
    let cluster = Cluster::start(1, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let resource = |name: &str| {
        format!(
            "[[resource]]\nname = \"{name}\"\ntype = \"process\"\n\
             params = {{ command = \"sleep\", args = \"1000\" }}\n"
        )
    };
    let colocation = |resource: &str, with: &str, score: &str| {
        format!(
            "[[constraint]]\ntype = \"colocation\"\nresource = \"{resource}\"\n\
             with = \"{with}\"\nscore = \"{score}\"\n"
        )
    };
    let (a, b) = (resource("a"), resource("b"));
    let bad = [
        format!("{a}[[constraint]]\ntype = \"order\"\nfirst = \"a\"\nthen = \"nothing\"\n"),
        format!("{a}[[group]]\nname = \"g\"\nmembers = [\"a\", \"ghost\"]\n"),
        format!(
            "{a}{b}[[group]]\nname = \"g\"\nmembers = [\"a\"]\n\
             [[group]]\nname = \"h\"\nmembers = [\"a\", \"b\"]\n"
        ),
        format!(
            "{a}{b}{}{}",
            colocation("a", "b", "INFINITY"),
            colocation("b", "a", "INFINITY")
        ),
        format!("{a}{}", colocation("a", "a", "5")),
    ];
    for (index, text_of_file) in bad.iter().enumerate() {
        let file = cluster.dir.path().join(format!("bad-{index}.toml"));
        std::fs::write(&file, text_of_file).expect("write");
        let path = file.to_str().expect("utf-8 path");
        let dry = cluster.cli(master, &["apply", "-f", path, "--dry-run"]);
        let real = cluster.cli(master, &["apply", "-f", path, "--yes"]);
        assert!(!dry.status.success(), "dry run accepted:\n{text_of_file}");
        assert!(!real.status.success(), "apply accepted:\n{text_of_file}");
        assert_eq!(
            String::from_utf8_lossy(&dry.stderr),
            String::from_utf8_lossy(&real.stderr),
            "for:\n{text_of_file}"
        );
    }
    let resources = cluster.client(master).resources().await.expect("list");
    assert!(resources.is_empty(), "a refused file changed the cluster");
}

/// Issue 11: the dry run accepted a constraint naming a group that the real apply then
/// refused. Both accept it now, and the group follows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r11_constraint_on_a_group_is_accepted_by_both_and_honoured() {
    let cluster = Cluster::start(2, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let file = cluster.dir.path().join("group.toml");
    let text_of_file = r#"
[[resource]]
name = "one"
type = "process"
params = { command = "sleep", args = "1000" }

[[resource]]
name = "two"
type = "process"
params = { command = "sleep", args = "1000" }

[[group]]
name = "both"
members = ["one", "two"]

[[constraint]]
type = "location"
resource = "both"
node = 2
score = "INFINITY"
"#;
    std::fs::write(&file, text_of_file).expect("write");
    let path = file.to_str().expect("utf-8 path");
    ok(cluster.cli(master, &["apply", "-f", path, "--dry-run"]));
    ok(cluster.cli(master, &["apply", "-f", path, "--yes"]));
    running_on(&cluster, "one", Some(2)).await;
    running_on(&cluster, "two", Some(2)).await;
}
