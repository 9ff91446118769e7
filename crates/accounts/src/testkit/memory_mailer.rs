//! `MemoryMailer`: a `Mailer` that keeps what it is given, so tests assert on sent mail
//! instead of reading a relay, and can make sending fail to exercise retries.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use crate::mail::{MailError, Mailer, OutgoingMail};

/// How a simulated failure fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimulatedFailure {
    /// As when the relay is down or answers 4xx: the core retries.
    Temporary,
    /// As when the relay refuses the recipient for good (5xx): the core gives up.
    Permanent,
}

/// Keeps every message it accepts, in order.
#[derive(Debug, Default)]
pub struct MemoryMailer {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    sent: Vec<OutgoingMail>,
    attempts: usize,
    fail_next: usize,
    fail_next_as: Option<SimulatedFailure>,
    outage: Option<SimulatedFailure>,
}

impl MemoryMailer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every message accepted so far, oldest first.
    pub fn sent(&self) -> Vec<OutgoingMail> {
        self.state.lock().unwrap().sent.clone()
    }

    /// The messages accepted for one address (as written, compared without case).
    pub fn sent_to(&self, address: &str) -> Vec<OutgoingMail> {
        self.sent()
            .into_iter()
            .filter(|m| m.to.as_str().eq_ignore_ascii_case(address))
            .collect()
    }

    /// Calls to `send`, failed ones included.
    pub fn attempts(&self) -> usize {
        self.state.lock().unwrap().attempts
    }

    /// The next `n` sends fail as `failure` (after any outage ends).
    pub fn fail_next(&self, n: usize, failure: SimulatedFailure) {
        let mut state = self.state.lock().unwrap();
        state.fail_next = n;
        state.fail_next_as = Some(failure);
    }

    /// While `Some`, every send fails this way; `None` ends the outage.
    pub fn set_outage(&self, failure: Option<SimulatedFailure>) {
        self.state.lock().unwrap().outage = failure;
    }

    /// Waits until at least `count` messages were accepted, or `timeout` passes; returns
    /// whether they were. Polls, so it works whoever drives delivery.
    pub async fn wait_for_sent(&self, count: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.state.lock().unwrap().sent.len() >= count {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[async_trait]
impl Mailer for MemoryMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let mut state = self.state.lock().unwrap();
        state.attempts += 1;
        let failure = match (state.outage, state.fail_next_as) {
            (Some(outage), _) => Some(outage),
            (None, Some(next)) if state.fail_next > 0 => {
                state.fail_next -= 1;
                Some(next)
            }
            _ => None,
        };
        match failure {
            Some(SimulatedFailure::Temporary) => {
                Err(MailError::Temporary("simulated: relay unavailable".into()))
            }
            Some(SimulatedFailure::Permanent) => {
                Err(MailError::Permanent("simulated: recipient refused".into()))
            }
            None => {
                state.sent.push(mail.clone());
                Ok(())
            }
        }
    }
}

/// The first run of exactly `digits` ASCII digits in `text` (a one-time code), skipping
/// longer and shorter runs.
pub fn code_in(text: &str, digits: usize) -> Option<&str> {
    let bytes = text.as_bytes();
    let mut start = 0;
    while start < bytes.len() {
        if !bytes[start].is_ascii_digit() {
            start += 1;
            continue;
        }
        let end = bytes[start..]
            .iter()
            .position(|b| !b.is_ascii_digit())
            .map_or(bytes.len(), |n| start + n);
        if end - start == digits {
            return Some(&text[start..end]);
        }
        start = end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EmailAddress;

    fn mail(to: &str) -> OutgoingMail {
        OutgoingMail {
            to: EmailAddress::parse(to).unwrap(),
            subject: "s".into(),
            text: "t".into(),
            html: "h".into(),
        }
    }

    #[test]
    fn codes_are_exact_runs_of_digits() {
        let text = "valid for 15 minutes, port 127.0.0.1:41234\nYour code: 042917\n?t=ab1234567z";
        assert_eq!(code_in(text, 6), Some("042917"));
        assert_eq!(code_in("x1234567 y", 6), None);
        assert_eq!(code_in("123456", 6), Some("123456"));
        assert_eq!(code_in("", 6), None);
    }

    #[tokio::test]
    async fn failures_then_recovery() {
        let mailer = MemoryMailer::new();
        mailer.fail_next(2, SimulatedFailure::Temporary);
        assert!(matches!(
            mailer.send(&mail("a@example.com")).await,
            Err(MailError::Temporary(_))
        ));
        assert!(mailer.send(&mail("a@example.com")).await.is_err());
        mailer.send(&mail("a@example.com")).await.unwrap();

        mailer.set_outage(Some(SimulatedFailure::Permanent));
        assert!(matches!(
            mailer.send(&mail("b@example.com")).await,
            Err(MailError::Permanent(_))
        ));
        mailer.set_outage(None);
        mailer.send(&mail("b@example.com")).await.unwrap();

        assert_eq!(mailer.attempts(), 5);
        assert_eq!(mailer.sent().len(), 2);
        assert_eq!(mailer.sent_to("B@example.com").len(), 1);
        assert!(mailer.wait_for_sent(2, Duration::from_millis(1)).await);
        assert!(!mailer.wait_for_sent(3, Duration::from_millis(30)).await);
    }
}
