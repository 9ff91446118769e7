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

/// Reads a password from standard input: the first line, without its line ending.
fn password_from_stdin() -> anyhow::Result<String> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("reading the password from standard input")?;
    let line = input.lines().next().unwrap_or_default().to_owned();
    Ok(line)
}

/// Users per `export_users` page.
const EXPORT_PAGE: u32 = 500;

/// Writes every user as one JSON line each, paging by id; returns how many.
async fn export_users(accounts: &Accounts, out: &mut (dyn Write + Send)) -> anyhow::Result<usize> {
    let mut after = None;
    let mut count = 0;
    loop {
        let page = accounts.export_users(after, EXPORT_PAGE).await?;
        for line in &page {
            serde_json::to_writer(&mut *out, line)?;
            out.write_all(b"\n")?;
        }
        count += page.len();
        match page.last().and_then(|line| line.id) {
            Some(last) if page.len() == EXPORT_PAGE as usize => after = Some(last),
            _ => break,
        }
    }
    out.flush()?;
    Ok(count)
}

/// A new file only its owner can read: an export holds password hashes. An existing file
/// or a symbolic link in its place is refused, never written through.
pub(crate) fn create_private(path: &Path) -> anyhow::Result<std::fs::File> {
    crate::private_files::create_new(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::anyhow!(
                "refusing to write {}: something (a file or a symbolic link) is already there; \
                 name a new file",
                path.display()
            )
        } else {
            anyhow::anyhow!("creating {}: {e}", path.display())
        }
    })
}

/// `(line number, text)` for every line of `file` (`-`: standard input), numbered from 1.
fn read_lines(file: &Path) -> anyhow::Result<Vec<(usize, String)>> {
    let text = if file == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading users from standard input")?;
        text
    } else {
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?
    };
    Ok(text
        .lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.to_owned()))
        .collect())
}

fn print_bad_line(bad: &accounts::transfer::BadLine) {
    if bad.line == 0 {
        eprintln!("{}", bad.reason);
    } else {
        eprintln!("line {}: {}", bad.line, bad.reason);
    }
}

fn parse_org(raw: &str) -> anyhow::Result<OrgId> {
    raw.parse()
        .ok()
        .with_context(|| format!("{raw:?} is not an organisation id"))
}

/// How operator commands appear in the audit log.
fn cli_client() -> ClientInfo {
    ClientInfo {
        ip: None,
        user_agent: Some("gatehouse-cli".into()),
        device: None,
    }
}

/// The operator at the command line, as the audit log shows them.
fn operator() -> Actor {
    Actor::operator().with_client(&cli_client())
}

