//! User-defined resource types end to end (issue 12, points 1, 6 and 7), with real agents:
//! a type defined from a file and one from flags; an instance whose command records its
//! environment (parameters as `OCF_RESKEY_` and `ENCLUSTER_PARAM_`); `MaxUser: 11` refused
//! by the API, the CLI and `apply -f` with the cmdb unchanged; a type change that would
//! invalidate a resource and the delete of a type in use refused, naming the resource; and
//! a failing IsAlive check restarting the instance.
//!
//! Method: one-node clusters on loopback driven through the `encluster` CLI and
//! `api::Client`; the state is polled with deadlines.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use e2e::output_text as text;
use e2e::{Cluster, wait_until};

const SETTLE: Duration = Duration::from_secs(30);

fn ok(output: Output) -> String {
    assert!(output.status.success(), "{}", text(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn refused(output: Output, expected: &str) {
    assert!(!output.status.success(), "accepted: {}", text(&output));
    assert!(text(&output).contains(expected), "{}", text(&output));
}

/// The `chat` type as a file: `MaxUser` from 1 to 10, and a command that writes its
/// environment to the file named by its `record` parameter, then sleeps.
const CHAT_TYPE: &str = r#"
description = "records its environment"
command = "/bin/sh"
args = ["-c", "env > \"$ENCLUSTER_PARAM_record\"; exec sleep 600"]

[looks_alive]
interval = "1s"

[[param]]
name = "MaxUser"
kind = "integer"
min = 1
max = 10
default = 5
description = "most clients at once"

[[param]]
name = "record"
kind = "path"
required = true
"#;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write a file");
    path.to_str().expect("utf-8 path").to_owned()
}

/// The file's lines once it holds `needle`.
async fn recorded(path: &Path, needle: &str) -> Vec<String> {
    wait_until(
        &format!("{needle} in {}", path.display()),
        SETTLE,
        || async {
            let text = std::fs::read_to_string(path).ok()?;
            text.contains(needle)
                .then(|| text.lines().map(str::to_owned).collect())
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_type_runs_with_its_parameters_and_max_user_11_is_refused_everywhere() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = Cluster::start(1, 5, &[]).expect("start cluster");
    let node = cluster.wait_master(SETTLE).await;
    let type_file = write(dir.path(), "chat.toml", CHAT_TYPE);
    ok(cluster.cli(node, &["type", "create", "chat", "-f", &type_file]));
    let shown = ok(cluster.cli(node, &["type", "show", "chat"]));
    assert!(
        shown.contains("MaxUser") && shown.contains("1..10"),
        "{shown}"
    );
    let listed = ok(cluster.cli(node, &["type", "list"]));
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("chat ") && l.contains("user")),
        "{listed}"
    );

    let record = dir.path().join("chat1.env");
    let record_param = format!("record={}", record.display());
    ok(cluster.cli(
        node,
        &[
            "resource",
            "create",
            "chat1",
            "--type",
            "chat",
            "--param",
            "MaxUser=7",
        ]
        .into_iter()
        .chain(["--param", &record_param])
        .collect::<Vec<_>>(),
    ));
    let env = recorded(&record, "ENCLUSTER_PARAM_MaxUser").await;
    for line in [
        "OCF_RESKEY_MaxUser=7",
        "ENCLUSTER_PARAM_MaxUser=7",
        "ENCLUSTER_RESOURCE=chat1",
    ] {
        assert!(env.iter().any(|l| l == line), "{line} missing from {env:?}");
    }
    let expected = format!("OCF_RESKEY_record={}", record.display());
    assert!(env.contains(&expected), "{expected} missing from {env:?}");

    refuse_max_user_11(&cluster, node, dir.path(), &record_param).await;
    refuse_changes_that_break_chat1(&cluster, node).await;
}

/// `MaxUser: 11` from the API, the CLI (create and update) and `apply -f`: each refused with
/// the schema's message, and the declared configuration exactly as before.
async fn refuse_max_user_11(cluster: &Cluster, node: u64, dir: &Path, record_param: &str) {
    let message = "MaxUser: 11 is above the maximum 10";
    let client = cluster.client(node);
    let before = client.config().await.expect("config before");
    let mut spec = client.resource("chat1").await.expect("chat1").spec;
    spec.name = "chat2".into();
    spec.params.insert("MaxUser".into(), "11".into());
    let error = client.create_resource(&spec).await.expect_err("MaxUser 11");
    assert!(error.to_string().contains(message), "{error}");
    let create = [
        "resource",
        "create",
        "chat2",
        "--type",
        "chat",
        "--param",
        "MaxUser=11",
    ];
    let create: Vec<&str> = create
        .into_iter()
        .chain(["--param", record_param])
        .collect();
    refused(cluster.cli(node, &create), message);
    let update = ["resource", "update", "chat1", "--param", "MaxUser=11"];
    refused(cluster.cli(node, &update), message);
    let exported = ok(cluster.cli(node, &["config", "export"]));
    assert!(
        exported.contains("[[type]]"),
        "the export lacks the type: {exported}"
    );
    let same = write(dir, "same.toml", &exported);
    let unchanged = ok(cluster.cli(node, &["apply", "-f", &same, "--dry-run"]));
    assert!(
        unchanged.contains("no changes"),
        "export and apply differ: {unchanged}"
    );
    let file = exported.replace("MaxUser = \"7\"", "MaxUser = \"11\"");
    assert_ne!(file, exported, "MaxUser not found in {exported}");
    let file = write(dir, "cluster.toml", &file);
    refused(cluster.cli(node, &["apply", "-f", &file, "--yes"]), message);
    assert_eq!(client.config().await.expect("config after"), before);
}

/// A type change that would make `chat1` invalid, and deleting the type it uses, are
/// refused naming `chat1`; a compatible change is accepted.
async fn refuse_changes_that_break_chat1(cluster: &Cluster, node: u64) {
    let lower = ["type", "update", "chat", "--param", "MaxUser:integer,1..5"];
    refused(
        cluster.cli(node, &lower),
        "resource chat1: MaxUser: 7 is above the maximum 5",
    );
    refused(
        cluster.cli(node, &["type", "delete", "chat"]),
        "type chat is used by chat1",
    );
    let raise = [
        "type",
        "update",
        "chat",
        "--param",
        "MaxUser:integer,1..20,default=5",
    ];
    ok(cluster.cli(node, &raise));
    let detail = cluster
        .client(node)
        .resource_type("chat")
        .await
        .expect("chat");
    assert_eq!(detail.parameters[0].max, Some(20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_is_alive_check_restarts_the_instance() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = Cluster::start(1, 5, &[]).expect("start cluster");
    let node = cluster.wait_master(SETTLE).await;
    // IsAlive fails while the `sick` file exists; a new instance removes it as it starts.
    let define = [
        "type",
        "create",
        "checked",
        "--command",
        "/bin/sh",
        "--arg",
        "-c",
        "--arg",
        "rm -f \"$ENCLUSTER_PARAM_sick\"; exec sleep 600",
        "--param",
        "sick:path,required",
        "--looks-alive-interval",
        "1s",
        "--is-alive",
        "command:/bin/sh",
        "--is-alive-arg",
        "-c",
        "--is-alive-arg",
        "test ! -e \"$ENCLUSTER_PARAM_sick\"",
        "--is-alive-interval",
        "1s",
        "--is-alive-timeout",
        "5s",
    ];
    ok(cluster.cli(node, &define));
    let sick = dir.path().join("sick");
    let sick_param = format!("sick={}", sick.display());
    let create = [
        "resource",
        "create",
        "app",
        "--type",
        "checked",
        "--param",
        &sick_param,
    ];
    ok(cluster.cli(node, &create));
    let (_, first) = wait_until("app running", SETTLE, || cluster.sole_instance("app")).await;
    std::fs::write(&sick, "").expect("make the instance sick");
    let (_, second) = wait_until("app restarted", SETTLE, || async {
        let (on, pid) = cluster.sole_instance("app").await?;
        (pid != first).then_some((on, pid))
    })
    .await;
    assert_ne!(first, second);
    let view = cluster.client(node).resource("app").await.expect("app");
    let failure = view.instances[0].last_failure.clone().unwrap_or_default();
    assert!(failure.contains("check command /bin/sh"), "{view:?}");
}

/// Bad definitions from the CLI: each refused with its problem named, a non-zero exit, and
/// no type stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_type_definitions_are_refused_with_the_problem_named_and_nothing_stored() {
    let cluster = Cluster::start(1, 5, &[]).expect("start cluster");
    let node = cluster.wait_master(SETTLE).await;
    let create_running = |command: &str, extra: &[&str]| {
        let mut args = vec!["type", "create", "bad", "--command", command];
        args.extend_from_slice(extra);
        cluster.cli(node, &args)
    };
    let create = |extra: &[&str]| create_running("/bin/sleep", extra);
    refused(
        create(&["--param", "MaxUser:integer,10..1"]),
        "param MaxUser: min 10 is greater than max 1: swap them",
    );
    refused(
        create(&["--param", "MaxUser:integer,1..10,default=11"]),
        "param MaxUser: the default is invalid: MaxUser: 11 is above the maximum 10",
    );
    refused(
        create(&["--kind", "singleton"]),
        "kind: \"singleton\" is not one of unique, clone, promotable",
    );
    refused(
        create_running("/nonexistent/chat", &[]),
        "command: \"/nonexistent/chat\" is not an executable program on this node",
    );
    refused(
        create(&["--is-alive-interval", "0s"]),
        "is_alive.interval: 0s must be from 100ms to 86400s",
    );
    let builtin = ["type", "create", "vip", "--command", "/bin/sleep"];
    refused(
        cluster.cli(node, &builtin),
        "name: \"vip\" is a built-in type: choose another name",
    );
    let list = cluster.client(node).types().await.expect("type list");
    assert!(
        list.types.iter().all(|t| t.class != "user"),
        "a refused type was stored: {list:?}"
    );
}

/// The executor picks up a changed definition: a new command line of the type restarts the
/// running instance with it (the resource itself is unchanged).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_type_command_restarts_its_instance_with_the_new_command() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = Cluster::start(1, 5, &[]).expect("start cluster");
    let node = cluster.wait_master(SETTLE).await;
    let script =
        |version: &str| format!("echo {version} > \"$ENCLUSTER_PARAM_record\"; exec sleep 600");
    let v1 = script("v1");
    let define = [
        "type",
        "create",
        "versioned",
        "--command",
        "/bin/sh",
        "--arg",
        "-c",
    ];
    let define: Vec<&str> = define
        .into_iter()
        .chain(["--arg", &v1, "--param", "record:path,required"])
        .collect();
    ok(cluster.cli(node, &define));
    let record = dir.path().join("version");
    let record_param = format!("record={}", record.display());
    let create = [
        "resource",
        "create",
        "app",
        "--type",
        "versioned",
        "--param",
        &record_param,
    ];
    ok(cluster.cli(node, &create));
    recorded(&record, "v1").await;
    let (_, first) = wait_until("app running", SETTLE, || cluster.sole_instance("app")).await;
    let v2 = script("v2");
    ok(cluster.cli(
        node,
        &["type", "update", "versioned", "--arg", "-c", "--arg", &v2],
    ));
    recorded(&record, "v2").await;
    let (_, second) = wait_until("app running again", SETTLE, || async {
        let (on, pid) = cluster.sole_instance("app").await?;
        (pid != first).then_some((on, pid))
    })
    .await;
    assert_ne!(first, second, "the old instance must not keep running");
}

/// A reloadable parameter changes live: the type's reload command runs with the new value
/// and the instance keeps its process; a parameter that is not reloadable restarts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reloadable_parameter_changes_live_and_another_restarts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = Cluster::start(1, 5, &[]).expect("start cluster");
    let node = cluster.wait_master(SETTLE).await;
    let define = [
        "type",
        "create",
        "live",
        "--command",
        "sleep",
        "--arg",
        "600",
        "--param",
        "MaxUser:integer,1..10,default=5,reloadable",
        "--param",
        "record:path,required",
        "--param",
        "label:string",
        "--reload",
        "/bin/sh",
        "--reload-arg",
        "-c",
        "--reload-arg",
        "echo $ENCLUSTER_PARAM_MaxUser > \"$ENCLUSTER_PARAM_record\"",
    ];
    ok(cluster.cli(node, &define));
    let record = dir.path().join("max");
    let record_param = format!("record={}", record.display());
    let create = [
        "resource",
        "create",
        "app",
        "--type",
        "live",
        "--param",
        &record_param,
    ];
    ok(cluster.cli(node, &create));
    let (_, first) = wait_until("app running", SETTLE, || cluster.sole_instance("app")).await;
    let update = ok(cluster.cli(node, &["resource", "update", "app", "--param", "MaxUser=3"]));
    assert!(update.contains("reload"), "{update}");
    recorded(&record, "3").await;
    let (_, pid) = wait_until("app running", SETTLE, || cluster.sole_instance("app")).await;
    assert_eq!(pid, first, "a reload must not restart the process");
    let update = ok(cluster.cli(node, &["resource", "update", "app", "--param", "label=x"]));
    assert!(update.contains("restart"), "{update}");
    wait_until("app restarted", SETTLE, || async {
        let (on, pid) = cluster.sole_instance("app").await?;
        (pid != first).then_some((on, pid))
    })
    .await;
}

