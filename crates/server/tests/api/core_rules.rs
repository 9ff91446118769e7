//! The core's rules proved at the core's own boundary, in milliseconds: a real SQLite store
//! behind a counting wrapper and a manual clock, no HTTP. The HTTP suites keep the wire
//! shapes; these keep the rules (limits, no-probe, organisation reach, throttling windows).

use accounts::access::{Action, Entity, Need, OrgRole};
use accounts::failure::Kind;
use accounts::reach::UserRef;
use accounts::{Actor, ClientInfo, EmailAddress, Failure, LoginError, Password, TokenError};
use chrono::Duration;

use crate::core_invariants::{alice, core_with, user, Core};
use crate::helpers::PASSWORD;

fn kind<T: std::fmt::Debug, E: Into<Failure>>(result: Result<T, E>) -> Kind {
    match result {
        Ok(value) => panic!("went through: {value:?}"),
        Err(e) => e.into().kind,
    }
}

#[tokio::test]
async fn a_user_at_the_token_limit_gets_no_more_tokens() {
    let core = core_with(|c| c.max_tokens_per_user = 2).await;
    let alice = alice(&core).await;
    let me = Actor::user(alice.id);
    for _ in 0..2 {
        core.accounts
            .create_token(&me, alice.id, None, None)
            .await
            .unwrap();
    }
    let third = core.accounts.create_token(&me, alice.id, None, None).await;
    assert!(
        matches!(third, Err(TokenError::TooMany { max: 2 })),
        "{third:?}"
    );
    let listed = core.accounts.list_tokens(&me, alice.id).await.unwrap();
    assert_eq!(listed.len(), 2);
}

#[tokio::test]
async fn whether_an_account_exists_is_told_only_to_those_who_may_read_every_account() {
    let core = core_with(|_| {}).await;
    let alice = alice(&core).await;
    user(&core, "bob").await;
    let plain = Actor::user(alice.id);
    let read = Need::new(Entity::User, Action::Read);
    let named = |login| UserRef::Login(login);
    // A plain user gets the same answer for an account that exists and one that does not.
    let existing = core.accounts.user_as(&plain, read, named("bob")).await;
    let missing = core.accounts.user_as(&plain, read, named("nobody")).await;
    assert_eq!(
        (kind(existing), kind(missing)),
        (Kind::Forbidden, Kind::Forbidden)
    );
    // Their own account by any of its names, and the operator sees the difference.
    let own = core
        .accounts
        .user_as(&plain, read, named("alice@example.com"));
    assert_eq!(own.await.unwrap().id, alice.id);
    let op = Actor::operator();
    assert_eq!(
        core.accounts
            .user_as(&op, read, named("bob"))
            .await
            .unwrap()
            .username
            .as_str(),
        "bob"
    );
    let missing = core.accounts.user_as(&op, read, named("nobody")).await;
    assert_eq!(kind(missing), Kind::NotFound);
    let number = core
        .accounts
        .user_as(&op, read, UserRef::Number(i64::MAX))
        .await;
    assert_eq!(kind(number), Kind::NotFound);
}

#[tokio::test]
async fn an_organisation_admin_reaches_its_members_and_nobody_else() {
    let core = core_with(|_| {}).await;
    let op = Actor::operator();
    let alice = alice(&core).await;
    let bob = user(&core, "bob").await;
    let carol = user(&core, "carol").await;
    let org = core.accounts.create_org(&op, "acme").await.unwrap();
    for (who, role) in [(alice.id, OrgRole::Admin), (bob.id, OrgRole::Member)] {
        core.accounts
            .set_member(&op, org.id, who, role)
            .await
            .unwrap();
    }
    let admin = Actor::user(alice.id);
    assert_eq!(
        core.accounts.get_user(&admin, bob.id).await.unwrap().id,
        bob.id
    );
    assert_eq!(
        kind(core.accounts.get_user(&admin, carol.id).await),
        Kind::Forbidden
    );
    // Bob's membership is visible in the organisation the request acts in, and only there.
    let seen = core
        .accounts
        .memberships_seen_by(&admin, bob.id, Some(org.id))
        .await
        .unwrap();
    assert_eq!(seen.len(), 1);
    let elsewhere = core
        .accounts
        .memberships_seen_by(&admin, bob.id, None)
        .await
        .unwrap();
    assert!(elsewhere.is_empty(), "{elsewhere:?}");
    // A plain member reaches nobody but themselves.
    let member = Actor::user(bob.id);
    assert_eq!(
        kind(core.accounts.get_user(&member, alice.id).await),
        Kind::Forbidden
    );
}

