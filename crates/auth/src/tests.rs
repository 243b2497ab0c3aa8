//! Unit tests: certificates are inspected with x509-parser, tokens by their text.
//!
//! TLS handshakes over real sockets live in `tests/it/main.rs`.

use model::NodeId;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

use crate::*;

fn der(cert_pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(cert_pem.as_bytes()).expect("test certificate is PEM")
}

/// Parses a PEM certificate and hands it to `inspect`, which keeps borrows simple.
fn with_cert<T>(cert_pem: &str, inspect: impl FnOnce(&X509Certificate<'_>) -> T) -> T {
    let der = der(cert_pem);
    let (_, certificate) = x509_parser::parse_x509_certificate(&der).expect("valid DER");
    inspect(&certificate)
}

fn sans(list: &[&str]) -> Vec<String> {
    list.iter().map(|san| san.to_string()).collect()
}

fn general_names(certificate: &X509Certificate<'_>) -> Vec<String> {
    let san = certificate
        .subject_alternative_name()
        .expect("parsable SAN")
        .expect("SAN present");
    let describe = |name: &GeneralName<'_>| match name {
        GeneralName::URI(uri) => format!("uri {uri}"),
        GeneralName::DNSName(dns_name) => format!("dns {dns_name}"),
        GeneralName::IPAddress(bytes) => {
            let ip: std::net::IpAddr = match bytes.len() {
                4 => <[u8; 4]>::try_from(*bytes).expect("IPv4 is 4 bytes").into(),
                _ => <[u8; 16]>::try_from(*bytes)
                    .expect("IPv6 is 16 bytes")
                    .into(),
            };
            format!("ip {ip}")
        }
        other => format!("other {other}"),
    };
    san.value.general_names.iter().map(describe).collect()
}

fn common_name(certificate: &X509Certificate<'_>) -> String {
    let attribute = certificate
        .subject()
        .iter_common_name()
        .next()
        .expect("CN present");
    attribute.as_str().expect("CN is a string").to_owned()
}

fn validity_days(certificate: &X509Certificate<'_>) -> i64 {
    let validity = certificate.validity();
    (validity.not_after.timestamp() - validity.not_before.timestamp()) / 86_400
}

fn assert_signed_by(cert_pem: &str, ca: &ClusterCa) {
    with_cert(&ca.cert_pem(), |ca_certificate| {
        with_cert(cert_pem, |certificate| {
            assert_eq!(certificate.issuer(), ca_certificate.subject());
            certificate
                .verify_signature(Some(ca_certificate.public_key()))
                .expect("signature verifies with the CA key");
        })
    })
}

#[test]
fn ca_round_trip_through_pem_keeps_fingerprint_and_signs_verifiable_certs() {
    let ca = ClusterCa::generate("prod").expect("generate CA");
    let fingerprint = ca.fingerprint();
    assert_eq!(fingerprint.len(), 64);
    assert!(
        fingerprint
            .bytes()
            .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
    );
    assert_eq!(
        fingerprint_pem(&ca.cert_pem()).expect("fingerprint"),
        fingerprint
    );

    let reloaded = ClusterCa::from_pem(&ca.cert_pem(), &ca.key_pem()).expect("reload CA");
    assert_eq!(reloaded.fingerprint(), fingerprint);
    assert_eq!(reloaded.key_pem(), ca.key_pem());

    // The reloaded CA must sign with the original identity, or old nodes would reject new ones.
    let node = reloaded
        .issue_node(NodeId(3), &sans(&["10.0.0.3"]))
        .expect("issue");
    assert_signed_by(&node.cert_pem, &ca);
}

#[test]
fn ca_certificate_is_a_ten_year_ca_named_after_the_cluster() {
    let ca = ClusterCa::generate("prod").expect("generate CA");
    with_cert(&ca.cert_pem(), |certificate| {
        assert!(certificate.is_ca());
        assert_eq!(common_name(certificate), "encluster CA prod");
        assert!((3650..=3652).contains(&validity_days(certificate)));
    });
}

#[test]
fn two_generated_cas_differ() {
    let first = ClusterCa::generate("a").expect("generate CA");
    let second = ClusterCa::generate("a").expect("generate CA");
    assert_ne!(first.fingerprint(), second.fingerprint());
}

#[test]
fn ca_with_a_foreign_key_is_refused() {
    let ca = ClusterCa::generate("a").expect("generate CA");
    let other = ClusterCa::generate("b").expect("generate CA");
    let error = ClusterCa::from_pem(&ca.cert_pem(), &other.key_pem()).expect_err("mismatch");
    assert!(matches!(error, AuthError::CaKeyMismatch), "{error}");
}

