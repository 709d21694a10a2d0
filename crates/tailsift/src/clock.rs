//! Time as the engine sees it.
//!
//! Nothing in the engine reads the wall clock directly. Every timing rule (completion grace,
//! decision wait, controller intervals, rate limits) is computed from the [`Clock`] the engine was
//! built with, so tests drive a [`ManualClock`] and get the same answer every run, with no sleeps.
//! Times are [`Duration`]s since an arbitrary, clock-specific epoch; only differences matter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A source of monotonic time.
pub trait Clock: Send + Sync + 'static {
    /// The current time, as a duration since the clock's epoch. Never goes backwards.
    fn now(&self) -> Duration;
}

/// The real monotonic clock (`std::time::Instant`), with its epoch at construction.
#[derive(Debug, Clone)]
pub struct SystemClock {
    epoch: Instant,
}

impl SystemClock {
    /// A clock whose epoch is now.
    pub fn new() -> SystemClock {
        SystemClock {
            epoch: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> SystemClock {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }
}

/// A clock that moves only when told to. Cloning shares the same time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock at time zero.
    pub fn new() -> ManualClock {
        ManualClock::default()
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.nanos.fetch_add(nanos(by), Ordering::SeqCst);
    }

    /// Sets the clock to `to`, if that is not in the past (a clock never goes backwards).
    pub fn set(&self, to: Duration) {
        self.nanos.fetch_max(nanos(to), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
}

/// A duration in whole nanoseconds, saturating at `u64::MAX` (584 years): engine times and
/// durations as plain integers, without `u128` arithmetic on the hot paths.
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_never_goes_backwards() {
        let clock = ManualClock::new();
        clock.advance(Duration::from_secs(5));
        clock.set(Duration::from_secs(3));
        assert_eq!(clock.now(), Duration::from_secs(5));
        let shared = clock.clone();
        shared.set(Duration::from_secs(7));
        assert_eq!(clock.now(), Duration::from_secs(7));
    }
}
