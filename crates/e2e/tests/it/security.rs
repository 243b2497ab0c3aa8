//! Security: only holders of a cluster node certificate reach the peer listener, and only
//! holders of the admin token reach the API.

use std::time::Duration;

use e2e::Cluster;

const SETTLE: Duration = Duration::from_secs(20);

fn peer_client(tls: std::sync::Arc<rustls::ClientConfig>) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_backend_preconfigured((*tls).clone())
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

async fn heartbeat_status(client: &reqwest::Client, peer_addr: &str) -> Result<u16, String> {
    // postcard of Heartbeat { node_id: 1, term: 1, older_contact_age_ms: 0 }
    let body = vec![1u8, 1, 0];
    match client
        .post(format!("https://{peer_addr}/peer/heartbeat"))
        .body(body)
        .send()
        .await
    {
        Ok(response) => Ok(response.status().as_u16()),
        Err(error) => Err(format!("{error:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_listener_refuses_clients_without_a_cluster_node_certificate() {
    let cluster = Cluster::start(1, 5, &[]).expect("start cluster");
    cluster.wait_master(SETTLE).await;
    let ca_pem = std::fs::read_to_string(cluster.cluster_dir().join("ca.pem")).expect("ca");
    let peer_addr = cluster.nodes[0].peer_addr.clone();

    let no_cert = peer_client(auth::client_config(&ca_pem, None).expect("tls"));
    let answer = heartbeat_status(&no_cert, &peer_addr).await;
    assert!(
        answer.is_err(),
        "a client without a certificate got an answer: {answer:?}"
    );

    let other_ca = auth::ClusterCa::generate("intruder").expect("ca");
    let forged = other_ca
        .issue_node(model_node(1), &["127.0.0.1".into()])
        .expect("cert");
    let tls = auth::client_config(&ca_pem, Some((&forged.cert_pem, &forged.key_pem))).expect("tls");
    let answer = heartbeat_status(&peer_client(tls), &peer_addr).await;
    assert!(
        answer.is_err(),
        "a certificate from another CA got an answer: {answer:?}"
    );

    // A certificate from the real CA that names no node (a client-tool certificate) passes
    // TLS but is refused by the peer handlers.
    let ca_key = std::fs::read_to_string(cluster.cluster_dir().join("ca.key")).expect("ca key");
    let ca = auth::ClusterCa::from_pem(&ca_pem, &ca_key).expect("ca");
    let tool = ca.issue_client("tool").expect("client cert");
    let tls = auth::client_config(&ca_pem, Some((&tool.cert_pem, &tool.key_pem))).expect("tls");
    assert_eq!(
        heartbeat_status(&peer_client(tls), &peer_addr).await,
        Ok(403)
    );
}

fn model_node(id: u64) -> model::NodeId {
    model::NodeId(id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_refuses_missing_and_wrong_tokens_with_clear_errors() {
    let cluster = Cluster::start(1, 5, &[]).expect("start cluster");
    cluster.wait_master(SETTLE).await;
    let health = cluster
        .client_with_token(1, None)
        .health()
        .await
        .expect("health needs no token");
    assert_eq!(health.status, "ok");

    let missing = cluster
        .client_with_token(1, None)
        .status()
        .await
        .expect_err("no token");
    assert_eq!(missing.status(), Some(401));
    assert!(
        missing.to_string().contains("missing API token"),
        "{missing}"
    );

    let wrong = cluster
        .client_with_token(1, Some("enc_api_00".into()))
        .status()
        .await;
    let wrong = wrong.expect_err("wrong token");
    assert_eq!(wrong.status(), Some(401));
    assert!(wrong.to_string().contains("token was refused"), "{wrong}");

    let mut cli = std::process::Command::new(e2e::binary());
    let output = cli
        .arg("status")
        .env(
            "ENCLUSTER_API",
            format!("https://{}", cluster.nodes[0].api_addr),
        )
        .env("ENCLUSTER_TOKEN", "enc_api_wrong")
        .env("ENCLUSTER_CA", cluster.cluster_dir().join("ca.pem"))
        .output()
        .expect("cli");
    assert!(
        !output.status.success(),
        "the CLI exited 0 with a wrong token"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("token"),
        "the CLI error does not name the token: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_client_trusting_another_ca_refuses_the_server() {
    let cluster = Cluster::start(1, 5, &[]).expect("start cluster");
    cluster.wait_master(SETTLE).await;
    let other_ca = auth::ClusterCa::generate("other").expect("ca");
    let tls = auth::client_config(&other_ca.cert_pem(), None).expect("tls");
    let client = api::Client::new(&format!("https://{}", cluster.nodes[0].api_addr), tls, None);
    let error = client
        .health()
        .await
        .expect_err("server cert from an untrusted CA");
    assert!(
        error.status().is_none(),
        "expected a TLS failure, got {error}"
    );
}
