//! The Store contract for users' own content and the second factor: files and their quota,
//! chunks and their pages, TOTP enrolment and steps, recovery codes and login challenges.
//! Each case writes, then reads the effect back through other methods. Listed in
//! `store_contract_tests!` beside the cases of `contract.rs`, whose helpers it shares.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use uuid::Uuid;

use super::contract::{by_code, code_for, hash, mail_to, new_session, new_token, new_user, now};
use crate::domain::{Patch, ProfileChange, ProfileUpdate, UserId};
use crate::files::FileId;
use crate::store::{
    ChallengeRecord, ChunkCursor, ChunkRecord, CodeEffect, CodePurpose, ContentLimits, EndSessions,
    FileCursor, FileRecord, Redemption, Store, StoreError, Unique,
};
use crate::token::{CredentialKind, TokenHash};

const ATTEMPTS: u32 = 5;
/// A quota no case reaches (and any backend can hold in a signed 64-bit integer).
const PLENTY: u64 = 1 << 40;

fn upload(owner: UserId, size: u64, created_at: DateTime<Utc>) -> FileRecord {
    FileRecord {
        id: FileId::new(),
        owner_id: owner,
        purpose: "upload".into(),
        content_type: "text/plain".into(),
        size,
        name: "notes.txt".into(),
        link: Some("https://example.com/notes".into()),
        metadata: Some(json!({"source": "contract", "pages": 3, "tags": ["a", "b"]})),
        tag_set: Some("a,b".into()),
        created_at,
    }
}

fn avatar(owner: UserId, size: u64) -> FileRecord {
    FileRecord {
        id: FileId::new(),
        owner_id: owner,
        purpose: "avatar".into(),
        content_type: "image/png".into(),
        size,
        name: "avatar.png".into(),
        link: None,
        metadata: None,
        tag_set: None,
        created_at: now(),
    }
}

fn chunk(user: UserId, created_at: DateTime<Utc>, tracking_id: Option<&str>) -> ChunkRecord {
    ChunkRecord {
        id: Uuid::now_v7(),
        user_id: user,
        content: format!("written at {created_at}"),
        html: Some("<p>written</p>".into()),
        link: Some("https://example.com/chunk".into()),
        metadata: Some(json!({"kind": "note", "n": 7})),
        tag_set: Some("x,y".into()),
        weight: 1.5,
        tracking_id: tracking_id.map(str::to_owned),
        file_id: None,
        created_at,
        updated_at: created_at,
    }
}

/// A challenge made at `at` that lives five minutes.
fn challenge(user: UserId, secret: &str, at: DateTime<Utc>) -> ChallengeRecord {
    ChallengeRecord {
        id: Uuid::now_v7(),
        user_id: user,
        secret_hash: hash(secret),
        created_at: at,
        expires_at: at + Duration::minutes(5),
        client_ip: Some("127.0.0.1".into()),
        user_agent: Some("contract".into()),
    }
}

fn codes(prefix: &str, n: usize) -> Vec<TokenHash> {
    (0..n).map(|i| hash(&format!("{prefix}-{i}"))).collect()
}

async fn user(store: &Arc<dyn Store>, name: &str) -> UserId {
    let record = new_user(name);
    store.insert_user(&record).await.unwrap();
    record.id
}

async fn total_chunks(store: &Arc<dyn Store>, user: UserId) -> u64 {
    store.list_chunks(user, 0, 100).await.unwrap().1
}

/// A file record without metadata: the one field whose stored text differs by backend
/// (PostgreSQL keeps `jsonb`, whose text has spaces), so sums over these are exact.
fn plain(owner: UserId, size: u64) -> FileRecord {
    FileRecord {
        metadata: None,
        ..upload(owner, size, now())
    }
}

