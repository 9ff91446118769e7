//! The Store contract for `ContentStore`: files and the avatar under one quota, chunks and
//! their pages. Each case writes, then reads the effect back through other methods.

use std::sync::Arc;

use chrono::Duration;
use serde_json::json;

use super::{avatar, chunk, new_user, now, plain, total_chunks, upload, user, PLENTY};
use crate::domain::{Patch, ProfileChange, ProfileUpdate, UserId};
use crate::files::FileId;
use crate::store::{
    ChunkCursor, ChunkRecord, ContentLimits, FileCursor, FileRecord, Store, StoreError, Unique,
};

/// Every case of this module, for `store_contract_tests!`; `contract::tests` fails when a
/// `pub async fn` case here is missing from the list.
#[doc(hidden)]
#[macro_export]
macro_rules! store_contract_content {
    ($($how:tt)*) => {
        $crate::store_contract_cases! {
            $($how)* content;
            avatar_replacement_returns_the_old_file,
            avatar_of_a_missing_user_fails_and_writes_nothing,
            file_quota_counts_every_file_and_writes_nothing_past_it,
            metadata_and_chunks_count_against_the_quota_and_counts_are_capped,
            files_page_both_ways_by_time_then_id,
            files_are_listed_newest_first_and_deleted_by_owner,
            deleting_the_avatar_clears_the_picture,
            chunks_page_newest_first_with_the_total,
            chunks_page_both_ways_by_time_then_id,
            chunks_keep_their_file_link_until_the_file_goes,
            tracking_ids_are_unique_per_user,
            chunks_are_deleted_by_their_owner,
        }
    };
}

pub async fn avatar_replacement_returns_the_old_file(store: Arc<dyn Store>) {
    let user = new_user("erin");
    store.insert_user(&user).await.unwrap();
    let file = |id: FileId| FileRecord {
        id,
        owner_id: user.id,
        purpose: "avatar".into(),
        content_type: "image/png".into(),
        size: 42,
        name: "avatar.png".into(),
        link: None,
        metadata: None,
        tag_set: None,
        created_at: now(),
    };
    let first = file(FileId::new());
    let previous = store
        .replace_avatar(
            &first,
            &ProfileChange::picture("http://x/1".into()),
            &crate::store::ContentLimits::UNLIMITED,
        )
        .await
        .unwrap();
    assert_eq!(previous, None);
    assert_eq!(store.file(first.id).await.unwrap(), Some(first.clone()));

    let second = file(FileId::new());
    let previous = store
        .replace_avatar(
            &second,
            &ProfileChange::picture("http://x/2".into()),
            &crate::store::ContentLimits::UNLIMITED,
        )
        .await
        .unwrap();
    assert_eq!(previous, Some(first.id));
    assert_eq!(store.file(first.id).await.unwrap(), None);
    assert_eq!(store.file(second.id).await.unwrap(), Some(second));
    let read = store.user_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(read.profile.picture.as_deref(), Some("http://x/2"));
}

pub async fn avatar_of_a_missing_user_fails_and_writes_nothing(store: Arc<dyn Store>) {
    let file = FileRecord {
        id: FileId::new(),
        owner_id: UserId::new(),
        purpose: "avatar".into(),
        content_type: "image/png".into(),
        size: 1,
        name: "avatar.png".into(),
        link: None,
        metadata: None,
        tag_set: None,
        created_at: now(),
    };
    assert!(store
        .replace_avatar(
            &file,
            &ProfileChange::picture("http://x/1".into()),
            &crate::store::ContentLimits::UNLIMITED
        )
        .await
        .is_err());
    assert_eq!(store.file(file.id).await.unwrap(), None);
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
