//! ARCHITECTURE.md's invariants about credential checks, proved on the core itself (a real
//! SQLite store, a manual clock), each by a test that fails when the mechanism it names is
//! taken away: a credential check writes nothing until the usage flush (a counting store),
//! an unknown login costs one hash like a wrong password (the hasher's count), and expiry is
//! checked on every cache hit (the expiry falls inside the cache's TTL).

use std::sync::Arc;

use accounts::service::NewUser;
use accounts::testkit::{cheap_hasher, CountingStore, ManualClock, MemoryFileStore};
use accounts::{
    Accounts, AccountsConfig, AuthError, ClientInfo, EmailAddress, LoginError, Password, Store,
    TokenSecret, User, UserStatus, Username,
};
use chrono::Duration;
use store_sqlite::SqliteStore;

use crate::helpers::PASSWORD;

pub(crate) struct Core {
    pub(crate) accounts: Accounts,
    pub(crate) store: Arc<CountingStore>,
    pub(crate) clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

pub(crate) async fn core_with(adjust: impl FnOnce(&mut AccountsConfig)) -> Core {
    let dir = tempfile::tempdir().unwrap();
    let sqlite: Arc<dyn Store> = Arc::new(SqliteStore::open_in(dir.path()).await.unwrap());
    let store = Arc::new(CountingStore::new(sqlite));
    let clock = Arc::new(ManualClock::new());
    let mut config = AccountsConfig::default();
    adjust(&mut config);
    let accounts = Accounts::new(
        store.clone(),
        Arc::new(MemoryFileStore::default()),
        clock.clone(),
        cheap_hasher(),
        config,
    );
    Core {
        accounts,
        store,
        clock,
        _dir: dir,
    }
}

pub(crate) async fn alice(core: &Core) -> User {
    user(core, "alice").await
}

/// An active, verified account named `name` (address `name@example.com`), password PASSWORD.
pub(crate) async fn user(core: &Core, name: &str) -> User {
    core.accounts
        .create_user(NewUser {
            username: Username::parse(name).unwrap(),
            email: EmailAddress::parse(&format!("{name}@example.com")).unwrap(),
            password: Some(Password::new_checked(PASSWORD.into()).unwrap()),
            is_admin: false,
            status: UserStatus::Active,
            email_verified: true,
        })
        .await
        .unwrap()
}

async fn session(core: &Core, login: &str) -> TokenSecret {
    core.accounts
        .login(
            login,
            Password::for_login(PASSWORD.into()),
            ClientInfo::default(),
        )
        .await
        .unwrap()
        .secret
}

#[tokio::test]
async fn a_credential_check_never_writes_so_a_flood_of_requests_cannot_load_the_database() {
    let core = core_with(|_| {}).await;
    let user = alice(&core).await;
    let (_, token) = core
        .accounts
        .create_token(&accounts::Actor::operator(), user.id, None, None)
        .await
        .unwrap();
    let session = session(&core, "alice").await;
    let unknown = TokenSecret::generate(accounts::CredentialKind::ApiToken);
    core.store.reset();

    // Misses (first sight, and again after the cache's TTL) and hits, of an API token and
    // a session, with the user record each request reads; and unknown and malformed secrets.
    for round in 0..3 {
        for _ in 0..20 {
            for secret in [&token, &session] {
                let principal = core.accounts.authenticate(secret.expose()).await.unwrap();
                core.accounts.user(principal.user_id).await.unwrap();
            }
            assert!(core.accounts.authenticate(unknown.expose()).await.is_err());
            assert!(core.accounts.authenticate("gh_not-a-token").await.is_err());
        }
        if round < 2 {
            core.clock.advance(Duration::seconds(2));
        }
    }
    assert!(
        core.accounts.cache_stats().hits > 100,
        "{:?}",
        core.accounts.cache_stats()
    );
    assert!(
        core.store
            .reads()
            .iter()
            .any(|(method, n)| *method == "credential_by_hash" && *n >= 6),
        "the cache misses read the store: {:?}",
        core.store.reads()
    );
    assert_eq!(core.store.writes(), [], "a credential check wrote");

    // The last-used times are written once, in one batch, by the flush.
    assert_eq!(core.accounts.flush_usage().await.unwrap(), 2);
    assert_eq!(core.store.writes(), [("record_credential_use", 1)]);
}

#[tokio::test]
async fn an_unknown_login_costs_one_hash_like_a_wrong_password_so_timing_reveals_no_account() {
    let core = core_with(|_| {}).await;
    alice(&core).await;
    let hashes = || core.accounts.password_verifications();
    let wrong = || Password::for_login("not the password".into());
    let client = ClientInfo::default();

    for login in ["nobody", "nobody@example.com", "alice"] {
        for _ in 0..3 {
            let before = hashes();
            let answer = core.accounts.login(login, wrong(), client.clone()).await;
            assert!(
                matches!(answer, Err(LoginError::InvalidCredentials)),
                "{login}: {answer:?}"
            );
            assert_eq!(hashes() - before, 1, "login as {login}");

            let before = hashes();
            let answer = core
                .accounts
                .verify_credentials(login, &wrong(), &client)
                .await;
            assert!(
                matches!(answer, Err(LoginError::InvalidCredentials)),
                "{login}: {answer:?}"
            );
            assert_eq!(hashes() - before, 1, "HTTP basic as {login}");
        }
    }
}

#[tokio::test]
async fn a_credential_that_expires_while_cached_is_refused_at_once() {
    // Sessions of 800 ms, so a session's expiry falls inside the cache's 1 s TTL.
    let core = core_with(|c| c.session_ttl = Duration::milliseconds(800)).await;
    assert_eq!(core.accounts.cache_ttl(), Duration::seconds(1));
    let user = alice(&core).await;
    let hits = || core.accounts.cache_stats().hits;

    // A session: cached at +100 ms, a hit at +700 ms, expired at +800 ms and refused at
    // +900 ms, while its entry (200 ms younger than the TTL) is still fresh.
    let session = session(&core, "alice").await;
    core.clock.advance(Duration::milliseconds(100));
    core.accounts.authenticate(session.expose()).await.unwrap();
    core.clock.advance(Duration::milliseconds(600));
    let before = hits();
    core.accounts.authenticate(session.expose()).await.unwrap();
    assert_eq!(hits(), before + 1, "the session is served from the cache");
    core.clock.advance(Duration::milliseconds(200));
    assert!(matches!(
        core.accounts.authenticate(session.expose()).await,
        Err(AuthError::Invalid)
    ));

    // An API token that lives one second: cached at +500 ms, refused at +1200 ms.
    let (_, token) = core
        .accounts
        .create_token(&accounts::Actor::operator(), user.id, None, Some(1))
        .await
        .unwrap();
    core.clock.advance(Duration::milliseconds(500));
    core.accounts.authenticate(token.expose()).await.unwrap();
    core.clock.advance(Duration::milliseconds(400));
    let before = hits();
    core.accounts.authenticate(token.expose()).await.unwrap();
    assert_eq!(hits(), before + 1, "the token is served from the cache");
    core.clock.advance(Duration::milliseconds(300));
    assert!(matches!(
        core.accounts.authenticate(token.expose()).await,
        Err(AuthError::Invalid)
    ));
}

/// Asserts that a use-case call is refused as `Forbidden` and wrote nothing (an audit record
/// of the refusal aside), and names it in `seen`.
macro_rules! refused {
    ($core:expr, $seen:expr, $name:literal, $call:expr) => {{
        $core.store.reset();
        let failure = Failure::from($call.await.expect_err(concat!($name, " went through")));
        assert_eq!(failure.kind, Kind::Forbidden, "{}: {failure:?}", $name);
        let writes: Vec<_> = $core
            .store
            .writes()
            .into_iter()
            .filter(|(method, _)| *method != "insert_audit")
            .collect();
        assert_eq!(writes, [], "{}: a refused call wrote", $name);
        $seen.push($name);
    }};
}

/// ARCHITECTURE.md: every use case takes the caller and checks its own need. Alice holds a
/// role with no permission at all and belongs to no organisation; every use case she calls, on herself or on Bob, is
/// refused by the core itself and changes nothing. Handlers check nothing, so without the
/// check inside a use case these calls would go through.
#[tokio::test]
async fn a_caller_without_the_need_is_refused_by_every_use_case_and_nothing_changes() {
    use accounts::access::{Action, Entity, Need, OrgRole, RoleSpec};
    use accounts::audit::AuditFilter;
    use accounts::content::{NewChunk, Upload};
    use accounts::failure::Kind;
    use accounts::reach::UserRef;
    use accounts::second_factor::Proof;
    use accounts::store::UserQuery;
    use accounts::{AccountUpdate, Actor, Failure, ProfileUpdate, TokenRef};

    let core = core_with(|_| {}).await;
    let op = Actor::operator();
    let alice = alice(&core).await;
    let bob = user(&core, "bob").await;
    let (token, key) = core
        .accounts
        .create_token(&op, alice.id, Some("key".into()), None)
        .await
        .unwrap();
    let session = session(&core, "alice").await;
    let org = core.accounts.create_org(&op, "acme").await.unwrap();
    core.accounts
        .set_member(&op, org.id, bob.id, OrgRole::Member)
        .await
        .unwrap();
    let nothing = RoleSpec {
        name: "nothing".into(),
        description: "no permission at all".into(),
        permissions: Vec::new(),
    };
    let nothing = core.accounts.create_role(&op, nothing).await.unwrap();
    core.accounts
        .set_user_roles(&op, alice.id, vec![nothing.id])
        .await
        .unwrap();
    let keyed = core.accounts.authenticate(key.expose()).await.unwrap();
    let signed = core.accounts.authenticate(session.expose()).await.unwrap();
    let me = keyed.actor(&ClientInfo::default());
    let by = TokenRef::Id(token.id);
    let client = ClientInfo::default();
    let (a, b) = (alice.id, bob.id);
    let read = Need::new(Entity::User, Action::Read);
    let name = || ProfileUpdate::default();
    let mut seen = Vec::new();
    let accounts = &core.accounts;

    // The caller's own account.
    refused!(core, seen, "get_user", accounts.get_user(&me, a));
    refused!(
        core,
        seen,
        "update_profile",
        accounts.update_profile(&me, a, name())
    );
    refused!(
        core,
        seen,
        "set_picture",
        accounts.set_picture(&me, a, vec![0; 8])
    );
    refused!(core, seen, "second_factor", accounts.second_factor(&me, a));
    refused!(
        core,
        seen,
        "user_named",
        accounts.user_named(&keyed, &bob.username)
    );
    refused!(
        core,
        seen,
        "create_token",
        accounts.create_token(&me, a, None, None)
    );
    refused!(core, seen, "list_tokens", accounts.list_tokens(&me, a));
    refused!(core, seen, "token", accounts.token(&me, a, &by));
    refused!(
        core,
        seen,
        "set_token_disabled",
        accounts.set_token_disabled(&me, a, &by, true)
    );
    refused!(
        core,
        seen,
        "rotate_token",
        accounts.rotate_token(&me, a, &by)
    );
    refused!(
        core,
        seen,
        "delete_token",
        accounts.delete_token(&me, a, &by)
    );
    refused!(core, seen, "sessions", accounts.sessions(&signed));
    refused!(
        core,
        seen,
        "end_session",
        accounts.end_session(&signed, signed.credential_id, client.clone())
    );
    refused!(
        core,
        seen,
        "end_sessions",
        accounts.end_sessions(&signed, true, client.clone())
    );
    let wrong = Password::for_login("not it".into());
    refused!(
        core,
        seen,
        "change_password",
        accounts.change_password(
            &signed,
            wrong,
            "n3w passphrase!".into(),
            false,
            client.clone()
        )
    );
    refused!(
        core,
        seen,
        "reauthenticate",
        accounts.reauthenticate(&signed, Proof::Code("000000".into()), &client)
    );
    refused!(
        core,
        seen,
        "begin_totp",
        accounts.begin_totp(&signed, &client)
    );
    refused!(
        core,
        seen,
        "confirm_totp",
        accounts.confirm_totp(&signed, "000000", &client)
    );
    refused!(
        core,
        seen,
        "disable_totp",
        accounts.disable_totp(&signed, "000000", &client)
    );
    refused!(
        core,
        seen,
        "regenerate_recovery_codes",
        accounts.regenerate_recovery_codes(&signed, "000000", &client)
    );
    let upload = Upload {
        name: "a.txt".into(),
        content_type: None,
        bytes: b"hello".to_vec(),
        link: None,
        metadata: None,
        tag_set: None,
    };
    refused!(
        core,
        seen,
        "upload_file",
        accounts.upload_file(&me, a, upload, &client)
    );
    refused!(core, seen, "list_files", accounts.list_files(&me, a));
    let chunk = NewChunk {
        content: "text".into(),
        html: None,
        link: None,
        metadata: None,
        tag_set: None,
        weight: None,
        tracking_id: None,
        file_id: None,
    };
    refused!(
        core,
        seen,
        "create_chunk",
        accounts.create_chunk(&me, a, chunk)
    );

    // Someone else, and the instance.
    refused!(
        core,
        seen,
        "user_as",
        accounts.user_as(&me, read, UserRef::Login("bob"))
    );
    refused!(
        core,
        seen,
        "user_as (nobody)",
        accounts.user_as(&me, read, UserRef::Login("nobody"))
    );
    refused!(
        core,
        seen,
        "list_users",
        accounts.list_users(&me, UserQuery::default())
    );
    refused!(
        core,
        seen,
        "update_user",
        accounts.update_user(&me, b, AccountUpdate::default())
    );
    refused!(
        core,
        seen,
        "update_member_and_account",
        accounts.update_member_and_account(
            &me,
            b,
            Some((org.id, OrgRole::Admin)),
            Some(AccountUpdate::default())
        )
    );
    refused!(
        core,
        seen,
        "set_user_enabled",
        accounts.set_user_enabled(&me, b, false)
    );
    refused!(
        core,
        seen,
        "set_user_roles",
        accounts.set_user_roles(&me, b, vec![nothing.id])
    );
    refused!(
        core,
        seen,
        "admin_reset_password",
        accounts.admin_reset_password(&me, b, None)
    );
    refused!(
        core,
        seen,
        "admin_reset_second_factor",
        accounts.admin_reset_second_factor(&me, b)
    );
    refused!(
        core,
        seen,
        "end_user_sessions",
        accounts.end_user_sessions(&me, b)
    );
    refused!(
        core,
        seen,
        "revoke_user_tokens",
        accounts.revoke_user_tokens(&me, b)
    );
    refused!(core, seen, "delete_user", accounts.delete_user(&me, b));
    refused!(core, seen, "list_roles", accounts.list_roles(&me));
    let spec = || RoleSpec {
        name: "mine".into(),
        description: String::new(),
        permissions: Vec::new(),
    };
    refused!(core, seen, "create_role", accounts.create_role(&me, spec()));
    refused!(
        core,
        seen,
        "update_role",
        accounts.update_role(&me, nothing.id, spec())
    );
    refused!(
        core,
        seen,
        "delete_role",
        accounts.delete_role(&me, nothing.id)
    );
    refused!(core, seen, "create_org", accounts.create_org(&me, "mine"));
    refused!(
        core,
        seen,
        "rename_org",
        accounts.rename_org(&me, org.id, "theirs")
    );
    refused!(core, seen, "delete_org", accounts.delete_org(&me, org.id));
    refused!(core, seen, "org_members", accounts.org_members(&me, org.id));
    refused!(
        core,
        seen,
        "set_member",
        accounts.set_member(&me, org.id, b, OrgRole::Owner)
    );
    refused!(
        core,
        seen,
        "remove_member",
        accounts.remove_member(&me, org.id, b)
    );
    refused!(
        core,
        seen,
        "audit_log",
        accounts.audit_log(&me, &AuditFilter::default())
    );
    refused!(core, seen, "outbox", accounts.outbox(&me));
    assert_eq!(seen.len(), 47, "{seen:?}");

    // And the same calls as the operator go through: the refusals above were the check's.
    accounts.get_user(&op, a).await.unwrap();
    accounts.list_tokens(&op, a).await.unwrap();
    accounts.outbox(&op).await.unwrap();
}
