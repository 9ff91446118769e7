//! What users keep here besides their account: files (uploads with a size limit; the avatar
//! is one of them) and chunks (short text records), all under one per-user quota that counts
//! every stored byte (`store::ContentUsage`) and caps on how many of each. Every call
//! names the owner and goes through the core's authorisation check, so an administrator may
//! act on anyone's, and a user on their own.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::access::{Action, Entity, Need};
use crate::admin::Actor;
use crate::audit::Outcome;
use crate::domain::{InvalidInput, UserId};
use crate::error::ContentError;
use crate::files::FileId;
use crate::service::{Accounts, ClientInfo};
use crate::store::{
    ChunkCursor, ChunkRecord, ContentLimits, ContentUsage, FileCursor, FileRecord, StoreError,
    Unique,
};

/// Chunks per numbered page of [`Accounts::list_chunks`] (Trieve's pages).
pub const CHUNK_PAGE: u32 = 10;
/// Files per page of [`Accounts::list_files_page`] when the caller does not say.
pub const DEFAULT_FILE_PAGE: u32 = 50;
/// The most files one page holds; a larger `limit` is refused.
pub const MAX_FILE_PAGE: u32 = 200;
const UPLOAD: &str = "upload";

/// A file as uploaded.
#[derive(Debug, Clone)]
pub struct Upload {
    pub name: String,
    /// As the uploader declared it; `application/octet-stream` when absent.
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
    pub link: Option<String>,
    pub metadata: Option<serde_json::Value>,
    pub tag_set: Option<String>,
}

/// A chunk as its author writes it.
#[derive(Debug, Clone, Default)]
pub struct NewChunk {
    pub content: String,
    pub html: Option<String>,
    pub link: Option<String>,
    pub metadata: Option<serde_json::Value>,
    pub tag_set: Option<String>,
    pub weight: Option<f64>,
    pub tracking_id: Option<String>,
    pub file_id: Option<FileId>,
}

/// One page of chunks.
#[derive(Debug, Clone)]
pub struct ChunkPage {
    pub chunks: Vec<ChunkRecord>,
    /// How many chunks the user has in all.
    pub total: u64,
}

/// Which page of files to list: at most `limit` ([`DEFAULT_FILE_PAGE`] when `None`, 1 to
/// [`MAX_FILE_PAGE`]), from the start or from a cursor (`after` or `before`, not both).
#[derive(Debug, Clone, Copy, Default)]
pub struct FilePageRequest {
    pub limit: Option<u32>,
    pub from: Option<FileCursor>,
}

/// One page of files, newest first.
#[derive(Debug, Clone)]
pub struct FilePage {
    pub files: Vec<FileRecord>,
    /// Where the next (older) page starts; `None` on the last page.
    pub next: Option<FileCursor>,
    /// Where the previous (newer) page ends; `None` on the first page.
    pub prev: Option<FileCursor>,
    /// How many files the user has in all.
    pub total: u64,
}

/// Which page of chunks to list: at most `limit` (1 to [`MAX_FILE_PAGE`]), from the start
/// or from a cursor.
#[derive(Debug, Clone, Copy)]
pub struct ChunkPageRequest {
    pub limit: u32,
    pub from: Option<ChunkCursor>,
}

/// One page of chunks, newest first, with cursors as [`FilePage`] has them.
#[derive(Debug, Clone)]
pub struct ChunkCursorPage {
    pub chunks: Vec<ChunkRecord>,
    pub next: Option<ChunkCursor>,
    pub prev: Option<ChunkCursor>,
    /// How many chunks the user has in all.
    pub total: u64,
}

impl ChunkCursor {
    /// The cursor as text, in the same form as [`FileCursor::to_text`].
    pub fn to_text(&self) -> String {
        let (kind, at, id) = match self {
            Self::After { created_at, id } => ('a', created_at, id),
            Self::Before { created_at, id } => ('b', created_at, id),
        };
        format!("{kind}{}.{id}", at.timestamp_micros())
    }

    /// The cursor [`ChunkCursor::to_text`] wrote; `None` for anything else.
    pub fn from_text(text: &str) -> Option<Self> {
        let (kind, rest) = (text.chars().next()?, text.get(1..)?);
        let (micros, id) = rest.split_once('.')?;
        let created_at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
        let id = Uuid::parse_str(id).ok()?;
        match kind {
            'a' => Some(Self::After { created_at, id }),
            'b' => Some(Self::Before { created_at, id }),
            _ => None,
        }
    }

    fn after(chunk: &ChunkRecord) -> Self {
        Self::After {
            created_at: chunk.created_at,
            id: chunk.id,
        }
    }

