//! The signed-in user's own pages: profile (the OIDC claims) and picture, password, sessions,
//! API tokens and two-factor sign-in. Each action calls one core function with the caller,
//! which checks the need on the caller's own account, as it does for the native API.

use accounts::domain::{Patch, ProfileUpdate};
use accounts::second_factor::Proof;
use accounts::{ApiToken, Password, TokenRef, User};
use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    done, failure_page, note_text, render, with_retry_after, Chrome, Cookies, Csrf, Errors,
    SignedIn, UiForm, UiPath,
};
use crate::http::auth::Client;
use crate::http::problem::ApiError;
use crate::http::AppState;

pub fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/account", get(profile_page).post(save_profile))
        .route(
            "/account/picture",
            post(upload_picture).layer(axum::extract::DefaultBodyLimit::max(state.max_upload_body)),
        )
        .route(
            "/account/password",
            get(password_page).post(change_password),
        )
        .route("/account/sessions", get(sessions_page))
        .route("/account/sessions/end-others", post(end_other_sessions))
        .route("/account/sessions/{id}/end", post(end_session))
        .route("/account/tokens", get(tokens_page).post(create_token))
        .route("/account/tokens/{id}/{action}", post(token_action))
        .route("/account/two-factor", get(two_factor_page))
        .route("/account/two-factor/begin", post(begin_totp))
        .route("/account/two-factor/reauthenticate", post(reauthenticate))
        .route("/account/two-factor/confirm", post(confirm_totp))
        .route("/account/two-factor/disable", post(disable_totp))
        .route(
            "/account/two-factor/recovery-codes",
            post(regenerate_recovery_codes),
        )
}

#[derive(Debug, Deserialize)]
struct NoteQuery {
    done: Option<String>,
}

/// The core refusal of a self-service action as a page.
fn refused(error: impl Into<ApiError>) -> Response {
    failure_page(error.into())
}

fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

// ------------------------------------------------------------ profile

/// The editable claims, in the order the form shows them: (field, label, input type).
const CLAIMS: &[(&str, &str, &str)] = &[
    ("name", "Full name", "text"),
    ("given_name", "Given name", "text"),
    ("family_name", "Family name", "text"),
    ("middle_name", "Middle name", "text"),
    ("nickname", "Nickname", "text"),
    ("preferred_username", "Preferred username", "text"),
    ("profile", "Profile page", "url"),
    ("website", "Website", "url"),
    ("gender", "Gender", "text"),
    ("birthdate", "Birthdate (YYYY-MM-DD)", "text"),
    ("zoneinfo", "Time zone (e.g. Europe/Paris)", "text"),
    ("locale", "Locale (e.g. en-GB)", "text"),
    ("phone_number", "Phone number", "tel"),
    ("address", "Postal address", "text"),
    ("department", "Department", "text"),
    ("biography", "About you", "text"),
];

/// One claim's row in the form.
#[derive(Debug)]
struct ClaimField {
    name: &'static str,
    label: &'static str,
    kind: &'static str,
    value: String,
}

#[derive(Debug, Template)]
#[template(path = "ui/account_profile.html")]
struct ProfilePage {
    chrome: Chrome,
    user: User,
    picture: Option<String>,
    fields: Vec<ClaimField>,
    upload_action: String,
    note: &'static str,
    errors: Errors,
}

fn claim_value(user: &User, field: &str) -> Option<String> {
    let p = &user.profile;
    match field {
        "name" => p.name.clone(),
        "given_name" => p.given_name.clone(),
        "family_name" => p.family_name.clone(),
        "middle_name" => p.middle_name.clone(),
        "nickname" => p.nickname.clone(),
        "preferred_username" => p.preferred_username.clone(),
        "profile" => p.profile.clone(),
        "website" => p.website.clone(),
        "gender" => p.gender.clone(),
        "birthdate" => p.birthdate.clone(),
        "zoneinfo" => p.zoneinfo.clone(),
        "locale" => p.locale.clone(),
        "phone_number" => p.phone_number.clone(),
        "address" => p.address.clone(),
        "department" => p.department.clone(),
        "biography" => p.biography.clone(),
        _ => None,
    }
}

