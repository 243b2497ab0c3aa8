//! The systemd notify protocol (`sd_notify`): readiness, watchdog pets and stopping.
//!
//! Under `Type=notify` systemd passes `NOTIFY_SOCKET`, a Unix datagram socket (a path, or an
//! abstract name starting with `@`); each message is `KEY=VALUE` lines. `WatchdogSec=` also
//! passes `WATCHDOG_USEC` (and `WATCHDOG_PID`, the process it is meant for). Without those
//! variables (not under systemd) every call here does nothing. Written here instead of
//! linking libsystemd: it is one `sendto` per message.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Where to send notifications, from `NOTIFY_SOCKET`; `None` when not under systemd.
#[derive(Clone, Debug)]
pub(crate) struct Notifier {
    address: SocketAddr,
}

impl Notifier {
    /// The socket systemd gave this process, if any.
    pub(crate) fn from_env() -> Option<Notifier> {
        let path = std::env::var_os("NOTIFY_SOCKET")?;
        Notifier::parse(path.to_str()?)
    }

    /// A `NOTIFY_SOCKET` value: a path, or `@name` for an abstract socket.
    fn parse(path: &str) -> Option<Notifier> {
        let address = match path.strip_prefix('@') {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                SocketAddr::from_abstract_name(name.as_bytes())
            }
            None => SocketAddr::from_pathname(path),
        };
        match address {
            Ok(address) => Some(Notifier { address }),
            Err(error) => {
                warn!(%error, socket = %path, "NOTIFY_SOCKET is not a usable address");
                None
            }
        }
    }

    /// Send one message; a failure is logged, never fatal (systemd may be restarting).
    pub(crate) fn send(&self, message: &str) {
        let sent = UnixDatagram::unbound()
            .and_then(|socket| socket.send_to_addr(message.as_bytes(), &self.address));
        if let Err(error) = sent {
            warn!(%error, message, "Cannot notify systemd");
        }
    }
}

/// How often systemd wants a pet, from `WATCHDOG_USEC` (for this process if `WATCHDOG_PID`
/// names one); `None` when the unit has no `WatchdogSec=`.
pub(crate) fn watchdog_interval() -> Option<Duration> {
    let usec = std::env::var("WATCHDOG_USEC").ok();
    let pid = std::env::var("WATCHDOG_PID").ok();
    watchdog_interval_of(usec.as_deref(), pid.as_deref(), std::process::id())
}

/// `WATCHDOG_USEC` and `WATCHDOG_PID` read for the process `own_pid`.
fn watchdog_interval_of(usec: Option<&str>, pid: Option<&str>, own_pid: u32) -> Option<Duration> {
    if let Some(pid) = pid
        && pid.trim() != own_pid.to_string()
    {
        return None;
    }
    let usec: u64 = usec?.trim().parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// Tell systemd the agent serves (`READY=1`), then pet its watchdog at half its interval
/// until `shutdown`, and say `STOPPING=1` then. The pets come from a task of the agent's
/// runtime: a runtime that no longer runs its tasks stops petting and systemd restarts it.
pub(crate) async fn run(
    notifier: Option<Notifier>,
    watchdog: Option<Duration>,
    shutdown: CancellationToken,
) {
    let Some(notifier) = notifier else {
        return;
    };
    notifier.send(&format!("READY=1\nMAINPID={}", std::process::id()));
    info!("Told systemd the agent is ready");
    let interval = watchdog.map(|interval| interval / 2);
    if let Some(interval) = interval {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => notifier.send("WATCHDOG=1"),
                _ = shutdown.cancelled() => break,
            }
        }
    } else {
        shutdown.cancelled().await;
    }
    notifier.send("STOPPING=1");
}

#[cfg(test)]
mod tests;
