//! The pages' cookies: session, device and CSRF cookies, read and written.

use super::*;

/// The device cookie's names, over plain HTTP and over HTTPS.
pub const DEVICE_COOKIE: &str = "gatehouse_device";
pub const DEVICE_COOKIE_SECURE: &str = "__Host-gatehouse_device";

/// The names and attributes of the cookies (session, CSRF, device), from the public URL's
/// scheme.
#[derive(Debug, Clone, Copy)]
pub struct Cookies {
    secure: bool,
}

impl Cookies {
    pub fn for_state(state: &AppState) -> Self {
        Self {
            secure: state.accounts.config().public_url.starts_with("https://"),
        }
    }

    pub fn session_name(self) -> &'static str {
        if self.secure {
            "__Host-gatehouse_session"
        } else {
            "gatehouse_session"
        }
    }

    /// The device cookie: which account this browser signed in to lately, so the owner is
    /// not held back by the per-account sign-in ceiling (`Accounts::device_cookie`).
    pub fn device_name(self) -> &'static str {
        if self.secure {
            DEVICE_COOKIE_SECURE
        } else {
            DEVICE_COOKIE
        }
    }

    pub(super) fn csrf_name(self) -> &'static str {
        if self.secure {
            "__Host-gatehouse_csrf"
        } else {
            "gatehouse_csrf"
        }
    }

    pub(super) fn header(self, name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
        let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
        if self.secure {
            cookie.push_str("; Secure");
        }
        if let Some(seconds) = max_age {
            cookie.push_str(&format!("; Max-Age={seconds}"));
        }
        HeaderValue::from_str(&cookie).expect("cookie values are URL-safe")
    }

    /// Sets the session cookie (and a fresh CSRF token, so a token seen before sign-in is
    /// worthless after it).
    pub fn signed_in(
        self,
        secret: &str,
        max_age: i64,
        device: &str,
        device_max_age: i64,
    ) -> AppendHeaders<[(header::HeaderName, HeaderValue); 3]> {
        AppendHeaders([
            (
                header::SET_COOKIE,
                self.header(self.session_name(), secret, Some(max_age)),
            ),
            (
                header::SET_COOKIE,
                self.header(self.device_name(), device, Some(device_max_age)),
            ),
            (
                header::SET_COOKIE,
                self.header(self.csrf_name(), &new_csrf_token(), None),
            ),
        ])
    }

    /// Clears the session cookie and replaces the CSRF token.
    pub fn signed_out(self) -> AppendHeaders<[(header::HeaderName, HeaderValue); 2]> {
        AppendHeaders([
            (
                header::SET_COOKIE,
                self.header(self.session_name(), "", Some(0)),
            ),
            (
                header::SET_COOKIE,
                self.header(self.csrf_name(), &new_csrf_token(), None),
            ),
        ])
    }
}

/// The value of cookie `name`, from every `Cookie` header.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

pub(super) fn new_csrf_token() -> String {
    use base64::Engine as _;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub(super) fn same_secret(a: &str, b: &str) -> bool {
    // Compare digests: the time taken says nothing about how much of the token matched.
    Sha256::digest(a.as_bytes()) == Sha256::digest(b.as_bytes())
}