#[test]
fn node_certificate_given_as_ca_is_refused() {
    let ca = ClusterCa::generate("a").expect("generate CA");
    let node = ca.issue_node(NodeId(1), &[]).expect("issue");
    let error = ClusterCa::from_pem(&node.cert_pem, &node.key_pem).expect_err("not a CA");
    assert!(matches!(error, AuthError::NotACa), "{error}");
}

#[test]
fn garbage_ca_pem_is_refused_without_echoing_the_key() {
    let error = ClusterCa::from_pem("not pem", "secret-key-material").expect_err("garbage");
    assert!(matches!(error, AuthError::InvalidPem { .. }), "{error}");
    let ca = ClusterCa::generate("a").expect("generate CA");
    let error = ClusterCa::from_pem(&ca.cert_pem(), "secret-key-material").expect_err("bad key");
    assert!(
        !error.to_string().contains("secret-key-material"),
        "{error}"
    );
}

#[test]
fn issued_node_certificate_carries_identity_sans_and_both_usages() {
    let ca = ClusterCa::generate("a").expect("generate CA");
    let node = ca
        .issue_node(NodeId(42), &sans(&["10.1.2.3", "::1", "node42.lan"]))
        .expect("issue");
    assert_signed_by(&node.cert_pem, &ca);
    assert_eq!(
        node_id_from_cert_der(&der(&node.cert_pem)),
        Some(NodeId(42))
    );
    with_cert(&node.cert_pem, |certificate| {
        assert_eq!(common_name(certificate), "encluster-node-42");
        let names = general_names(certificate);
        let names_expected = [
            "uri encluster://node/42",
            "ip 10.1.2.3",
            "ip ::1",
            "dns node42.lan",
        ];
        assert_eq!(names, names_expected);
        let usage = certificate
            .extended_key_usage()
            .expect("EKU parses")
            .expect("EKU present");
        assert!(usage.value.server_auth);
        assert!(usage.value.client_auth);
        assert!(!certificate.is_ca());
        assert!((1824..=1826).contains(&validity_days(certificate)));
    });
}

#[test]
fn csr_signing_keeps_the_node_key_and_ignores_the_csr_identity() {
    let ca = ClusterCa::generate("a").expect("generate CA");
    let (key_pem, csr_pem) = new_key_and_csr().expect("csr");
    let cert_pem = ca
        .sign_node_csr(&csr_pem, NodeId(7), &sans(&["127.0.0.1"]))
        .expect("sign");
    assert_signed_by(&cert_pem, &ca);
    assert_eq!(node_id_from_cert_der(&der(&cert_pem)), Some(NodeId(7)));
    let key_pair = rcgen::KeyPair::from_pem(&key_pem).expect("key parses");
    with_cert(&cert_pem, |certificate| {
        let public_key = certificate.public_key().subject_public_key.data.as_ref();
        assert_eq!(public_key, key_pair.public_key_raw());
        assert_eq!(common_name(certificate), "encluster-node-7");
    });
}

#[test]
fn corrupt_csr_is_refused() {
    let ca = ClusterCa::generate("a").expect("generate CA");
    let (_, csr_pem) = new_key_and_csr().expect("csr");
    // Flipping a base64 character in the body breaks the CSR's self-signature or encoding.
    let position = csr_pem.len() / 2;
    let mut corrupt = csr_pem.into_bytes();
    corrupt[position] = if corrupt[position] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let corrupt = String::from_utf8(corrupt).expect("still ASCII");
    let error = ca
        .sign_node_csr(&corrupt, NodeId(1), &[])
        .expect_err("corrupt");
    assert!(matches!(error, AuthError::InvalidCsr { .. }), "{error}");
    let error = ca
        .sign_node_csr("nonsense", NodeId(1), &[])
        .expect_err("nonsense");
    assert!(error.to_string().contains("new_key_and_csr"), "{error}");
}

#[test]
fn bad_and_too_many_sans_are_refused() {
    let ca = ClusterCa::generate("a").expect("generate CA");
    for bad in ["", "has space", "ünicode.example", "a/b"] {
        let error = ca.issue_node(NodeId(1), &sans(&[bad])).expect_err(bad);
        assert!(
            matches!(error, AuthError::InvalidSan { .. }),
            "{bad:?}: {error}"
        );
    }
    let many: Vec<String> = (0..65).map(|index| format!("n{index}.lan")).collect();
    let error = ca.issue_node(NodeId(1), &many).expect_err("too many");
    assert!(
        matches!(error, AuthError::TooManySans { count: 65, max: 64 }),
        "{error}"
    );
}

