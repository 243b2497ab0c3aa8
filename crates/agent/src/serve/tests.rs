//! Connection admission: the per-client and total bounds, the refusal messages that name
//! the setting, and slots given back when connections end.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;

use super::{Counts, ServeLimits};

fn limits(total: usize, per_client: usize) -> ServeLimits {
    ServeLimits {
        header_read_timeout: Duration::from_secs(10),
        body_read_timeout: None,
        connections_max: total,
        connections_per_client_max: per_client,
    }
}

fn ip(last: u8) -> IpAddr {
    IpAddr::from([192, 0, 2, last])
}

#[test]
fn a_client_past_its_bound_is_refused_with_429_and_others_still_get_in() {
    let counts = Arc::new(Counts::default());
    let limits = limits(10, 2);
    let held: Vec<_> = (0..2)
        .map(|_| counts.admit(ip(1), &limits).expect("within the bound"))
        .collect();
    let refusal = counts.admit(ip(1), &limits).err().expect("refused");
    assert_eq!(refusal.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(refusal.message.contains("connections_per_client_max"));
    assert!(counts.admit(ip(2), &limits).is_ok());
    drop(held);
    assert!(counts.admit(ip(1), &limits).is_ok(), "slots are given back");
}

#[test]
fn past_the_total_bound_everyone_is_refused_with_503() {
    let counts = Arc::new(Counts::default());
    let limits = limits(3, 3);
    let held: Vec<_> = (1..=3)
        .map(|last| counts.admit(ip(last), &limits).expect("within the bound"))
        .collect();
    let refusal = counts.admit(ip(9), &limits).err().expect("refused");
    assert_eq!(refusal.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(refusal.message.contains("connections_max"));
    drop(held);
    let _admitted = counts.admit(ip(9), &limits).expect("room again");
    let inner = counts.inner.lock().expect("lock");
    assert_eq!(
        inner.per_client.len(),
        1,
        "clients with no connection are forgotten"
    );
}

#[test]
fn refusals_in_progress_are_bounded_too() {
    let counts = Arc::new(Counts::default());
    let held: Vec<_> = (0..crate::limits::REFUSALS_MAX)
        .map(|_| counts.admit_refusal().expect("a refusal slot"))
        .collect();
    assert!(counts.admit_refusal().is_none());
    drop(held);
    assert!(counts.admit_refusal().is_some());
}
