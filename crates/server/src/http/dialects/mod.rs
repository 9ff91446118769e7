//! The published user APIs Gatehouse answers at their vendors' paths. Each module only maps
//! its wire shapes and auth scheme onto the core; no business rule lives here. Each is a
//! Cargo feature of the `gatehouse` crate (all on by default): a module whose feature is off
//! is not compiled, and one left out of the `surfaces` setting is not mounted.

#[cfg(feature = "alsid")]
pub mod alsid;
#[cfg(feature = "cloudsmith")]
pub mod cloudsmith;
#[cfg(feature = "freechat")]
pub mod freechat;
#[cfg(feature = "glowmarkt")]
pub mod glowmarkt;
#[cfg(feature = "trieve")]
pub mod trieve;

use axum::Router;

#[allow(unused_imports)] // unused when every dialect is left out of the build
use super::surfaces::Surface;
use super::AppState;

/// The message of a 503 when the database is unavailable (each dialect's own error shape;
/// `http::retry_after_on_503` adds `Retry-After`).
#[cfg(any(
    feature = "alsid",
    feature = "cloudsmith",
    feature = "freechat",
    feature = "glowmarkt",
    feature = "trieve"
))]
pub(crate) const UNAVAILABLE: &str =
    "the service is briefly unavailable (its database does not answer); try again shortly";

/// The routes of every dialect built in and named by `state.surfaces`.
#[allow(unused_mut)] // nothing is merged when every dialect is left out of the build
pub fn routes(state: &AppState) -> Router<AppState> {
    let mut router = Router::new();
    #[cfg(feature = "freechat")]
    if state.surfaces.serves(Surface::FreeChat) {
        router = router.merge(freechat::routes(state));
    }
    #[cfg(feature = "alsid")]
    if state.surfaces.serves(Surface::Alsid) {
        router = router.merge(alsid::routes(state));
    }
    #[cfg(feature = "glowmarkt")]
    if state.surfaces.serves(Surface::Glowmarkt) {
        router = router.merge(glowmarkt::routes(state));
    }
    #[cfg(feature = "cloudsmith")]
    if state.surfaces.serves(Surface::Cloudsmith) {
        router = router.merge(cloudsmith::routes(state));
    }
    #[cfg(feature = "trieve")]
    if state.surfaces.serves(Surface::Trieve) {
        router = router.merge(trieve::routes(state));
    }
    let _ = state;
    router
}
