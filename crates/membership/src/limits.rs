//! Every bound this crate enforces, in one place.

use std::time::Duration;

/// The longest span any detector setting may have. Longer values are configuration mistakes
/// (a node silent for an hour is long gone), and the bound keeps millisecond arithmetic far
/// from overflow.
pub const DETECTOR_DURATION_MAX: Duration = Duration::from_secs(60 * 60);

/// How many recent down transitions a node remembers for flap damping. Probation doubles per
/// remembered flap, so beyond about 40 entries it is capped by `rejoin_stable_max` anyway.
pub const FLAP_HISTORY_MAX: usize = 64;

/// At most one tracked node in this many may be judged down per `down_after` on ambiguous
/// evidence (its Raft side still answering, or lag it reported); at least one always may.
/// A real failure of more nodes at once waits for clear evidence, twice `down_after`.
pub const UNCORROBORATED_SHARE: usize = 8;

/// Event-loop lag a node reports below this is timer noise, not a slow node: it neither
/// lengthens the wait for a down verdict nor makes the node's silence ambiguous.
pub const LAG_NOTICED_MS: u64 = 50;

const _: () = assert!(FLAP_HISTORY_MAX >= 2);
const _: () = assert!(DETECTOR_DURATION_MAX.as_millis() < u32::MAX as u128);
