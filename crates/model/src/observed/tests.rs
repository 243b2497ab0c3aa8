//! Tests of the restart backoff: scripted failure times, no clock.

use super::{ResourceState, ResourceStatus, restart_backoff};
use std::time::Duration;

#[test]
fn restart_backoff_doubles_from_the_second_failure_up_to_its_cap() {
    let waits: Vec<u64> = (0..14).map(|n| restart_backoff(n).as_secs()).collect();
    assert_eq!(
        waits,
        [0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]
    );
    assert_eq!(restart_backoff(u32::MAX), Duration::from_secs(300));
}

#[test]
fn a_restart_waits_until_the_last_failure_plus_the_backoff() {
    let status = ResourceStatus {
        state: ResourceState::Stopped,
        fail_count: 6,
        last_failure_at: Some(100_000),
        last_failure: None,
    };
    assert_eq!(status.restart_not_before(None, 100_000), Some(116_000));
    assert_eq!(status.restart_not_before(None, 115_999), Some(116_000));
    assert_eq!(status.restart_not_before(None, 116_000), None);
    // Failures that expired (the resource's failure timeout) no longer hold it back.
    let expired = Some(Duration::from_secs(10));
    assert_eq!(status.restart_not_before(expired, 110_000), None);
    let first = ResourceStatus {
        fail_count: 1,
        ..status
    };
    assert_eq!(first.restart_not_before(None, 100_000), None);
}
