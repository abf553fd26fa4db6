//! [`BlockCache`]: one byte-bounded cache per store for what block reads fetch again and
//! again: bloom filters, Parquet metadata (footer with page index) and byte ranges (pages
//! and column chunks). A [`super::BlockReader`] keeps only its `meta.json` and row-group
//! statistics for good; anything here may be evicted and is fetched again on demand.
//!
//! Built on `quick_cache` rather than a hand-written LRU: it is small (two dependencies with
//! default features off), maintained, weighs entries (so the bound is in bytes, not items),
//! dedupes concurrent loads of one key (`get_or_insert_async`), and its S3-FIFO/CLOCK-Pro
//! policy keeps often-used entries (a busy block's footer) through a one-off scan.
//!
//! Each kind has its own budget ([`CacheOptions`]): a burst of page reads can then never
//! push out the bloom filters and footers that every trace lookup needs first, and a
//! budget per kind is easier to size from what a deployment holds (blocks × footer, traces
//! × bloom bits) than one shared pool.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use parquet::arrow::arrow_reader::ArrowReaderMetadata;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use quick_cache::sync::Cache;
use quick_cache::{OptionsBuilder, Weighter};

use super::BlockError;
use super::bloom::Bloom;

const MIB: u64 = 1024 * 1024;

/// Bytes the cache may hold, per kind. Zero disables that kind.
/// Deserializes from the `[storage.cache]` table of Clew's config.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheOptions {
    /// Bloom filters: about 1.2 bytes per trace at a 1% false-positive rate.
    pub bloom_bytes: u64,
    /// Parquet footers with their page indexes, weighed by `ParquetMetaData::memory_size`.
    pub metadata_bytes: u64,
    /// Byte ranges of `data.parquet` as the Parquet reader asked for them (pages of a trace
    /// lookup, column chunks of a search), keyed by (file, range).
    pub range_bytes: u64,
}

impl Default for CacheOptions {
    /// 176 MiB in all. Footers get the most: with page indexes they are the largest
    /// per-block cost (about 6 MiB per million spans), needed by every read of a block, and
    /// costly to parse again: over 10 M spans, 48 MiB of footers made trace-by-id p99 23 ms
    /// where 128 MiB gave 9 ms and a lower RSS (BENCHMARKS.md). Blooms are small (about 1.2
    /// bytes per trace at 1%: 10 M traces in 12 MiB). Pages are the cheapest to lose.
    fn default() -> Self {
        Self {
            bloom_bytes: 16 * MIB,
            metadata_bytes: 128 * MIB,
            range_bytes: 32 * MIB,
        }
    }
}

impl CacheOptions {
    pub fn total_bytes(&self) -> u64 {
        self.bloom_bytes
            .saturating_add(self.metadata_bytes)
            .saturating_add(self.range_bytes)
    }
}

/// Which part of the cache; the `kind` label of its metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheKind {
    Bloom,
    Metadata,
    Range,
}

impl CacheKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bloom => "bloom",
            Self::Metadata => "metadata",
            Self::Range => "range",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheKindLabel {
    pub kind: String,
}

/// The cache's Prometheus metrics, one series per kind (`kind="bloom"|"metadata"|"range"`).
/// [`BlockCache::register_metrics`] registers them under the names in its doc.
#[derive(Clone, Debug, Default)]
pub struct BlockCacheMetrics {
    pub hits: Family<CacheKindLabel, Counter>,
    pub misses: Family<CacheKindLabel, Counter>,
    /// Bytes held now (the cache's weight).
    pub bytes: Family<CacheKindLabel, Gauge>,
    /// The configured bound.
    pub capacity_bytes: Family<CacheKindLabel, Gauge>,
}

/// A snapshot of one kind's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheKindStats {
    pub hits: u64,
    pub misses: u64,
    /// Bytes held now; never above `capacity_bytes`.
    pub bytes: u64,
    pub capacity_bytes: u64,
    pub entries: usize,
}

/// Weights are computed once, when the entry is made, and stored beside the value
/// (`quick_cache` asks for the weight often and requires it to never change).
#[derive(Clone)]
struct Weighed<V> {
    value: V,
    weight: u64,
}

#[derive(Clone)]
struct ByWeight;

impl<K, V> Weighter<K, Weighed<V>> for ByWeight {
    fn weight(&self, _key: &K, val: &Weighed<V>) -> u64 {
        // Never zero: quick_cache never evicts zero-weight entries.
        val.weight.max(1)
    }
}

/// Key of a byte range: the file (`data.parquet` path, shared by a reader's requests) and
/// the range.
type RangeKey = (Arc<str>, u64, u64);

/// Per-key overhead added to each entry's weight (key, hash table slot, Arc headers).
const ENTRY_OVERHEAD: u64 = 128;

struct Part<K, V> {
    /// `None` when the kind's budget is zero.
    cache: Option<Cache<K, Weighed<V>, ByWeight>>,
    capacity: u64,
    hits: Counter,
    misses: Counter,
    bytes: Gauge,
}

