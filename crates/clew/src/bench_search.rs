//! `clew bench-store search` (hidden): times TraceQL searches over a data directory that
//! `clew bench-store write` filled, through the real engine (`Querier::search_traceql`), and
//! reports latency percentiles, spans scanned per second of wall and of CPU time, and bytes
//! read per query. Reproduce the published figures with `scripts/bench-store.sh search`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use clew_model::{DurationNanos, TenantId};
use clew_query::search::SearchRequest;
use clew_query::{Querier, traceql};
use clew_store::Store;

use crate::bench_store::{pct, rss_kib, store_config};
use crate::config::Config;

#[derive(Args, Debug)]
pub struct SearchArgs {
    #[arg(long)]
    pub dir: PathBuf,
    /// Runs of each query (the first one is reported apart: cold caches).
    #[arg(long, default_value_t = 20)]
    pub runs: usize,
    /// A query to time, as `NAME=WINDOW=TRACEQL` (WINDOW: `all` or a duration such as `1h` or `90m`
    /// back from the newest span); repeatable. Defaults suit the `clickhouse` profile.
    #[arg(long = "query")]
    pub queries: Vec<String>,
    /// Traces per search.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

const DEFAULT_QUERIES: &[&str] = &[
    r#"selective=1h={ resource.service.name = "service-3" && span.key-7 = "value-42" }"#,
    r#"attr+duration=all={ span.key-7 = "value-42" && duration > 99ms }"#,
    r#"errors=1h={ status = error }"#,
    r#"everything=1h={ }"#,
];

fn cpu_seconds() -> f64 {
    // utime + stime of this process, in clock ticks (100 Hz on Linux).
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) / 100.0)
        })
        .unwrap_or(0.0)
}

pub async fn search(args: SearchArgs, config: &Config) -> anyhow::Result<()> {
    let mut registry = prometheus_client::registry::Registry::default();
    let store = Store::open(store_config(&args.dir, config), &mut registry)
        .with_context(|| format!("opening the store in {}", args.dir.display()))?;
    let store = Arc::new(store);
    let blocks = store.blocks();
    let spans: u64 = blocks.iter().map(|b| b.span_count).sum();
    let newest = blocks.iter().map(|b| b.end_max).max().unwrap_or_default();
    println!(
        "blocks: {}, spans stored: {spans}, rss after open {:.0} MiB",
        blocks.len(),
        rss_kib("VmRSS") as f64 / 1024.0
    );
    let querier = Querier::new(Arc::clone(&store));
    let tenant = TenantId::default();
    let queries: Vec<String> = if args.queries.is_empty() {
        DEFAULT_QUERIES.iter().map(|s| (*s).to_owned()).collect()
    } else {
        args.queries.clone()
    };
    for spec in &queries {
        let mut parts = spec.splitn(3, '=');
        let (Some(name), Some(window), Some(text)) = (parts.next(), parts.next(), parts.next())
        else {
            anyhow::bail!("--query {spec:?}: expected NAME=WINDOW=TRACEQL");
        };
        let query = traceql::parse(text).map_err(|e| anyhow::anyhow!("{text}: {e}"))?;
        let mut request = SearchRequest::new(query);
        request.limit = args.limit;
        if window != "all" {
            let secs = crate::cli::search::parse_since(window)
                .with_context(|| format!("--query {spec:?}: window"))?;
            let d = DurationNanos(secs.saturating_mul(1_000_000_000));
            request.start = Some(newest.saturating_sub(d));
            request.end = Some(newest);
        }
        let mut times: Vec<Duration> = Vec::with_capacity(args.runs);
        let mut first = Duration::ZERO;
        let (mut found, mut inspected, mut bytes, mut blocks_read) = (0, 0, 0, 0);
        let cpu_before = cpu_seconds();
        let mut warm_cpu = 0.0;
        for run in 0..args.runs.max(1) {
            let cpu = cpu_seconds();
            let t = Instant::now();
            let result = querier
                .search_traceql(&tenant, &request)
                .await
                .context("searching")?;
            let took = t.elapsed();
            if run == 0 {
                first = took;
            } else {
                times.push(took);
                warm_cpu += cpu_seconds() - cpu;
            }
            found = result.traces.len();
            inspected = result.metrics.inspected_spans;
            bytes = result.metrics.inspected_bytes;
            blocks_read = result.metrics.inspected_blocks;
        }
        let total_cpu = cpu_seconds() - cpu_before;
        times.sort_unstable();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let warm_runs = times.len().max(1) as f64;
        let mean = times.iter().map(Duration::as_secs_f64).sum::<f64>() / warm_runs;
        println!(
            "{name} [{window}] {text}\n  traces {found}, spans scanned {inspected}, blocks read {blocks_read}, bytes read {:.1} MiB\n  first {:.0} ms; warm p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms\n  scan rate {:.2} M spans/s wall, {:.2} M spans/s per CPU-second (cpu {:.2} s over {} runs)",
            bytes as f64 / 1_048_576.0,
            ms(first),
            ms(pct(&times, 0.50)),
            ms(pct(&times, 0.95)),
            ms(times.last().copied().unwrap_or_default()),
            inspected as f64 / mean.max(1e-9) / 1e6,
            inspected as f64 * warm_runs / warm_cpu.max(1e-9) / 1e6,
            total_cpu,
            args.runs
        );
    }
    println!(
        "rss at end: {:.0} MiB, peak {:.0} MiB",
        rss_kib("VmRSS") as f64 / 1024.0,
        rss_kib("VmHWM") as f64 / 1024.0
    );
    store.shutdown().await.context("closing the store")?;
    Ok(())
}