fn key_ids(ring: &accounts::sealing::KeyRing) -> String {
    ring.keys()
        .iter()
        .map(|k| k.id().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_seal_report(report: &accounts::at_rest::SealReport) {
    eprintln!(
        "re-sealed {} secret(s), sealed {} plaintext secret(s), {} already under the current key",
        report.resealed, report.sealed_plaintext, report.kept
    );
    if report.changed_meanwhile > 0 {
        eprintln!(
            "{} secret(s) changed during the pass (re-enrolled) and were left as written",
            report.changed_meanwhile
        );
    }
    if let Some(unreadable) = report.unreadable_summary() {
        eprintln!(
            "warning: {unreadable} cannot be read with any key held; restore that key, or run \
             `gatehouse key forget-unreadable`"
        );
    }
}

/// `gatehouse key ...`.
pub async fn run_key_command(
    command: KeyCommand,
    settings: &Settings,
    keys: &KeySettings,
) -> anyhow::Result<()> {
    match command {
        KeyCommand::Generate => {
            println!("{}", server_key::encode_key(&ServerKey::generate()));
            Ok(())
        }
        KeyCommand::ForgetUnreadable => {
            let accounts = app::open_with_key(settings, keys).await?;
            let forgotten = accounts.forget_unreadable_secrets(&cli_client()).await?;
            eprintln!(
                "turned off the second factor of {forgotten} user(s) whose secret was sealed \
                 with a key this server does not hold; they sign in with their password and \
                 enrol again"
            );
            Ok(())
        }
        KeyCommand::Rotate if keys.keys.is_some() => {
            let accounts = app::open_with_key(settings, keys).await?;
            let ring = accounts.sealer().ring();
            let report = accounts.seal_stored_secrets(SealPass::Rotate).await?;
            print_seal_report(&report);
            eprintln!(
                "every readable secret is sealed with key {}; once every replica holds it \
                 first, the other keys ({}) can be removed from the setting",
                ring.current().id(),
                key_ids(&ring)
            );
            Ok(())
        }
        KeyCommand::Rotate => {
            crate::private_files::prepare_data_dir(&settings.data_dir)?;
            let before = server_key::open_sealer(keys)?.ring();
            let new = ServerKey::generate();
            let mut held: Vec<&ServerKey> = vec![&new];
            held.extend(before.keys().iter());
            server_key::write_key_file(&keys.key_file, &held)?;
            eprintln!(
                "new key {} written first in {}; re-sealing with it",
                new.id(),
                keys.key_file.display()
            );
            let accounts = app::open_with_key(settings, keys).await?;
            print_seal_report(&accounts.seal_stored_secrets(SealPass::Rotate).await?);
            // A second pass catches what a running server sealed with the old key while
            // the first went on; only keys nothing needs any more are dropped.
            let check = accounts.seal_stored_secrets(SealPass::Rotate).await?;
            let still_needed: Vec<&ServerKey> = before
                .keys()
                .iter()
                .filter(|k| check.by_key.contains_key(&k.id()))
                .collect();
            let mut kept: Vec<&ServerKey> = vec![&new];
            kept.extend(still_needed.iter().copied());
            server_key::write_key_file(&keys.key_file, &kept)?;
            if still_needed.is_empty() {
                eprintln!(
                    "done: {} holds only key {}; the old key(s) ({}) are no longer needed",
                    keys.key_file.display(),
                    new.id(),
                    key_ids(&before)
                );
            } else {
                eprintln!(
                    "secrets are still sealed with {}; kept in the key file, run the rotation again",
                    still_needed
                        .iter()
                        .map(|k| k.id().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            Ok(())
        }
    }
}

pub async fn run(cli: Cli, given: Given) -> anyhow::Result<()> {
    // `vars_os`: `vars` would panic on a variable that is not UTF-8.
    let unknown = config::unknown_env(
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
    );
    let serving = matches!(cli.command, Command::Serve);
    if !unknown.is_empty() && !serving {
        eprintln!(
            "warning: ignoring unknown environment variable(s) {}; Gatehouse reads {}",
            unknown.join(", "),
            config::known_env().join(", ")
        );
    }
    match cli.command {
        Command::CheckConfig { markdown: true, .. } => {
            print!("{}", config::markdown_table());
            return Ok(());
        }
        Command::CheckConfig {
            example_config: true,
            ..
        } => {
            print!("{}", config::example_config());
            return Ok(());
        }
        _ => {}
    }
    let settings = Settings::resolve(given)?;
    match cli.command {
        // `serve` logs the warning once its log format is set up (JSON logs stay JSON).
        Command::Serve => app::serve(settings, &unknown).await,
        Command::Migrate { from, to } => {
            let report =
                store_copy::copy_sqlite_to_postgres(&from, &to, |step| eprintln!("{step}"))
                    .await
                    .context("migrate failed; no rows were written to the target")?;
            println!("{report}");
            eprintln!(
                "uploaded files are not in the database: point the PostgreSQL deployment at the \
                 same file store ({})",
                settings.files_url.clone().unwrap_or_else(|| settings
                    .data_dir
                    .join("files")
                    .display()
                    .to_string())
            );
            Ok(())
        }
        Command::Key(command) => run_key_command(command, &settings, &settings.keys).await,
        Command::Backup { output } => crate::backup::backup(&settings, &output).await,
        Command::Restore { file } => crate::backup::restore(&settings, &file).await,
        Command::Check => crate::check::check(&settings).await,
        Command::Healthcheck { url } => {
            let url = url.unwrap_or_else(|| crate::healthcheck::default_url(settings.listen));
            // Any failure exits 1 (main's error exit).
            crate::healthcheck::probe(&url)
                .await
                .with_context(|| format!("unhealthy: {url}"))
        }
        Command::CheckConfig { .. } => {
            print!("{}", settings.report());
            Ok(())
        }
        Command::User(command) => {
            let accounts = app::open(&settings).await?;
            match command {
                UserCommand::Create {
                    username,
                    email,
                    admin,
                    password_stdin,
                } => {
                    let username = Username::parse(&username)?;
                    let email = EmailAddress::parse(&email)?;
                    let password = if password_stdin {
                        Some(Password::new_checked(password_from_stdin()?)?)
                    } else {
                        None
                    };
                    let user = accounts
                        .create_user(NewUser {
                            username,
                            email,
                            password,
                            is_admin: admin,
                            status: UserStatus::Active,
                            email_verified: true,
                        })
                        .await?;
                    println!("{}", user.id);
                }
                UserCommand::SetPassword { user, .. } => {
                    let password = Password::new_checked(password_from_stdin()?)?;
                    let user = accounts.find_user(&user).await?;
                    accounts
                        .set_password(user.id, password, &cli_client())
                        .await?;
                    eprintln!(
                        "password set for {}; their sessions have ended",
                        user.username
                    );
                }
                UserCommand::Export { output } => {
                    let count = match &output {
                        Some(path) => {
                            let file = create_private(path)?;
                            export_users(&accounts, &mut std::io::BufWriter::new(file)).await?
                        }
                        None => {
                            let stdout = std::io::stdout();
                            export_users(&accounts, &mut std::io::BufWriter::new(stdout)).await?
                        }
                    };
                    eprintln!("exported {count} user(s)");
                }
                UserCommand::Import {
                    file,
                    skip_bad,
                    org,
                } => {
                    let org = org.as_deref().map(parse_org).transpose()?;
                    let lines = read_lines(&file)?;
                    match accounts.import_users(lines, skip_bad, org).await {
                        Ok(report) => {
                            for bad in &report.skipped {
                                print_bad_line(bad);
                            }
                            if !report.skipped.is_empty() {
                                eprintln!("skipped {} bad line(s)", report.skipped.len());
                            }
                            println!("imported {} user(s)", report.imported);
                        }
                        Err(ImportError::BadLines(bad)) => {
                            for line in &bad {
                                print_bad_line(line);
                            }
                            anyhow::bail!(
                                "{} bad line(s); nothing imported (--skip-bad imports the others)",
                                bad.len()
                            );
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            Ok(())
        }
        Command::Org(command) => {
            let accounts = app::open(&settings).await?;
            match command {
                OrgCommand::Create { name } => {
                    let org = accounts.create_org(&Actor::operator(), &name).await?;
                    println!("{}", org.id);
                }
                OrgCommand::AddMember { org, user, role } => {
                    let org = parse_org(&org)?;
                    let role: OrgRole = role.parse()?;
                    let user = accounts.find_user(&user).await?;
                    accounts
                        .set_member(&Actor::operator(), org, user.id, role)
                        .await?;
                    eprintln!("{} is now {} of {org}", user.username, role.as_str());
                }
                OrgCommand::ShortResetCodes { org, setting } => {
                    let org = parse_org(&org)?;
                    let short = setting == "on";
                    accounts
                        .set_org_short_reset_codes(&Actor::operator(), org, short)
                        .await?;
                    let digits = if short { "4-digit (weaker)" } else { "8-digit" };
                    eprintln!("{org} now mails {digits} password-reset codes");
                }
            }
            Ok(())
        }
        Command::Token(command) => {
            let accounts = app::open(&settings).await?;
            match command {
                TokenCommand::Create {
                    user,
                    name,
                    expires_in,
                } => {
                    let user = accounts.find_user(&user).await?;
                    let (_, secret) = accounts
                        .create_token(&operator(), user.id, name, expires_in)
                        .await?;
                    println!("{}", secret.expose());
                }
                TokenCommand::Revoke { user, token } => {
                    let user = accounts.find_user(&user).await?;
                    let by = TokenRef::parse(&token).with_context(|| {
                        format!("{token:?} is not a token id, masked token or token secret")
                    })?;
                    let revoked = accounts.delete_token(&operator(), user.id, &by).await?;
                    eprintln!("revoked token {} ({})", revoked.id, revoked.mask);
                }
                TokenCommand::List { user } => {
                    let user = accounts.find_user(&user).await?;
                    for t in accounts.list_tokens(&operator(), user.id).await? {
                        println!(
                            "{}\t{}\t{}\t{}\t{}",
                            t.id,
                            t.mask,
                            t.name,
                            t.expires_at.map_or("never".into(), |at| at.to_rfc3339()),
                            if t.disabled { "disabled" } else { "enabled" }
                        );
                    }
                }
            }
            Ok(())
        }
    }
}
