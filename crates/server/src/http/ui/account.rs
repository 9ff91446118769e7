//! The signed-in user's own pages.

use axum::Router;

use crate::http::AppState;

pub fn routes(_state: &AppState) -> Router<AppState> {
    Router::new()
}
