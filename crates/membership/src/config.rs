//! The failure detector's timing settings and their validation.

use std::time::Duration;

use crate::limits::DETECTOR_DURATION_MAX;

/// How long silence may last before the master changes its view of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetectorConfig {
    /// Silence after which an online node becomes suspect (heartbeats come every ~100 ms).
    pub suspect_after: Duration,
    /// Silence after which a node is down and its work may be taken over.
    pub down_after: Duration,
    /// How long a node that was down must heartbeat without a suspicious gap before it is
    /// online again (its first probation, before any flap penalty).
    pub rejoin_stable: Duration,
    /// The cap on the probation after flap penalties have doubled it.
    pub rejoin_stable_max: Duration,
    /// Down transitions older than this no longer count as flaps.
    pub flap_window: Duration,
}

impl Default for DetectorConfig {
    /// The product defaults: suspect at 300 ms, down at 500 ms, 300 ms probation doubling
    /// per flap in the last minute up to 10 s.
    fn default() -> DetectorConfig {
        DetectorConfig {
            suspect_after: Duration::from_millis(300),
            down_after: Duration::from_millis(500),
            rejoin_stable: Duration::from_millis(300),
            rejoin_stable_max: Duration::from_secs(10),
            flap_window: Duration::from_secs(60),
        }
    }
}

/// Why a [`DetectorConfig`] cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{field} must be at least 1 ms, got {value:?}")]
    TooShort {
        field: &'static str,
        value: Duration,
    },
    #[error("{field} must be at most {max:?}, got {value:?}")]
    TooLong {
        field: &'static str,
        value: Duration,
        max: Duration,
    },
    #[error("suspect_after ({suspect_after:?}) must be shorter than down_after ({down_after:?})")]
    SuspectNotBeforeDown {
        suspect_after: Duration,
        down_after: Duration,
    },
    #[error(
        "rejoin_stable ({rejoin_stable:?}) must not exceed rejoin_stable_max \
         ({rejoin_stable_max:?})"
    )]
    RejoinAboveMax {
        rejoin_stable: Duration,
        rejoin_stable_max: Duration,
    },
}

impl DetectorConfig {
    /// Checks that every span is between 1 ms and [`DETECTOR_DURATION_MAX`], that a node is
    /// suspect before it is down, and that the probation cap is not below the probation.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fields = [
            ("suspect_after", self.suspect_after),
            ("down_after", self.down_after),
            ("rejoin_stable", self.rejoin_stable),
            ("rejoin_stable_max", self.rejoin_stable_max),
            ("flap_window", self.flap_window),
        ];
        for (field, value) in fields {
            if value < Duration::from_millis(1) {
                return Err(ConfigError::TooShort { field, value });
            }
            if value > DETECTOR_DURATION_MAX {
                return Err(ConfigError::TooLong {
                    field,
                    value,
                    max: DETECTOR_DURATION_MAX,
                });
            }
        }
        if self.suspect_after >= self.down_after {
            return Err(ConfigError::SuspectNotBeforeDown {
                suspect_after: self.suspect_after,
                down_after: self.down_after,
            });
        }
        if self.rejoin_stable > self.rejoin_stable_max {
            return Err(ConfigError::RejoinAboveMax {
                rejoin_stable: self.rejoin_stable,
                rejoin_stable_max: self.rejoin_stable_max,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