fn profile_page_for(
    state: &AppState,
    signed: &SignedIn,
    csrf: Csrf,
    user: User,
    typed: Option<&std::collections::HashMap<String, String>>,
    note: &'static str,
    errors: Errors,
) -> ProfilePage {
    // Only our own pictures show inline (the CSP allows images from this site alone).
    let public = state.accounts.config().public_url.trim_end_matches('/');
    let picture = user
        .profile
        .picture
        .as_deref()
        .and_then(|url| url.strip_prefix(public))
        .filter(|path| path.starts_with("/auth/v1/pictures/"))
        .map(str::to_owned);
    let fields = CLAIMS
        .iter()
        .map(|(name, label, kind)| ClaimField {
            name,
            label,
            kind,
            value: typed
                .and_then(|t| t.get(*name).cloned())
                .or_else(|| claim_value(&user, name))
                .unwrap_or_default(),
        })
        .collect();
    let chrome = signed.chrome(csrf);
    ProfilePage {
        upload_action: format!("/account/picture?csrf={}", super::urlencode(&chrome.csrf)),
        chrome,
        user,
        picture,
        fields,
        note,
        errors,
    }
}

async fn profile_page(
    State(state): State<AppState>,
    signed: SignedIn,
    csrf: Csrf,
    Query(q): Query<NoteQuery>,
) -> Response {
    let me = accounts::Actor::from(&signed.principal);
    let user = match state.accounts.get_user(&me, signed.principal.user_id).await {
        Ok(user) => user,
        Err(e) => return refused(e),
    };
    let page = profile_page_for(
        &state,
        &signed,
        csrf,
        user,
        None,
        note_text(q.done.as_deref()),
        Errors::default(),
    );
    render(StatusCode::OK, &page)
}

async fn save_profile(
    State(state): State<AppState>,
    Client(client): Client,
    signed: SignedIn,
    csrf: Csrf,
    UiForm(form): UiForm<std::collections::HashMap<String, String>>,
) -> Response {
    // An empty box clears the claim; a box the form did not send is kept.
    let patch = |field: &str| match form.get(field).map(|v| v.trim()) {
        None => Patch::Keep,
        Some("") => Patch::Clear,
        Some(v) => Patch::Set(v.to_owned()),
    };
    let update = ProfileUpdate {
        name: patch("name"),
        given_name: patch("given_name"),
        family_name: patch("family_name"),
        middle_name: patch("middle_name"),
        nickname: patch("nickname"),
        preferred_username: patch("preferred_username"),
        profile: patch("profile"),
        picture: Patch::Keep,
        website: patch("website"),
        gender: patch("gender"),
        birthdate: patch("birthdate"),
        zoneinfo: patch("zoneinfo"),
        locale: patch("locale"),
        phone_number: patch("phone_number"),
        address: patch("address"),
        department: patch("department"),
        biography: patch("biography"),
    };
    match state
        .accounts
        .update_profile(
            &signed.principal.actor(&client),
            signed.principal.user_id,
            update,
        )
        .await
    {
        Ok(_) => done("/account", "profile"),
        Err(e) => {
            let error = ApiError::from(e);
            let page = profile_page_for(
                &state,
                &signed,
                csrf,
                signed.user.clone(),
                Some(&form),
                "",
                Errors::from_api(&error, &[]),
            );
            render(error.status, &page)
        }
    }
}

async fn upload_picture(
    State(state): State<AppState>,
    Client(client): Client,
    signed: SignedIn,
    csrf: Csrf,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let result = match multipart {
        Ok(multipart) => crate::http::upload::read_file_part(multipart).await,
        Err(rejection) => Err(ApiError::from(rejection)),
    };
    let outcome = match result {
        Ok(bytes) => state
            .accounts
            .set_picture(
                &signed.principal.actor(&client),
                signed.principal.user_id,
                bytes,
            )
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(_) => done("/account", "picture"),
        Err(mut error) => {
            error.field = Some("picture".to_owned());
            let page = profile_page_for(
                &state,
                &signed,
                csrf,
                signed.user.clone(),
                None,
                "",
                Errors::from_api(&error, &[]),
            );
            render(error.status, &page)
        }
    }
}

// ------------------------------------------------------------ password

#[derive(Debug, Template)]
#[template(path = "ui/account_password.html")]
struct PasswordPage {
    chrome: Chrome,
    min_chars: usize,
    note: &'static str,
    errors: Errors,
}

