//! Unit tests of the server pickers: each algorithm's distribution, exclusion of unhealthy,
//! draining and full servers, and Maglev's minimal disruption.
//!
//! Method: build a pool from a small config, pick many times without sockets, count picks.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{Picked, Pool};
use crate::config::{
    Algorithm, HealthCheck, HealthCheckKind, Protocol, ServerConfig, ServerState, ServiceConfig,
};
use crate::counters::ServerCounters;

fn server(name: &str, weight: u32) -> ServerConfig {
    let port = 10_000 + name.bytes().map(u16::from).sum::<u16>();
    ServerConfig {
        name: name.to_owned(),
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        weight,
        state: ServerState::Active,
        max_conns: None,
    }
}

fn service(algorithm: Algorithm, servers: Vec<ServerConfig>) -> ServiceConfig {
    ServiceConfig {
        name: "web".to_owned(),
        listen: vec![SocketAddr::from(([127, 0, 0, 1], 8080))],
        protocol: Protocol::Tcp,
        servers,
        algorithm,
        persistence: None,
        health: HealthCheck {
            kind: HealthCheckKind::Tcp,
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(500),
            rise: 2,
            fall: 3,
        },
        sorry_server: None,
        max_conns: None,
        idle_timeout: Duration::from_secs(60),
    }
}

fn pool(config: ServiceConfig) -> Pool {
    let counters: HashMap<String, Arc<ServerCounters>> = config
        .servers
        .iter()
        .map(|server| (server.name.clone(), Arc::new(ServerCounters::new())))
        .collect();
    Pool::new(Arc::new(config), &counters)
}

fn client(index: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + index))
}

fn name(pool: &Pool, picked: &Picked) -> String {
    pool.servers[picked.index].config.name.clone()
}

/// Picks `count` times, releasing each slot at once, and counts picks per server name.
fn counts(pool: &Pool, count: u32) -> HashMap<String, u32> {
    let mut counts = HashMap::new();
    for index in 0..count {
        let picked = pool.pick(client(index), &[]).expect("a server is up");
        *counts.entry(name(pool, &picked)).or_insert(0) += 1;
    }
    counts
}

fn check(counts: &HashMap<String, u32>, expected: &[(&str, u32)]) {
    let expected: HashMap<String, u32> = expected
        .iter()
        .map(|(name, count)| ((*name).to_owned(), *count))
        .collect();
    assert_eq!(*counts, expected);
}

#[test]
fn round_robin_gives_each_server_the_same_share() {
    let pool = pool(service(
        Algorithm::RoundRobin,
        vec![server("a", 1), server("b", 5), server("c", 1)],
    ));
    check(&counts(&pool, 300), &[("a", 100), ("b", 100), ("c", 100)]);
}

#[test]
fn smooth_weighted_round_robin_follows_nginx_sequence() {
    let pool = pool(service(
        Algorithm::WeightedRoundRobin,
        vec![server("a", 5), server("b", 1), server("c", 1)],
    ));
    let sequence: Vec<String> = (0..7)
        .map(|index| {
            name(
                &pool,
                &pool.pick(client(index), &[]).expect("a server is up"),
            )
        })
        .collect();
    assert_eq!(sequence, ["a", "a", "b", "a", "c", "a", "a"]);
    check(&counts(&pool, 700), &[("a", 500), ("b", 100), ("c", 100)]);
}

#[test]
fn weighted_round_robin_skips_unhealthy_server_and_keeps_ratio_of_the_rest() {
    let pool = pool(service(
        Algorithm::WeightedRoundRobin,
        vec![server("a", 3), server("b", 1), server("c", 2)],
    ));
    pool.servers[2]
        .counters
        .healthy
        .store(false, Ordering::Relaxed);
    check(&counts(&pool, 400), &[("a", 300), ("b", 100)]);
}

#[test]
fn least_connections_fills_servers_evenly_with_held_connections() {
    let pool = pool(service(
        Algorithm::LeastConnections,
        vec![server("a", 1), server("b", 9)],
    ));
    let held: Vec<Picked> = (0..20)
        .map(|index| pool.pick(client(index), &[]).expect("a server is up"))
        .collect();
    assert_eq!(pool.servers[0].counters.active(), 10);
    assert_eq!(pool.servers[1].counters.active(), 10);
    drop(held);
    assert_eq!(pool.servers[0].counters.active(), 0);
}

#[test]
fn weighted_least_connections_holds_connections_in_weight_ratio() {
    let pool = pool(service(
        Algorithm::WeightedLeastConnections,
        vec![server("a", 1), server("b", 3)],
    ));
    let _held: Vec<Picked> = (0..40)
        .map(|index| pool.pick(client(index), &[]).expect("a server is up"))
        .collect();
    assert_eq!(pool.servers[0].counters.active(), 10);
    assert_eq!(pool.servers[1].counters.active(), 30);
}

#[test]
fn source_hash_keeps_a_client_on_one_server_and_spreads_clients() {
    let pool = pool(service(
        Algorithm::SourceHash,
        vec![
            server("a", 1),
            server("b", 1),
            server("c", 1),
            server("d", 1),
        ],
    ));
    for index in 0..50 {
        let first = pool.pick(client(index), &[]).expect("a server is up").index;
        let again = pool.pick(client(index), &[]).expect("a server is up").index;
        assert_eq!(first, again);
    }
    // 4000 clients over 4 servers: each share within 20% of the mean of 1000.
    let spread = counts(&pool, 4000);
    assert_eq!(spread.len(), 4);
    assert!(
        spread.values().all(|count| (800..=1200).contains(count)),
        "{spread:?}"
    );
}

