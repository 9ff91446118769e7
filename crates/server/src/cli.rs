//! The command line: `serve` and the operator commands. Every command takes `--data-dir`,
//! `--database-url` and `--config` anywhere on the line (or from `GATEHOUSE_*`), and works
//! on the same database while the server runs.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use accounts::access::{OrgId, OrgRole};
use accounts::service::{ClientInfo, NewUser};
use accounts::token::TokenRef;
use accounts::transfer::ImportError;
use accounts::{Accounts, Actor, EmailAddress, Password, UserStatus, Username};
use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::app;
use crate::config::{self, Overrides, Settings};

#[derive(Debug, Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "User accounts and API credentials, one binary."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// A TOML config file; flags and environment variables override it.
    #[arg(long, env = "GATEHOUSE_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Where the database (by default) and uploaded files live [default: ./gatehouse-data].
    #[arg(long, env = "GATEHOUSE_DATA_DIR", global = true, value_name = "DIR")]
    pub data_dir: Option<std::path::PathBuf>,
    /// sqlite://PATH [default: sqlite://<data-dir>/gatehouse.db].
    #[arg(
        long,
        env = "GATEHOUSE_DATABASE_URL",
        global = true,
        value_name = "URL"
    )]
    pub database_url: Option<String>,
    /// Log lines as human text or JSON objects [default: text].
    #[arg(
        long,
        env = "GATEHOUSE_LOG_FORMAT",
        global = true,
        value_name = "text|json"
    )]
    pub log_format: Option<String>,
    /// Deliver mail over SMTP: smtp://[user:pass@]host[:port][?tls=required] or smtps://...
    /// [default: write .eml files under <data-dir>/mail/].
    #[arg(long, env = "GATEHOUSE_SMTP_URL", global = true, value_name = "URL")]
    pub smtp_url: Option<String>,
    /// The From address of outgoing mail [default: Gatehouse <gatehouse@localhost>].
    #[arg(
        long,
        env = "GATEHOUSE_MAIL_FROM",
        global = true,
        value_name = "ADDRESS"
    )]
    pub mail_from: Option<String>,
    /// Keep uploaded files in an S3-compatible object store:
    /// s3://bucket[/prefix][?endpoint=…&region=…] [default: <data-dir>/files/].
    #[arg(long, env = "GATEHOUSE_FILES_URL", global = true, value_name = "URL")]
    pub files_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve(ServeArgs),
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage organisations (tenants; Glowmarkt's applications).
    #[command(subcommand)]
    Org(OrgCommand),
    /// Validate the configuration and print the effective settings.
    CheckConfig,
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
}

#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "GATEHOUSE_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// The origin clients reach this server at; links and picture URLs use it
    /// [default: http://<listen>].
    #[arg(long, env = "GATEHOUSE_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// How many password hashes may run at once [default: number of cores].
    #[arg(long, env = "GATEHOUSE_PASSWORD_HASH_WORKERS", value_name = "N")]
    pub password_hash_workers: Option<String>,
    /// Largest accepted profile picture upload, in bytes [default: 2097152].
    #[arg(long, env = "GATEHOUSE_MAX_PICTURE_BYTES", value_name = "BYTES")]
    pub max_picture_bytes: Option<String>,
    /// Largest accepted file upload, in bytes [default: 10485760].
    #[arg(long, env = "GATEHOUSE_MAX_FILE_BYTES", value_name = "BYTES")]
    pub max_file_bytes: Option<String>,
    /// What one user's files (picture included) may add up to, in bytes [default: 104857600].
    #[arg(long, env = "GATEHOUSE_FILE_QUOTA_BYTES", value_name = "BYTES")]
    pub file_quota_bytes: Option<String>,
    /// Self-registration: open or closed [default: open].
    #[arg(long, env = "GATEHOUSE_SIGNUP", value_name = "open|closed")]
    pub signup: Option<String>,
    /// Limit self-registration to these e-mail domains (comma-separated).
    #[arg(long, env = "GATEHOUSE_SIGNUP_DOMAINS", value_name = "DOMAINS")]
    pub signup_domains: Option<String>,
    /// Login attempts per client address per 15 minutes [default: 100].
    #[arg(long, env = "GATEHOUSE_LOGIN_ATTEMPTS_PER_IP", value_name = "N")]
    pub login_attempts_per_ip: Option<String>,
    /// Login attempts per account per 15 minutes [default: 10].
    #[arg(long, env = "GATEHOUSE_LOGIN_ATTEMPTS_PER_ACCOUNT", value_name = "N")]
    pub login_attempts_per_account: Option<String>,
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
        /// Write to this file (created readable by its owner only) instead of standard output.
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