    fn before(chunk: &ChunkRecord) -> Self {
        Self::Before {
            created_at: chunk.created_at,
            id: chunk.id,
        }
    }
}

impl FileCursor {
    /// The cursor as text (`a` or `b`, the creation time in microseconds, the id); surfaces
    /// wrap it into their own opaque form.
    pub fn to_text(&self) -> String {
        let (kind, at, id) = match self {
            Self::After { created_at, id } => ('a', created_at, id),
            Self::Before { created_at, id } => ('b', created_at, id),
        };
        format!("{kind}{}.{id}", at.timestamp_micros())
    }

    /// The cursor [`FileCursor::to_text`] wrote; `None` for anything else.
    pub fn from_text(text: &str) -> Option<Self> {
        let (kind, rest) = (text.chars().next()?, text.get(1..)?);
        let (micros, id) = rest.split_once('.')?;
        let created_at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
        let id = FileId(Uuid::parse_str(id).ok()?);
        match kind {
            'a' => Some(Self::After { created_at, id }),
            'b' => Some(Self::Before { created_at, id }),
            _ => None,
        }
    }

    fn after(file: &FileRecord) -> Self {
        Self::After {
            created_at: file.created_at,
            id: file.id,
        }
    }

    fn before(file: &FileRecord) -> Self {
        Self::Before {
            created_at: file.created_at,
            id: file.id,
        }
    }
}

fn file_name(raw: &str) -> Result<String, InvalidInput> {
    // Keep the last path component only: a name is never a path.
    let name = raw.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    if name.is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
        return Err(InvalidInput::new(
            "file_name",
            "must be 1 to 255 characters, without control characters",
        ));
    }
    Ok(name.to_owned())
}