impl<K: Eq + std::hash::Hash + Clone, V: Clone> Part<K, V> {
    /// `largest` is the largest entry expected: shards are kept at least that big, since
    /// an entry heavier than its shard's budget is never stored.
    fn new(
        kind: CacheKind,
        capacity: u64,
        largest: u64,
        metrics: &BlockCacheMetrics,
    ) -> Result<Self, BlockError> {
        let label = CacheKindLabel {
            kind: kind.as_str().to_owned(),
        };
        let cache = if capacity == 0 {
            None
        } else {
            let shards = usize::try_from((capacity / largest.max(1)).clamp(1, 8)).unwrap_or(1);
            // Roughly how many entries fit; quick_cache sizes its tables and ghost list by it.
            let items = usize::try_from((capacity / (largest / 16).max(4096)).clamp(32, 1 << 20))
                .unwrap_or(1 << 20);
            let options = OptionsBuilder::new()
                .shards(shards)
                .estimated_items_capacity(items)
                .weight_capacity(capacity)
                .build()
                .map_err(|_| BlockError::Options("invalid block cache size"))?;
            Some(Cache::with_options(
                options,
                ByWeight,
                Default::default(),
                Default::default(),
            ))
        };
        metrics
            .capacity_bytes
            .get_or_create(&label)
            .set(i64::try_from(capacity).unwrap_or(i64::MAX));
        Ok(Self {
            cache,
            capacity,
            hits: metrics.hits.get_or_create_owned(&label),
            misses: metrics.misses.get_or_create_owned(&label),
            bytes: metrics.bytes.get_or_create_owned(&label),
        })
    }

    /// A lookup that counts a hit or a miss.
    fn get(&self, key: &K) -> Option<V> {
        let found = self.cache.as_ref().and_then(|c| c.get(key));
        match &found {
            Some(_) => self.hits.inc(),
            None => self.misses.inc(),
        };
        found.map(|w| w.value)
    }

    /// A lookup that counts nothing (for cheap "is it here" checks that fall back to a
    /// counted path).
    fn peek_quiet(&self, key: &K) -> Option<V> {
        self.cache
            .as_ref()
            .and_then(|c| c.get(key))
            .map(|w| w.value)
    }

    fn insert(&self, key: K, value: V, weight: u64) {
        if let Some(c) = &self.cache {
            c.insert(key, Weighed { value, weight });
            self.bytes
                .set(i64::try_from(c.weight()).unwrap_or(i64::MAX));
        }
    }

    /// The value for `key`, loading it with `load` on a miss; concurrent misses of one key
    /// load once. What `load` returns is used even when it is too heavy to keep.
    async fn get_or_load<E>(
        &self,
        key: &K,
        load: impl Future<Output = Result<(V, u64), E>>,
    ) -> Result<V, E> {
        let Some(c) = &self.cache else {
            self.misses.inc();
            return load.await.map(|(v, _)| v);
        };
        let mut loaded = false;
        let got = c
            .get_or_insert_async(key, async {
                loaded = true;
                load.await.map(|(value, weight)| Weighed { value, weight })
            })
            .await;
        if loaded {
            self.misses.inc();
            self.bytes
                .set(i64::try_from(c.weight()).unwrap_or(i64::MAX));
        } else {
            self.hits.inc();
        }
        got.map(|w| w.value)
    }

    fn stats(&self) -> CacheKindStats {
        CacheKindStats {
            hits: self.hits.get(),
            misses: self.misses.get(),
            bytes: self.cache.as_ref().map_or(0, |c| c.weight()),
            capacity_bytes: self.capacity,
            entries: self.cache.as_ref().map_or(0, |c| c.len()),
        }
    }
}

/// The store's cache for block reads; share it (`Arc`) between all readers of a store.
pub struct BlockCache {
    blooms: Part<Arc<str>, Arc<Bloom>>,
    metadata: Part<Arc<str>, ArrowReaderMetadata>,
    ranges: Part<RangeKey, Bytes>,
    metrics: BlockCacheMetrics,
}

impl std::fmt::Debug for BlockCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockCache")
            .field("bloom", &self.stats(CacheKind::Bloom))
            .field("metadata", &self.stats(CacheKind::Metadata))
            .field("range", &self.stats(CacheKind::Range))
            .finish()
    }
}

impl BlockCache {
    pub fn new(options: &CacheOptions) -> Result<Self, BlockError> {
        let metrics = BlockCacheMetrics::default();
        Ok(Self {
            blooms: Part::new(CacheKind::Bloom, options.bloom_bytes, 16 * MIB, &metrics)?,
            metadata: Part::new(
                CacheKind::Metadata,
                options.metadata_bytes,
                32 * MIB,
                &metrics,
            )?,
            ranges: Part::new(CacheKind::Range, options.range_bytes, 4 * MIB, &metrics)?,
            metrics,
        })
    }

