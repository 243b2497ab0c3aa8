//! What the cmdb asks of a node's TLS, and the expiry warnings.

use cmdb::{ClusterDb, Command, NodeCert};
use model::{NodeId, NodeInfo};

use super::{WARN_BEFORE_MS, cert_warnings, generation_of, wanted};

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

fn cluster(ca: &auth::ClusterCa) -> ClusterDb {
    let mut db = ClusterDb::default();
    db.apply(Command::InitCluster {
        name: "c".into(),
        ca_cert_pem: ca.cert_pem(),
        ca_key_pem: ca.key_pem(),
        at_ms: 1,
    });
    // A new cluster starts at the current format, which the certificate commands need.
    db.apply(Command::SetClusterFormat {
        format: cmdb::FORMAT_CURRENT,
    });
    for id in [1, 2] {
        let info = NodeInfo {
            name: format!("n{id}"),
            peer_addr: format!("127.0.0.{id}:7510"),
            api_addr: format!("127.0.0.{id}:7511"),
        };
        db.apply(Command::UpsertNode {
            id: NodeId(id),
            info,
            at_ms: 1,
        });
    }
    db
}

fn report(db: &mut ClusterDb, node: u64, trusted: Vec<String>, not_after_ms: u64) {
    let cert = NodeCert {
        fingerprint: format!("f{node}"),
        issuer: trusted[0].clone(),
        not_after_ms,
        generation: 0,
        trusted,
    };
    db.apply(Command::ReportNodeCert {
        node: NodeId(node),
        cert,
    });
}

#[test]
fn nodes_move_to_the_new_ca_only_once_every_node_trusts_it() {
    let old = auth::ClusterCa::generate("c").expect("CA");
    let new = auth::ClusterCa::generate("c").expect("CA");
    let mut db = cluster(&old);
    assert_eq!(
        wanted(&db, NodeId(1)).expect("wanted").issuer,
        old.fingerprint()
    );
    db.apply(Command::BeginCaChange {
        ca_cert_pem: new.cert_pem(),
        ca_key_pem: new.key_pem(),
        fingerprint: new.fingerprint(),
        at_ms: 2,
    });
    let both = vec![old.fingerprint(), new.fingerprint()];
    let first = wanted(&db, NodeId(1)).expect("wanted");
    assert_eq!(first.trust, both, "both trusted at once");
    assert_eq!(
        first.issuer,
        old.fingerprint(),
        "still issued by the old CA"
    );
    report(&mut db, 1, both.clone(), 0);
    assert_eq!(
        wanted(&db, NodeId(1)).expect("wanted").issuer,
        old.fingerprint()
    );
    report(&mut db, 2, both, 0);
    assert_eq!(
        wanted(&db, NodeId(1)).expect("wanted").issuer,
        new.fingerprint()
    );
}

#[test]
fn a_certificate_never_reported_counts_as_of_the_generation_asked_for() {
    let ca = auth::ClusterCa::generate("c").expect("CA");
    let mut db = cluster(&ca);
    db.apply(Command::RotateCerts {
        validity_s: None,
        at_ms: 2,
    });
    let fresh = wanted(&db, NodeId(1)).expect("wanted");
    assert_eq!(
        generation_of(&fresh, "new"),
        1,
        "just joined: nothing to renew"
    );
    report(&mut db, 1, vec![ca.fingerprint()], 0);
    let reported = wanted(&db, NodeId(1)).expect("wanted");
    assert_eq!(
        generation_of(&reported, "f1"),
        0,
        "reported before the rotation: renew"
    );
}

#[test]
fn warnings_name_the_node_the_date_and_the_command_within_thirty_days_only() {
    let ca = auth::ClusterCa::generate_valid_for("c", std::time::Duration::from_secs(40 * 86_400))
        .expect("CA");
    let mut db = cluster(&ca);
    let now = crate::clock::now_ms();
    report(
        &mut db,
        1,
        vec![ca.fingerprint()],
        now + WARN_BEFORE_MS - DAY_MS,
    );
    report(
        &mut db,
        2,
        vec![ca.fingerprint()],
        now + WARN_BEFORE_MS + DAY_MS,
    );
    let warnings = cert_warnings(&db, now);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].node, Some(1));
    assert!(
        warnings[0]
            .message
            .starts_with("the certificate of node n1 expires on 20")
    );
    assert!(
        warnings[0]
            .message
            .ends_with("(in 29 days); run `encluster cert rotate`")
    );
    // The CA lasts 40 days: warned ten days later.
    let later = cert_warnings(&db, now + 11 * DAY_MS);
    assert!(
        later
            .iter()
            .any(|w| w.subject == "CA" && w.fix == "encluster cert ca begin")
    );
}