pub async fn file_quota_counts_every_file_and_writes_nothing_past_it(store: Arc<dyn Store>) {
    let owner = user(&store, "quota").await;
    let other = user(&store, "roomy").await;
    let picture = avatar(owner, 100);
    store
        .replace_avatar(
            &picture,
            &ProfileChange::picture("http://x/a".into()),
            &ContentLimits::UNLIMITED,
        )
        .await
        .unwrap();

    let first = plain(owner, 300);
    let at_limit = plain(owner, 600);
    // The avatar, then two uploads: exactly at the quota, every stored byte counted.
    let quota = ContentLimits::bytes(
        picture.stored_bytes() + first.stored_bytes() + at_limit.stored_bytes(),
    );
    store.insert_file(&first, &quota).await.unwrap();
    store.insert_file(&at_limit, &quota).await.unwrap();
    let over = plain(owner, 1);
    assert!(matches!(
        store.insert_file(&over, &quota).await,
        Err(StoreError::LimitReached)
    ));
    assert_eq!(store.file(over.id).await.unwrap(), None);
    assert_eq!(store.list_files(owner).await.unwrap().len(), 3);
    let used = store.content_usage(owner).await.unwrap();
    assert_eq!(used.bytes, quota.quota_bytes);
    assert_eq!((used.files, used.chunks), (3, 0));

    // A larger quota lets it in; the quota is per owner.
    let roomier = ContentLimits::bytes(quota.quota_bytes + over.stored_bytes());
    store.insert_file(&over, &roomier).await.unwrap();
    assert_eq!(store.file(over.id).await.unwrap(), Some(over.clone()));
    let big = plain(other, 1000);
    store
        .insert_file(&big, &ContentLimits::bytes(big.stored_bytes()))
        .await
        .unwrap();
    assert_eq!(store.file(big.id).await.unwrap(), Some(big));

    // Replacing the avatar counts the new one instead of the old one, within the quota.
    let used = store.content_usage(owner).await.unwrap();
    let larger = avatar(owner, 150);
    let exact = ContentLimits::bytes(used.bytes - picture.stored_bytes() + larger.stored_bytes());
    let too_tight = ContentLimits::bytes(exact.quota_bytes - 1);
    let change = ProfileChange::picture("http://x/b".into());
    assert!(matches!(
        store.replace_avatar(&larger, &change, &too_tight).await,
        Err(StoreError::LimitReached)
    ));
    assert_eq!(store.file(larger.id).await.unwrap(), None);
    assert_eq!(store.file(picture.id).await.unwrap(), Some(picture.clone()));
    assert_eq!(
        store
            .replace_avatar(&larger, &change, &exact)
            .await
            .unwrap(),
        Some(picture.id)
    );
    assert_eq!(
        store.content_usage(owner).await.unwrap().bytes,
        exact.quota_bytes
    );
}

pub async fn metadata_and_chunks_count_against_the_quota_and_counts_are_capped(
    store: Arc<dyn Store>,
) {
    let owner = user(&store, "hoarder").await;
    // Metadata counts (at least its compact JSON text; a backend may keep a longer form).
    let with_metadata = FileRecord {
        metadata: Some(json!({"padding": "m".repeat(5000)})),
        ..plain(owner, 1)
    };
    store
        .insert_file(&with_metadata, &ContentLimits::UNLIMITED)
        .await
        .unwrap();
    let used = store.content_usage(owner).await.unwrap();
    assert!(used.bytes >= with_metadata.stored_bytes(), "{used:?}");
    assert!(used.bytes < with_metadata.stored_bytes() + 100, "{used:?}");

    // Chunks count every text field, and against the same quota as files.
    let note = ChunkRecord {
        metadata: None,
        ..chunk(owner, now(), Some("n-1"))
    };
    let before = store.content_usage(owner).await.unwrap();
    store
        .insert_chunk(&note, &ContentLimits::UNLIMITED)
        .await
        .unwrap();
    let after = store.content_usage(owner).await.unwrap();
    assert_eq!(after.bytes - before.bytes, note.stored_bytes());
    assert_eq!((after.files, after.chunks), (1, 1));
    let full = ContentLimits::bytes(after.bytes);
    let next = ChunkRecord {
        metadata: None,
        ..chunk(owner, now(), Some("n-2"))
    };
    assert!(matches!(
        store.insert_chunk(&next, &full).await,
        Err(StoreError::LimitReached)
    ));
    assert!(matches!(
        store.insert_file(&plain(owner, 0), &full).await,
        Err(StoreError::LimitReached)
    ));
    assert_eq!(total_chunks(&store, owner).await, 1);

    // Counts: the cap is on how many, whatever their size.
    let one_file = ContentLimits {
        max_files: 1,
        ..ContentLimits::UNLIMITED
    };
    assert!(matches!(
        store.insert_file(&plain(owner, 0), &one_file).await,
        Err(StoreError::LimitReached)
    ));
    let one_chunk = ContentLimits {
        max_chunks: 1,
        ..ContentLimits::UNLIMITED
    };
    assert!(matches!(
        store.insert_chunk(&next, &one_chunk).await,
        Err(StoreError::LimitReached)
    ));
    assert_eq!(store.content_usage(owner).await.unwrap(), after);
    store
        .insert_chunk(&next, &ContentLimits::UNLIMITED)
        .await
        .unwrap();
}

