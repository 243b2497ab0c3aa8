//! Commands against a fake agent: a TLS listener on loopback that answers canned responses.
//!
//! This checks what only a real connection shows: that the CLI sends the token to the right
//! path, trusts only the configured CA, and explains refused connections, foreign
//! certificates and refused tokens with their fix. It is not a live agent; the integration
//! tests of the binary cover that.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use auth::ClusterCa;
use model::NodeId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

use crate::{ApiArgs, CliCommand, KvCommand, NodeCommand, run};

/// The largest request head the fake agent reads.
const REQUEST_HEAD_BYTES_MAX: usize = 16 * 1024;

pub(super) struct FakeAgent {
    pub(super) addr: SocketAddr,
    /// Every request (request line, headers and body), in order.
    pub(super) requests: mpsc::Receiver<String>,
    pub(super) task: tokio::task::JoinHandle<()>,
}

/// Serves one connection per response, each closed after its answer.
pub(super) async fn fake_agent(ca: &ClusterCa, responses: Vec<(u16, String)>) -> FakeAgent {
    let node = ca
        .issue_node(NodeId(1), &["127.0.0.1".to_string()])
        .expect("node cert");
    let config = auth::api_server_config(&node.cert_pem, &node.key_pem).expect("server config");
    // The canned answers are HTTP/1.1, so HTTP/2 is not offered.
    let mut config = (*config).clone();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let (sender, requests) = mpsc::channel(responses.len().max(1));
    let task = tokio::spawn(async move {
        for (status, body) in responses {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let Ok(mut tls) = acceptor.accept(tcp).await else {
                continue;
            };
            let head = read_request(&mut tls).await;
            let _ = sender.send(head).await;
            let response = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n\
                content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = tls.write_all(response.as_bytes()).await;
            let _ = tls.shutdown().await;
        }
    });
    FakeAgent {
        addr,
        requests,
        task,
    }
}

/// Reads the head and then as much body as its `content-length` announces.
async fn read_request<S: AsyncReadExt + Unpin>(stream: &mut S) -> String {
    let mut request = Vec::new();
    let mut buffer = [0u8; 1024];
    let mut head_end = None;
    let mut wanted = REQUEST_HEAD_BYTES_MAX;
    while request.len() < wanted {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(count) => request.extend_from_slice(&buffer[..count]),
        }
        if head_end.is_none() {
            head_end = request
                .windows(4)
                .position(|window| window == b"\r\n\r\n")
                .map(|position| position + 4);
            if let Some(end) = head_end {
                wanted = end + content_length(&request[..end]);
            }
        }
    }
    String::from_utf8_lossy(&request).into_owned()
}

fn content_length(head: &[u8]) -> usize {
    let head = String::from_utf8_lossy(head).to_lowercase();
    head.lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

/// The body of a request that `read_request` captured.
pub(super) fn body(request: &str) -> &str {
    request.split_once("\r\n\r\n").map_or("", |(_, body)| body)
}

pub(super) fn write_ca(dir: &Path, ca: &ClusterCa) -> PathBuf {
    let path = dir.join("ca.pem");
    std::fs::write(&path, ca.cert_pem()).expect("write CA");
    path
}

pub(super) fn api_args(addr: SocketAddr, ca: PathBuf) -> ApiArgs {
    ApiArgs {
        api: Some(addr.to_string()),
        token: Some("enc_api_test".to_string()),
        ca: Some(ca),
        cli_config: None,
    }
}

/// The error's whole chain, with the address replaced by `ADDR`.
pub(super) fn error_text(error: anyhow::Error, addr: SocketAddr) -> String {
    format!("{error:#}").replace(&addr.to_string(), "ADDR")
}

#[tokio::test]
async fn status_sends_the_token_to_the_status_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ClusterCa::generate("test").expect("CA");
    let status = super::three_node_status();
    let body = serde_json::to_string(&status).expect("JSON");
    let mut agent = fake_agent(&ca, vec![(200, body)]).await;
    let args = api_args(agent.addr, write_ca(dir.path(), &ca));
    run(
        &args,
        CliCommand::Status {
            json: true,
            full: false,
        },
    )
    .await
    .expect("status works");
    let head = agent.requests.recv().await.expect("one request");
    assert!(head.starts_with("GET /v1/status HTTP/1.1\r\n"), "{head}");
    assert!(
        head.to_lowercase()
            .contains("authorization: bearer enc_api_test\r\n"),
        "{head}"
    );
    agent.task.await.expect("fake agent ends");
}

