//! Parquet's async reader over an `object_store` object of known size.
//!
//! Hand-written because `parquet` deprecated its own object-store reader in favour of
//! implementing [`AsyncFileReader`] directly; this is that implementation, a few lines of
//! glue. The size comes from `meta.json`, so opening a block costs no HEAD request.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::FutureExt as _;
use futures::future::BoxFuture;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

#[derive(Clone, Debug)]
pub(crate) struct ObjectSource {
    store: Arc<dyn ObjectStore>,
    path: Path,
    size: u64,
}

impl ObjectSource {
    pub(crate) fn new(store: Arc<dyn ObjectStore>, path: Path, size: u64) -> Self {
        Self { store, path, size }
    }
}

fn external(e: object_store::Error) -> ParquetError {
    ParquetError::External(Box::new(e))
}

impl AsyncFileReader for ObjectSource {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, Result<Bytes>> {
        async move {
            let bytes = self
                .store
                .get_range(&self.path, range.clone())
                .await
                .map_err(external)?;
            // A short read means the object is not the size meta.json recorded.
            if bytes.len() as u64 != range.end - range.start {
                return Err(ParquetError::EOF(format!(
                    "{}: wanted bytes {range:?}, got {}",
                    self.path,
                    bytes.len()
                )));
            }
            Ok(bytes)
        }
        .boxed()
    }

    fn get_byte_ranges(&mut self, ranges: Vec<Range<u64>>) -> BoxFuture<'_, Result<Vec<Bytes>>> {
        async move {
            let out = self
                .store
                .get_ranges(&self.path, &ranges)
                .await
                .map_err(external)?;
            for (bytes, range) in out.iter().zip(&ranges) {
                if bytes.len() as u64 != range.end - range.start {
                    return Err(ParquetError::EOF(format!(
                        "{}: wanted bytes {range:?}, got {}",
                        self.path,
                        bytes.len()
                    )));
                }
            }
            Ok(out)
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
