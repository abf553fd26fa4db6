//! What `clew gen` counts while it runs and the report it prints at the end.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use super::send::Answer;
use super::server_metrics::Counts;

#[derive(Default, Debug)]
pub struct Stats {
    pub sent: u64,
    pub acknowledged: u64,
    pub refused: BTreeMap<String, u64>,
    pub requests: u64,
    pub failed_requests: u64,
    /// UDP packets sent, and the spans they carried.
    pub packets: u64,
    pub spans_in_packets: u64,
    /// Request latencies in microseconds; sorted once for the report (a histogram crate
    /// would be overkill for a few hundred thousand values).
    pub latencies_us: Vec<u32>,
}

impl Stats {
    pub fn record(&mut self, spans: u64, answer: Answer, latency: Duration) {
        self.sent += spans;
        self.requests += 1;
        self.acknowledged += answer.acknowledged;
        self.packets += answer.packets;
        self.spans_in_packets += answer.spans_in_packets;
        if let Some((reason, n)) = answer.refused {
            if answer.acknowledged == 0 && answer.packets == 0 {
                self.failed_requests += 1;
            }
            *self.refused.entry(reason).or_default() += n;
        }
        self.latencies_us
            .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
    }

    /// `server`: what the server's `/metrics` counted during the run, if read.
    pub fn report(mut self, elapsed: Duration, udp: bool, server: Option<Counts>) -> Report {
        self.latencies_us.sort_unstable();
        let secs = elapsed.as_secs_f64();
        let per_sec = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        Report {
            rate: per_sec(self.acknowledged),
            sent_rate: per_sec(self.spans_in_packets),
            udp,
            server,
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
    /// Acknowledged spans per second (0 over UDP).
    pub rate: f64,
    /// Spans per second sent in UDP packets.
    pub sent_rate: f64,
    pub udp: bool,
    pub server: Option<Counts>,
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
        if self.udp {
            writeln!(f, "spans acknowledged: n/a (UDP has no acknowledgement)")?;
        } else {
            writeln!(f, "spans acknowledged: {}", s.acknowledged)?;
        }
        write!(f, "spans refused: {refused}")?;
        if !s.refused.is_empty() {
            let by: Vec<String> = s.refused.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            write!(f, " ({})", by.join(", "))?;
        }
        writeln!(f)?;
        writeln!(f, "requests: {} ({} failed)", s.requests, s.failed_requests)?;
        if self.udp {
            writeln!(f, "udp packets sent: {}", s.packets)?;
            writeln!(f, "spans sent in packets: {}", s.spans_in_packets)?;
        }
        writeln!(f, "elapsed: {:.3} s", self.elapsed.as_secs_f64())?;
        if self.udp {
            writeln!(f, "sent spans/s: {:.0}", self.sent_rate)?;
        } else {
            writeln!(f, "acknowledged spans/s: {:.0}", self.rate)?;
        }
        // Over UDP this is the time to encode and send a batch's packets.
        writeln!(
            f,
            "request latency ms: p50 {:.2} p90 {:.2} p99 {:.2} max {:.2}",
            ms(self.p50),
            ms(self.p90),
            ms(self.p99),
            ms(self.max)
        )?;
        let Some(c) = &self.server else {
            return Ok(());
        };
        writeln!(f, "server spans accepted: {}", c.spans_accepted)?;
        writeln!(f, "server spans refused: {}", c.spans_refused)?;
        if self.udp {
            writeln!(f, "server udp packets received: {}", c.udp_packets_received)?;
            writeln!(
                f,
                "server udp packets queue full: {}",
                c.udp_packets_queue_full
            )?;
            writeln!(
                f,
                "server udp packets malformed: {}",
                c.udp_packets_malformed
            )?;
            writeln!(f, "server udp spans received: {}", c.udp_spans_received)?;
            writeln!(f, "server udp spans accepted: {}", c.udp_spans_accepted)?;
            writeln!(f, "server udp spans rejected: {}", c.udp_spans_rejected)?;
            writeln!(f, "server udp spans dropped: {}", c.udp_spans_dropped)?;
            // Packets the kernel dropped (full socket buffer) or the server's full queue did:
            // their spans were never decoded.
            writeln!(
                f,
                "udp packets lost before decoding: {}",
                s.packets
                    .saturating_sub(c.udp_packets_decoded + c.udp_packets_malformed)
            )?;
            let lost = s.spans_in_packets.saturating_sub(c.udp_spans_received);
            writeln!(f, "udp spans lost before decoding: {lost}")?;
            let secs = self.elapsed.as_secs_f64();
            let accepted = if secs > 0.0 {
                c.udp_spans_accepted as f64 / secs
            } else {
                0.0
            };
            writeln!(f, "server accepted spans/s: {accepted:.0}")?;
        }
        Ok(())
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
            ..Answer::default()
        };
        let partial = Answer {
            acknowledged: 8,
            refused: Some(("partial".into(), 2)),
            ..Answer::default()
        };
        let busy = Answer {
            refused: Some(("http 429".into(), 10)),
            ..Answer::default()
        };
        for a in [ok, partial, busy] {
            s.record(10, a, Duration::from_millis(3));
        }
        let r = s.report(Duration::from_secs(2), false, None);
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
