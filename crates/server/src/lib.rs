//! The Gatehouse binary's library half: configuration, composition, telemetry and every
//! HTTP surface. `main.rs` only parses the command line and calls in here, so tests can
//! build the same application in-process.

pub mod app;
pub mod backup;
pub mod check;
pub mod cli;
pub mod config;
pub mod files;
pub mod healthcheck;
pub mod http;
pub mod mail;
pub mod metrics;
pub mod object_files;
pub mod private_files;
pub mod redact;
pub mod server_key;
#[cfg(test)]
mod source_size;
pub mod telemetry;
