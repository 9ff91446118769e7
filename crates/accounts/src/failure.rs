//! One vocabulary for what went wrong. Every use-case error classifies, here and only here,
//! into a [`Failure`]: one of a few [`Kind`]s, a stable code, the request field it is about
//! and the sentence people read. Each surface renders kinds once (a status and its own body
//! shape) plus its real quirks, matched on the stable code; no surface matches on a use
//! case's error enum.

use crate::domain::InvalidInput;
use crate::error::{
    AdminError, AuthError, ChangePasswordError, CodeError, ContentError, CreateUserError,
    LoginError, PictureError, ProfileError, ReauthError, SecondFactorError, SessionError,
    SignupError, Throttled, TokenError, UserError,
};
use crate::files::FileStoreError;
use crate::password::PasswordPolicyError;
use crate::store::{is_unavailable, StoreError};

/// The few kinds of failure a caller can be told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// No credential, a wrong one, or one that is expired or revoked.
    Unauthenticated,
    /// The caller is known and may not do this (or the account may not, as it stands).
    Forbidden,
    NotFound,
    /// The request clashes with what is stored: a taken name, a limit reached, the last owner.
    Conflict,
    /// A request field is wrong ([`Failure::field`] names it when there is one).
    Invalid,
    /// The password policy refuses the password.
    WeakPassword,
    /// The upload is larger than allowed.
    TooLarge,
    /// Too many attempts: try again after the wait.
    Throttled(Throttled),
    /// The database does not answer: try again shortly.
    Unavailable,
    /// The server failed; the cause was logged when the failure was classified.
    Internal,
}

/// A classified failure: what a surface needs to answer, and nothing it must not say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: Kind,
    /// Stable and machine-readable, e.g. `token_not_found`: the native API's `code`, and
    /// what a surface's quirks match on.
    pub code: &'static str,
    /// The request field the failure is about, when there is one.
    pub field: Option<&'static str>,
    /// One sentence for people. Never describes an internal failure.
    pub detail: String,
}

impl Failure {
    pub fn new(kind: Kind, code: &'static str, detail: impl ToString) -> Self {
        Self {
            kind,
            code,
            field: None,
            detail: detail.to_string(),
        }
    }

    pub fn on(self, field: &'static str) -> Self {
        Self {
            field: Some(field),
            ..self
        }
    }

    /// An internal failure, logged here, once: the caller learns only that the server failed,
    /// or that its database is briefly unavailable.
    pub fn internal(cause: &(dyn std::error::Error + 'static)) -> Self {
        if is_unavailable(cause) {
            tracing::warn!(error = %cause, "request failed: the database is unavailable");
            return Self::new(
                Kind::Unavailable,
                "unavailable",
                "the service is briefly unavailable (its database does not answer); try \
                 again after the Retry-After seconds",
            );
        }
        tracing::error!(error = %cause, "request failed");
        Self::new(
            Kind::Internal,
            "internal",
            "the server failed; the failure is logged with this request's id",
        )
    }

    /// The wait of a throttled failure.
    pub fn wait(&self) -> Option<Throttled> {
        match self.kind {
            Kind::Throttled(t) => Some(t),
            _ => None,
        }
    }
}

/// A refused authorisation check: the same code on every use case.
fn forbidden(e: impl std::fmt::Display) -> Failure {
    Failure::new(Kind::Forbidden, "forbidden", e)
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Self::internal(&e)
    }
}

impl From<FileStoreError> for Failure {
    fn from(e: FileStoreError) -> Self {
        Self::internal(&e)
    }
}

impl From<Throttled> for Failure {
    fn from(t: Throttled) -> Self {
        Self::new(Kind::Throttled(t), "throttled", t)
    }
}

impl From<InvalidInput> for Failure {
    fn from(e: InvalidInput) -> Self {
        Self::new(Kind::Invalid, "invalid_input", &e).on(e.field)
    }
}

impl From<PasswordPolicyError> for Failure {
    fn from(e: PasswordPolicyError) -> Self {
        Self::new(Kind::WeakPassword, "weak_password", e).on("password")
    }
}

