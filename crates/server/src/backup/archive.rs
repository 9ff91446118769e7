//! `gatehouse backup`: writing the tar file, and the `pg_dump` advice on PostgreSQL.

use super::*;

/// `gatehouse backup --output FILE`.
pub async fn backup(settings: &Settings, output: &Path) -> anyhow::Result<()> {
    if is_postgres(&settings.database_url) {
        return explain_pg_dump(settings, output).await;
    }
    let file = crate::cli::create_private(output)?;
    let mut guard = Output {
        path: output.to_owned(),
        keep: false,
    };
    let db = SqliteMaintenance::open(&settings.database_url)
        .await
        .with_context(|| {
            format!(
                "nothing to back up: cannot open the database of setting `database_url` ({})",
                redact_url(&settings.database_url)
            )
        })?;
    let status = db.migrations().await?;
    if !status.is_known() {
        anyhow::bail!(
            "the database's migrations are not this build's ({}); back it up with the Gatehouse \
             version that serves it",
            status
                .unknown
                .iter()
                .chain(&status.failed)
                .chain(&status.changed)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    // Work inside the data directory (private, and on the same file system as the file
    // store, so its files can be hard-linked: they are never rewritten in place, only
    // replaced by a rename, so a link keeps the bytes as they were).
    private_files::prepare_data_dir(&settings.data_dir)?;
    let staging = Staging(
        settings
            .data_dir
            .join(format!(".backup-{}", uuid::Uuid::new_v4())),
    );
    private_files::create_dir(&staging.0.join(FILES_DIR))?;
    let live_files = settings.data_dir.join(FILES_DIR);
    let disk_files = settings.files_url.is_none();
    // Files before the snapshot (a file is stored before its record is written) and again
    // after it (what was uploaded meanwhile), so every record in the snapshot finds its bytes
    // unless its file was deleted during the backup.
    if disk_files {
        stage_files(&live_files, &staging.0.join(FILES_DIR))?;
    }
    let snapshot = staging.0.join(DATABASE);
    db.snapshot_into(&snapshot)
        .await
        .context("copying the database (VACUUM INTO)")?;
    db.close().await;
    if disk_files {
        stage_files(&live_files, &staging.0.join(FILES_DIR))?;
    }
    let copy = SqliteMaintenance::open(&format!("sqlite://{}", snapshot.display())).await?;
    let migrations = copy.migrations().await?.applied;
    let referenced = copy.file_ids().await?;
    copy.close().await;

    let mut included = Vec::new();
    let mut missing = Vec::new();
    if disk_files {
        for id in &referenced {
            let name = id.hyphenated().to_string();
            let staged = staging.0.join(FILES_DIR).join(&name);
            if staged.is_file() {
                included.push((name, staged));
            } else {
                missing.push(name);
            }
        }
    }

    let (key, server_key, key_ids) = match &settings.keys.keys {
        None => match std::fs::read(&settings.keys.key_file) {
            Ok(bytes) => {
                let ring = server_key::parse_keys(&String::from_utf8_lossy(&bytes))
                    .map_err(|e| anyhow::anyhow!("{}: {e}", settings.keys.describe()))?;
                (Some(bytes), "included".to_owned(), key_ids(&ring))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (
                None,
                format!(
                    "none: {} does not exist (no secret was sealed yet)",
                    settings.keys.key_file.display()
                ),
                Vec::new(),
            ),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("reading {}", settings.keys.key_file.display()))
            }
        },
        Some(keys) => {
            use secrecy::ExposeSecret;
            let ring = server_key::parse_keys(keys.expose_secret())
                .map_err(|e| anyhow::anyhow!("setting `server_keys`: {e}"))?;
            (
                None,
                "not included: the `server_keys` setting holds it".to_owned(),
                key_ids(&ring),
            )
        }
    };
    let manifest = Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        written_by: crate::cli::version().to_owned(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        backend: "sqlite".into(),
        migrations,
        files: included.len(),
        file_store: match &settings.files_url {
            None => "included".into(),
            Some(url) => format!("not included: the object store {}", redact_url(url)),
        },
        server_key,
        key_ids,
    };

    let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
    let manifest_bytes = serde_json::to_vec_pretty(&manifest)?;
    append(
        &mut tar,
        MANIFEST,
        &mut manifest_bytes.as_slice(),
        manifest_bytes.len() as u64,
    )?;
    append_file(&mut tar, DATABASE, &snapshot)?;
    if let Some(key) = &key {
        append(&mut tar, KEY_FILE, &mut key.as_slice(), key.len() as u64)?;
    }
    for (name, path) in &included {
        append_file(&mut tar, &format!("{FILES_DIR}/{name}"), path)?;
    }
    let file = tar
        .into_inner()
        .context("finishing the backup file")?
        .into_inner()
        .map_err(|e| e.into_error())
        .context("writing the backup file")?;
    file.sync_all().context("writing the backup file")?;
    guard.keep = true;

    eprintln!(
        "backup written to {}: the database (migrations up to {}), {} uploaded file(s)",
        output.display(),
        manifest.migrations.last().map_or("none", String::as_str),
        included.len()
    );
    if !missing.is_empty() {
        eprintln!(
            "warning: {} file(s) were deleted while the backup ran and are not in it ({}); \
             their records are; take the backup again for a copy without them",
            missing.len(),
            missing.join(", ")
        );
    }
    if let Some(url) = &settings.files_url {
        eprintln!(
            "uploaded files are in the object store {} and NOT in this backup: back that \
             bucket up with its own tools",
            redact_url(url)
        );
    }
    match (&key, &settings.keys.keys) {
        (Some(_), _) => eprintln!(
            "the server key ({}) is in the backup: keep the file as secret as the key itself",
            settings.keys.key_file.display()
        ),
        (None, Some(_)) => eprintln!(
            "the server key is NOT in the backup: it comes from the `server_keys` setting \
             (key ids {}); a restored server needs that setting",
            manifest.key_ids.join(", ")
        ),
        (None, None) => {}
    }
    Ok(())
}

pub(super) fn key_ids(ring: &accounts::sealing::KeyRing) -> Vec<String> {
    ring.keys().iter().map(|k| k.id().to_string()).collect()
}

/// Hard-links every file of `from` not yet in `to` (copies it where links are impossible).
fn stage_files(from: &Path, to: &Path) -> anyhow::Result<()> {
    let entries = match std::fs::read_dir(from) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", from.display())),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        // Only stored files (named by their id); partial writes start with a dot.
        let Some(text) = name.to_str() else { continue };
        if uuid::Uuid::parse_str(text).is_err() || !entry.file_type()?.is_file() {
            continue;
        }
        let target = to.join(&name);
        if target.exists() {
            continue;
        }
        let linked = std::fs::hard_link(entry.path(), &target);
        match linked {
            Ok(()) => {}
            // Deleted since it was listed.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => match std::fs::read(entry.path()) {
                Ok(bytes) => {
                    let mut out = private_files::create_new(&target)?;
                    out.write_all(&bytes)?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("reading {}", entry.path().display()))
                }
            },
        }
    }
    Ok(())
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    data: &mut dyn Read,
    size: u64,
) -> anyhow::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_size(size);
    header.set_mode(0o600);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mtime(chrono::Utc::now().timestamp().max(0) as u64);
    tar.append_data(&mut header, name, data)
        .with_context(|| format!("writing {name} into the backup"))
}

