//! The published user APIs Gatehouse answers at their vendors' paths. Each module only maps
//! its wire shapes and auth scheme onto the core; no business rule lives here.

pub mod alsid;
pub mod cloudsmith;
pub mod freechat;
pub mod glowmarkt;
pub mod trieve;

/// The message of a 503 when the database is unavailable (each dialect's own error shape;
/// `http::retry_after_on_503` adds `Retry-After`).
pub(crate) const UNAVAILABLE: &str =
    "the service is briefly unavailable (its database does not answer); try again shortly";
