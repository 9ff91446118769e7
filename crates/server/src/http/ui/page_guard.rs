//! The guard every page goes through: CSRF checks and security headers.

use super::*;

/// This browser's CSRF token, for the hidden field of every form on the page.
#[derive(Debug, Clone)]
pub struct Csrf(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Csrf {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Csrf>()
            .cloned()
            .unwrap_or_else(|| Csrf(String::new())))
    }
}

/// CSRF check on every POST and the security headers on every answer. The token travels in
/// the form field `csrf` (urlencoded forms) or the query parameter `csrf` (the multipart
/// upload form, whose body the guard does not buffer).
pub(super) async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let cookies = Cookies::for_state(&state);
    let existing = cookie(req.headers(), cookies.csrf_name()).map(str::to_owned);
    let token = existing.clone().unwrap_or_else(new_csrf_token);

    let (mut parts, body) = req.into_parts();
    let body = if parts.method == Method::POST {
        // A multipart upload carries its token in the query: checked before a byte of the
        // body is read, and the body then goes to the handler unbuffered (its own limit
        // applies). Only an urlencoded form is read here, up to MAX_FORM_BODY.
        let (bytes, body) = if is_multipart(&parts) {
            (axum::body::Bytes::new(), Some(body))
        } else {
            match axum::body::to_bytes(body, MAX_FORM_BODY).await {
                Ok(bytes) => (bytes, None),
                Err(_) => return refused(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large."),
            }
        };
        let submitted = submitted_token(&parts, &bytes);
        let cross_site = parts
            .headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|site| site == "cross-site" || site == "same-site");
        let valid = match (&existing, submitted) {
            (Some(cookie), Some(field)) => same_secret(cookie, &field),
            _ => false,
        };
        if cross_site || !valid {
            return refused(
                StatusCode::FORBIDDEN,
                "This form has expired or did not come from this site. Go back, reload the page and try again.",
            );
        }
        body.unwrap_or_else(|| Body::from(bytes))
    } else {
        body
    };
    parts.extensions.insert(Csrf(token.clone()));
    let mut response = next.run(Request::from_parts(parts, body)).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    let replaced = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|v| v.as_bytes().starts_with(cookies.csrf_name().as_bytes()));
    if existing.is_none() && !replaced {
        headers.append(
            header::SET_COOKIE,
            cookies.header(cookies.csrf_name(), &token, None),
        );
    }
    response
}

fn is_multipart(parts: &Parts) -> bool {
    parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"))
}

/// The token of an urlencoded form is in its body; only a multipart form (whose body the
/// guard does not parse) may carry it in the query string.
fn submitted_token(parts: &Parts, body: &[u8]) -> Option<String> {
    if is_multipart(parts) {
        return query_token(parts);
    }
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    is_form
        .then(|| serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).ok())
        .flatten()
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "csrf").map(|(_, v)| v))
}

fn query_token(parts: &Parts) -> Option<String> {
    parts.uri.query().and_then(|q| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v)
    })
}

pub(super) fn refused(status: StatusCode, message: &str) -> Response {
    let page = MessagePage {
        chrome: Chrome::anonymous(String::new()),
        title: "That did not work".to_owned(),
        message: message.to_owned(),
        link: Some(("/".to_owned(), "Back to the start".to_owned())),
    };
    render(status, &page)
}
