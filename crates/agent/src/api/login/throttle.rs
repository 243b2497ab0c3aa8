//! The lockout after repeated failed logins: a sans-IO book of failures per user name,
//! kept by the master (logins are decided there), fed with the boot clock's `now`.
//!
//! The first `LOGIN_FAILURES_FREE` failures in a row cost nothing; each further one locks
//! the name for twice as long as the one before (`LOGIN_LOCKOUT_FIRST` up to
//! `LOGIN_LOCKOUT_MAX`). A login refused while the name is locked is not even checked, so
//! guessing is bounded whatever the password. Names that do not exist are counted like
//! others, so a lockout tells nothing about which names exist. A success clears the name;
//! failures older than `LOGIN_FAILURES_FORGET` are forgotten. A new master starts with an
//! empty book: a failover gives an attacker at most one more round of free guesses.

use std::collections::BTreeMap;
use std::time::Duration;

use model::BootMs;

use crate::limits::{
    LOGIN_FAILURES_FORGET, LOGIN_FAILURES_FREE, LOGIN_LOCKOUT_FIRST, LOGIN_LOCKOUT_MAX,
    LOGIN_NAMES_MAX,
};

/// Failed logins of one name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Failures {
    count: u32,
    last: BootMs,
}

impl Failures {
    /// Until when this name is locked.
    fn locked_until(&self) -> BootMs {
        self.last.saturating_add(lockout(self.count))
    }
}

/// How long a name is locked after `count` failures in a row.
pub(crate) fn lockout(count: u32) -> Duration {
    let Some(beyond) = count.checked_sub(LOGIN_FAILURES_FREE) else {
        return Duration::ZERO;
    };
    let doubling = 2u32.saturating_pow(beyond.min(31));
    LOGIN_LOCKOUT_FIRST
        .saturating_mul(doubling)
        .min(LOGIN_LOCKOUT_MAX)
}

/// The failures per user name.
#[derive(Debug, Default)]
pub(crate) struct LoginThrottle {
    names: BTreeMap<String, Failures>,
}

impl LoginThrottle {
    /// `Err(wait)` while `name` is locked: the login is refused without a check.
    pub(crate) fn check(&self, name: &str, now: BootMs) -> Result<(), Duration> {
        let Some(failures) = self.names.get(name) else {
            return Ok(());
        };
        let until = failures.locked_until();
        if now < until {
            return Err(Duration::from_millis(until.0 - now.0));
        }
        Ok(())
    }

    /// A wrong password (or unknown name); returns the lockout it starts (zero if none)
    /// and the failures in a row so far.
    pub(crate) fn failure(&mut self, name: &str, now: BootMs) -> (Duration, u32) {
        self.forget_old(now);
        if !self.names.contains_key(name) && self.names.len() >= LOGIN_NAMES_MAX {
            self.evict_oldest();
        }
        let entry = self.names.entry(name.to_owned()).or_insert(Failures {
            count: 0,
            last: now,
        });
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
        (lockout(entry.count), entry.count)
    }

    /// A correct password: the name starts again with no failures.
    pub(crate) fn success(&mut self, name: &str) {
        self.names.remove(name);
    }

    fn forget_old(&mut self, now: BootMs) {
        self.names.retain(|_, failures| {
            now.0.saturating_sub(failures.locked_until().0) < ms(LOGIN_FAILURES_FORGET)
        });
    }

    fn evict_oldest(&mut self) {
        let oldest = self
            .names
            .iter()
            .min_by_key(|(_, failures)| failures.last)
            .map(|(name, _)| name.clone());
        if let Some(name) = oldest {
            self.names.remove(&name);
        }
    }
}

fn ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> BootMs {
        BootMs(1_000_000 + seconds * 1000)
    }

    #[test]
    fn the_free_failures_cost_nothing_then_each_doubles_the_lockout() {
        let mut throttle = LoginThrottle::default();
        for _ in 0..LOGIN_FAILURES_FREE - 1 {
            assert_eq!(throttle.failure("ann", at(0)).0, Duration::ZERO);
            assert_eq!(throttle.check("ann", at(0)), Ok(()));
        }
        assert_eq!(throttle.failure("ann", at(0)).0, LOGIN_LOCKOUT_FIRST);
        assert_eq!(throttle.check("ann", at(0)), Err(LOGIN_LOCKOUT_FIRST));
        assert_eq!(throttle.check("bob", at(0)), Ok(()), "other names are free");
        let after = at(LOGIN_LOCKOUT_FIRST.as_secs());
        assert_eq!(throttle.check("ann", after), Ok(()));
        assert_eq!(throttle.failure("ann", after).0, 2 * LOGIN_LOCKOUT_FIRST);
        assert_eq!(throttle.check("ann", after), Err(2 * LOGIN_LOCKOUT_FIRST));
    }

    #[test]
    fn the_lockout_stops_growing_at_its_maximum() {
        assert_eq!(lockout(0), Duration::ZERO);
        assert_eq!(lockout(LOGIN_FAILURES_FREE + 40), LOGIN_LOCKOUT_MAX);
        assert_eq!(lockout(u32::MAX), LOGIN_LOCKOUT_MAX);
    }

    #[test]
    fn a_success_or_a_long_quiet_time_clears_the_failures() {
        let mut throttle = LoginThrottle::default();
        for _ in 0..LOGIN_FAILURES_FREE {
            throttle.failure("ann", at(0));
        }
        throttle.success("ann");
        assert_eq!(throttle.check("ann", at(0)), Ok(()));
        for _ in 0..LOGIN_FAILURES_FREE {
            throttle.failure("ann", at(0));
        }
        let quiet = at(LOGIN_LOCKOUT_FIRST.as_secs() + LOGIN_FAILURES_FORGET.as_secs() + 1);
        assert_eq!(
            throttle.failure("ann", quiet),
            (Duration::ZERO, 1),
            "counted afresh"
        );
    }

    #[test]
    fn a_full_book_forgets_the_oldest_name() {
        let mut throttle = LoginThrottle::default();
        // One name a millisecond: all well within the time failures are remembered.
        for index in 0..LOGIN_NAMES_MAX as u64 {
            throttle.failure(&format!("user{index}"), BootMs(at(0).0 + index));
        }
        throttle.failure("late", BootMs(at(0).0 + LOGIN_NAMES_MAX as u64));
        assert_eq!(throttle.names.len(), LOGIN_NAMES_MAX);
        assert!(!throttle.names.contains_key("user0"));
        assert!(throttle.names.contains_key("late"));
    }
}
