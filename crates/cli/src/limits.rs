//! Every limit of the CLI in one place.

use std::time::Duration;

/// The largest CLI config file read; it only holds three short settings.
pub(crate) const CLI_CONFIG_BYTES_MAX: u64 = 64 * 1024;

/// How long one `events --follow` request waits on the server for a new event.
/// It must stay below the API client's 30 s request timeout.
pub(crate) const FOLLOW_WAIT_MS: u64 = 10_000;

/// The first pause after a failed `events --follow` request.
pub(crate) const FOLLOW_BACKOFF_MIN: Duration = Duration::from_millis(100);

/// The longest pause between retries of `events --follow`.
pub(crate) const FOLLOW_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// The most requests `events` makes to page through to the newest events.
pub(crate) const EVENT_PAGES_MAX: usize = 1_000;

/// The most events `events --last` keeps in memory.
pub(crate) const EVENTS_LAST_MAX: usize = 100_000;

const _: () = assert!(FOLLOW_WAIT_MS < 30_000);
const _: () = assert!(FOLLOW_BACKOFF_MIN.as_millis() < FOLLOW_BACKOFF_MAX.as_millis());

/// How often `--wait` asks for the state.
pub(crate) const WAIT_POLL_INTERVAL: Duration = Duration::from_millis(200);

/// How long `--wait` waits unless `--timeout` says otherwise.
pub(crate) const WAIT_TIMEOUT_DEFAULT: Duration = Duration::from_secs(60);

/// The most resource names one progress line lists before "and N more".
pub(crate) const PROGRESS_NAMES_MAX: usize = 5;

/// The largest `apply -f` file read: the agent takes request bodies up to 256 KiB, and the
/// JSON of a cluster file is about as long as its TOML.
pub(crate) const CLUSTER_FILE_BYTES_MAX: u64 = 256 * 1024;

/// The longest answer read for the `apply` confirmation prompt.
pub(crate) const ANSWER_BYTES_MAX: u64 = 1024;

const _: () = assert!(WAIT_POLL_INTERVAL.as_millis() < WAIT_TIMEOUT_DEFAULT.as_millis());

// --- rotate ---
/// How often `cert rotate` and `cert ca` ask whether every node is done.
pub(crate) const CERT_POLL_INTERVAL: Duration = Duration::from_millis(200);
