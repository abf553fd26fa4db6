//! `clew gen`: a load generator that sends synthetic traces to an OTLP endpoint (Clew's own
//! receivers or any other) and reports what was acknowledged and how fast.

mod report;
mod send;
mod topology;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use clew_model::UnixNanos;
use clew_model::otlp::batch_to_proto;
use clew_model::otlp::proto::collector::trace::v1::ExportTraceServiceRequest;
use tokio::task::JoinSet;
use tokio::time::Instant;

use report::Stats;
use send::Sender;
use topology::{Generator, Shape};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    /// OTLP over gRPC (port 4317).
    OtlpGrpc,
    /// OTLP over HTTP with binary protobuf (port 4318, path /v1/traces).
    OtlpHttp,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Protocol::OtlpGrpc => "otlp-grpc",
            Protocol::OtlpHttp => "otlp-http",
        }
    }
}

#[derive(Args, Debug)]
pub struct GenArgs {
    /// Wire protocol.
    #[arg(long, value_enum, default_value = "otlp-grpc")]
    pub protocol: Protocol,
    /// Base URL of the receiver [default: http://localhost:4317 for gRPC, http://localhost:4318 for HTTP].
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
    /// Spans in each export request.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch: u64,
    /// Export requests in flight at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..))]
    pub concurrency: u64,
    /// Distinct services (resources) spans are spread over.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub services: u64,
    /// Attributes on each span.
    #[arg(long, default_value_t = 11)]
    pub attributes: usize,
    /// Tenant, sent as X-Scope-OrgID (none: the server's default tenant).
    #[arg(long)]
    pub tenant: Option<String>,
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
    if report.stats.acknowledged == 0 {
        bail!("no span was acknowledged");
    }
    Ok(())
}

async fn drive(args: &GenArgs) -> anyhow::Result<report::Report> {
    let endpoint = args.endpoint.clone().unwrap_or_else(|| {
        match args.protocol {
            Protocol::OtlpGrpc => "http://localhost:4317",
            Protocol::OtlpHttp => "http://localhost:4318",
        }
        .to_owned()
    });
    let sender = Sender::connect(args.protocol, &endpoint, args.tenant.as_deref()).await?;
    let duration = match (args.duration, args.spans) {
        (None, None) => Some(Duration::from_secs(10)),
        (d, _) => d,
    };
    let mut generator = Generator::new(
        Shape {
            services: usize::try_from(args.services).unwrap_or(usize::MAX),
            spans_per_trace: usize::try_from(args.spans_per_trace).unwrap_or(usize::MAX),
            attributes: args.attributes,
            error_rate: 0.05,
        },
        seed(),
    );
    eprintln!(
        "clew gen: {} to {endpoint}, services {}, {} spans/trace, {} spans/request, {} in flight",
        args.protocol.name(),
        generator.service_names().join(","),
        args.spans_per_trace,
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
            reap(&mut in_flight, &mut stats).await?;
        }
        let batch = generator.batch(usize::try_from(n).unwrap_or(usize::MAX), UnixNanos::now());
        let request = ExportTraceServiceRequest {
            resource_spans: batch_to_proto(&batch),
        };
        let sender = sender.clone();
        in_flight.spawn(async move {
            let t0 = Instant::now();
            let answer = sender.send(request, n).await;
            (n, answer, t0.elapsed())
        });
        generated += n;
    }
    while !in_flight.is_empty() {
        reap(&mut in_flight, &mut stats).await?;
    }
    Ok(stats.report(start.elapsed()))
}

type Sent = (u64, send::Answer, Duration);

async fn reap(in_flight: &mut JoinSet<Sent>, stats: &mut Stats) -> anyhow::Result<()> {
    if let Some(joined) = in_flight.join_next().await {
        let (spans, answer, latency) = joined.context("a send task failed")?;
        stats.record(spans, answer, latency);
    }
    Ok(())
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
