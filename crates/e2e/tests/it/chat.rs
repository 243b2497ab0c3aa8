//! The MSCS paper's example end to end (issue 12, points 5 and 7): the chat server of
//! `examples/chat`, a resource of the user-defined type `chat` grouped with its VIP, on a
//! real three-node cluster on loopback. The group is moved by hand with the CLI and with
//! the API, and its node is crashed (kill -9 of the agent and everything it started),
//! while a chat client keeps talking through the VIP, reconnects, and sees the history;
//! `MaxUser: 11` is refused with nothing created; `MaxUser` lowered live to 2 refuses a
//! third client without restarting the server, and 11 is refused there too.
//!
//! Method: the clients are `encluster chat connect VIP:PORT` processes (the reconnecting
//! client users run), fed on stdin, their stdout collected line by line; the cluster is
//! driven through the CLI and `api::Client` and polled with deadlines.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use api::{GroupSpec, MoveRequest};
use e2e::output_text as text;
use e2e::{Cluster, wait_until};

const SETTLE: Duration = Duration::from_secs(40);
const PORT: u16 = 7000;
const WELCOME: &str = "* welcome to chat on node";

/// A running `encluster chat connect`: what it printed so far, and its stdin.
struct Talker {
    child: Mutex<Child>,
    stdin: Mutex<ChildStdin>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Talker {
    fn connect(address: &str) -> Talker {
        let mut command = Command::new(e2e::binary());
        command.args(["chat", "connect", address]);
        Talker::spawn(command)
    }

    /// `encluster chat connect` run by `command` (for example inside a namespace).
    fn spawn(mut command: Command) -> Talker {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start encluster chat connect");
        let seen = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let seen = seen.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    seen.lock().expect("lock").push(line);
                }
            });
        }
        let stdin = Mutex::new(child.stdin.take().expect("stdin"));
        Talker {
            child: Mutex::new(child),
            stdin,
            seen,
        }
    }

    fn say(&self, line: &str) {
        let mut stdin = self.stdin.lock().expect("lock");
        writeln!(stdin, "{line}").expect("write to the chat client");
    }

    /// The client's exit status, once it exited.
    fn exited(&self) -> Option<std::process::ExitStatus> {
        self.child.lock().expect("lock").try_wait().ok().flatten()
    }

    fn lines(&self) -> Vec<String> {
        self.seen.lock().expect("lock").clone()
    }

    /// The node of the last instance that greeted this client.
    fn greeted_by(&self) -> Option<u64> {
        let lines = self.lines();
        let line = lines.iter().rev().find(|l| l.starts_with(WELCOME))?;
        line[WELCOME.len()..].split(':').next()?.parse().ok()
    }

    /// Waits until this client printed a line containing `needle`; returns the lines.
    async fn sees(&self, needle: &str) -> Vec<String> {
        let what = format!("a chat line with {needle:?}");
        wait_until(&what, SETTLE, || async {
            let lines = self.lines();
            lines.iter().any(|l| l.contains(needle)).then_some(lines)
        })
        .await
    }
}

