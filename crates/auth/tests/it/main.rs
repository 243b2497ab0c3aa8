//! TLS handshakes over real loopback TCP with the configs this crate builds.
//!
//! Each test runs one server accept and one client connect concurrently. A handshake only
//! counts as complete when the server has sent a byte and the client has read it, because in
//! TLS 1.3 the client finishes before the server has judged the client certificate.

use std::sync::Arc;
use std::time::Duration;

use auth::{CertifiedKey, ClusterCa};
use model::NodeId;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// What the server learned from a completed handshake.
#[derive(Debug, PartialEq)]
struct Accepted {
    /// The node named by the client's certificate, if it sent one.
    node_id: Option<NodeId>,
    client_sent_certificate: bool,
    alpn_protocol: Option<Vec<u8>>,
}

/// Both sides' results; `Err` holds the error text of the side that failed.
struct Outcome {
    server: Result<Accepted, String>,
    client: Result<(), String>,
}

impl Outcome {
    fn completed(self) -> Accepted {
        self.client.expect("client completes the handshake");
        self.server.expect("server completes the handshake")
    }

    fn refused(self) -> (String, String) {
        let client = self
            .client
            .expect_err("client must not complete the handshake");
        let server = self
            .server
            .expect_err("server must not complete the handshake");
        (server, client)
    }
}

async fn handshake(server_config: Arc<ServerConfig>, client_config: Arc<ClientConfig>) -> Outcome {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let address = listener.local_addr().expect("local address");
    let server = async {
        let (stream, _) = listener.accept().await.map_err(|error| error.to_string())?;
        let mut tls = TlsAcceptor::from(server_config)
            .accept(stream)
            .await
            .map_err(|error| error.to_string())?;
        let (_, connection) = tls.get_ref();
        let peer_certificates = connection.peer_certificates().unwrap_or_default();
        let accepted = Accepted {
            node_id: peer_certificates
                .first()
                .and_then(|der| auth::node_id_from_cert_der(der)),
            client_sent_certificate: !peer_certificates.is_empty(),
            alpn_protocol: connection.alpn_protocol().map(<[u8]>::to_vec),
        };
        tls.write_all(b"ok")
            .await
            .map_err(|error| error.to_string())?;
        tls.shutdown().await.map_err(|error| error.to_string())?;
        Ok(accepted)
    };
    let client = async {
        let stream = TcpStream::connect(address)
            .await
            .map_err(|error| error.to_string())?;
        let server_name = ServerName::try_from("127.0.0.1").expect("IP server name");
        let mut tls = TlsConnector::from(client_config)
            .connect(server_name, stream)
            .await
            .map_err(|error| error.to_string())?;
        let mut reply = [0u8; 2];
        tls.read_exact(&mut reply)
            .await
            .map_err(|error| error.to_string())?;
        assert_eq!(&reply, b"ok");
        Ok(())
    };
    let (server, client) = tokio::time::timeout(Duration::from_secs(10), async {
        tokio::join!(server, client)
    })
    .await
    .expect("handshake finishes within 10 s");
    Outcome { server, client }
}

fn node(ca: &ClusterCa, id: u64) -> CertifiedKey {
    ca.issue_node(
        NodeId(id),
        &["127.0.0.1".to_owned(), "localhost".to_owned()],
    )
    .expect("issue node certificate")
}

fn peer_server(ca: &ClusterCa, server: &CertifiedKey) -> Arc<ServerConfig> {
    auth::peer_server_config(&ca.cert_pem(), &server.cert_pem, &server.key_pem)
        .expect("peer server config")
}

fn client(ca: &ClusterCa, identity: Option<&CertifiedKey>) -> Arc<ClientConfig> {
    let identity = identity.map(|key| (key.cert_pem.as_str(), key.key_pem.as_str()));
    auth::client_config(&ca.cert_pem(), identity).expect("client config")
}

#[tokio::test]
async fn node_certificate_from_the_ca_completes_peer_handshake_and_names_the_node() {
    let ca = ClusterCa::generate("it").expect("CA");
    let outcome = handshake(
        peer_server(&ca, &node(&ca, 1)),
        client(&ca, Some(&node(&ca, 2))),
    );
    let accepted = outcome.await.completed();
    assert_eq!(accepted.node_id, Some(NodeId(2)));
    assert!(accepted.client_sent_certificate);
}

#[tokio::test]
async fn node_certificate_signed_from_a_csr_completes_peer_handshake() {
    let ca = ClusterCa::generate("it").expect("CA");
    let (key_pem, csr_pem) = auth::new_key_and_csr().expect("CSR");
    let cert_pem = ca
        .sign_node_csr(&csr_pem, NodeId(9), &[])
        .expect("sign CSR");
    let joined = CertifiedKey { cert_pem, key_pem };
    let outcome = handshake(peer_server(&ca, &node(&ca, 1)), client(&ca, Some(&joined)));
    assert_eq!(outcome.await.completed().node_id, Some(NodeId(9)));
}

#[tokio::test]
async fn peer_listener_refuses_a_client_without_certificate() {
    let ca = ClusterCa::generate("it").expect("CA");
    let outcome = handshake(peer_server(&ca, &node(&ca, 1)), client(&ca, None)).await;
    let (server, _) = outcome.refused();
    assert!(server.contains("certificate"), "{server}");
}

#[tokio::test]
async fn peer_listener_refuses_a_client_certificate_from_another_ca() {
    let ca = ClusterCa::generate("it").expect("CA");
    let other_ca = ClusterCa::generate("other").expect("other CA");
    let intruder = node(&other_ca, 2);
    let outcome = handshake(
        peer_server(&ca, &node(&ca, 1)),
        client(&ca, Some(&intruder)),
    )
    .await;
    let (server, _) = outcome.refused();
    assert!(server.contains("UnknownIssuer"), "{server}");
}

