//! Throttling as the use cases apply it: per-address and per-account limits, sign-in budgets
//! counted before the hash with doubling waits, the owner's known browser and address, and
//! refusals written down once per limit and key (`throttle.rs` keeps those records).

use crate::audit::Outcome;
use crate::domain::{User, UserId};
use crate::error::Throttled;
use crate::lifecycle::{account_key, client_address, CountedLogin, LOGIN_MEMORY_DAYS};
use crate::password::Password;
use crate::service::{Accounts, ClientInfo};
use crate::store::{Backoff, RateLimit, StoreError};
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

impl Accounts {
    pub(crate) fn limit_ip(&self, what: &str, client: &ClientInfo, limit: u32) -> RateLimit {
        RateLimit::per(
            format!("{what}:ip:{}", client_address(client)),
            limit,
            self.config.throttle.window,
        )
    }

    /// The limits on a request that sends mail: per client address per window, and per
    /// recipient (the address itself, whatever login named it) per `mail_window`, so nobody
    /// uses the service to fill a third party's inbox.
    pub(crate) fn limit_mail(&self, client: &ClientInfo, recipient: &str) -> [RateLimit; 2] {
        let t = &self.config.throttle;
        [
            self.limit_ip("mail", client, t.mail_per_ip),
            RateLimit::per(
                format!("mail:to:{}", account_key(recipient, None)),
                t.mail_per_recipient,
                t.mail_window,
            ),
        ]
    }

    /// A per-account limit; `account` is an `account_key`.
    pub(crate) fn limit_account(&self, what: &str, account: &str, limit: u32) -> RateLimit {
        RateLimit::per(
            format!("{what}:account:{account}"),
            limit,
            self.config.throttle.window,
        )
    }

    /// Counts one attempt against every limit; `Ok(Err(_))` when one is exhausted.
    pub(crate) async fn throttle(
        &self,
        limits: &[RateLimit],
    ) -> Result<Result<(), Throttled>, StoreError> {
        let now = self.clock.now();
        Ok(match self.store.hit_rate_limits(limits, now).await? {
            None => Ok(()),
            Some(exhausted) => {
                self.record_throttled(&exhausted.key, now).await;
                Err(Throttled {
                    retry_after: exhausted.retry_after,
                })
            }
        })
    }

    /// Counts one password attempt for the account `found` (or the login as typed, when it
    /// names none) from the client, before the password is checked (so parallel attempts
    /// cannot all slip past a budget); `done_login` takes it back when the password was right.
    /// The limits (docs/security.md, "Sign-in throttling"):
    /// - per client address, whatever the account: `login_per_ip` per window;
    /// - per account and address: `login_per_account`, then waits that double from
    ///   `login_first_wait` up to `login_max_wait` (forgotten a day after the last failure);
    /// - per account across all addresses: `login_per_account_per_day`, which a browser with
    ///   the account's device cookie, or an address the account signed in from lately, skips:
    ///   so nobody locks the owner out from where they usually sign in.
    pub(crate) async fn count_login(
        &self,
        login: &str,
        found: Option<&User>,
        client: &ClientInfo,
    ) -> Result<Result<CountedLogin, Throttled>, StoreError> {
        let t = &self.config.throttle;
        let account = account_key(login, found);
        let address = client_address(client);
        let pair = RateLimit {
            key: format!("login:pair:{account}:{address}"),
            limit: t.login_per_account,
            window: Duration::days(LOGIN_MEMORY_DAYS),
            backoff: Some(Backoff {
                first: t.login_first_wait,
                max: t.login_max_wait,
            }),
        };
        let mut limits = vec![self.limit_ip("login", client, t.login_per_ip), pair];
        // The same lookups for an unknown login as for an account (no timing tells them apart).
        let owner = found.map_or(UserId(Uuid::nil()), |u| u.id);
        let known = self.is_known_client(owner, &address, client).await? && found.is_some();
        if !known {
            limits.push(RateLimit::per(
                format!("login:account:{account}"),
                t.login_per_account_per_day,
                Duration::days(1),
            ));
        }
        if let Err(throttled) = self.throttle(&limits).await? {
            return Ok(Err(throttled));
        }
        let pair = limits.remove(1).key;
        Ok(Ok(CountedLogin {
            refund: limits.into_iter().map(|l| l.key).collect(),
            pair,
            address,
        }))
    }