#[test]
fn maglev_table_is_prime_sized_and_balanced() {
    let servers: Vec<ServerConfig> = (0..7)
        .map(|index| server(&format!("s{index}"), 1))
        .collect();
    let pool = pool(service(Algorithm::Maglev, servers));
    assert_eq!(pool.maglev_table.len(), 701);
    let mut per_server = [0_u32; 7];
    for entry in &pool.maglev_table {
        per_server[*entry as usize] += 1;
    }
    // Maglev's round-robin fill gives each server 100 or 101 of the 701 entries.
    assert!(
        per_server.iter().all(|count| (100..=101).contains(count)),
        "{per_server:?}"
    );
    let spread = counts(&pool, 7000);
    assert!(
        spread.values().all(|count| (800..=1200).contains(count)),
        "{spread:?}"
    );
}

#[test]
fn maglev_moves_few_flows_when_a_server_goes_down_and_comes_back() {
    let servers: Vec<ServerConfig> = (0..10)
        .map(|index| server(&format!("s{index}"), 1))
        .collect();
    let config = service(Algorithm::Maglev, servers);
    let before = pool(config.clone());
    let clients = 10_000;
    let owner = |pool: &Pool, index: u32| {
        name(
            pool,
            &pool.pick(client(index), &[]).expect("a server is up"),
        )
    };
    let assignment: Vec<String> = (0..clients).map(|index| owner(&before, index)).collect();
    // s3 fails: the table is rebuilt without it, as the service does on a health change.
    let counters: HashMap<String, Arc<ServerCounters>> = before
        .servers
        .iter()
        .map(|server| (server.config.name.clone(), Arc::clone(&server.counters)))
        .collect();
    counters["s3"].healthy.store(false, Ordering::Relaxed);
    let after = Pool::new(Arc::new(config), &counters);
    let mut moved_other = 0;
    for index in 0..clients {
        let now = owner(&after, index);
        assert_ne!(now, "s3");
        if assignment[index as usize] != "s3" && now != assignment[index as usize] {
            moved_other += 1;
        }
    }
    // Only s3's tenth must move; Maglev also disturbs a few others, far below a modulo hash,
    // which would move about 90% of all clients.
    assert!(
        moved_other < clients / 20,
        "{moved_other} clients of healthy servers moved"
    );
    counters["s3"].healthy.store(true, Ordering::Relaxed);
    let back = Pool::new(Arc::clone(&after.config), &counters);
    let restored = (0..clients).filter(|index| owner(&back, *index) == assignment[*index as usize]);
    assert_eq!(restored.count(), clients as usize);
}

#[test]
fn draining_and_disabled_servers_take_no_new_connections() {
    let mut draining = server("b", 1);
    draining.state = ServerState::Draining;
    let mut disabled = server("c", 1);
    disabled.state = ServerState::Disabled;
    for algorithm in [
        Algorithm::RoundRobin,
        Algorithm::WeightedRoundRobin,
        Algorithm::LeastConnections,
        Algorithm::WeightedLeastConnections,
        Algorithm::SourceHash,
        Algorithm::Maglev,
    ] {
        let servers = vec![server("a", 1), draining.clone(), disabled.clone()];
        let pool = pool(service(algorithm, servers));
        check(&counts(&pool, 30), &[("a", 30)]);
    }
}

#[test]
fn server_connection_limit_is_never_exceeded() {
    let mut limited = server("a", 1);
    limited.max_conns = Some(2);
    let pool = pool(service(
        Algorithm::RoundRobin,
        vec![limited, server("b", 1)],
    ));
    let held: Vec<Picked> = (0..6)
        .map(|index| pool.pick(client(index), &[]).expect("b has room"))
        .collect();
    assert_eq!(pool.servers[0].counters.active(), 2);
    assert_eq!(pool.servers[1].counters.active(), 4);
    drop(held);
    let mut only = server("a", 1);
    only.max_conns = Some(1);
    let single = self::pool(service(Algorithm::LeastConnections, vec![only]));
    let first = single.pick(client(0), &[]);
    assert!(first.is_some());
    assert!(single.pick(client(1), &[]).is_none());
    assert!(
        single.any_up(),
        "a full server is still up, so the sorry server is not used"
    );
}

#[test]
fn tried_servers_are_skipped_for_a_retry() {
    let pool = pool(service(
        Algorithm::SourceHash,
        vec![server("a", 1), server("b", 1)],
    ));
    let first = pool.pick(client(7), &[]).expect("a server is up");
    let retry = pool
        .pick(client(7), &[first.index])
        .expect("the other server is up");
    assert_ne!(first.index, retry.index);
    assert!(pool.pick(client(7), &[0, 1]).is_none());
}

#[test]
fn no_server_up_reports_so_for_the_sorry_server() {
    let pool = pool(service(
        Algorithm::RoundRobin,
        vec![server("a", 1), server("b", 0)],
    ));
    pool.servers[0]
        .counters
        .healthy
        .store(false, Ordering::Relaxed);
    assert!(pool.pick(client(0), &[]).is_none());
    assert!(!pool.any_up());
}

#[test]
fn maglev_shares_follow_weights() {
    let pool = pool(service(
        Algorithm::Maglev,
        vec![server("a", 1), server("b", 3)],
    ));
    let spread = counts(&pool, 8000);
    // Expected 2000 and 6000; allow 10%.
    assert!((1800..=2200).contains(&spread["a"]), "{spread:?}");
    assert!((5400..=6600).contains(&spread["b"]), "{spread:?}");
}
