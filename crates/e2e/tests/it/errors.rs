//! Bad input gets a clear error naming the problem and the fix, a non-zero exit, and
//! nothing written.

use std::process::Command;
use std::time::Duration;

use e2e::{Cluster, binary};

fn run(args: &[&str]) -> std::process::Output {
    Command::new(binary())
        .args(args)
        .output()
        .expect("run encluster")
}

/// Runs an agent on `config`, which it must refuse: its output once it has exited. An agent
/// that accepted the config would run on; it is killed after a deadline and the test fails.
fn refused_agent(config: &std::path::Path, expected: &str) -> std::process::Output {
    let mut agent = Command::new(binary())
        .args(["agent", "--config", config.to_str().expect("utf-8")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run encluster");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while agent.try_wait().expect("wait for the agent").is_none() {
        if std::time::Instant::now() >= deadline {
            let _ = agent.kill();
            let _ = agent.wait();
            panic!("agent accepted a config lacking {expected}: still running");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    agent.wait_with_output().expect("the agent's output")
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn bad_config_files_are_refused_with_the_field_named() {
    let dir = tempfile::tempdir().expect("dir");
    let missing = dir.path().join("absent.toml");
    let output = run(&["agent", "--config", missing.to_str().expect("utf-8")]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("cannot read config file"),
        "{}",
        stderr(&output)
    );

    let cluster_dir = dir.path().join("c");
    let init = run(&[
        "init",
        "--local",
        "1",
        "--base-ip",
        "127.9.9.1",
        "--dir",
        cluster_dir.to_str().expect("utf-8"),
    ]);
    assert!(init.status.success(), "{}", stderr(&init));
    let config = cluster_dir.join("node1").join("encluster.toml");
    let good = std::fs::read_to_string(&config).expect("config");
    let cases = [
        (
            good.replace("voters_max = 5", "voters_max = 4"),
            "voters_max",
        ),
        (
            format!("colour = \"blue\"\n{good}"),
            "unknown field `colour`",
        ),
        (
            good.replace("api_addr = \"", "api_addr = \"nowhere"),
            "api_addr",
        ),
        (
            good.replace("down_after = \"500ms\"", "down_after = \"100ms\""),
            "suspect_after",
        ),
        (
            good.replace(
                "election_timeout_min = \"150ms\"",
                "election_timeout_min = \"80ms\"",
            ),
            "raft.election_timeout_min (80ms) must be above the 100ms",
        ),
    ];
    for (text, expected) in cases {
        std::fs::write(&config, &text).expect("write");
        let output = refused_agent(&config, expected);
        assert!(
            !output.status.success(),
            "agent accepted a config lacking {expected}"
        );
        assert!(
            stderr(&output).contains(expected),
            "error does not name {expected}: {}",
            stderr(&output)
        );
    }
    let data_dir = cluster_dir.join("node1").join("data");
    assert!(
        !data_dir.exists(),
        "a refused config still created {}",
        data_dir.display()
    );
}

#[test]
fn init_into_a_non_empty_directory_changes_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("keep.txt"), "mine").expect("write");
    let output = run(&["init", "--dir", dir.path().to_str().expect("utf-8")]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("not empty"), "{}", stderr(&output));
    let entries: Vec<_> = std::fs::read_dir(dir.path()).expect("read").collect();
    assert_eq!(
        entries.len(),
        1,
        "init wrote files into a non-empty directory"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_join_token_is_refused_and_writes_nothing() {
    let cluster = Cluster::start(1, 5, &[]).expect("start cluster");
    cluster.wait_master(Duration::from_secs(20)).await;
    let target = cluster.dir.path().join("joiner");
    let server = cluster.nodes[0].api_addr.clone();
    let join = |token: &str| {
        Command::new(binary())
            .args([
                "join", "--server", &server, "--token", token, "--name", "n9",
            ])
            .args([
                "--peer-addr",
                "127.9.9.9:7510",
                "--api-addr",
                "127.9.9.9:7511",
                "--dir",
            ])
            .arg(&target)
            .output()
            .expect("run join")
    };
    let malformed = join("not-a-token");
    assert!(!malformed.status.success());
    assert!(
        stderr(&malformed).contains("malformed"),
        "{}",
        stderr(&malformed)
    );

    // Right CA pin, wrong secret: the cluster refuses it.
    let (prefix, _) = cluster.join_token.rsplit_once('_').expect("token shape");
    let wrong_secret = format!("{prefix}_{}", "0".repeat(64));
    let refused = join(&wrong_secret);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("join token was refused"),
        "{}",
        stderr(&refused)
    );

    // Wrong CA pin: the joiner refuses the server before sending anything.
    let wrong_pin = format!("enc_join_{}_{}", "0".repeat(16), "1".repeat(64));
    let unpinned = join(&wrong_pin);
    assert!(!unpinned.status.success());
    assert!(
        !target.exists(),
        "a refused join wrote {}",
        target.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_request_body_is_refused_and_the_agent_keeps_serving() {
    let cluster = Cluster::start(1, 5, &[]).expect("start cluster");
    cluster.wait_master(Duration::from_secs(20)).await;
    let big = "x".repeat(1024 * 1024);
    let error = cluster
        .client(1)
        .kv_put("big", &big)
        .await
        .expect_err("1 MiB value");
    assert_eq!(error.status(), Some(413), "{error}");
    cluster
        .client(1)
        .kv_put("small", "ok")
        .await
        .expect("the agent still serves");
}