impl From<AuthError> for Failure {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Missing => Self::new(Kind::Unauthenticated, "credential_missing", e),
            AuthError::Invalid => Self::new(Kind::Unauthenticated, "credential_invalid", e),
            AuthError::Store(e) => e.into(),
        }
    }
}

impl From<LoginError> for Failure {
    fn from(e: LoginError) -> Self {
        let code = match e {
            LoginError::InvalidCredentials => "invalid_credentials",
            LoginError::AccountDisabled => "account_disabled",
            LoginError::EmailNotVerified => "email_not_verified",
            LoginError::SecondFactorRequired(_) => "second_factor_required",
            LoginError::InvalidCode => {
                return Self::new(Kind::Invalid, "invalid_code", e).on("code");
            }
            LoginError::Throttled(t) => return t.into(),
            LoginError::Store(e) => return e.into(),
        };
        let kind = match e {
            LoginError::AccountDisabled | LoginError::EmailNotVerified => Kind::Forbidden,
            _ => Kind::Unauthenticated,
        };
        Self::new(kind, code, e)
    }
}

impl From<UserError> for Failure {
    fn from(e: UserError) -> Self {
        match e {
            UserError::NotFound => Self::new(Kind::NotFound, "user_not_found", e),
            UserError::Password(p) => p.into(),
            UserError::Store(e) => e.into(),
        }
    }
}

impl From<CreateUserError> for Failure {
    fn from(e: CreateUserError) -> Self {
        match e {
            CreateUserError::UsernameTaken => {
                Self::new(Kind::Conflict, "username_taken", e).on("username")
            }
            CreateUserError::EmailTaken => Self::new(Kind::Conflict, "email_taken", e).on("email"),
            CreateUserError::Store(e) => e.into(),
        }
    }
}

impl From<ProfileError> for Failure {
    fn from(e: ProfileError) -> Self {
        match e {
            ProfileError::Forbidden => forbidden(e),
            ProfileError::Invalid(input) => input.into(),
            ProfileError::NotFound => Self::new(Kind::NotFound, "user_not_found", e),
            ProfileError::Store(e) => e.into(),
        }
    }
}

impl From<TokenError> for Failure {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Forbidden => forbidden(e),
            TokenError::NotFound => Self::new(Kind::NotFound, "token_not_found", e),
            TokenError::Invalid(input) => input.into(),
            TokenError::TooMany { .. } => Self::new(Kind::Conflict, "token_limit_reached", e),
            TokenError::Store(e) => e.into(),
        }
    }
}

impl From<PictureError> for Failure {
    fn from(e: PictureError) -> Self {
        match e {
            PictureError::Forbidden => forbidden(e),
            PictureError::TooLarge { .. } => Self::new(Kind::TooLarge, "too_large", e),
            PictureError::TooBigToDecode { .. } => {
                Self::new(Kind::TooLarge, "too_large", e).on("file")
            }
            PictureError::QuotaExceeded { .. } => {
                Self::new(Kind::Conflict, "quota_exceeded", e).on("file")
            }
            PictureError::NotAnImage | PictureError::TooManyPixels { .. } => {
                Self::new(Kind::Invalid, "not_an_image", e).on("file")
            }
            PictureError::NotFound => Self::new(Kind::NotFound, "user_not_found", e),
            PictureError::Store(e) => e.into(),
            PictureError::Files(e) => e.into(),
        }
    }
}

impl From<SignupError> for Failure {
    fn from(e: SignupError) -> Self {
        match e {
            SignupError::Closed => Self::new(Kind::Forbidden, "signup_closed", e),
            SignupError::UnknownApplication => {
                Self::new(Kind::Invalid, "unknown_application", e).on("application")
            }
            SignupError::DomainNotAllowed => {
                Self::new(Kind::Forbidden, "domain_not_allowed", e).on("email")
            }
            SignupError::Password(p) => p.into(),
            SignupError::Throttled(t) => t.into(),
            SignupError::Store(e) => e.into(),
        }
    }
}

