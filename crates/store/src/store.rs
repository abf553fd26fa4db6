//! [`Store`]: the tenants of one data directory, each with its WAL writer and head, and the
//! operations the rest of Clew calls.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use std::collections::HashSet;
use std::time::Instant;

use clew_model::{SpanKind, SpanRecord, TenantId, TraceBatch, TraceId, UnixNanos};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use prometheus_client::registry::Registry;
use tokio::sync::oneshot;

use crate::block::{self, BlockMeta, BlockReader};

use crate::error::{AppendError, ReadError, StoreError};
use crate::filter::SpanFilter;
use crate::head::{FrozenHead, Head, Heads, SharedHeads, read_heads, write_heads};
use crate::metrics::{Metrics, TenantMetrics, gauge_value};
use crate::wal::{self, AppendRequest, Pending, ReplayReport, Request, WalWriter};
use crate::{Durability, StoreConfig};

/// What an overloaded caller is told to wait: about one commit cycle of a busy disk.
const RETRY_AFTER: Duration = Duration::from_secs(1);

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
    /// Blocks that could not be opened at start, reported and left out of reads.
    block_problems: Vec<String>,
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
        let objects: Arc<dyn ObjectStore> =
            Arc::new(LocalFileSystem::new_with_prefix(&tenants_dir).map_err(|e| {
                StoreError::io(
                    "opening block storage in",
                    &tenants_dir,
                    io::Error::other(e),
                )
            })?);
        let mut store = Store {
            objects,
            block_problems: Vec::new(),
            _lock: lock,
            config,
            tenants_dir,
            metrics,
            pending,
            tenants: RwLock::new(BTreeMap::new()),
            reports: Vec::new(),
            shutting_down: AtomicBool::new(false),
        };
        let entries = fs::read_dir(&store.tenants_dir)
            .map_err(|e| StoreError::io("listing tenants", &store.tenants_dir, e))?;
        let mut tenants = BTreeMap::new();
        for entry in entries {
            let entry =
                entry.map_err(|e| StoreError::io("listing tenants", &store.tenants_dir, e))?;
            let path = entry.path();
            let id = entry
                .file_name()
                .to_str()
                .and_then(|name| TenantId::new(name).ok());
            let Some(id) = id.filter(|_| path.is_dir()) else {
                tracing::warn!(path = %path.display(), "ignoring an entry that is not a tenant directory");
                continue;
            };
            let wal_dir = path.join("wal");
            // A tenant directory may exist without a WAL (created by hand or by other data);
            // the writer needs the directory to open segments in.
            fs::create_dir_all(&wal_dir)
                .map_err(|e| StoreError::io("creating wal directory", &wal_dir, e))?;
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
            let tenant = store.start_tenant(
                id.clone(),
                wal_dir,
                replayed.heads,
                replayed.next_seq,
                metrics,
            )?;
            tenants.insert(id, Arc::new(tenant));
            store.reports.push(report);
        }
        store.block_problems = load_blocks(&store.objects, &tenants)?;
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
            let found = b
                .trace(id)
                .await
                .map_err(|e| block_read_error(tenant, &b, e))?;
            spans.extend(
                found
                    .into_iter()
                    .filter(|s| seen.insert((s.span.span_id, s.span.start))),
            );
        }
        Ok(spans)
    }

    /// Ids of traces that have at least one span matching every condition of the filter,
    /// newest first (by the trace's earliest span start, ties broken by trace id
    /// descending), at most `limit`. Head and blocks are merged; a trace found in several
    /// places takes its earliest start.
    pub async fn find_trace_ids(
        &self,
        tenant: &TenantId,
        filter: &SpanFilter,
        limit: usize,
    ) -> Result<Vec<TraceId>, ReadError> {
        let Some(t) = self.tenant(tenant) else {
            return Ok(Vec::new());
        };
        let mut starts: std::collections::HashMap<TraceId, UnixNanos> = read_heads(&t.heads)
            .find(filter, limit)
            .into_iter()
            .map(|(start, id)| (id, start))
            .collect();
        for b in t.blocks() {
            let found = b
                .find_trace_ids(filter, limit)
                .await
                .map_err(|e| block_read_error(tenant, &b, e))?;
            for (id, start) in found {
                let e = starts.entry(id).or_insert(start);
                *e = (*e).min(start);
            }
        }
        let mut keys: Vec<(UnixNanos, TraceId)> =
            starts.into_iter().map(|(id, start)| (start, id)).collect();
        keys.sort_unstable_by(|a, b| b.cmp(a));
        Ok(keys.into_iter().take(limit).map(|(_, id)| id).collect())
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

    /// Blocks found at open that could not be used (they are left in place and skipped).
    pub fn block_problems(&self) -> &[String] {
        &self.block_problems
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
        let mut last = None;
        while let Some(frozen) = state.pending.first() {
            let generation = frozen.generation();
            let spans: Vec<SpanRecord> = frozen.spans().cloned().collect();
            if !spans.is_empty() {
                let meta = block::write_block(
                    self.objects.as_ref(),
                    tenant,
                    spans,
                    &self.config.block_options,
                )
                .await?;
                self.sync_block(tenant, &meta.id)?;
                let reader = BlockReader::open(Arc::clone(&self.objects), meta.clone()).await?;
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
                removed.push(meta);
            }
        }
        Ok(removed)
    }

    /// Merges each tenant's blocks whose spans start in the same `window` (by `start_min`)
    /// into one block, as long as the merged block stays within `max_spans`; exact
    /// duplicates (the same trace id, span id and start) are kept once. The new block is
    /// written and synced before the old ones leave reads and are deleted, so a crash at any
    /// point loses nothing: at worst both stay, reads deduplicate, and the next round merges
    /// them again. Returns the blocks written.
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
                // Oldest first, as many as fit in one block.
                let mut chosen = Vec::new();
                let mut total = 0u64;
                for b in group {
                    if total + b.meta().span_count > max_spans {
                        break;
                    }
                    total += b.meta().span_count;
                    chosen.push(b);
                }
                if chosen.len() < 2 {
                    continue;
                }
                let mut spans = Vec::new();
                for b in &chosen {
                    spans.extend(b.all_spans().await?);
                }
                let meta = block::write_block(
                    self.objects.as_ref(),
                    &t.id,
                    spans,
                    &self.config.block_options,
                )
                .await?;
                self.sync_block(&t.id, &meta.id)?;
                let reader = BlockReader::open(Arc::clone(&self.objects), meta.clone()).await?;
                let old: HashSet<String> = chosen.iter().map(|b| b.meta().id.clone()).collect();
                {
                    let mut blocks = t.blocks.write().unwrap_or_else(PoisonError::into_inner);
                    blocks.retain(|b| !old.contains(&b.meta().id));
                    blocks.push(Arc::new(reader));
                    blocks.sort_by(|a, b| a.meta().id.cmp(&b.meta().id));
                }
                for id in &old {
                    block::delete_block(self.objects.as_ref(), &t.id, id).await?;
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
        }
        wal::sync_dir(&t.wal_dir)
            .map_err(|e| StoreError::io("syncing wal directory", &t.wal_dir, e))
    }
}