#[tokio::test]
async fn client_trusting_another_ca_refuses_the_server() {
    let ca = ClusterCa::generate("it").expect("CA");
    let other_ca = ClusterCa::generate("other").expect("other CA");
    let server = peer_server(&ca, &node(&ca, 1));
    let outcome = handshake(server, client(&other_ca, Some(&node(&other_ca, 2)))).await;
    let (_, client) = outcome.refused();
    assert!(client.contains("UnknownIssuer"), "{client}");
}

#[tokio::test]
async fn client_refuses_a_server_certificate_without_its_address() {
    let ca = ClusterCa::generate("it").expect("CA");
    let elsewhere = ca
        .issue_node(NodeId(1), &["10.9.9.9".to_owned()])
        .expect("issue");
    let outcome = handshake(
        peer_server(&ca, &elsewhere),
        client(&ca, Some(&node(&ca, 2))),
    )
    .await;
    let (_, client) = outcome.refused();
    assert!(client.contains("not valid for name"), "{client}");
}

#[tokio::test]
async fn api_listener_accepts_clients_without_certificates_and_offers_h2() {
    let ca = ClusterCa::generate("it").expect("CA");
    let server_key = node(&ca, 1);
    let server = auth::api_server_config(&server_key.cert_pem, &server_key.key_pem).expect("api");
    let mut client_config = (*client(&ca, None)).clone();
    client_config.alpn_protocols = vec![b"h2".to_vec()];
    let accepted = handshake(server, Arc::new(client_config)).await.completed();
    assert!(!accepted.client_sent_certificate);
    assert_eq!(accepted.alpn_protocol, Some(b"h2".to_vec()));
}

#[tokio::test]
async fn api_listener_with_client_ca_identifies_optional_client_certificates() {
    let ca = ClusterCa::generate("it").expect("CA");
    let server_key = node(&ca, 1);
    let server = auth::api_server_config_with_client_ca(
        &ca.cert_pem(),
        &server_key.cert_pem,
        &server_key.key_pem,
    )
    .expect("api config");
    let tool = ca.issue_client("bench").expect("client certificate");
    let accepted = handshake(server.clone(), client(&ca, Some(&tool)))
        .await
        .completed();
    assert!(accepted.client_sent_certificate);
    assert_eq!(accepted.node_id, None);
    let anonymous = handshake(server.clone(), client(&ca, None))
        .await
        .completed();
    assert!(!anonymous.client_sent_certificate);
    let other_ca = ClusterCa::generate("other").expect("other CA");
    let intruder = other_ca
        .issue_client("intruder")
        .expect("client certificate");
    handshake(server, client(&ca, Some(&intruder)))
        .await
        .refused();
}

/// The API listener as a joining node meets it: the node's chain followed by the CA.
fn api_server_with_chain(ca: &ClusterCa, server: &CertifiedKey) -> Arc<ServerConfig> {
    let chain_pem = format!("{}{}", server.cert_pem, ca.cert_pem());
    auth::api_server_config(&chain_pem, &server.key_pem).expect("api server config")
}

fn join_client(ca_fingerprint: &str) -> Arc<ClientConfig> {
    let token = auth::generate_join_token(ca_fingerprint);
    let join_token = auth::parse_join_token(&token).expect("fresh token parses");
    auth::join_client_config(&join_token).expect("join client config")
}

#[tokio::test]
async fn joining_node_trusts_the_server_whose_chain_holds_the_pinned_ca() {
    let ca = ClusterCa::generate("it").expect("CA");
    let server = api_server_with_chain(&ca, &node(&ca, 1));
    let accepted = handshake(server, join_client(&ca.fingerprint()))
        .await
        .completed();
    assert!(!accepted.client_sent_certificate);
}

#[tokio::test]
async fn joining_node_refuses_a_cluster_other_than_the_pinned_one() {
    let ca = ClusterCa::generate("it").expect("CA");
    let other_ca = ClusterCa::generate("other").expect("other CA");
    let server = api_server_with_chain(&other_ca, &node(&other_ca, 1));
    let (_, client) = handshake(server, join_client(&ca.fingerprint()))
        .await
        .refused();
    assert!(client.contains("UnknownIssuer"), "{client}");
}

#[tokio::test]
async fn joining_node_refuses_an_impostor_that_shows_the_real_ca_certificate() {
    // The CA certificate is public, so an impostor can put it in its chain; it cannot sign
    // its own certificate with the CA key, and verification against the pinned CA catches it.
    let ca = ClusterCa::generate("it").expect("CA");
    let impostor_ca = ClusterCa::generate("impostor").expect("impostor CA");
    let impostor = node(&impostor_ca, 1);
    let chain_pem = format!("{}{}", impostor.cert_pem, ca.cert_pem());
    let server = auth::api_server_config(&chain_pem, &impostor.key_pem).expect("api config");
    let (_, client) = handshake(server, join_client(&ca.fingerprint()))
        .await
        .refused();
    assert!(client.contains("invalid peer certificate"), "{client}");
}

#[tokio::test]
async fn joining_node_refuses_a_server_that_does_not_send_the_ca() {
    let ca = ClusterCa::generate("it").expect("CA");
    let server_key = node(&ca, 1);
    let server = auth::api_server_config(&server_key.cert_pem, &server_key.key_pem).expect("api");
    let (_, client) = handshake(server, join_client(&ca.fingerprint()))
        .await
        .refused();
    assert!(client.contains("UnknownIssuer"), "{client}");
}
