//! Unit tests of client affinity: expiry measured from the last connection, and replacement.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use tokio::time::Instant;

use super::AffinityTable;

const TIMEOUT: Duration = Duration::from_secs(10);

fn client(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
}

#[test]
fn client_is_remembered_until_it_has_been_away_for_the_timeout() {
    let table = AffinityTable::new();
    let start = Instant::now();
    table.record(client(1), "a", TIMEOUT, start);
    let seen = |at: Duration| {
        table
            .lookup(client(1), TIMEOUT, start + at)
            .map(|s| s.to_string())
    };
    assert_eq!(seen(Duration::from_secs(9)).as_deref(), Some("a"));
    assert_eq!(seen(TIMEOUT), None);
    assert_eq!(table.lookup(client(2), TIMEOUT, start), None);
}

#[test]
fn a_new_connection_refreshes_the_timeout_and_may_change_the_server() {
    let table = AffinityTable::new();
    let start = Instant::now();
    table.record(client(1), "a", TIMEOUT, start);
    table.record(client(1), "b", TIMEOUT, start + Duration::from_secs(8));
    let later = start + Duration::from_secs(15);
    assert_eq!(
        table.lookup(client(1), TIMEOUT, later).as_deref(),
        Some("b")
    );
}
