//! Health checks of real servers: the rise/fall state machine and one checking task per server.
//!
//! The task writes the verdict into the server's atomic `healthy` flag, which the pickers read
//! directly, and wakes the service so that it rebuilds tables that depend on health (Maglev).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::{HealthCheck, HealthCheckKind};
use crate::counters::ServerCounters;
use crate::limits;

/// Consecutive results turned into up and down, as `rise` and `fall` in HAProxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HealthState {
    pub(crate) healthy: bool,
    rise: u32,
    fall: u32,
    streak: u32,
}

impl HealthState {
    pub(crate) fn new(healthy: bool, rise: u32, fall: u32) -> HealthState {
        assert!(
            rise > 0 && fall > 0,
            "rise and fall are validated to be positive"
        );
        HealthState {
            healthy,
            rise,
            fall,
            streak: 0,
        }
    }

    /// Feeds one check result; returns the new health when it changes.
    pub(crate) fn observe(&mut self, passed: bool) -> Option<bool> {
        if passed == self.healthy {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let needed = if self.healthy { self.fall } else { self.rise };
        if self.streak < needed {
            return None;
        }
        self.healthy = passed;
        self.streak = 0;
        Some(passed)
    }
}

/// Everything one checking task needs.
pub(crate) struct HealthTask {
    pub(crate) service: String,
    pub(crate) server: String,
    pub(crate) addr: SocketAddr,
    pub(crate) check: HealthCheck,
    pub(crate) counters: Arc<ServerCounters>,
    pub(crate) changed: Arc<Notify>,
}

impl HealthTask {
    /// Checks every `interval` until cancelled.
    pub(crate) async fn run(self, cancel: CancellationToken) {
        let mut state =
            HealthState::new(self.counters.is_healthy(), self.check.rise, self.check.fall);
        let mut interval = tokio::time::interval(self.check.interval);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                _ = interval.tick() => {}
            }
            let passed = tokio::select! {
                () = cancel.cancelled() => return,
                passed = check_once(self.addr, &self.check) => passed,
            };
            if !passed {
                self.counters
                    .health_checks_failed
                    .fetch_add(1, Ordering::Relaxed);
            }
            if let Some(healthy) = state.observe(passed) {
                self.counters.healthy.store(healthy, Ordering::Relaxed);
                tracing::info!(
                    service = %self.service, server = %self.server, healthy, "Server health changed"
                );
                self.changed.notify_one();
            }
        }
    }
}

/// Runs one check within its timeout.
pub(crate) async fn check_once(addr: SocketAddr, check: &HealthCheck) -> bool {
    let attempt = async {
        let stream = TcpStream::connect(addr).await.ok()?;
        match &check.kind {
            HealthCheckKind::Tcp => Some(true),
            HealthCheckKind::Http {
                path,
                expect_status,
                body_contains,
            } => http_check(stream, addr, path, *expect_status, body_contains.as_deref()).await,
        }
    };
    matches!(
        tokio::time::timeout(check.timeout, attempt).await,
        Ok(Some(true))
    )
}

async fn http_check(
    mut stream: TcpStream,
    addr: SocketAddr,
    path: &str,
    expect_status: u16,
    body_contains: Option<&str>,
) -> Option<bool> {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: encluster-lb-check\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = Vec::new();
    let mut limited = (&mut stream).take(limits::HEALTH_BODY_READ_MAX as u64);
    limited.read_to_end(&mut response).await.ok()?;
    Some(response_matches(&response, expect_status, body_contains))
}

/// Whether a raw HTTP/1.x response has the expected status and body substring.
pub(crate) fn response_matches(response: &[u8], expect_status: u16, body: Option<&str>) -> bool {
    let Some(line_end) = response.windows(2).position(|window| window == b"\r\n") else {
        return false;
    };
    let status_line = String::from_utf8_lossy(&response[..line_end]);
    let mut parts = status_line.split(' ');
    let version_ok = parts
        .next()
        .is_some_and(|version| version.starts_with("HTTP/1."));
    let status = parts.next().and_then(|status| status.parse::<u16>().ok());
    if !version_ok || status != Some(expect_status) {
        return false;
    }
    let Some(expected) = body.filter(|expected| !expected.is_empty()) else {
        return true;
    };
    let Some(head_end) = response.windows(4).position(|window| window == b"\r\n\r\n") else {
        return false;
    };
    let body_bytes = &response[head_end + 4..];
    body_bytes
        .windows(expected.len())
        .any(|window| window == expected.as_bytes())
}

/// The longest a server keeps taking connections after it stopped answering: `fall` checks,
/// each started one interval apart and lasting at most the timeout.
pub fn fall_bound(check: &HealthCheck) -> Duration {
    check.interval * check.fall + check.timeout
}

/// The longest a server waits to take connections again after it recovered.
pub fn rise_bound(check: &HealthCheck) -> Duration {
    check.interval * check.rise + check.timeout
}

#[cfg(test)]
mod tests;
