//! Mail delivery: the `Mailer` adapters (SMTP through lettre; one `.eml` file per message
//! under `<data-dir>/mail/` when no relay is configured), the choice between them from the
//! settings, and the loop that drains the core's outbox.
//!
//! It owns the wire format of a message (multipart/alternative, text and HTML, both
//! quoted-printable) and the mapping of SMTP failures to temporary or permanent. It never
//! decides what to send, when to retry or when to give up (the core does, in
//! `Accounts::deliver_mail`), and it never logs a message body, a code or the relay password.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use accounts::{Accounts, MailError, Mailer, OutgoingMail};
use async_trait::async_trait;
use lettre::message::header::ContentTransferEncoding;
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::{AsyncSmtpTransportBuilder, Error as SmtpError};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use uuid::Uuid;

use crate::config::ConfigError;

/// The sender when `GATEHOUSE_MAIL_FROM` is not set.
pub const DEFAULT_MAIL_FROM: &str = "Gatehouse <gatehouse@localhost>";

/// Messages claimed from the outbox per delivery round.
pub const DELIVERY_BATCH: u32 = 20;

/// How often the outbox is looked at when nothing wakes the loop (mail queued by another
/// process, such as the CLI, and retries that have become due).
pub const DELIVERY_TICK: Duration = Duration::from_secs(1);

/// Limit on connecting to the relay and on each SMTP command.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a delivery round in progress may go on once shutdown is asked for. A message cut
/// off is sent again after its lease ends (delivery is at least once).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The validated sender address (`GATEHOUSE_MAIL_FROM`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailFrom(Mailbox);

impl MailFrom {
    /// Accepts `gatehouse@example.com` or `Gatehouse <gatehouse@example.com>`.
    pub fn parse(from: &str) -> Result<Self, ConfigError> {
        from.trim().parse::<Mailbox>().map(Self).map_err(|e| {
            ConfigError::new(
                "mail_from",
                format!("{from:?} is not a mail address like `Gatehouse <auth@example.com>`: {e}"),
            )
        })
    }
}

/// The mailer the settings ask for: SMTP when `smtp_url` is set, otherwise [`FileMailer`]
/// writing to `<data_dir>/mail/`. Must be called inside the Tokio runtime (the SMTP
/// connection pool starts a task).
pub fn configured_mailer(
    smtp_url: Option<&str>,
    from: &str,
    data_dir: &Path,
) -> Result<Arc<dyn Mailer>, ConfigError> {
    let from = MailFrom::parse(from)?;
    match smtp_url.map(str::trim).filter(|url| !url.is_empty()) {
        Some(url) => {
            let mailer = SmtpMailer::new(url, from)?;
            tracing::info!(relay = %mailer.relay, "mail is sent through the SMTP relay");
            Ok(Arc::new(mailer))
        }
        None => {
            let dir = data_dir.join("mail");
            let mailer = FileMailer::new(dir.clone(), from).map_err(|e| {
                ConfigError::new(
                    "data_dir",
                    format!("cannot create the mail folder {}: {e}", dir.display()),
                )
            })?;
            tracing::info!(
                folder = %dir.display(),
                "no SMTP relay (GATEHOUSE_SMTP_URL) is set: mail is written as .eml files"
            );
            Ok(Arc::new(mailer))
        }
    }
}

/// Checks an SMTP URL (`GATEHOUSE_SMTP_URL`) without connecting, so settings can be
/// refused when they are loaded rather than when the server starts.
pub fn check_smtp_url(url: &str) -> Result<(), ConfigError> {
    smtp_builder(url).map(drop)
}

/// Drains the outbox until `shutdown` completes: a round of up to [`DELIVERY_BATCH`]
/// messages, straight away another while full rounds keep getting through, otherwise a wait
/// for newly queued mail or [`DELIVERY_TICK`]. A store failure is logged once per outage and
/// retried on the next tick; it never ends the loop.
pub async fn run_delivery(
    accounts: Arc<Accounts>,
    mailer: Arc<dyn Mailer>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut store_failing = false;
    loop {
        let round = accounts.deliver_mail(mailer.as_ref(), DELIVERY_BATCH);
        tokio::pin!(round);
        let outcome = tokio::select! {
            outcome = &mut round => outcome,
            () = &mut shutdown => {
                if tokio::time::timeout(SHUTDOWN_GRACE, round).await.is_err() {
                    tracing::warn!(
                        "mail delivery was cut off at shutdown; unfinished messages are sent again later"
                    );
                }
                return;
            }
        };
        let more_due = match outcome {
            Ok(report) => {
                if store_failing {
                    tracing::info!("mail delivery works again");
                    store_failing = false;
                }
                let handled = report.sent + report.retrying + report.gave_up;
                // A full round that got mail through: more may be due. A round where nothing
                // got through is an outage; the tick paces the retries.
                handled >= DELIVERY_BATCH as usize && report.sent > 0
            }
            Err(e) => {
                if !store_failing {
                    tracing::error!(error = %e, "mail delivery cannot read the outbox; retrying every tick");
                    store_failing = true;
                }
                false
            }
        };
        if more_due {
            tokio::select! {
                biased;
                () = &mut shutdown => return,
                () = tokio::task::yield_now() => continue,
            }
        }
        tokio::select! {
            () = &mut shutdown => return,
            () = accounts.mail_queued(DELIVERY_TICK) => {}
        }
    }
}

