//! A user-space stand-in for a host's watchdog device (issue 16, point 2), since tests never
//! arm a real `/dev/watchdog` (and this kernel has no `softdog`): a FIFO the agent opens as
//! its `[watchdog] device`, read by a thread of the test. Once the first pet arrives it is
//! armed; if `timeout` then passes without a pet, and without the magic close `V` of a
//! clean stop, it resets the host as a hardware watchdog would: the test bed's fence agent
//! (`fence/fence_netns`, action `off`) kills every process in the host's namespace, takes
//! its link down and drops its addresses.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;

/// How often the stand-in looks at the FIFO.
const POLL: Duration = Duration::from_millis(10);

/// What the stand-in saw.
#[derive(Clone, Debug, Default)]
pub struct WatchdogState {
    /// Pets received.
    pub pets: u64,
    /// When the last pet arrived.
    pub last_pet: Option<Instant>,
    /// Whether the agent disarmed it (the magic close `V`).
    pub disarmed: bool,
    /// When it reset the host, if it did.
    pub reset_at: Option<Instant>,
}

/// The stand-in of one host; stops watching when dropped.
pub struct WatchdogStandIn {
    /// The FIFO, for the host's `[watchdog] device`.
    pub path: PathBuf,
    state: Arc<Mutex<WatchdogState>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl WatchdogStandIn {
    /// Makes the FIFO `path` and watches it for the host in namespace `netns`. Start it
    /// before the agent: the agent's open of the device waits for this reader.
    pub fn start(path: &Path, netns: &str, timeout: Duration) -> anyhow::Result<Self> {
        nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .with_context(|| format!("mkfifo {}", path.display()))?;
        let fifo = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(path)
            .with_context(|| format!("open {}", path.display()))?;
        let state = Arc::new(Mutex::new(WatchdogState::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop, netns) = (state.clone(), stop.clone(), netns.to_owned());
            std::thread::spawn(move || watch(fifo, &state, &stop, &netns, timeout))
        };
        Ok(WatchdogStandIn {
            path: path.to_path_buf(),
            state,
            stop,
            thread: Some(thread),
        })
    }

    /// What it saw so far.
    pub fn state(&self) -> WatchdogState {
        self.state.lock().expect("watchdog state lock").clone()
    }
}

impl Drop for WatchdogStandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn watch(
    mut fifo: std::fs::File,
    state: &Mutex<WatchdogState>,
    stop: &AtomicBool,
    netns: &str,
    timeout: Duration,
) {
    let mut buffer = [0u8; 256];
    while !stop.load(Ordering::SeqCst) {
        match fifo.read(&mut buffer) {
            Ok(read) if read > 0 => {
                let mut seen = state.lock().expect("watchdog state lock");
                let bytes = &buffer[..read];
                seen.pets += bytes.iter().filter(|byte| **byte != b'V').count() as u64;
                seen.last_pet = Some(Instant::now());
                if bytes.last() == Some(&b'V') {
                    // Disarmed: a clean stop. A real driver stops counting down.
                    seen.disarmed = true;
                    return;
                }
                continue;
            }
            // No writer (not opened yet, or gone) or nothing written: check the timeout.
            Ok(_) => {}
            Err(error) if error.kind() == ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
        let expired = {
            let seen = state.lock().expect("watchdog state lock");
            seen.last_pet.is_some_and(|last| last.elapsed() > timeout)
        };
        if expired {
            reset(netns);
            state.lock().expect("watchdog state lock").reset_at = Some(Instant::now());
            return;
        }
        std::thread::sleep(POLL);
    }
}

/// Powers the host off with the test bed's fence agent, as a watchdog reset does.
fn reset(netns: &str) {
    let agent = concat!(env!("CARGO_MANIFEST_DIR"), "/fence/fence_netns");
    let child = Command::new(agent)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    if let Ok(mut child) = child {
        if let Some(mut stdin) = child.stdin.take() {
            let _ = writeln!(stdin, "action=off\nplug={netns}");
        }
        let _ = child.wait();
    }
}