fn append_file<W: Write>(tar: &mut tar::Builder<W>, name: &str, path: &Path) -> anyhow::Result<()> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let size = file.metadata()?.len();
    append(tar, name, &mut file, size)
}

/// On PostgreSQL: checks the server and the migrations, then says how to take the dump.
async fn explain_pg_dump(settings: &Settings, output: &Path) -> anyhow::Result<()> {
    let shown = redact_url(&settings.database_url);
    let db = PostgresMaintenance::open(&settings.database_url)
        .await
        .with_context(|| format!("setting `database_url`: cannot reach {shown}"))?;
    let (version_num, version) = db.server_version().await?;
    let status = db.migrations().await?;
    let major = version_num / 10_000;
    eprintln!("PostgreSQL {version} at {shown}");
    let mut problems = Vec::new();
    if status.is_current() {
        eprintln!(
            "migrations: current ({} applied, the last {})",
            status.applied.len(),
            status.applied.last().map_or("none", String::as_str)
        );
    } else {
        problems.push(crate::check::migration_advice(&status).join("; "));
    }
    match pg_dump_major() {
        Some(dump) if dump < major => problems.push(format!(
            "pg_dump on this machine is version {dump}, older than the server's {major}: it \
             refuses to dump a newer server; install the client of version {major} or newer"
        )),
        Some(dump) => eprintln!("pg_dump {dump} found (the server is {major}): fine"),
        None => eprintln!(
            "pg_dump is not on PATH here: install PostgreSQL's client of version {major} or \
             newer (Debian: postgresql-client-{major})"
        ),
    }
    eprintln!(
        "\nGatehouse does not copy a PostgreSQL database itself. Take a consistent online dump \
         with pg_dump (one transaction; the servers keep serving):\n  \
         pg_dump --format=custom --no-owner --file={dump} '{shown}'\n\
         (give the password with PGPASSWORD or ~/.pgpass), and restore it into an empty \
         database with:\n  pg_restore --no-owner --dbname='postgres://USER@HOST/NEWDB' {dump}",
        dump = output.display()
    );
    match &settings.files_url {
        Some(url) => eprintln!(
            "uploaded files are in the object store {}: back that bucket up with its own tools",
            redact_url(url)
        ),
        None => eprintln!(
            "uploaded files are not in the database: copy {} as well",
            settings.data_dir.join(FILES_DIR).display()
        ),
    }
    match &settings.keys.keys {
        Some(_) => eprintln!(
            "the server key comes from the `server_keys` setting: keep that setting with the dump"
        ),
        None => eprintln!(
            "the server key is {}: copy it with the dump (and keep it as secret)",
            settings.keys.key_file.display()
        ),
    }
    if !problems.is_empty() {
        anyhow::bail!("{}", problems.join("; "));
    }
    anyhow::bail!(
        "no backup written to {}: on PostgreSQL, run the pg_dump command above",
        output.display()
    )
}

/// The major version of `pg_dump` on PATH ("pg_dump (PostgreSQL) 16.4" gives 16).
fn pg_dump_major() -> Option<i64> {
    let out = std::process::Command::new("pg_dump")
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text.split_whitespace().last()?;
    version.split('.').next()?.parse().ok()
}