#[derive(Debug, Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    end_others: Option<String>,
}

async fn password_page(signed: SignedIn, csrf: Csrf, Query(q): Query<NoteQuery>) -> Response {
    render(
        StatusCode::OK,
        &PasswordPage {
            chrome: signed.chrome(csrf),
            min_chars: Password::MIN_CHARS,
            note: note_text(q.done.as_deref()),
            errors: Errors::default(),
        },
    )
}

async fn change_password(
    State(state): State<AppState>,
    Client(client): Client,
    signed: SignedIn,
    csrf: Csrf,
    UiForm(form): UiForm<PasswordForm>,
) -> Response {
    match state
        .accounts
        .change_password(
            &signed.principal,
            Password::for_login(form.current_password),
            form.new_password,
            form.end_others.is_some(),
            client,
        )
        .await
    {
        Ok(()) => done("/account/password", "password"),
        Err(e) => {
            let error = ApiError::from(e);
            let page = PasswordPage {
                chrome: signed.chrome(csrf),
                min_chars: Password::MIN_CHARS,
                note: "",
                errors: Errors::from_api(&error, &[]),
            };
            with_retry_after(render(error.status, &page), &error)
        }
    }
}

// ------------------------------------------------------------ sessions

#[derive(Debug)]
struct SessionRow {
    id: Uuid,
    current: bool,
    created: String,
    last_seen: String,
    client_ip: String,
    user_agent: String,
}

#[derive(Debug, Template)]
#[template(path = "ui/account_sessions.html")]
struct SessionsPage {
    chrome: Chrome,
    sessions: Vec<SessionRow>,
    note: &'static str,
}

async fn sessions_page(
    State(state): State<AppState>,
    signed: SignedIn,
    csrf: Csrf,
    Query(q): Query<NoteQuery>,
) -> Response {
    let sessions = match state.accounts.sessions(&signed.principal).await {
        Ok(sessions) => sessions,
        Err(e) => return refused(e),
    };
    let sessions = sessions
        .into_iter()
        .map(|s| SessionRow {
            current: s.id == signed.principal.credential_id,
            id: s.id,
            created: when(s.created_at),
            last_seen: when(s.last_seen_at),
            client_ip: s.client_ip.unwrap_or_default(),
            user_agent: s.user_agent.unwrap_or_default(),
        })
        .collect();
    render(
        StatusCode::OK,
        &SessionsPage {
            chrome: signed.chrome(csrf),
            sessions,
            note: note_text(q.done.as_deref()),
        },
    )
}

async fn end_session(
    State(state): State<AppState>,
    Client(client): Client,
    signed: SignedIn,
    UiPath(id): UiPath<Uuid>,
) -> Response {
    match state
        .accounts
        .end_session(&signed.principal, id, client)
        .await
    {
        // Ending this browser's own session is signing out.
        Ok(()) if id == signed.principal.credential_id => (
            Cookies::for_state(&state).signed_out(),
            Redirect::to("/signin"),
        )
            .into_response(),
        Ok(()) => done("/account/sessions", "session-ended"),
        Err(e) => refused(e),
    }
}

async fn end_other_sessions(
    State(state): State<AppState>,
    Client(client): Client,
    signed: SignedIn,
) -> Response {
    match state
        .accounts
        .end_sessions(&signed.principal, false, client)
        .await
    {
        Ok(_) => done("/account/sessions", "sessions-ended"),
        Err(e) => refused(e),
    }
}

// ------------------------------------------------------------ API tokens

#[derive(Debug)]
struct TokenRow {
    id: String,
    name: String,
    mask: String,
    created: String,
    expires: String,
    last_used: String,
    disabled: bool,
    usable: bool,
}

/// A token secret shown once, right after it was made.
#[derive(Debug)]
struct NewSecret {
    name: String,
    secret: String,
}

#[derive(Debug, Template)]
#[template(path = "ui/account_tokens.html")]
struct TokensPage {
    chrome: Chrome,
    tokens: Vec<TokenRow>,
    created: Option<NewSecret>,
    name: String,
    note: &'static str,
    errors: Errors,
}

