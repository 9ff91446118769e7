//! The published user APIs Gatehouse answers at their vendors' paths. Each module only maps
//! its wire shapes and auth scheme onto the core; no business rule lives here.

pub mod alsid;
pub mod cloudsmith;
pub mod freechat;
pub mod glowmarkt;
pub mod trieve;
