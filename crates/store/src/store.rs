//! [`Store`]: the tenants of one data directory, each with its WAL writer and head, and the
//! operations the rest of Clew calls.

use std::collections::BTreeMap;
use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clew_model::{SpanKind, SpanRecord, TenantId, TraceBatch, TraceId, UnixNanos};
use object_store::ObjectStore;
use prometheus_client::registry::Registry;
use tokio::sync::oneshot;

use crate::block::{self, BlockMeta, BlockReader};

use crate::error::{AppendError, ReadError, StoreError};
use crate::filter::SpanFilter;
use crate::head::{FrozenHead, Head, Heads, SharedHeads, read_heads, write_heads};
use crate::metrics::{Metrics, TenantMetrics, gauge_value};
use crate::scan::{ScanStats, Source, SourceInner, SourceKind, SpanParts, SpanScan, TraceHit};
use crate::wal::{self, AppendRequest, Pending, ReplayReport, Request, WalWriter};
use crate::{Durability, StoreConfig};

/// What an overloaded caller is told to wait: about one commit cycle of a busy disk.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// What a caller is told to wait when the head is full: about one flush attempt.
const HEAD_FULL_RETRY_AFTER: Duration = Duration::from_secs(5);

/// The store: per tenant, a WAL and an in-memory head. `Send + Sync`; share it in an `Arc`.
pub struct Store {
    config: StoreConfig,
    tenants_dir: PathBuf,
    metrics: Metrics,
    pending: Arc<Pending>,
    tenants: RwLock<BTreeMap<TenantId, Arc<Tenant>>>,
    reports: Vec<ReplayReport>,
    shutting_down: AtomicBool,
    /// Where blocks live: `<data_dir>/tenants` on the local file system, so a tenant's
    /// blocks sit beside its WAL (`tenants/<tenant>/blocks/<id>/`).
    objects: Arc<dyn ObjectStore>,
    /// Bloom filters, footers and pages of every tenant's blocks, bounded in bytes.
    cache: Arc<block::BlockCache>,
    /// Damaged blocks found at open or by reads: quarantined, reported, left out of reads.
    block_problems: std::sync::Mutex<Vec<String>>,
    /// Held for the store's lifetime: the OS releases the lock when the process dies,
    /// so a `kill -9` never leaves a stale lock behind.
    _lock: fs::File,
}

struct Tenant {
    id: TenantId,
    wal_dir: PathBuf,
    heads: SharedHeads,
    /// The tenant's blocks, oldest first; reads consult them after the head.
    blocks: RwLock<Vec<Arc<BlockReader>>>,
    /// One flush at a time per tenant; holds generations frozen but not yet in a block
    /// (a failed flush leaves them here, still readable, for the next attempt).
    flush: tokio::sync::Mutex<FlushState>,
    metrics: TenantMetrics,
    /// Taken in `drop` so that the writer sees its channel close.
    sender: Option<mpsc::Sender<Request>>,
    thread: Option<JoinHandle<()>>,
}

struct FlushState {
    pending: Vec<FrozenHead>,
    last_cut: Instant,
}

impl Tenant {
    fn blocks(&self) -> Vec<Arc<BlockReader>> {
        self.blocks
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn send(&self, request: Request) -> Result<(), Request> {
        match &self.sender {
            Some(sender) => sender.send(request).map_err(|e| e.0),
            None => Err(request),
        }
    }
}

impl Drop for Tenant {
    fn drop(&mut self) {
        // Without a shutdown, the writer drains its queue, syncs and exits once the channel
        // closes; waiting for it means a store opened next on the same directory never
        // races a writer still closing its segment.
        self.sender.take();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!(tenant = %self.id, "wal writer thread panicked");
        }
    }
}