/// Sends through an SMTP relay, with a pool of connections.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: MailFrom,
    /// The URL without its credentials, for logs.
    relay: String,
}

impl SmtpMailer {
    /// `url` as in `GATEHOUSE_SMTP_URL`: `smtp://user:pass@host:587?tls=required` (STARTTLS),
    /// `smtps://host:465` (TLS from the start), `smtp://127.0.0.1:2525` (plain, for a local
    /// relay). The user name and password are percent-decoded.
    pub fn new(url: &str, from: MailFrom) -> Result<Self, ConfigError> {
        let transport = smtp_builder(url)?.timeout(Some(SMTP_TIMEOUT)).build();
        Ok(Self {
            transport,
            from,
            relay: without_credentials(url),
        })
    }
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("relay", &self.relay)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let message = build_message(&self.from, mail)?;
        self.transport
            .send(message)
            .await
            .map(drop)
            .map_err(|e| classify(&e))
    }
}

/// Writes each message as `<time>-<id>.eml` in one folder: the zero-configuration default,
/// and a way to read what would have been sent. Names sort in the order of writing.
#[derive(Debug, Clone)]
pub struct FileMailer {
    dir: PathBuf,
    from: MailFrom,
}

impl FileMailer {
    /// Creates `dir` (0700) if needed; messages hold live links, so each is written 0600.
    pub fn new(dir: PathBuf, from: MailFrom) -> std::io::Result<Self> {
        crate::private_files::create_dir(&dir)?;
        Ok(Self { dir, from })
    }
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let bytes = build_message(&self.from, mail)?.formatted();
        // A v7 id is ordered by time (and by a counter within one millisecond), so names
        // sort in the order messages were written; the timestamp is there for people.
        let name = format!(
            "{}-{}.eml",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
            Uuid::now_v7().simple()
        );
        let path = self.dir.join(&name);
        let shown = path.display().to_string();
        crate::private_files::write_atomically_async(path, bytes)
            .await
            .map_err(|e| MailError::Temporary(format!("writing {shown}: {e}")))
    }
}

fn smtp_builder(url: &str) -> Result<AsyncSmtpTransportBuilder, ConfigError> {
    AsyncSmtpTransport::<Tokio1Executor>::from_url(url.trim()).map_err(|e| {
        // lettre's message never repeats the URL, so the password cannot leak through it.
        ConfigError::new(
            "smtp_url",
            format!(
                "{} is not a usable SMTP URL (smtp://user:password@host:587?tls=required, \
                 smtps://host:465 or smtp://127.0.0.1:25): {e}",
                without_credentials(url)
            ),
        )
    })
}

/// The message as it goes on the wire. An address lettre cannot take will never send, so
/// that is permanent.
fn build_message(from: &MailFrom, mail: &OutgoingMail) -> Result<Message, MailError> {
    let to: Mailbox = mail
        .to
        .as_str()
        .parse()
        .map_err(|e| MailError::Permanent(format!("recipient address refused: {e}")))?;
    // Quoted-printable keeps both parts readable in a file or a mail client's source view,
    // whatever the text contains.
    let part = |text: &str| {
        Body::new_with_encoding(text.to_owned(), ContentTransferEncoding::QuotedPrintable)
            .map_err(|_| MailError::Permanent("the message cannot be encoded".into()))
    };
    let body = MultiPart::alternative()
        .singlepart(SinglePart::plain(part(&mail.text)?))
        .singlepart(SinglePart::html(part(&mail.html)?));
    Message::builder()
        .message_id(Some(format!(
            "<{}@{}>",
            Uuid::now_v7().simple(),
            from.0.email.domain()
        )))
        .from(from.0.clone())
        .to(to)
        .subject(mail.subject.clone())
        .multipart(body)
        .map_err(|e| MailError::Permanent(format!("the message cannot be built: {e}")))
}

