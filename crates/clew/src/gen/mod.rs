//! `clew gen`: a load generator that sends synthetic traces over OTLP, Jaeger (gRPC, Thrift
//! over HTTP, agent UDP) or Zipkin v2 (JSON, proto) to Clew's receivers or any other, and
//! reports what was acknowledged and how fast. UDP has no acknowledgement: with `--admin` the
//! report says what the server's `/metrics` counted arriving, accepted and lost.

mod jaeger;
pub(crate) mod profiles;
mod report;
mod send;
mod server_metrics;
pub(crate) mod topology;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use clew_model::UnixNanos;
use tokio::task::JoinSet;
use tokio::time::Instant;

use profiles::Profile;
use report::Stats;
use send::Sender;
use server_metrics::Admin;
use topology::{Generator, Shape};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    /// OTLP over gRPC (port 4317).
    OtlpGrpc,
    /// OTLP over HTTP with binary protobuf (port 4318, path /v1/traces).
    OtlpHttp,
    /// Jaeger gRPC `CollectorService/PostSpans` (port 14250).
    JaegerGrpc,
    /// Jaeger Thrift binary `Batch` over HTTP (port 14268, path /api/traces).
    JaegerThriftHttp,
    /// Jaeger agent `emitBatch` over UDP, compact Thrift (port 6831); no acknowledgement.
    JaegerUdpCompact,
    /// Jaeger agent `emitBatch` over UDP, binary Thrift (port 6832); no acknowledgement.
    JaegerUdpBinary,
    /// Zipkin v2 JSON (port 9411, path /api/v2/spans).
    ZipkinJson,
    /// Zipkin v2 proto3 `ListOfSpans` (port 9411, path /api/v2/spans).
    ZipkinProto,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Protocol::OtlpGrpc => "otlp-grpc",
            Protocol::OtlpHttp => "otlp-http",
            Protocol::JaegerGrpc => "jaeger-grpc",
            Protocol::JaegerThriftHttp => "jaeger-thrift-http",
            Protocol::JaegerUdpCompact => "jaeger-udp-compact",
            Protocol::JaegerUdpBinary => "jaeger-udp-binary",
            Protocol::ZipkinJson => "zipkin-json",
            Protocol::ZipkinProto => "zipkin-proto",
        }
    }

    fn default_endpoint(self) -> &'static str {
        match self {
            Protocol::OtlpGrpc => "http://localhost:4317",
            Protocol::OtlpHttp => "http://localhost:4318",
            Protocol::JaegerGrpc => "http://127.0.0.1:14250",
            Protocol::JaegerThriftHttp => "http://127.0.0.1:14268",
            Protocol::JaegerUdpCompact => "127.0.0.1:6831",
            Protocol::JaegerUdpBinary => "127.0.0.1:6832",
            Protocol::ZipkinJson | Protocol::ZipkinProto => "http://127.0.0.1:9411",
        }
    }

    /// The `protocol` label the server counts these spans under on `/metrics`.
    fn metrics_label(self) -> &'static str {
        match self {
            Protocol::OtlpHttp => "otlp-http-protobuf",
            other => other.name(),
        }
    }

    fn is_udp(self) -> bool {
        matches!(self, Protocol::JaegerUdpCompact | Protocol::JaegerUdpBinary)
    }

    /// Jaeger clients report for one process: each request carries one service's spans.
    fn one_service_per_request(self) -> bool {
        matches!(
            self,
            Protocol::JaegerGrpc
                | Protocol::JaegerThriftHttp
                | Protocol::JaegerUdpCompact
                | Protocol::JaegerUdpBinary
        )
    }
}

