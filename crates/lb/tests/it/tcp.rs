//! TCP mode: distribution, relays, limits, health, sorry server and connect retry.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use lb::{Algorithm, HealthCheckKind, LbConfig, Protocol, TcpRelay};

use crate::support::{
    Backend, Client, dead_addr, director, eventually, fetch, health, http_health, server_snapshot,
    service, start,
};

async fn backends(names: &[&str]) -> Vec<Backend> {
    let mut backends = Vec::new();
    for name in names {
        backends.push(Backend::start(name).await);
    }
    backends
}

#[tokio::test]
async fn round_robin_spreads_tcp_connections_evenly_with_copy_and_splice() {
    let backends = backends(&["a", "b", "c"]).await;
    for relay in [TcpRelay::Copy, TcpRelay::Splice] {
        let servers = backends.iter().map(|backend| backend.config(1)).collect();
        let mut director = director(relay);
        let config = LbConfig {
            services: vec![service(Protocol::Tcp, Algorithm::RoundRobin, servers)],
        };
        director.apply(&config).await.expect("applies");
        let addr = director.local_addr("web").expect("runs");
        let mut counts: HashMap<String, u32> = HashMap::new();
        for _ in 0..60 {
            let (status, name) = fetch(addr, "/name")
                .await
                .expect("request through the proxy");
            assert_eq!(status, 200);
            *counts.entry(name).or_insert(0) += 1;
        }
        let expected: HashMap<String, u32> = ["a", "b", "c"]
            .iter()
            .map(|name| ((*name).to_owned(), 20))
            .collect();
        assert_eq!(counts, expected, "{relay:?}");
        // In TCP mode a server's response time is its connect time, one per connection.
        for server in &director.snapshot().services[0].servers {
            let connects: u64 = server.response_time.counts.iter().sum();
            assert_eq!(connects, 20, "{relay:?} {}", server.name);
        }
        director.shutdown().await;
    }
}

#[tokio::test]
async fn large_body_arrives_intact_through_copy_and_splice_and_is_counted() {
    let backend = Backend::start("a").await;
    let len = 5 * 1024 * 1024;
    for relay in [TcpRelay::Copy, TcpRelay::Splice] {
        let mut director = director(relay);
        let config = service(
            Protocol::Tcp,
            Algorithm::RoundRobin,
            vec![backend.config(1)],
        );
        director
            .apply(&LbConfig {
                services: vec![config],
            })
            .await
            .expect("applies");
        let addr = director.local_addr("web").expect("runs");
        let mut client = Client::connect(addr).await.expect("connect");
        let (status, body) = client
            .get(&format!("/big/{len}"), "")
            .await
            .expect("big body");
        assert_eq!(status, 200);
        assert_eq!(body.len(), len);
        assert!(
            body.iter()
                .enumerate()
                .all(|(index, byte)| *byte == (index % 251) as u8)
        );
        let server = server_snapshot(&director, "a");
        assert!(
            server.bytes_out >= len as u64,
            "{relay:?}: {}",
            server.bytes_out
        );
        assert!(director.snapshot().services[0].bytes_out >= len as u64);
        director.shutdown().await;
    }
}

#[tokio::test]
async fn least_connections_balances_held_connections() {
    let backends = backends(&["a", "b", "c"]).await;
    let servers = backends.iter().map(|backend| backend.config(1)).collect();
    let (director, addr) =
        start(service(Protocol::Tcp, Algorithm::LeastConnections, servers)).await;
    let mut held = Vec::new();
    let mut counts: HashMap<String, u32> = HashMap::new();
    for _ in 0..30 {
        let mut client = Client::connect(addr).await.expect("connect");
        let (_, name) = client.get("/name", "").await.expect("request");
        *counts
            .entry(String::from_utf8(name).expect("utf-8"))
            .or_insert(0) += 1;
        held.push(client);
    }
    assert!(counts.values().all(|count| *count == 10), "{counts:?}");
    for name in ["a", "b", "c"] {
        assert_eq!(server_snapshot(&director, name).connections_active, 10);
    }
    drop(held);
    let all_closed = eventually(Duration::from_secs(5), || async {
        director.snapshot().services[0].connections_active == 0
    });
    assert!(all_closed.await);
}

