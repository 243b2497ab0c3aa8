//! The notify protocol against a real datagram socket the test binds; every wait is for a
//! datagram, with a deadline.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{Notifier, run, watchdog_interval_of};

/// The next datagram, within a generous deadline.
async fn received(socket: &tokio::net::UnixDatagram) -> String {
    let mut buffer = [0u8; 512];
    let length = tokio::time::timeout(Duration::from_secs(30), socket.recv(&mut buffer))
        .await
        .expect("a notification before the deadline")
        .expect("a datagram");
    String::from_utf8_lossy(&buffer[..length]).into_owned()
}

#[test]
fn watchdog_interval_is_read_for_this_process_only() {
    let check = |usec, pid, expected| assert_eq!(watchdog_interval_of(usec, pid, 42), expected);
    check(Some("10000000"), None, Some(Duration::from_secs(10)));
    check(Some("10000000"), Some("42"), Some(Duration::from_secs(10)));
    check(Some("10000000"), Some("43"), None);
    check(Some("0"), None, None);
    check(Some("ten"), None, None);
    check(None, None, None);
}

#[test]
fn abstract_and_path_sockets_are_understood() {
    assert!(Notifier::parse("@encluster-test").is_some());
    assert!(Notifier::parse("/run/systemd/notify").is_some());
}

#[tokio::test]
async fn ready_then_watchdog_pets_then_stopping_reach_the_socket() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("notify");
    let socket = tokio::net::UnixDatagram::bind(&path).expect("bind the socket");
    let notifier = Notifier::parse(path.to_str().expect("a UTF-8 path"));
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run(
        notifier,
        Some(Duration::from_millis(100)),
        shutdown.clone(),
    ));
    let ready = received(&socket).await;
    assert!(ready.starts_with("READY=1\n"), "{ready:?}");
    assert!(ready.contains(&format!("MAINPID={}", std::process::id())));
    // The first pet at once, the next ones every half watchdog interval.
    for _ in 0..3 {
        assert_eq!(received(&socket).await, "WATCHDOG=1");
    }
    shutdown.cancel();
    task.await.expect("the notify task ends");
    let mut last = received(&socket).await;
    while last == "WATCHDOG=1" {
        last = received(&socket).await;
    }
    assert_eq!(last, "STOPPING=1");
}

#[tokio::test]
async fn without_a_socket_nothing_is_sent_and_the_task_ends() {
    run(None, Some(Duration::from_secs(1)), CancellationToken::new()).await;
}