#[derive(Debug, Deserialize)]
struct TokenForm {
    #[serde(default)]
    name: String,
    /// Days until it expires; empty or 0 for never.
    #[serde(default)]
    expiry_days: String,
}

/// What the tokens page shows besides the list.
#[derive(Debug)]
struct TokensShown {
    status: StatusCode,
    created: Option<NewSecret>,
    /// The name typed into the form, when it comes back with an error.
    name: String,
    note: &'static str,
    errors: Errors,
}

impl Default for TokensShown {
    fn default() -> Self {
        Self {
            status: StatusCode::OK,
            created: None,
            name: String::new(),
            note: "",
            errors: Errors::default(),
        }
    }
}

async fn tokens_page_with(
    state: &AppState,
    signed: &SignedIn,
    csrf: Csrf,
    shown: TokensShown,
) -> Response {
    let now = state.accounts.now();
    let tokens = match state
        .accounts
        .list_tokens(&(&signed.principal).into(), signed.principal.user_id)
        .await
    {
        Ok(tokens) => tokens,
        Err(e) => return refused(e),
    };
    let tokens = tokens
        .into_iter()
        .map(|t: ApiToken| TokenRow {
            id: t.id.to_string(),
            usable: t.is_usable(now),
            name: t.name,
            mask: t.mask,
            created: when(t.created_at),
            expires: t.expires_at.map_or_else(|| "never".to_owned(), when),
            last_used: t.last_used_at.map_or_else(|| "never".to_owned(), when),
            disabled: t.disabled,
        })
        .collect();
    render(
        shown.status,
        &TokensPage {
            chrome: signed.chrome(csrf),
            tokens,
            created: shown.created,
            name: shown.name,
            note: shown.note,
            errors: shown.errors,
        },
    )
}

async fn tokens_page(
    State(state): State<AppState>,
    signed: SignedIn,
    csrf: Csrf,
    Query(q): Query<NoteQuery>,
) -> Response {
    let shown = TokensShown {
        note: note_text(q.done.as_deref()),
        ..TokensShown::default()
    };
    tokens_page_with(&state, &signed, csrf, shown).await
}

async fn create_token(
    State(state): State<AppState>,
    Client(client): Client,
    signed: SignedIn,
    csrf: Csrf,
    UiForm(form): UiForm<TokenForm>,
) -> Response {
    let days = match form.expiry_days.trim() {
        "" | "0" => Ok(None),
        d => match d.parse::<i64>() {
            Ok(days) if (1..=3650).contains(&days) => Ok(Some(days * 86_400)),
            _ => Err("Choose a number of days from 1 to 3650, or never."),
        },
    };
    let expires_in = match days {
        Ok(d) => d,
        Err(message) => {
            let mut errors = Errors::default();
            errors.set("expiry_days", message);
            let shown = TokensShown {
                status: StatusCode::BAD_REQUEST,
                name: form.name,
                errors,
                ..TokensShown::default()
            };
            return tokens_page_with(&state, &signed, csrf, shown).await;
        }
    };
    let name = Some(form.name.trim().to_owned()).filter(|n| !n.is_empty());
    match state
        .accounts
        .create_token(
            &signed.principal.actor(&client),
            signed.principal.user_id,
            name,
            expires_in,
        )
        .await
    {
        Ok((token, secret)) => {
            let created = NewSecret {
                name: token.name,
                secret: secret.expose().to_owned(),
            };
            let shown = TokensShown {
                status: StatusCode::CREATED,
                created: Some(created),
                ..TokensShown::default()
            };
            tokens_page_with(&state, &signed, csrf, shown).await
        }
        Err(e) => {
            let error = ApiError::from(e);
            let shown = TokensShown {
                status: error.status,
                name: form.name,
                errors: Errors::from_api(&error, &[]),
                ..TokensShown::default()
            };
            tokens_page_with(&state, &signed, csrf, shown).await
        }
    }
}