#[tokio::test]
async fn source_hash_maglev_and_persistence_keep_a_client_on_one_server() {
    let backends = backends(&["a", "b", "c"]).await;
    for (algorithm, persistence) in [
        (Algorithm::SourceHash, None),
        (Algorithm::Maglev, None),
        (Algorithm::RoundRobin, Some(Duration::from_secs(60))),
    ] {
        let servers = backends.iter().map(|backend| backend.config(1)).collect();
        let mut config = service(Protocol::Tcp, algorithm, servers);
        config.persistence = persistence;
        let (director, addr) = start(config).await;
        let (_, first) = fetch(addr, "/name").await.expect("request");
        for _ in 0..20 {
            let (_, name) = fetch(addr, "/name").await.expect("request");
            assert_eq!(name, first, "{algorithm:?}");
        }
        director.shutdown().await;
    }
}

#[tokio::test]
async fn service_connection_limit_refuses_connections_beyond_it() {
    let backend = Backend::start("a").await;
    let mut config = service(
        Protocol::Tcp,
        Algorithm::RoundRobin,
        vec![backend.config(1)],
    );
    config.max_conns = Some(2);
    let (director, addr) = start(config).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut client = Client::connect(addr).await.expect("connect");
        client.get("/name", "").await.expect("within the limit");
        held.push(client);
    }
    let mut extra = Client::connect(addr).await.expect("the kernel accepts");
    assert!(
        extra.get("/name", "").await.is_err(),
        "the director closes the third connection"
    );
    assert_eq!(director.snapshot().services[0].connections_rejected, 1);
    held.pop();
    let served_again = eventually(Duration::from_secs(5), || async {
        fetch(addr, "/name")
            .await
            .is_ok_and(|(status, _)| status == 200)
    });
    assert!(served_again.await);
}

#[tokio::test]
async fn server_connection_limits_refuse_when_every_server_is_full() {
    let backends = backends(&["a", "b"]).await;
    let servers = backends
        .iter()
        .map(|backend| {
            let mut server = backend.config(1);
            server.max_conns = Some(1);
            server
        })
        .collect();
    let mut config = service(Protocol::Tcp, Algorithm::RoundRobin, servers);
    let sorry = Backend::start("sorry").await;
    config.sorry_server = Some(sorry.addr);
    let (director, addr) = start(config).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut client = Client::connect(addr).await.expect("connect");
        client.get("/name", "").await.expect("a server has room");
        held.push(client);
    }
    let mut extra = Client::connect(addr).await.expect("the kernel accepts");
    assert!(
        extra.get("/name", "").await.is_err(),
        "full servers are not down: no sorry server"
    );
    assert_eq!(server_snapshot(&director, "a").connections_active, 1);
    assert_eq!(server_snapshot(&director, "b").connections_active, 1);
    assert_eq!(director.snapshot().services[0].sorry_total, 0);
}

#[tokio::test]
async fn failing_health_check_stops_new_connections_within_fall_bound_and_rise_restores() {
    let backends = backends(&["a", "b"]).await;
    let servers = backends.iter().map(|backend| backend.config(1)).collect();
    let mut config = service(Protocol::Tcp, Algorithm::RoundRobin, servers);
    config.health = health(http_health(), 100, 2, 3);
    let fall = lb::fall_bound(&config.health);
    let rise = lb::rise_bound(&config.health);
    let (director, addr) = start(config).await;
    let slack = Duration::from_millis(300);

    backends[0].healthy.store(false, Ordering::SeqCst);
    let went_down = tokio::time::Instant::now();
    let down = eventually(fall + slack, || async {
        !server_snapshot(&director, "a").healthy
    });
    assert!(down.await, "a is still up after its fall bound");
    assert!(
        went_down.elapsed() >= Duration::from_millis(200),
        "fall=3 needs three checks"
    );
    for _ in 0..20 {
        assert_eq!(fetch(addr, "/name").await.expect("b serves").1, "b");
    }

    backends[0].healthy.store(true, Ordering::SeqCst);
    let up = eventually(rise + slack, || async {
        server_snapshot(&director, "a").healthy
    });
    assert!(up.await, "a is still down after its rise bound");
    let mut names = Vec::new();
    for _ in 0..4 {
        names.push(fetch(addr, "/name").await.expect("served").1);
    }
    assert!(names.iter().any(|name| name == "a"), "{names:?}");
    assert!(server_snapshot(&director, "a").health_checks_failed >= 3);
}

