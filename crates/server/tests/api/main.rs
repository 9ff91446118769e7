//! The server's integration tests: one binary, one file per feature, every test on its own
//! freshly built application (its own temp data directory, port and clock).

mod account_hardening;
mod alsid;
mod authz;
mod backup;
mod browser;
mod cli;
mod client_address;
mod cloudsmith;
mod core_invariants;
mod cross_surface;
mod database_outage;
mod exhaustion;
mod freechat;
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
mod secrets_in_logs;
mod slow_clients;
mod smtp_sink;
mod trieve;
mod ui;
mod ui_console;