async fn token_action(
    State(state): State<AppState>,
    Client(client): Client,
    signed: SignedIn,
    csrf: Csrf,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    let Some(by) = TokenRef::parse(&id) else {
        return refused(ApiError::new(
            StatusCode::NOT_FOUND,
            "token_not_found",
            "There is no such token.",
        ));
    };
    let (actor, user) = (signed.principal.actor(&client), signed.principal.user_id);
    let accounts = &state.accounts;
    let result = match action.as_str() {
        "disable" => accounts
            .set_token_disabled(&actor, user, &by, true)
            .await
            .map(|_| "token-disabled"),
        "enable" => accounts
            .set_token_disabled(&actor, user, &by, false)
            .await
            .map(|_| "token-enabled"),
        "delete" => accounts
            .delete_token(&actor, user, &by)
            .await
            .map(|_| "token-deleted"),
        "rotate" => {
            return match accounts.rotate_token(&actor, user, &by).await {
                Ok((token, secret)) => {
                    let created = NewSecret {
                        name: token.name,
                        secret: secret.expose().to_owned(),
                    };
                    let shown = TokensShown {
                        created: Some(created),
                        ..TokensShown::default()
                    };
                    tokens_page_with(&state, &signed, csrf, shown).await
                }
                Err(e) => refused(e),
            }
        }
        _ => {
            return refused(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "There is no such page.",
            ))
        }
    };
    match result {
        Ok(note) => done("/account/tokens", note),
        Err(e) => refused(e),
    }
}

// ------------------------------------------------------------ two-factor sign-in

#[derive(Debug)]
struct Enrolling {
    secret: String,
    otpauth_uri: String,
    qr_data_uri: String,
}

#[derive(Debug, Template)]
#[template(path = "ui/account_two_factor.html")]
struct TwoFactorPage {
    chrome: Chrome,
    enabled: bool,
    pending: bool,
    recovery_codes_left: u32,
    enrolling: Option<Enrolling>,
    recovery_codes: Vec<String>,
    note: &'static str,
    errors: Errors,
    /// The session must prove the password (or a code) again before changing anything.
    reauth: bool,
}

#[derive(Debug, Deserialize)]
struct CodeForm {
    #[serde(default)]
    code: String,
}

/// What the two-factor page shows besides the current state.
#[derive(Debug)]
struct TwoFactorShown {
    status: StatusCode,
    enrolling: Option<Enrolling>,
    /// New recovery codes, shown once.
    recovery_codes: Vec<String>,
    note: &'static str,
    errors: Errors,
    reauth: bool,
}

impl Default for TwoFactorShown {
    fn default() -> Self {
        Self {
            status: StatusCode::OK,
            enrolling: None,
            recovery_codes: Vec::new(),
            note: "",
            errors: Errors::default(),
            reauth: false,
        }
    }
}

impl TwoFactorShown {
    /// The page asking the session to prove itself again, after the core refused a change.
    fn reauth() -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            reauth: true,
            ..Self::default()
        }
    }
}

async fn two_factor_page_with(
    state: &AppState,
    signed: &SignedIn,
    csrf: Csrf,
    shown: TwoFactorShown,
) -> Response {
    let current = match state
        .accounts
        .second_factor(&(&signed.principal).into(), signed.principal.user_id)
        .await
    {
        Ok(s) => s,
        Err(e) => return refused(e),
    };
    render(
        shown.status,
        &TwoFactorPage {
            chrome: signed.chrome(csrf),
            enabled: current.enabled,
            pending: current.pending,
            recovery_codes_left: current.recovery_codes_left,
            enrolling: shown.enrolling,
            recovery_codes: shown.recovery_codes,
            note: shown.note,
            errors: shown.errors,
            reauth: shown.reauth,
        },
    )
}

async fn two_factor_page(
    State(state): State<AppState>,
    signed: SignedIn,
    csrf: Csrf,
    Query(q): Query<NoteQuery>,
) -> Response {
    let shown = TwoFactorShown {
        note: note_text(q.done.as_deref()),
        ..TwoFactorShown::default()
    };
    two_factor_page_with(&state, &signed, csrf, shown).await
}

fn qr_data_uri(svg: &str) -> String {
    use base64::Engine as _;
    format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    )
}

