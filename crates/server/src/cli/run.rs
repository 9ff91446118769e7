//! Running a parsed command line, and the helpers the operator commands share.

use super::*;

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
pub(super) fn cli_client() -> ClientInfo {
    ClientInfo {
        ip: None,
        user_agent: Some("gatehouse-cli".into()),
        device: None,
    }
}

/// The operator at the command line, as the audit log shows them.
pub(super) fn operator() -> Actor {
    Actor::operator().with_client(&cli_client())
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
