//! `FileStore` on the local disk: one file per id under `<data-dir>/files/`, written to a
//! temporary name and renamed, so a reader never sees half a file; directory 0700, files 0600.

use std::path::PathBuf;

use accounts::files::{FileId, FileStore, FileStoreError};
use async_trait::async_trait;

#[derive(Debug, Clone)]
pub struct DiskFileStore {
    root: PathBuf,
}

fn io(e: std::io::Error) -> FileStoreError {
    FileStoreError(Box::new(e))
}

impl DiskFileStore {
    /// Creates `root` (0700) if needed; files are written 0600.
    pub fn new(root: PathBuf) -> std::io::Result<Self> {
        crate::private_files::create_dir(&root)?;
        Ok(Self { root })
    }

    fn path(&self, id: FileId) -> PathBuf {
        // A UUID's hyphenated text is a safe file name; no user input reaches the path.
        self.root.join(id.0.hyphenated().to_string())
    }
}

#[async_trait]
impl FileStore for DiskFileStore {
    async fn put(&self, id: FileId, bytes: Vec<u8>) -> Result<(), FileStoreError> {
        crate::private_files::write_atomically_async(self.path(id), bytes)
            .await
            .map_err(io)
    }

    async fn get(&self, id: FileId) -> Result<Option<Vec<u8>>, FileStoreError> {
        match tokio::fs::read(self.path(id)).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(e)),
        }
    }

    async fn delete(&self, id: FileId) -> Result<(), FileStoreError> {
        match tokio::fs::remove_file(self.path(id)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_get_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskFileStore::new(dir.path().join("files")).unwrap();
        let id = FileId::new();
        assert_eq!(store.get(id).await.unwrap(), None);
        store.put(id, b"abc".to_vec()).await.unwrap();
        assert_eq!(store.get(id).await.unwrap().as_deref(), Some(&b"abc"[..]));
        store.delete(id).await.unwrap();
        assert_eq!(store.get(id).await.unwrap(), None);
        store.delete(id).await.unwrap();
    }
}