/// 5xx replies are permanent, except those about our own authentication (a wrong relay
/// password must not throw away every queued message); everything else (4xx, connection,
/// TLS, timeouts, I/O) is worth retrying.
fn classify(e: &SmtpError) -> MailError {
    let text = e.to_string();
    let auth_problem = matches!(
        e.status().map(|code| code.to_string()).as_deref(),
        Some("530" | "534" | "535" | "538")
    );
    if e.is_permanent() && !auth_problem {
        MailError::Permanent(text)
    } else {
        MailError::Temporary(text)
    }
}

/// `smtp://user:secret@host:587` -> `smtp://host:587`.
fn without_credentials(url: &str) -> String {
    crate::redact::without_userinfo(url)
}

#[cfg(test)]
mod tests {
    use accounts::EmailAddress;

    use super::*;

    fn mail() -> OutgoingMail {
        OutgoingMail {
            to: EmailAddress::parse("alice@example.com").unwrap(),
            subject: "Réinitialiser".into(),
            text: format!(
                "Hello,\n\nYour code: 123456\n\n{}\n",
                "long line ".repeat(20)
            ),
            html: "<p>Your code: <strong>123456</strong></p>".into(),
        }
    }

    #[test]
    fn credentials_never_reach_the_description() {
        assert_eq!(
            without_credentials("smtp://user:p%40ss@mail.example.com:587?tls=required"),
            "smtp://mail.example.com:587?tls=required"
        );
        assert_eq!(without_credentials("smtps://a@b@host"), "smtps://host");
        assert_eq!(
            without_credentials("smtp://127.0.0.1:2525"),
            "smtp://127.0.0.1:2525"
        );
        assert_eq!(without_credentials("garbage"), "the value");
        // A password with an unencoded `/` is not taken for the end of the host.
        assert_eq!(
            without_credentials("smtp://user:pa/ss@mail.example.com"),
            "smtp://mail.example.com"
        );
    }

    #[test]
    fn the_sender_is_validated_and_named() {
        assert_eq!(
            MailFrom::parse(DEFAULT_MAIL_FROM).unwrap().0.email.domain(),
            "localhost"
        );
        assert!(MailFrom::parse("auth@example.com").is_ok());
        let err = MailFrom::parse("not an address").unwrap_err().to_string();
        assert!(err.contains("GATEHOUSE_MAIL_FROM"), "{err}");
    }

    #[test]
    fn smtp_urls_are_checked_without_connecting() {
        for url in [
            "smtp://user:p%40ss@mail.example.com:587?tls=required",
            "smtp://mail.example.com?tls=opportunistic",
            "smtps://mail.example.com:465",
            "smtp://127.0.0.1:2525",
        ] {
            check_smtp_url(url).unwrap();
        }
        for url in [
            "http://host",
            "smtp://host?tls=sometimes",
            "smtp://",
            "not a url",
            "ftp://user:hunter2@host",
        ] {
            let err = check_smtp_url(url).unwrap_err().to_string();
            assert!(err.contains("GATEHOUSE_SMTP_URL"), "{url}: {err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[tokio::test]
    async fn a_bad_smtp_url_is_refused_when_the_mailer_is_built() {
        let err = configured_mailer(
            Some("smtp://user:hunter2@host?tls=sometimes"),
            DEFAULT_MAIL_FROM,
            Path::new("."),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("GATEHOUSE_SMTP_URL") && !err.contains("hunter2"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn the_debug_form_hides_the_password() {
        let mailer = SmtpMailer::new(
            "smtp://user:hunter2@127.0.0.1:2525",
            MailFrom::parse(DEFAULT_MAIL_FROM).unwrap(),
        )
        .unwrap();
        let debug = format!("{mailer:?}");
        assert!(
            !debug.contains("hunter2") && debug.contains("127.0.0.1:2525"),
            "{debug}"
        );
    }

    #[test]
    fn messages_are_text_and_html_alternatives_in_quoted_printable() {
        let from = MailFrom::parse(DEFAULT_MAIL_FROM).unwrap();
        let raw = String::from_utf8(build_message(&from, &mail()).unwrap().formatted()).unwrap();
        assert!(raw.contains("Content-Type: multipart/alternative"), "{raw}");
        assert!(
            raw.contains("Content-Type: text/plain; charset=utf-8"),
            "{raw}"
        );
        assert!(
            raw.contains("Content-Type: text/html; charset=utf-8"),
            "{raw}"
        );
        assert_eq!(
            raw.matches("Content-Transfer-Encoding: quoted-printable")
                .count(),
            2,
            "{raw}"
        );
        assert!(raw.contains("Your code: 123456"), "{raw}");
        assert!(raw.contains("To: alice@example.com"), "{raw}");
        assert!(
            raw.contains("@localhost>"),
            "a Message-ID in the sender's domain: {raw}"
        );
    }
}