pub async fn files_page_both_ways_by_time_then_id(store: Arc<dyn Store>) {
    let owner = user(&store, "pager").await;
    let other = user(&store, "elsewhere").await;
    let at = now();
    // Two files share a creation time: the id breaks the tie.
    let mut files: Vec<FileRecord> = [3, 2, 2, 1, 0]
        .iter()
        .map(|age| FileRecord {
            created_at: at - Duration::seconds(*age),
            ..plain(owner, 1)
        })
        .collect();
    for f in &files {
        store
            .insert_file(f, &ContentLimits::UNLIMITED)
            .await
            .unwrap();
    }
    store
        .insert_file(&plain(other, 1), &ContentLimits::UNLIMITED)
        .await
        .unwrap();
    files.sort_by_key(|f| std::cmp::Reverse((f.created_at, f.id.0)));
    let ids = |page: &[FileRecord]| page.iter().map(|f| f.id).collect::<Vec<_>>();
    let all = store.list_files_page(owner, None, 10).await.unwrap();
    assert_eq!(ids(&all), ids(&files));
    let first = store.list_files_page(owner, None, 2).await.unwrap();
    assert_eq!(ids(&first), ids(&files[..2]));
    let after = |f: &FileRecord| FileCursor::After {
        created_at: f.created_at,
        id: f.id,
    };
    let before = |f: &FileRecord| FileCursor::Before {
        created_at: f.created_at,
        id: f.id,
    };
    let second = store
        .list_files_page(owner, Some(after(&first[1])), 2)
        .await
        .unwrap();
    assert_eq!(ids(&second), ids(&files[2..4]));
    let last = store
        .list_files_page(owner, Some(after(&second[1])), 2)
        .await
        .unwrap();
    assert_eq!(ids(&last), ids(&files[4..]));
    // Back: the files just newer than the cursor, still newest first.
    let back = store
        .list_files_page(owner, Some(before(&last[0])), 2)
        .await
        .unwrap();
    assert_eq!(ids(&back), ids(&files[2..4]));
    let back = store
        .list_files_page(owner, Some(before(&files[1])), 2)
        .await
        .unwrap();
    assert_eq!(ids(&back), ids(&files[..1]));
}

pub async fn files_are_listed_newest_first_and_deleted_by_owner(store: Arc<dyn Store>) {
    let owner = user(&store, "lister").await;
    let stranger = user(&store, "stranger").await;
    let files: Vec<FileRecord> = (0..3)
        .map(|i| upload(owner, 10 + i, now() - Duration::seconds(3 - i as i64)))
        .collect();
    for f in &files {
        store
            .insert_file(f, &ContentLimits::bytes(PLENTY))
            .await
            .unwrap();
    }
    assert_eq!(
        store.file(files[0].id).await.unwrap().as_ref(),
        Some(&files[0])
    );
    let listed = store.list_files(owner).await.unwrap();
    let newest_first: Vec<FileRecord> = files.iter().rev().cloned().collect();
    assert_eq!(listed, newest_first);
    assert!(store.list_files(stranger).await.unwrap().is_empty());

    assert!(!store.delete_file(stranger, files[1].id).await.unwrap());
    assert!(store.file(files[1].id).await.unwrap().is_some());
    assert!(store.delete_file(owner, files[1].id).await.unwrap());
    assert_eq!(store.file(files[1].id).await.unwrap(), None);
    assert!(!store.delete_file(owner, files[1].id).await.unwrap());
    assert_eq!(
        store.list_files(owner).await.unwrap(),
        vec![files[2].clone(), files[0].clone()]
    );
}

pub async fn deleting_the_avatar_clears_the_picture(store: Arc<dyn Store>) {
    let owner = user(&store, "pictured").await;
    let named = ProfileUpdate {
        name: Patch::Set("Pia".into()),
        ..ProfileUpdate::default()
    }
    .validate()
    .unwrap();
    store.update_profile(owner, &named, now()).await.unwrap();
    let picture = avatar(owner, 5);
    store
        .replace_avatar(
            &picture,
            &ProfileChange::picture("http://x/p".into()),
            &ContentLimits::UNLIMITED,
        )
        .await
        .unwrap();
    let other = upload(owner, 5, now());
    store
        .insert_file(&other, &ContentLimits::bytes(PLENTY))
        .await
        .unwrap();
    assert_eq!(store.list_files(owner).await.unwrap().len(), 2);

    // Deleting another file leaves the picture alone.
    assert!(store.delete_file(owner, other.id).await.unwrap());
    let kept = store.user_by_id(owner).await.unwrap().unwrap();
    assert_eq!(kept.profile.picture.as_deref(), Some("http://x/p"));

    assert!(store.delete_file(owner, picture.id).await.unwrap());
    let cleared = store.user_by_id(owner).await.unwrap().unwrap();
    assert_eq!(cleared.profile.picture, None);
    assert_eq!(cleared.profile.name.as_deref(), Some("Pia"));
    assert!(store.list_files(owner).await.unwrap().is_empty());
    // The avatar link went too: the next avatar has no predecessor.
    let next = avatar(owner, 5);
    let previous = store
        .replace_avatar(
            &next,
            &ProfileChange::picture("http://x/q".into()),
            &ContentLimits::UNLIMITED,
        )
        .await
        .unwrap();
    assert_eq!(previous, None);
}