/// A promotable user type whose application does not speak the protocol is promoted and
/// demoted by its own programs (issue 12, the type's `promote` and `demote`): each
/// instance writes its score to `$ENCLUSTER_PROMOTION_SCORE_FILE`, one is promoted by the
/// promote program, `type show` lists the programs, a stop demotes first, and role
/// programs on a type that is not promotable are refused with the fix named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotable_user_type_is_promoted_and_demoted_by_its_programs() {
    let cluster = Cluster::start(2, 1, &[]).expect("start cluster");
    cluster.wait_master(SETTLE).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("roles.log");
    let log = log.to_str().expect("utf-8 path");
    let run = "case \"$ENCLUSTER_NODE\" in node2) s=20;; *) s=10;; esac; \
               echo $s > \"$ENCLUSTER_PROMOTION_SCORE_FILE\"; exec sleep 600";
    let promote = format!("echo \"$ENCLUSTER_NODE promote $ENCLUSTER_PARAM_tag\" >> {log}");
    let demote = format!("echo \"$ENCLUSTER_NODE demote\" >> {log}");
    refused(
        cluster.cli(
            1,
            &[
                "type",
                "create",
                "bad",
                "--command",
                "sleep",
                "--promote",
                "/bin/true",
                "--demote",
                "/bin/true",
            ],
        ),
        "type bad is of kind unique, and only instances of a promotable type are promoted: \
         give it kind promotable (--kind promotable)",
    );
    ok(cluster.cli(
        1,
        &[
            "type",
            "create",
            "roles",
            "--command",
            "/bin/sh",
            "--arg",
            "-c",
            "--arg",
            run,
            "--kind",
            "promotable",
            "--param",
            "tag:string,default=t1",
            "--looks-alive-interval",
            "1s",
            "--promote",
            "/bin/sh",
            "--promote-arg",
            "-c",
            "--promote-arg",
            &promote,
            "--demote",
            "/bin/sh",
            "--demote-arg",
            "-c",
            "--demote-arg",
            &demote,
        ],
    ));
    let shown = ok(cluster.cli(1, &["type", "show", "roles"]));
    assert!(shown.contains("promote: /bin/sh -c echo"), "{shown}");
    assert!(shown.contains("demote: /bin/sh -c echo"), "{shown}");
    ok(cluster.cli(1, &["resource", "create", "r1", "--type", "roles"]));
    let client = cluster.client(1);
    // Node 2's score is the higher, but node 1's instance may start and report first and
    // be promoted before node 2's score is known: either is right, once.
    let node = wait_until("r1 promoted on one node", SETTLE, || async {
        let view = client.resource("r1").await.ok()?;
        let promoted: Vec<u64> = view
            .instances
            .iter()
            .filter(|i| i.role.as_deref() == Some("promoted"))
            .map(|i| i.node)
            .collect();
        match promoted[..] {
            [node] => Some(node),
            _ => None,
        }
    })
    .await;
    let promote_line = format!("node{node} promote t1");
    let promoted = recorded(Path::new(log), &promote_line).await;
    let once = std::slice::from_ref(&promote_line);
    assert_eq!(promoted, once, "promoted once, with its parameters");
    ok(cluster.cli(1, &["resource", "stop", "r1"]));
    let demote_line = format!("node{node} demote");
    let lines = recorded(Path::new(log), &demote_line).await;
    assert_eq!(lines, [promote_line, demote_line]);
}
