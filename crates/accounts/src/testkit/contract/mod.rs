//! The Store contract: what every backend must do, checked by its effects (read back after
//! each write), not just by return values. A backend runs it with
//! `accounts::store_contract_tests!(factory)`, where `factory` is an async expression that
//! yields `(Arc<dyn Store>, guard)`; the guard lives as long as the test (a temp dir, a
//! scratch database).
//!
//! One module per area of the port, each owning its cases and their list (its
//! `store_contract_<area>!` macro): `store_contract_tests!` expands every area's list into one
//! test per case, and the test below fails when a module's `pub async fn` is not on its list
//! or a module is not among the areas, so a case cannot be left out. This module keeps the
//! helpers the areas share.

pub mod access;
pub mod audit;
pub mod content;
pub mod credentials;
pub mod lifecycle;
pub mod second_factor;
pub mod throttle;
pub mod user_admin;
pub mod user_list;
pub mod users;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::access::{OrgId, Organization, RoleId};
use crate::domain::{
    EmailAddress, Patch, ProfileChange, ProfileUpdate, UserId, UserStatus, Username,
};
use crate::files::FileId;
use crate::mail::OutgoingMail;
use crate::store::{
    ChallengeRecord, ChunkRecord, CodeLookup, CodePurpose, CodeRecord, FileRecord, NewUserRecord,
    SessionRecord, Store,
};
use crate::token::{ApiToken, CredentialKind, TokenHash, TokenId, TokenSecret};

/// Expands to one `#[tokio::test]` per contract case, area by area.
#[macro_export]
macro_rules! store_contract_tests {
    ($factory:expr) => {
        $crate::store_contract_users!(@tests $factory;);
        $crate::store_contract_user_list!(@tests $factory;);
        $crate::store_contract_user_admin!(@tests $factory;);
        $crate::store_contract_access!(@tests $factory;);
        $crate::store_contract_credentials!(@tests $factory;);
        $crate::store_contract_lifecycle!(@tests $factory;);
        $crate::store_contract_second_factor!(@tests $factory;);
        $crate::store_contract_content!(@tests $factory;);
        $crate::store_contract_throttle!(@tests $factory;);
        $crate::store_contract_audit!(@tests $factory;);
    };
}

/// What an area's list expands to: its tests (`@tests factory;`) or its case names
/// (`@names;`).
#[doc(hidden)]
#[macro_export]
macro_rules! store_contract_cases {
    (@tests $factory:expr; $module:ident; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let (store, _guard) = $factory.await;
                $crate::testkit::contract::$module::$case(store).await;
            }
        )*
    };
    (@names; $module:ident; $($case:ident),* $(,)?) => {
        &[$(stringify!($case)),*]
    };
}

pub(crate) fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap()
}

pub(crate) fn new_user(name: &str) -> NewUserRecord {
    NewUserRecord {
        id: UserId::new(),
        username: Username::parse(name).unwrap(),
        email: EmailAddress::parse(&format!("{name}@example.com")).unwrap(),
        email_verified: false,
        status: UserStatus::Active,
        number: rand::Rng::gen_range(&mut rand::thread_rng(), 1..(1_i64 << 53)),
        roles: vec![RoleId::USER],
        memberships: Vec::new(),
        password_hash: Some(format!("hash-of-{name}")),
        profile: ProfileChange::default(),
        created_at: now(),
    }
}

pub(crate) fn new_token(user: UserId) -> (ApiToken, TokenSecret) {
    let secret = TokenSecret::generate(CredentialKind::ApiToken);
    let token = ApiToken {
        id: TokenId::new(),
        user_id: user,
        name: "ci".into(),
        mask: secret.mask(),
        created_at: now(),
        expires_at: Some(now() + Duration::hours(1)),
        disabled: false,
        last_used_at: None,
        rotated_at: None,
    };
    (token, secret)
}

pub(crate) fn new_session(user: UserId) -> (SessionRecord, TokenSecret) {
    let secret = TokenSecret::generate(CredentialKind::Session);
    let session = SessionRecord {
        id: Uuid::now_v7(),
        user_id: user,
        secret_hash: secret.hash(),
        created_at: now(),
        last_seen_at: now(),
        expires_at: now() + Duration::days(1),
        client_ip: Some("127.0.0.1".into()),
        user_agent: Some("contract".into()),
    };
    (session, secret)
}