pub async fn chunks_page_both_ways_by_time_then_id(store: Arc<dyn Store>) {
    let owner = user(&store, "chunker").await;
    let other = user(&store, "aside").await;
    let at = now();
    // Two chunks share a creation time: the id breaks the tie.
    let mut chunks: Vec<ChunkRecord> = [3, 2, 2, 1, 0]
        .iter()
        .map(|age| chunk(owner, at - Duration::seconds(*age), None))
        .collect();
    for c in &chunks {
        store
            .insert_chunk(c, &ContentLimits::UNLIMITED)
            .await
            .unwrap();
    }
    store
        .insert_chunk(&chunk(other, at, None), &ContentLimits::UNLIMITED)
        .await
        .unwrap();
    chunks.sort_by_key(|c| std::cmp::Reverse((c.created_at, c.id)));
    let ids = |page: &[ChunkRecord]| page.iter().map(|c| c.id).collect::<Vec<_>>();
    let all = store.list_chunks_page(owner, None, 10).await.unwrap();
    assert_eq!(ids(&all), ids(&chunks));
    let after = |c: &ChunkRecord| ChunkCursor::After {
        created_at: c.created_at,
        id: c.id,
    };
    let before = |c: &ChunkRecord| ChunkCursor::Before {
        created_at: c.created_at,
        id: c.id,
    };
    let first = store.list_chunks_page(owner, None, 2).await.unwrap();
    assert_eq!(ids(&first), ids(&chunks[..2]));
    let second = store
        .list_chunks_page(owner, Some(after(&first[1])), 2)
        .await
        .unwrap();
    assert_eq!(ids(&second), ids(&chunks[2..4]));
    let last = store
        .list_chunks_page(owner, Some(after(&second[1])), 2)
        .await
        .unwrap();
    assert_eq!(ids(&last), ids(&chunks[4..]));
    // Back: the chunks just newer than the cursor, still newest first.
    let back = store
        .list_chunks_page(owner, Some(before(&last[0])), 2)
        .await
        .unwrap();
    assert_eq!(ids(&back), ids(&chunks[2..4]));
    let back = store
        .list_chunks_page(owner, Some(before(&chunks[1])), 2)
        .await
        .unwrap();
    assert_eq!(ids(&back), ids(&chunks[..1]));
}

pub async fn chunks_page_newest_first_with_the_total(store: Arc<dyn Store>) {
    let owner = user(&store, "writer").await;
    let other = user(&store, "bystander").await;
    let start = now() - Duration::minutes(1);
    let written: Vec<ChunkRecord> = (0..25)
        .map(|i| chunk(owner, start + Duration::seconds(i), None))
        .collect();
    for c in &written {
        store
            .insert_chunk(c, &ContentLimits::UNLIMITED)
            .await
            .unwrap();
    }
    store
        .insert_chunk(&chunk(other, now(), None), &ContentLimits::UNLIMITED)
        .await
        .unwrap();

    let mut seen = Vec::new();
    for (offset, expected) in [(0, 10), (10, 10), (20, 5)] {
        let (page, total) = store.list_chunks(owner, offset, 10).await.unwrap();
        assert_eq!(total, 25);
        assert_eq!(page.len(), expected, "page at {offset}");
        seen.extend(page);
    }
    let newest_first: Vec<ChunkRecord> = written.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);
    for offset in [25, 1000] {
        let (page, total) = store.list_chunks(owner, offset, 10).await.unwrap();
        assert!(page.is_empty());
        assert_eq!(total, 25);
    }
    assert_eq!(total_chunks(&store, other).await, 1);
}

pub async fn chunks_keep_their_file_link_until_the_file_goes(store: Arc<dyn Store>) {
    let owner = user(&store, "linker").await;
    let file = upload(owner, 1, now());
    store
        .insert_file(&file, &ContentLimits::bytes(PLENTY))
        .await
        .unwrap();
    let mut linked = chunk(owner, now(), Some("linked"));
    linked.file_id = Some(file.id);
    store
        .insert_chunk(&linked, &ContentLimits::UNLIMITED)
        .await
        .unwrap();
    let (page, _) = store.list_chunks(owner, 0, 10).await.unwrap();
    assert_eq!(page, vec![linked.clone()]);

    assert!(store.delete_file(owner, file.id).await.unwrap());
    let (page, total) = store.list_chunks(owner, 0, 10).await.unwrap();
    assert_eq!(total, 1);
    assert_eq!(page[0].file_id, None);
    assert_eq!(page[0].content, linked.content);
}

pub async fn tracking_ids_are_unique_per_user(store: Arc<dyn Store>) {
    let owner = user(&store, "tracker").await;
    let other = user(&store, "copier").await;
    store
        .insert_chunk(&chunk(owner, now(), Some("t-1")), &ContentLimits::UNLIMITED)
        .await
        .unwrap();
    assert!(matches!(
        store
            .insert_chunk(&chunk(owner, now(), Some("t-1")), &ContentLimits::UNLIMITED)
            .await,
        Err(StoreError::Conflict(Unique::TrackingId))
    ));
    assert_eq!(total_chunks(&store, owner).await, 1);

    // Another user may use the same id; chunks without one never conflict.
    store
        .insert_chunk(&chunk(other, now(), Some("t-1")), &ContentLimits::UNLIMITED)
        .await
        .unwrap();
    for _ in 0..2 {
        store
            .insert_chunk(&chunk(owner, now(), None), &ContentLimits::UNLIMITED)
            .await
            .unwrap();
    }
    assert_eq!(total_chunks(&store, owner).await, 3);
    assert_eq!(total_chunks(&store, other).await, 1);
}