impl Cli {
    fn overrides(&self) -> Overrides {
        let serve = match &self.command {
            Command::Serve(args) => Some(args),
            _ => None,
        };
        Overrides {
            config: self.global.config.clone(),
            data_dir: self.global.data_dir.clone(),
            database_url: self.global.database_url.clone(),
            log_format: self.global.log_format.clone(),
            listen: serve.and_then(|s| s.listen.clone()),
            public_url: serve
                .and_then(|s| s.public_url.clone())
                .or_else(|| std::env::var("GATEHOUSE_PUBLIC_URL").ok()),
            password_hash_workers: serve.and_then(|s| s.password_hash_workers.clone()),
            max_picture_bytes: serve.and_then(|s| s.max_picture_bytes.clone()),
            max_file_bytes: serve.and_then(|s| s.max_file_bytes.clone()),
            file_quota_bytes: serve.and_then(|s| s.file_quota_bytes.clone()),
            signup: serve.and_then(|s| s.signup.clone()),
            signup_domains: serve.and_then(|s| s.signup_domains.clone()),
            login_attempts_per_ip: serve.and_then(|s| s.login_attempts_per_ip.clone()),
            login_attempts_per_account: serve.and_then(|s| s.login_attempts_per_account.clone()),
            smtp_url: self.global.smtp_url.clone(),
            mail_from: self.global.mail_from.clone(),
            files_url: self.global.files_url.clone(),
        }
    }
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

/// A new file only its owner can read: an export holds password hashes.
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
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
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let unknown = config::unknown_env(std::env::vars());
    if !unknown.is_empty() {
        eprintln!(
            "warning: ignoring unknown environment variable(s) {}; Gatehouse reads {}",
            unknown.join(", "),
            config::KNOWN_ENV.join(", ")
        );
    }
    let settings = Settings::resolve(cli.overrides())?;
    match cli.command {
        Command::Serve(_) => app::serve(settings).await,
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
        Command::CheckConfig => {
            println!("configuration is valid");
            println!("data_dir              = {}", settings.data_dir.display());
            println!("database_url          = {}", settings.database_url);
            println!("listen                = {}", settings.listen);
            println!("public_url            = {}", settings.public_url);
            println!("log_format            = {:?}", settings.log_format);
            println!("password_hash_workers = {}", settings.password_hash_workers);
            println!("max_picture_bytes     = {}", settings.max_picture_bytes);
            println!("max_file_bytes        = {}", settings.max_file_bytes);
            println!("file_quota_bytes      = {}", settings.file_quota_bytes);
            println!(
                "signup                = {}",
                if settings.signup_enabled {
                    "open"
                } else {
                    "closed"
                }
            );
            println!(
                "signup_domains        = {}",
                settings.signup_domains.join(",")
            );
            println!(
                "login_attempts        = {} per address, {} per account, per 15 min",
                settings.login_attempts_per_ip, settings.login_attempts_per_account
            );
            println!(
                "mail                  = {}",
                match &settings.smtp_url {
                    Some(url) => format!("SMTP {}", crate::config::redact_url(url)),
                    None => format!("files in {}", settings.data_dir.join("mail").display()),
                }
            );
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
                            let file = create_private(path)
                                .with_context(|| format!("creating {}", path.display()))?;
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
                        .create_token(
                            user.id,
                            name,
                            expires_in.map(chrono::Duration::seconds),
                            &cli_client(),
                        )
                        .await?;
                    println!("{}", secret.expose());
                }
                TokenCommand::Revoke { user, token } => {
                    let user = accounts.find_user(&user).await?;
                    let by = TokenRef::parse(&token).with_context(|| {
                        format!("{token:?} is not a token id, masked token or token secret")
                    })?;
                    let revoked = accounts.delete_token(user.id, &by, &cli_client()).await?;
                    eprintln!("revoked token {} ({})", revoked.id, revoked.mask);
                }
                TokenCommand::List { user } => {
                    let user = accounts.find_user(&user).await?;
                    for t in accounts.list_tokens(user.id).await? {
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