#[derive(Args, Debug)]
pub struct GenArgs {
    /// Wire protocol.
    #[arg(long, value_enum, default_value = "otlp-grpc")]
    pub protocol: Protocol,
    /// Where to send: a base URL (http://host:port; the protocol's path is added unless one
    /// is given), or host:port for UDP [default: the protocol's conventional port on
    /// localhost: 4317, 4318, 14250, 14268, 6831, 6832, 9411].
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Target spans per second; 0 sends as fast as acknowledgements allow.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// How long to send, e.g. 500ms, 15s, 2m [default: 10s unless --spans is given].
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Total spans to send (stops at whichever of --duration and --spans comes first).
    #[arg(long)]
    pub spans: Option<u64>,
    /// Spans in each trace.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub spans_per_trace: u64,
    /// Spans in each export request. Jaeger protocols send one service's spans per request,
    /// as a Jaeger client reports for its own process; over UDP a request is cut into
    /// packets of at most 65,000 bytes.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch: u64,
    /// Export requests (UDP: batches of packets) in flight at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..))]
    pub concurrency: u64,
    /// Data-set profile: `default` is shaped by --services, --spans-per-trace and
    /// --attributes; `clickhouse` and `high-cardinality` are fixed shapes (see
    /// BENCHMARKS.md) shared with `clew bench-store`.
    #[arg(long, value_enum, default_value = "default")]
    pub profile: Profile,
    /// Seed for the generated ids and values [default: time and process id, so that runs
    /// against the same store never repeat ids].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Write one line per request, `seconds since start,latency ms,spans`, to this file
    /// (to see latency over time, e.g. around the server's flushes).
    #[arg(long)]
    pub latency_log: Option<std::path::PathBuf>,
    /// Distinct services (resources) spans are spread over.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub services: u64,
    /// Attributes on each span.
    #[arg(long, default_value_t = 11)]
    pub attributes: usize,
    /// Tenant, sent as X-Scope-OrgID (none: the server's default tenant).
    #[arg(long)]
    pub tenant: Option<String>,
    /// The server's admin URL (e.g. http://localhost:14269): its /metrics is read before and
    /// after the run to report what the server counted; for UDP, the only way to learn how
    /// many spans arrived.
    #[arg(long)]
    pub admin: Option<String>,
}

/// Accepts a number with an optional unit: ms, s (the default), m or h.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (e.g. 500ms, 15s, 2m)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        other => return Err(format!("unknown unit {other:?} in {s:?} (ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

pub fn run(args: GenArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = rt.block_on(drive(&args))?;
    print!("{report}");
    if args.protocol.is_udp() {
        if report.stats.packets == 0 {
            bail!("no UDP packet was sent");
        }
        if report.server.is_some_and(|c| c.udp_spans_accepted == 0) {
            bail!("the server accepted no span");
        }
    } else if report.stats.acknowledged == 0 {
        bail!("no span was acknowledged");
    }
    Ok(())
}

