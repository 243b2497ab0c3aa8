//! The witness over real TLS, in one process: the first claim of an epoch wins and the
//! other node is refused, a restarted witness keeps the grant it stored, and a node with a
//! certificate from another cluster's CA is refused at the handshake.

use std::path::Path;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::claim::{ClaimSetup, claim};
use super::server::{Witness, serve};
use super::{ClaimRequest, issue_bundle};

struct Cluster {
    meta: cmdb::ClusterMeta,
    ca: auth::ClusterCa,
}

fn cluster(name: &str) -> Cluster {
    let ca = auth::ClusterCa::generate(name).expect("a CA");
    Cluster {
        meta: cmdb::ClusterMeta {
            name: name.to_owned(),
            ca_cert_pem: ca.cert_pem(),
            ca_key_pem: ca.key_pem(),
            created_at_ms: 0,
        },
        ca,
    }
}

/// What node `me` of `cluster` needs to claim at `address`.
fn node(cluster: &Cluster, me: u64, address: &str) -> ClaimSetup {
    let issued = cluster
        .ca
        .issue_node(model::NodeId(me), &[])
        .expect("a node cert");
    let tls = auth::client_config(
        &cluster.ca.cert_pem(),
        Some((&issued.cert_pem, &issued.key_pem)),
    )
    .expect("a client config");
    ClaimSetup {
        me,
        address: address.to_owned(),
        server_name: super::server_name(&cluster.ca.fingerprint()),
        tls,
        master_wait: Duration::ZERO,
        follower_wait: Duration::ZERO,
        data_dir: std::env::temp_dir(),
    }
}

/// Starts a witness on `dir`; its address and the token that stops it.
async fn start(dir: &Path) -> (String, CancellationToken) {
    let witness = Witness::load(dir).expect("load the witness");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listen");
    let address = listener.local_addr().expect("address").to_string();
    let shutdown = CancellationToken::new();
    tokio::spawn(serve(witness, listener, shutdown.clone()));
    (address, shutdown)
}

fn bundle_into(dir: &Path, cluster: &Cluster) {
    let bundle = issue_bundle(&cluster.meta).expect("a bundle");
    let text = serde_json::to_string(&bundle).expect("json");
    std::fs::write(dir.join(format!("{}.json", cluster.meta.name)), text).expect("write");
}

const EPOCH: ClaimRequest = ClaimRequest { epoch: (4, 1, 17) };

#[tokio::test]
async fn one_node_holds_an_epoch_across_a_restart_and_the_other_is_refused() {
    let dir = tempfile::tempdir().expect("a directory");
    let ours = cluster("ours");
    bundle_into(dir.path(), &ours);
    let (address, shutdown) = start(dir.path()).await;
    let (one, two) = (node(&ours, 1, &address), node(&ours, 2, &address));
    let first = claim(&two, EPOCH).await.expect("an answer");
    assert!(first.granted, "{first:?}");
    let second = claim(&one, EPOCH).await.expect("an answer");
    assert!(!second.granted, "{second:?}");
    assert_eq!((second.node, second.epoch), (2, EPOCH.epoch));
    shutdown.cancel();

    let (address, _shutdown) = start(dir.path()).await;
    let (one, two) = (node(&ours, 1, &address), node(&ours, 2, &address));
    let after = claim(&one, EPOCH).await.expect("an answer");
    assert!(
        !after.granted,
        "a restarted witness granted the epoch again: {after:?}"
    );
    assert!(claim(&two, EPOCH).await.expect("an answer").granted);
    let newer = ClaimRequest { epoch: (6, 2, 30) };
    assert!(
        claim(&one, newer).await.expect("an answer").granted,
        "a newer two-voter membership is a new epoch"
    );
}

#[tokio::test]
async fn a_node_of_another_cluster_is_refused_even_naming_this_one() {
    let dir = tempfile::tempdir().expect("a directory");
    let (ours, theirs) = (cluster("ours"), cluster("theirs"));
    bundle_into(dir.path(), &ours);
    let (address, _shutdown) = start(dir.path()).await;
    // Their node, asking for our cluster by name and trusting our CA: its certificate is
    // from another CA, and the handshake fails.
    let mut stranger = node(&theirs, 1, &address);
    stranger.server_name = super::server_name(&ours.ca.fingerprint());
    stranger.tls = {
        let issued = theirs.ca.issue_node(model::NodeId(1), &[]).expect("cert");
        auth::client_config(
            &ours.ca.cert_pem(),
            Some((&issued.cert_pem, &issued.key_pem)),
        )
        .expect("config")
    };
    let refused = claim(&stranger, EPOCH).await;
    assert!(refused.is_err(), "{refused:?}");
    // Their node under its own cluster's name: not served here.
    let unknown = claim(&node(&theirs, 1, &address), EPOCH).await;
    assert!(unknown.is_err(), "{unknown:?}");
    // Nothing was granted: our node gets the epoch.
    let ours_node = node(&ours, 1, &address);
    assert!(claim(&ours_node, EPOCH).await.expect("an answer").granted);
    assert!(
        !dir.path()
            .join(format!("{}.grant", theirs.ca.fingerprint()))
            .exists()
    );
}
