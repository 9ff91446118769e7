//! `ContentStore`: users' own content, file records (the bytes live in the `FileStore`),
//! the avatar among them, and chunks; each insert counted against the user's limits in its
//! own transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::StoreError;
use crate::domain::{ProfileChange, UserId};
use crate::files::FileId;

/// A stored file's metadata (the bytes are in the `FileStore`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    pub id: FileId,
    pub owner_id: UserId,
    /// `avatar` for profile pictures, `upload` for the user's own files.
    pub purpose: String,
    pub content_type: String,
    pub size: u64,
    /// The name it was uploaded with (a plain file name, no path).
    pub name: String,
    pub link: Option<String>,
    /// Any JSON the uploader attached.
    pub metadata: Option<serde_json::Value>,
    /// Comma-separated tags.
    pub tag_set: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// What every stored record counts against the quota besides its text: its ids, times and
/// index entries, so a flood of empty records is not free.
pub const RECORD_OVERHEAD_BYTES: u64 = 256;

/// What one user may store, passed by the core to the store so the count and the insert are
/// one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentLimits {
    /// Bytes of everything the user stores, counted as [`ContentUsage::bytes`].
    pub quota_bytes: u64,
    pub max_files: u64,
    pub max_chunks: u64,
}

impl ContentLimits {
    /// No limit at all (tests and tools that copy what exists).
    pub const UNLIMITED: Self = Self {
        quota_bytes: u64::MAX,
        max_files: u64::MAX,
        max_chunks: u64::MAX,
    };

    /// A byte quota and no cap on counts.
    pub const fn bytes(quota_bytes: u64) -> Self {
        Self {
            quota_bytes,
            ..Self::UNLIMITED
        }
    }

    /// Whether `file` fits beside what the user stores (`used`).
    pub fn admit_file(&self, used: &ContentUsage, file: &FileRecord) -> bool {
        used.files < self.max_files
            && used.bytes.saturating_add(file.stored_bytes()) <= self.quota_bytes
    }

    /// Whether `chunk` fits beside what the user stores (`used`).
    pub fn admit_chunk(&self, used: &ContentUsage, chunk: &ChunkRecord) -> bool {
        used.chunks < self.max_chunks
            && used.bytes.saturating_add(chunk.stored_bytes()) <= self.quota_bytes
    }
}

/// What a user stores now. `bytes` counts every stored byte of their content: each file's
/// bytes and the bytes of its name, purpose, content type, link, metadata (as JSON text) and
/// tags; each chunk's content, HTML, link, metadata, tags and tracking id; and
/// [`RECORD_OVERHEAD_BYTES`] for each record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContentUsage {
    pub bytes: u64,
    pub files: u64,
    pub chunks: u64,
}

fn json_bytes(value: Option<&serde_json::Value>) -> u64 {
    value.map_or(0, |v| {
        serde_json::to_string(v).map_or(0, |t| t.len() as u64)
    })
}

fn text_bytes(value: Option<&str>) -> u64 {
    value.map_or(0, |t| t.len() as u64)
}

impl FileRecord {
    /// What this record counts against the quota (see [`ContentUsage`]).
    pub fn stored_bytes(&self) -> u64 {
        self.size
            + [
                Some(self.name.as_str()),
                Some(self.purpose.as_str()),
                Some(self.content_type.as_str()),
                self.link.as_deref(),
                self.tag_set.as_deref(),
            ]
            .into_iter()
            .map(text_bytes)
            .sum::<u64>()
            + json_bytes(self.metadata.as_ref())
            + RECORD_OVERHEAD_BYTES
    }
}

impl ChunkRecord {
    /// What this record counts against the quota (see [`ContentUsage`]).
    pub fn stored_bytes(&self) -> u64 {
        [
            Some(self.content.as_str()),
            self.html.as_deref(),
            self.link.as_deref(),
            self.tag_set.as_deref(),
            self.tracking_id.as_deref(),
        ]
        .into_iter()
        .map(text_bytes)
        .sum::<u64>()
            + json_bytes(self.metadata.as_ref())
            + RECORD_OVERHEAD_BYTES
    }
}

