//! Integration tests of the built-in resource agents against real processes and real
//! OCF scripts.
//!
//! Method: each test builds an `OperationRequest` with its own temporary state
//! directory, drives one agent through start, monitor and stop, and checks both the
//! outcomes and the system afterwards (pid files, process groups, TCP ports). Tests that
//! wait for a process poll with a deadline instead of sleeping a fixed time. The OCF
//! tests need Debian's `resource-agents` package under /usr/lib/ocf and fail, saying so,
//! when it is missing. Tests that change network interfaces (`vip` in netlink mode,
//! IPaddr2) build their own network namespaces and run only with `RUN_NETNS_TESTS=1`
//! (root and iproute2 needed); without it they print that they were not run, or fail
//! under CI (`CI` set), where no test may pass without running.

mod ipaddr2;
mod netns;
mod ocf;
mod process;
mod stateful;
mod user_type;
mod vip_netlink;

use model::ResourceId;
use resource_agents::{OperationRequest, Outcome};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

fn request(resource: &str, params: &[(&str, &str)], state_dir: &Path) -> OperationRequest {
    OperationRequest {
        resource: ResourceId(resource.into()),
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        timeout: Duration::from_secs(10),
        interval: Duration::ZERO,
        state_dir: state_dir.join(resource),
        node_name: "n1".into(),
        fencing_token: 1,
        unique: false,
        depth: 0,
        env: Vec::new(),
    }
}

/// Polls `probe` until it returns `Some`, failing the test after `within`.
async fn eventually<T, F: Future<Output = Option<T>>>(
    within: Duration,
    what: &str,
    mut probe: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A TCP port that was free a moment ago.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// Whether any process is left in the group `pgid`.
fn group_exists(pgid: i32) -> bool {
    let result = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), None);
    !matches!(result, Err(nix::errno::Errno::ESRCH))
}

fn failure_reason(outcome: &Outcome) -> &str {
    match outcome {
        Outcome::Failed { reason, .. } => reason,
        other => panic!("expected a failure, got {other:?}"),
    }
}
