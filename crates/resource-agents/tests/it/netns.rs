//! Network namespaces for tests that change addresses and send frames: each test builds
//! its own pair of namespaces joined by a veth pair, runs code inside them on dedicated
//! threads, and deletes them when it ends, also when it panics.
//!
//! These tests need root and `ip` from iproute2, so they run only when
//! `RUN_NETNS_TESTS=1` (the test command sets it under CI); otherwise each test prints
//! that it was not run and returns, except under CI (`CI` set), where a test that cannot
//! run fails: it must never pass without running. Addresses are taken from 198.18.0.0/15 and
//! 2001:2::/48, the ranges reserved for benchmarking, and never leave the namespaces.

use std::future::Future;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The MAC address of the host side of the veth pair.
pub(crate) const HOST_MAC: &str = "02:00:5e:00:00:01";
/// The MAC address of the peer side.
pub(crate) const PEER_MAC: &str = "02:00:5e:00:00:02";
/// The host side's interface, in the host namespace.
pub(crate) const HOST_NIC: &str = "vip0";
/// The peer side's interface, in the peer namespace.
pub(crate) const PEER_NIC: &str = "peer0";

/// Whether namespace tests should run; says so on stderr when they should not. Under CI
/// (`CI` set to anything) a test that would not run fails instead.
pub(crate) fn netns_tests_enabled(test: &str) -> bool {
    if std::env::var_os("RUN_NETNS_TESTS").is_some_and(|value| value == "1") {
        return true;
    }
    let reason =
        format!("{test}: not run; set RUN_NETNS_TESTS=1 to run it (as root, with iproute2)");
    assert!(
        std::env::var_os("CI").is_none_or(|value| value.is_empty()),
        "{reason}: under CI a test must run, never pass without running"
    );
    eprintln!("{reason}");
    false
}

/// One network namespace, deleted on drop.
pub(crate) struct Netns {
    name: String,
}

impl Netns {
    /// A new namespace with a unique name and its loopback interface up.
    pub(crate) fn new(role: &str) -> Netns {
        static SEQUENCE: AtomicU32 = AtomicU32::new(0);
        let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let name = format!("enc-vip-{}-{sequence}-{role}", std::process::id());
        run_ip(&["netns", "add", &name]);
        let netns = Netns { name };
        netns.ip(&["link", "set", "lo", "up"]);
        netns
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n <namespace> args...`, failing the test if it fails; returns stdout.
    pub(crate) fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        run_ip(&all)
    }

    /// [`Netns::ip`] with the arguments written as one line of words.
    pub(crate) fn ip_words(&self, words: &str) -> String {
        self.ip(&words.split_whitespace().collect::<Vec<_>>())
    }

    /// Moves the calling thread into this namespace. Only for threads that run nothing
    /// else afterwards: a runtime's worker thread would carry the namespace to other work.
    pub(crate) fn enter(&self) {
        let path = format!("/run/netns/{}", self.name);
        let file = std::fs::File::open(&path).expect("open the namespace file");
        nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
    }

    /// Runs `body` to completion on a new thread inside this namespace, with its own
    /// current-thread tokio runtime, so that every socket it opens lives there.
    pub(crate) fn run<T, F>(&self, body: impl FnOnce() -> F + Send) -> T
    where
        F: Future<Output = T>,
        T: Send,
    {
        std::thread::scope(|scope| {
            let thread = scope.spawn(|| {
                self.enter();
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("build a runtime");
                runtime.block_on(body())
            });
            thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace also deletes the veth pair in it.
        let status = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        if !status.is_ok_and(|status| status.success()) {
            eprintln!("could not delete network namespace {}", self.name);
        }
    }
}

/// Two namespaces, `host` and `peer`, joined by a veth pair (`vip0` and `peer0`) with
/// fixed MAC addresses, 198.18.0.1/24 on the host side and 198.18.0.2/24 on the peer.
pub(crate) struct Link {
    pub(crate) host: Netns,
    pub(crate) peer: Netns,
}

impl Link {
    pub(crate) fn new() -> Link {
        let host = Netns::new("h");
        let peer = Netns::new("p");
        run_ip(&[
            "link",
            "add",
            HOST_NIC,
            "netns",
            host.name(),
            "address",
            HOST_MAC,
            "type",
            "veth",
            "peer",
            "name",
            PEER_NIC,
            "netns",
            peer.name(),
            "address",
            PEER_MAC,
        ]);
        host.ip(&["addr", "add", "198.18.0.1/24", "dev", HOST_NIC]);
        peer.ip(&["addr", "add", "198.18.0.2/24", "dev", PEER_NIC]);
        host.ip(&["link", "set", HOST_NIC, "up"]);
        peer.ip(&["link", "set", PEER_NIC, "up"]);
        Link { host, peer }
    }
}

impl Link {
    /// Makes the peer believe that `ip` lives at a former holder's MAC address, as a
    /// neighbour on the link would after the previous holder's announcements.
    pub(crate) fn seed_stale_peer_neighbour(&self, ip: &str) {
        let former = "02:00:5e:00:00:99";
        self.peer.ip(&[
            "neigh", "add", ip, "lladdr", former, "dev", PEER_NIC, "nud", "stale",
        ]);
    }

    /// Waits until the peer's neighbour entry for `ip` names the host's MAC address.
    pub(crate) fn wait_until_peer_learns(&self, ip: &str) {
        poll(
            Duration::from_secs(2),
            "the peer to learn the new MAC",
            || {
                let neighbour = self.peer.ip(&["neigh", "show", ip, "dev", PEER_NIC]);
                neighbour.contains(HOST_MAC).then_some(())
            },
        );
    }
}

/// Polls `probe` until it returns `Some`, failing the test after `within`.
pub(crate) fn poll<T>(within: Duration, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn run_ip(args: &[&str]) -> String {
    let output = Command::new("ip")
        .args(args)
        .output()
        .expect("run ip from iproute2");
    assert!(
        output.status.success(),
        "ip {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("ip prints UTF-8")
}