impl Drop for Talker {
    fn drop(&mut self) {
        let child = self.child.get_mut().expect("lock");
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn ok(output: std::process::Output) -> String {
    assert!(output.status.success(), "{}", text(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Creates the `chat` type from `examples/chat/chat.toml` (run by this build's binary),
/// checks that `MaxUser: 11` is refused, then creates the VIP, the chat and their group.
async fn create_chat(cluster: &Cluster, vip: &str) {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/chat/chat.toml");
    let binary = e2e::binary().display().to_string();
    ok(cluster.cli(
        1,
        &[
            "type",
            "create",
            "chat",
            "-f",
            file,
            "--command",
            &binary,
            "--reload",
            &binary,
        ],
    ));
    let listen = format!("listen={vip}:{PORT}");
    let args = [
        "resource", "create", "chat1", "--type", "chat", "--param", &listen,
    ];
    let eleven = cluster.cli(1, &[&args[..], &["--param", "MaxUser=11"]].concat());
    assert!(
        !eleven.status.success(),
        "MaxUser 11 accepted: {}",
        text(&eleven)
    );
    assert!(
        text(&eleven).contains("MaxUser: 11 is above the maximum 10"),
        "{}",
        text(&eleven)
    );
    let client = cluster.client(1);
    assert!(
        client.resource("chat1").await.is_err(),
        "a refused resource was created"
    );
    ok(cluster.cli(1, &[&args[..], &["--param", "MaxUser=3"]].concat()));
    let ip = format!("ip={vip}");
    ok(cluster.cli(
        1,
        &[
            "resource", "create", "chat-vip", "--type", "vip", "--param", &ip,
        ],
    ));
    let group = GroupSpec {
        name: "chat".into(),
        members: vec!["chat-vip".into(), "chat1".into()],
    };
    client.create_group(&group).await.expect("create the group");
}

/// The node the chat runs on, with its pid, once it runs on exactly one node (other than
/// `not`) and its VIP runs there too.
async fn chat_node(cluster: &Cluster, not: Option<u64>) -> (u64, u32) {
    wait_until("the chat group running on one node", SETTLE, || async {
        let (node, pid) = cluster.sole_instance("chat1").await?;
        let vip = cluster
            .client(cluster.running()[0])
            .resource("chat-vip")
            .await
            .ok()?;
        let vip_there = vip
            .instances
            .iter()
            .any(|i| i.node == node && i.state == "running");
        (vip_there && Some(node) != not).then_some((node, pid))
    })
    .await
}

/// What a phase does to the chat group: move it with the CLI, with the API, or crash its
/// node.
#[derive(Clone, Copy, Debug)]
enum Disruption {
    CliMove,
    ApiMove,
    Crash,
}

/// One phase: a line delivered before, the disruption, then `alice` talks until `bob`
/// hears her again (both reconnected), and a new client sees the line in the history.
async fn phase(cluster: &mut Cluster, vip: &str, alice: &Talker, bob: &Talker, how: Disruption) {
    let before = format!("before {how:?}");
    alice.say(&before);
    bob.sees(&before).await;
    let (from, _) = chat_node(cluster, None).await;
    let to = cluster
        .running()
        .into_iter()
        .find(|n| *n != from)
        .expect("another node");
    match how {
        Disruption::CliMove => {
            let to = to.to_string();
            ok(cluster.cli(
                to.parse().expect("id"),
                &["group", "move", "chat", "--to", &to, "--wait"],
            ));
        }
        Disruption::ApiMove => {
            let request = MoveRequest {
                to: Some(to),
                for_duration: None,
                clear: false,
            };
            cluster
                .client(to)
                .move_group("chat", &request)
                .await
                .expect("move the group");
        }
        Disruption::Crash => cluster.crash(from),
    }
    let (now, _) = chat_node(cluster, Some(from)).await;
    if !matches!(how, Disruption::Crash) {
        assert_eq!(now, to, "the group went where it was moved");
    }
    // Alice keeps talking until Bob hears her: both clients have reconnected.
    let after = format!("after {how:?}");
    wait_until("alice heard again after the disruption", SETTLE, || async {
        alice.say(&after);
        tokio::time::sleep(Duration::from_millis(200)).await;
        bob.lines().iter().any(|l| l.contains(&after)).then_some(())
    })
    .await;
    let carol = Talker::connect(&format!("{vip}:{PORT}"));
    let lines = carol.sees(&before).await;
    let welcome = format!("* welcome to chat on node{now}");
    assert!(
        lines.iter().any(|l| l.starts_with(&welcome)),
        "the new instance greets: {lines:#?}"
    );
    let welcomes = alice
        .lines()
        .iter()
        .filter(|l| l.starts_with(&welcome))
        .count();
    assert!(
        welcomes >= 1,
        "alice reconnected to node{now}: {:#?}",
        alice.lines()
    );
}

/// `MaxUser` lowered live from 3 to 2 with Alice and Bob connected (Carol, the third, was
/// admitted in every phase): the server applies it
/// without a restart, and a third client is refused with a line saying why.
async fn lower_max_user(cluster: &Cluster, vip: &str) {
    let (node, pid) = chat_node(cluster, None).await;
    ok(cluster.cli(
        node,
        &["resource", "update", "chat1", "--param", "MaxUser=2"],
    ));
    let log = cluster.data_dir(node).join("resources/chat1/process.log");
    wait_until("the chat applied MaxUser 2", SETTLE, || async {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.contains("chat: MaxUser is now 2").then_some(())
    })
    .await;
    assert_eq!(
        chat_node(cluster, None).await,
        (node, pid),
        "applied live, no restart"
    );
    let carol = Talker::connect(&format!("{vip}:{PORT}"));
    carol
        .sees("* refused: the room is full (2 users, MaxUser 2)")
        .await;
    let status = wait_until("the refused client exits", SETTLE, || async {
        carol.exited()
    })
    .await;
    assert!(!status.success(), "a refused client exits with a failure");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_chat_group_moves_by_cli_and_api_and_survives_a_crash_with_its_history() {
    let mut cluster = Cluster::start(3, 5, &[]).expect("start cluster");
    cluster.wait_master(SETTLE).await;
    let octets = cluster.base_ip.octets();
    let vip = format!(
        "{}.{}.{}.{}",
        octets[0],
        octets[1],
        octets[2],
        octets[3] + 100
    );
    create_chat(&cluster, &vip).await;
    chat_node(&cluster, None).await;
    let address = format!("{vip}:{PORT}");
    let alice = Talker::connect(&address);
    let bob = Talker::connect(&address);
    bob.sees("* welcome to chat").await;
    alice.sees("* welcome to chat").await;
    for how in [Disruption::CliMove, Disruption::ApiMove, Disruption::Crash] {
        phase(&mut cluster, &vip, &alice, &bob, how).await;
    }
    lower_max_user(&cluster, &vip).await;
}

/// Three hosts in namespaces with the chat type, a netlink VIP and the chat grouped.
async fn chat_bed() -> (e2e::netns::TestBed, String) {
    let mut bed = e2e::netns::TestBed::new(3).expect("build the test bed");
    for id in 1..=3 {
        bed.start(id).expect("start agent");
    }
    wait_until("a master", SETTLE, || async {
        bed.cli(1, &["status", "--json"])
            .status
            .success()
            .then_some(())
    })
    .await;
    let vip = format!("198.18.{}.100", bed.subnet);
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/chat/chat.toml");
    let binary = e2e::binary().display().to_string();
    #[rustfmt::skip]
    let define = ["type", "create", "chat", "-f", file, "--command", &binary, "--reload", &binary];
    ok(bed.cli(1, &define));
    ok(bed.create_netlink_vip("chat-vip", &vip));
    let listen = format!("listen={vip}:{PORT}");
    #[rustfmt::skip]
    let create = ["resource", "create", "chat1", "--type", "chat", "--param", &listen,
                  "--param", "MaxUser=3"];
    ok(bed.cli(1, &create));
    ok(bed.cli(1, &["group", "create", "chat", "chat-vip", "chat1"]));
    (bed, vip)
}

/// The same through a real VIP (netlink, gratuitous ARP) on the namespace test bed: the
/// clients run in the client namespace; the group is moved with the CLI, then its host
/// crashes and its link goes dark.
#[tokio::test(flavor = "multi_thread")]
async fn the_chat_moves_and_survives_a_host_crash_through_a_real_vip() {
    if !e2e::netns::enabled("the_chat_moves_and_survives_a_host_crash_through_a_real_vip") {
        return;
    }
    let (mut bed, vip) = chat_bed().await;
    let client = |bed: &e2e::netns::TestBed| {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &bed.client])
            .arg(e2e::binary());
        command.args(["chat", "connect", &format!("{vip}:{PORT}")]);
        Talker::spawn(command)
    };
    let alice = client(&bed);
    let bob = client(&bed);
    alice.sees(WELCOME).await;
    bob.sees(WELCOME).await;
    for crash in [false, true] {
        let before = format!("before crash={crash}");
        alice.say(&before);
        bob.sees(&before).await;
        let from = bob.greeted_by().expect("bob was greeted");
        let to = from % 3 + 1;
        if crash {
            bed.crash(from);
            bed.link(from, false).expect("cut the crashed host");
        } else {
            let to = to.to_string();
            ok(bed.cli(1, &["group", "move", "chat", "--to", &to, "--wait"]));
        }
        let after = format!("after crash={crash}");
        wait_until("alice heard again through the VIP", SETTLE, || async {
            alice.say(&after);
            tokio::time::sleep(Duration::from_millis(200)).await;
            bob.lines().iter().any(|l| l.contains(&after)).then_some(())
        })
        .await;
        let now = bob.greeted_by().expect("bob was greeted again");
        assert_ne!(now, from, "the chat left node{from}");
        if !crash {
            assert_eq!(now, to, "the group went where it was moved");
        }
        let carol = client(&bed);
        let lines = carol.sees(&before).await;
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("{WELCOME}{now}:"))),
            "the new instance greets with the history: {lines:#?}"
        );
    }
}
