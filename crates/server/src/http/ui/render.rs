//! Rendering pages: the chrome, form errors, failure pages, notes and the pages' form and
//! path extractors.

use super::*;

/// What the layout needs on every page.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub csrf: String,
    /// The signed-in user, for the navigation.
    pub username: Option<String>,
    pub console: bool,
}

impl Chrome {
    pub fn anonymous(csrf: String) -> Self {
        Self {
            csrf,
            username: None,
            console: false,
        }
    }
}

/// Messages next to the form fields they concern; `form` is for the ones about no field.
#[derive(Debug, Default, Clone)]
pub struct Errors(pub(super) HashMap<String, String>);

impl Errors {
    pub fn of(&self, field: &str) -> &str {
        self.0.get(field).map_or("", String::as_str)
    }

    pub fn set(&mut self, field: &str, message: impl Into<String>) {
        self.0.insert(field.to_owned(), message.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The core's refusal, placed next to the field it names (or at the top of the form);
    /// `rename` maps the core's field names to the form's.
    pub fn from_api(error: &ApiError, rename: &[(&str, &str)]) -> Self {
        let mut errors = Self::default();
        let field = error.field.as_deref().map_or("form", |f| {
            rename
                .iter()
                .find(|(core, _)| *core == f)
                .map_or(f, |(_, form)| form)
        });
        errors.set(field, error.detail.clone());
        errors
    }
}

/// A page that only says something.
#[derive(Debug, Template)]
#[template(path = "ui/message.html")]
pub struct MessagePage {
    pub chrome: Chrome,
    pub title: String,
    pub message: String,
    /// Where to go next: (href, text).
    pub link: Option<(String, String)>,
}

pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page failed to render",
            )
                .into_response()
        }
    }
}

/// A core refusal as a page, with its status (and Retry-After when throttled).
pub fn failure_page(error: ApiError) -> Response {
    failure_in(
        Chrome::anonymous(String::new()),
        error,
        ("/", "Back to your account"),
    )
}

/// A refusal as a page with this navigation and a link back: (href, text).
pub fn failure_in(chrome: Chrome, error: ApiError, back: (&str, &str)) -> Response {
    let page = MessagePage {
        chrome,
        title: title_for(error.status).to_owned(),
        message: error.detail.clone(),
        link: Some((back.0.to_owned(), back.1.to_owned())),
    };
    with_retry_after(render(error.status, &page), &error)
}

/// Adds `Retry-After` to a page answering a throttled request.
pub fn with_retry_after(mut response: Response, error: &ApiError) -> Response {
    if let Some(seconds) = error.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    }
    response
}

fn title_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
        s if s.is_server_error() => "Something went wrong",
        _ => "That did not work",
    }
}

/// `value` as one query-string component.
pub fn urlencode(value: &str) -> String {
    serde_urlencoded::to_string([("", value)])
        .unwrap_or_default()
        .trim_start_matches('=')
        .to_owned()
}

/// A `next` parameter is followed only to a path on this site: browsers drop tabs and line
/// breaks from URLs and read `\` as `/`, so `/\t/evil.example` would leave it.
pub fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.contains('\\')
                && !p.chars().any(|c| c.is_control() || c.is_whitespace()) =>
        {
            p.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// After a form that changed something: back to a page, with a note of what happened.
pub fn done(path: &str, note: &str) -> Response {
    let sep = if path.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{path}{sep}done={note}")).into_response()
}

/// The words for a `done` note; unknown notes show nothing.
pub fn note_text(note: Option<&str>) -> &'static str {
    match note.unwrap_or_default() {
        "profile" => "Your profile is saved.",
        "picture" => "Your picture is saved.",
        "password" => "Your password is changed.",
        "session-ended" => "The session has ended.",
        "sessions-ended" => "Your other sessions have ended.",
        "token-disabled" => "The token is disabled.",
        "token-enabled" => "The token is enabled.",
        "token-deleted" => "The token is deleted.",
        "two-factor-off" => "Two-factor sign-in is off.",
        "reauthenticated" => "Confirmed. You can change two-factor sign-in for the next 10 minutes.",
        "verified" => "Your e-mail address is confirmed. You can sign in now.",
        "reset" => {
            "Your password is changed: every session has ended and every API token is revoked. Sign in with the new password."
        }
        "user-disabled" => "The account is disabled.",
        "user-enabled" => "The account is enabled.",
        "roles" => "The roles are saved.",
        "reset-sent" => "A reset code and link are on their way to the account's address.",
        "sessions-revoked" => "Every session of the account has ended.",
        "tokens-revoked" => "Every API token of the account is revoked.",
        "second-factor-reset" => "The account's second factor is removed.",
        "user-deleted" => "The account is deleted.",
        "role-saved" => "The role is saved.",
        "role-deleted" => "The role is deleted.",
        "org-saved" => "The organisation is saved.",
        "org-deleted" => "The organisation is deleted.",
        "member-saved" => "The membership is saved.",
        "member-removed" => "The member is removed.",
        _ => "",
    }
}

/// An urlencoded form; a body that does not parse gets a 400 page, not axum's plain text.
#[derive(Debug)]
pub struct UiForm<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for UiForm<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(form)) => Ok(Self(form)),
            Err(rejection) => Err(failure_page(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_form",
                format!("The form could not be read: {}", rejection.body_text()),
            ))),
        }
    }
}

/// A path parameter; one that does not parse gets a 404 page, not axum's plain text.
#[derive(Debug)]
pub struct UiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for UiPath<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(_) => Err(failure_page(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "There is no such page.",
            ))),
        }
    }
}
