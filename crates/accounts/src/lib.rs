//! Gatehouse core: the domain types, the use cases every HTTP surface and the CLI call, and the
//! ports (`Store`, `FileStore`, `Clock`) they depend on.
//!
//! This crate never speaks HTTP, SQL or SMTP: façades parse their wire shapes into the types
//! here, call one method of [`Accounts`], and render the result in their own dialect.

pub mod access;
pub mod admin;
pub mod at_rest;
pub mod audit;
mod audit_log;
pub mod avatar;
mod cache;
pub mod clock;
pub mod content;
pub mod domain;
pub mod error;
pub mod failure;
pub mod files;
mod grants;
mod hash_limits;
pub mod lifecycle;
pub mod mail;
mod mail_delivery;
mod orgs;
pub mod password;
pub mod reach;
mod reset;
mod roles;
pub mod sealing;
pub mod second_factor;
pub mod service;
mod sessions;
mod signin;
mod signup;
pub mod store;
mod throttle;
mod throttling;
pub mod token;
mod tokens;
pub mod totp;
pub mod transfer;
mod user_admin;
pub mod usernames;
mod users;

#[cfg(feature = "testkit")]
pub mod testkit;

pub use admin::{AccountSpec, AccountUpdate, Actor};
pub use clock::{Clock, SystemClock};
pub use domain::{
    EmailAddress, InvalidInput, Patch, Profile, ProfileUpdate, User, UserId, UserStatus, Username,
};
pub use error::{
    AdminError, AuthError, ChangePasswordError, CodeError, ContentError, CreateUserError,
    LoginError, PictureError, ProfileError, ReauthError, SecondFactorChallenge, SecondFactorError,
    SessionError, SignupError, Throttled, TokenError, UserError,
};
pub use failure::Failure;
pub use files::{FileId, FileStore, FileStoreError};
pub use lifecycle::{CodeScope, DeliveryReport, Registered, Registration};
pub use mail::{MailError, Mailer, OutgoingMail};
pub use password::{HashCostLimits, Password, PasswordHasher, PasswordPolicyError};
pub use service::{
    Accounts, AccountsConfig, CacheStats, ClientInfo, LoginSession, NewUser, Picture, Principal,
    SignInStats, UNFOLLOWED_CACHE_TTL,
};
pub use store::{is_unavailable, Store, StoreError};
pub use token::{ApiToken, CredentialKind, TokenId, TokenRef, TokenSecret};
pub use usernames::NewUsername;