#[test]
fn client_certificate_is_client_auth_only_and_names_no_node() {
    let ca = ClusterCa::generate("a").expect("generate CA");
    let client = ca.issue_client("bench").expect("issue client");
    assert_signed_by(&client.cert_pem, &ca);
    assert_eq!(node_id_from_cert_der(&der(&client.cert_pem)), None);
    with_cert(&client.cert_pem, |certificate| {
        assert_eq!(common_name(certificate), "encluster-client bench");
        let usage = certificate
            .extended_key_usage()
            .expect("EKU parses")
            .expect("EKU present");
        assert!(usage.value.client_auth);
        assert!(!usage.value.server_auth);
    });
    let error = ca.issue_client("bad\nname").expect_err("control character");
    assert!(
        matches!(error, AuthError::InvalidClientName { .. }),
        "{error}"
    );
}

#[test]
fn node_id_is_not_read_from_ca_or_garbage() {
    let ca = ClusterCa::generate("a").expect("generate CA");
    assert_eq!(node_id_from_cert_der(&der(&ca.cert_pem())), None);
    assert_eq!(node_id_from_cert_der(b"garbage"), None);
}

#[test]
fn debug_output_hides_private_keys() {
    let ca = ClusterCa::generate("a").expect("generate CA");
    let node = ca.issue_node(NodeId(1), &[]).expect("issue");
    assert!(!format!("{ca:?}").contains("PRIVATE KEY"));
    assert!(format!("{ca:?}").contains(&ca.fingerprint()));
    assert!(!format!("{node:?}").contains("PRIVATE KEY"));
}

#[test]
fn api_token_has_prefix_and_fresh_secret() {
    let first = generate_api_token();
    let second = generate_api_token();
    let secret = first.strip_prefix("enc_api_").expect("prefix");
    assert_eq!(secret.len(), 64);
    assert!(secret.bytes().all(|byte| byte.is_ascii_hexdigit()));
    assert_ne!(first, second);
}

#[test]
fn token_matches_its_hash_and_nothing_else() {
    let token = generate_api_token();
    let hash = token_hash(&token);
    assert_eq!(hash.len(), 64);
    assert_ne!(hash, token);
    assert!(token_matches(&token, &hash));
    assert!(!token_matches(&generate_api_token(), &hash));
    assert!(!token_matches(&token, &hash[..63]));
    assert!(!token_matches(&token, ""));
    // A stored hash must never work as a token itself.
    assert!(!token_matches(&hash, &hash));
}

