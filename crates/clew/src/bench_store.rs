//! `clew bench-store` (hidden): the storage engine's macro-benchmark, without the network.
//! `write` fills a data directory through the real store path (`Store::open`, `append`,
//! `flush` every `storage.head_max_spans` spans, then `compact` with the configured window
//! and cap) with a seeded `clew gen` profile and reports throughput per phase, bytes per span
//! on disk and peak RSS; `trace-by-id` reopens it and times `Store::trace` for trace ids it
//! wrote (a sample kept in a side file) and for absent ones. Reproduce the published figures
//! with `scripts/bench-store.sh`.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use clew_model::{TenantId, TraceId, UnixNanos};
use clew_store::{Durability, Store, StoreConfig};

use crate::config::Config;
use crate::r#gen::profiles::Profile;
use crate::r#gen::topology::{Generator, Rng, Shape};

/// Side file in the data directory: a sample of written trace ids, 16 bytes each.
const IDS_FILE: &str = "bench-trace-ids.bin";

#[derive(Args, Debug)]
pub struct BenchStoreArgs {
    #[command(subcommand)]
    pub command: BenchCommand,
}

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Fill an empty data directory with generated spans: append, flush, compact.
    Write(WriteArgs),
    /// Time trace-by-id lookups over a directory `write` filled.
    TraceById(LookupArgs),
    /// Time TraceQL searches over a directory `write` filled.
    Search(crate::bench_search::SearchArgs),
}

#[derive(Args, Debug)]
pub struct WriteArgs {
    /// Data directory; must be empty or absent.
    #[arg(long)]
    pub dir: PathBuf,
    #[arg(long, value_enum, default_value = "clickhouse")]
    pub profile: Profile,
    /// Spans to write (whole batches; the last trace may be cut short).
    #[arg(long, default_value_t = 1_000_000)]
    pub spans: u64,
    /// Spans per append (one WAL record each).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch: u64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Simulated ingest rate in spans per second: span times advance by this, which decides
    /// how blocks fall into compaction windows.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub sim_rate: u64,
    /// Trace ids kept (reservoir sample) for `trace-by-id`.
    #[arg(long, default_value_t = 100_000)]
    pub keep_ids: usize,
    /// Skip compaction (to measure the flushed blocks alone).
    #[arg(long)]
    pub no_compact: bool,
    /// Spans per Parquet row group of the blocks written (the store's default otherwise).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub row_group_spans: Option<u64>,
    /// Write blocks without the attribute index (to measure what it costs and saves).
    #[arg(long)]
    pub no_attribute_index: bool,
}

#[derive(Args, Debug)]
pub struct LookupArgs {
    #[arg(long)]
    pub dir: PathBuf,
    /// Lookups of existing trace ids.
    #[arg(long, default_value_t = 2_000)]
    pub lookups: usize,
    /// Lookups of ids that were never written.
    #[arg(long, default_value_t = 200)]
    pub absent: usize,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

pub fn run(args: BenchStoreArgs, config: &Config) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match args.command {
        BenchCommand::Write(a) => rt.block_on(write(a, config)),
        BenchCommand::TraceById(a) => rt.block_on(trace_by_id(a, config)),
        BenchCommand::Search(a) => rt.block_on(crate::bench_search::search(a, config)),
    }
}

pub(crate) fn store_config(dir: &Path, config: &Config) -> StoreConfig {
    StoreConfig {
        data_dir: dir.to_owned(),
        // The figures are about blocks; an fsync per append would only slow the fill.
        durability: Durability::Relaxed,
        wal_segment_max_bytes: config.storage.wal_segment_max_bytes,
        max_pending_bytes: config.storage.max_pending_bytes,
        cache: config.storage.cache.clone(),
        block_storage: config.storage.block_storage(),
        block_options: clew_store::block::BlockOptions {
            attribute_index: config.storage.attribute_index,
            ..Default::default()
        },
        ..StoreConfig::default()
    }
}

