//! The deployment copy end to end: a deployment written through the SQLite `Store`, copied
//! into a scratch PostgreSQL database, and read back through the PostgreSQL `Store`. Cases
//! that need PostgreSQL return early when `scratch_database` says it is not reachable.

use std::str::FromStr;

use accounts::access::{
    Action, Entity, OrgId, OrgRole, Organization, Permission, RoleId, RoleSpec, Scope,
};
use accounts::audit::{AuditEvent, AuditFilter, Outcome};
use accounts::domain::{Patch, ProfileChange, ProfileUpdate};
use accounts::files::FileId;
use accounts::mail::OutgoingMail;
use accounts::store::prelude::*;
use accounts::store::{
    ChallengeRecord, ChunkRecord, CodeEffect, CodeLookup, CodePurpose, CodeRecord, FileRecord,
    NewUserRecord, RateLimit, Redemption, SessionRecord, UserChange,
};
use accounts::token::{ApiToken, CredentialKind, TokenHash, TokenId, TokenSecret};
use accounts::{EmailAddress, UserId, UserStatus, Username};
use chrono::{DateTime, Duration, Utc};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use store_copy::{copy_sqlite_to_postgres, CopyError, CopyReport};
use store_postgres::testkit::{scratch_database, small_store};
use store_sqlite::SqliteStore;
use tempfile::TempDir;
use uuid::Uuid;

const TABLES: [&str; 17] = [
    "users",
    "roles",
    "user_roles",
    "organizations",
    "org_members",
    "sessions",
    "api_tokens",
    "files",
    "chunks",
    "totp",
    "recovery_codes",
    "login_challenges",
    "one_time_codes",
    "rate_limits",
    "known_addresses",
    "audit_events",
    "outbox",
];

const AUDIT_EVENTS: usize = 120;
const WINDOW: i64 = 15;
const IP_KEY: &str = "login:ip:203.0.113.7";
/// The TOTP step alice's last code was accepted for.
const TOTP_STEP: u64 = 58_666_671;

/// A deployment with a bit of everything, in a SQLite database in a temp dir.
struct Deployment {
    _dir: TempDir,
    url: String,
    store: SqliteStore,
    /// Millisecond precision, as both backends store it.
    now: DateTime<Utc>,
    root: UserId,
    alice: UserId,
    bob: UserId,
    carol: UserId,
    dave: UserId,
    token_hashes: Vec<TokenHash>,
    rotated_away: TokenHash,
    session_hashes: Vec<TokenHash>,
    bob_reset_code: TokenHash,
    carol_link: TokenHash,
    avatar: FileId,
    /// Alice's upload, with metadata; her chunk refers to it.
    upload: FileId,
    chunk: Uuid,
    /// Alice's recovery codes' hashes: the first one used, the others not.
    recovery: Vec<TokenHash>,
    /// Alice's login waiting for her code.
    challenge: ChallengeRecord,
    /// A custom role alice holds.
    auditor: RoleId,
    /// A custom role created after `auditor` and deleted: its id is never given again.
    deleted_role: RoleId,
    /// Alice owns it, bob is a member.
    org: OrgId,
}

impl Deployment {
    fn users(&self) -> [UserId; 5] {
        [self.root, self.alice, self.bob, self.carol, self.dave]
    }
}

fn new_user(name: &str, status: UserStatus, at: DateTime<Utc>) -> NewUserRecord {
    NewUserRecord {
        id: UserId::new(),
        username: Username::parse(name).unwrap(),
        email: EmailAddress::parse(&format!("{name}@example.com")).unwrap(),
        email_verified: status == UserStatus::Active,
        status,
        number: number_for(name),
        roles: vec![RoleId::USER],
        memberships: Vec::new(),
        password_hash: Some(format!(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$hash-of-{name}"
        )),
        profile: ProfileChange::default(),
        created_at: at,
    }
}

/// A public number, different per name and above 2^32 (so a 32-bit copy would lose it).
fn number_for(name: &str) -> i64 {
    let seed = name
        .bytes()
        .fold(0_i64, |n, b| (n * 131 + i64::from(b)) % (1 << 40));
    (1_i64 << 52) + seed
}

fn mail_to(name: &str, subject: &str) -> OutgoingMail {
    OutgoingMail {
        to: EmailAddress::parse(&format!("{name}@example.com")).unwrap(),
        subject: subject.into(),
        text: format!("Hello {name},\n\nsomething happened.\n"),
        html: format!("<p>Hello {name}, <em>something</em> happened.</p>"),
    }
}

fn code(user: UserId, purpose: CodePurpose, now: DateTime<Utc>) -> CodeRecord {
    CodeRecord {
        id: Uuid::now_v7(),
        user_id: user,
        purpose,
        code_hash: TokenSecret::generate(CredentialKind::Session).hash(),
        link_hash: TokenSecret::generate(CredentialKind::Session).hash(),
        created_at: now,
        code_expires_at: now + Duration::minutes(15),
        link_expires_at: now + Duration::hours(24),
    }
}

async fn add_token(
    store: &SqliteStore,
    user: UserId,
    name: &str,
    now: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
) -> (TokenId, TokenHash) {
    let secret = TokenSecret::generate(CredentialKind::ApiToken);
    let token = ApiToken {
        id: TokenId::new(),
        user_id: user,
        name: name.into(),
        mask: secret.mask(),
        created_at: now,
        expires_at,
        disabled: false,
        last_used_at: None,
        rotated_at: None,
    };
    store
        .insert_token(&token, &secret.hash(), 20)
        .await
        .unwrap();
    (token.id, secret.hash())
}

