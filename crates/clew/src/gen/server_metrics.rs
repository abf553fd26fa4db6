//! What the server counted during a `clew gen` run, read from its admin `/metrics` before and
//! after: the only way to learn how many UDP spans arrived, and a cross-check for the
//! acknowledged protocols. Deltas include any other traffic on the same protocol.

use std::time::Duration;

use anyhow::{Context, bail};
use tokio::time::Instant;

use crate::cli::http;

/// The counters `clew gen` reads for one protocol (the server's `protocol` label).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub spans_accepted: u64,
    pub spans_refused: u64,
    pub udp_packets_received: u64,
    pub udp_packets_queue_full: u64,
    pub udp_packets_malformed: u64,
    pub udp_packets_decoded: u64,
    pub udp_packets_dropped: u64,
    pub udp_spans_received: u64,
    pub udp_spans_accepted: u64,
    pub udp_spans_rejected: u64,
    pub udp_spans_dropped: u64,
}

impl Counts {
    /// Picks the counters for `protocol` out of Prometheus text exposition.
    pub fn parse(text: &str, protocol: &str) -> Self {
        let mut c = Counts::default();
        for line in text.lines() {
            let Some((name, labels, value)) = sample(line) else {
                continue;
            };
            if label(labels, "protocol") != Some(protocol) {
                continue;
            }
            let outcome = label(labels, "outcome").unwrap_or("");
            let slot = match (name, outcome) {
                ("clew_receiver_spans_accepted_total", _) => &mut c.spans_accepted,
                ("clew_receiver_spans_refused_total", _) => &mut c.spans_refused,
                ("clew_udp_packets_total", "received") => &mut c.udp_packets_received,
                ("clew_udp_packets_total", "queue_full") => &mut c.udp_packets_queue_full,
                ("clew_udp_packets_total", "malformed") => &mut c.udp_packets_malformed,
                ("clew_udp_packets_total", "decoded") => &mut c.udp_packets_decoded,
                ("clew_udp_packets_total", "dropped") => &mut c.udp_packets_dropped,
                ("clew_udp_spans_total", "received") => &mut c.udp_spans_received,
                ("clew_udp_spans_total", "accepted") => &mut c.udp_spans_accepted,
                ("clew_udp_spans_total", "rejected") => &mut c.udp_spans_rejected,
                ("clew_udp_spans_total", "dropped") => &mut c.udp_spans_dropped,
                _ => continue,
            };
            *slot += value;
        }
        c
    }

    /// `self - earlier`, counter by counter (a restarted server would make this negative:
    /// saturate rather than wrap).
    pub fn since(&self, earlier: &Counts) -> Counts {
        let d = |a: u64, b: u64| a.saturating_sub(b);
        Counts {
            spans_accepted: d(self.spans_accepted, earlier.spans_accepted),
            spans_refused: d(self.spans_refused, earlier.spans_refused),
            udp_packets_received: d(self.udp_packets_received, earlier.udp_packets_received),
            udp_packets_queue_full: d(self.udp_packets_queue_full, earlier.udp_packets_queue_full),
            udp_packets_malformed: d(self.udp_packets_malformed, earlier.udp_packets_malformed),
            udp_packets_decoded: d(self.udp_packets_decoded, earlier.udp_packets_decoded),
            udp_packets_dropped: d(self.udp_packets_dropped, earlier.udp_packets_dropped),
            udp_spans_received: d(self.udp_spans_received, earlier.udp_spans_received),
            udp_spans_accepted: d(self.udp_spans_accepted, earlier.udp_spans_accepted),
            udp_spans_rejected: d(self.udp_spans_rejected, earlier.udp_spans_rejected),
            udp_spans_dropped: d(self.udp_spans_dropped, earlier.udp_spans_dropped),
        }
    }

    /// Every packet read was dropped from the full queue or decoded (well or not), and every
    /// decoded span has an outcome: nothing is waiting in the server's queue or write.
    fn udp_settled(&self) -> bool {
        self.udp_packets_received
            == self.udp_packets_queue_full + self.udp_packets_malformed + self.udp_packets_decoded
            && self.udp_spans_received
                == self.udp_spans_accepted + self.udp_spans_rejected + self.udp_spans_dropped
    }
}