async fn begin_totp(
    State(state): State<AppState>,
    Client(client): Client,
    signed: SignedIn,
    csrf: Csrf,
) -> Response {
    match state.accounts.begin_totp(&signed.principal, &client).await {
        Ok(enrolment) => {
            let enrolling = Enrolling {
                qr_data_uri: qr_data_uri(&enrolment.qr_svg),
                secret: enrolment.secret,
                otpauth_uri: enrolment.otpauth_uri,
            };
            let shown = TwoFactorShown {
                enrolling: Some(enrolling),
                ..TwoFactorShown::default()
            };
            two_factor_page_with(&state, &signed, csrf, shown).await
        }
        Err(accounts::SecondFactorError::ReauthenticationRequired) => {
            two_factor_page_with(&state, &signed, csrf, TwoFactorShown::reauth()).await
        }
        Err(e) => refused(e),
    }
}

#[derive(Debug, Deserialize)]
struct ReauthForm {
    #[serde(default, rename = "reauth-password")]
    password: String,
    #[serde(default)]
    code: String,
}

/// The page step that proves the session again (the core's `reauthenticate`): the password,
/// or a code of the second factor.
async fn reauthenticate(
    State(state): State<AppState>,
    Client(client): Client,
    signed: SignedIn,
    csrf: Csrf,
    UiForm(form): UiForm<ReauthForm>,
) -> Response {
    let proof = if form.password.is_empty() {
        Proof::Code(form.code.trim().to_owned())
    } else {
        Proof::Password(Password::for_login(form.password))
    };
    match state
        .accounts
        .reauthenticate(&signed.principal, proof, &client)
        .await
    {
        Ok(()) => done("/account/two-factor", "reauthenticated"),
        Err(e) => {
            let error = ApiError::from(e);
            let mut errors = Errors::default();
            errors.set("reauth-password", error.detail.clone());
            let shown = TwoFactorShown {
                status: error.status,
                errors,
                ..TwoFactorShown::reauth()
            };
            let page = two_factor_page_with(&state, &signed, csrf, shown).await;
            with_retry_after(page, &error)
        }
    }
}

/// The answer to a form that sends a code: the next page, or the form again with the
/// refusal next to the code.
async fn after_code(
    state: &AppState,
    signed: &SignedIn,
    csrf: Csrf,
    result: Result<Vec<String>, accounts::SecondFactorError>,
    code_field: &str,
) -> Response {
    match result {
        Ok(codes) => {
            let shown = TwoFactorShown {
                recovery_codes: codes,
                ..TwoFactorShown::default()
            };
            two_factor_page_with(state, signed, csrf, shown).await
        }
        Err(accounts::SecondFactorError::ReauthenticationRequired) => {
            two_factor_page_with(state, signed, csrf, TwoFactorShown::reauth()).await
        }
        Err(e) => {
            let error = ApiError::from(e);
            let mut errors = Errors::from_api(&error, &[("code", code_field)]);
            if error.status == StatusCode::TOO_MANY_REQUESTS {
                errors = Errors::default();
                errors.set(code_field, error.detail.clone());
            }
            let shown = TwoFactorShown {
                status: error.status,
                errors,
                ..TwoFactorShown::default()
            };
            let page = two_factor_page_with(state, signed, csrf, shown).await;
            with_retry_after(page, &error)
        }
    }
}

async fn confirm_totp(
    State(state): State<AppState>,
    Client(client): Client,
    signed: SignedIn,
    csrf: Csrf,
    UiForm(form): UiForm<CodeForm>,
) -> Response {
    let result = state
        .accounts
        .confirm_totp(&signed.principal, form.code.trim(), &client)
        .await;
    after_code(&state, &signed, csrf, result, "code").await
}

async fn regenerate_recovery_codes(
    State(state): State<AppState>,
    Client(client): Client,
    signed: SignedIn,
    csrf: Csrf,
    UiForm(form): UiForm<CodeForm>,
) -> Response {
    let result = state
        .accounts
        .regenerate_recovery_codes(&signed.principal, form.code.trim(), &client)
        .await;
    after_code(&state, &signed, csrf, result, "recovery-code").await
}

async fn disable_totp(
    State(state): State<AppState>,
    Client(client): Client,
    signed: SignedIn,
    csrf: Csrf,
    UiForm(form): UiForm<CodeForm>,
) -> Response {
    match state
        .accounts
        .disable_totp(&signed.principal, form.code.trim(), &client)
        .await
    {
        Ok(()) => done("/account/two-factor", "two-factor-off"),
        Err(e) => after_code(&state, &signed, csrf, Err(e), "code").await,
    }
}
