//! The server's integration tests: one binary, one file per feature, every test on its own
//! freshly built application (its own temp data directory, port and clock). A test that calls
//! a vendor dialect is compiled only with that dialect's Cargo feature (a module here, a test
//! in a mixed file), so `cargo test -p gatehouse --no-default-features --test api` runs the
//! native suite on a build without dialects.

mod account_hardening;
#[cfg(feature = "alsid")]
mod alsid;
mod authz;
mod authz_routes;
mod backup;
mod browser;
mod cli;
mod client_address;
#[cfg(feature = "cloudsmith")]
mod cloudsmith;
mod core_invariants;
mod core_rules;
#[cfg(all(
    feature = "freechat",
    feature = "alsid",
    feature = "glowmarkt",
    feature = "cloudsmith",
    feature = "trieve"
))]
mod cross_surface;
#[cfg(all(
    feature = "freechat",
    feature = "alsid",
    feature = "cloudsmith",
    feature = "trieve"
))]
mod database_outage;
mod exhaustion;
#[cfg(feature = "freechat")]
mod freechat;
#[cfg(feature = "glowmarkt")]
mod glowmarkt;
mod helpers;
mod lifecycle;
mod login_throttling;
mod mail;
mod native_admin;
mod native_files;
mod native_paging;
mod native_profile;
mod native_second_factor;
mod native_session;
mod native_tokens;
mod object_files;
mod ops;
mod privilege_roles;
mod replicas;
#[cfg(all(feature = "freechat", feature = "cloudsmith"))]
mod secrets_in_logs;
mod slow_clients;
mod smtp_sink;
mod surfaces;
#[cfg(feature = "trieve")]
mod trieve;
mod ui;
mod ui_console;