#[tokio::test]
async fn node_remove_looks_up_the_name_then_deletes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ClusterCa::generate("test").expect("CA");
    let nodes = serde_json::to_string(&super::three_node_status().nodes).expect("JSON");
    let mut agent = fake_agent(&ca, vec![(200, nodes), (200, "{}".to_string())]).await;
    let args = api_args(agent.addr, write_ca(dir.path(), &ca));
    run(
        &args,
        CliCommand::Node(NodeCommand::Remove { node: "3".into() }),
    )
    .await
    .expect("removed");
    let lookup = agent.requests.recv().await.expect("lookup request");
    assert!(lookup.starts_with("GET /v1/nodes HTTP/1.1\r\n"), "{lookup}");
    let delete = agent.requests.recv().await.expect("delete request");
    assert!(
        delete.starts_with("DELETE /v1/nodes/3 HTTP/1.1\r\n"),
        "{delete}"
    );
    agent.task.await.expect("fake agent ends");
}

#[tokio::test]
async fn refused_token_names_the_token_flag_and_env() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ClusterCa::generate("test").expect("CA");
    let body = r#"{"error":"invalid API token"}"#.to_string();
    let agent = fake_agent(&ca, vec![(401, body)]).await;
    let args = api_args(agent.addr, write_ca(dir.path(), &ca));
    let error = run(
        &args,
        CliCommand::Status {
            json: false,
            full: false,
        },
    )
    .await
    .expect_err("401");
    expect_test::expect![[r#"
        the API token was refused: check --token / ENCLUSTER_TOKEN (the admin token
        printed by `encluster init`)"#]]
    .assert_eq(&super::wrap(&error_text(error, agent.addr)));
}

#[tokio::test]
async fn other_api_errors_pass_the_agents_message_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ClusterCa::generate("test").expect("CA");
    let body = r#"{"error":"key k1 not found"}"#.to_string();
    let agent = fake_agent(&ca, vec![(404, body)]).await;
    let args = api_args(agent.addr, write_ca(dir.path(), &ca));
    let command = CliCommand::Kv(KvCommand::Get {
        key: "k1".to_string(),
        stale: false,
    });
    let error = run(&args, command).await.expect_err("404");
    expect_test::expect![
        "the agent at https://ADDR refused the request: key k1 not found (HTTP 404)"
    ]
    .assert_eq(&super::wrap(&error_text(error, agent.addr)));
}

#[tokio::test]
async fn closed_port_asks_whether_the_agent_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ClusterCa::generate("test").expect("CA");
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    drop(listener);
    let args = api_args(addr, write_ca(dir.path(), &ca));
    let error = run(
        &args,
        CliCommand::Status {
            json: false,
            full: false,
        },
    )
    .await
    .expect_err("refused");
    let text = error_text(error, addr);
    let expected = "cannot reach the encluster API at https://ADDR: is the agent running?: ";
    assert!(text.starts_with(expected), "{text}");
}

#[tokio::test]
async fn agent_of_another_cluster_is_refused_with_a_ca_hint() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ours = ClusterCa::generate("ours").expect("CA");
    let theirs = ClusterCa::generate("theirs").expect("CA");
    let agent = fake_agent(&theirs, vec![(200, "{}".to_string())]).await;
    let ca = write_ca(dir.path(), &ours);
    let error = run(
        &api_args(agent.addr, ca),
        CliCommand::Status {
            json: false,
            full: false,
        },
    )
    .await
    .expect_err("foreign certificate");
    let text = error_text(error, agent.addr).replace(&dir.path().display().to_string(), "$DIR");
    let expected = "the API at https://ADDR presented a certificate that the cluster CA in \
        $DIR/ca.pem does not vouch for: check --ca / ENCLUSTER_CA and --api (is it this \
        cluster's agent?): ";
    assert!(text.starts_with(expected), "{text}");
}