#[tokio::test]
async fn failed_sign_ins_wait_once_the_budget_is_spent_and_are_evaluated_again_after_it() {
    let core = core_with(|c| {
        c.throttle.login_per_account = 3;
        c.throttle.login_first_wait = Duration::minutes(1);
    })
    .await;
    alice(&core).await;
    let from = ClientInfo {
        ip: Some("203.0.113.9".into()),
        ..ClientInfo::default()
    };
    let attempt = |password: &str| {
        core.accounts
            .login("alice", Password::for_login(password.into()), from.clone())
    };
    for _ in 0..3 {
        assert!(matches!(
            attempt("wrong").await,
            Err(LoginError::InvalidCredentials)
        ));
    }
    // The budget is spent: even the right password waits, and the wait is said.
    match attempt(PASSWORD).await {
        Err(LoginError::Throttled(t)) => assert!(t.retry_after_seconds() <= 60, "{t:?}"),
        other => panic!("not throttled: {other:?}"),
    }
    core.clock.advance(Duration::seconds(61));
    assert!(attempt(PASSWORD).await.is_ok(), "the wait is over");
}

#[tokio::test]
async fn a_password_stored_at_other_costs_is_rehashed_at_its_next_sign_in_and_only_then() {
    use accounts::store::{EndSessions, UserStore as _};
    use accounts::PasswordHasher;

    let core = core_with(|_| {}).await;
    let alice = alice(&core).await;
    // The hash an older deployment (or an import) left: argon2id at the production costs,
    // while this core hashes at the test costs.
    let older = PasswordHasher::new(PasswordHasher::default_params(), 1);
    let stored = older.hash(&Password::for_login(PASSWORD.into())).await;
    core.store
        .set_password_hash(alice.id, &stored, EndSessions::None, core.accounts.now())
        .await
        .unwrap();
    let sign_in = || {
        core.accounts.login(
            "alice",
            Password::for_login(PASSWORD.into()),
            ClientInfo::default(),
        )
    };
    let upgrades = |core: &Core| {
        core.store
            .writes()
            .into_iter()
            .filter(|(method, _)| *method == "upgrade_password_hash")
            .map(|(_, n)| n)
            .sum::<u64>()
    };
    core.store.reset();
    sign_in().await.unwrap();
    assert_eq!(upgrades(&core), 1, "{:?}", core.store.writes());
    core.store.reset();
    sign_in().await.unwrap();
    assert_eq!(
        upgrades(&core),
        0,
        "rehashed again: {:?}",
        core.store.writes()
    );
}

#[tokio::test]
async fn a_mailed_code_dies_after_its_wrong_tries_even_for_the_right_code() {
    use accounts::domain::ProfileChange;
    use accounts::lifecycle::{CodeScope, Registration};
    use accounts::testkit::{code_in, MemoryMailer};
    use accounts::{CodeError, NewUsername};

    let core = core_with(|c| {
        c.signup.enabled = true;
        c.codes.max_attempts = 3;
    })
    .await;
    let registration = Registration {
        username: NewUsername::FromEmail,
        email: EmailAddress::parse("dora@example.com").unwrap(),
        password: PASSWORD.into(),
        application: None,
        profile: ProfileChange::default(),
    };
    core.accounts
        .register(registration, ClientInfo::default())
        .await
        .unwrap();
    let mailer = MemoryMailer::new();
    core.accounts.deliver_mail(&mailer, 10).await.unwrap();
    let sent = mailer.sent_to("dora@example.com");
    let code = code_in(&sent[0].text, 6)
        .expect("a 6-digit code")
        .to_owned();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let accounts = &core.accounts;
    let verify = |code: String| async move {
        accounts
            .verify_email_code(
                "dora@example.com",
                &code,
                ClientInfo::default(),
                CodeScope::of(None),
            )
            .await
    };
    for _ in 0..3 {
        assert!(matches!(
            verify(wrong.into()).await,
            Err(CodeError::Invalid)
        ));
    }
    let late = verify(code).await;
    assert!(matches!(late, Err(CodeError::Invalid)), "{late:?}");
}
