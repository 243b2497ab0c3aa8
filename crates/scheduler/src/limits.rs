//! The scheduler's limits.

/// The most placement passes in one round. Passes repeat only while capacity reservations
/// change the result (see `placement::place`); 10,000 generated clusters needed at most four,
/// and a bound keeps a pathological input from looping.
pub(crate) const PLACEMENT_PASS_MAX: usize = 8;

const _: () = assert!(
    PLACEMENT_PASS_MAX >= 2,
    "a second pass is what makes plans converge"
);
