//! Mail delivery: a real SMTP conversation carries a working reset code, mail queued while
//! the relay is down goes out once when it is back, the file mailer writes readable `.eml`
//! files, and the delivery loop sends promptly and stops on shutdown.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use accounts::store::MailCounts;
use accounts::testkit::memory_mailer::SimulatedFailure;
use accounts::testkit::{code_in, MemoryMailer};
use accounts::{ClientInfo, DeliveryReport, LoginError, Mailer, Password};
use gatehouse::mail::{configured_mailer, run_delivery, MailFrom, SmtpMailer, DEFAULT_MAIL_FROM};
use tokio::sync::oneshot;

use crate::helpers::{TestApp, PASSWORD};
use crate::smtp_sink::{decoded_part, header, SmtpSink};

const NEW_PASSWORD: &str = "a new long passphrase 42";

fn smtp_mailer(sink: &SmtpSink) -> SmtpMailer {
    SmtpMailer::new(
        &sink.url(),
        MailFrom::parse("Gatehouse <auth@gatehouse.test>").unwrap(),
    )
    .unwrap()
}

async fn request_reset(app: &TestApp, login: &str) {
    app.accounts
        .request_password_reset(login, ClientInfo::default(), accounts::CodeScope::Native)
        .await
        .unwrap();
}

async fn deliver(app: &TestApp, mailer: &dyn Mailer) -> DeliveryReport {
    app.accounts.deliver_mail(mailer, 20).await.unwrap()
}

/// The outbox's counts (its oldest queued time is checked by the Store contract).
async fn counts(app: &TestApp) -> MailCounts {
    MailCounts {
        oldest_queued_at: None,
        ..app.accounts.mail_counts().await.unwrap()
    }
}

fn report(sent: usize, retrying: usize, gave_up: usize) -> DeliveryReport {
    DeliveryReport {
        sent,
        retrying,
        gave_up,
    }
}

#[tokio::test]
async fn a_reset_code_sent_over_smtp_resets_the_password() {
    let app = TestApp::spawn().await;
    app.user("alice").await;
    let sink = SmtpSink::start().await;
    let mailer = smtp_mailer(&sink);

    request_reset(&app, "alice").await;
    assert_eq!(deliver(&app, &mailer).await, report(1, 0, 0));

    let received = sink.received();
    assert_eq!(received.len(), 1);
    let mail = &received[0];
    assert_eq!(mail.from, "auth@gatehouse.test");
    assert_eq!(mail.to, ["alice@example.com"]);
    assert_eq!(
        header(&mail.raw, "To").as_deref(),
        Some("alice@example.com")
    );
    assert_eq!(
        header(&mail.raw, "Subject").as_deref(),
        Some("Reset your password")
    );
    let text = mail.text();
    let code = code_in(&text, 8)
        .expect("an eight-digit reset code in the text part")
        .to_owned();
    let html = decoded_part(&mail.raw, "text/html").expect("an HTML part");
    assert!(html.contains(&code), "{html}");

    app.accounts
        .reset_password_with_code(
            "alice@example.com",
            &code,
            NEW_PASSWORD.into(),
            ClientInfo::default(),
            accounts::CodeScope::Native,
        )
        .await
        .unwrap();
    let old = app
        .accounts
        .login(
            "alice",
            Password::for_login(PASSWORD.into()),
            ClientInfo::default(),
        )
        .await;
    assert!(
        matches!(old, Err(LoginError::InvalidCredentials)),
        "{:?}",
        old.err()
    );
    app.accounts
        .login(
            "alice",
            Password::for_login(NEW_PASSWORD.into()),
            ClientInfo::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        counts(&app).await,
        MailCounts {
            queued: 0,
            sent: 1,
            failed: 0,
            oldest_queued_at: None,
        }
    );
}

#[tokio::test]
async fn mail_queued_while_the_relay_is_down_is_sent_once_when_it_is_back() {
    let app = TestApp::spawn().await;
    let names = ["alice", "bob", "carol"];
    for name in names {
        app.user(name).await;
    }
    let mut sink = SmtpSink::start().await;
    let mailer = smtp_mailer(&sink);
    sink.stop().await;

    for name in names {
        request_reset(&app, name).await;
    }
    assert_eq!(deliver(&app, &mailer).await, report(0, 3, 0));
    assert_eq!(
        counts(&app).await,
        MailCounts {
            queued: 3,
            sent: 0,
            failed: 0,
            oldest_queued_at: None,
        }
    );

    let port = sink.port();
    sink.restart().await;
    assert_eq!(sink.port(), port);
    // Back-off: nothing is due again before its retry time.
    assert_eq!(deliver(&app, &mailer).await, report(0, 0, 0));
    assert!(sink.received().is_empty());

    // Past the back-off but well within the 5-minute lease: a failed attempt must have
    // released its lease.
    app.clock.advance(chrono::Duration::minutes(2));
    assert_eq!(deliver(&app, &mailer).await, report(3, 0, 0));
    let mut recipients: Vec<String> = sink.received().into_iter().flat_map(|m| m.to).collect();
    recipients.sort();
    assert_eq!(
        recipients,
        ["alice@example.com", "bob@example.com", "carol@example.com"]
    );
    assert_eq!(
        counts(&app).await,
        MailCounts {
            queued: 0,
            sent: 3,
            failed: 0,
            oldest_queued_at: None,
        }
    );

    app.clock.advance(chrono::Duration::hours(2));
    assert_eq!(deliver(&app, &mailer).await, report(0, 0, 0));
    assert_eq!(sink.received().len(), 3);
}