#[tokio::test]
async fn sorry_server_answers_when_every_server_is_down() {
    for protocol in [Protocol::Tcp, Protocol::Http] {
        let backends = backends(&["a", "b"]).await;
        let sorry = Backend::start("sorry").await;
        let servers = backends.iter().map(|backend| backend.config(1)).collect();
        let mut config = service(protocol, Algorithm::RoundRobin, servers);
        config.health = health(HealthCheckKind::Tcp, 50, 1, 1);
        config.sorry_server = Some(sorry.addr);
        let (director, addr) = start(config).await;
        assert_ne!(fetch(addr, "/name").await.expect("served").1, "sorry");
        drop(backends);
        let sorry_served = eventually(Duration::from_secs(3), || async {
            fetch(addr, "/name")
                .await
                .is_ok_and(|(_, name)| name == "sorry")
        });
        assert!(sorry_served.await, "{protocol:?}");
        assert!(director.snapshot().services[0].sorry_total > 0);
        director.shutdown().await;
    }
}

#[tokio::test]
async fn failed_connect_is_retried_on_another_server() {
    let live = Backend::start("live").await;
    for protocol in [Protocol::Tcp, Protocol::Http] {
        let dead = lb::ServerConfig {
            name: "dead".to_owned(),
            ..live.config(1)
        };
        let dead = lb::ServerConfig {
            addr: dead_addr().await,
            ..dead
        };
        // Health checks are slow here, so the dead server is still believed up.
        let config = service(protocol, Algorithm::RoundRobin, vec![dead, live.config(1)]);
        let (director, addr) = start(config).await;
        for _ in 0..10 {
            let (status, name) = fetch(addr, "/name").await.expect("retried");
            assert_eq!((status, name.as_str()), (200, "live"), "{protocol:?}");
        }
        assert!(server_snapshot(&director, "dead").errors_total >= 5);
        director.shutdown().await;
    }
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_idle_timeout() {
    let backend = Backend::start("a").await;
    for protocol in [Protocol::Tcp, Protocol::Http] {
        let mut config = service(protocol, Algorithm::RoundRobin, vec![backend.config(1)]);
        config.idle_timeout = Duration::from_millis(300);
        let (director, addr) = start(config).await;
        let mut client = Client::connect(addr).await.expect("connect");
        // Traffic every 100 ms keeps the connection open well past the timeout.
        for _ in 0..8 {
            client
                .get("/name", "")
                .await
                .expect("an active connection stays open");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let started = tokio::time::Instant::now();
        client.get("/name", "").await.expect("request");
        let closed = eventually(Duration::from_secs(3), || async {
            director.snapshot().services[0].connections_active == 0
        });
        assert!(closed.await, "{protocol:?}: idle connection still open");
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "{protocol:?}: closed too early"
        );
        assert!(client.get("/name", "").await.is_err(), "{protocol:?}");
        director.shutdown().await;
    }
}

/// A raw TCP server that reads until the client's end of stream, then answers with the byte
/// count and a checksum of what it got and closes.
async fn counting_server() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut got = Vec::new();
                if stream.read_to_end(&mut got).await.is_ok() {
                    let sum: u64 = got.iter().map(|b| u64::from(*b)).sum();
                    let answer = format!("{} {sum}", got.len());
                    let _ = stream.write_all(answer.as_bytes()).await;
                }
            });
        }
    });
    (addr, task)
}

#[tokio::test]
async fn a_half_closed_upload_reaches_the_server_whole_and_its_answer_comes_back() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (server, task) = counting_server().await;
    // Larger than socket buffers, so that writes in both relays have to wait for room.
    let upload: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i % 253) as u8).collect();
    let sum: u64 = upload.iter().map(|b| u64::from(*b)).sum();
    for relay in [TcpRelay::Copy, TcpRelay::Splice] {
        let mut director = director(relay);
        let mut config = service(Protocol::Tcp, Algorithm::RoundRobin, vec![]);
        config.servers = vec![lb::ServerConfig {
            name: "counter".to_owned(),
            addr: server,
            weight: 1,
            state: lb::ServerState::Active,
            max_conns: None,
        }];
        director
            .apply(&LbConfig {
                services: vec![config],
            })
            .await
            .expect("applies");
        let addr = director.local_addr("web").expect("runs");
        let mut client = tokio::net::TcpStream::connect(addr).await.expect("connect");
        client.write_all(&upload).await.expect("upload");
        client.shutdown().await.expect("half-close");
        let mut answer = String::new();
        // The server answers only once the end of the upload reached it through the relay.
        tokio::time::timeout(Duration::from_secs(10), client.read_to_string(&mut answer))
            .await
            .expect("the end of stream was passed on")
            .expect("answer until the server closes");
        assert_eq!(answer, format!("{} {sum}", upload.len()), "{relay:?}");
        let counted = director.snapshot().services[0].bytes_in;
        assert!(counted >= upload.len() as u64, "{relay:?}: {counted}");
        director.shutdown().await;
    }
    task.abort();
}