pub(crate) fn hash(text: &str) -> TokenHash {
    use sha2::Digest;
    TokenHash(sha2::Sha256::digest(text.as_bytes()).into())
}

pub(crate) fn code_for(user: UserId, purpose: CodePurpose, code: &str, link: &str) -> CodeRecord {
    CodeRecord {
        id: Uuid::now_v7(),
        user_id: user,
        purpose,
        code_hash: hash(code),
        link_hash: hash(link),
        created_at: now(),
        code_expires_at: now() + Duration::minutes(10),
        link_expires_at: now() + Duration::hours(1),
    }
}

pub(crate) fn mail_to(to: &str) -> OutgoingMail {
    OutgoingMail {
        to: EmailAddress::parse(to).unwrap(),
        subject: "s".into(),
        text: "t".into(),
        html: "<p>h</p>".into(),
    }
}

pub(crate) fn by_code(user: UserId, code: &str) -> CodeLookup {
    CodeLookup::Code {
        user,
        hash: hash(code),
    }
}

/// A user whose id sorts by `n` (ids order the unfiltered list).
fn user_id(n: u128) -> UserId {
    UserId(Uuid::from_u128(
        0x0190_0000_0000_7000_8000_0000_0000_0000 + n,
    ))
}

fn org_id(n: u128) -> OrgId {
    OrgId(Uuid::from_u128(
        0x0190_0000_0000_7000_9000_0000_0000_0000 + n,
    ))
}

fn org(n: u128, name: &str) -> Organization {
    Organization {
        id: org_id(n),
        name: name.into(),
        created_at: now(),
        short_reset_codes: false,
    }
}

fn named(name: &str) -> ProfileChange {
    ProfileUpdate {
        name: Patch::Set(name.into()),
        ..ProfileUpdate::default()
    }
    .validate()
    .unwrap()
}

fn sorted<T: Ord>(mut items: Vec<T>) -> Vec<T> {
    items.sort();
    items
}

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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// Every area: its module's file name, source and listed cases.
    const AREAS: &[(&str, &str, &[&str])] = &[
        (
            "users.rs",
            include_str!("users.rs"),
            crate::store_contract_users!(@names;),
        ),
        (
            "user_list.rs",
            include_str!("user_list.rs"),
            crate::store_contract_user_list!(@names;),
        ),
        (
            "user_admin.rs",
            include_str!("user_admin.rs"),
            crate::store_contract_user_admin!(@names;),
        ),
        (
            "access.rs",
            include_str!("access.rs"),
            crate::store_contract_access!(@names;),
        ),
        (
            "credentials.rs",
            include_str!("credentials.rs"),
            crate::store_contract_credentials!(@names;),
        ),
        (
            "lifecycle.rs",
            include_str!("lifecycle.rs"),
            crate::store_contract_lifecycle!(@names;),
        ),
        (
            "second_factor.rs",
            include_str!("second_factor.rs"),
            crate::store_contract_second_factor!(@names;),
        ),
        (
            "content.rs",
            include_str!("content.rs"),
            crate::store_contract_content!(@names;),
        ),
        (
            "throttle.rs",
            include_str!("throttle.rs"),
            crate::store_contract_throttle!(@names;),
        ),
        (
            "audit.rs",
            include_str!("audit.rs"),
            crate::store_contract_audit!(@names;),
        ),
    ];

    #[test]
    fn every_case_is_listed_and_every_area_runs() {
        for (file, source, listed) in AREAS {
            let defined: BTreeSet<&str> = source
                .lines()
                .filter_map(|line| line.strip_prefix("pub async fn "))
                .filter_map(|rest| rest.split_once('(').map(|(name, _)| name))
                .collect();
            let listed: BTreeSet<&str> = listed.iter().copied().collect();
            assert_eq!(defined, listed, "the cases of {file} and its list differ");
        }
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/testkit/contract");
        let files: BTreeSet<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .filter(|name| name != "mod.rs")
            .collect();
        let areas: BTreeSet<String> = AREAS.iter().map(|(file, ..)| file.to_string()).collect();
        assert_eq!(files, areas, "every contract module is an area here");
        for file in &areas {
            let area = file.trim_end_matches(".rs");
            let expanded = format!("$crate::store_contract_{area}!(@tests $factory;);");
            assert!(
                include_str!("mod.rs").contains(&expanded),
                "store_contract_tests! runs the cases of {file}"
            );
        }
    }
}
