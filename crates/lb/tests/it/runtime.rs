//! Runtime changes: draining, removal, re-weighting and algorithm changes while traffic flows,
//! without restarting the listener and without dropping an in-flight request.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use lb::{Algorithm, LbConfig, Protocol, ServerState, ServiceConfig};

use crate::support::{Backend, Client, eventually, fetch, server_snapshot, service, start};

#[tokio::test]
async fn draining_server_finishes_in_flight_requests_and_takes_no_new_ones() {
    for protocol in [Protocol::Http, Protocol::Tcp] {
        let a = Backend::start("a").await;
        let b = Backend::start("b").await;
        let mut config = service(protocol, Algorithm::RoundRobin, vec![a.config(1)]);
        let (mut director, addr) = start(config.clone()).await;
        let mut kept = Client::connect(addr).await.expect("connect");
        kept.get("/name", "").await.expect("first request on a");
        let in_flight = tokio::spawn(fetch(addr, "/slow/600"));
        // HTTP mode counts requests in flight, TCP mode connections.
        let expected_active = if protocol == Protocol::Tcp { 2 } else { 1 };
        let started = eventually(Duration::from_secs(2), || async {
            server_snapshot(&director, "a").connections_active >= expected_active
        });
        assert!(started.await, "{protocol:?}");

        let mut draining = a.config(1);
        draining.state = ServerState::Draining;
        config.servers = vec![draining, b.config(1)];
        director
            .apply(&LbConfig {
                services: vec![config],
            })
            .await
            .expect("applies");
        assert_eq!(director.local_addr("web"), Some(addr), "listener kept");
        for _ in 0..10 {
            assert_eq!(
                fetch(addr, "/name").await.expect("served").1,
                "b",
                "{protocol:?}"
            );
        }
        assert!(!server_snapshot(&director, "a").drained);
        let (status, name) = in_flight.await.expect("joined").expect("in-flight request");
        assert_eq!((status, name.as_str()), (200, "a"));
        if protocol == Protocol::Tcp {
            // An established TCP connection to a draining server keeps working.
            let (_, name) = kept.get("/name", "").await.expect("kept connection works");
            assert_eq!(name, b"a");
        }
        drop(kept);
        let drained = eventually(Duration::from_secs(5), || async {
            server_snapshot(&director, "a").drained
        });
        assert!(drained.await, "{protocol:?}");
        director.shutdown().await;
    }
}

/// Clients loop over fresh connections, each a slow request, counting failures.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(addr: std::net::SocketAddr, clients: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let tasks = (0..clients)
            .map(|_| {
                let (stop, ok, failed) = (Arc::clone(&stop), Arc::clone(&ok), Arc::clone(&failed));
                tokio::spawn(async move {
                    while !stop.load(Ordering::SeqCst) {
                        match fetch(addr, "/slow/30").await {
                            Ok((200, _)) => ok.fetch_add(1, Ordering::SeqCst),
                            _ => failed.fetch_add(1, Ordering::SeqCst),
                        };
                    }
                })
            })
            .collect();
        Load {
            stop,
            ok,
            failed,
            tasks,
        }
    }

    async fn finish(self) -> (u64, u64) {
        self.stop.store(true, Ordering::SeqCst);
        for task in self.tasks {
            task.await.expect("load task");
        }
        (
            self.ok.load(Ordering::SeqCst),
            self.failed.load(Ordering::SeqCst),
        )
    }
}

/// The sequence of snapshots applied under load: each step changes one thing.
fn steps(base: &ServiceConfig, backends: &[Backend]) -> Vec<ServiceConfig> {
    let mut steps = Vec::new();
    let mut config = base.clone();
    config.servers[0].weight = 5;
    steps.push(config.clone());
    config.servers.push(backends[2].config(2));
    steps.push(config.clone());
    config.algorithm = Algorithm::LeastConnections;
    steps.push(config.clone());
    config.servers[0].state = ServerState::Draining;
    steps.push(config.clone());
    config.servers.remove(0);
    steps.push(config.clone());
    config.algorithm = Algorithm::Maglev;
    steps.push(config.clone());
    config.servers.push(backends[0].config(1));
    config.algorithm = Algorithm::WeightedLeastConnections;
    steps.push(config.clone());
    config.servers.remove(1);
    config.algorithm = Algorithm::SourceHash;
    steps.push(config);
    steps
}

#[tokio::test]
async fn runtime_changes_drop_no_in_flight_request() {
    for protocol in [Protocol::Http, Protocol::Tcp] {
        let backends = [
            Backend::start("a").await,
            Backend::start("b").await,
            Backend::start("c").await,
        ];
        let base = service(
            protocol,
            Algorithm::RoundRobin,
            vec![backends[0].config(1), backends[1].config(1)],
        );
        let (mut director, addr) = start(base.clone()).await;
        let load = Load::start(addr, 6);
        for step in steps(&base, &backends) {
            let before = load.ok.load(Ordering::SeqCst);
            director
                .apply(&LbConfig {
                    services: vec![step],
                })
                .await
                .expect("applies");
            assert_eq!(director.local_addr("web"), Some(addr));
            let progressed = eventually(Duration::from_secs(5), || async {
                load.ok.load(Ordering::SeqCst) >= before + 12
            });
            assert!(progressed.await, "{protocol:?}: traffic stalled");
        }
        let (ok, failed) = load.finish().await;
        assert_eq!(
            failed,
            0,
            "{protocol:?}: {failed} of {} requests failed",
            ok + failed
        );
        assert!(ok >= 96);
        director.shutdown().await;
    }
}

