//! Bounds on what one stored password hash may make a verification cost (imported hashes
//! and old rows choose their own costs), and the check that a stored string is a hash at all.

use std::str::FromStr as _;

use argon2::password_hash::PasswordHash;
use argon2::{Algorithm, Params};

use crate::password::is_bcrypt;

/// The most one stored hash may make a verification cost. Hashes come from imports (another
/// system's export, which this service does not control) and from older rows; one with
/// attacker-chosen costs would otherwise abort the process (`m=4294967295` asks for 4 TiB)
/// or hold a hashing thread for seconds while every other login waits. A hash above these
/// bounds is refused at import, naming the line, and answered as a wrong password at login
/// (with a warning in the log). The bounds always admit this hasher's own parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCostLimits {
    /// argon2 `m`, KiB. Default 102400 (100 MiB, Django's default, the largest in common use).
    pub max_argon2_memory_kib: u32,
    /// argon2 `m` × `t` (KiB-passes): the time a verification takes. Default 409600
    /// (100 MiB × 4 passes, about half a second on one core).
    pub max_argon2_work: u64,
    /// argon2 `p` (lanes). Default 16.
    pub max_argon2_lanes: u32,
    /// bcrypt's cost (log2 of the rounds). Default 13 (about half a second; 10-12 is usual).
    pub max_bcrypt_cost: u32,
}

impl Default for HashCostLimits {
    fn default() -> Self {
        Self {
            max_argon2_memory_kib: 102_400,
            max_argon2_work: 409_600,
            max_argon2_lanes: 16,
            max_bcrypt_cost: 13,
        }
    }
}

impl HashCostLimits {
    /// These bounds, raised where needed to admit hashes at `params` (the hasher's own).
    pub(crate) fn admitting(self, params: &Params) -> Self {
        Self {
            max_argon2_memory_kib: self.max_argon2_memory_kib.max(params.m_cost()),
            max_argon2_work: self
                .max_argon2_work
                .max(u64::from(params.m_cost()) * u64::from(params.t_cost())),
            max_argon2_lanes: self.max_argon2_lanes.max(params.p_cost()),
            max_bcrypt_cost: self.max_bcrypt_cost,
        }
    }

    /// Whether `stored` is a hash this service verifies within these bounds: an argon2 PHC
    /// string (`$argon2id$`, `$argon2i$`, `$argon2d$`) or a bcrypt MCF string (`$2b$...`).
    /// The error says what is wrong, naming the cost and its bound.
    pub fn check(&self, stored: &str) -> Result<(), String> {
        if is_bcrypt(stored) {
            let parts = bcrypt::HashParts::from_str(stored)
                .map_err(|_| "password_hash is not a valid bcrypt hash".to_owned())?;
            let cost = parts.get_cost();
            if cost > self.max_bcrypt_cost {
                return Err(format!(
                    "password_hash has bcrypt cost {cost}; at most {} is accepted",
                    self.max_bcrypt_cost
                ));
            }
            return Ok(());
        }
        let not_known =
            || "password_hash is neither an argon2 PHC string nor a bcrypt hash".to_owned();
        let hash = PasswordHash::new(stored).map_err(|_| not_known())?;
        let argon2 = [Algorithm::Argon2id, Algorithm::Argon2i, Algorithm::Argon2d]
            .iter()
            .any(|a| hash.algorithm == a.ident());
        if !argon2 {
            return Err(not_known());
        }
        let params = Params::try_from(&hash).map_err(|_| not_known())?;
        let (m, t, p) = (params.m_cost(), params.t_cost(), params.p_cost());
        if m > self.max_argon2_memory_kib {
            return Err(format!(
                "password_hash has argon2 memory cost m={m} KiB; at most {} is accepted",
                self.max_argon2_memory_kib
            ));
        }
        if u64::from(m) * u64::from(t) > self.max_argon2_work {
            return Err(format!(
                "password_hash has argon2 memory cost × passes m×t={} (m={m}, t={t}); at most {} is accepted",
                u64::from(m) * u64::from(t),
                self.max_argon2_work
            ));
        }
        if p > self.max_argon2_lanes {
            return Err(format!(
                "password_hash has {p} argon2 lanes (p); at most {} are accepted",
                self.max_argon2_lanes
            ));
        }
        Ok(())
    }
}

/// Whether `stored` is a password hash this service can verify: an argon2 PHC string
/// (`$argon2id$...`, `$argon2i$...`, `$argon2d$...`) or a bcrypt MCF string (`$2b$...`).
/// Other systems' hashes are imported as they are and replaced at the next login.
pub fn is_known_hash(stored: &str) -> bool {
    if is_bcrypt(stored) {
        return bcrypt::HashParts::from_str(stored).is_ok();
    }
    PasswordHash::new(stored).is_ok_and(|h| {
        [Algorithm::Argon2id, Algorithm::Argon2i, Algorithm::Argon2d]
            .iter()
            .any(|a| h.algorithm == a.ident())
            && Params::try_from(&h).is_ok()
    })
}