/// `name{labels} value` → (name, labels, value); comments, histograms' floats and anything
/// unreadable are skipped.
fn sample(line: &str) -> Option<(&str, &str, u64)> {
    if line.starts_with('#') {
        return None;
    }
    let (series, value) = line.rsplit_once(' ')?;
    let value: f64 = value.parse().ok()?;
    let (name, labels) = match series.split_once('{') {
        Some((name, rest)) => (name, rest.strip_suffix('}')?),
        None => (series, ""),
    };
    // Counters are whole numbers; prometheus-client may print them as floats.
    (value >= 0.0 && value.is_finite()).then_some((name, labels, value as u64))
}

/// The value of `key` in `a="x",b="y"` (our label values never contain quotes or commas).
fn label<'a>(labels: &'a str, key: &str) -> Option<&'a str> {
    labels.split(',').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"'))
    })
}

/// Reads the admin endpoint's `/metrics`.
pub struct Admin {
    url: String,
    protocol: &'static str,
}

impl Admin {
    pub fn new(base: &str, protocol: &'static str) -> Self {
        Self {
            url: format!("{}/metrics", base.trim_end_matches('/')),
            protocol,
        }
    }

    pub async fn read(&self) -> anyhow::Result<Counts> {
        let (status, body) = http::get(&self.url, &[]).await?;
        if status != 200 {
            bail!("{} answered HTTP {status}", self.url);
        }
        let text = std::str::from_utf8(&body).with_context(|| format!("reading {}", self.url))?;
        Ok(Counts::parse(text, self.protocol))
    }

    /// Reads until the server has dealt with what it received: for UDP, every packet it read
    /// is decoded (or dropped) and every span has an outcome, and the counters have stopped
    /// moving for `quiet`; gives up at `deadline` with the last reading.
    pub async fn read_settled(
        &self,
        quiet: Duration,
        deadline: Duration,
    ) -> anyhow::Result<Counts> {
        let give_up = Instant::now() + deadline;
        let mut last = self.read().await?;
        let mut still_since = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = self.read().await?;
            if now != last {
                last = now;
                still_since = Instant::now();
            } else if last.udp_settled() && still_since.elapsed() >= quiet {
                return Ok(last);
            }
            if Instant::now() >= give_up {
                return Ok(last);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP clew_udp_spans Spans from Jaeger agent UDP packets
# TYPE clew_udp_spans counter
clew_udp_spans_total{protocol="jaeger-udp-compact",outcome="received"} 1200
clew_udp_spans_total{protocol="jaeger-udp-compact",outcome="accepted"} 1100
clew_udp_spans_total{protocol="jaeger-udp-compact",outcome="dropped"} 100
clew_udp_spans_total{protocol="jaeger-udp-binary",outcome="received"} 5
clew_udp_packets_total{protocol="jaeger-udp-compact",outcome="received"} 9
clew_udp_packets_total{protocol="jaeger-udp-compact",outcome="queue_full"} 2
clew_udp_packets_total{protocol="jaeger-udp-compact",outcome="decoded"} 7
clew_receiver_spans_accepted_total{protocol="jaeger-udp-compact"} 1100
clew_receiver_spans_accepted_total{protocol="otlp-grpc"} 77
clew_receiver_spans_refused_total{protocol="jaeger-udp-compact"} 3.0
"#;

    #[test]
    fn counters_are_picked_by_protocol_and_outcome() {
        let c = Counts::parse(TEXT, "jaeger-udp-compact");
        assert_eq!(c.udp_spans_received, 1200);
        assert_eq!(c.udp_spans_accepted, 1100);
        assert_eq!(c.udp_spans_dropped, 100);
        assert_eq!(c.udp_packets_received, 9);
        assert_eq!(c.udp_packets_queue_full, 2);
        assert_eq!(c.udp_packets_decoded, 7);
        assert_eq!(c.spans_accepted, 1100);
        assert_eq!(c.spans_refused, 3);
        assert!(c.udp_settled());
        assert_eq!(Counts::parse(TEXT, "otlp-grpc").spans_accepted, 77);
        assert_eq!(
            Counts::parse("garbage\n{ 1\nx{protocol=\"a\"} y", "a"),
            Counts::default()
        );
    }

    #[test]
    fn deltas_saturate() {
        let before = Counts {
            spans_accepted: 10,
            ..Counts::default()
        };
        let after = Counts {
            spans_accepted: 25,
            ..Counts::default()
        };
        assert_eq!(after.since(&before).spans_accepted, 15);
        assert_eq!(before.since(&after).spans_accepted, 0);
    }

    #[test]
    fn unsettled_udp_counts_are_seen() {
        let c = Counts {
            udp_spans_received: 10,
            udp_spans_accepted: 4,
            ..Counts::default()
        };
        assert!(!c.udp_settled());
    }
}
