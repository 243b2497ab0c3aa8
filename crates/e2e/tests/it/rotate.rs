//! Certificate and token rotation (issue 17 point 3) with real agents on loopback:
//! * `cert rotate` while clients keep calling the API (over a kept connection and over a
//!   new connection each time) and the peer channel carries Raft: no request fails, the
//!   master and term stay, and every agent serves its new certificate without a restart;
//! * the CA replaced in two steps across three nodes: bad input refused with nothing
//!   changed, an old-CA certificate accepted during the change and refused after it;
//! * a revoked or rotated token refused on every node, with a 401 that says what to do;
//! * the 30-day expiry warning in `status` (CLI and API) and its event, from certificates
//!   issued short-lived on purpose (a hidden `--valid-for`), never by waiting.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use e2e::{Cluster, output_text, wait_until};

const SETTLE: Duration = Duration::from_secs(30);

fn ok(output: &std::process::Output, what: &str) -> String {
    assert!(output.status.success(), "{what}: {}", output_text(output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn refused(output: &std::process::Output, what: &str) -> String {
    assert!(
        !output.status.success(),
        "{what} should fail: {}",
        output_text(output)
    );
    output_text(output)
}

/// The fingerprint of the certificate a node's API presents on a new connection.
async fn presented(api_addr: &str) -> String {
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(AnyServer))
    .with_no_client_auth();
    let stream = tokio::net::TcpStream::connect(api_addr)
        .await
        .expect("connect");
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(name, stream)
        .await
        .expect("handshake");
    let leaf = &stream
        .get_ref()
        .1
        .peer_certificates()
        .expect("a certificate")[0];
    auth::fingerprint_der(leaf.as_ref())
}

/// Accepts any server certificate: only to read which one a node presents.
#[derive(Debug)]
struct AnyServer;

impl rustls::client::danger::ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _: &rustls_pki_types::CertificateDer<'_>,
        _: &[rustls_pki_types::CertificateDer<'_>],
        _: &rustls_pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls_pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls_pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Clients that call `status` on every node until stopped: one keeps its connections,
/// one opens a new connection (a new TLS handshake) for each request. Counts failures.
fn load(
    cluster: &Cluster,
    stop: Arc<AtomicBool>,
) -> (tokio::task::JoinHandle<()>, Arc<AtomicU64>, Arc<AtomicU64>) {
    let failed = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let kept: Vec<api::Client> = (1..=3).map(|id| cluster.client(id)).collect();
    let ca_path = cluster.cluster_dir().join("ca.pem");
    let addrs: Vec<String> = cluster.nodes.iter().map(|n| n.api_addr.clone()).collect();
    let token = cluster.admin_token.clone();
    let (failed_in, done_in) = (failed.clone(), done.clone());
    let task = tokio::spawn(async move {
        let mut round = 0usize;
        while !stop.load(Ordering::Relaxed) {
            let index = round % 3;
            round += 1;
            // The CA file is rewritten only by a CA change, never here: read it each time
            // as a new operator would.
            let ca = std::fs::read_to_string(&ca_path).expect("ca.pem");
            let tls = auth::client_config(&ca, None).expect("client TLS");
            let fresh = api::Client::new(
                &format!("https://{}", addrs[index]),
                tls,
                Some(token.clone()),
            );
            for client in [&kept[index], &fresh] {
                match client.status().await {
                    Ok(_) => done_in.fetch_add(1, Ordering::Relaxed),
                    Err(error) => {
                        eprintln!("request failed: {error}");
                        failed_in.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }
    });
    (task, failed, done)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn certificates_rotate_under_client_load_without_a_failed_request_or_master_change() {
    let cluster = Cluster::start(3, 3, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let before = wait_until("every node to report its certificate", SETTLE, || async {
        let certs = cluster.client(1).certs().await.ok()?;
        certs
            .nodes
            .iter()
            .all(|n| n.reported && n.current)
            .then_some(certs)
    })
    .await;
    let term = cluster.client(master).status().await.expect("status").term;
    let pids: Vec<Option<u32>> = (1..=3).map(|id| cluster.pid(id)).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let (task, failed, done) = load(&cluster, stop.clone());
    // Some requests before, so the kept connections are open when the rotation comes.
    wait_until("requests before the rotation", SETTLE, || async {
        (done.load(Ordering::Relaxed) >= 30).then_some(())
    })
    .await;
    let output = cluster.cli(2, &["cert", "rotate"]);
    let text = ok(&output, "cert rotate");
    assert!(
        text.contains("every node renewed its certificate (generation 1)"),
        "{text}"
    );
    let during = done.load(Ordering::Relaxed);
    wait_until("requests after the rotation", SETTLE, || async {
        (done.load(Ordering::Relaxed) >= during + 30).then_some(())
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    task.await.expect("the client task");
    assert_eq!(failed.load(Ordering::Relaxed), 0, "no request failed");
    let after = cluster.client(1).certs().await.expect("certs");
    for (old, new) in before.nodes.iter().zip(&after.nodes) {
        assert_ne!(old.fingerprint, new.fingerprint, "{} renewed", new.name);
        assert_eq!(new.generation, 1);
        assert!(new.current);
        let node = &cluster.nodes[(new.node - 1) as usize];
        assert_eq!(
            presented(&node.api_addr).await,
            new.fingerprint,
            "{} serves it",
            new.name
        );
        let on_disk =
            std::fs::read_to_string(node.config.with_file_name("node.pem")).expect("node.pem");
        assert_eq!(
            auth::fingerprint_pem(&on_disk).expect("pem"),
            new.fingerprint
        );
    }
    let status = cluster.client(master).status().await.expect("status");
    assert_eq!(status.master, Some(master), "no master change");
    assert_eq!(status.term, term, "no election");
    let pids_after: Vec<Option<u32>> = (1..=3).map(|id| cluster.pid(id)).collect();
    assert_eq!(pids, pids_after, "no agent restarted");
}

/// An API client trusting `ca_pem` and presenting `identity` to a node's peer listener.
fn peer_client(ca_pem: &str, identity: &auth::CertifiedKey) -> reqwest::Client {
    let tls = auth::client_config(ca_pem, Some((&identity.cert_pem, &identity.key_pem)))
        .expect("client TLS");
    reqwest::Client::builder()
        .tls_backend_preconfigured((*tls).clone())
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

/// Whether the peer listener at `addr` accepts a TLS connection with this client (any
/// HTTP answer means the certificate was accepted).
async fn peer_accepts(client: &reqwest::Client, addr: &str) -> bool {
    client.get(format!("https://{addr}/")).send().await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_ca_is_replaced_in_two_steps_across_three_nodes_and_old_ca_certificates_are_refused() {
    let cluster = Cluster::start(3, 3, &[]).expect("start cluster");
    cluster.wait_master(SETTLE).await;
    let dir = cluster.cluster_dir();
    let ca_file = dir.join("ca.pem");
    let old_pem = std::fs::read_to_string(&ca_file).expect("ca.pem");
    let old_key = std::fs::read_to_string(dir.join("ca.key")).expect("ca.key");
    let old_ca = auth::ClusterCa::from_pem(&old_pem, &old_key).expect("the old CA");
    let stale = old_ca
        .issue_node(
            model::NodeId(3),
            &[
                "localhost".into(),
                cluster.nodes[2]
                    .peer_addr
                    .split(':')
                    .next()
                    .expect("an IP")
                    .into(),
            ],
        )
        .expect("an old-CA certificate");

    bad_ca_input_changes_nothing(&cluster, &old_pem).await;

    // Step 1: both CAs trusted, every node moves to the new one.
    let text = ok(&cluster.cli(2, &["cert", "ca", "begin"]), "cert ca begin");
    assert!(text.contains("cert ca finish"), "{text}");
    let trust = std::fs::read_to_string(&ca_file).expect("ca.pem");
    let fingerprints = auth::bundle_fingerprints(&trust).expect("bundle");
    assert_eq!(fingerprints.len(), 2, "the CLI trusts both CAs");
    assert_eq!(fingerprints[0], old_ca.fingerprint());
    let certs = cluster.client(3).certs().await.expect("certs");
    let new_fp = certs
        .next_ca
        .as_ref()
        .expect("a change in progress")
        .fingerprint
        .clone();
    assert_eq!(certs.ca_change, "ready");
    assert!(
        certs.nodes.iter().all(|n| n.issuer == new_fp && n.current),
        "{certs:?}"
    );
    let text = refused(&cluster.cli(1, &["cert", "ca", "begin"]), "a second begin");
    assert!(text.contains("already in progress"), "{text}");
    // Nodes with old and new certificates still talk: an old-CA certificate is accepted.
    let old_peer = peer_client(&trust, &stale);
    for node in &cluster.nodes {
        assert!(
            peer_accepts(&old_peer, &node.peer_addr).await,
            "node {} accepts it during the change",
            node.id
        );
    }

    // Step 2: only the new CA.
    let text = ok(&cluster.cli(1, &["cert", "ca", "finish"]), "cert ca finish");
    assert!(text.contains("the old CA is trusted no more"), "{text}");
    let trust = std::fs::read_to_string(&ca_file).expect("ca.pem");
    assert_eq!(
        auth::bundle_fingerprints(&trust).expect("bundle"),
        vec![new_fp.clone()]
    );
    let old_peer = peer_client(&trust, &stale);
    for node in &cluster.nodes {
        assert!(
            !peer_accepts(&old_peer, &node.peer_addr).await,
            "node {} refuses the old CA",
            node.id
        );
        let certs = cluster
            .client(node.id)
            .certs()
            .await
            .expect("certs over the new CA");
        assert_eq!(certs.ca.fingerprint, new_fp);
        assert!(certs.next_ca.is_none());
    }
    let text = refused(
        &cluster.cli(1, &["cert", "ca", "finish"]),
        "a second finish",
    );
    assert!(text.contains("no CA change is in progress"), "{text}");
    let master = cluster.wait_master(SETTLE).await;
    ok(
        &cluster.cli(master, &["kv", "put", "after", "ca"]),
        "a write after the change",
    );
    // A restarted node comes back with the new files.
    let mut cluster = cluster;
    cluster.stop(3);
    cluster.start_node(3).expect("restart node 3");
    cluster.wait_master(SETTLE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revoked_or_rotated_token_is_refused_on_every_node() {
    let cluster = Cluster::start(3, 3, &[]).expect("start cluster");
    cluster.wait_master(SETTLE).await;
    let bob = ok(
        &cluster.cli(
            1,
            &["token", "create", "--role", "operator", "--label", "bob"],
        ),
        "create bob",
    )
    .trim()
    .to_owned();
    let carol = ok(
        &cluster.cli(
            1,
            &["token", "create", "--role", "viewer", "--label", "carol"],
        ),
        "create carol",
    )
    .trim()
    .to_owned();
    for id in 1..=3 {
        wait_until("bob's token on every node", SETTLE, || async {
            cluster
                .client_with_token(id, Some(bob.clone()))
                .status()
                .await
                .ok()
        })
        .await;
    }
    let list = ok(&cluster.cli(1, &["token", "list"]), "token list");
    assert!(
        list.contains("bob") && list.contains("operator") && !list.contains(&bob),
        "{list}"
    );

    // Bad input.
    let text = refused(
        &cluster.cli(1, &["token", "revoke"]),
        "revoke naming nothing",
    );
    assert!(text.contains("--label, --hash or --all-join"), "{text}");
    let text = refused(
        &cluster.cli(1, &["token", "revoke", "--label", "nobody"]),
        "revoke an unknown label",
    );
    assert!(text.contains("token list"), "{text}");

    ok(
        &cluster.cli(2, &["token", "revoke", "--label", "bob"]),
        "revoke bob",
    );
    for id in 1..=3 {
        let error = wait_until("bob's token refused", SETTLE, || async {
            cluster
                .client_with_token(id, Some(bob.clone()))
                .status()
                .await
                .err()
        })
        .await;
        assert_eq!(error.status(), Some(401), "node {id}: {error}");
        assert!(error.to_string().contains("revoked"), "node {id}: {error}");
    }

    let new_carol = ok(
        &cluster.cli(3, &["token", "rotate", "--label", "carol"]),
        "rotate carol",
    )
    .trim()
    .to_owned();
    for id in 1..=3 {
        wait_until("the new token on every node", SETTLE, || async {
            cluster
                .client_with_token(id, Some(new_carol.clone()))
                .status()
                .await
                .ok()
        })
        .await;
        let error = cluster
            .client_with_token(id, Some(carol.clone()))
            .status()
            .await
            .expect_err("old carol");
        assert_eq!(error.status(), Some(401));
        assert!(
            error.to_string().contains("encluster token rotate"),
            "{error}"
        );
    }

    join_tokens_are_revoked_and_a_new_one_admits(&cluster).await;
    own_token_rotation_updates_the_cli_config(&cluster).await;
}

/// A join request as a new node sends it.
fn join_request(name: &str, last_octet: u8) -> api::JoinRequest {
    let (_key, csr_pem) = auth::new_key_and_csr().expect("a key and CSR");
    api::JoinRequest {
        name: name.to_owned(),
        peer_addr: format!("127.251.0.{last_octet}:7510"),
        api_addr: format!("127.251.0.{last_octet}:7511"),
        csr_pem,
    }
}

/// `token revoke --all-join`: the cluster's join token stops admitting nodes on every node;
/// a join token issued afterwards (`token join`, the rotation of a single-use token) does.
async fn join_tokens_are_revoked_and_a_new_one_admits(cluster: &Cluster) {
    ok(
        &cluster.cli(1, &["token", "revoke", "--all-join"]),
        "revoke the join tokens",
    );
    for id in 1..=3 {
        let error = wait_until("the old join token refused", SETTLE, || async {
            cluster
                .client_with_token(id, Some(cluster.join_token.clone()))
                .join(&join_request(&format!("old{id}"), 10 + id as u8))
                .await
                .err()
        })
        .await;
        assert_eq!(error.status(), Some(401), "node {id}: {error}");
    }
    let fresh = ok(&cluster.cli(2, &["token", "join"]), "a new join token");
    let fresh = fresh
        .lines()
        .rev()
        .find_map(|line| line.split_whitespace().last())
        .expect("the token")
        .to_owned();
    let admitted = wait_until("the new join token admits a node", SETTLE, || async {
        cluster
            .client_with_token(3, Some(fresh.clone()))
            .join(&join_request("fresh", 20))
            .await
            .ok()
    })
    .await;
    assert_eq!(admitted.node_id, 4, "{admitted:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn status_warns_thirty_days_before_a_certificate_or_the_ca_expires() {
    let cluster = Cluster::start(2, 3, &[]).expect("start cluster");
    cluster.wait_master(SETTLE).await;
    let text = ok(&cluster.cli(1, &["status"]), "status");
    assert!(!text.contains("expires on"), "{text}");
    ok(
        &cluster.cli(1, &["cert", "rotate", "--valid-for", "10days"]),
        "short-lived certificates",
    );
    let status = cluster.client(2).status().await.expect("status");
    let nodes: Vec<Option<u64>> = status.cert_warnings.iter().map(|w| w.node).collect();
    assert_eq!(nodes, vec![Some(1), Some(2)], "{:?}", status.cert_warnings);
    let text = ok(&cluster.cli(2, &["status"]), "status");
    for name in ["node1", "node2"] {
        assert!(
            text.contains(&format!(
                "WARNING: the certificate of node {name} expires on"
            )) && text.contains("run `encluster cert rotate`"),
            "{text}"
        );
    }
    let events = wait_until("an expiry event per node", SETTLE, || async {
        let events = cluster.client(1).events(0, 0).await.ok()?;
        let expiring: Vec<_> = events
            .events
            .into_iter()
            .filter(|e| e.kind == "cert_expiring")
            .collect();
        (expiring.len() >= 2).then_some(expiring)
    })
    .await;
    assert!(
        events[0].message.contains("encluster cert rotate"),
        "{:?}",
        events[0]
    );
    assert_eq!(events[0].severity, "warning");
    ok(&cluster.cli(1, &["cert", "rotate"]), "renewed for long");
    let status = cluster.client(1).status().await.expect("status");
    assert!(
        status.cert_warnings.is_empty(),
        "{:?}",
        status.cert_warnings
    );

    // A CA that expires soon: warned with the command that replaces it.
    ok(
        &cluster.cli(1, &["cert", "ca", "begin", "--valid-for", "20days"]),
        "a short-lived CA",
    );
    ok(&cluster.cli(1, &["cert", "ca", "finish"]), "finish");
    let status = cluster.client(1).status().await.expect("status");
    let ca = status
        .cert_warnings
        .iter()
        .find(|w| w.subject == "CA")
        .expect("a CA warning");
    assert!(
        ca.message.contains("encluster cert ca begin"),
        "{}",
        ca.message
    );
}

/// Bad input to the CA change: each refused with a clear error, nothing changed.
async fn bad_ca_input_changes_nothing(cluster: &Cluster, old_pem: &str) {
    let dir = cluster.cluster_dir();
    let ca_file = dir.join("ca.pem");
    let text = refused(
        &cluster.cli(1, &["cert", "ca", "finish"]),
        "finish before begin",
    );
    assert!(
        text.contains("no CA change is in progress") && text.contains("cert ca begin"),
        "{text}"
    );
    let node_pem = dir.join("node1/node.pem");
    let node_key = dir.join("node1/node.key");
    let args = [
        "cert",
        "ca",
        "begin",
        "--ca-cert",
        node_pem.to_str().expect("UTF-8"),
        "--ca-key",
        node_key.to_str().expect("UTF-8"),
    ];
    let text = refused(
        &cluster.cli(1, &args),
        "begin with a node certificate as CA",
    );
    assert!(text.contains("not a CA certificate"), "{text}");
    let missing = [
        "cert",
        "ca",
        "begin",
        "--ca-cert",
        "/nonexistent/ca.pem",
        "--ca-key",
        "/nonexistent/ca.key",
    ];
    let text = refused(&cluster.cli(1, &missing), "begin with a missing file");
    assert!(
        text.contains("cannot read the CA certificate file /nonexistent/ca.pem"),
        "{text}"
    );
    assert!(
        cluster
            .client(1)
            .certs()
            .await
            .expect("certs")
            .next_ca
            .is_none()
    );
    assert_eq!(
        std::fs::read_to_string(&ca_file).expect("ca.pem"),
        old_pem,
        "the CA file is untouched"
    );
}

/// The CLI's own token, rotated: its config file gets the new one, the old one is refused,
/// and revoking the only admin token is refused.
async fn own_token_rotation_updates_the_cli_config(cluster: &Cluster) {
    let cli_toml = cluster.cluster_dir().join("cli.toml");
    let own = std::process::Command::new(e2e::binary())
        .args(["token", "rotate"])
        .env("ENCLUSTER_CLI_CONFIG", &cli_toml)
        .env_remove("ENCLUSTER_TOKEN")
        .env_remove("ENCLUSTER_API")
        .env_remove("ENCLUSTER_CA")
        .output()
        .expect("run the CLI");
    let new_admin = ok(&own, "rotate the CLI's own token").trim().to_owned();
    assert!(
        std::fs::read_to_string(&cli_toml)
            .expect("cli.toml")
            .contains(&new_admin)
    );
    let error = wait_until("the old admin token refused", SETTLE, || async {
        cluster.client(2).status().await.err()
    })
    .await;
    assert_eq!(error.status(), Some(401));
    cluster
        .client_with_token(2, Some(new_admin.clone()))
        .status()
        .await
        .expect("the new admin token");
    // Revoking the only admin token would leave no administrator.
    let lockout = std::process::Command::new(e2e::binary())
        .args(["token", "revoke", "--label", "admin"])
        .env("ENCLUSTER_CLI_CONFIG", &cli_toml)
        .env_remove("ENCLUSTER_TOKEN")
        .env_remove("ENCLUSTER_API")
        .env_remove("ENCLUSTER_CA")
        .output()
        .expect("run the CLI");
    let label_list = output_text(&lockout);
    assert!(!lockout.status.success(), "{label_list}");
    assert!(
        label_list.contains("no administrator") || label_list.contains("no stored token"),
        "{label_list}"
    );
}
