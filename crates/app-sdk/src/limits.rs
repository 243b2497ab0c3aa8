//! Every limit of the application protocol, in one place.

use std::time::Duration;

/// The longest line (one message, newline included) either side sends or accepts. A
/// longer one is refused with `too_large` and the connection is closed, since the reader
/// cannot know where the next message starts.
pub const MESSAGE_BYTES_MAX: usize = 256 * 1024;

/// The largest checkpoint, in bytes before base64.
pub const CHECKPOINT_BYTES_MAX: usize = 64 * 1024;

/// The most checkpoint bytes one resource may hold, all names together.
pub const CHECKPOINT_TOTAL_BYTES_MAX: usize = 1024 * 1024;

/// The longest checkpoint name, in bytes.
pub const CHECKPOINT_NAME_BYTES_MAX: usize = 64;

/// How long an unauthenticated connection may wait before its `hello`.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the SDK waits for the answer to one request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// How long the SDK keeps trying to reach a restarted agent before it gives up.
pub const RECONNECT_FOR: Duration = Duration::from_secs(120);

/// The first pause between reconnection attempts; it doubles up to [`RECONNECT_PAUSE_MAX`].
pub const RECONNECT_PAUSE_MIN: Duration = Duration::from_millis(50);

/// The longest pause between reconnection attempts.
pub const RECONNECT_PAUSE_MAX: Duration = Duration::from_secs(2);

/// How many agent events the SDK keeps for the application before the oldest are lost.
pub const EVENT_QUEUE_MAX: usize = 64;

// A checkpoint, base64-encoded with its envelope, must fit in one message.
const _: () = assert!(CHECKPOINT_BYTES_MAX * 4 / 3 + 1024 < MESSAGE_BYTES_MAX);
const _: () = assert!(CHECKPOINT_BYTES_MAX <= CHECKPOINT_TOTAL_BYTES_MAX);
