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

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown login or wrong password: deliberately indistinguishable.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// The password was right but an administrator disabled the account.
    #[error("the account is disabled")]
    AccountDisabled,
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
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error("no such user")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
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
    #[error("the picture is larger than {max} bytes")]
    TooLarge { max: usize },
    #[error("the file is not a PNG, JPEG, GIF or WebP image")]
    NotAnImage,
    #[error("the image is larger than {max} pixels on a side")]
    TooManyPixels { max: u32 },
    #[error("no such user")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Files(#[from] FileStoreError),
}