impl From<CodeError> for Failure {
    fn from(e: CodeError) -> Self {
        match e {
            // A code or link sent by mail; a sign-in's second step is `LoginError::InvalidCode`.
            CodeError::Invalid => Self::new(Kind::Invalid, "invalid_code", e),
            CodeError::Password(p) => p.into(),
            CodeError::Throttled(t) => t.into(),
            CodeError::Store(e) => e.into(),
        }
    }
}

impl From<ChangePasswordError> for Failure {
    fn from(e: ChangePasswordError) -> Self {
        match e {
            ChangePasswordError::Forbidden => forbidden(e),
            ChangePasswordError::WrongPassword => {
                Self::new(Kind::Invalid, "wrong_password", e).on("current_password")
            }
            ChangePasswordError::Password(p) => Failure::from(p).on("new_password"),
            ChangePasswordError::Throttled(t) => t.into(),
            ChangePasswordError::Store(e) => e.into(),
        }
    }
}

impl From<SessionError> for Failure {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Forbidden => forbidden(e),
            SessionError::NotFound => Self::new(Kind::NotFound, "session_not_found", e),
            SessionError::Store(e) => e.into(),
        }
    }
}

impl From<AdminError> for Failure {
    fn from(e: AdminError) -> Self {
        let (kind, code, field) = match e {
            AdminError::Forbidden => return forbidden(e),
            AdminError::NotFound => (Kind::NotFound, "not_found", None),
            AdminError::Invalid(input) => return input.into(),
            AdminError::Password(p) => return p.into(),
            AdminError::LastOwner => (Kind::Conflict, "last_owner", None),
            AdminError::UsernameTaken => (Kind::Conflict, "username_taken", Some("username")),
            AdminError::EmailTaken => (Kind::Conflict, "email_taken", Some("email")),
            AdminError::RoleNameTaken => (Kind::Conflict, "role_name_taken", Some("name")),
            AdminError::BuiltinRole => (Kind::Conflict, "builtin_role", None),
            AdminError::NotAMember => (Kind::NotFound, "not_a_member", None),
            AdminError::Store(e) => return e.into(),
        };
        Self {
            field,
            ..Self::new(kind, code, e)
        }
    }
}

impl From<SecondFactorError> for Failure {
    fn from(e: SecondFactorError) -> Self {
        let (kind, code) = match e {
            SecondFactorError::Forbidden => (Kind::Forbidden, "forbidden"),
            SecondFactorError::AlreadyEnabled => (Kind::Conflict, "second_factor_enabled"),
            SecondFactorError::NotEnabled => (Kind::Conflict, "second_factor_not_enabled"),
            SecondFactorError::NotPending => (Kind::Conflict, "no_enrolment_pending"),
            SecondFactorError::InvalidCode => {
                return Self::new(Kind::Invalid, "invalid_code", e).on("code");
            }
            SecondFactorError::SessionRequired => (Kind::Forbidden, "session_required"),
            SecondFactorError::ReauthenticationRequired => {
                (Kind::Forbidden, "reauthentication_required")
            }
            SecondFactorError::Throttled(t) => return t.into(),
            SecondFactorError::Store(e) => return e.into(),
        };
        Self::new(kind, code, e)
    }
}

impl From<ReauthError> for Failure {
    fn from(e: ReauthError) -> Self {
        match e {
            ReauthError::Forbidden => forbidden(e),
            ReauthError::NotASession => Self::new(Kind::Invalid, "not_a_session", e),
            ReauthError::WrongProof => Self::new(Kind::Unauthenticated, "invalid_credentials", e),
            ReauthError::Throttled(t) => t.into(),
            ReauthError::Store(e) => e.into(),
        }
    }
}