    /// What [`super::BlockReader::open`] uses when given no cache: bloom filter and metadata
    /// kept without bound (as long as the reader lives, as before caches existed), no ranges.
    #[cfg(test)]
    pub(crate) fn unbounded_private() -> Self {
        let options = CacheOptions {
            bloom_bytes: u64::MAX / 4,
            metadata_bytes: u64::MAX / 4,
            range_bytes: 0,
        };
        // These sizes are valid; an error is impossible, but fall back to no cache at all.
        Self::new(&options).unwrap_or_else(|_| {
            let metrics = BlockCacheMetrics::default();
            Self {
                blooms: Part::disabled(CacheKind::Bloom, &metrics),
                metadata: Part::disabled(CacheKind::Metadata, &metrics),
                ranges: Part::disabled(CacheKind::Range, &metrics),
                metrics,
            }
        })
    }

    /// The metrics handles (shared with the cache: they move as it is used).
    pub fn metrics(&self) -> &BlockCacheMetrics {
        &self.metrics
    }

    /// Registers `clew_block_cache_hits_total`, `clew_block_cache_misses_total`,
    /// `clew_block_cache_bytes` and `clew_block_cache_capacity_bytes`, each labelled
    /// `kind` = `bloom`, `metadata` or `range`.
    pub fn register_metrics(&self, registry: &mut Registry) {
        let m = &self.metrics;
        registry.register(
            "clew_block_cache_hits",
            "Block cache lookups answered from memory",
            m.hits.clone(),
        );
        registry.register(
            "clew_block_cache_misses",
            "Block cache lookups that went to object storage",
            m.misses.clone(),
        );
        registry.register_with_unit(
            "clew_block_cache",
            "Bytes held by the block cache",
            Unit::Bytes,
            m.bytes.clone(),
        );
        registry.register_with_unit(
            "clew_block_cache_capacity",
            "Bound of the block cache",
            Unit::Bytes,
            m.capacity_bytes.clone(),
        );
    }

    pub fn stats(&self, kind: CacheKind) -> CacheKindStats {
        match kind {
            CacheKind::Bloom => self.blooms.stats(),
            CacheKind::Metadata => self.metadata.stats(),
            CacheKind::Range => self.ranges.stats(),
        }
    }

    pub(crate) async fn bloom<E>(
        &self,
        key: &Arc<str>,
        load: impl Future<Output = Result<Arc<Bloom>, E>>,
    ) -> Result<Arc<Bloom>, E> {
        self.blooms
            .get_or_load(key, async {
                let bloom = load.await?;
                let weight = bloom.encoded_len() as u64 + ENTRY_OVERHEAD;
                Ok((bloom, weight))
            })
            .await
    }

    /// The bloom filter if it is in memory; counts nothing.
    pub(crate) fn bloom_if_cached(&self, key: &Arc<str>) -> Option<Arc<Bloom>> {
        self.blooms.peek_quiet(key)
    }

    pub(crate) async fn metadata<E>(
        &self,
        key: &Arc<str>,
        load: impl Future<Output = Result<ArrowReaderMetadata, E>>,
    ) -> Result<ArrowReaderMetadata, E> {
        self.metadata
            .get_or_load(key, async {
                let metadata = load.await?;
                let weight = metadata_weight(&metadata);
                Ok((metadata, weight))
            })
            .await
    }

    pub(crate) fn range(&self, file: &Arc<str>, range: &Range<u64>) -> Option<Bytes> {
        self.ranges.get(&(Arc::clone(file), range.start, range.end))
    }

    /// Keeps a copy of `bytes`: a backend may hand out slices of a larger coalesced read,
    /// and keeping such a slice would keep (and hide) the whole buffer.
    pub(crate) fn insert_range(&self, file: &Arc<str>, range: &Range<u64>, bytes: &Bytes) {
        if self.ranges.cache.is_none() {
            return;
        }
        let weight = bytes.len() as u64 + ENTRY_OVERHEAD;
        self.ranges.insert(
            (Arc::clone(file), range.start, range.end),
            Bytes::copy_from_slice(bytes),
            weight,
        );
    }

    pub(crate) fn caches_ranges(&self) -> bool {
        self.ranges.cache.is_some()
    }
}

impl<K, V> Part<K, V> {
    #[cfg(test)]
    fn disabled(kind: CacheKind, metrics: &BlockCacheMetrics) -> Self {
        let label = CacheKindLabel {
            kind: kind.as_str().to_owned(),
        };
        Self {
            cache: None,
            capacity: 0,
            hits: metrics.hits.get_or_create_owned(&label),
            misses: metrics.misses.get_or_create_owned(&label),
            bytes: metrics.bytes.get_or_create_owned(&label),
        }
    }
}

/// What a footer costs in memory: the decoded metadata (page index included) plus the
/// Arrow schema and bookkeeping.
fn metadata_weight(metadata: &ArrowReaderMetadata) -> u64 {
    metadata.metadata().memory_size() as u64 + 4096
}