fn block_read_error(tenant: &TenantId, b: &BlockReader, e: block::BlockError) -> ReadError {
    ReadError::Block {
        tenant: tenant.clone(),
        block: b.meta().id.clone(),
        message: e.to_string(),
    }
}

/// Opens every tenant's blocks (on a thread of its own with a small runtime, since `open`
/// is synchronous and may be called from inside one). Incomplete blocks (a crash during a
/// write: their spans are still in the WAL) are deleted; unreadable ones are reported and
/// skipped.
fn load_blocks(
    objects: &Arc<dyn ObjectStore>,
    tenants: &BTreeMap<TenantId, Arc<Tenant>>,
) -> Result<Vec<String>, StoreError> {
    let work = async {
        let mut problems = Vec::new();
        for (id, tenant) in tenants {
            let listing = block::list_blocks(objects.as_ref(), id).await?;
            for incomplete in &listing.incomplete {
                tracing::warn!(tenant = %id, block = %incomplete, "removing an incomplete block left by an interrupted flush");
                block::delete_block(objects.as_ref(), id, incomplete).await?;
            }
            for p in &listing.problems {
                tracing::error!(tenant = %id, block = %p.id, error = %p.error, "skipping an unreadable block");
                problems.push(format!("{id}/{}: {}", p.id, p.error));
            }
            let mut readers = Vec::new();
            for meta in listing.blocks {
                let block_id = meta.id.clone();
                match BlockReader::open(Arc::clone(objects), meta).await {
                    Ok(r) => readers.push(Arc::new(r)),
                    Err(e) => {
                        tracing::error!(tenant = %id, block = %block_id, error = %e, "skipping a block that does not open");
                        problems.push(format!("{id}/{block_id}: {e}"));
                    }
                }
            }
            *tenant
                .blocks
                .write()
                .unwrap_or_else(PoisonError::into_inner) = readers;
        }
        Ok(problems)
    };
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