impl From<ContentError> for Failure {
    fn from(e: ContentError) -> Self {
        let (kind, code, field) = match e {
            ContentError::Forbidden => return forbidden(e),
            ContentError::NotFound => (Kind::NotFound, "not_found", None),
            ContentError::Invalid(input) => return input.into(),
            ContentError::TooLarge { .. } => (Kind::TooLarge, "too_large", Some("file")),
            // A conflict, not too large: the same upload succeeds once other files are deleted.
            ContentError::QuotaExceeded { .. } => (Kind::Conflict, "quota_exceeded", Some("file")),
            ContentError::TooManyFiles { .. } => (Kind::Conflict, "too_many_files", Some("file")),
            ContentError::TooManyChunks { .. } => (Kind::Conflict, "too_many_chunks", None),
            ContentError::TrackingIdTaken => {
                (Kind::Conflict, "tracking_id_taken", Some("tracking_id"))
            }
            ContentError::Store(e) => return e.into(),
            ContentError::Files(e) => return e.into(),
        };
        Self {
            field,
            ..Self::new(kind, code, e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn wait(seconds: i64) -> Throttled {
        Throttled {
            retry_after: chrono::Duration::seconds(seconds),
        }
    }

    #[test]
    fn an_internal_failure_never_describes_its_cause_to_the_caller() {
        let secret = "password=hunter2 host=db.internal";
        let failure = Failure::from(StoreError::Backend(secret.into()));
        assert_eq!(failure.kind, Kind::Internal);
        assert!(!failure.detail.contains("hunter2"), "{failure:?}");
        assert!(!failure.detail.contains("db.internal"), "{failure:?}");
        let failure = Failure::from(LoginError::Store(StoreError::Backend(secret.into())));
        assert_eq!(failure.kind, Kind::Internal);
    }

    #[test]
    fn an_unreachable_database_is_unavailable_not_internal() {
        let down = StoreError::unavailable(std::io::Error::other("connection refused"));
        let failure = Failure::from(TokenError::Store(down));
        assert_eq!(failure.kind, Kind::Unavailable);
        assert_eq!(failure.code, "unavailable");
    }

    #[test]
    fn every_throttled_use_case_carries_its_wait() {
        let failures = [
            Failure::from(LoginError::Throttled(wait(7))),
            Failure::from(SignupError::Throttled(wait(7))),
            Failure::from(CodeError::Throttled(wait(7))),
            Failure::from(ChangePasswordError::Throttled(wait(7))),
            Failure::from(SecondFactorError::Throttled(wait(7))),
            Failure::from(ReauthError::Throttled(wait(7))),
        ];
        for failure in failures {
            assert_eq!(failure.wait(), Some(wait(7)), "{failure:?}");
            assert_eq!(failure.code, "throttled");
        }
        assert_eq!(Failure::from(AdminError::Forbidden).wait(), None);
    }

    #[test]
    fn a_wrong_password_and_an_unknown_login_classify_alike() {
        // One answer for both, whichever surface renders it: the kind and code give nothing away.
        let unknown = Failure::from(LoginError::InvalidCredentials);
        assert_eq!(unknown.kind, Kind::Unauthenticated);
        assert_eq!(unknown.code, "invalid_credentials");
        let invalid = Failure::from(AuthError::Invalid);
        assert_eq!(invalid.kind, Kind::Unauthenticated);
    }

    #[test]
    fn a_weak_new_password_names_the_field_it_came_in() {
        let weak = || PasswordPolicyError::TooShort { min: 10 };
        assert_eq!(Failure::from(weak()).field, Some("password"));
        let change = Failure::from(ChangePasswordError::Password(weak()));
        assert_eq!(change.kind, Kind::WeakPassword);
        assert_eq!(change.field, Some("new_password"));
        let wrong = Failure::from(ChangePasswordError::WrongPassword);
        assert_eq!(
            (wrong.kind, wrong.field),
            (Kind::Invalid, Some("current_password"))
        );
    }

    #[test]
    fn taken_names_are_conflicts_on_their_field() {
        for (failure, field) in [
            (Failure::from(AdminError::UsernameTaken), "username"),
            (Failure::from(AdminError::EmailTaken), "email"),
            (Failure::from(CreateUserError::UsernameTaken), "username"),
            (Failure::from(CreateUserError::EmailTaken), "email"),
            (Failure::from(ContentError::TrackingIdTaken), "tracking_id"),
        ] {
            assert_eq!(failure.kind, Kind::Conflict, "{failure:?}");
            assert_eq!(failure.field, Some(field), "{failure:?}");
        }
    }
}
