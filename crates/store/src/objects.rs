//! The segment store: where Parquet segments live, a local folder or a bucket, behind
//! `object_store`. Queries reach it through the URL `vigil-segments://store/`, registered in
//! the query session, so segment paths are the same whatever the backend.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::prelude::SessionContext;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use url::Url;

use crate::error::StoreError;
use crate::wal::sync_dir;

const QUERY_URL: &str = "vigil-segments://store";

pub(crate) struct SegmentStore {
    objects: Arc<dyn ObjectStore>,
    /// The folder behind a local store, whose writes `put` makes durable with fsync; object
    /// stores are durable when a put returns.
    local_root: Option<PathBuf>,
    description: String,
    query_url: ObjectStoreUrl,
}

impl SegmentStore {
    /// Opens the store at `url`, or the folder `default_dir` when there is none. Remote stores
    /// take their credentials from the environment (`AWS_*`, `AZURE_*`), as their SDKs do.
    pub fn open(url: Option<&str>, default_dir: &Path) -> Result<SegmentStore, StoreError> {
        let Some(url) = url else {
            return SegmentStore::local(default_dir);
        };
        let parsed = Url::parse(url).map_err(|e| StoreError::Io(format!("invalid segments URL '{url}': {e}")))?;
        if parsed.scheme() == "file" {
            let dir = parsed
                .to_file_path()
                .map_err(|()| StoreError::Io(format!("segments URL '{url}' is not an absolute local path")))?;
            return SegmentStore::local(&dir);
        }
        let (objects, prefix) = object_store::parse_url_opts(&parsed, std::env::vars())
            .map_err(|e| StoreError::Io(format!("cannot open the segment store '{url}': {e}")))?;
        let objects: Arc<dyn ObjectStore> =
            if prefix.as_ref().is_empty() { Arc::from(objects) } else { Arc::new(PrefixStore::new(objects, prefix)) };
        SegmentStore::new(objects, None, url.to_string())
    }

    fn local(dir: &Path) -> Result<SegmentStore, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Io(format!("cannot create the segments folder {}: {e}", dir.display())))?;
        let root = std::fs::canonicalize(dir)
            .map_err(|e| StoreError::Io(format!("cannot resolve the segments folder {}: {e}", dir.display())))?;
        let objects = LocalFileSystem::new_with_prefix(&root)
            .map_err(|e| StoreError::Io(format!("cannot open the segments folder {}: {e}", root.display())))?;
        SegmentStore::new(Arc::new(objects), Some(root.clone()), root.display().to_string())
    }

    fn new(
        objects: Arc<dyn ObjectStore>,
        local_root: Option<PathBuf>,
        description: String,
    ) -> Result<SegmentStore, StoreError> {
        let query_url = ObjectStoreUrl::parse(QUERY_URL)
            .map_err(|e| StoreError::Io(format!("invalid segment store URL {QUERY_URL}: {e}")))?;
        Ok(SegmentStore { objects, local_root, description, query_url })
    }

    fn failed(&self, doing: &str, path: &str, error: impl std::fmt::Display) -> StoreError {
        StoreError::Io(format!("segment store {}: cannot {doing} {path}: {error}", self.description))
    }

    /// Where queries find segments: the object store URL their scans name.
    pub fn query_url(&self) -> ObjectStoreUrl {
        self.query_url.clone()
    }

    pub fn register(&self, context: &SessionContext) {
        context.register_object_store(self.query_url.as_ref(), self.objects.clone());
    }

    /// Writes a segment durably.
    pub async fn put(&self, path: &str, data: Bytes) -> Result<(), StoreError> {
        self.objects
            .put(&ObjectPath::from(path), PutPayload::from_bytes(data))
            .await
            .map_err(|e| self.failed("write", path, e))?;
        let Some(root) = self.local_root.clone() else {
            return Ok(());
        };
        let relative = path.to_string();
        tokio::task::spawn_blocking(move || sync_local_file(&root, &relative))
            .await
            .map_err(|e| self.failed("fsync", path, e))?
    }

    pub async fn get(&self, path: &str) -> Result<Bytes, StoreError> {
        let object = self.objects.get(&ObjectPath::from(path)).await.map_err(|e| self.failed("read", path, e))?;
        object.bytes().await.map_err(|e| self.failed("read", path, e))
    }

    /// Deletes a segment; one already gone is not an error.
    pub async fn delete(&self, path: &str) -> Result<(), StoreError> {
        match self.objects.delete(&ObjectPath::from(path)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.failed("delete", path, e)),
        }
    }
}

/// fsyncs a file the local store wrote and the folders up to the root, since the put may have
/// created them and a crash must not lose their entries.
fn sync_local_file(root: &Path, relative: &str) -> Result<(), StoreError> {
    let file = root.join(relative);
    std::fs::File::open(&file)
        .and_then(|f| f.sync_all())
        .map_err(|e| StoreError::Io(format!("cannot fsync segment {}: {e}", file.display())))?;
    let mut folder = file.parent();
    while let Some(dir) = folder {
        sync_dir(dir)?;
        if dir == root {
            break;
        }
        folder = dir.parent();
    }
    Ok(())
}
