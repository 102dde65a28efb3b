//! Time sources for TTL expiry. [`SystemClock`] is the default; [`ManualClock`] is a clock a
//! test moves by hand, so TTL behaviour can be tested without sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of wall-clock time in milliseconds since the Unix epoch.
///
/// Expiry times are stored as absolute milliseconds, so a clock must agree with the one that
/// wrote the data across restarts; it should never go backwards (an expired entry may already
/// have been removed by compaction and cannot reappear).
pub trait Clock: Send + Sync {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    fn now_millis(&self) -> u64;
}

/// The operating system's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> u64 {
        // A clock set before 1970 reads as the epoch: entries then simply do not expire early.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to. Clones share the same time.
///
/// ```
/// use std::time::Duration;
/// use kv_api::{Clock, ManualClock};
/// let clock = ManualClock::new(1_000);
/// let c2 = clock.clone();
/// clock.advance(Duration::from_secs(2));
/// assert_eq!(c2.now_millis(), 3_000);
/// ```
#[derive(Clone, Debug, Default)]
pub struct ManualClock {
    now: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock reading `millis`.
    pub fn new(millis: u64) -> ManualClock {
        ManualClock {
            now: Arc::new(AtomicU64::new(millis)),
        }
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let _ = self
            .now
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_add(ms))
            });
    }

    /// Sets the clock to `millis`.
    pub fn set(&self, millis: u64) {
        self.now.store(millis, Ordering::Release);
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> u64 {
        self.now.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_saturates_and_shares() {
        let c = ManualClock::new(u64::MAX - 5);
        let d = c.clone();
        c.advance(Duration::from_millis(100));
        assert_eq!(d.now_millis(), u64::MAX);
        d.set(7);
        assert_eq!(c.now_millis(), 7);
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now_millis() > 1_577_836_800_000);
    }
}