/// A week-long session of `user`, started two hours before `now`.
fn session_record(user: UserId, now: DateTime<Utc>, client: Option<(&str, &str)>) -> SessionRecord {
    SessionRecord {
        id: Uuid::now_v7(),
        user_id: user,
        secret_hash: TokenSecret::generate(CredentialKind::Session).hash(),
        created_at: now - Duration::hours(2),
        last_seen_at: now - Duration::hours(1),
        expires_at: now + Duration::days(7),
        client_ip: client.map(|(ip, _)| ip.to_owned()),
        user_agent: client.map(|(_, agent)| agent.to_owned()),
    }
}

async fn add_session(
    store: &SqliteStore,
    user: UserId,
    now: DateTime<Utc>,
    client: Option<(&str, &str)>,
) -> (Uuid, TokenHash) {
    let session = session_record(user, now, client);
    store.insert_session(&session).await.unwrap();
    (session.id, session.secret_hash)
}

async fn deployment() -> Deployment {
    let dir = TempDir::new().unwrap();
    let url = format!("sqlite://{}", dir.path().join("gatehouse.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    let now = DateTime::from_timestamp_millis(1_760_000_000_123).unwrap();

    // Users: an admin, two active ones, one pending registration, one disabled.
    let mut root = new_user("root", UserStatus::Active, now - Duration::days(30));
    root.roles.push(RoleId::ADMIN);
    store.insert_user(&root).await.unwrap();
    let alice = new_user("alice", UserStatus::Active, now - Duration::days(20));
    store.insert_user(&alice).await.unwrap();
    let mut bob = new_user("bob", UserStatus::Active, now - Duration::days(10));
    bob.password_hash = None;
    bob.email_verified = false;
    store.insert_user(&bob).await.unwrap();
    // Bob hides his address from other members (migration 0007).
    let hidden = UserChange {
        email_visible: Some(false),
        ..UserChange::default()
    };
    let bob_read = store
        .update_user(bob.id, &hidden, now)
        .await
        .unwrap()
        .unwrap();
    assert!(!bob_read.email_visible);
    let carol = new_user("carol", UserStatus::Pending, now - Duration::minutes(5));
    let carol_code = code(
        carol.id,
        CodePurpose::VerifyEmail,
        now - Duration::minutes(5),
    );
    store
        .register_user(&carol, &carol_code, &mail_to("carol", "Verify your e-mail"))
        .await
        .unwrap();
    let dave = new_user("dave", UserStatus::Disabled, now - Duration::days(5));
    store.insert_user(&dave).await.unwrap();

    // Profile claims, with non-ASCII text, and an avatar file record.
    let change = ProfileUpdate {
        name: Patch::Set("Alice Liddell".into()),
        given_name: Patch::Set("Alice".into()),
        family_name: Patch::Set("Liddell".into()),
        locale: Patch::Set("en-GB".into()),
        zoneinfo: Patch::Set("Europe/London".into()),
        birthdate: Patch::Set("1852-05-04".into()),
        website: Patch::Set("https://example.com/~alice".into()),
        phone_number: Patch::Set("+44 20 7946 0000".into()),
        address: Patch::Set("Christ Church, Oxford — “Wonderland”".into()),
        ..ProfileUpdate::default()
    }
    .validate()
    .unwrap();
    store
        .update_profile(alice.id, &change, now - Duration::days(1))
        .await
        .unwrap()
        .unwrap();
    let avatar = FileRecord {
        id: FileId::new(),
        owner_id: alice.id,
        purpose: "avatar".into(),
        content_type: "image/png".into(),
        size: 48_213,
        name: "avatar.png".into(),
        link: None,
        metadata: None,
        tag_set: None,
        created_at: now - Duration::hours(3),
    };
    store
        .replace_avatar(
            &avatar,
            &ProfileChange::picture(format!("https://id.example.com/files/{}", avatar.id)),
            &accounts::store::ContentLimits::UNLIMITED,
        )
        .await
        .unwrap();

    // An upload with everything a file may carry, and a chunk that refers to it.
    let upload = FileRecord {
        id: FileId::new(),
        owner_id: alice.id,
        purpose: "upload".into(),
        content_type: "text/csv".into(),
        size: 1_234,
        name: "Tea party — guests.csv".into(),
        link: Some("https://example.com/wonderland/tea".into()),
        metadata: Some(serde_json::json!({
            "source": "Mad Hatter",
            "rows": 7,
            "ratio": 0.25,
            "guests": ["March Hare", "Dormouse"],
            "nested": {"late": true, "note": null, "title": "Été"},
        })),
        tag_set: Some("tea,party".into()),
        created_at: now - Duration::hours(2),
    };
    store
        .insert_file(&upload, &accounts::store::ContentLimits::bytes(10_000_000))
        .await
        .unwrap();
    let chunk = ChunkRecord {
        id: Uuid::now_v7(),
        user_id: alice.id,
        content: "Why is a raven like a writing-desk?".into(),
        html: Some("<p>Why is a <em>raven</em> like a writing-desk?</p>".into()),
        link: Some("https://example.com/wonderland/riddle".into()),
        metadata: Some(serde_json::json!({"answered": false, "asked_by": ["Hatter"]})),
        tag_set: Some("riddles".into()),
        weight: 0.75,
        tracking_id: Some("riddle-1".into()),
        file_id: Some(upload.id),
        created_at: now - Duration::minutes(90),
        updated_at: now - Duration::minutes(80),
    };
    store
        .insert_chunk(&chunk, &accounts::store::ContentLimits::UNLIMITED)
        .await
        .unwrap();

    // Alice's second factor: a confirmed TOTP secret, three recovery codes (one used), and a
    // login of hers waiting for a code.
    assert!(store
        .begin_totp(alice.id, &[7; 20], now - Duration::days(1))
        .await
        .unwrap());
    let recovery: Vec<TokenHash> = (0..3)
        .map(|_| TokenSecret::generate(CredentialKind::Session).hash())
        .collect();
    assert!(store
        .confirm_totp(alice.id, TOTP_STEP - 10, &recovery, now - Duration::days(1))
        .await
        .unwrap());
    assert!(store.use_totp_step(alice.id, TOTP_STEP).await.unwrap());
    assert!(store
        .use_recovery_code(alice.id, &recovery[0], now - Duration::hours(5))
        .await
        .unwrap());
    let challenge = ChallengeRecord {
        id: Uuid::now_v7(),
        user_id: alice.id,
        secret_hash: TokenSecret::generate(CredentialKind::Session).hash(),
        created_at: now - Duration::minutes(1),
        expires_at: now + Duration::minutes(4),
        client_ip: Some("198.51.100.4".into()),
        user_agent: None,
    };
    store.insert_challenge(&challenge).await.unwrap();
    assert_eq!(store.fail_challenge(challenge.id, 5).await.unwrap(), 4);

    // API tokens: plain, used, expiring, expired, disabled, rotated; one for the admin.
    let (_, plain) = add_token(&store, alice.id, "plain", now - Duration::days(9), None).await;
    let (used_id, used) = add_token(&store, alice.id, "used", now - Duration::days(8), None).await;
    let (_, expiring) = add_token(
        &store,
        alice.id,
        "expiring",
        now - Duration::days(7),
        Some(now + Duration::days(1)),
    )
    .await;
    let (_, expired) = add_token(
        &store,
        alice.id,
        "expired",
        now - Duration::days(6),
        Some(now - Duration::days(1)),
    )
    .await;
    let (disabled_id, disabled) =
        add_token(&store, alice.id, "disabled", now - Duration::days(5), None).await;
    assert!(store
        .set_token_disabled(alice.id, disabled_id, true)
        .await
        .unwrap());
    let (rotated_id, rotated_away) =
        add_token(&store, alice.id, "rotated", now - Duration::days(4), None).await;
    let rotated_secret = TokenSecret::generate(CredentialKind::ApiToken);
    assert!(store
        .rotate_token(
            alice.id,
            rotated_id,
            &rotated_secret.hash(),
            &rotated_secret.mask(),
            now - Duration::days(2),
        )
        .await
        .unwrap());
    let (_, root_token) =
        add_token(&store, root.id, "deploy", now - Duration::days(29), None).await;

    // Sessions, one with its last-used time written by the batch.
    let (alice_session_id, alice_session) = add_session(
        &store,
        alice.id,
        now,
        Some(("198.51.100.4", "Firefox/140.0")),
    )
    .await;
    let (_, alice_other_session) = add_session(&store, alice.id, now, None).await;
    let (_, root_session) =
        add_session(&store, root.id, now, Some(("2001:db8::1", "gatehouse-cli"))).await;
    store
        .record_credential_use(&[
            (
                CredentialKind::ApiToken,
                used_id.0,
                now - Duration::minutes(3),
            ),
            (
                CredentialKind::Session,
                alice_session_id,
                now - Duration::minutes(2),
            ),
        ])
        .await
        .unwrap();

    // A custom role alice holds, and one deleted since (its id stays taken).
    let auditor = store
        .insert_role(&RoleSpec {
            name: "auditor".into(),
            description: "Reads the audit trail and every account".into(),
            permissions: vec![
                Permission::new(Entity::Audit, Action::Read, Scope::All),
                Permission::new(Entity::User, Action::Read, Scope::Users(vec![7, 1 << 40])),
            ],
        })
        .await
        .unwrap();
    let deleted_role = store
        .insert_role(&RoleSpec {
            name: "short-lived".into(),
            description: String::new(),
            permissions: Vec::new(),
        })
        .await
        .unwrap();
    assert!(store.delete_role(deleted_role.id).await.unwrap());
    assert!(store
        .set_user_roles(alice.id, &[RoleId::USER, auditor.id])
        .await
        .unwrap());

    // An organisation alice owns and bob belongs to.
    let org = Organization {
        id: OrgId::new(),
        name: "Wonderland Ltd".into(),
        created_at: now - Duration::days(3),
        short_reset_codes: true,
    };
    store.insert_org(&org, Some(alice.id)).await.unwrap();
    assert!(store
        .set_membership(org.id, bob.id, OrgRole::Member, now - Duration::days(2))
        .await
        .unwrap());

    // A password-reset code for bob, with its mail.
    let bob_code = code(
        bob.id,
        CodePurpose::ResetPassword,
        now - Duration::minutes(1),
    );
    store
        .issue_code(&bob_code, &mail_to("bob", "Reset your password"))
        .await
        .unwrap();

    // An address alice signed in from (exempt from her daily sign-in ceiling).
    store
        .note_known_address(alice.id, "192.0.2.1", now - Duration::days(2))
        .await
        .unwrap();

    // Throttling counters.
    for _ in 0..3 {
        let limits = [RateLimit::per(IP_KEY, 5, Duration::minutes(WINDOW))];
        let refused = store
            .hit_rate_limits(&limits, now - Duration::minutes(1))
            .await
            .unwrap();
        assert!(refused.is_none());
    }
    store
        .hit_rate_limits(
            &[RateLimit::per(
                "login:account:alice",
                10,
                Duration::minutes(WINDOW),
            )],
            now - Duration::minutes(1),
        )
        .await
        .unwrap();

    // Audit events: more than one sample's worth.
    for i in 0..AUDIT_EVENTS {
        let n = i64::try_from(i).unwrap();
        store
            .insert_audit(&AuditEvent {
                id: Uuid::now_v7(),
                at: now - Duration::seconds(1000 - n),
                action: ["login", "token.create", "password.reset"][i % 3].into(),
                actor: (i % 4 != 0).then_some(alice.id),
                subject: (i % 5 != 0).then_some(bob.id),
                outcome: if i % 2 == 0 {
                    Outcome::Success
                } else {
                    Outcome::Failure
                },
                client_ip: (i % 3 != 0).then(|| format!("192.0.2.{i}")),
                user_agent: (i % 6 != 0).then(|| "curl/8.5".to_owned()),
                detail: (i % 7 == 0).then(|| format!("attempt {i}")),
            })
            .await
            .unwrap();
    }

    // The outbox: queued (above), sent, given up, retrying.
    for (name, subject) in [
        ("alice", "New sign-in"),
        ("dave", "Your account was disabled"),
        ("root", "Weekly report"),
    ] {
        store
            .enqueue_mail(&mail_to(name, subject), now - Duration::minutes(30))
            .await
            .unwrap();
    }
    let claimed = store
        .claim_mail(now - Duration::minutes(20), now - Duration::minutes(15), 3)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3);
    store
        .mark_mail_sent(claimed[0].id, now - Duration::minutes(19))
        .await
        .unwrap();
    store
        .mark_mail_failed(claimed[1].id, "550 5.1.1 no such user", None)
        .await
        .unwrap();
    store
        .mark_mail_failed(
            claimed[2].id,
            "421 try again later",
            Some(now + Duration::minutes(5)),
        )
        .await
        .unwrap();

    Deployment {
        _dir: dir,
        url,
        store,
        now,
        root: root.id,
        alice: alice.id,
        bob: bob.id,
        carol: carol.id,
        dave: dave.id,
        token_hashes: vec![
            plain,
            used,
            expiring,
            expired,
            disabled,
            rotated_secret.hash(),
            root_token,
        ],
        rotated_away,
        session_hashes: vec![alice_session, alice_other_session, root_session],
        bob_reset_code: bob_code.code_hash,
        carol_link: carol_code.link_hash,
        avatar: avatar.id,
        upload: upload.id,
        chunk: chunk.id,
        recovery,
        challenge,
        auditor: auditor.id,
        deleted_role: deleted_role.id,
        org: org.id,
    }
}

async fn copy(from: &str, to: &str) -> Result<CopyReport, CopyError> {
    copy_sqlite_to_postgres(from, to, |step| eprintln!("migrate: {step}")).await
}

#[tokio::test]
async fn a_deployment_reads_back_the_same_through_the_postgres_store() {
    let source = deployment().await;
    let Some(db) = scratch_database().await else {
        return;
    };
    let report = copy(&source.url, &db.url).await.unwrap();
    eprintln!("{report}");
    let pg = small_store(&db).await;
    let sqlite = &source.store;
    let now = source.now;

    // Users, found every way the core finds them, with roles, statuses and profiles.
    for id in source.users() {
        let user = sqlite.user_by_id(id).await.unwrap().unwrap();
        assert_eq!(pg.user_by_id(id).await.unwrap().as_ref(), Some(&user));
        assert_eq!(user.email_visible, id != source.bob, "{}", user.username);
        assert_eq!(
            pg.user_by_username(&user.username).await.unwrap().as_ref(),
            Some(&user)
        );
        assert_eq!(
            pg.user_by_email(&user.email).await.unwrap().as_ref(),
            Some(&user)
        );
        for login in [user.username.as_str(), user.email.as_str()] {
            let expected = sqlite.login_lookup(login).await.unwrap();
            assert!(expected.is_some());
            assert_eq!(pg.login_lookup(login).await.unwrap(), expected, "{login}");
        }
        assert_eq!(
            pg.list_tokens(id).await.unwrap(),
            sqlite.list_tokens(id).await.unwrap()
        );
        assert_eq!(
            pg.list_sessions(id, now).await.unwrap(),
            sqlite.list_sessions(id, now).await.unwrap()
        );
    }
    let root = pg.user_by_id(source.root).await.unwrap().unwrap();
    assert!(root.is_admin);
    let alice = pg.user_by_id(source.alice).await.unwrap().unwrap();
    assert!(!alice.is_admin);
    assert_eq!(alice.profile.name.as_deref(), Some("Alice Liddell"));
    assert_eq!(
        alice.profile.address.as_deref(),
        Some("Christ Church, Oxford — “Wonderland”")
    );
    assert_eq!(
        alice.profile.picture,
        Some(format!("https://id.example.com/files/{}", source.avatar))
    );
    assert_eq!(alice.created_at, now - Duration::days(20));
    assert_eq!(
        pg.user_by_id(source.carol).await.unwrap().unwrap().status,
        UserStatus::Pending
    );
    assert_eq!(
        pg.user_by_id(source.dave).await.unwrap().unwrap().status,
        UserStatus::Disabled
    );
    let (_, bob_hash) = pg.login_lookup("bob").await.unwrap().unwrap();
    assert_eq!(bob_hash, None);

    // Public numbers, roles and organisations.
    for id in source.users() {
        let user = sqlite.user_by_id(id).await.unwrap().unwrap();
        assert_eq!(
            pg.user_by_number(user.number).await.unwrap().as_ref(),
            Some(&user)
        );
        assert_eq!(
            pg.user_roles(id).await.unwrap(),
            sqlite.user_roles(id).await.unwrap()
        );
        assert_eq!(
            pg.user_memberships(id).await.unwrap(),
            sqlite.user_memberships(id).await.unwrap()
        );
    }
    let roles = pg.list_roles().await.unwrap();
    assert_eq!(roles, sqlite.list_roles().await.unwrap());
    let ids: Vec<RoleId> = roles.iter().map(|r| r.id).collect();
    assert_eq!(ids, [RoleId::ADMIN, RoleId::USER, source.auditor]);
    assert_eq!(roles[2].permissions.len(), 2);
    assert_eq!(
        pg.user_roles(source.alice).await.unwrap(),
        [RoleId::USER, source.auditor]
    );
    assert_eq!(
        pg.user_roles(source.root).await.unwrap(),
        [RoleId::ADMIN, RoleId::USER]
    );
    assert_eq!(
        pg.list_orgs(None).await.unwrap(),
        sqlite.list_orgs(None).await.unwrap()
    );
    let members = pg.org_members(source.org).await.unwrap();
    assert_eq!(members, sqlite.org_members(source.org).await.unwrap());
    let role_of = |user: UserId| members.iter().find(|m| m.user_id == user).unwrap().role;
    assert_eq!(role_of(source.alice), OrgRole::Owner);
    assert_eq!(role_of(source.bob), OrgRole::Member);
    // New roles on the copy never take a copied or a deleted role's id.
    let next = pg
        .insert_role(&RoleSpec {
            name: "made-after-the-copy".into(),
            description: String::new(),
            permissions: Vec::new(),
        })
        .await
        .unwrap();
    assert!(next.id > source.deleted_role, "{next:?}");
    assert!(source.deleted_role > source.auditor);

    // Every credential resolves by its hash as before; the rotated-away one still does not.
    for hash in source.token_hashes.iter().chain(&source.session_hashes) {
        let expected = sqlite.credential_by_hash(hash).await.unwrap();
        assert!(expected.is_some());
        assert_eq!(pg.credential_by_hash(hash).await.unwrap(), expected);
    }
    assert_eq!(
        pg.credential_by_hash(&source.rotated_away).await.unwrap(),
        None
    );
    let tokens = pg.list_tokens(source.alice).await.unwrap();
    let named = |name: &str| tokens.iter().find(|t| t.name == name).unwrap();
    assert!(named("disabled").disabled);
    assert_eq!(named("expiring").expires_at, Some(now + Duration::days(1)));
    assert!(!named("expired").is_usable(now));
    assert_eq!(named("used").last_used_at, Some(now - Duration::minutes(3)));
    assert!(named("rotated").rotated_at.is_some());

    // Files' records, the upload's metadata too, and the chunk that refers to it.
    assert_eq!(
        pg.file(source.avatar).await.unwrap(),
        sqlite.file(source.avatar).await.unwrap()
    );
    let files = pg.list_files(source.alice).await.unwrap();
    assert_eq!(files, sqlite.list_files(source.alice).await.unwrap());
    let ids: Vec<FileId> = files.iter().map(|f| f.id).collect();
    assert_eq!(ids, [source.upload, source.avatar], "newest first");
    assert_eq!(files[0].name, "Tea party — guests.csv");
    assert_eq!(files[0].tag_set.as_deref(), Some("tea,party"));
    let metadata = files[0].metadata.as_ref().unwrap();
    assert_eq!(metadata["nested"]["title"], "Été");
    assert_eq!(metadata["ratio"], 0.25);
    assert!(metadata["nested"]["note"].is_null());
    let chunks = pg.list_chunks(source.alice, 0, 10).await.unwrap();
    assert_eq!(
        chunks,
        sqlite.list_chunks(source.alice, 0, 10).await.unwrap()
    );
    assert_eq!(chunks.1, 1);
    assert_eq!(chunks.0[0].id, source.chunk);
    assert_eq!(chunks.0[0].file_id, Some(source.upload));
    assert_eq!(chunks.0[0].weight, 0.75);
    // The tracking id stays taken on the copy.
    let again = ChunkRecord {
        id: Uuid::now_v7(),
        ..chunks.0[0].clone()
    };
    assert!(matches!(
        pg.insert_chunk(&again, &accounts::store::ContentLimits::UNLIMITED)
            .await,
        Err(accounts::StoreError::Conflict(
            accounts::store::Unique::TrackingId
        ))
    ));

    // The second factor: the same secret, the spent step stays spent, the used recovery
    // code stays used, and the waiting login can finish on the copy.
    let totp = pg.totp(source.alice).await.unwrap().unwrap();
    assert_eq!(
        Some(&totp),
        sqlite.totp(source.alice).await.unwrap().as_ref()
    );
    assert_eq!(totp.secret, [7; 20]);
    assert!(totp.confirmed);
    assert_eq!(totp.last_step, Some(TOTP_STEP));
    assert!(!pg.use_totp_step(source.alice, TOTP_STEP).await.unwrap());
    assert!(pg.use_totp_step(source.alice, TOTP_STEP + 1).await.unwrap());
    assert_eq!(pg.recovery_codes_left(source.alice).await.unwrap(), 2);
    assert!(!pg
        .use_recovery_code(source.alice, &source.recovery[0], now)
        .await
        .unwrap());
    assert!(pg
        .use_recovery_code(source.alice, &source.recovery[2], now)
        .await
        .unwrap());
    assert_eq!(pg.recovery_codes_left(source.alice).await.unwrap(), 1);
    let live = pg
        .live_challenge(&source.challenge.secret_hash, now, 5)
        .await
        .unwrap();
    assert_eq!(live.as_ref(), Some(&source.challenge));
    assert_eq!(pg.fail_challenge(source.challenge.id, 5).await.unwrap(), 3);
    let session = session_record(source.alice, now, None);
    assert!(pg
        .complete_challenge(source.challenge.id, &session)
        .await
        .unwrap());
    assert_eq!(
        pg.credential_by_hash(&session.secret_hash)
            .await
            .unwrap()
            .map(|c| c.user_id),
        Some(source.alice)
    );
    assert!(pg
        .live_challenge(&source.challenge.secret_hash, now, 5)
        .await
        .unwrap()
        .is_none());

    // The audit trail, in full.
    let all = AuditFilter {
        limit: 1000,
        ..AuditFilter::default()
    };
    let audit = pg.list_audit(&all).await.unwrap();
    assert_eq!(audit.len(), AUDIT_EVENTS);
    assert_eq!(audit, sqlite.list_audit(&all).await.unwrap());

    // The outbox: same counts, same due messages.
    let counts = pg.mail_counts().await.unwrap();
    assert_eq!(counts, sqlite.mail_counts().await.unwrap());
    assert_eq!((counts.queued, counts.sent, counts.failed), (3, 1, 1));
    let lease = now + Duration::minutes(1);
    assert_eq!(
        pg.claim_mail(now, lease, 100).await.unwrap(),
        sqlite.claim_mail(now, lease, 100).await.unwrap()
    );

    // Throttling counters carry over: the address has 3 hits in its window.
    let three = [RateLimit::per(IP_KEY, 3, Duration::minutes(WINDOW))];
    let refused = pg.hit_rate_limits(&three, now).await.unwrap();
    assert!(refused.is_some());
    assert_eq!(refused, sqlite.hit_rate_limits(&three, now).await.unwrap());

    // Outstanding codes redeem on the copy.
    assert_eq!(
        pg.redeem_code(
            CodePurpose::ResetPassword,
            &CodeLookup::Code {
                user: source.bob,
                hash: source.bob_reset_code,
            },
            &CodeEffect::SetPassword("$argon2id$new".into()),
            5,
            now,
        )
        .await
        .unwrap(),
        Redemption::Redeemed(source.bob)
    );
    assert_eq!(
        pg.redeem_code(
            CodePurpose::VerifyEmail,
            &CodeLookup::Link(source.carol_link),
            &CodeEffect::VerifyEmail,
            5,
            now,
        )
        .await
        .unwrap(),
        Redemption::Redeemed(source.carol)
    );
    assert_eq!(
        pg.user_by_id(source.carol).await.unwrap().unwrap().status,
        UserStatus::Active
    );

    // The report: every table, counts equal on both sides, samples as promised.
    let names: Vec<&str> = report.tables.iter().map(|t| t.table).collect();
    assert_eq!(names, TABLES);
    let expected = [
        ("users", 5),
        // Only the custom role: both sides' migrations write the built-in ones.
        ("roles", 1),
        // Everyone holds `user`; root `admin` too, alice `auditor` too.
        ("user_roles", 7),
        ("organizations", 1),
        ("org_members", 2),
        ("sessions", 3),
        ("api_tokens", 7),
        ("files", 2),
        ("chunks", 1),
        ("totp", 1),
        ("recovery_codes", 3),
        ("login_challenges", 1),
        ("one_time_codes", 2),
        ("rate_limits", 2),
        ("known_addresses", 1),
        ("audit_events", AUDIT_EVENTS as u64),
        ("outbox", 5),
    ];
    for (table, rows) in expected {
        let t = report.table(table).unwrap();
        assert_eq!((t.source_rows, t.target_rows), (rows, rows), "{table}");
        assert_eq!(t.sampled.len() as u64, rows.min(50), "{table}");
    }
    assert_eq!(report.total_rows(), 164);
    let codes = &report.table("recovery_codes").unwrap().sampled;
    assert!(
        codes
            .iter()
            .all(|label| label.ends_with("code_hash=[32 bytes]")),
        "a recovery code's hash is never printed: {codes:?}"
    );
    assert!(report.source_migrations_applied.is_empty());
    let mut audit_ids: Vec<String> = audit.iter().map(|e| e.id.to_string()).collect();
    audit_ids.sort();
    let sampled = &report.table("audit_events").unwrap().sampled;
    assert_eq!(sampled.first(), audit_ids.first());
    assert_eq!(sampled.last(), audit_ids.last());
    assert!(!report.target.contains("password"));

    // A second copy into the same database is refused, not merged.
    let again = copy(&source.url, &db.url).await.unwrap_err();
    assert!(matches!(again, CopyError::TargetNotEmpty(_)), "{again}");
}

#[tokio::test]
async fn tables_larger_than_a_page_are_copied_whole() {
    // Written directly, in one transaction each, for speed: 1,234 audit events, 1,001
    // throttling counters and 1,100 role grants (a two-column key, text and integer) cross
    // the copy's page size.
    let source = deployment().await;
    let mut raw = SqliteConnectOptions::from_str(&source.url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut tx = raw.begin().await.unwrap();
    for i in 0..1234_i64 {
        sqlx::query(
            "INSERT INTO audit_events (id, at, action, actor_id, outcome, detail) \
             VALUES (?, ?, 'login', ?, 'failure', ?)",
        )
        .bind(Uuid::now_v7().to_string())
        .bind(1_700_000_000_000 + i)
        .bind(source.alice.to_string())
        .bind(format!("bulk {i}"))
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    for i in 0..1001_i64 {
        sqlx::query("INSERT INTO rate_limits (key, window_start, hits) VALUES (?, ?, ?)")
            .bind(format!("login:ip:10.0.{}.{}", i / 256, i % 256))
            .bind(1_700_000_000_000 + i)
            .bind(i % 7 + 1)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    for i in 0..220_i64 {
        sqlx::query(
            "INSERT INTO roles (id, name, description, permissions, builtin, created_at) \
             VALUES (?, ?, '', '[]', 0, ?)",
        )
        .bind(100 + i)
        .bind(format!("role-{i:03}"))
        .bind(1_700_000_000_000 + i)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    for id in source.users() {
        for i in 0..220_i64 {
            sqlx::query("INSERT INTO user_roles (user_id, role_id) VALUES (?, ?)")
                .bind(id.to_string())
                .bind(100 + i)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
    }
    tx.commit().await.unwrap();
    raw.close().await.unwrap();
    let Some(db) = scratch_database().await else {
        return;
    };

    let report = copy(&source.url, &db.url).await.unwrap();
    for (table, rows) in [
        ("audit_events", 1234 + AUDIT_EVENTS as u64),
        ("rate_limits", 1001 + 2),
        ("user_roles", 1100 + 7),
    ] {
        let t = report.table(table).unwrap();
        assert_eq!((t.source_rows, t.target_rows), (rows, rows), "{table}");
        assert_eq!(t.sampled.len(), 50, "{table}");
    }
    let pg = small_store(&db).await;
    let all = AuditFilter {
        limit: 5000,
        ..AuditFilter::default()
    };
    assert_eq!(
        pg.list_audit(&all).await.unwrap(),
        source.store.list_audit(&all).await.unwrap()
    );
    let roles = &report.table("user_roles").unwrap().sampled;
    assert!(
        roles[0].starts_with("user_id=") && roles[0].contains(", role_id="),
        "{roles:?}"
    );
    for id in source.users() {
        assert_eq!(
            pg.user_roles(id).await.unwrap(),
            source.store.user_roles(id).await.unwrap()
        );
    }
    assert_eq!(
        pg.list_roles().await.unwrap(),
        source.store.list_roles().await.unwrap()
    );
}

#[tokio::test]
async fn a_target_that_holds_users_is_refused_and_left_alone() {
    let source = deployment().await;
    let Some(db) = scratch_database().await else {
        return;
    };
    let pg = small_store(&db).await;
    let someone = new_user("someone", UserStatus::Active, Utc::now());
    pg.insert_user(&someone).await.unwrap();

    let err = copy(&source.url, &db.url).await.unwrap_err();
    eprintln!("{err}");
    assert!(matches!(err, CopyError::TargetNotEmpty(_)), "{err}");
    let message = err.to_string();
    assert!(message.contains("users: 1 row"), "{message}");
    assert!(message.contains("never merges"), "{message}");
    assert!(pg.user_by_id(someone.id).await.unwrap().is_some());
    assert!(pg.login_lookup("alice").await.unwrap().is_none());
}

#[tokio::test]
async fn a_value_postgres_cannot_hold_fails_the_copy_and_leaves_the_target_empty() {
    let source = deployment().await;
    let mut raw = SqliteConnectOptions::from_str(&source.url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    sqlx::query("UPDATE users SET email_verified = 2 WHERE username = 'dave'")
        .execute(&mut raw)
        .await
        .unwrap();
    raw.close().await.unwrap();
    let Some(db) = scratch_database().await else {
        return;
    };

    let err = copy(&source.url, &db.url).await.unwrap_err();
    eprintln!("{err}");
    match &err {
        CopyError::Value {
            table, row, column, ..
        } => {
            assert_eq!((*table, *column), ("users", "email_verified"));
            assert_eq!(row, &source.dave.to_string());
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("not a flag"), "{err}");
    // Nothing was committed.
    let pg = small_store(&db).await;
    assert!(pg.login_lookup("alice").await.unwrap().is_none());
    assert_eq!(pg.mail_counts().await.unwrap(), Default::default());
}

#[tokio::test]
async fn a_source_from_an_older_build_is_migrated_then_copied() {
    let dir = TempDir::new().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    // Only the first migration, as an older Gatehouse left it.
    let first_only = dir.path().join("migrations");
    std::fs::create_dir(&first_only).unwrap();
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../store-sqlite/migrations/0001_foundation.sql"
        ),
        first_only.join("0001_foundation.sql"),
    )
    .unwrap();
    let mut raw = SqliteConnectOptions::from_str(&url)
        .unwrap()
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    sqlx::migrate::Migrator::new(first_only)
        .await
        .unwrap()
        .run(&mut raw)
        .await
        .unwrap();
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO users (id, username, email, email_verified, status, password_hash, \
         profile, created_at, updated_at) \
         VALUES (?, 'elder', 'elder@example.com', 1, 'active', 'h', '{\"name\": \"The Elder\"}', \
         1500000000001, 1500000000002)",
    )
    .bind(id.to_string())
    .execute(&mut raw)
    .await
    .unwrap();
    raw.close().await.unwrap();
    let Some(db) = scratch_database().await else {
        return;
    };

    let report = copy(&url, &db.url).await.unwrap();
    assert_eq!(
        report.source_migrations_applied,
        vec![
            "0002_lifecycle",
            "0003_access",
            "0004_second_factor_files",
            "0005_proofs_and_code_choices",
            "0006_login_throttling",
            "0007_email_visibility"
        ]
    );
    assert_eq!(report.table("users").unwrap().target_rows, 1);
    let pg = small_store(&db).await;
    let elder = pg.user_by_id(UserId(id)).await.unwrap().unwrap();
    assert_eq!(elder.profile.name.as_deref(), Some("The Elder"));
    assert_eq!(elder.created_at.timestamp_millis(), 1_500_000_000_001);
    assert_eq!(elder.updated_at.timestamp_millis(), 1_500_000_000_002);
    assert!(elder.email_verified);
    assert!(elder.email_visible, "0007 shows every existing address");
    // The migration gave the elder the `user` role and a public number, copied as they are.
    assert_eq!(pg.user_roles(UserId(id)).await.unwrap(), [RoleId::USER]);
    assert!(elder.number > 0);
    assert_eq!(
        pg.user_by_number(elder.number).await.unwrap().map(|u| u.id),
        Some(UserId(id))
    );
}

#[tokio::test]
async fn a_table_or_column_this_build_does_not_copy_stops_the_copy() {
    let source = deployment().await;
    let mut raw = SqliteConnectOptions::from_str(&source.url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    sqlx::query("CREATE TABLE webauthn_keys (id TEXT PRIMARY KEY NOT NULL)")
        .execute(&mut raw)
        .await
        .unwrap();
    sqlx::query("ALTER TABLE users ADD COLUMN mfa_secret TEXT")
        .execute(&mut raw)
        .await
        .unwrap();
    raw.close().await.unwrap();

    // Refused before the target is even opened.
    let err = copy(&source.url, "postgres://nobody@127.0.0.1:1/never")
        .await
        .unwrap_err();
    let message = err.to_string();
    eprintln!("{message}");
    assert!(matches!(err, CopyError::Schema { .. }), "{message}");
    assert!(
        message.contains("table webauthn_keys is not copied"),
        "{message}"
    );
    assert!(
        message.contains("column users.mfa_secret is not copied"),
        "{message}"
    );
}

#[tokio::test]
async fn a_source_from_a_newer_build_is_refused() {
    let source = deployment().await;
    let mut raw = SqliteConnectOptions::from_str(&source.url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (999, 'passkeys', 1, x'00', 0)",
    )
    .execute(&mut raw)
    .await
    .unwrap();
    raw.close().await.unwrap();

    let err = copy(&source.url, "postgres://nobody@127.0.0.1:1/never")
        .await
        .unwrap_err();
    let message = err.to_string();
    eprintln!("{message}");
    assert!(matches!(err, CopyError::Newer { .. }), "{message}");
    assert!(message.contains("0999_passkeys"), "{message}");
    assert!(message.contains("newer Gatehouse"), "{message}");
}

#[tokio::test]
async fn the_schema_this_build_creates_is_the_schema_it_copies() {
    // Without PostgreSQL: a fresh source passes every source-side check, and fails only at
    // the (unreachable) target.
    let source = deployment().await;
    let mut steps = Vec::new();
    let err = copy_sqlite_to_postgres(&source.url, "postgres://nobody@127.0.0.1:1/never", |s| {
        steps.push(s.to_owned())
    })
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            CopyError::Database {
                side: store_copy::Side::Target,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        steps.iter().any(|s| s.contains("foreign keys")),
        "{steps:?}"
    );
}

#[tokio::test]
async fn bad_urls_and_missing_sources_are_refused_plainly() {
    let dir = TempDir::new().unwrap();
    let missing = format!("sqlite://{}", dir.path().join("nope.db").display());
    let to = "postgres://postgres@127.0.0.1:5432/postgres";
    assert!(matches!(
        copy(&missing, to).await.unwrap_err(),
        CopyError::SourceMissing(_)
    ));
    assert!(
        !dir.path().join("nope.db").exists(),
        "a missing source is never created"
    );
    assert!(matches!(
        copy("postgres://x/y", to).await.unwrap_err(),
        CopyError::SourceUrl(_)
    ));
    let source = deployment().await;
    assert!(matches!(
        copy(&source.url, "mysql://x/y").await.unwrap_err(),
        CopyError::TargetUrl(_)
    ));
}
