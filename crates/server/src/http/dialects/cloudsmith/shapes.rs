//! Cloudsmith's wire shapes: the user brief, tokens and token pages.

use super::*;

/// `UserBrief`. Anonymous callers get `authenticated: false` and `null` everywhere else.
#[derive(Debug, Default, Serialize)]
pub struct UserBrief {
    pub(super) authenticated: bool,
    pub(super) email: Option<String>,
    /// Never `""` (the SDK rejects it): the profile's name, or the username.
    pub(super) name: Option<String>,
    /// The profile's `profile` URL (OIDC), when the user set one.
    pub(super) profile_url: Option<String>,
    /// This resource, under the prefix the caller used.
    pub(super) self_url: Option<String>,
    /// The username.
    pub(super) slug: Option<String>,
    /// The user id without dashes: never changes, even when the username does.
    pub(super) slug_perm: Option<String>,
}

/// `UserAuthToken`.
#[derive(Debug, Serialize)]
pub struct UserAuthToken {
    pub(super) token: String,
}

/// The 422 answer of `POST /user/token/` for an account with a second factor.
#[derive(Debug, Serialize)]
pub struct TwoFactorRequired {
    pub(super) detail: &'static str,
    pub(super) two_factor_required: bool,
    pub(super) two_factor_token: String,
}

/// `UserAuthenticationToken`: `key` is the full secret only in the answer that creates or
/// refreshes it, masked everywhere else.
#[derive(Debug, Serialize)]
pub struct UserAuthenticationToken {
    /// When the current secret was made (the last refresh, or the creation).
    pub(super) created: String,
    pub(super) key: String,
    /// The token id without dashes.
    pub(super) slug_perm: String,
}

impl UserAuthenticationToken {
    pub(super) fn new(token: &ApiToken, key: String) -> Self {
        let created = token.rotated_at.unwrap_or(token.created_at);
        Self {
            created: time(created),
            key,
            slug_perm: token.id.0.simple().to_string(),
        }
    }
}

/// `InlineResponse2004` (2.0.30+; `InlineResponse2001` in the seed): Django REST
/// framework's page.
#[derive(Debug, Serialize)]
pub struct TokenPage {
    pub(super) count: usize,
    pub(super) next: Option<String>,
    pub(super) previous: Option<String>,
    pub(super) results: Vec<UserAuthenticationToken>,
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}