impl Store {
    /// Opens the data directory, replays every tenant's WAL into its head (cutting torn or
    /// corrupt tails, see [`Store::replay_reports`]) and registers the store's metrics.
    /// Blocking: replay reads every segment, so call it before serving or from a blocking
    /// thread.
    pub fn open(config: StoreConfig, registry: &mut Registry) -> Result<Store, StoreError> {
        if config.wal_segment_max_bytes == 0 {
            return Err(StoreError::Config("wal_segment_max_bytes must be above 0"));
        }
        if config.max_pending_bytes == 0 {
            return Err(StoreError::Config("max_pending_bytes must be above 0"));
        }
        let metrics = Metrics::register(registry);
        let tenants_dir = config.data_dir.join("tenants");
        fs::create_dir_all(&tenants_dir)
            .map_err(|e| StoreError::io("creating data directory", &tenants_dir, e))?;
        let lock = lock_data_dir(&config.data_dir)?;
        let pending = Pending::new(config.max_pending_bytes, metrics.pending_bytes.clone());
        let objects = config.block_storage.open(&tenants_dir)?;
        let cache = Arc::new(block::BlockCache::new(&config.cache)?);
        cache.register_metrics(registry);
        let mut store = Store {
            objects,
            cache,
            block_problems: std::sync::Mutex::new(Vec::new()),
            _lock: lock,
            config,
            tenants_dir,
            metrics,
            pending,
            tenants: RwLock::new(BTreeMap::new()),
            reports: Vec::new(),
            shutting_down: AtomicBool::new(false),
        };
        let ids = tenant_ids(&store.tenants_dir, &store.objects)?;
        let mut prepared = on_side_runtime(prepare_blocks(&store.objects, &ids))?;
        let mut tenants = BTreeMap::new();
        for id in ids {
            let wal_dir = store.tenants_dir.join(id.as_str()).join("wal");
            // A tenant may have blocks but no WAL yet (a new machine on shared object
            // storage, or a directory created by hand); the writer needs the directory.
            fs::create_dir_all(&wal_dir)
                .map_err(|e| StoreError::io("creating wal directory", &wal_dir, e))?;
            let blocks = prepared.remove(&id).unwrap_or_default();
            // Segments a block already holds: a crash came between the block's write and
            // their deletion. Replaying them would store their spans twice.
            let mut covered_max = 0;
            for seq in blocks.metas.iter().flat_map(|m| &m.provenance.wal_segments) {
                covered_max = covered_max.max(*seq);
                if remove_segment(&wal_dir, *seq)? {
                    tracing::warn!(tenant = %id, segment = seq, "deleting a wal segment a block already holds (interrupted flush)");
                }
            }
            wal::sync_dir(&wal_dir)
                .map_err(|e| StoreError::io("syncing wal directory", &wal_dir, e))?;
            let replayed = wal::replay_tenant(&id, &wal_dir)?;
            let report = replayed.report;
            let metrics = store.metrics.tenant(&id);
            metrics.wal_replay_cut_bytes.inc_by(report.cut_bytes());
            metrics.wal_segments.set(gauge_value(report.segments_read));
            tracing::info!(
                tenant = %id,
                segments = report.segments_read,
                records = report.records,
                spans = report.spans,
                cuts = report.cuts.len(),
                skipped_records = report.skipped_records.len(),
                "replayed wal"
            );
            // New segments must never take a number a block claims, or a later start
            // would delete them unflushed.
            let next_seq = replayed.next_seq.max(covered_max.saturating_add(1));
            metrics
                .blocks_quarantined
                .inc_by(blocks.problems.len() as u64);
            let tenant =
                store.start_tenant(id.clone(), wal_dir, replayed.heads, next_seq, metrics)?;
            store
                .block_problems
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner)
                .extend(blocks.problems);
            tenants.insert(id, (Arc::new(tenant), blocks.metas));
            store.reports.push(report);
        }
        let opened = on_side_runtime(open_readers(&store.objects, &store.cache, &tenants))?;
        store
            .block_problems
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(opened);
        let tenants = tenants.into_iter().map(|(id, (t, _))| (id, t)).collect();
        store.tenants = RwLock::new(tenants);
        store.reports.sort_by(|a, b| a.tenant.cmp(&b.tenant));
        Ok(store)
    }

    fn start_tenant(
        &self,
        id: TenantId,
        wal_dir: PathBuf,
        heads: Heads,
        next_seq: u64,
        metrics: TenantMetrics,
    ) -> Result<Tenant, StoreError> {
        metrics.head_spans.set(gauge_value(heads.span_count()));
        let heads: SharedHeads = Arc::new(RwLock::new(heads));
        let writer = WalWriter {
            tenant: id.clone(),
            dir: wal_dir.clone(),
            durability: self.config.durability,
            segment_max_bytes: self.config.wal_segment_max_bytes,
            next_seq,
            heads: Arc::clone(&heads),
            metrics: metrics.clone(),
        };
        let (sender, thread) = writer
            .spawn()
            .map_err(|e| StoreError::io("starting wal writer for", &wal_dir, e))?;
        Ok(Tenant {
            id,
            wal_dir,
            heads,
            blocks: RwLock::new(Vec::new()),
            flush: tokio::sync::Mutex::new(FlushState {
                pending: Vec::new(),
                last_cut: Instant::now(),
            }),
            metrics,
            sender: Some(sender),
            thread: Some(thread),
        })
    }

    /// Per tenant replayed at open: segments, records, spans, and every cut and skip.
    pub fn replay_reports(&self) -> Vec<ReplayReport> {
        self.reports.clone()
    }

    /// Resolves `Ok` only once the batch is durable (fsynced unless
    /// [`Durability::Relaxed`]) and visible to every read. Spans with an all-zero trace or
    /// span id cannot be looked up and are not indexed (replay refuses them the same way).
    /// If the future is dropped after the batch was queued, the batch is still committed.
    pub async fn append(&self, tenant: &TenantId, batch: TraceBatch) -> Result<(), AppendError> {
        if self.shutting_down.load(Ordering::Acquire) {
            return Err(AppendError::ShuttingDown);
        }
        if batch.span_count() == 0 {
            return Ok(());
        }
        let record = wal::record_for_batch(&batch)?;
        let reservation =
            self.pending
                .try_reserve(record.len() as u64)
                .ok_or(AppendError::Overloaded {
                    retry_after: RETRY_AFTER,
                })?;
        let spans = indexable(tenant, batch);
        let tenant = self.tenant_or_create(tenant)?;
        let limit = self.config.head_hard_limit_spans;
        if limit > 0 && tenant.metrics.head_spans.get() >= gauge_value(limit) {
            // Flushing has fallen behind or is failing: ask senders to wait rather than
            // grow the head until memory runs out. Logged by the flusher's own errors.
            return Err(AppendError::Overloaded {
                retry_after: HEAD_FULL_RETRY_AFTER,
            });
        }
        let (done, result) = oneshot::channel();
        let request = Request::Append(AppendRequest {
            record,
            spans,
            reservation,
            done,
        });
        if tenant.send(request).is_err() {
            return Err(AppendError::ShuttingDown);
        }
        match result.await {
            Ok(outcome) => outcome.map_err(AppendError::Io),
            // The writer dropped the request unanswered: it stopped for a shutdown.
            Err(_) if self.shutting_down.load(Ordering::Acquire) => Err(AppendError::ShuttingDown),
            Err(_) => Err(AppendError::Io(io::Error::other(format!(
                "wal writer of tenant {} stopped",
                tenant.id
            )))),
        }
    }

    fn all_tenants(&self) -> Vec<Arc<Tenant>> {
        self.tenants
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    fn tenant(&self, id: &TenantId) -> Option<Arc<Tenant>> {
        self.tenants
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    fn tenant_or_create(&self, id: &TenantId) -> Result<Arc<Tenant>, AppendError> {
        if let Some(tenant) = self.tenant(id) {
            return Ok(tenant);
        }
        let mut tenants = self.tenants.write().unwrap_or_else(PoisonError::into_inner);
        // Checked under the lock that `shutdown` takes after setting the flag, so no tenant
        // (and no writer) appears after shutdown has collected them.
        if self.shutting_down.load(Ordering::Acquire) {
            return Err(AppendError::ShuttingDown);
        }
        if let Some(tenant) = tenants.get(id) {
            return Ok(Arc::clone(tenant));
        }
        let tenant_dir = self.tenants_dir.join(id.as_str());
        let wal_dir = tenant_dir.join("wal");
        fs::create_dir_all(&wal_dir).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("creating wal directory {}: {e}", wal_dir.display()),
            )
        })?;
        if self.config.durability == Durability::Fsync {
            for dir in [&self.tenants_dir, &tenant_dir] {
                wal::sync_dir(dir).map_err(|e| {
                    io::Error::new(e.kind(), format!("syncing {}: {e}", dir.display()))
                })?;
            }
        }
        let metrics = self.metrics.tenant(id);
        let tenant = self
            .start_tenant(id.clone(), wal_dir, Heads::new(Head::new(0)), 1, metrics)
            .map_err(|e| io::Error::other(e.to_string()))?;
        let tenant = Arc::new(tenant);
        tenants.insert(id.clone(), Arc::clone(&tenant));
        Ok(tenant)
    }

    /// Every span of the trace, in no particular order, each once even while a flush makes
    /// it briefly both head and block; empty when the tenant or trace is unknown.
    pub async fn trace(
        &self,
        tenant: &TenantId,
        id: TraceId,
    ) -> Result<Vec<SpanRecord>, ReadError> {
        self.trace_parts(tenant, id, SpanParts::ALL).await
    }

    /// [`Store::trace`] where blocks decode only `parts` of each span (the rest reads as in a
    /// scan's spans; spans from the head come whole): for judging many candidate traces.
    pub async fn trace_parts(
        &self,
        tenant: &TenantId,
        id: TraceId,
        parts: SpanParts,
    ) -> Result<Vec<SpanRecord>, ReadError> {
        let Some(t) = self.tenant(tenant) else {
            return Ok(Vec::new());
        };
        let mut spans = read_heads(&t.heads).trace(&id);
        let mut seen: HashSet<(clew_model::SpanId, UnixNanos)> = spans
            .iter()
            .map(|s| (s.span.span_id, s.span.start))
            .collect();
        for b in t.blocks() {
            if !b.may_contain(id) {
                continue;
            }
            let found = match b.trace_parts(id, parts).await {
                Ok(found) => found,
                Err(e) => {
                    self.on_block_read_error(&t, &b, e).await?;
                    continue;
                }
            };
            spans.extend(
                found
                    .into_iter()
                    .filter(|s| seen.insert((s.span.span_id, s.span.start))),
            );
        }
        Ok(spans)
    }

    /// Ids of traces with at least one span that meets `filter`, newest first by the
    /// earliest start among the spans read (a trace starts no later), at most `limit`: the
    /// head and every block the filter's time range admits, scanned with the filter as the
    /// hint, so statistics prune as for a search. For callers that then read each trace.
    pub async fn find_trace_ids(
        &self,
        tenant: &TenantId,
        filter: &SpanFilter,
        limit: usize,
    ) -> Result<Vec<TraceId>, ReadError> {
        let f = filter.clone();
        let scan = SpanScan {
            parts: if filter.attributes.is_empty() && filter.span_strings.is_empty() {
                SpanParts::default()
            } else {
                SpanParts::ALL
            },
            hints: vec![filter.clone()],
            matcher: Arc::new(move |r| u64::from(f.matches(r))),
            exact: None,
        };
        let mut sources: Vec<Source> = self.head_source(tenant).into_iter().collect();
        sources.extend(self.block_sources_of(tenant));
        let mut starts: std::collections::HashMap<TraceId, UnixNanos> = Default::default();
        for source in &sources {
            let (hits, _) = self.scan(tenant, source, &scan).await?;
            for hit in hits {
                let e = starts.entry(hit.trace_id).or_insert(hit.earliest_start);
                *e = (*e).min(hit.earliest_start);
            }
        }
        let mut keys: Vec<(UnixNanos, TraceId)> =
            starts.into_iter().map(|(id, start)| (start, id)).collect();
        keys.sort_unstable_by(|a, b| b.cmp(a));
        Ok(keys.into_iter().take(limit).map(|(_, id)| id).collect())
    }

    /// The tenant's head as a source (`None` for an unknown tenant). Scan it before listing
    /// blocks ([`Store::block_sources_of`]) so that no span slips between the two: a flush
    /// lists its block before it releases the head.
    pub fn head_source(&self, tenant: &TenantId) -> Option<Source> {
        let t = self.tenant(tenant)?;
        let span_count = read_heads(&t.heads).span_count() as u64;
        Some(Source {
            kind: SourceKind::Head,
            start_min: None,
            start_max: None,
            end_max: None,
            span_count,
            size_bytes: 0,
            inner: SourceInner::Head(Arc::clone(&t.heads)),
        })
    }

    /// The tenant's blocks as sources, newest first by latest span start (ties by id).
    pub fn block_sources_of(&self, tenant: &TenantId) -> Vec<Source> {
        self.tenant(tenant)
            .map(|t| Self::block_sources(&t))
            .unwrap_or_default()
    }

    fn block_sources(t: &Tenant) -> Vec<Source> {
        let mut blocks = t.blocks();
        blocks.sort_by(|a, b| {
            (b.meta().start_max, &b.meta().id).cmp(&(a.meta().start_max, &a.meta().id))
        });
        blocks
            .into_iter()
            .map(|b| Source {
                kind: SourceKind::Block {
                    id: b.meta().id.clone(),
                },
                start_min: Some(b.meta().start_min),
                start_max: Some(b.meta().start_max),
                end_max: Some(b.meta().end_max),
                span_count: b.meta().span_count,
                size_bytes: b.meta().size_bytes,
                inner: SourceInner::Block(b),
            })
            .collect()
    }

    /// Scans one source of the tenant (see [`crate::scan`]). A damaged block is quarantined
    /// and scans as empty, as in every read.
    pub async fn scan(
        &self,
        tenant: &TenantId,
        source: &Source,
        scan: &SpanScan,
    ) -> Result<(Vec<TraceHit>, ScanStats), ReadError> {
        match &source.inner {
            SourceInner::Head(heads) => {
                let (hits, spans) = crate::head::scan_heads(heads, scan);
                Ok((
                    hits,
                    ScanStats {
                        spans,
                        ..ScanStats::default()
                    },
                ))
            }
            SourceInner::Block(b) => match b.scan(scan).await {
                Ok(found) => Ok(found),
                Err(e) => {
                    let Some(t) = self.tenant(tenant) else {
                        return Ok((Vec::new(), ScanStats::default()));
                    };
                    self.on_block_read_error(&t, b, e).await?;
                    Ok((Vec::new(), ScanStats::default()))
                }
            },
        }
    }

    /// Service names, sorted.
    pub async fn services(&self, tenant: &TenantId) -> Result<Vec<String>, ReadError> {
        let Some(t) = self.tenant(tenant) else {
            return Ok(Vec::new());
        };
        let mut set: std::collections::BTreeSet<String> =
            read_heads(&t.heads).services().into_iter().collect();
        for b in t.blocks() {
            set.extend(b.meta().services.iter().cloned());
        }
        Ok(set.into_iter().collect())
    }

    /// The service's distinct (operation, kind) pairs, sorted.
    pub async fn operations(
        &self,
        tenant: &TenantId,
        service: &str,
    ) -> Result<Vec<(String, SpanKind)>, ReadError> {
        let Some(t) = self.tenant(tenant) else {
            return Ok(Vec::new());
        };
        let mut set: std::collections::BTreeSet<(String, SpanKind)> = read_heads(&t.heads)
            .operations(service)
            .into_iter()
            .collect();
        for b in t.blocks() {
            set.extend(
                b.meta()
                    .operations
                    .iter()
                    .filter(|(s, _, _)| s == service)
                    .map(|(_, name, kind)| (name.clone(), *kind)),
            );
        }
        Ok(set.into_iter().collect())
    }

    /// Blocks of every tenant, oldest first within a tenant.
    pub fn blocks(&self) -> Vec<BlockMeta> {
        let tenants = self.all_tenants();
        tenants
            .iter()
            .flat_map(|t| {
                t.blocks()
                    .iter()
                    .map(|b| b.meta().clone())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Blocks found damaged, at open or by a read since: each was quarantined (moved to
    /// `<tenant>/quarantine/<id>/`) or, if even that failed, skipped.
    pub fn block_problems(&self) -> Vec<String> {
        self.block_problems
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A read of a block failed. Damage (see [`block::BlockError::is_damage`]) takes the
    /// block out of reads and quarantines it, and the read goes on without it, the spans
    /// of the block being unrecoverable; any other failure (storage unavailable) fails the
    /// read, since answering without the block would hide spans that still exist.
    async fn on_block_read_error(
        &self,
        t: &Tenant,
        b: &BlockReader,
        e: block::BlockError,
    ) -> Result<(), ReadError> {
        if !e.is_damage() {
            return Err(block_read_error(&t.id, b, e));
        }
        let id = b.meta().id.clone();
        let removed = {
            let mut blocks = t.blocks.write().unwrap_or_else(PoisonError::into_inner);
            let before = blocks.len();
            blocks.retain(|x| x.meta().id != id);
            blocks.len() < before
        };
        // Another read may have found the same damage first.
        if removed {
            let line = quarantine(&self.objects, &t.id, &id, &e.to_string()).await;
            t.metrics.blocks_quarantined.inc();
            self.block_problems
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(line);
        }
        Ok(())
    }

    /// Cuts the tenant's head and writes everything frozen into a block, then releases the
    /// WAL segments the block now holds. The spans stay readable throughout: in the head
    /// until the block is listed, then in the block (reads deduplicate the overlap).
    /// `Ok(None)` when there was nothing to flush.
    pub async fn flush(&self, tenant: &TenantId) -> Result<Option<BlockMeta>, StoreError> {
        let Some(t) = self.tenant(tenant) else {
            return Ok(None);
        };
        let mut state = t.flush.lock().await;
        if let Some(frozen) = self.cut(tenant).await? {
            state.pending.push(frozen);
        }
        state.last_cut = Instant::now();
        crate::faults::crash_point("flush.cut");
        let mut last = None;
        while let Some(frozen) = state.pending.first() {
            let generation = frozen.generation();
            if frozen.span_count() > 0 {
                let provenance = block::Provenance {
                    wal_segments: frozen.segments(),
                    compacted_from: Vec::new(),
                };
                // Decoded a row group at a time: the head keeps spans encoded, and a
                // flush must not need memory for all of them decoded at once.
                let chunks = frozen.sorted_chunks(self.config.block_options.row_group_spans);
                let meta = block::write_block_sorted(
                    self.objects.as_ref(),
                    tenant,
                    chunks,
                    frozen.trace_count(),
                    &self.config.block_options,
                    provenance,
                )
                .await?;
                self.sync_block(tenant, &meta.id)?;
                crate::faults::crash_point("flush.block_written");
                let reader = BlockReader::open_with_cache(
                    Arc::clone(&self.objects),
                    meta.clone(),
                    Arc::clone(&self.cache),
                )
                .await?;
                t.blocks
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(Arc::new(reader));
                tracing::info!(
                    tenant = %tenant,
                    block = %meta.id,
                    spans = meta.span_count,
                    traces = meta.trace_count,
                    bytes = meta.size_bytes,
                    "flushed head to block"
                );
                last = Some(meta);
            }
            self.release(tenant, generation).await?;
            state.pending.remove(0);
        }
        Ok(last)
    }

    /// Flushes every tenant whose active head holds at least `max_spans` spans or was last
    /// cut more than `max_age` ago (and is not empty). Returns the blocks written.
    pub async fn flush_due(&self, max_spans: usize, max_age: Duration) -> Vec<BlockMeta> {
        let tenants = self.all_tenants();
        let mut written = Vec::new();
        for t in tenants {
            let spans = read_heads(&t.heads).active_span_count();
            let age = t.flush.lock().await.last_cut.elapsed();
            if spans == 0 || (spans < max_spans && age < max_age) {
                continue;
            }
            match self.flush(&t.id).await {
                Ok(Some(meta)) => written.push(meta),
                Ok(None) => {}
                // The spans stay in the head and the WAL; the next round retries.
                Err(e) => tracing::error!(tenant = %t.id, error = %e, "flush failed"),
            }
        }
        written
    }

    /// Deletes whole blocks that ended more than their tenant's time to live before `now`
    /// (`ttl` gives it per tenant; `None` keeps everything). A block is first taken out of
    /// reads, then deleted (`meta.json` first), so a query never sees half a block. Returns
    /// what was removed, for the caller to report.
    pub async fn apply_retention(
        &self,
        now: UnixNanos,
        ttl: impl Fn(&TenantId) -> Option<Duration>,
    ) -> Result<Vec<BlockMeta>, StoreError> {
        let tenants = self.all_tenants();
        let mut removed = Vec::new();
        for t in tenants {
            let Some(ttl) = ttl(&t.id) else {
                continue;
            };
            let cutoff = now.saturating_sub(clew_model::DurationNanos::from(ttl));
            let expired: Vec<Arc<BlockReader>> = {
                let mut blocks = t.blocks.write().unwrap_or_else(PoisonError::into_inner);
                let (old, keep): (Vec<_>, Vec<_>) =
                    blocks.drain(..).partition(|b| b.meta().end_max < cutoff);
                *blocks = keep;
                old
            };
            for b in expired {
                let meta = b.meta().clone();
                block::delete_block(self.objects.as_ref(), &t.id, &meta.id).await?;
                tracing::info!(
                    tenant = %t.id,
                    block = %meta.id,
                    spans = meta.span_count,
                    bytes = meta.size_bytes,
                    "retention removed an expired block"
                );
                t.metrics.blocks_expired.inc();
                removed.push(meta);
            }
        }
        Ok(removed)
    }

    /// Merges each tenant's blocks whose spans start in the same `window` (by `start_min`),
    /// size-tiered (see `choose_for_merge`) and within `max_spans` per merged block; exact
    /// duplicates (the same trace id, span id and start) are kept once. The new block is
    /// written and synced before the old ones leave reads and are deleted; a crash between
    /// the two is finished at the next start (the new block names what it replaces).
    /// Returns the blocks written.
    pub async fn compact(
        &self,
        window: Duration,
        max_spans: u64,
    ) -> Result<Vec<BlockMeta>, StoreError> {
        let window_nanos = u64::try_from(window.as_nanos()).unwrap_or(u64::MAX).max(1);
        let tenants = self.all_tenants();
        let mut written = Vec::new();
        for t in tenants {
            // One flush or compaction at a time per tenant: both change the block list.
            let _guard = t.flush.lock().await;
            let mut groups: BTreeMap<u64, Vec<Arc<BlockReader>>> = BTreeMap::new();
            for b in t.blocks() {
                groups
                    .entry(b.meta().start_min.0 / window_nanos)
                    .or_default()
                    .push(b);
            }
            for (_, group) in groups {
                let chosen = choose_for_merge(group, max_spans);
                if chosen.len() < 2 {
                    continue;
                }
                // Streams: memory stays bounded whatever the blocks' size; sets
                // `compacted_from` to the chosen blocks' ids.
                let meta =
                    block::merge_blocks(&self.objects, &t.id, &chosen, &self.config.block_options)
                        .await?;
                self.sync_block(&t.id, &meta.id)?;
                crate::faults::crash_point("compact.block_written");
                let reader = BlockReader::open_with_cache(
                    Arc::clone(&self.objects),
                    meta.clone(),
                    Arc::clone(&self.cache),
                )
                .await?;
                let old: HashSet<String> = chosen.iter().map(|b| b.meta().id.clone()).collect();
                {
                    let mut blocks = t.blocks.write().unwrap_or_else(PoisonError::into_inner);
                    blocks.retain(|b| !old.contains(&b.meta().id));
                    blocks.push(Arc::new(reader));
                    blocks.sort_by(|a, b| a.meta().id.cmp(&b.meta().id));
                }
                for id in &old {
                    block::delete_block(self.objects.as_ref(), &t.id, id).await?;
                    crate::faults::crash_point("compact.old_partly_deleted");
                }
                tracing::info!(
                    tenant = %t.id,
                    block = %meta.id,
                    merged = old.len(),
                    spans = meta.span_count,
                    bytes = meta.size_bytes,
                    "compacted blocks"
                );
                written.push(meta);
            }
        }
        Ok(written)
    }

    /// Flushes every tenant now (the admin `POST /flush`).
    pub async fn flush_all(&self) -> Result<Vec<BlockMeta>, StoreError> {
        let mut written = Vec::new();
        for tenant in self.tenants() {
            if let Some(meta) = self.flush(&tenant).await? {
                written.push(meta);
            }
        }
        Ok(written)
    }

    /// `object_store`'s local backend does not fsync; a block must be on disk before the
    /// WAL segments it replaces are deleted.
    fn sync_block(&self, tenant: &TenantId, id: &str) -> Result<(), StoreError> {
        // A successful put to a remote object store is durable.
        if !self.config.block_storage.is_local() {
            return Ok(());
        }
        let dir = self
            .tenants_dir
            .join(tenant.as_str())
            .join("blocks")
            .join(id);
        for file in [block::DATA_FILE, block::BLOOM_FILE, block::META_FILE] {
            let path = dir.join(file);
            fs::File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(|e| StoreError::io("syncing block file", &path, e))?;
        }
        wal::sync_dir(&dir).map_err(|e| StoreError::io("syncing block directory", &dir, e))?;
        let parent = self.tenants_dir.join(tenant.as_str()).join("blocks");
        wal::sync_dir(&parent).map_err(|e| StoreError::io("syncing blocks directory", &parent, e))
    }

    /// Tenants with data (replayed or appended since open), sorted.
    pub fn tenants(&self) -> Vec<TenantId> {
        self.tenants
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect()
    }

    /// Stops accepting appends ([`AppendError::ShuttingDown`]), finishes every commit
    /// queued before, syncs and closes every segment. Reads keep working. Calling it again
    /// does nothing.
    pub async fn shutdown(&self) -> Result<(), StoreError> {
        self.shutting_down.store(true, Ordering::Release);
        let tenants = self.all_tenants();
        // Ask every writer first so that they close in parallel.
        let mut waiting = Vec::new();
        for tenant in &tenants {
            let (done, result) = oneshot::channel();
            // A writer already gone (an earlier shutdown) has nothing left to close.
            if tenant.send(Request::Shutdown { done }).is_ok() {
                waiting.push((tenant, result));
            }
        }
        let mut first_error = None;
        for (tenant, result) in waiting {
            if let Ok(Err(e)) = result.await {
                tracing::error!(tenant = %tenant.id, error = %e, "closing wal failed");
                first_error.get_or_insert(StoreError::io("closing wal of", &tenant.wal_dir, e));
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Freezes the tenant's active head generation for a block flush: the writer closes its
    /// current WAL segment between two commits, and the generation stops receiving spans.
    /// Frozen generations stay readable until [`Store::release`]. The frozen head may be
    /// empty. `Ok(None)` for an unknown tenant. See the [`crate::wal`] module docs.
    pub async fn cut(&self, tenant: &TenantId) -> Result<Option<FrozenHead>, StoreError> {
        let Some(t) = self.tenant(tenant) else {
            return Ok(None);
        };
        let (done, result) = oneshot::channel();
        if t.send(Request::Cut { done }).is_err() {
            return Err(StoreError::WriterStopped(tenant.clone()));
        }
        let head = result
            .await
            .map_err(|_| StoreError::WriterStopped(tenant.clone()))?;
        Ok(Some(FrozenHead {
            tenant: tenant.clone(),
            head,
        }))
    }

    /// Drops frozen generations up to and including `generation` from memory and deletes
    /// the WAL segments they cover. Call it only once their spans are durable elsewhere
    /// (a block): after this, a restart no longer replays them.
    pub async fn release(&self, tenant: &TenantId, generation: u64) -> Result<(), StoreError> {
        let unknown = || StoreError::UnknownGeneration {
            tenant: tenant.clone(),
            generation,
        };
        let t = self.tenant(tenant).ok_or_else(unknown)?;
        let released = {
            let mut heads = write_heads(&t.heads);
            if !heads.is_frozen(generation) {
                return Err(unknown());
            }
            let released = heads.release(generation);
            t.metrics.head_spans.set(gauge_value(heads.span_count()));
            released
        };
        // Frozen segments are closed for good (the cut closed them), so no writer races this.
        for seq in released.iter().flat_map(|h| h.segment_seqs()) {
            if remove_segment(&t.wal_dir, seq)? {
                t.metrics.wal_segments.dec();
            }
            crate::faults::crash_point("flush.wal_partly_released");
        }
        wal::sync_dir(&t.wal_dir)
            .map_err(|e| StoreError::io("syncing wal directory", &t.wal_dir, e))
    }
}

/// Which blocks of one window to merge now, size-tiered: blocks that reached half the cap
/// are done; of the rest, smallest first, as many as fit under the cap, but never a block
/// more than twice the size of all smaller ones chosen. So small blocks merge with each
/// other first, and a large block is rewritten only when enough new spans have gathered
/// to be worth it: each span is rewritten about log2(cap / flushed block) times, not once
/// per round (which a slow trickle of small flushes would otherwise cause).
fn choose_for_merge(group: Vec<Arc<BlockReader>>, max_spans: u64) -> Vec<Arc<BlockReader>> {
    let mut candidates: Vec<Arc<BlockReader>> = group
        .into_iter()
        .filter(|b| b.meta().span_count < max_spans / 2)
        .collect();
    candidates.sort_by(|a, b| {
        (a.meta().span_count, &a.meta().id).cmp(&(b.meta().span_count, &b.meta().id))
    });
    let mut chosen = Vec::new();
    let mut total = 0u64;
    for b in candidates {
        let n = b.meta().span_count;
        if total + n > max_spans || (!chosen.is_empty() && n > total.saturating_mul(2)) {
            break;
        }
        total += n;
        chosen.push(b);
    }
    chosen
}

fn block_read_error(tenant: &TenantId, b: &BlockReader, e: block::BlockError) -> ReadError {
    ReadError::Block {
        tenant: tenant.clone(),
        block: b.meta().id.clone(),
        message: e.to_string(),
    }
}

/// Tenants with data: a directory under `<data_dir>/tenants` (their WAL) or a folder in the
/// block storage (which is the same place for the local backend, elsewhere for S3), sorted.
fn tenant_ids(
    tenants_dir: &Path,
    objects: &Arc<dyn ObjectStore>,
) -> Result<Vec<TenantId>, StoreError> {
    let mut ids = std::collections::BTreeSet::new();
    let entries =
        fs::read_dir(tenants_dir).map_err(|e| StoreError::io("listing tenants", tenants_dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io("listing tenants", tenants_dir, e))?;
        let path = entry.path();
        let id = entry
            .file_name()
            .to_str()
            .and_then(|name| TenantId::new(name).ok());
        match id.filter(|_| path.is_dir()) {
            Some(id) => {
                ids.insert(id);
            }
            None => {
                tracing::warn!(path = %path.display(), "ignoring an entry that is not a tenant directory");
            }
        }
    }
    let listed = on_side_runtime(async {
        block::list_tenants(objects.as_ref())
            .await
            .map_err(StoreError::Block)
    })?;
    ids.extend(listed);
    Ok(ids.into_iter().collect())
}

/// A tenant's complete blocks after [`prepare_blocks`], and what could not be used.
#[derive(Default)]
struct Prepared {
    metas: Vec<BlockMeta>,
    problems: Vec<String>,
}

/// Lists every tenant's blocks and finishes what a crash interrupted: incomplete blocks (a
/// write cut short: their spans are still in the WAL or in the blocks being merged) and
/// blocks a complete merged block replaces (a compaction cut short) are deleted; blocks
/// whose `meta.json` is unusable are quarantined and reported.
async fn prepare_blocks(
    objects: &Arc<dyn ObjectStore>,
    ids: &[TenantId],
) -> Result<BTreeMap<TenantId, Prepared>, StoreError> {
    let mut out = BTreeMap::new();
    for id in ids {
        let listing = block::list_blocks(objects.as_ref(), id).await?;
        for incomplete in &listing.incomplete {
            tracing::warn!(tenant = %id, block = %incomplete, "removing an incomplete block left by an interrupted write");
            block::delete_block(objects.as_ref(), id, incomplete).await?;
        }
        let mut prepared = Prepared::default();
        for p in listing.problems {
            // Storage failing now is no reason to move healthy blocks away: fail the start.
            if !p.error.is_damage() {
                return Err(StoreError::Block(p.error));
            }
            prepared
                .problems
                .push(quarantine(objects, id, &p.id, &p.error.to_string()).await);
        }
        let replaced: HashSet<&str> = listing
            .blocks
            .iter()
            .flat_map(|m| m.provenance.compacted_from.iter().map(String::as_str))
            .collect();
        for meta in &listing.blocks {
            if replaced.contains(meta.id.as_str()) {
                tracing::warn!(tenant = %id, block = %meta.id, "deleting a block a compacted block replaces (interrupted compaction)");
                block::delete_block(objects.as_ref(), id, &meta.id).await?;
                continue;
            }
            match block::check_sizes(objects.as_ref(), meta).await {
                Ok(()) => prepared.metas.push(meta.clone()),
                Err(e) if !e.is_damage() => return Err(StoreError::Block(e)),
                Err(e) => prepared
                    .problems
                    .push(quarantine(objects, id, &meta.id, &e.to_string()).await),
            }
        }
        out.insert(id.clone(), prepared);
    }
    Ok(out)
}

/// Opens the listed blocks of every tenant; a block that does not open is quarantined and
/// reported (returned), and the rest serve.
async fn open_readers(
    objects: &Arc<dyn ObjectStore>,
    cache: &Arc<block::BlockCache>,
    tenants: &BTreeMap<TenantId, (Arc<Tenant>, Vec<BlockMeta>)>,
) -> Result<Vec<String>, StoreError> {
    let mut problems = Vec::new();
    for (id, (tenant, metas)) in tenants {
        let mut readers = Vec::new();
        for meta in metas {
            match BlockReader::open_with_cache(Arc::clone(objects), meta.clone(), Arc::clone(cache))
                .await
            {
                Ok(r) => readers.push(Arc::new(r)),
                Err(e) if !e.is_damage() => return Err(StoreError::Block(e)),
                Err(e) => {
                    tenant.metrics.blocks_quarantined.inc();
                    problems.push(quarantine(objects, id, &meta.id, &e.to_string()).await);
                }
            }
        }
        *tenant
            .blocks
            .write()
            .unwrap_or_else(PoisonError::into_inner) = readers;
    }
    Ok(problems)
}

/// Moves a damaged block out of the way (see [`block::quarantine_block`]) and returns the
/// line to report. A block that cannot even be moved stays where it is, skipped.
async fn quarantine(
    objects: &Arc<dyn ObjectStore>,
    tenant: &TenantId,
    id: &str,
    error: &str,
) -> String {
    match block::quarantine_block(objects.as_ref(), tenant, id).await {
        Ok(()) => {
            tracing::error!(tenant = %tenant, block = %id, %error, "quarantined a damaged block");
            format!("{tenant}/{id}: {error} (quarantined under {tenant}/quarantine/{id})")
        }
        Err(e) => {
            tracing::error!(tenant = %tenant, block = %id, %error, move_error = %e, "skipping a damaged block that could not be quarantined");
            format!("{tenant}/{id}: {error} (skipped; quarantine failed: {e})")
        }
    }
}

/// Runs `work` to completion on a thread of its own with a small runtime: `open` is
/// synchronous and may be called from inside a runtime, where blocking on another is not
/// allowed.
fn on_side_runtime<T: Send>(
    work: impl std::future::Future<Output = Result<T, StoreError>> + Send,
) -> Result<T, StoreError> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| StoreError::io("starting a runtime to open blocks", "", e))?
                    .block_on(work)
            })
            .join()
            .unwrap_or_else(|_| {
                Err(StoreError::OpeningBlocks(
                    "the thread opening blocks panicked",
                ))
            })
    })
}

/// Deletes a segment file; false if it was already gone.
fn remove_segment(dir: &Path, seq: u64) -> Result<bool, StoreError> {
    let path = wal::segment_path(dir, seq);
    match fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(StoreError::io("deleting wal segment", path, e)),
    }
}

/// The batch's spans as the head indexes them: all but those with all-zero ids, which the
/// OTLP conversion refuses, so the head after replay equals the head before.
fn indexable(tenant: &TenantId, batch: TraceBatch) -> Vec<SpanRecord> {
    let mut records = batch.into_records();
    let before = records.len();
    records.retain(|r| !r.span.trace_id.is_zero() && !r.span.span_id.is_zero());
    if records.len() < before {
        tracing::warn!(
            tenant = %tenant,
            dropped = before - records.len(),
            "not indexing spans with an all-zero trace or span id"
        );
    }
    records
}

#[cfg(test)]
mod tests;

/// Takes an exclusive lock on `<data_dir>/clew.lock`, failing at once if it is held.
fn lock_data_dir(dir: &std::path::Path) -> Result<fs::File, StoreError> {
    let path = dir.join("clew.lock");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StoreError::io("opening lock file", &path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(StoreError::Locked {
            dir: dir.to_path_buf(),
            lock: path,
        }),
        Err(fs::TryLockError::Error(e)) => Err(StoreError::io("locking", &path, e)),
    }
}