async fn drive(args: &GenArgs) -> anyhow::Result<report::Report> {
    let endpoint = args
        .endpoint
        .clone()
        .unwrap_or_else(|| args.protocol.default_endpoint().to_owned());
    let sender = Sender::connect(args.protocol, &endpoint, args.tenant.as_deref()).await?;
    let admin = args
        .admin
        .as_deref()
        .map(|url| Admin::new(url, args.protocol.metrics_label()));
    let server_before = match &admin {
        Some(a) => Some(a.read().await.context("reading the server's metrics")?),
        None => None,
    };
    let duration = match (args.duration, args.spans) {
        (None, None) => Some(Duration::from_secs(10)),
        (d, _) => d,
    };
    let mut generator = Generator::with_profile(
        args.profile,
        Shape {
            services: usize::try_from(args.services).unwrap_or(usize::MAX),
            spans_per_trace: usize::try_from(args.spans_per_trace).unwrap_or(usize::MAX),
            attributes: args.attributes,
            error_rate: 0.05,
        },
        args.seed.unwrap_or_else(seed),
    );
    eprintln!(
        "clew gen: {} to {endpoint}, profile {}, services {}, {} spans/trace, {} spans/request, {} in flight",
        args.protocol.name(),
        args.profile.name(),
        generator.service_names().join(","),
        if args.profile == Profile::Default {
            args.spans_per_trace.to_string()
        } else {
            "varying".to_owned()
        },
        args.batch,
        args.concurrency
    );

    // Ctrl-C stops sending; what is in flight is still awaited and reported.
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.store(true, Ordering::Relaxed);
            }
        });
    }

    let start = Instant::now();
    let deadline = duration.map(|d| start + d);
    let concurrency = usize::try_from(args.concurrency).unwrap_or(usize::MAX);
    let mut stats = Stats::default();
    let mut in_flight = JoinSet::new();
    let mut generated: u64 = 0;
    let mut timeline = args.latency_log.as_ref().map(|_| (start, Vec::new()));
    loop {
        let n = match args.spans {
            Some(total) if generated >= total => break,
            Some(total) => args.batch.min(total - generated),
            None => args.batch,
        };
        if args.rate > 0 {
            // Pace by the schedule, not by sleeping a fixed gap, so slow answers do not
            // lower the offered rate.
            let due = start + Duration::from_secs_f64(generated as f64 / args.rate as f64);
            if deadline.is_some_and(|d| due >= d) {
                break;
            }
            tokio::time::sleep_until(due).await;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) || stop.load(Ordering::Relaxed) {
            break;
        }
        while in_flight.len() >= concurrency {
            reap(&mut in_flight, &mut stats, &mut timeline).await?;
        }
        let size = usize::try_from(n).unwrap_or(usize::MAX);
        let batch = if args.protocol.one_service_per_request() {
            generator.service_batch(size, UnixNanos::now())
        } else {
            generator.batch(size, UnixNanos::now())
        };
        let sender = sender.clone();
        in_flight.spawn(async move {
            let t0 = Instant::now();
            let answer = sender.send(batch, n).await;
            (n, answer, t0.elapsed(), t0)
        });
        generated += n;
    }
    while !in_flight.is_empty() {
        reap(&mut in_flight, &mut stats, &mut timeline).await?;
    }
    let elapsed = start.elapsed();
    if let (Some(path), Some((_, lines))) = (&args.latency_log, &timeline) {
        write_timeline(path, lines)
            .with_context(|| format!("writing the latency log {}", path.display()))?;
    }
    let server = match (&admin, server_before) {
        (Some(a), Some(before)) => {
            // Acknowledged spans are counted before the answer; UDP packets may still be
            // queued in the socket or the server: wait until they are dealt with.
            let after = if args.protocol.is_udp() {
                a.read_settled(Duration::from_secs(1), Duration::from_secs(30))
                    .await
            } else {
                a.read().await
            }
            .context("reading the server's metrics")?;
            Some(after.since(&before))
        }
        _ => None,
    };
    Ok(stats.report(elapsed, args.protocol.is_udp(), server))
}

/// Spans, answer, latency and when the request was sent.
type Sent = (u64, send::Answer, Duration, Instant);

/// Per request for `--latency-log`: sent at (since the start), latency, spans.
type Timeline = Vec<(Duration, Duration, u64)>;

async fn reap(
    in_flight: &mut JoinSet<Sent>,
    stats: &mut Stats,
    timeline: &mut Option<(Instant, Timeline)>,
) -> anyhow::Result<()> {
    if let Some(joined) = in_flight.join_next().await {
        let (spans, answer, latency, sent) = joined.context("a send task failed")?;
        if let Some((start, lines)) = timeline {
            lines.push((sent.saturating_duration_since(*start), latency, spans));
        }
        stats.record(spans, answer, latency);
    }
    Ok(())
}

fn write_timeline(path: &std::path::Path, lines: &Timeline) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for (sent, latency, spans) in lines {
        writeln!(
            out,
            "{:.3},{:.3},{spans}",
            sent.as_secs_f64(),
            latency.as_secs_f64() * 1e3
        )?;
    }
    out.flush()
}

/// Time and process id: different runs produce different ids, which a store requires.
fn seed() -> u64 {
    UnixNanos::now().0 ^ (u64::from(std::process::id()) << 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_simple_units() {
        assert_eq!(parse_duration("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