pub(super) fn events_body(seqs: std::ops::Range<u64>, next: u64) -> String {
    let events: Vec<api::Event> = seqs
        .map(|seq| api::Event {
            seq,
            at_ms: 1_000 + seq,
            kind: "test".to_string(),
            message: format!("event {seq}"),
            detail: serde_json::Value::Null,
            severity: "info".into(),
            actor: None,
        })
        .collect();
    serde_json::to_string(&api::Events { events, next }).expect("JSON")
}

#[tokio::test]
async fn events_pages_through_the_log_and_keeps_the_newest() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ClusterCa::generate("test").expect("CA");
    // Like the agent with a page of three: `next` is just after each page.
    let pages = [
        events_body(0..3, 3),
        events_body(3..6, 6),
        events_body(6..8, 8),
    ];
    let mut responses: Vec<(u16, String)> = pages.into_iter().map(|page| (200, page)).collect();
    responses.push((200, events_body(8..8, 8)));
    let mut agent = fake_agent(&ca, responses).await;
    let args = api_args(agent.addr, write_ca(dir.path(), &ca));
    let target = crate::config::resolve(&args, &[]).expect("resolves");
    let client = crate::config::client_for(&target).expect("client");
    let (events, next) = crate::events::fetch_last(&client, 4).await.expect("events");
    let seqs: Vec<u64> = events.iter().map(|event| event.seq).collect();
    assert_eq!((seqs, next), (vec![4, 5, 6, 7], 8));
    let mut paths = Vec::new();
    while let Some(head) = agent.requests.recv().await {
        paths.push(head.lines().next().unwrap_or_default().to_string());
    }
    expect_test::expect![[r#"
        [
            "GET /v1/events?since=0&wait_ms=0 HTTP/1.1",
            "GET /v1/events?since=3&wait_ms=0 HTTP/1.1",
            "GET /v1/events?since=6&wait_ms=0 HTTP/1.1",
            "GET /v1/events?since=8&wait_ms=0 HTTP/1.1",
        ]
    "#]]
    .assert_debug_eq(&paths);
    agent.task.await.expect("fake agent ends");
}

#[tokio::test]
async fn events_on_an_empty_log_asks_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ClusterCa::generate("test").expect("CA");
    let mut agent = fake_agent(&ca, vec![(200, events_body(0..0, 0))]).await;
    let args = api_args(agent.addr, write_ca(dir.path(), &ca));
    let target = crate::config::resolve(&args, &[]).expect("resolves");
    let client = crate::config::client_for(&target).expect("client");
    let (events, next) = crate::events::fetch_last(&client, 50)
        .await
        .expect("events");
    assert_eq!((events.len(), next), (0, 0));
    assert!(agent.requests.recv().await.is_some());
    agent.task.await.expect("fake agent ends");
    assert!(
        agent.requests.recv().await.is_none(),
        "one request was enough"
    );
}

#[tokio::test]
async fn follow_long_polls_from_next_and_retries_after_a_server_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ClusterCa::generate("test").expect("CA");
    let responses = vec![
        (200, events_body(0..2, 2)),
        (200, events_body(2..2, 2)),
        (200, events_body(2..3, 3)),
        (503, r#"{"error":"no master"}"#.to_string()),
        (200, events_body(3..4, 4)),
    ];
    let mut agent = fake_agent(&ca, responses).await;
    let args = api_args(agent.addr, write_ca(dir.path(), &ca));
    let command = CliCommand::Events {
        follow: true,
        json: true,
        last: 50,
    };
    // `--follow` only ends on Ctrl-C, so the test aborts it after the last expected request.
    let follow = tokio::spawn(async move { run(&args, command).await });
    let mut paths = Vec::new();
    while let Some(head) = agent.requests.recv().await {
        paths.push(head.lines().next().unwrap_or_default().to_string());
    }
    assert!(!follow.is_finished(), "follow ended early: {paths:?}");
    follow.abort();
    expect_test::expect![[r#"
        [
            "GET /v1/events?since=0&wait_ms=0 HTTP/1.1",
            "GET /v1/events?since=2&wait_ms=0 HTTP/1.1",
            "GET /v1/events?since=2&wait_ms=10000 HTTP/1.1",
            "GET /v1/events?since=3&wait_ms=10000 HTTP/1.1",
            "GET /v1/events?since=3&wait_ms=10000 HTTP/1.1",
        ]
    "#]]
    .assert_debug_eq(&paths);
}
