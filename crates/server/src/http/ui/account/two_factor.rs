//! The two-factor sign-in page: TOTP enrolment, recovery codes, re-proving the session.

use super::*;

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
pub(super) struct CodeForm {
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

pub(super) async fn two_factor_page(
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

pub(super) async fn begin_totp(
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
pub(super) struct ReauthForm {
    #[serde(default, rename = "reauth-password")]
    password: String,
    #[serde(default)]
    code: String,
}

/// The page step that proves the session again (the core's `reauthenticate`): the password,
/// or a code of the second factor.
pub(super) async fn reauthenticate(
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

pub(super) async fn confirm_totp(
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

pub(super) async fn regenerate_recovery_codes(
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

pub(super) async fn disable_totp(
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