#[tokio::test]
async fn removed_service_closes_its_listener_but_keeps_open_connections() {
    let backend = Backend::start("a").await;
    let (mut director, addr) = start(service(
        Protocol::Tcp,
        Algorithm::RoundRobin,
        vec![backend.config(1)],
    ))
    .await;
    let mut kept = Client::connect(addr).await.expect("connect");
    kept.get("/name", "").await.expect("request");
    director
        .apply(&LbConfig {
            services: Vec::new(),
        })
        .await
        .expect("applies");
    assert!(director.snapshot().services.is_empty());
    let refused = eventually(Duration::from_secs(2), || async {
        tokio::net::TcpStream::connect(addr).await.is_err()
    });
    assert!(refused.await, "listener closed");
    let (status, name) = kept
        .get("/name", "")
        .await
        .expect("open connection still served");
    assert_eq!((status, name.as_slice()), (200, b"a".as_slice()));
}

#[tokio::test]
async fn listener_binds_a_vip_the_node_does_not_hold_yet() {
    let backend = Backend::start("a").await;
    let mut config = service(
        Protocol::Tcp,
        Algorithm::RoundRobin,
        vec![backend.config(1)],
    );
    // TEST-NET-1 is never configured here; IP_FREEBIND lets the bind succeed anyway, and no
    // packet is sent to it.
    config.listen = vec!["192.0.2.77:18443".parse().expect("address")];
    let mut director = crate::support::director(lb::TcpRelay::Copy);
    director
        .apply(&LbConfig {
            services: vec![config],
        })
        .await
        .expect("freebind allows the bind");
    assert_eq!(
        director.local_addr("web"),
        Some("192.0.2.77:18443".parse().expect("address"))
    );
    director.shutdown().await;
}

#[tokio::test]
async fn one_service_serves_every_listen_address_with_shared_servers_and_counters() {
    let a = Backend::start("a").await;
    let b = Backend::start("b").await;
    let mut config = service(
        Protocol::Http,
        Algorithm::RoundRobin,
        vec![a.config(1), b.config(1)],
    );
    // Two loopback addresses stand in for two VIPs of one service.
    config.listen = vec![
        "127.0.0.1:0".parse().expect("address"),
        "127.0.0.2:0".parse().expect("address"),
    ];
    let mut director = crate::support::director(lb::TcpRelay::Copy);
    director
        .apply(&LbConfig {
            services: vec![config.clone()],
        })
        .await
        .expect("both addresses bind");
    let addrs = director.local_addrs("web").expect("service runs");
    assert_eq!(addrs.len(), 2);
    assert_eq!(addrs[1].ip().to_string(), "127.0.0.2");
    let mut answered = Vec::new();
    for addr in &addrs {
        for _ in 0..2 {
            let (status, name) = fetch(*addr, "/name").await.expect("served");
            assert_eq!(status, 200);
            answered.push(name);
        }
    }
    answered.sort();
    // Round robin runs across both listeners: one pool, one rotation.
    assert_eq!(answered, ["a", "a", "b", "b"]);
    let snapshot = director.snapshot();
    assert_eq!(
        snapshot.services.len(),
        1,
        "one service, not one per address"
    );
    assert_eq!(snapshot.services[0].requests_total, 4);

    // A server change keeps both listeners.
    config.servers = vec![a.config(1)];
    director
        .apply(&LbConfig {
            services: vec![config],
        })
        .await
        .expect("applies");
    assert_eq!(director.local_addrs("web"), Some(addrs.clone()));
    for addr in &addrs {
        assert_eq!(fetch(*addr, "/name").await.expect("served").1, "a");
    }
    director.shutdown().await;
}

#[tokio::test]
async fn a_service_whose_second_address_cannot_bind_leaves_no_listener_open() {
    let backend = Backend::start("a").await;
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let taken_addr = taken.local_addr().expect("local addr");
    let free = crate::support::dead_addr().await;
    let mut config = service(
        Protocol::Tcp,
        Algorithm::RoundRobin,
        vec![backend.config(1)],
    );
    config.listen = vec![free, taken_addr];
    let mut director = crate::support::director(lb::TcpRelay::Copy);
    let error = director
        .apply(&LbConfig {
            services: vec![config],
        })
        .await
        .expect_err("the second address is taken");
    assert!(
        error.to_string().contains(&taken_addr.to_string()),
        "{error}"
    );
    assert_eq!(director.local_addrs("web"), None);
    tokio::net::TcpListener::bind(free)
        .await
        .expect("the first address was released again");
    director.shutdown().await;
}
