//! The command line: `serve` and the operator commands. Every command takes `--data-dir`,
//! `--database-url` and `--config` anywhere on the line (or from `GATEHOUSE_*`), and works
//! on the same database while the server runs.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use accounts::access::{OrgId, OrgRole};
use accounts::at_rest::SealPass;
use accounts::sealing::ServerKey;
use accounts::service::{ClientInfo, NewUser};
use accounts::token::TokenRef;
use accounts::transfer::ImportError;
use accounts::{Accounts, Actor, EmailAddress, Password, UserStatus, Username};
use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::app;
use crate::config::{self, Given, Settings};
use crate::server_key::{self, KeySettings};

mod key;
mod run;
pub use key::*;
pub use run::*;

/// `0.1.0 (commit abcdef012345)`.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("BUILD_GIT_COMMIT"),
    ")"
);

/// This build's version and commit, as `--version` prints them.
pub fn version() -> &'static str {
    VERSION
}

#[derive(Debug, Parser)]
#[command(
    name = "gatehouse",
    version = VERSION,
    about = "User accounts and API credentials, one binary.",
    after_help = "Every setting (see config.rs SETTINGS, docs/operations.md) is a flag of every \
                  command, a GATEHOUSE_* variable and a key of the --config file."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The command line with every declared setting added as a global flag.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command().args(config::clap_args())
}

/// Parses `args` (the program name first): the command, and the settings it was given.
pub fn parse_from<I, T>(args: I) -> Result<(Cli, Given), clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = command().try_get_matches_from(args)?;
    let cli = <Cli as clap::FromArgMatches>::from_arg_matches(&matches)?;
    Ok((cli, Given::from_matches(&matches)))
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve,
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage organisations (tenants; Glowmarkt's applications).
    #[command(subcommand)]
    Org(OrgCommand),
    /// The server key that seals stored secrets (TOTP secrets): rotate it, make one for the
    /// setting replicas share, or give up secrets sealed with a lost key.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Validate the configuration and print every effective setting with its source
    /// (secrets redacted); refuses exactly what `serve` refuses.
    CheckConfig {
        /// Print the settings table of docs/operations.md instead.
        #[arg(long)]
        markdown: bool,
        /// Print a config file with every setting commented out (the packaged
        /// /etc/gatehouse/gatehouse.toml) instead.
        #[arg(long, conflicts_with = "markdown")]
        example_config: bool,
    },
    /// Copy a whole deployment from SQLite into an empty PostgreSQL database, then check the
    /// copy (row counts, and a sample of rows per table compared field by field). Stop the
    /// server first: rows written after the copy starts are not copied.
    Migrate {
        /// The deployment to copy: sqlite://PATH (brought to this build's schema first).
        #[arg(long, value_name = "URL")]
        from: String,
        /// An empty PostgreSQL database: postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE.
        #[arg(long, value_name = "URL")]
        to: String,
    },
    /// Write one backup file (0600) while the server runs: a consistent copy of the SQLite
    /// database, the uploaded files and the server key file. On PostgreSQL: checks the
    /// server and migrations and prints the pg_dump command to run instead.
    Backup {
        /// A new file (an existing file or link is refused).
        #[arg(long, short, value_name = "FILE")]
        output: PathBuf,
    },
    /// Restore a backup file into `--data-dir`, which must be new or empty and not held by a
    /// running server.
    Restore {
        /// A file written by `gatehouse backup`.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Check the database (SQLite integrity check, migrations), the file store against its
    /// records and stored password hashes against the cost bounds; every problem says what
    /// to do. Exits 1 when it finds one. Reads only.
    Check,
    /// Exit 0 when the server's /readyz answers 200, else 1 (for systemd and container
    /// health checks).
    Healthcheck {
        /// The readiness URL [default: /readyz on the `listen` address].
        #[arg(long, value_name = "URL")]
        url: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an active user and print its id.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        /// Give the user the instance-wide admin role.
        #[arg(long)]
        admin: bool,
        /// Read the password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's password (read from standard input); ends all their sessions.
    SetPassword {
        /// Id, username or e-mail.
        #[arg(long)]
        user: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Write every user as JSON Lines, password hashes included (keep the file secret).
    Export {
        /// Write to this new file (created readable by its owner only; an existing file or
        /// link is refused) instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Read users from JSON Lines (an export, or argon2/bcrypt hashes from another system).
    /// Every line is checked first; with a bad line nothing is imported.
    Import {
        /// The JSON Lines file; `-` reads standard input.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Import the good lines and report the bad ones instead of importing nothing.
        #[arg(long)]
        skip_bad: bool,
        /// Make every imported user a member of this organisation.
        #[arg(long, value_name = "ORG_ID")]
        org: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Re-seal every stored secret under a new key. With the key file: writes a new key
    /// first in it (the old one stays readable meanwhile), re-seals, then drops the old key
    /// once nothing needs it; running servers follow the file by themselves. With keys in
    /// the setting: re-seals everything under the first key listed.
    Rotate,
    /// Print a new random key (base64), for the setting replicas share.
    Generate,
    /// For a lost key: turn off the second factor of every user whose secret is sealed with
    /// a key this server does not hold, so they can sign in and enrol again.
    ForgetUnreadable,
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organisation and print only its id (Glowmarkt clients send it as
    /// `applicationId`).
    Create {
        #[arg(long)]
        name: String,
    },
    /// Add a user to an organisation, or change their role in it.
    AddMember {
        /// The organisation's id.
        #[arg(long, value_name = "ORG_ID")]
        org: String,
        /// Id, username or e-mail.
        #[arg(long)]
        user: String,
        #[arg(long, value_name = "owner|admin|member")]
        role: String,
    },
    /// Choose the seed's 4-digit password-reset codes for an application's flows (`on`), a
    /// weaker setting (docs/security.md), or 8 digits as everywhere else (`off`).
    ShortResetCodes {
        /// The organisation's id.
        #[arg(long, value_name = "ORG_ID")]
        org: String,
        #[arg(value_parser = ["on", "off"])]
        setting: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token for a user and print only its secret.
    Create {
        /// Id, username or e-mail.
        #[arg(long)]
        user: String,
        #[arg(long)]
        name: Option<String>,
        /// Make it a timed token that stops working after this many seconds.
        #[arg(long, value_name = "SECONDS")]
        expires_in: Option<i64>,
    },
    /// Delete one of a user's tokens, named by id, masked form or secret.
    Revoke {
        #[arg(long)]
        user: String,
        #[arg(long)]
        token: String,
    },
    /// List a user's tokens (never their secrets).
    List {
        #[arg(long)]
        user: String,
    },
}
