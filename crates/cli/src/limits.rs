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