fn optional_text(
    field: &'static str,
    value: Option<String>,
    max: usize,
) -> Result<Option<String>, InvalidInput> {
    match value {
        Some(v) if v.chars().count() > max => Err(InvalidInput::new(
            field,
            format!("must be at most {max} characters"),
        )),
        Some(v) if v.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

fn content_type(raw: Option<String>) -> Result<String, InvalidInput> {
    let value = raw.unwrap_or_default();
    let value = value.trim();
    if value.is_empty() {
        return Ok("application/octet-stream".into());
    }
    let plausible = value.len() <= 255
        && value.contains('/')
        && value.chars().all(|c| c.is_ascii_graphic() || c == ' ');
    if !plausible {
        return Err(InvalidInput::new("content_type", "is not a media type"));
    }
    Ok(value.to_owned())
}

impl Accounts {
    async fn may(&self, actor: &Actor, need: Need, owner: UserId) -> Result<(), ContentError> {
        self.authorize_user(actor, need, owner).await?;
        Ok(())
    }

    /// The limits every record a user stores is counted against.
    pub(crate) fn content_limits(&self) -> ContentLimits {
        ContentLimits {
            quota_bytes: self.config.file_quota_bytes,
            max_files: self.config.max_files_per_user,
            max_chunks: self.config.max_chunks_per_user,
        }
    }

    /// Which limit a refused record (`LimitReached`) ran into, for an answer that names it.
    async fn limit_reached(&self, owner: UserId, chunk: bool) -> ContentError {
        let used = match self.store.content_usage(owner).await {
            Ok(used) => used,
            Err(e) => return e.into(),
        };
        let limits = self.content_limits();
        if chunk && used.chunks >= limits.max_chunks {
            ContentError::TooManyChunks {
                max: limits.max_chunks,
            }
        } else if !chunk && used.files >= limits.max_files {
            ContentError::TooManyFiles {
                max: limits.max_files,
            }
        } else {
            ContentError::QuotaExceeded {
                quota: limits.quota_bytes,
            }
        }
    }

    /// What `owner` stores now, as the quota counts it.
    pub async fn content_usage(
        &self,
        actor: &Actor,
        owner: UserId,
    ) -> Result<ContentUsage, ContentError> {
        self.may(actor, Need::new(Entity::File, Action::Read), owner)
            .await?;
        Ok(self.store.content_usage(owner).await?)
    }

    /// Stores a file for `owner`, within the size limit and their quota.
    pub async fn upload_file(
        &self,
        actor: &Actor,
        owner: UserId,
        upload: Upload,
        client: &ClientInfo,
    ) -> Result<FileRecord, ContentError> {
        self.may(actor, Need::new(Entity::File, Action::Create), owner)
            .await?;
        let max = self.config.max_file_bytes;
        if upload.bytes.len() > max {
            return Err(ContentError::TooLarge { max });
        }
        let record = FileRecord {
            id: FileId::new(),
            owner_id: owner,
            purpose: UPLOAD.into(),
            content_type: content_type(upload.content_type)?,
            size: upload.bytes.len() as u64,
            name: file_name(&upload.name)?,
            link: optional_text("link", upload.link, 2048)?,
            metadata: upload.metadata,
            tag_set: optional_text("tag_set", upload.tag_set, 1024)?,
            created_at: self.clock.now(),
        };
        let limits = self.content_limits();
        // Bytes first, record second: a failed insert leaves bytes to delete, never a record
        // without bytes.
        self.files.put(record.id, upload.bytes).await?;
        if let Err(e) = self.store.insert_file(&record, &limits).await {
            if let Err(cleanup) = self.files.delete(record.id).await {
                tracing::warn!(error = %cleanup, "could not delete a refused upload");
            }
            return Err(match e {
                StoreError::LimitReached => self.limit_reached(owner, false).await,
                other => other.into(),
            });
        }
        self.audit(
            "file.upload",
            actor.user_id(),
            Some(owner),
            Outcome::Success,
            client,
            Some(&record.id.to_string()),
        )
        .await;
        Ok(record)
    }

    /// The owner's files, newest first, all of them (at most `max_files_per_user`); for
    /// vendor dialects whose list has no pages.
    pub async fn list_files(
        &self,
        actor: &Actor,
        owner: UserId,
    ) -> Result<Vec<FileRecord>, ContentError> {
        self.may(actor, Need::new(Entity::File, Action::Read), owner)
            .await?;
        Ok(self.store.list_files(owner).await?)
    }

    /// One page of the owner's files, newest first. A `limit` outside 1 to
    /// [`MAX_FILE_PAGE`] is `Invalid` naming `limit`.
    pub async fn list_files_page(
        &self,
        actor: &Actor,
        owner: UserId,
        request: FilePageRequest,
    ) -> Result<FilePage, ContentError> {
        self.may(actor, Need::new(Entity::File, Action::Read), owner)
            .await?;
        let limit = page_limit(request.limit.unwrap_or(DEFAULT_FILE_PAGE))?;
        // One more than asked tells whether there is more in the direction of travel.
        let mut files = self
            .store
            .list_files_page(owner, request.from, limit + 1)
            .await?;
        let (next, prev) = cut_page(
            &mut files,
            limit,
            matches!(request.from, Some(FileCursor::Before { .. })),
            request.from.is_some(),
            FileCursor::after,
            FileCursor::before,
        );
        let total = self.store.content_usage(owner).await?.files;
        Ok(FilePage {
            files,
            next,
            prev,
            total,
        })
    }

    /// One of the owner's files and its bytes.
    pub async fn download_file(
        &self,
        actor: &Actor,
        owner: UserId,
        id: FileId,
    ) -> Result<(FileRecord, Vec<u8>), ContentError> {
        self.may(actor, Need::new(Entity::File, Action::Read), owner)
            .await?;
        let record = self
            .store
            .file(id)
            .await?
            .filter(|f| f.owner_id == owner)
            .ok_or(ContentError::NotFound)?;
        let bytes = self.files.get(id).await?.ok_or(ContentError::NotFound)?;
        Ok((record, bytes))
    }

    /// Deletes one of the owner's files (the avatar too: the picture claim is cleared).
    pub async fn delete_file(
        &self,
        actor: &Actor,
        owner: UserId,
        id: FileId,
        client: &ClientInfo,
    ) -> Result<(), ContentError> {
        self.may(actor, Need::new(Entity::File, Action::Delete), owner)
            .await?;
        if !self.store.delete_file(owner, id).await? {
            return Err(ContentError::NotFound);
        }
        self.forget_user(owner).await;
        if let Err(e) = self.files.delete(id).await {
            tracing::warn!(error = %e, file = %id, "could not delete a deleted file's bytes");
        }
        self.audit(
            "file.delete",
            actor.user_id(),
            Some(owner),
            Outcome::Success,
            client,
            Some(&id.to_string()),
        )
        .await;
        Ok(())
    }

    /// Writes a chunk for `owner`.
    pub async fn create_chunk(
        &self,
        actor: &Actor,
        owner: UserId,
        new: NewChunk,
    ) -> Result<ChunkRecord, ContentError> {
        self.may(actor, Need::new(Entity::Chunk, Action::Create), owner)
            .await?;
        if new.content.trim().is_empty() && new.html.as_deref().is_none_or(|h| h.trim().is_empty())
        {
            return Err(InvalidInput::new("content", "must not be empty").into());
        }
        if new.content.chars().count() > 65_536 {
            return Err(InvalidInput::new("content", "must be at most 65536 characters").into());
        }
        let weight = new.weight.unwrap_or(1.0);
        if !weight.is_finite() {
            return Err(InvalidInput::new("weight", "must be a finite number").into());
        }
        if let Some(file) = new.file_id {
            let owned = self
                .store
                .file(file)
                .await?
                .is_some_and(|f| f.owner_id == owner);
            if !owned {
                return Err(InvalidInput::new("file_id", "no such file of this user").into());
            }
        }
        let now: DateTime<Utc> = self.clock.now();
        let chunk = ChunkRecord {
            id: Uuid::now_v7(),
            user_id: owner,
            content: new.content,
            html: optional_text("chunk_html", new.html, 262_144)?,
            link: optional_text("link", new.link, 2048)?,
            metadata: new.metadata,
            tag_set: optional_text("tag_set", new.tag_set, 1024)?,
            weight,
            tracking_id: optional_text("tracking_id", new.tracking_id, 255)?,
            file_id: new.file_id,
            created_at: now,
            updated_at: now,
        };
        match self
            .store
            .insert_chunk(&chunk, &self.content_limits())
            .await
        {
            Ok(()) => Ok(chunk),
            Err(StoreError::Conflict(Unique::TrackingId)) => Err(ContentError::TrackingIdTaken),
            Err(StoreError::LimitReached) => Err(self.limit_reached(owner, true).await),
            Err(e) => Err(e.into()),
        }
    }

    /// Page `page` (1-based) of the owner's chunks, [`CHUNK_PAGE`] per page, newest first.
    /// A page past the end is empty (with the total).
    pub async fn list_chunks(
        &self,
        actor: &Actor,
        owner: UserId,
        page: u64,
    ) -> Result<ChunkPage, ContentError> {
        self.may(actor, Need::new(Entity::Chunk, Action::Read), owner)
            .await?;
        if page == 0 {
            return Err(InvalidInput::new("page", "pages start at 1").into());
        }
        let offset = (page - 1).saturating_mul(u64::from(CHUNK_PAGE));
        let (chunks, total) = self.store.list_chunks(owner, offset, CHUNK_PAGE).await?;
        Ok(ChunkPage { chunks, total })
    }

    /// One page of the owner's chunks, newest first, by cursor. A `limit` outside 1 to
    /// [`MAX_FILE_PAGE`] is `Invalid` naming `limit`.
    pub async fn list_chunks_page(
        &self,
        actor: &Actor,
        owner: UserId,
        request: ChunkPageRequest,
    ) -> Result<ChunkCursorPage, ContentError> {
        self.may(actor, Need::new(Entity::Chunk, Action::Read), owner)
            .await?;
        let limit = page_limit(request.limit)?;
        // One more than asked tells whether there is more in the direction of travel.
        let mut chunks = self
            .store
            .list_chunks_page(owner, request.from, limit + 1)
            .await?;
        let (next, prev) = cut_page(
            &mut chunks,
            limit,
            matches!(request.from, Some(ChunkCursor::Before { .. })),
            request.from.is_some(),
            ChunkCursor::after,
            ChunkCursor::before,
        );
        let total = self.store.content_usage(owner).await?.chunks;
        Ok(ChunkCursorPage {
            chunks,
            next,
            prev,
            total,
        })
    }

    pub async fn delete_chunk(
        &self,
        actor: &Actor,
        owner: UserId,
        id: Uuid,
    ) -> Result<(), ContentError> {
        self.may(actor, Need::new(Entity::Chunk, Action::Delete), owner)
            .await?;
        if !self.store.delete_chunk(owner, id).await? {
            return Err(ContentError::NotFound);
        }
        Ok(())
    }
}
/// `limit` when it is 1 to `MAX_FILE_PAGE`.
fn page_limit(limit: u32) -> Result<u32, ContentError> {
    if (1..=MAX_FILE_PAGE).contains(&limit) {
        Ok(limit)
    } else {
        Err(InvalidInput::new("limit", format!("must be between 1 and {MAX_FILE_PAGE}")).into())
    }
}

/// Cuts a page read with one row more than `limit` (newest first; `backwards` when it was
/// read before a cursor, `from_cursor` when it started at one) to `limit` rows, and says the
/// cursors to the next and previous pages, each only when there is such a page.
fn cut_page<T, C>(
    items: &mut Vec<T>,
    limit: u32,
    backwards: bool,
    from_cursor: bool,
    after: impl Fn(&T) -> C,
    before: impl Fn(&T) -> C,
) -> (Option<C>, Option<C>) {
    let more = items.len() > limit as usize;
    if backwards {
        if more {
            items.remove(0);
        }
        (
            items.last().map(&after),
            items.first().filter(|_| more).map(&before),
        )
    } else {
        items.truncate(limit as usize);
        (
            items.last().filter(|_| more).map(&after),
            items.first().filter(|_| from_cursor).map(&before),
        )
    }
}
