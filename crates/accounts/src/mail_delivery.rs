//! Delivering the outbox: the mail round, its retries and its counts.

use crate::lifecycle::{backoff, DeliveryReport, MAX_MAIL_ATTEMPTS};
use crate::mail::{MailError, Mailer};
use crate::service::Accounts;
use crate::store::StoreError;
use chrono::{DateTime, Duration, Utc};

impl Accounts {
    /// Waits until mail is queued in this process (or `timeout` passes).
    pub async fn mail_queued(&self, timeout: std::time::Duration) {
        let _ = tokio::time::timeout(timeout, self.mail_queued.notified()).await;
    }

    /// One delivery round: claims due messages, sends each, and records the outcome with
    /// exponential back-off for temporary failures.
    pub async fn deliver_mail(
        &self,
        mailer: &dyn Mailer,
        batch: u32,
    ) -> Result<DeliveryReport, StoreError> {
        self.run_deferred().await?;
        let now = self.clock.now();
        let claimed = self
            .store
            .claim_mail(now, now + Duration::minutes(5), batch)
            .await?;
        let mut report = DeliveryReport::default();
        let mut first_error = None;
        let mut relay_down: Option<String> = None;
        for queued in claimed {
            let outcome = match &relay_down {
                // After a temporary failure the rest of the round is not tried (each try could
                // wait for the relay's timeout); they are rescheduled like the failed one.
                Some(reason) => Err(MailError::Temporary(format!("not tried: {reason}"))),
                None => mailer.send(&queued.mail).await,
            };
            let recorded = match outcome {
                Ok(()) => {
                    report.sent += 1;
                    self.store.mark_mail_sent(queued.id, self.clock.now()).await
                }
                Err(e) => {
                    let attempts = queued.attempts + 1;
                    let retry_at: Option<DateTime<Utc>> = match &e {
                        MailError::Temporary(reason) if attempts < MAX_MAIL_ATTEMPTS => {
                            relay_down.get_or_insert_with(|| reason.clone());
                            Some(self.clock.now() + backoff(queued.attempts))
                        }
                        _ => None,
                    };
                    tracing::warn!(mail = %queued.id, attempts, error = %e, retry = retry_at.is_some(), "mail delivery failed");
                    self.mail_attempts_failed
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if retry_at.is_some() {
                        report.retrying += 1;
                    } else {
                        report.gave_up += 1;
                    }
                    self.store
                        .mark_mail_failed(queued.id, &e.to_string(), retry_at)
                        .await
                }
            };
            // A store failure here leaves this one message leased; keep going with the rest.
            if let Err(e) = recorded {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    pub async fn mail_counts(&self) -> Result<crate::store::MailCounts, StoreError> {
        self.store.mail_counts().await
    }
}
