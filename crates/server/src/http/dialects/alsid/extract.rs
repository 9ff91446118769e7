//! Alsid's extractors: the `x-api-key` caller and JSON bodies.

use super::*;

/// Where Alsid finds the secret: `x-api-key` (an API token or a session secret).
#[derive(Debug)]
pub struct ApiKeyHeader;

impl SecretSource for ApiKeyHeader {
    type Rejection = AlsidError;

    fn secret(headers: &HeaderMap) -> &str {
        headers
            .get(API_KEY_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// The caller of an Alsid endpoint.
pub type ApiKey = Credential<ApiKeyHeader>;

/// A JSON body, read whatever the `Content-Type` says (or whether it says anything).
/// Malformed JSON, wrong types and missing required fields are 400; unknown keys are
/// ignored (pyTenable's schema lets callers add keys the seed models lack).
#[derive(Debug)]
pub struct Body<T>(pub(super) T);

impl<T: DeserializeOwned> FromRequest<AppState> for Body<T> {
    type Rejection = AlsidError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, AlsidError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|r: BytesRejection| {
                AlsidError::new(r.status(), "invalid_body", r.body_text())
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(AlsidError::bad_request(
                "invalid_body",
                "the request needs a JSON body",
            ));
        }
        serde_json::from_slice(&bytes)
            .map(Self)
            .map_err(|e| AlsidError::bad_request("invalid_body", e.to_string()))
    }
}

/// Missing key → `None`; `null` → `Some(None)`; a value → `Some(Some(v))`.
pub(super) fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}
