//! A CLI config listing several API addresses: a connection refused by one sends the
//! request to the next, for plain commands and for `events --follow`, which resumes after
//! the last event it printed.

use std::net::SocketAddr;
use std::path::Path;

use auth::ClusterCa;
use tokio::net::TcpListener;

use super::fake_agent::{events_body, fake_agent, write_ca};
use crate::{ApiArgs, CliCommand, run};

/// An address nothing listens on.
async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    listener.local_addr().expect("local addr")
}

/// A `cli.toml` in the new format naming `addrs` in order.
fn cli_config(dir: &Path, ca: &ClusterCa, addrs: &[SocketAddr]) -> ApiArgs {
    write_ca(dir, ca);
    let apis: Vec<String> = addrs.iter().map(|addr| format!("\"{addr}\"")).collect();
    let text = format!(
        "apis = [{}]\ntoken = \"enc_api_test\"\nca = \"ca.pem\"\n",
        apis.join(", ")
    );
    let path = dir.join("cli.toml");
    std::fs::write(&path, text).expect("write cli.toml");
    ApiArgs {
        api: None,
        token: None,
        ca: None,
        cli_config: Some(path),
    }
}

#[tokio::test]
async fn status_goes_to_the_next_address_when_the_first_refuses() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ClusterCa::generate("test").expect("CA");
    let body = serde_json::to_string(&super::three_node_status()).expect("JSON");
    let mut agent = fake_agent(&ca, vec![(200, body)]).await;
    let args = cli_config(dir.path(), &ca, &[closed_port().await, agent.addr]);
    let status = CliCommand::Status {
        json: true,
        full: false,
    };
    run(&args, status).await.expect("status through the second");
    let head = agent.requests.recv().await.expect("one request");
    assert!(head.starts_with("GET /v1/status HTTP/1.1\r\n"), "{head}");
}

#[tokio::test]
async fn an_error_answer_is_final_and_not_sent_to_the_next_address() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ClusterCa::generate("test").expect("CA");
    let first = fake_agent(&ca, vec![(409, r#"{"error":"taken"}"#.into())]).await;
    let mut second = fake_agent(&ca, vec![]).await;
    let args = cli_config(dir.path(), &ca, &[first.addr, second.addr]);
    let command = CliCommand::Kv(crate::KvCommand::Put {
        key: "k".into(),
        value: "v".into(),
    });
    let error = run(&args, command)
        .await
        .expect_err("the conflict is final");
    assert!(format!("{error:#}").contains("taken"), "{error:#}");
    assert!(
        second.requests.recv().await.is_none(),
        "nothing reached the second"
    );
}

#[tokio::test]
async fn every_address_refused_names_them_all() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ClusterCa::generate("test").expect("CA");
    let (one, two) = (closed_port().await, closed_port().await);
    let args = cli_config(dir.path(), &ca, &[one, two]);
    let status = CliCommand::Status {
        json: false,
        full: false,
    };
    let error = run(&args, status).await.expect_err("nobody answers");
    let text = format!("{error:#}");
    let expected = format!("cannot reach the encluster API at https://{one}, https://{two}: ");
    assert!(text.starts_with(&expected), "{text}");
}

#[tokio::test]
async fn follow_moves_to_a_live_node_and_resumes_after_the_last_event() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ClusterCa::generate("test").expect("CA");
    // The first agent answers three requests, then is gone (its port refuses).
    let first = fake_agent(
        &ca,
        vec![
            (200, events_body(0..2, 2)),
            (200, events_body(2..2, 2)),
            (200, events_body(2..3, 3)),
        ],
    )
    .await;
    let mut second = fake_agent(&ca, vec![(200, events_body(3..4, 4))]).await;
    let args = cli_config(dir.path(), &ca, &[first.addr, second.addr]);
    let command = CliCommand::Events {
        follow: true,
        json: true,
        last: 50,
    };
    let follow = tokio::spawn(async move { run(&args, command).await });
    let head = second.requests.recv().await.expect("the second is asked");
    assert_eq!(
        head.lines().next().unwrap_or_default(),
        "GET /v1/events?since=3&wait_ms=10000 HTTP/1.1"
    );
    assert!(!follow.is_finished(), "follow goes on");
    follow.abort();
}
