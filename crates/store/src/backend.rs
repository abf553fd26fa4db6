//! Where blocks are kept: the local file system beside the WAL (the default), or an
//! S3-compatible bucket. Both through `object_store`, so the block code never knows which.

use std::io;
use std::path::Path;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::prefix::PrefixStore;

use crate::error::StoreError;

/// The block storage backend.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum BlockStorage {
    /// `<data_dir>/tenants/<tenant>/blocks/`, beside the tenant's WAL.
    #[default]
    Local,
    /// An S3 or S3-compatible bucket (MinIO, SeaweedFS, Ceph, R2, ...).
    S3(S3Options),
}

/// An S3 bucket. Credentials and region not given here come from the standard `AWS_*`
/// environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, ...).
/// Deserializes from the `[storage.s3]` table of Clew's config (every key required there).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Options {
    pub bucket: String,
    /// Key prefix inside the bucket (e.g. `clew/prod`); blocks go under
    /// `<prefix>/<tenant>/blocks/<id>/`.
    pub prefix: String,
    /// Endpoint URL for S3-compatible services (`http://127.0.0.1:8333`); empty for AWS.
    pub endpoint: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Allow `http://` endpoints (S3-compatible services on a private network).
    pub allow_http: bool,
    /// `bucket.host` URLs instead of `host/bucket`; most S3-compatible services want the
    /// latter (the default).
    pub virtual_hosted_style: bool,
}

impl BlockStorage {
    /// Whether blocks sit on the local file system, which `object_store` does not fsync.
    pub fn is_local(&self) -> bool {
        matches!(self, Self::Local)
    }

    /// Opens the backend; `tenants_dir` is the local root (`<data_dir>/tenants`).
    pub fn open(&self, tenants_dir: &Path) -> Result<Arc<dyn ObjectStore>, StoreError> {
        match self {
            Self::Local => {
                let local = LocalFileSystem::new_with_prefix(tenants_dir).map_err(|e| {
                    StoreError::io("opening block storage in", tenants_dir, io::Error::other(e))
                })?;
                Ok(Arc::new(local))
            }
            Self::S3(s3) => {
                if s3.bucket.is_empty() {
                    return Err(StoreError::Config(
                        "storage.s3.bucket must be set for the s3 backend",
                    ));
                }
                let mut builder = AmazonS3Builder::from_env()
                    .with_bucket_name(&s3.bucket)
                    .with_allow_http(s3.allow_http)
                    .with_virtual_hosted_style_request(s3.virtual_hosted_style);
                if !s3.endpoint.is_empty() {
                    builder = builder.with_endpoint(&s3.endpoint);
                }
                if !s3.region.is_empty() {
                    builder = builder.with_region(&s3.region);
                }
                if !s3.access_key_id.is_empty() {
                    builder = builder.with_access_key_id(&s3.access_key_id);
                }
                if !s3.secret_access_key.is_empty() {
                    builder = builder.with_secret_access_key(&s3.secret_access_key);
                }
                let bucket = builder.build().map_err(|e| StoreError::Backend {
                    what: format!("s3 bucket {:?}", s3.bucket),
                    source: Box::new(e),
                })?;
                let prefix = s3.prefix.trim_matches('/');
                if prefix.is_empty() {
                    Ok(Arc::new(bucket))
                } else {
                    Ok(Arc::new(PrefixStore::new(bucket, prefix)))
                }
            }
        }
    }
}