pub async fn chunks_are_deleted_by_their_owner(store: Arc<dyn Store>) {
    let owner = user(&store, "deleter").await;
    let stranger = user(&store, "meddler").await;
    let doomed = chunk(owner, now(), Some("doomed"));
    let kept = chunk(owner, now() - Duration::seconds(1), None);
    store
        .insert_chunk(&doomed, &ContentLimits::UNLIMITED)
        .await
        .unwrap();
    store
        .insert_chunk(&kept, &ContentLimits::UNLIMITED)
        .await
        .unwrap();

    assert!(!store.delete_chunk(stranger, doomed.id).await.unwrap());
    assert_eq!(total_chunks(&store, owner).await, 2);
    assert!(store.delete_chunk(owner, doomed.id).await.unwrap());
    assert!(!store.delete_chunk(owner, doomed.id).await.unwrap());
    let (page, total) = store.list_chunks(owner, 0, 10).await.unwrap();
    assert_eq!((page, total), (vec![kept], 1));
    // Its tracking id is free again.
    store
        .insert_chunk(
            &chunk(owner, now(), Some("doomed")),
            &ContentLimits::UNLIMITED,
        )
        .await
        .unwrap();
}

pub async fn totp_secrets_page_by_user_and_are_replaced_only_when_unchanged(store: Arc<dyn Store>) {
    assert!(store.totp_secrets(None, 10).await.unwrap().is_empty());
    let mut owners = Vec::new();
    for name in ["sealing-a", "sealing-b", "sealing-c"] {
        let owner = user(&store, name).await;
        assert!(store
            .begin_totp(owner, name.as_bytes(), now())
            .await
            .unwrap());
        owners.push(owner);
    }
    owners.sort();
    let first = store.totp_secrets(None, 2).await.unwrap();
    let rest = store.totp_secrets(Some(first[1].0), 2).await.unwrap();
    let all: Vec<UserId> = first.iter().chain(&rest).map(|(id, _)| *id).collect();
    assert_eq!(all, owners, "every secret once, by user id");
    let (owner, stored) = first[0].clone();
    assert_eq!(store.totp(owner).await.unwrap().unwrap().secret, stored);

    // Compare-and-set: only while the stored value is still the one read.
    assert!(!store
        .replace_totp_secret(owner, b"not what is stored", b"sealed")
        .await
        .unwrap());
    assert!(store
        .replace_totp_secret(owner, &stored, b"sealed")
        .await
        .unwrap());
    let after = store.totp(owner).await.unwrap().unwrap();
    assert_eq!(after.secret, b"sealed");
    assert!(!after.confirmed, "only the secret changes");
    assert!(!store
        .replace_totp_secret(owner, &stored, b"again")
        .await
        .unwrap());
}

pub async fn totp_enrolment_restarts_until_confirmed(store: Arc<dyn Store>) {
    let owner = user(&store, "enrolling").await;
    assert_eq!(store.totp(owner).await.unwrap(), None);
    assert!(!store
        .confirm_totp(owner, 1, &codes("none", 2), now())
        .await
        .unwrap());

    let at = now();
    assert!(store.begin_totp(owner, b"first", at).await.unwrap());
    let pending = store.totp(owner).await.unwrap().unwrap();
    assert_eq!(pending.secret, b"first");
    assert!(!pending.confirmed);
    assert_eq!(pending.last_step, None);
    assert_eq!(pending.created_at, at);
    assert!(store.begin_totp(owner, b"second", now()).await.unwrap());
    assert_eq!(store.totp(owner).await.unwrap().unwrap().secret, b"second");

    assert!(store
        .confirm_totp(owner, 100, &codes("r", 10), now())
        .await
        .unwrap());
    let confirmed = store.totp(owner).await.unwrap().unwrap();
    assert!(confirmed.confirmed);
    assert_eq!(confirmed.secret, b"second");
    assert_eq!(confirmed.last_step, Some(100));
    assert_eq!(store.recovery_codes_left(owner).await.unwrap(), 10);

    // Nothing pending any more: neither confirm nor begin change anything.
    assert!(!store
        .confirm_totp(owner, 200, &codes("again", 3), now())
        .await
        .unwrap());
    assert!(!store.begin_totp(owner, b"third", now()).await.unwrap());
    assert_eq!(store.totp(owner).await.unwrap(), Some(confirmed));
    assert_eq!(store.recovery_codes_left(owner).await.unwrap(), 10);
    assert!(store
        .use_recovery_code(owner, &hash("r-0"), now())
        .await
        .unwrap());
}

