//! Parquet's async reader over an `object_store` object of known size.
//!
//! Hand-written because `parquet` deprecated its own object-store reader in favour of
//! implementing [`AsyncFileReader`] directly; this is that implementation, a few lines of
//! glue. The size comes from `meta.json`, so opening a block costs no HEAD request. With a
//! [`BlockCache`], byte ranges are answered from memory when the same (file, range) was
//! read before.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::FutureExt as _;
use futures::future::BoxFuture;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

use super::cache::BlockCache;

#[derive(Clone, Debug)]
pub(crate) struct ObjectSource {
    store: Arc<dyn ObjectStore>,
    path: Path,
    size: u64,
    /// The range cache and this file's key in it; `None` reads straight from the store
    /// (footers, which the metadata cache holds decoded, and whole-file scans such as
    /// compaction, which would only push hot pages out).
    cache: Option<(Arc<BlockCache>, Arc<str>)>,
    /// Adds up the bytes of the ranges read (from the store or the cache), when set.
    counter: Option<Arc<AtomicU64>>,
}

impl ObjectSource {
    pub(crate) fn new(store: Arc<dyn ObjectStore>, path: Path, size: u64) -> Self {
        Self {
            store,
            path,
            size,
            cache: None,
            counter: None,
        }
    }

    /// Counts the bytes of every range read into `counter`.
    pub(crate) fn with_counter(mut self, counter: Arc<AtomicU64>) -> Self {
        self.counter = Some(counter);
        self
    }

    fn count(&self, bytes: u64) {
        if let Some(c) = &self.counter {
            c.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    /// Reads through `cache`'s byte ranges, keyed by `file`.
    pub(crate) fn with_cache(mut self, cache: Arc<BlockCache>, file: Arc<str>) -> Self {
        if cache.caches_ranges() {
            self.cache = Some((cache, file));
        }
        self
    }

    fn check_len(&self, bytes: &Bytes, range: &Range<u64>) -> Result<()> {
        // A short read means the object is not the size meta.json recorded.
        if bytes.len() as u64 != range.end - range.start {
            return Err(ParquetError::EOF(format!(
                "{}: wanted bytes {range:?}, got {}",
                self.path,
                bytes.len()
            )));
        }
        Ok(())
    }
}

fn external(e: object_store::Error) -> ParquetError {
    ParquetError::External(Box::new(e))
}

impl AsyncFileReader for ObjectSource {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, Result<Bytes>> {
        async move {
            self.count(range.end.saturating_sub(range.start));
            if let Some((cache, file)) = &self.cache
                && let Some(bytes) = cache.range(file, &range)
            {
                return Ok(bytes);
            }
            let bytes = self
                .store
                .get_range(&self.path, range.clone())
                .await
                .map_err(external)?;
            self.check_len(&bytes, &range)?;
            if let Some((cache, file)) = &self.cache {
                cache.insert_range(file, &range, &bytes);
            }
            Ok(bytes)
        }
        .boxed()
    }

    fn get_byte_ranges(&mut self, ranges: Vec<Range<u64>>) -> BoxFuture<'_, Result<Vec<Bytes>>> {
        async move {
            self.count(ranges.iter().map(|r| r.end.saturating_sub(r.start)).sum());
            let Some((cache, file)) = &self.cache else {
                let out = self
                    .store
                    .get_ranges(&self.path, &ranges)
                    .await
                    .map_err(external)?;
                for (bytes, range) in out.iter().zip(&ranges) {
                    self.check_len(bytes, range)?;
                }
                return Ok(out);
            };
            // Answer what is cached, fetch the rest in one call (the store coalesces it).
            let mut out: Vec<Option<Bytes>> = ranges.iter().map(|r| cache.range(file, r)).collect();
            let missing: Vec<Range<u64>> = ranges
                .iter()
                .zip(&out)
                .filter(|(_, got)| got.is_none())
                .map(|(r, _)| r.clone())
                .collect();
            if !missing.is_empty() {
                let fetched = self
                    .store
                    .get_ranges(&self.path, &missing)
                    .await
                    .map_err(external)?;
                if fetched.len() != missing.len() {
                    return Err(ParquetError::EOF(format!(
                        "{}: asked for {} ranges, got {}",
                        self.path,
                        missing.len(),
                        fetched.len()
                    )));
                }
                let mut fetched = fetched.into_iter().zip(missing);
                for slot in out.iter_mut().filter(|s| s.is_none()) {
                    if let Some((bytes, range)) = fetched.next() {
                        self.check_len(&bytes, &range)?;
                        cache.insert_range(file, &range, &bytes);
                        *slot = Some(bytes);
                    }
                }
            }
            out.into_iter()
                .zip(&ranges)
                .map(|(b, r)| {
                    b.ok_or_else(|| {
                        ParquetError::EOF(format!("{}: range {r:?} missing", self.path))
                    })
                })
                .collect()
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let metadata = ParquetMetaDataReader::new()
                .with_arrow_reader_options(options)
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}
