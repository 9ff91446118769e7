//! One error enum per use case. Façades map each variant to their own status and shape;
//! `Store` variants are internal failures, logged once where they become a response.

use crate::domain::InvalidInput;
use crate::files::FileStoreError;
use crate::password::PasswordPolicyError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("the username is taken")]
    UsernameTaken,
    #[error("the e-mail address is taken")]
    EmailTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The first step of a two-step login went through: the code goes with this token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondFactorChallenge {
    /// Shown once; sent back with the code.
    pub token: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown login or wrong password: deliberately indistinguishable.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// The password was right but an administrator disabled the account.
    #[error("the account is disabled")]
    AccountDisabled,
    /// The password was right but the e-mail address is not verified yet.
    #[error("the e-mail address is not verified yet")]
    EmailNotVerified,
    /// The password was right and the account has a second factor: `login` answers with a
    /// challenge for the code; where there is no second step (`verify_credentials`, HTTP
    /// basic) there is none and the password alone is refused.
    #[error("a one-time code from the authenticator app is needed too")]
    SecondFactorRequired(Option<SecondFactorChallenge>),
    /// The second step failed: wrong, replayed or expired code, or a dead challenge.
    #[error("the code is wrong or the sign-in attempt has expired")]
    InvalidCode,
    #[error(transparent)]
    Throttled(#[from] Throttled),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no credential was given")]
    Missing,
    /// Malformed, unknown, expired, disabled, or its user is disabled: one answer for all.
    #[error("the credential is invalid, expired or revoked")]
    Invalid,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("no such user")]
    NotFound,
    #[error(transparent)]
    Password(#[from] PasswordPolicyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The caller may not do this to this account.
    #[error("you are not allowed to do this")]
    Forbidden,
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error("no such user")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The caller may not do this to this account.
    #[error("you are not allowed to do this")]
    Forbidden,
    #[error("no such token")]
    NotFound,
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error("too many tokens: at most {max} per user")]
    TooMany { max: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum PictureError {
    /// The caller may not do this to this account.
    #[error("you are not allowed to do this")]
    Forbidden,
    #[error("the picture is larger than {max} bytes")]
    TooLarge { max: usize },
    #[error("the file is not a PNG, JPEG, GIF or WebP image")]
    NotAnImage,
    #[error("the image is larger than {max} pixels on a side")]
    TooManyPixels { max: u32 },
    /// Its pixels, as its header describes them, take more memory than one decode may.
    #[error("the image's pixels take {needed} bytes once decoded; at most {max} are decoded")]
    TooBigToDecode { needed: u64, max: u64 },
    #[error("storing this picture would pass your quota of {quota} bytes")]
    QuotaExceeded { quota: u64 },
    #[error("no such user")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Files(#[from] FileStoreError),
}

/// Too many attempts; try again after the given time (`Retry-After` carries it in seconds; the
/// message says it in the units people read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many attempts; try again in {}", in_words(*retry_after))]
pub struct Throttled {
    pub retry_after: chrono::Duration,
}

impl Throttled {
    /// The wait in whole seconds, rounded up (at least 1): what `Retry-After` says, so a
    /// client that waits exactly that long is not refused again.
    pub fn retry_after_seconds(&self) -> i64 {
        whole_seconds(self.retry_after)
    }
}

fn whole_seconds(wait: chrono::Duration) -> i64 {
    let ms = wait.num_milliseconds().max(1);
    (ms + 999) / 1000
}

/// A wait as people say it, rounded up: "1 second", "40 seconds", "2 minutes", "3 hours".
pub fn in_words(wait: chrono::Duration) -> String {
    let seconds = whole_seconds(wait);
    let (n, unit) = if seconds < 60 {
        (seconds, "second")
    } else if seconds < 3600 {
        ((seconds + 59) / 60, "minute")
    } else {
        ((seconds + 3599) / 3600, "hour")
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SignupError {
    #[error("self-registration is switched off")]
    Closed,
    #[error("no such application")]
    UnknownApplication,
    #[error("sign-up is limited to some e-mail domains, and this is not one of them")]
    DomainNotAllowed,
    #[error(transparent)]
    Password(#[from] PasswordPolicyError),
    #[error(transparent)]
    Throttled(#[from] Throttled),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    /// Wrong, expired, used, of another purpose, or out of attempts: one answer for all.
    #[error("the code or link is invalid or has expired")]
    Invalid,
    #[error(transparent)]
    Password(#[from] PasswordPolicyError),
    #[error(transparent)]
    Throttled(#[from] Throttled),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum ChangePasswordError {
    /// The caller may not do this to this account.
    #[error("you are not allowed to do this")]
    Forbidden,
    #[error("the current password is wrong")]
    WrongPassword,
    #[error(transparent)]
    Password(#[from] PasswordPolicyError),
    #[error(transparent)]
    Throttled(#[from] Throttled),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The caller may not do this to this account.
    #[error("you are not allowed to do this")]
    Forbidden,
    #[error("no such session")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("you are not allowed to do this")]
    Forbidden,
    #[error("no such user, role or organisation")]
    NotFound,
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error(transparent)]
    Password(#[from] PasswordPolicyError),
    #[error("the username is taken")]
    UsernameTaken,
    #[error("the e-mail address is taken")]
    EmailTaken,
    #[error("a role with this name exists")]
    RoleNameTaken,
    #[error("built-in roles cannot be changed or deleted")]
    BuiltinRole,
    /// A member's role was to change, and the user is not a member.
    #[error("the user is not a member of this organisation")]
    NotAMember,
    /// The change would leave an organisation without an owner.
    #[error(
        "an organisation keeps at least one owner: make someone else owner first, or delete \
         the organisation"
    )]
    LastOwner,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum SecondFactorError {
    /// The caller may not do this to this account.
    #[error("you are not allowed to do this")]
    Forbidden,
    #[error("two-factor authentication is already on; turn it off first")]
    AlreadyEnabled,
    #[error("two-factor authentication is not on")]
    NotEnabled,
    #[error("no enrolment is waiting for confirmation; start again")]
    NotPending,
    /// Wrong, replayed or unknown code or recovery code.
    #[error("the code is wrong")]
    InvalidCode,
    /// Enrolling, replacing or removing a second factor takes a signed-in session.
    #[error("changing the second factor needs a signed-in session, not an API token")]
    SessionRequired,
    /// The session last proved its password or second factor too long ago.
    #[error(
        "confirm your password or a code first (POST /auth/v1/session/reauthenticate), then \
         try again"
    )]
    ReauthenticationRequired,
    #[error(transparent)]
    Throttled(#[from] Throttled),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Proving the password or second factor again on a session (`Accounts::reauthenticate`).
#[derive(Debug, thiserror::Error)]
pub enum ReauthError {
    /// The caller may not do this to this account.
    #[error("you are not allowed to do this")]
    Forbidden,
    #[error("only a signed-in session can be re-proved, not an API token")]
    NotASession,
    /// A wrong password, or a wrong, replayed or unknown code.
    #[error("the password or code is wrong")]
    WrongProof,
    #[error(transparent)]
    Throttled(#[from] Throttled),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Files and chunks.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error("you are not allowed to do this")]
    Forbidden,
    #[error("no such file or chunk")]
    NotFound,
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error("the file is larger than {max} bytes")]
    TooLarge { max: usize },
    #[error("storing this would pass your quota of {quota} bytes")]
    QuotaExceeded { quota: u64 },
    #[error("you have {max} files, the most one user may keep")]
    TooManyFiles { max: u64 },
    #[error("you have {max} chunks, the most one user may keep")]
    TooManyChunks { max: u64 },
    #[error("you already have a chunk with this tracking id")]
    TrackingIdTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Files(#[from] FileStoreError),
}

/// A refused authorisation check (`Accounts::authorize_user`) inside a use case: a caller
/// who may not act is `Forbidden`, an account that is not there (to a caller allowed to know)
/// is the use case's own not-found.
macro_rules! refused_as {
    ($($error:ident $(($not_found:ident))?),+) => {$(
        impl From<AdminError> for $error {
            fn from(e: AdminError) -> Self {
                match e {
                    AdminError::Store(s) => Self::Store(s),
                    $(AdminError::NotFound => Self::$not_found,)?
                    _ => Self::Forbidden,
                }
            }
        }
    )+};
}

refused_as!(
    ProfileError(NotFound),
    TokenError(NotFound),
    PictureError(NotFound),
    SessionError(NotFound),
    SecondFactorError,
    ChangePasswordError,
    ReauthError
);

impl From<AdminError> for ContentError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::NotFound => Self::NotFound,
            AdminError::Invalid(i) => Self::Invalid(i),
            AdminError::Store(s) => Self::Store(s),
            _ => Self::Forbidden,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_said_in_the_units_people_read() {
        let words = |s| in_words(chrono::Duration::seconds(s));
        assert_eq!(words(0), "1 second");
        assert_eq!(words(40), "40 seconds");
        assert_eq!(words(60), "1 minute");
        assert_eq!(words(61), "2 minutes");
        assert_eq!(words(899), "15 minutes");
        assert_eq!(words(3600), "1 hour");
        assert_eq!(words(5400), "2 hours");
        assert_eq!(
            Throttled {
                retry_after: chrono::Duration::seconds(892)
            }
            .to_string(),
            "too many attempts; try again in 15 minutes"
        );
    }

    #[test]
    fn retry_after_rounds_a_partial_second_up_so_waiting_it_is_enough() {
        let after = |ms| {
            Throttled {
                retry_after: chrono::Duration::milliseconds(ms),
            }
            .retry_after_seconds()
        };
        assert_eq!(after(1), 1);
        assert_eq!(after(1000), 1);
        assert_eq!(after(1001), 2);
        assert_eq!(after(1990), 2);
        assert_eq!(in_words(chrono::Duration::milliseconds(1990)), "2 seconds");
    }
}
