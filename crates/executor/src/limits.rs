//! Every bound this crate puts on time, memory and concurrency, in one place.

use std::time::Duration;

/// The most resources one node carries out at once; assignments beyond it are ignored (the
/// lowest ids are kept, so the choice is deterministic) and logged.
pub(crate) const INSTANCE_COUNT_MAX: usize = 10_000;

/// The most operations running at once on this node. Stops go first when more are due.
pub(crate) const OPERATIONS_IN_FLIGHT_MAX: usize = 256;

/// The longest failure reason kept and reported; longer ones are cut at a character boundary.
pub(crate) const REASON_BYTES_MAX: usize = 1024;

/// The first wait before a failed stop is tried again; it doubles with every failure.
pub(crate) const STOP_RETRY_INITIAL: Duration = Duration::from_secs(1);

/// The longest wait between two attempts to stop a resource whose stop keeps failing.
pub(crate) const STOP_RETRY_MAX: Duration = Duration::from_secs(60);

/// The shortest timeout given to a self-fencing stop, even when the lease has already ended.
pub(crate) const FENCE_STOP_TIMEOUT_MIN: Duration = Duration::from_millis(100);

/// The default time before the lease ends at which unique resources are stopped. The lease
/// watchdog acts later ([`resource_agents::WATCHDOG_MARGIN`] before the end), so that with a
/// healthy agent the executor always acts first.
pub const FENCE_MARGIN_DEFAULT: Duration = Duration::from_millis(150);

/// How often the runtime lets the state machine look at the clock.
pub(crate) const TICK_INTERVAL: Duration = Duration::from_millis(20);

/// How often it does so while the state machine is idle (no instance, no unconfirmed
/// resource, no operation running): a tick then changes nothing, and every input that could
/// change that (an assignment, a lease, a report) is fed at once. Fifty wake-ups a second
/// were about a tenth of an idle agent's CPU (issue 18, point 2).
pub(crate) const IDLE_TICK_INTERVAL: Duration = Duration::from_millis(500);

/// How often an idle executor records the lease (`executor-lease.json`). With an instance
/// on the node every new lease is recorded before any command runs, so a watchdog never
/// reads an older one; while idle nothing reads it but a restarted agent, which finds no
/// instance to cover. Replacing the file ten times a second was an eighth of an idle
/// agent's CPU (ext4 allocates and frees blocks on every rename over a file).
pub(crate) const IDLE_LEASE_RECORD_EVERY: Duration = Duration::from_secs(1);

/// How long past an operation's own timeout the runtime waits before it gives up on the
/// resource agent (which should have returned `Timeout` itself, after killing its children).
pub(crate) const OPERATION_BACKSTOP_GRACE: Duration = Duration::from_secs(5);

/// How often a resource the cluster still doubts (see `Event::Unconfirmed`) is confirmed
/// stopped again, in case the earlier confirmation, or the stop report of an instance that
/// was just forgotten, is lost or still on its way.
pub(crate) const UNCONFIRMED_REPORT_INTERVAL: Duration = Duration::from_secs(5);

/// How many reports may wait for a slow reader before the oldest are dropped.
pub(crate) const REPORT_QUEUE_MAX: usize = 4096;

/// How many process-exit hints may wait for the event loop.
pub(crate) const EXIT_QUEUE_MAX: usize = 256;

/// How long shutdown waits for running operations to finish before it abandons them.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The largest assignment record read back from a state directory at startup.
pub(crate) const RECORD_BYTES_MAX: u64 = 1024 * 1024;

const _: () = assert!(OPERATIONS_IN_FLIGHT_MAX <= INSTANCE_COUNT_MAX);
const _: () = assert!(STOP_RETRY_INITIAL.as_millis() <= STOP_RETRY_MAX.as_millis());
const _: () = assert!(TICK_INTERVAL.as_millis() * 2 < FENCE_MARGIN_DEFAULT.as_millis());
const _: () = assert!(FENCE_STOP_TIMEOUT_MIN.as_millis() < FENCE_MARGIN_DEFAULT.as_millis());
const _: () = assert!(REPORT_QUEUE_MAX >= OPERATIONS_IN_FLIGHT_MAX);
const _: () = assert!(
    resource_agents::WATCHDOG_MARGIN.as_millis() < FENCE_MARGIN_DEFAULT.as_millis(),
    "the executor fences before the watchdog"
);
const _: () = assert!(
    resource_agents::WATCHDOG_RUN_MARGIN.as_millis()
        >= resource_agents::WATCHDOG_MARGIN.as_millis(),
    "a demote, which takes longer, begins no later than the other fences"
);
const _: () = assert!(
    resource_agents::WATCHDOG_MARGIN.as_millis() > 0,
    "the watchdog fences before the lease ends"
);

/// The longest an application is given to drain before its stop goes on (and at most half
/// of the stop's timeout).
pub(crate) const PREPARE_STOP_MAX: Duration = Duration::from_secs(10);

// --- notify ---
/// The longest a round of clone notifications (all instances told of one operation) may
/// take; an operation waits for its pre-notifications at most this long.
pub(crate) const NOTIFY_ROUND_MAX: Duration = Duration::from_secs(5);

/// How many notifications from other nodes may wait for the runtime.
pub const NOTIFY_CALL_QUEUE_MAX: usize = 64;

/// The most notifications running at once on this node; more are answered as failed.
pub(crate) const NOTIFY_RUNNING_MAX: usize = 64;
