//! Every stored secret the server reads back, brought under the server key: plaintext from
//! before sealing is sealed (at every start), rotation re-seals what other keys sealed, and
//! secrets sealed with a key this server does not hold are counted by key id, so the server
//! can refuse to start and say which key it lacks. Same `Accounts`.

use std::collections::BTreeMap;

use crate::audit::Outcome;
use crate::sealing::{self, KeyId, Purpose};
use crate::service::{Accounts, ClientInfo};
use crate::StoreError;

/// Secrets read per store page.
const PAGE: u32 = 500;

/// What a pass over the stored secrets found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SealReport {
    /// Plaintext secrets (from before sealing) now sealed.
    pub sealed_plaintext: u64,
    /// Secrets re-sealed from an older key to the current one.
    pub resealed: u64,
    /// Secrets left as they were (under the current key, or under another held key when
    /// not rotating).
    pub kept: u64,
    /// Secrets changed by someone else during the pass (re-enrolled), left alone.
    pub changed_meanwhile: u64,
    /// Secrets sealed with keys this server does not hold, by key id.
    pub unreadable: BTreeMap<KeyId, u64>,
    /// Secrets sealed with keys this server holds, by key id, after the pass.
    pub by_key: BTreeMap<KeyId, u64>,
}

impl SealReport {
    /// "3 TOTP secrets sealed with key 0123… which this server does not hold", or `None`.
    pub fn unreadable_summary(&self) -> Option<String> {
        if self.unreadable.is_empty() {
            return None;
        }
        Some(
            self.unreadable
                .iter()
                .map(|(id, n)| format!("{n} TOTP secret(s) sealed with server key {id}"))
                .collect::<Vec<_>>()
                .join(", "),
        )
    }
}

/// Which secrets a pass rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealPass {
    /// Seal plaintext only (every start).
    Migrate,
    /// Also re-seal everything another held key sealed (`gatehouse key rotate`).
    Rotate,
}

impl Accounts {
    /// Goes over every stored TOTP secret once; see [`SealPass`]. Compare-and-set per
    /// secret, so it runs safely beside servers that enrol users meanwhile.
    pub async fn seal_stored_secrets(&self, pass: SealPass) -> Result<SealReport, StoreError> {
        let mut report = SealReport::default();
        let mut after = None;
        loop {
            let page = self.store.totp_secrets(after, PAGE).await?;
            for (user, stored) in &page {
                let record = user.to_string();
                let replacement = if !sealing::is_sealed(stored) {
                    Some((self.sealer.seal(Purpose::Totp, &record, stored), false))
                } else if !self.sealer.holds_key_for(stored) {
                    let id = sealing::sealed_key_id(stored).expect("sealed");
                    *report.unreadable.entry(id).or_default() += 1;
                    None
                } else if pass == SealPass::Rotate && !self.sealer.is_current(stored) {
                    let plain = self
                        .sealer
                        .open(Purpose::Totp, &record, stored)
                        .map_err(|e| StoreError::Backend(Box::new(e)))?;
                    Some((self.sealer.seal(Purpose::Totp, &record, &plain), true))
                } else {
                    None
                };
                let final_value = match replacement {
                    Some((new, rotated)) => {
                        if self.store.replace_totp_secret(*user, stored, &new).await? {
                            if rotated {
                                report.resealed += 1;
                            } else {
                                report.sealed_plaintext += 1;
                            }
                            new
                        } else {
                            report.changed_meanwhile += 1;
                            continue;
                        }
                    }
                    None => {
                        if self.sealer.holds_key_for(stored) {
                            report.kept += 1;
                        }
                        stored.clone()
                    }
                };
                if self.sealer.holds_key_for(&final_value) {
                    let id = sealing::sealed_key_id(&final_value).expect("sealed");
                    *report.by_key.entry(id).or_default() += 1;
                }
            }
            match page.last() {
                Some((last, _)) if page.len() == PAGE as usize => after = Some(*last),
                _ => break,
            }
        }
        if report.sealed_plaintext > 0 {
            tracing::warn!(
                count = report.sealed_plaintext,
                "sealed TOTP secrets that were stored in plaintext"
            );
        }
        Ok(report)
    }

    /// For a lost server key: turns off the second factor of every user whose TOTP secret is
    /// sealed with a key this server does not hold (they sign in with their password and
    /// enrol again), each recorded in the audit log. Returns how many.
    pub async fn forget_unreadable_secrets(&self, client: &ClientInfo) -> Result<u64, StoreError> {
        let mut doomed = Vec::new();
        let mut after = None;
        loop {
            let page = self.store.totp_secrets(after, PAGE).await?;
            for (user, stored) in &page {
                if sealing::is_sealed(stored) && !self.sealer.holds_key_for(stored) {
                    doomed.push((*user, sealing::sealed_key_id(stored).expect("sealed")));
                }
            }
            match page.last() {
                Some((last, _)) if page.len() == PAGE as usize => after = Some(*last),
                _ => break,
            }
        }
        let mut forgotten = 0;
        for (user, key) in doomed {
            if self.store.delete_totp(user).await? {
                forgotten += 1;
                self.forget_user(user).await;
                let detail = format!("sealed with server key {key}, which is lost");
                self.audit(
                    "totp.admin_reset",
                    None,
                    Some(user),
                    Outcome::Success,
                    client,
                    Some(&detail),
                )
                .await;
            }
        }
        Ok(forgotten)
    }
}