/// Where a page of files starts: just older (`After`) or just newer (`Before`) than the
/// file with this creation time and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileCursor {
    After {
        created_at: DateTime<Utc>,
        id: FileId,
    },
    Before {
        created_at: DateTime<Utc>,
        id: FileId,
    },
}

/// Where a page of chunks starts: just older (`After`) or just newer (`Before`) than the
/// chunk with this creation time and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkCursor {
    After { created_at: DateTime<Utc>, id: Uuid },
    Before { created_at: DateTime<Utc>, id: Uuid },
}

/// A short user-authored text record.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkRecord {
    pub id: Uuid,
    pub user_id: UserId,
    pub content: String,
    pub html: Option<String>,
    pub link: Option<String>,
    pub metadata: Option<serde_json::Value>,
    pub tag_set: Option<String>,
    pub weight: f64,
    /// The author's own id for the chunk; unique per user when given.
    pub tracking_id: Option<String>,
    pub file_id: Option<FileId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// File records, the avatar, chunks, and what they count against the quota.
#[async_trait]
pub trait ContentStore: Send + Sync {
    /// Records `file` as the user's avatar and applies `change` (the new picture URL) in one
    /// transaction. Returns the previous avatar's id (its record is deleted), `None` when
    /// there was none. Fails, writing nothing, when the user does not exist, or with
    /// `LimitReached` when the user's content (the previous avatar left out) would pass
    /// `limits`.
    async fn replace_avatar(
        &self,
        file: &FileRecord,
        change: &ProfileChange,
        limits: &ContentLimits,
    ) -> Result<Option<FileId>, StoreError>;

    async fn file(&self, id: FileId) -> Result<Option<FileRecord>, StoreError>;

    /// Records an uploaded file unless the owner's content would then pass `limits`
    /// (`LimitReached`); the count and the insert are one transaction.
    async fn insert_file(
        &self,
        file: &FileRecord,
        limits: &ContentLimits,
    ) -> Result<(), StoreError>;

    /// What the owner stores now, counted as [`ContentUsage`] says.
    async fn content_usage(&self, owner: UserId) -> Result<ContentUsage, StoreError>;

    /// The owner's files, newest first (every one: at most `ContentLimits::max_files`).
    async fn list_files(&self, owner: UserId) -> Result<Vec<FileRecord>, StoreError>;

    /// At most `limit` of the owner's files, newest first: the newest without `from`, else
    /// those just older (`After`) or just newer (`Before`) than the cursor's file, by
    /// (`created_at`, `id`).
    async fn list_files_page(
        &self,
        owner: UserId,
        from: Option<FileCursor>,
        limit: u32,
    ) -> Result<Vec<FileRecord>, StoreError>;

    /// Deletes one of the owner's files' record; if it was the avatar, the picture claim and
    /// the avatar link are cleared in the same transaction. `false` when the owner has no
    /// such file.
    async fn delete_file(&self, owner: UserId, id: FileId) -> Result<bool, StoreError>;

    /// Fails with `Conflict(TrackingId)` when the user has a chunk with that tracking id, and
    /// with `LimitReached` when the user's content would pass `limits` (counted in the same
    /// transaction).
    async fn insert_chunk(
        &self,
        chunk: &ChunkRecord,
        limits: &ContentLimits,
    ) -> Result<(), StoreError>;

    /// One page of the user's chunks, newest first, and how many they have in all.
    async fn list_chunks(
        &self,
        user: UserId,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<ChunkRecord>, u64), StoreError>;

    /// At most `limit` of the user's chunks, newest first: the newest without `from`, else
    /// those just older (`After`) or just newer (`Before`) than the cursor's chunk, by
    /// (`created_at`, `id`).
    async fn list_chunks_page(
        &self,
        user: UserId,
        from: Option<ChunkCursor>,
        limit: u32,
    ) -> Result<Vec<ChunkRecord>, StoreError>;

    async fn delete_chunk(&self, user: UserId, id: Uuid) -> Result<bool, StoreError>;
}