    /// A counted attempt whose password was right: it counts nowhere, the failures of that
    /// account from that address are forgotten, and the address is known to the account.
    pub(crate) async fn done_login(&self, counted: CountedLogin, user: UserId) {
        let now = self.clock.now();
        let outcome = async {
            self.store.refund_rate_limits(&counted.refund).await?;
            self.store.clear_rate_limits(&[counted.pair]).await?;
            self.store
                .note_known_address(user, &counted.address, now)
                .await
        }
        .await;
        if let Err(e) = outcome {
            tracing::warn!(error = %e, "could not take back a successful sign-in's count");
        }
    }

    /// Checks the password of a signed-in user (re-authentication, password change), counted
    /// like a sign-in of that account from this client (`count_login`).
    pub(crate) async fn check_own_password(
        &self,
        user: &User,
        password: &Password,
        client: &ClientInfo,
    ) -> Result<Result<bool, Throttled>, StoreError> {
        let counted = match self
            .count_login(user.username.as_str(), Some(user), client)
            .await?
        {
            Ok(counted) => counted,
            Err(throttled) => return Ok(Err(throttled)),
        };
        let stored = self
            .store
            .login_lookup(user.username.as_str())
            .await?
            .and_then(|(_, h)| h);
        let right = self.hasher.verify(stored, password).await;
        if right {
            self.done_login(counted, user.id).await;
        }
        Ok(Ok(right))
    }

    /// Whether the client signed in to `user` lately: its device cookie names the account and
    /// is younger than `known_client_for`, or its address succeeded within that time.
    pub(crate) async fn is_known_client(
        &self,
        user: UserId,
        address: &str,
        client: &ClientInfo,
    ) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let since = now - self.config.throttle.known_client_for;
        let by_device = client
            .device
            .as_deref()
            .and_then(|cookie| self.device_cookie_time(user, cookie))
            .is_some_and(|issued| issued >= since && issued <= now + Duration::minutes(5));
        let by_address = self.store.is_known_address(user, address, since).await?;
        Ok(by_device || by_address)
    }

    /// A device cookie for a browser that has just signed in to `user`: the time, sealed with
    /// the server key for that account (so it cannot be forged, moved to another account or
    /// read), base64url.
    pub fn device_cookie(&self, user: UserId) -> String {
        use base64::Engine as _;
        let issued = self.clock.now().timestamp_millis().to_be_bytes();
        let sealed = self
            .sealer
            .seal(crate::sealing::Purpose::Device, &user.to_string(), &issued);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sealed)
    }

    /// When the device cookie was issued to `user`; `None` when it is not one of ours for them.
    pub(crate) fn device_cookie_time(&self, user: UserId, cookie: &str) -> Option<DateTime<Utc>> {
        use base64::Engine as _;
        if cookie.len() > 256 {
            return None;
        }
        let sealed = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cookie)
            .ok()?;
        let opened = self
            .sealer
            .open(crate::sealing::Purpose::Device, &user.to_string(), &sealed)
            .ok()?;
        let millis = i64::from_be_bytes(opened.try_into().ok()?);
        DateTime::from_timestamp_millis(millis)
    }

    /// Writes a refusal to the audit log and the log at WARN, at most once per limit and key
    /// every `record_every`, with the count since the previous record. Every throttled request
    /// writing a row would let anonymous callers fill the audit log; nothing from the request
    /// (user agent, address) is kept beyond what the key holds.
    pub(crate) async fn record_throttled(&self, key: &str, now: DateTime<Utc>) {
        let every = self.config.throttle.record_every;
        let Some(due) = self.throttle_records.refused(key, now, every) else {
            return;
        };
        let detail = match due.since {
            None => format!("{}: limit reached", due.key),
            Some(since) => format!(
                "{}: {} refused since {}",
                due.key,
                due.refused,
                since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        };
        tracing::warn!(limit = %due.key, refused = due.refused, "throttled");
        self.audit(
            "throttled",
            None,
            None,
            Outcome::Failure,
            &ClientInfo::default(),
            Some(&detail),
        )
        .await;
    }
}
