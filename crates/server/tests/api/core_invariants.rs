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

struct Core {
    accounts: Accounts,
    store: Arc<CountingStore>,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

async fn core_with(adjust: impl FnOnce(&mut AccountsConfig)) -> Core {
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

async fn alice(core: &Core) -> User {
    core.accounts
        .create_user(NewUser {
            username: Username::parse("alice").unwrap(),
            email: EmailAddress::parse("alice@example.com").unwrap(),
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
        .create_token(user.id, None, None, &ClientInfo::default())
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
        .create_token(user.id, None, Some(1), &ClientInfo::default())
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