pub async fn confirming_replaces_earlier_recovery_codes(store: Arc<dyn Store>) {
    let owner = user(&store, "reconfirm").await;
    store
        .replace_recovery_codes(owner, &codes("stale", 4), now())
        .await
        .unwrap();
    store.begin_totp(owner, b"secret", now()).await.unwrap();
    assert!(store
        .confirm_totp(owner, 7, &codes("fresh", 2), now())
        .await
        .unwrap());
    assert_eq!(store.recovery_codes_left(owner).await.unwrap(), 2);
    assert!(!store
        .use_recovery_code(owner, &hash("stale-0"), now())
        .await
        .unwrap());
}

pub async fn totp_steps_are_spent_once_and_in_order(store: Arc<dyn Store>) {
    let owner = user(&store, "stepper").await;
    let bare = user(&store, "bare").await;
    assert!(!store.use_totp_step(bare, 1).await.unwrap());
    assert_eq!(store.totp(bare).await.unwrap(), None);

    store.begin_totp(owner, b"secret", now()).await.unwrap();
    store
        .confirm_totp(owner, 100, &codes("r", 1), now())
        .await
        .unwrap();
    assert!(!store.use_totp_step(owner, 100).await.unwrap());
    assert!(!store.use_totp_step(owner, 99).await.unwrap());
    assert!(store.use_totp_step(owner, 101).await.unwrap());
    assert!(!store.use_totp_step(owner, 101).await.unwrap());
    assert!(!store.use_totp_step(owner, 100).await.unwrap());
    assert_eq!(
        store.totp(owner).await.unwrap().unwrap().last_step,
        Some(101)
    );
    assert!(store.use_totp_step(owner, 105).await.unwrap());
    assert_eq!(
        store.totp(owner).await.unwrap().unwrap().last_step,
        Some(105)
    );
}

pub async fn totp_steps_hold_under_parallel_use(store: Arc<dyn Store>) {
    let owner = user(&store, "racer").await;
    store.begin_totp(owner, b"secret", now()).await.unwrap();
    store
        .confirm_totp(owner, 1, &codes("r", 1), now())
        .await
        .unwrap();
    let attempts = (0..8).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.use_totp_step(owner, 2).await.unwrap() })
    });
    let mut accepted = 0;
    for attempt in attempts.collect::<Vec<_>>() {
        if attempt.await.unwrap() {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 1);
}

pub async fn recovery_codes_are_single_use_and_replaced(store: Arc<dyn Store>) {
    let owner = user(&store, "recover").await;
    let stranger = user(&store, "thief").await;
    store.begin_totp(owner, b"secret", now()).await.unwrap();
    store
        .confirm_totp(owner, 1, &codes("old", 3), now())
        .await
        .unwrap();
    assert_eq!(store.recovery_codes_left(owner).await.unwrap(), 3);

    assert!(store
        .use_recovery_code(owner, &hash("old-0"), now())
        .await
        .unwrap());
    assert!(!store
        .use_recovery_code(owner, &hash("old-0"), now())
        .await
        .unwrap());
    assert!(!store
        .use_recovery_code(owner, &hash("nope"), now())
        .await
        .unwrap());
    assert!(!store
        .use_recovery_code(stranger, &hash("old-1"), now())
        .await
        .unwrap());
    assert_eq!(store.recovery_codes_left(owner).await.unwrap(), 2);
    assert_eq!(store.recovery_codes_left(stranger).await.unwrap(), 0);

    store
        .replace_recovery_codes(owner, &codes("new", 2), now())
        .await
        .unwrap();
    assert_eq!(store.recovery_codes_left(owner).await.unwrap(), 2);
    assert!(!store
        .use_recovery_code(owner, &hash("old-1"), now())
        .await
        .unwrap());
    assert!(store
        .use_recovery_code(owner, &hash("new-1"), now())
        .await
        .unwrap());
    assert_eq!(store.recovery_codes_left(owner).await.unwrap(), 1);
    // The TOTP secret is untouched by code changes.
    assert!(store.totp(owner).await.unwrap().unwrap().confirmed);
}

pub async fn deleting_totp_removes_the_recovery_codes(store: Arc<dyn Store>) {
    let owner = user(&store, "disabling").await;
    let kept = user(&store, "keeping").await;
    for u in [owner, kept] {
        store.begin_totp(u, b"secret", now()).await.unwrap();
        store
            .confirm_totp(u, 1, &codes("r", 3), now())
            .await
            .unwrap();
    }
    assert!(store.delete_totp(owner).await.unwrap());
    assert_eq!(store.totp(owner).await.unwrap(), None);
    assert_eq!(store.recovery_codes_left(owner).await.unwrap(), 0);
    assert!(!store
        .use_recovery_code(owner, &hash("r-0"), now())
        .await
        .unwrap());
    assert!(!store.use_totp_step(owner, 2).await.unwrap());
    assert!(!store.delete_totp(owner).await.unwrap());

    // The other user is untouched, and the first can enrol again from scratch.
    assert!(store.totp(kept).await.unwrap().unwrap().confirmed);
    assert_eq!(store.recovery_codes_left(kept).await.unwrap(), 3);
    assert!(store.begin_totp(owner, b"again", now()).await.unwrap());
    let restarted = store.totp(owner).await.unwrap().unwrap();
    assert!(!restarted.confirmed);
    assert_eq!(restarted.last_step, None);
}