#[test]
fn token_hash_is_sha256_hex() {
    assert_eq!(
        token_hash("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn join_token_pins_the_ca_and_parses_back() {
    let ca = ClusterCa::generate("a").expect("generate CA");
    let other = ClusterCa::generate("b").expect("generate CA");
    let token = generate_join_token(&ca.fingerprint());
    let parsed = parse_join_token(&format!("  {token}\n")).expect("parses");
    assert_eq!(parsed.ca_fingerprint_prefix, ca.fingerprint()[..16]);
    assert_eq!(parsed.secret.len(), 64);
    assert!(parsed.pins_ca(&ca.fingerprint()));
    assert!(!parsed.pins_ca(&other.fingerprint()));
    assert!(!parsed.pins_ca(&ca.fingerprint()[..16]));
    assert!(!format!("{parsed:?}").contains(&parsed.secret));
    assert_ne!(generate_join_token(&ca.fingerprint()), token);
}

fn check_malformed(token: &str, reason_expected: &str) {
    let error = parse_join_token(token).expect_err("malformed token must not parse");
    let message = error.to_string();
    assert!(message.contains(reason_expected), "{token:?}: {message}");
    assert!(
        message.contains("copy it again from `encluster init`"),
        "{message}"
    );
}

#[test]
fn malformed_join_tokens_give_clear_errors() {
    let fingerprint = "0123456789abcdef";
    let secret = "ab".repeat(32);
    check_malformed("", "does not start with enc_join_");
    check_malformed(&generate_api_token(), "this is an API token");
    check_malformed(&format!("enc_join_{fingerprint}{secret}"), "separator");
    check_malformed(&format!("enc_join_0123_{secret}"), "CA fingerprint part");
    check_malformed(
        &format!("enc_join_0123456789ABCDEF_{secret}"),
        "CA fingerprint part",
    );
    check_malformed(
        &format!("enc_join_{fingerprint}_{}", &secret[..62]),
        "secret part",
    );
    check_malformed(&format!("enc_join_{fingerprint}_{secret}_x"), "secret part");
    check_malformed(
        &format!("enc_join_{fingerprint}_{}zz", &secret[..62]),
        "secret part",
    );
}

#[test]
fn join_client_config_refuses_a_hand_built_token_with_a_short_pin() {
    let join_token = JoinToken {
        ca_fingerprint_prefix: "ab".to_owned(),
        secret: "00".repeat(32),
    };
    let error = join_client_config(&join_token).expect_err("short pin");
    assert!(
        matches!(error, AuthError::MalformedJoinToken { .. }),
        "{error}"
    );
}

// Passwords and login sessions (issue 14).

#[test]
fn a_password_verifies_against_its_argon2id_hash_and_no_other() {
    let hash = crate::hash_password("correct horse");
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(crate::is_password_hash(&hash));
    assert!(!hash.contains("correct horse"));
    assert!(crate::verify_password("correct horse", &hash));
    assert!(!crate::verify_password("correct horsf", &hash));
    assert!(!crate::verify_password("correct horse", "not a hash"));
    assert!(!crate::is_password_hash("$2b$12$bcryptlooking"));
    // A fresh salt every time: two hashes of one password differ.
    assert_ne!(hash, crate::hash_password("correct horse"));
}

#[test]
fn a_new_password_is_refused_when_short_long_or_padded() {
    let check = |password: &str, expected: Option<&str>| {
        let found = crate::check_new_password(password)
            .err()
            .map(|e| e.to_string());
        assert_eq!(found.as_deref(), expected, "{password:?}");
    };
    check("eight ch", None);
    check(
        "seven c",
        Some("password is too short: use 8 to 1024 bytes (a passphrase of a few words is best)"),
    );
    check(
        &"x".repeat(1025),
        Some("password is too long: use 8 to 1024 bytes (a passphrase of a few words is best)"),
    );
    check(
        "password\n",
        Some(
            "password starts or ends with white space (often a stray newline): \
             use 8 to 1024 bytes (a passphrase of a few words is best)",
        ),
    );
}

#[test]
fn the_csrf_token_belongs_to_its_login_secret_only() {
    let secret = crate::generate_login_secret();
    assert!(crate::is_login_secret(&secret));
    assert!(!crate::is_login_secret(&secret[1..]));
    assert!(!crate::is_login_secret(&secret.to_uppercase()));
    let csrf = crate::csrf_token(&secret);
    assert!(crate::csrf_matches(&secret, &csrf));
    assert!(!crate::csrf_matches(&crate::generate_login_secret(), &csrf));
    assert!(!crate::csrf_matches(&secret, ""));
    // The cmdb stores the secret's hash; the CSRF token is not that hash.
    assert_ne!(csrf, crate::token_hash(&secret));
}

// --- rotate ---

fn material(trust: &[&ClusterCa], node: &CertifiedKey) -> TlsMaterial {
    TlsMaterial {
        trust_pem: trust.iter().map(|ca| ca.cert_pem()).collect::<String>(),
        cert_pem: node.cert_pem.clone(),
        key_pem: node.key_pem.clone(),
    }
}

fn now() -> rustls_pki_types::UnixTime {
    rustls_pki_types::UnixTime::now()
}

/// A mutual-TLS handshake over an in-memory pipe, as the peer channel does one; answers the
/// fingerprint of the certificate the server presented.
async fn handshake(
    server: &Arc<ReloadableTls>,
    client: &Arc<ReloadableTls>,
) -> Result<String, String> {
    let (near, far) = tokio::io::duplex(64 * 1024);
    let acceptor =
        tokio_rustls::TlsAcceptor::from(server.peer_server_config().expect("server config"));
    let connector =
        tokio_rustls::TlsConnector::from(client.client_config(true).expect("client config"));
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("a DNS name");
    let (accepted, connected) = tokio::join!(acceptor.accept(far), connector.connect(name, near));
    let connected = connected.map_err(|error| error.to_string())?;
    accepted.map_err(|error| error.to_string())?;
    let presented = connected
        .get_ref()
        .1
        .peer_certificates()
        .expect("a server certificate")[0]
        .clone();
    Ok(crate::ca::fingerprint_der(&presented))
}

use std::sync::Arc;

#[tokio::test]
async fn a_reloaded_certificate_is_presented_on_the_next_handshake() {
    let ca = ClusterCa::generate("c").expect("works");
    let one = ca
        .issue_node(NodeId(1), &sans(&["localhost"]))
        .expect("works");
    let two = ca
        .issue_node(NodeId(2), &sans(&["localhost"]))
        .expect("works");
    let server = ReloadableTls::new(&material(&[&ca], &one), now()).expect("works");
    let client = ReloadableTls::new(&material(&[&ca], &two), now()).expect("works");
    assert_eq!(
        handshake(&server, &client).await.expect("works"),
        fingerprint_pem(&one.cert_pem).expect("works")
    );
    let renewed = ca
        .issue_node(NodeId(1), &sans(&["localhost"]))
        .expect("works");
    server
        .reload(&material(&[&ca], &renewed), now())
        .expect("works");
    assert_eq!(
        handshake(&server, &client).await.expect("works"),
        fingerprint_pem(&renewed.cert_pem).expect("works")
    );
}

#[tokio::test]
async fn during_a_ca_change_old_and_new_certificates_talk_and_after_it_the_old_is_refused() {
    let old = ClusterCa::generate("c").expect("works");
    let new = ClusterCa::generate("c").expect("works");
    let on_old = old
        .issue_node(NodeId(1), &sans(&["localhost"]))
        .expect("works");
    let on_new = new
        .issue_node(NodeId(2), &sans(&["localhost"]))
        .expect("works");
    let server = ReloadableTls::new(&material(&[&old, &new], &on_old), now()).expect("works");
    let client = ReloadableTls::new(&material(&[&old, &new], &on_new), now()).expect("works");
    handshake(&server, &client).await.expect("works");
    handshake(&client, &server).await.expect("works");
    // The change finished on the server's side: only the new CA is trusted there.
    let server_new = new
        .issue_node(NodeId(1), &sans(&["localhost"]))
        .expect("works");
    server
        .reload(&material(&[&new], &server_new), now())
        .expect("works");
    handshake(&server, &client).await.expect("works");
    let stale = ReloadableTls::new(&material(&[&old], &on_old), now()).expect("works");
    assert!(
        handshake(&server, &stale).await.is_err(),
        "an old-CA certificate is refused"
    );
}

#[test]
fn a_reload_with_a_certificate_of_an_untrusted_ca_or_a_foreign_key_changes_nothing() {
    let ca = ClusterCa::generate("c").expect("works");
    let other = ClusterCa::generate("c").expect("works");
    let mine = ca
        .issue_node(NodeId(1), &sans(&["localhost"]))
        .expect("works");
    let tls = ReloadableTls::new(&material(&[&ca], &mine), now()).expect("works");
    let foreign = other
        .issue_node(NodeId(1), &sans(&["localhost"]))
        .expect("works");
    let error = tls
        .reload(&material(&[&ca], &foreign), now())
        .expect_err("refused");
    assert!(
        error.to_string().contains("not from a trusted CA"),
        "{error}"
    );
    let mismatched = TlsMaterial {
        key_pem: foreign.key_pem.clone(),
        ..material(&[&ca], &mine)
    };
    assert!(tls.reload(&mismatched, now()).is_err());
    assert!(tls.material() == material(&[&ca], &mine), "nothing changed");
}

#[test]
fn certificates_carry_the_validity_asked_for() {
    let ca = ClusterCa::generate_valid_for("c", std::time::Duration::from_secs(20 * 86_400))
        .expect("works");
    let (_, ca_not_after) = cert_validity(&ca.cert_pem()).expect("works");
    let node = ca
        .issue_node_valid_for(
            NodeId(1),
            &sans(&["localhost"]),
            std::time::Duration::from_secs(86_400),
        )
        .expect("works");
    let (not_before, not_after) = cert_validity(&node.cert_pem).expect("works");
    assert_eq!(
        not_after - not_before,
        86_400 + 3_600,
        "a day, plus the hour backdated"
    );
    assert!(ca_not_after > not_after);
    let bundle = format!("{}{}", ca.cert_pem(), node.cert_pem);
    assert_eq!(
        bundle_fingerprints(&bundle).expect("works"),
        vec![
            ca.fingerprint(),
            fingerprint_pem(&node.cert_pem).expect("works")
        ]
    );
}
