//! Tenant listing and quarantine: the parts of the block layout that span blocks.

use clew_model::TenantId;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _};

use super::{BLOOM_FILE, BlockError, BlockMeta, DATA_FILE, INDEX_FILE, block_path, delete_block};

/// `<tenant>/quarantine/<id>/`: where damaged blocks are moved, out of every listing.
pub fn quarantine_prefix(tenant: &TenantId, id: &str) -> Path {
    Path::from_iter([tenant.as_str(), "quarantine", id])
}

/// Tenants with a folder at the root of the block storage, sorted; names that are not
/// valid tenant ids are skipped.
pub async fn list_tenants(store: &dyn ObjectStore) -> Result<Vec<TenantId>, BlockError> {
    let root = Path::default();
    let listing = store
        .list_with_delimiter(None)
        .await
        .map_err(|e| BlockError::store("list", &root, e))?;
    let mut ids: Vec<TenantId> = listing
        .common_prefixes
        .iter()
        .filter_map(|p| p.filename().and_then(|name| TenantId::new(name).ok()))
        .collect();
    ids.sort();
    Ok(ids)
}

/// Moves every object of a block to [`quarantine_prefix`] (copy, then [`delete_block`]), so
/// that an operator can inspect a damaged block while reads and compaction no longer see
/// it. Object stores have no rename; a crash midway leaves the copy and the original,
/// and the next start quarantines the original again.
pub async fn quarantine_block(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    id: &str,
) -> Result<(), BlockError> {
    let folder = Path::from_iter([tenant.as_str(), "blocks", id]);
    let listing = store
        .list_with_delimiter(Some(&folder))
        .await
        .map_err(|e| BlockError::store("list", &folder, e))?;
    let target = quarantine_prefix(tenant, id);
    for object in listing.objects {
        let Some(name) = object.location.filename() else {
            continue;
        };
        let to = target.clone().join(name);
        store
            .copy(&object.location, &to)
            .await
            .map_err(|e| BlockError::store("copy to quarantine", &object.location, e))?;
    }
    delete_block(store, tenant, id).await
}

/// Checks that a block's objects have the sizes its `meta.json` records: a truncated or
/// extended file is damage that reads would otherwise meet only as failed range requests,
/// which look like storage errors. One listing of the block's folder.
pub async fn check_sizes(store: &dyn ObjectStore, meta: &BlockMeta) -> Result<(), BlockError> {
    let folder = Path::from_iter([meta.tenant.as_str(), "blocks", meta.id.as_str()]);
    let listing = store
        .list_with_delimiter(Some(&folder))
        .await
        .map_err(|e| BlockError::store("list", &folder, e))?;
    let mut files = vec![(DATA_FILE, meta.data_bytes), (BLOOM_FILE, meta.bloom_bytes)];
    if meta.index_bytes > 0 {
        files.push((INDEX_FILE, meta.index_bytes));
    }
    for (file, expected) in files {
        let path = block_path(&meta.tenant, &meta.id, file);
        let found = listing
            .objects
            .iter()
            .find(|o| o.location == path)
            .map(|o| o.size);
        match found {
            Some(size) if size == expected => {}
            Some(size) => {
                return Err(BlockError::corrupt(
                    &path,
                    format!("{size} bytes where meta.json records {expected}"),
                ));
            }
            None => return Err(BlockError::corrupt(&path, "missing")),
        }
    }
    Ok(())
}

/// Ids of a tenant's quarantined blocks, sorted.
pub async fn list_quarantined(
    store: &dyn ObjectStore,
    tenant: &TenantId,
) -> Result<Vec<String>, BlockError> {
    let prefix = Path::from_iter([tenant.as_str(), "quarantine"]);
    let listing = store
        .list_with_delimiter(Some(&prefix))
        .await
        .map_err(|e| BlockError::store("list", &prefix, e))?;
    let mut ids: Vec<String> = listing
        .common_prefixes
        .iter()
        .filter_map(|p| p.filename().map(str::to_owned))
        .collect();
    ids.sort();
    Ok(ids)
}