pub async fn challenges_live_until_expiry_or_attempts(store: Arc<dyn Store>) {
    let owner = user(&store, "challenged").await;
    let at = now();
    let record = challenge(owner, "ghc_one", at);
    store.insert_challenge(&record).await.unwrap();
    let live = |at: DateTime<Utc>| {
        let store = store.clone();
        async move {
            store
                .live_challenge(&hash("ghc_one"), at, ATTEMPTS)
                .await
                .unwrap()
        }
    };
    assert_eq!(live(at).await, Some(record.clone()));
    assert_eq!(
        live(at + Duration::minutes(5) - Duration::milliseconds(1)).await,
        Some(record.clone())
    );
    assert_eq!(live(at + Duration::minutes(5)).await, None);
    assert_eq!(
        store
            .live_challenge(&hash("ghc_other"), now(), ATTEMPTS)
            .await
            .unwrap(),
        None
    );

    for left in (0..ATTEMPTS).rev() {
        assert!(live(at).await.is_some(), "{left} left");
        assert_eq!(
            store.fail_challenge(record.id, ATTEMPTS).await.unwrap(),
            left
        );
    }
    assert_eq!(live(at).await, None);
    assert_eq!(store.fail_challenge(record.id, ATTEMPTS).await.unwrap(), 0);
    assert_eq!(
        store
            .fail_challenge(Uuid::now_v7(), ATTEMPTS)
            .await
            .unwrap(),
        0
    );
}

pub async fn a_challenge_completes_once_with_its_session(store: Arc<dyn Store>) {
    let owner = user(&store, "completer").await;
    let record = challenge(owner, "ghc_two", now());
    store.insert_challenge(&record).await.unwrap();
    assert_eq!(store.fail_challenge(record.id, ATTEMPTS).await.unwrap(), 4);

    let (session, secret) = new_session(owner);
    assert!(store.complete_challenge(record.id, &session).await.unwrap());
    let found = store
        .credential_by_hash(&secret.hash())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.kind, CredentialKind::Session);
    assert_eq!((found.id, found.user_id), (session.id, owner));
    assert_eq!(
        store
            .live_challenge(&hash("ghc_two"), now(), ATTEMPTS)
            .await
            .unwrap(),
        None
    );

    let (replay, replay_secret) = new_session(owner);
    assert!(!store.complete_challenge(record.id, &replay).await.unwrap());
    assert!(store
        .credential_by_hash(&replay_secret.hash())
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        store.list_sessions(owner, now()).await.unwrap(),
        vec![session]
    );
    let (stray, stray_secret) = new_session(owner);
    assert!(!store
        .complete_challenge(Uuid::now_v7(), &stray)
        .await
        .unwrap());
    assert!(store
        .credential_by_hash(&stray_secret.hash())
        .await
        .unwrap()
        .is_none());
}

pub async fn a_challenge_completes_once_under_parallel_attempts(store: Arc<dyn Store>) {
    let owner = user(&store, "doubled").await;
    let record = challenge(owner, "ghc_race", now());
    store.insert_challenge(&record).await.unwrap();
    let attempts: Vec<_> = (0..6)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let (session, _) = new_session(owner);
                store.complete_challenge(record.id, &session).await.unwrap()
            })
        })
        .collect();
    let mut completed = 0;
    for attempt in attempts {
        if attempt.await.unwrap() {
            completed += 1;
        }
    }
    assert_eq!(completed, 1);
    assert_eq!(store.list_sessions(owner, now()).await.unwrap().len(), 1);
}

