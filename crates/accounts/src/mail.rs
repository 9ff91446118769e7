//! Outgoing e-mail: what a message is, the `Mailer` port that delivers one, and the texts
//! the use cases send. Messages are queued in the store's outbox in the same transaction as
//! the change that causes them, and delivered by `Accounts::deliver_mail` with retries.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::EmailAddress;

/// One message, as queued and as handed to a `Mailer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    pub to: EmailAddress,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// A message claimed from the outbox for one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMail {
    pub id: Uuid,
    pub mail: OutgoingMail,
    /// Attempts made before this one.
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Worth retrying: connection refused, timeout, 4xx from the server.
    #[error("temporary mail failure: {0}")]
    Temporary(String),
    /// Retrying cannot help: the server refused the recipient for good (5xx).
    #[error("permanent mail failure: {0}")]
    Permanent(String),
}

/// Delivers one message (SMTP, a file per message, or memory in tests).
#[async_trait]
pub trait Mailer: Send + Sync + std::fmt::Debug {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError>;
}

/// Text made safe to place in HTML (element content or a quoted attribute).
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A message of paragraphs, an optional code and an optional link, in text and HTML.
fn compose(
    to: &EmailAddress,
    subject: &str,
    paragraphs: &[String],
    code: Option<&str>,
    link: Option<(&str, &str)>,
) -> OutgoingMail {
    let mut text = String::new();
    let mut html = String::from("<!doctype html><html><body style=\"font-family:sans-serif\">");
    for p in paragraphs {
        text.push_str(p);
        text.push_str("\n\n");
        html.push_str(&format!("<p>{}</p>", escape_html(p)));
    }
    if let Some(code) = code {
        text.push_str(&format!("Your code: {code}\n\n"));
        html.push_str(&format!(
            "<p>Your code: <strong style=\"font-size:1.4em;letter-spacing:0.2em\">{}</strong></p>",
            escape_html(code)
        ));
    }
    if let Some((label, url)) = link {
        text.push_str(&format!("{label}: {url}\n\n"));
        html.push_str(&format!(
            "<p><a href=\"{}\">{}</a></p>",
            escape_html(url),
            escape_html(label)
        ));
    }
    text.push_str("If you did not ask for this, you can ignore this message.\n");
    html.push_str("<p>If you did not ask for this, you can ignore this message.</p></body></html>");
    OutgoingMail {
        to: to.clone(),
        subject: subject.to_owned(),
        text,
        html,
    }
}

/// The texts the use cases send.
pub mod templates {
    use super::*;

    pub fn verify_email(
        to: &EmailAddress,
        username: &str,
        code: &str,
        link: &str,
        minutes: i64,
    ) -> OutgoingMail {
        compose(
            to,
            "Confirm your e-mail address",
            &[
                format!("Hello {username},"),
                format!("confirm this address with the code below (valid for {minutes} minutes) or the link."),
            ],
            Some(code),
            Some(("Confirm my address", link)),
        )
    }

    pub fn reset_password(
        to: &EmailAddress,
        username: &str,
        code: &str,
        link: &str,
        minutes: i64,
    ) -> OutgoingMail {
        compose(
            to,
            "Reset your password",
            &[
                format!("Hello {username},"),
                format!("someone asked to reset the password of your account. Use the code below (valid for {minutes} minutes) or the link to choose a new one. Resetting it signs you out everywhere and revokes your API tokens and pending sign-ins."),
            ],
            Some(code),
            Some(("Choose a new password", link)),
        )
    }

    /// To the owner of an address someone tried to sign up with again.
    pub fn already_registered(to: &EmailAddress, reset_link: &str) -> OutgoingMail {
        compose(
            to,
            "You already have an account",
            &["Someone (maybe you) tried to create an account with this e-mail address, which already has one.".into()],
            None,
            Some(("Forgot your password? Reset it", reset_link)),
        )
    }

    pub fn password_changed(to: &EmailAddress, username: &str) -> OutgoingMail {
        compose(
            to,
            "Your password was changed",
            &[
                format!("Hello {username},"),
                "the password of your account was just changed. If this was not you, reset your password now and contact your administrator.".into(),
            ],
            None,
            None,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped_and_text_has_the_code_and_link() {
        let to = EmailAddress::parse("a@example.com").unwrap();
        let mail = templates::verify_email(&to, "<script>", "123456", "https://x/?t=1&u=2", 10);
        assert!(mail.text.contains("123456") && mail.text.contains("https://x/?t=1&u=2"));
        assert!(mail.html.contains("&lt;script&gt;") && !mail.html.contains("<script>"));
        assert!(mail.html.contains("https://x/?t=1&amp;u=2"));
    }
}