/// Time spent and spans moved in one phase.
#[derive(Default)]
struct Phase {
    time: Duration,
    spans: u64,
    bytes: u64,
    count: u64,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.spans as f64 / self.time.as_secs_f64().max(1e-9)
    }
    fn mib_s(&self) -> f64 {
        self.bytes as f64 / 1_048_576.0 / self.time.as_secs_f64().max(1e-9)
    }
}

async fn write(args: WriteArgs, config: &Config) -> anyhow::Result<()> {
    if fs::read_dir(&args.dir).is_ok_and(|mut d| d.next().is_some()) {
        bail!(
            "{} is not empty; give a fresh directory",
            args.dir.display()
        );
    }
    let mut registry = prometheus_client::registry::Registry::default();
    let mut store_config = store_config(&args.dir, config);
    if let Some(n) = args.row_group_spans {
        store_config.block_options.row_group_spans = usize::try_from(n)?;
    }
    store_config.block_options.attribute_index = !args.no_attribute_index;
    let store = Store::open(store_config, &mut registry)
        .with_context(|| format!("opening the store in {}", args.dir.display()))?;
    let tenant = TenantId::default();
    let head_max = config.storage.head_max_spans.max(1) as u64;
    let mut generator = Generator::with_profile(
        args.profile,
        Shape {
            services: 5,
            spans_per_trace: 10,
            attributes: 11,
            error_rate: 0.05,
        },
        args.seed,
    );
    // Span times: a fixed start, advancing at the simulated rate (deterministic data); a
    // minute into an hour, so that a short run does not straddle a compaction window.
    let base = 1_800_000_000_000_000_000u64 + 60_000_000_000;
    let mut sample = Reservoir::new(args.keep_ids, args.seed ^ 0x5EED);
    let (mut generate, mut append, mut flush) =
        (Phase::default(), Phase::default(), Phase::default());
    let mut written = 0u64;
    let mut since_flush = 0u64;
    let started = Instant::now();
    eprintln!(
        "clew bench-store write: {} spans, profile {}, flush every {head_max} spans, into {}",
        args.spans,
        args.profile.name(),
        args.dir.display()
    );
    while written < args.spans {
        let n = args.batch.min(args.spans - written);
        let now = UnixNanos(base + written * 1_000_000_000 / args.sim_rate);
        let t = Instant::now();
        let batch = generator.batch(usize::try_from(n).unwrap_or(usize::MAX), now);
        for s in batch
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
            .filter(|s| s.parent_span_id.is_none())
        {
            sample.offer(s.trace_id);
        }
        generate.time += t.elapsed();
        generate.spans += n;
        let t = Instant::now();
        store
            .append(&tenant, batch)
            .await
            .context("appending a batch")?;
        append.time += t.elapsed();
        append.spans += n;
        written += n;
        since_flush += n;
        if since_flush >= head_max || written == args.spans {
            let t = Instant::now();
            let meta = store.flush(&tenant).await.context("flushing the head")?;
            flush.time += t.elapsed();
            if let Some(meta) = meta {
                flush.spans += meta.span_count;
                flush.bytes += meta.size_bytes;
                flush.count += 1;
            }
            since_flush = 0;
            eprintln!(
                "  {written} spans written ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    let hwm_ingest = rss_kib("VmHWM");
    let blocks_flushed = disk_usage(&args.dir.join("tenants"), "blocks");

    let mut compact = Phase::default();
    if !args.no_compact {
        let window = Duration::from_secs(config.storage.compaction_window_seconds);
        // Each call merges at most one span-capped group per window: repeat until none is left.
        loop {
            let t = Instant::now();
            let merged = store
                .compact(window, config.storage.compaction_max_block_spans)
                .await
                .context("compacting")?;
            compact.time += t.elapsed();
            if merged.is_empty() {
                break;
            }
            for meta in merged {
                compact.spans += meta.span_count;
                compact.bytes += meta.size_bytes;
                compact.count += 1;
            }
            eprintln!(
                "  compacted {} spans ({:.0} s)",
                compact.spans,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let blocks = store.blocks();
    store.shutdown().await.context("closing the store")?;
    let disk = disk_usage(&args.dir.join("tenants"), "blocks");
    let wal = disk_usage(&args.dir.join("tenants"), "wal");
    let ids = sample.into_ids();
    write_ids(&args.dir.join(IDS_FILE), &ids)?;

    let per_span = |b: u64| b as f64 / written.max(1) as f64;
    let mut out = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(out, "profile: {}", args.profile.name());
    let _ = writeln!(out, "spans written: {written}");
    let _ = writeln!(out, "head max spans: {head_max}");
    let _ = writeln!(
        out,
        "generate: {:.1} s ({:.0} spans/s, not part of the store's figures)",
        generate.time.as_secs_f64(),
        generate.rate()
    );
    let _ = writeln!(
        out,
        "append: {:.1} s, {:.0} spans/s",
        append.time.as_secs_f64(),
        append.rate()
    );
    let _ = writeln!(
        out,
        "flush: {} blocks, {:.1} s, {:.0} spans/s, {:.1} MiB/s written",
        flush.count,
        flush.time.as_secs_f64(),
        flush.rate(),
        flush.mib_s()
    );
    let _ = writeln!(
        out,
        "flushed blocks on disk: {} bytes, {:.1} bytes/span",
        blocks_flushed.total,
        per_span(blocks_flushed.total)
    );
    let _ = writeln!(
        out,
        "compaction: {} blocks written, {} spans, {:.1} s, {:.0} spans/s, {:.1} MiB/s written",
        compact.count,
        compact.spans,
        compact.time.as_secs_f64(),
        compact.rate(),
        compact.mib_s()
    );
    let _ = writeln!(out, "blocks after compaction: {}", blocks.len());
    let _ = writeln!(
        out,
        "blocks on disk: {} bytes, {:.2} bytes/span (data {:.2}, bloom {:.3}, meta {:.4})",
        disk.total,
        per_span(disk.total),
        per_span(disk.data),
        per_span(disk.bloom),
        per_span(disk.meta)
    );
    let _ = writeln!(out, "wal left on disk: {} bytes", wal.total);
    let _ = writeln!(
        out,
        "peak rss after append+flush: {:.0} MiB",
        hwm_ingest as f64 / 1024.0
    );
    let _ = writeln!(
        out,
        "peak rss after compaction: {:.0} MiB",
        rss_kib("VmHWM") as f64 / 1024.0
    );
    let _ = writeln!(out, "trace ids kept for lookups: {}", ids.len());
    let _ = writeln!(out, "total: {:.1} s", started.elapsed().as_secs_f64());
    print!("{out}");
    Ok(())
}

async fn trace_by_id(args: LookupArgs, config: &Config) -> anyhow::Result<()> {
    let ids = read_ids(&args.dir.join(IDS_FILE))?;
    if ids.is_empty() {
        bail!("no trace ids in {}", args.dir.join(IDS_FILE).display());
    }
    let t = Instant::now();
    let mut registry = prometheus_client::registry::Registry::default();
    let store = Store::open(store_config(&args.dir, config), &mut registry)
        .with_context(|| format!("opening the store in {}", args.dir.display()))?;
    let open_time = t.elapsed();
    let rss_open = rss_kib("VmRSS");
    let tenant = TenantId::default();
    let blocks = store.blocks();
    let spans_stored: u64 = blocks.iter().map(|b| b.span_count).sum();

    let mut rng = Rng::new(args.seed);
    // Interleave present and absent lookups so that both see the same cache state.
    let mut plan: Vec<(TraceId, bool)> = Vec::with_capacity(args.lookups + args.absent);
    for _ in 0..args.lookups {
        plan.push((ids[rng.below(ids.len())], true));
    }
    for _ in 0..args.absent {
        plan.push((
            TraceId::from_u64_pair(rng.next_u64(), rng.next_u64()),
            false,
        ));
    }
    for i in (1..plan.len()).rev() {
        plan.swap(i, rng.below(i + 1));
    }
    let (mut present, mut absent) = (Vec::new(), Vec::new());
    let (mut found_spans, mut missing, mut unexpected) = (0usize, 0usize, 0usize);
    let mut first = None;
    for (id, exists) in plan {
        let t = Instant::now();
        let spans = store.trace(&tenant, id).await.context("reading a trace")?;
        let took = t.elapsed();
        first.get_or_insert(took);
        if exists {
            found_spans += spans.len();
            missing += usize::from(spans.is_empty());
            present.push(took);
        } else {
            unexpected += usize::from(!spans.is_empty());
            absent.push(took);
        }
    }
    store.shutdown().await.context("closing the store")?;
    present.sort_unstable();
    absent.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let line = |v: &[Duration]| {
        format!(
            "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms(pct(v, 0.50)),
            ms(pct(v, 0.90)),
            ms(pct(v, 0.99)),
            ms(v.last().copied().unwrap_or_default())
        )
    };
    println!("blocks: {}, spans stored: {spans_stored}", blocks.len());
    println!(
        "open: {:.2} s, rss after open {:.0} MiB",
        open_time.as_secs_f64(),
        rss_open as f64 / 1024.0
    );
    println!(
        "existing ids: {} lookups, {:.1} spans each on average, {missing} not found; {}",
        present.len(),
        found_spans as f64 / present.len().max(1) as f64,
        line(&present)
    );
    println!(
        "absent ids: {} lookups, {unexpected} found; {}",
        absent.len(),
        line(&absent)
    );
    println!("first lookup: {:.2} ms", ms(first.unwrap_or_default()));
    println!(
        "rss at end: {:.0} MiB, peak {:.0} MiB",
        rss_kib("VmRSS") as f64 / 1024.0,
        rss_kib("VmHWM") as f64 / 1024.0
    );
    if missing > 0 || unexpected > 0 {
        bail!("{missing} written traces not found, {unexpected} absent ids found");
    }
    Ok(())
}

/// Nearest-rank percentile of sorted durations.
pub(crate) fn pct(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Uniform sample of at most `cap` trace ids (Vitter's algorithm R), seeded.
struct Reservoir {
    cap: usize,
    seen: u64,
    ids: Vec<TraceId>,
    rng: Rng,
}

impl Reservoir {
    fn new(cap: usize, seed: u64) -> Self {
        Self {
            cap,
            seen: 0,
            ids: Vec::with_capacity(cap.min(1 << 20)),
            rng: Rng::new(seed),
        }
    }

    fn offer(&mut self, id: TraceId) {
        self.seen += 1;
        if self.ids.len() < self.cap {
            self.ids.push(id);
        } else {
            let j = (self.rng.next_u64() >> 11) % self.seen;
            if let Some(slot) = usize::try_from(j).ok().and_then(|j| self.ids.get_mut(j)) {
                *slot = id;
            }
        }
    }

    fn into_ids(self) -> Vec<TraceId> {
        self.ids
    }
}

fn write_ids(path: &Path, ids: &[TraceId]) -> anyhow::Result<()> {
    let mut out = io::BufWriter::new(
        fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
    );
    for id in ids {
        out.write_all(id.as_bytes())?;
    }
    out.flush()
        .with_context(|| format!("writing {}", path.display()))
}

fn read_ids(path: &Path) -> anyhow::Result<Vec<TraceId>> {
    let mut bytes = Vec::new();
    fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .with_context(|| {
            format!(
                "reading {} (written by `clew bench-store write`)",
                path.display()
            )
        })?;
    bytes
        .chunks_exact(16)
        .map(|c| TraceId::from_slice(c).context("a trace id in the ids file"))
        .collect()
}

/// Bytes in files under every `<root>/<tenant>/<sub>/`, split by block file kind.
#[derive(Default)]
struct Usage {
    total: u64,
    data: u64,
    bloom: u64,
    meta: u64,
}

fn disk_usage(root: &Path, sub: &str) -> Usage {
    fn walk(dir: &Path, u: &mut Usage) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(md) = e.metadata() else { continue };
            if md.is_dir() {
                walk(&path, u);
                continue;
            }
            let len = md.len();
            u.total += len;
            match path.file_name().and_then(|n| n.to_str()) {
                Some(clew_store::block::DATA_FILE) => u.data += len,
                Some(clew_store::block::BLOOM_FILE) => u.bloom += len,
                Some(clew_store::block::META_FILE) => u.meta += len,
                _ => {}
            }
        }
    }
    let mut u = Usage::default();
    if let Ok(tenants) = fs::read_dir(root) {
        for t in tenants.flatten() {
            walk(&t.path().join(sub), &mut u);
        }
    }
    u
}

/// A `kB` field of `/proc/self/status` (e.g. `VmHWM`, the peak resident set); 0 elsewhere.
pub(crate) fn rss_kib(field: &str) -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':').map(str::to_owned))
        })
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_write_can_be_looked_up() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut config = crate::config::load(
            None,
            std::iter::empty(),
            &["storage.head_max_spans=2000".into()],
        )
        .unwrap();
        config.storage.compaction_max_block_spans = 10_000;
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(write(
            WriteArgs {
                dir: data.clone(),
                profile: Profile::Clickhouse,
                spans: 10_000,
                batch: 500,
                seed: 3,
                sim_rate: 10_000,
                keep_ids: 50,
                no_compact: false,
                row_group_spans: Some(2_500),
                no_attribute_index: false,
            },
            &config,
        ))
        .unwrap();
        let ids = read_ids(&data.join(IDS_FILE)).unwrap();
        assert_eq!(ids.len(), 50);
        // Five flushed blocks in one window were merged into one.
        let mut registry = prometheus_client::registry::Registry::default();
        let store = Store::open(store_config(&data, &config), &mut registry).unwrap();
        assert_eq!(store.blocks().len(), 1);
        assert_eq!(store.blocks()[0].span_count, 10_000);
        // `--row-group-spans` reached the writer (compaction included).
        assert_eq!(store.blocks()[0].row_groups, 4);
        drop(store);
        rt.block_on(trace_by_id(
            LookupArgs {
                dir: data.clone(),
                lookups: 20,
                absent: 5,
                seed: 1,
            },
            &config,
        ))
        .unwrap();
        // A second write into a used directory is refused.
        let again = rt.block_on(write(
            WriteArgs {
                dir: data,
                profile: Profile::Clickhouse,
                spans: 10,
                batch: 10,
                seed: 3,
                sim_rate: 10_000,
                keep_ids: 5,
                no_compact: true,
                row_group_spans: None,
                no_attribute_index: true,
            },
            &config,
        ));
        assert!(again.is_err());
    }

    #[test]
    fn the_reservoir_keeps_at_most_its_capacity() {
        let mut r = Reservoir::new(10, 1);
        for i in 0..1_000u64 {
            r.offer(TraceId::from_u64_pair(1, i + 1));
        }
        let ids = r.into_ids();
        assert_eq!(ids.len(), 10);
        // Later ids made it in too: the sample is not just the first ten.
        assert!(ids.iter().any(|id| id.low_u64() > 10));
    }

    #[test]
    fn rss_is_read_from_proc() {
        if Path::new("/proc/self/status").exists() {
            assert!(rss_kib("VmHWM") > 0);
            assert!(rss_kib("VmRSS") > 0);
        }
        assert_eq!(rss_kib("NoSuchField"), 0);
    }
}
