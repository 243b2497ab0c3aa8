//! Idle detection with paused time.

use std::time::Duration;

use tokio::time::Instant;

use super::Activity;

const TIMEOUT: Duration = Duration::from_secs(40);

#[tokio::test(start_paused = true)]
async fn quiet_activity_ends_between_one_and_one_and_a_quarter_timeouts() {
    let activity = Activity::new();
    let started = Instant::now();
    activity.idle_for(TIMEOUT).await;
    let waited = started.elapsed();
    assert!(waited >= TIMEOUT, "{waited:?}");
    assert!(waited <= TIMEOUT + TIMEOUT / 4, "{waited:?}");
}

#[tokio::test(start_paused = true)]
async fn traffic_postpones_the_end_until_a_timeout_after_the_last_touch() {
    let activity = Activity::new();
    let started = Instant::now();
    let touches = async {
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_secs(7)).await;
            activity.touch();
        }
    };
    let ((), ()) = tokio::join!(touches, activity.idle_for(TIMEOUT));
    let last_touch = Duration::from_secs(70);
    let waited = started.elapsed();
    assert!(waited >= last_touch + TIMEOUT, "{waited:?}");
    assert!(waited <= last_touch + TIMEOUT + TIMEOUT / 4, "{waited:?}");
}
