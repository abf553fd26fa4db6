//! Time units. Spans carry Unix nanoseconds; durations are nanoseconds too, so no
//! arithmetic ever mixes units silently.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time as nanoseconds since the Unix epoch (what OTLP carries).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct UnixNanos(pub u64);

/// A length of time in nanoseconds.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct DurationNanos(pub u64);

impl UnixNanos {
    pub fn now() -> Self {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Self(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }

    pub fn from_micros(us: u64) -> Self {
        Self(us.saturating_mul(1_000))
    }

    pub fn as_micros(self) -> u64 {
        self.0 / 1_000
    }

    /// Duration from `earlier` to `self`, zero when `earlier` is later.
    pub fn saturating_since(self, earlier: UnixNanos) -> DurationNanos {
        DurationNanos(self.0.saturating_sub(earlier.0))
    }

    pub fn saturating_sub(self, d: DurationNanos) -> UnixNanos {
        UnixNanos(self.0.saturating_sub(d.0))
    }

    pub fn saturating_add(self, d: DurationNanos) -> UnixNanos {
        UnixNanos(self.0.saturating_add(d.0))
    }
}

impl DurationNanos {
    pub fn from_micros(us: u64) -> Self {
        Self(us.saturating_mul(1_000))
    }

    pub fn as_micros(self) -> u64 {
        self.0 / 1_000
    }

    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / 1_000_000.0
    }
}

impl From<Duration> for DurationNanos {
    fn from(d: Duration) -> Self {
        Self(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }
}
