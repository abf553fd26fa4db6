//! What `clew gen` counts while it runs and the report it prints at the end.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use super::send::Answer;

#[derive(Default, Debug)]
pub struct Stats {
    pub sent: u64,
    pub acknowledged: u64,
    pub refused: BTreeMap<String, u64>,
    pub requests: u64,
    pub failed_requests: u64,
    /// Request latencies in microseconds; sorted once for the report (a histogram crate
    /// would be overkill for a few hundred thousand values).
    pub latencies_us: Vec<u32>,
}

impl Stats {
    pub fn record(&mut self, spans: u64, answer: Answer, latency: Duration) {
        self.sent += spans;
        self.requests += 1;
        self.acknowledged += answer.acknowledged;
        if let Some((reason, n)) = answer.refused {
            if answer.acknowledged == 0 {
                self.failed_requests += 1;
            }
            *self.refused.entry(reason).or_default() += n;
        }
        self.latencies_us
            .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
    }

    pub fn report(mut self, elapsed: Duration) -> Report {
        self.latencies_us.sort_unstable();
        let secs = elapsed.as_secs_f64();
        Report {
            rate: if secs > 0.0 {
                self.acknowledged as f64 / secs
            } else {
                0.0
            },
            p50: percentile(&self.latencies_us, 0.50),
            p90: percentile(&self.latencies_us, 0.90),
            p99: percentile(&self.latencies_us, 0.99),
            max: self.latencies_us.last().copied().unwrap_or(0),
            elapsed,
            stats: self,
        }
    }
}

/// Nearest-rank percentile of sorted values; 0 when there are none.
pub fn percentile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub struct Report {
    pub stats: Stats,
    pub elapsed: Duration,
    pub rate: f64,
    pub p50: u32,
    pub p90: u32,
    pub p99: u32,
    pub max: u32,
}

fn ms(us: u32) -> f64 {
    f64::from(us) / 1000.0
}

/// One `key: value` per line so scripts and tests can pick figures out with a regex.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.stats;
        let refused: u64 = s.refused.values().sum();
        writeln!(f, "spans sent: {}", s.sent)?;
        writeln!(f, "spans acknowledged: {}", s.acknowledged)?;
        write!(f, "spans refused: {refused}")?;
        if !s.refused.is_empty() {
            let by: Vec<String> = s.refused.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            write!(f, " ({})", by.join(", "))?;
        }
        writeln!(f)?;
        writeln!(f, "requests: {} ({} failed)", s.requests, s.failed_requests)?;
        writeln!(f, "elapsed: {:.3} s", self.elapsed.as_secs_f64())?;
        writeln!(f, "acknowledged spans/s: {:.0}", self.rate)?;
        writeln!(
            f,
            "request latency ms: p50 {:.2} p90 {:.2} p99 {:.2} max {:.2}",
            ms(self.p50),
            ms(self.p90),
            ms(self.p99),
            ms(self.max)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), 50);
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile(&v, 1.0), 100);
        assert_eq!(percentile(&[7], 0.5), 7);
        assert_eq!(percentile(&[], 0.5), 0);
    }

    #[test]
    fn refusals_are_counted_by_reason() {
        let mut s = Stats::default();
        let ok = Answer {
            acknowledged: 10,
            refused: None,
        };
        let partial = Answer {
            acknowledged: 8,
            refused: Some(("partial".into(), 2)),
        };
        let busy = Answer {
            acknowledged: 0,
            refused: Some(("http 429".into(), 10)),
        };
        for a in [ok, partial, busy] {
            s.record(10, a, Duration::from_millis(3));
        }
        let r = s.report(Duration::from_secs(2));
        assert_eq!((r.stats.sent, r.stats.acknowledged), (30, 18));
        assert_eq!(r.stats.failed_requests, 1);
        assert_eq!(r.rate, 9.0);
        let text = r.to_string();
        assert!(text.contains("spans acknowledged: 18\n"), "{text}");
        assert!(
            text.contains("spans refused: 12 (http 429: 10, partial: 2)"),
            "{text}"
        );
    }
}