pub async fn deleting_a_user_removes_their_content_and_second_factor(store: Arc<dyn Store>) {
    let gone = user(&store, "departing").await;
    let kept = user(&store, "staying").await;
    let mut uploads = Vec::new();
    for (i, u) in [gone, kept].into_iter().enumerate() {
        let file = upload(u, 3, now());
        store
            .insert_file(&file, &ContentLimits::bytes(PLENTY))
            .await
            .unwrap();
        uploads.push(file);
        store
            .insert_chunk(&chunk(u, now(), Some("same")), &ContentLimits::UNLIMITED)
            .await
            .unwrap();
        store.begin_totp(u, b"secret", now()).await.unwrap();
        store
            .confirm_totp(u, 1, &codes("r", 2), now())
            .await
            .unwrap();
        let secret = format!("ghc_user_{i}");
        store
            .insert_challenge(&challenge(u, &secret, now()))
            .await
            .unwrap();
    }

    let deleted = store.delete_user(gone).await.unwrap().unwrap();
    assert_eq!(deleted.files, vec![uploads[0].id]);
    assert_eq!(
        store.list_chunks(gone, 0, 10).await.unwrap(),
        (Vec::new(), 0)
    );
    assert_eq!(store.totp(gone).await.unwrap(), None);
    assert_eq!(store.recovery_codes_left(gone).await.unwrap(), 0);
    assert_eq!(
        store
            .live_challenge(&hash("ghc_user_0"), now(), ATTEMPTS)
            .await
            .unwrap(),
        None
    );
    assert!(store.list_files(gone).await.unwrap().is_empty());
    assert_eq!(store.file(uploads[0].id).await.unwrap(), None);

    assert_eq!(total_chunks(&store, kept).await, 1);
    assert!(store.totp(kept).await.unwrap().unwrap().confirmed);
    assert_eq!(store.recovery_codes_left(kept).await.unwrap(), 2);
    assert!(store
        .live_challenge(&hash("ghc_user_1"), now(), ATTEMPTS)
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        store.list_files(kept).await.unwrap(),
        vec![uploads[1].clone()]
    );
}

pub async fn sessions_record_when_they_were_last_proved(store: Arc<dyn Store>) {
    let owner = user(&store, "proved").await;
    let (session, _) = new_session(owner);
    store.insert_session(&session).await.unwrap();
    assert_eq!(
        store.session_proved_at(session.id).await.unwrap(),
        Some(session.created_at),
        "a sign-in is a proof"
    );
    let later = now() + Duration::minutes(20);
    assert!(store.mark_session_proved(session.id, later).await.unwrap());
    assert_eq!(
        store.session_proved_at(session.id).await.unwrap(),
        Some(later)
    );
    // A late write of an older proof never moves it back.
    assert!(store.mark_session_proved(session.id, now()).await.unwrap());
    assert_eq!(
        store.session_proved_at(session.id).await.unwrap(),
        Some(later)
    );
    let unknown = Uuid::now_v7();
    assert!(!store.mark_session_proved(unknown, later).await.unwrap());
    assert_eq!(store.session_proved_at(unknown).await.unwrap(), None);
}

/// What a reset leaves of a user's credentials: nothing, whether it went through a code or
/// an administrator; a password change keeps API tokens and challenges.
pub async fn a_reset_revokes_sessions_tokens_and_challenges(store: Arc<dyn Store>) {
    let owner = user(&store, "resetme").await;
    let other = user(&store, "bystander").await;
    let arm = |who: UserId, tag: &'static str| {
        let store = store.clone();
        async move {
            let (session, session_secret) = new_session(who);
            store.insert_session(&session).await.unwrap();
            let (token, token_secret) = new_token(who);
            store
                .insert_token(&token, &token_secret.hash(), 10)
                .await
                .unwrap();
            let challenge = challenge(who, tag, now());
            store.insert_challenge(&challenge).await.unwrap();
            (session_secret.hash(), token_secret.hash(), hash(tag))
        }
    };
    let alive = |hashes: (TokenHash, TokenHash, TokenHash)| {
        let store = store.clone();
        async move {
            let session = store.credential_by_hash(&hashes.0).await.unwrap().is_some();
            let token = store.credential_by_hash(&hashes.1).await.unwrap().is_some();
            let challenge = store
                .live_challenge(&hashes.2, now(), 5)
                .await
                .unwrap()
                .is_some();
            (session, token, challenge)
        }
    };

    let first = arm(owner, "first").await;
    let bystander = arm(other, "bystander").await;
    assert!(store
        .set_password_hash(owner, "h1", EndSessions::All, now())
        .await
        .unwrap());
    assert_eq!(alive(first).await, (false, true, true));
    assert!(store
        .set_password_hash(owner, "h2", EndSessions::Reset, now())
        .await
        .unwrap());
    assert_eq!(alive(first).await, (false, false, false));

    let second = arm(owner, "second").await;
    store
        .issue_code(
            &code_for(owner, CodePurpose::ResetPassword, "12345678", "link"),
            &mail_to("resetme@example.com"),
        )
        .await
        .unwrap();
    let redeemed = store
        .redeem_code(
            CodePurpose::ResetPassword,
            &by_code(owner, "12345678"),
            &CodeEffect::SetPassword("h3".into()),
            5,
            now(),
        )
        .await
        .unwrap();
    assert_eq!(redeemed, Redemption::Redeemed(owner));
    assert_eq!(alive(second).await, (false, false, false));
    let (_, stored) = store.login_lookup("resetme").await.unwrap().unwrap();
    assert_eq!(stored.as_deref(), Some("h3"));
    assert_eq!(
        alive(bystander).await,
        (true, true, true),
        "other users keep theirs"
    );
}
