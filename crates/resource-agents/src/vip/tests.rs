//! Unit tests of the `vip` agent in loopback mode, on claim files in a temporary
//! directory: ownership, idempotence, takeover by a newer fencing token, and refusals.

use super::VipAgent;
use crate::operation::{OperationRequest, Outcome, ResourceAgent, Severity};
use model::ResourceId;
use std::path::Path;
use std::time::Duration;

fn request(claim_dir: &Path, ip: &str, node: &str, token: u64) -> OperationRequest {
    let params = [
        ("ip", ip),
        ("claim_dir", claim_dir.to_str().expect("utf-8 temp dir")),
    ];
    OperationRequest {
        resource: ResourceId("web-vip".into()),
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        timeout: Duration::from_secs(5),
        interval: Duration::ZERO,
        state_dir: claim_dir.join("state"),
        node_name: node.into(),
        fencing_token: token,
        unique: true,
        depth: 0,
        env: Vec::new(),
    }
}

fn severity(outcome: &Outcome) -> Option<Severity> {
    match outcome {
        Outcome::Failed { severity, .. } => Some(*severity),
        _ => None,
    }
}

#[tokio::test]
async fn loopback_vip_is_claimed_monitored_and_released() {
    let dir = tempfile::tempdir().expect("temp dir");
    let n1 = request(dir.path(), "127.0.0.42", "n1", 1);
    assert_eq!(VipAgent.monitor(&n1).await, Outcome::NotRunning);
    assert_eq!(VipAgent.start(&n1).await, Outcome::Ok);
    assert_eq!(
        VipAgent.start(&n1).await,
        Outcome::Ok,
        "start is idempotent"
    );
    assert_eq!(VipAgent.monitor(&n1).await, Outcome::Ok);
    assert_eq!(VipAgent.stop(&n1).await, Outcome::Ok);
    assert_eq!(VipAgent.monitor(&n1).await, Outcome::NotRunning);
    assert_eq!(VipAgent.stop(&n1).await, Outcome::Ok, "stop is idempotent");
}

#[tokio::test]
async fn second_claim_with_an_older_token_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let n1 = request(dir.path(), "127.0.0.43", "n1", 5);
    let n2 = request(dir.path(), "127.0.0.43", "n2", 5);
    assert_eq!(VipAgent.start(&n1).await, Outcome::Ok);
    let refused = VipAgent.start(&n2).await;
    assert_eq!(
        refused,
        Outcome::failed(
            Severity::Hard,
            "127.0.0.43 is already claimed by resource web-vip on node n1 (fencing token 5)"
        )
    );
    assert_eq!(
        VipAgent.stop(&n2).await,
        Outcome::Ok,
        "stopping leaves n1's claim alone"
    );
    assert_eq!(VipAgent.monitor(&n1).await, Outcome::Ok);
}

#[tokio::test]
async fn newer_token_takes_the_claim_over_and_the_old_holder_sees_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let n1 = request(dir.path(), "127.0.0.44", "n1", 5);
    let n2 = request(dir.path(), "127.0.0.44", "n2", 6);
    assert_eq!(VipAgent.start(&n1).await, Outcome::Ok);
    assert_eq!(VipAgent.start(&n2).await, Outcome::Ok);
    assert_eq!(
        VipAgent.monitor(&n1).await,
        Outcome::failed(
            Severity::Soft,
            "127.0.0.44 is no longer ours: it is now claimed by resource web-vip on node n2 \
             (fencing token 6)"
        )
    );
    assert_eq!(VipAgent.stop(&n1).await, Outcome::Ok);
    assert_eq!(
        VipAgent.monitor(&n2).await,
        Outcome::Ok,
        "n1's stop must not drop n2's claim"
    );
}

#[tokio::test]
async fn non_loopback_address_is_a_fatal_configuration_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let outcome = VipAgent
        .start(&request(dir.path(), "10.1.2.3", "n1", 1))
        .await;
    assert_eq!(severity(&outcome), Some(Severity::Fatal), "{outcome}");
}

#[tokio::test]
async fn netlink_mode_validates_ipaddr2_parameters_without_touching_the_network() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut netlink = request(dir.path(), "198.18.0.45", "n1", 1);
    netlink.params.insert("mode".into(), "netlink".into());
    netlink.params.insert("nic".into(), "eth0".into());
    netlink.params.insert("cidr_netmask".into(), "24".into());
    assert_eq!(VipAgent.validate(&netlink).await, Outcome::Ok);
    netlink
        .params
        .insert("iflabel".into(), "much-too-long".into());
    assert_eq!(
        VipAgent.start(&netlink).await,
        Outcome::failed(
            Severity::Fatal,
            "iflabel: the label \"eth0:much-too-long\" is longer than 15 characters"
        )
    );
}

#[tokio::test]
async fn invalid_parameters_are_rejected_with_every_problem() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut bad = request(dir.path(), "300.0.0.1", "n1", 1);
    bad.params.insert("mdoe".into(), "loopback".into());
    let outcome = VipAgent.validate(&bad).await;
    let Outcome::Failed { reason, severity } = outcome else {
        panic!("expected a failure")
    };
    assert_eq!(severity, Severity::Fatal);
    assert!(
        reason.contains("ip: \"300.0.0.1\" is not an IP address"),
        "{reason}"
    );
    assert!(
        reason.contains("mdoe: unknown parameter (did you mean mode?)"),
        "{reason}"
    );
}
