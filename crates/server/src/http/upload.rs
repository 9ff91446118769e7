//! Reading multipart uploads, for every surface that takes one (the native API's pictures and
//! files, the account page's picture form, FreeChat's avatar): one reading of the `file` part
//! and one answer for a body that breaks off.

use axum::extract::Multipart;
use axum::http::StatusCode;

use crate::http::problem::ApiError;

/// A multipart body that breaks off: 413 `too_large` past the route's body limit, else
/// 400 `malformed_body`.
pub(crate) fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    let status = e.status();
    let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "too_large"
    } else {
        "malformed_body"
    };
    ApiError::new(status, code, e.body_text())
}

/// Reads the bytes of the multipart part named `file`.
pub async fn read_file_part(mut multipart: Multipart) -> Result<Vec<u8>, ApiError> {
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        if field.name() == Some("file") {
            return Ok(field.bytes().await.map_err(multipart_error)?.to_vec());
        }
    }
    Err(ApiError {
        field: Some("file".into()),
        ..ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_body",
            "send the picture as the multipart/form-data part named `file`",
        )
    })
}
