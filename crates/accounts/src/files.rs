//! The `FileStore` port: where uploaded bytes live (local disk by default, an object store
//! for several replicas). Metadata (owner, content type) lives in the `Store`, not here.

use async_trait::async_trait;
use uuid::Uuid;

/// A stored file's identifier; also its key in the `FileStore`. Random (v4), so a file's
/// URL cannot be guessed from another's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId(pub Uuid);

impl FileId {
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }
}

impl Default for FileId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for FileId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("file storage failed: {0}")]
pub struct FileStoreError(pub Box<dyn std::error::Error + Send + Sync>);

#[async_trait]
pub trait FileStore: Send + Sync + std::fmt::Debug {
    async fn put(&self, id: FileId, bytes: Vec<u8>) -> Result<(), FileStoreError>;
    /// `None` when no file has that id.
    async fn get(&self, id: FileId) -> Result<Option<Vec<u8>>, FileStoreError>;
    /// Deleting a missing file is not an error.
    async fn delete(&self, id: FileId) -> Result<(), FileStoreError>;
}
