//! Every bound this crate puts on time, memory and output, in one place.

use std::time::Duration;

/// How much of a script's or process's output is kept for a failure reason.
pub(crate) const OUTPUT_TAIL_BYTES: usize = 2048;

/// How long to keep reading a finished script's output. A daemon it started in the
/// background may hold the pipes open forever, so reading stops after this grace.
pub(crate) const OUTPUT_DRAIN_GRACE: Duration = Duration::from_millis(200);

/// How long a process group may take to vanish after SIGKILL before we give up on it.
pub(crate) const KILL_WAIT: Duration = Duration::from_secs(2);

/// How often to check whether a signalled process group is gone.
pub(crate) const GROUP_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// How long an OCF agent may take to print its meta-data.
pub(crate) const META_DATA_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest meta-data document accepted.
pub(crate) const META_DATA_BYTES_MAX: usize = 1024 * 1024;

/// The deepest element nesting accepted in meta-data.
pub(crate) const XML_DEPTH_MAX: usize = 32;

/// How often a starting process is probed until it answers.
pub(crate) const PROBE_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// The longest single probe attempt while a process starts (each attempt is also bounded
/// by what is left of the start timeout).
pub(crate) const PROBE_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// The most bytes read of an HTTP probe's response, which only needs the status line.
pub(crate) const HTTP_RESPONSE_HEAD_BYTES_MAX: usize = 8 * 1024;

/// How long a stop waits for a lease watchdog that has begun to fence to record when.
pub(crate) const FENCING_SETTLE_MAX: Duration = Duration::from_secs(1);

/// How many exit notifications of supervised processes may wait for a slow reader.
pub(crate) const EXIT_EVENTS_CAPACITY: usize = 256;

const _: () = assert!(OUTPUT_TAIL_BYTES <= META_DATA_BYTES_MAX);
const _: () = assert!(GROUP_POLL_INTERVAL.as_millis() * 10 <= KILL_WAIT.as_millis());
const _: () = assert!(PROBE_POLL_INTERVAL.as_millis() < PROBE_ATTEMPT_TIMEOUT.as_millis());
const _: () = assert!(GROUP_POLL_INTERVAL.as_millis() * 10 <= FENCING_SETTLE_MAX.as_millis());

/// The largest notify datagram read; longer ones are cut (systemd allows about as much).
pub(crate) const NOTIFY_DATAGRAM_BYTES_MAX: usize = 4096;

/// The longest `STATUS=` text kept from a notify message.
pub(crate) const NOTIFY_STATUS_BYTES_MAX: usize = 512;

/// How far `EXTEND_TIMEOUT_USEC=` may push a start past its timeout: less than the
/// executor's backstop grace, which ends any operation 5 s after its timeout.
pub(crate) const NOTIFY_EXTEND_MAX: Duration = Duration::from_secs(4);