#[tokio::test]
async fn a_4xx_reply_is_retried_and_a_5xx_reply_gives_up() {
    let app = TestApp::spawn().await;
    app.user("alice").await;
    let sink = SmtpSink::start().await;
    let mailer = smtp_mailer(&sink);
    request_reset(&app, "alice").await;

    sink.reply_to_rcpt(Some("451 4.3.0 try again later"));
    assert_eq!(deliver(&app, &mailer).await, report(0, 1, 0));
    assert_eq!(
        counts(&app).await,
        MailCounts {
            queued: 1,
            sent: 0,
            failed: 0,
            oldest_queued_at: None,
        }
    );

    sink.reply_to_rcpt(Some("550 5.1.1 no such mailbox"));
    app.clock.advance(chrono::Duration::minutes(1));
    assert_eq!(deliver(&app, &mailer).await, report(0, 0, 1));
    assert_eq!(
        counts(&app).await,
        MailCounts {
            queued: 0,
            sent: 0,
            failed: 1,
            oldest_queued_at: None,
        }
    );

    sink.reply_to_rcpt(None);
    app.clock.advance(chrono::Duration::hours(2));
    assert_eq!(deliver(&app, &mailer).await, report(0, 0, 0));
    assert!(sink.received().is_empty());
}

#[tokio::test]
async fn without_a_relay_each_message_is_a_readable_eml_file() {
    let app = TestApp::spawn().await;
    app.user("alice").await;
    app.user("bob").await;
    let mailer = configured_mailer(None, DEFAULT_MAIL_FROM, app.dir.path()).unwrap();

    request_reset(&app, "alice").await;
    request_reset(&app, "bob").await;
    assert_eq!(deliver(&app, mailer.as_ref()).await, report(2, 0, 0));

    let folder = app.dir.path().join("mail");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "only finished .eml files: {files:?}");
    assert!(
        files
            .iter()
            .all(|f| f.extension().is_some_and(|e| e == "eml")),
        "{files:?}"
    );

    // Names sort in the order the messages were written (alice's was queued first).
    let first = std::fs::read_to_string(&files[0]).unwrap();
    let second = std::fs::read_to_string(&files[1]).unwrap();
    assert_eq!(header(&first, "To").as_deref(), Some("alice@example.com"));
    assert_eq!(header(&second, "To").as_deref(), Some("bob@example.com"));

    assert_eq!(header(&first, "From").as_deref(), Some(DEFAULT_MAIL_FROM));
    assert_eq!(
        header(&first, "Subject").as_deref(),
        Some("Reset your password")
    );
    assert!(header(&first, "Content-Type")
        .unwrap()
        .starts_with("multipart/alternative"));
    let text = decoded_part(&first, "text/plain").expect("a text part");
    let html = decoded_part(&first, "text/html").expect("an HTML part");
    assert!(
        text.contains("Hello alice,") && text.contains("Your code: "),
        "{text}"
    );
    let code = code_in(&text, 8).unwrap();
    assert!(
        html.starts_with("<!doctype html>") && html.contains(code),
        "{html}"
    );
}

#[tokio::test]
async fn the_delivery_loop_sends_promptly_and_stops_on_shutdown() {
    let app = TestApp::spawn().await;
    app.user("alice").await;
    let mailer = Arc::new(MemoryMailer::new());
    let (stop, stopped) = oneshot::channel::<()>();
    let delivery = tokio::spawn(run_delivery(app.accounts.clone(), mailer.clone(), async {
        let _ = stopped.await;
    }));
    // Let the loop finish its first (empty) round and start waiting.
    tokio::time::sleep(Duration::from_millis(100)).await;

    let queued_at = Instant::now();
    request_reset(&app, "alice").await;
    assert!(
        mailer.wait_for_sent(1, Duration::from_secs(2)).await,
        "not delivered"
    );
    assert!(queued_at.elapsed() < Duration::from_secs(2));
    let sent = mailer.sent_to("alice@example.com");
    assert_eq!(sent.len(), 1);
    assert!(code_in(&sent[0].text, 8).is_some());

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(2), delivery)
        .await
        .expect("the loop stops on shutdown")
        .unwrap();
    assert_eq!(
        counts(&app).await,
        MailCounts {
            queued: 0,
            sent: 1,
            failed: 0,
            oldest_queued_at: None,
        }
    );
}

#[tokio::test]
async fn the_delivery_loop_retries_after_an_outage_on_its_own() {
    let app = TestApp::spawn().await;
    app.user("alice").await;
    let mailer = Arc::new(MemoryMailer::new());
    mailer.set_outage(Some(SimulatedFailure::Temporary));
    let (_stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(run_delivery(app.accounts.clone(), mailer.clone(), async {
        let _ = stopped.await;
    }));

    request_reset(&app, "alice").await;
    let deadline = Instant::now() + Duration::from_secs(2);
    while mailer.attempts() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(mailer.attempts(), 1);
    assert_eq!(
        counts(&app).await,
        MailCounts {
            queued: 1,
            sent: 0,
            failed: 0,
            oldest_queued_at: None,
        }
    );

    mailer.set_outage(None);
    app.clock.advance(chrono::Duration::minutes(1));
    // Nothing wakes the loop now but its tick.
    assert!(
        mailer.wait_for_sent(1, Duration::from_secs(3)).await,
        "not retried"
    );
    assert_eq!(mailer.attempts(), 2);
}
