//! Every bound this crate enforces, in one place.

use std::time::Duration;

/// The longest span any detector setting may have. Longer values are configuration mistakes
/// (a node silent for an hour is long gone), and the bound keeps millisecond arithmetic far
/// from overflow.
pub const DETECTOR_DURATION_MAX: Duration = Duration::from_secs(60 * 60);

/// How many recent down transitions a node remembers for flap damping. Probation doubles per
/// remembered flap, so beyond about 40 entries it is capped by `rejoin_stable_max` anyway.
pub const FLAP_HISTORY_MAX: usize = 64;

const _: () = assert!(FLAP_HISTORY_MAX >= 2);
const _: () = assert!(DETECTOR_DURATION_MAX.as_millis() < u32::MAX as u128);
