//! `gatehouse restore`: unpacking a backup into a new or empty data directory.

use super::*;

/// `gatehouse restore FILE --data-dir D`.
pub async fn restore(settings: &Settings, file: &Path) -> anyhow::Result<()> {
    let data_dir = &settings.data_dir;
    let input = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(input));
    let mut entries = archive.entries().with_context(|| {
        format!(
            "{} is not a Gatehouse backup (not a tar file)",
            file.display()
        )
    })?;
    let manifest = read_manifest(&mut entries, file)?;

    // Held until the restore ends: no server can start on the directory meanwhile.
    let _lock = lock_empty_target(data_dir)?;
    let mut written = Written(Vec::new());
    let mut files = 0usize;
    let mut key = false;
    let mut seen = BTreeSet::new();
    for entry in entries {
        let mut entry = entry.with_context(|| format!("reading {}", file.display()))?;
        let name = entry.path()?.to_string_lossy().into_owned();
        if !seen.insert(name.clone()) {
            anyhow::bail!(
                "{} holds {name} twice; it is not a backup this writes",
                file.display()
            );
        }
        let target = match name.as_str() {
            DATABASE => data_dir.join(DATABASE),
            KEY_FILE => {
                key = true;
                data_dir.join(KEY_FILE)
            }
            other => match other.strip_prefix("files/") {
                Some(id)
                    if uuid::Uuid::parse_str(id)
                        .is_ok_and(|u| u.hyphenated().to_string() == id) =>
                {
                    files += 1;
                    let dir = data_dir.join(FILES_DIR);
                    if !dir.exists() {
                        private_files::create_dir(&dir)?;
                        written.0.push(dir.clone());
                    }
                    dir.join(id)
                }
                _ => anyhow::bail!(
                    "{} holds {other:?}, which no Gatehouse backup holds; nothing was restored",
                    file.display()
                ),
            },
        };
        if entry.header().entry_type() != tar::EntryType::Regular {
            anyhow::bail!("{name} in {} is not a plain file", file.display());
        }
        let mut out = private_files::create_new(&target)
            .with_context(|| format!("creating {}", target.display()))?;
        written.0.push(target.clone());
        std::io::copy(&mut entry, &mut out)
            .and_then(|_| out.sync_all())
            .with_context(|| format!("writing {}", target.display()))?;
    }
    if !seen.contains(DATABASE) {
        anyhow::bail!("{} holds no database; nothing was restored", file.display());
    }
    let db_url = format!("sqlite://{}", data_dir.join(DATABASE).display());
    let db = SqliteMaintenance::open(&db_url).await?;
    let problems = db.integrity_problems(true).await?;
    db.close().await;
    if !problems.is_empty() {
        anyhow::bail!(
            "the database in {} is damaged ({}); nothing was restored: use an older backup",
            file.display(),
            problems.join("; ")
        );
    }
    written.0.clear();

    eprintln!(
        "restored {} (taken {} by {}) into {}: the database (migrations up to {}), {files} \
         uploaded file(s){}",
        file.display(),
        manifest.created_at,
        manifest.written_by,
        data_dir.display(),
        manifest.migrations.last().map_or("none", String::as_str),
        if key { ", the server key" } else { "" }
    );
    if !key && !manifest.key_ids.is_empty() {
        eprintln!(
            "the server key is not in the backup ({}): start the server with the `server_keys` \
             setting holding key(s) {}",
            manifest.server_key,
            manifest.key_ids.join(", ")
        );
    }
    if manifest.file_store != "included" {
        eprintln!("uploaded files: {}", manifest.file_store);
    }
    let expected = format!("sqlite://{}", data_dir.join(DATABASE).display());
    if settings.database_url != expected {
        eprintln!(
            "note: the database was restored to {}; setting `database_url` names {} instead",
            data_dir.join(DATABASE).display(),
            redact_url(&settings.database_url)
        );
    }
    let restored_key = data_dir.join(KEY_FILE);
    if key && settings.keys.keys.is_none() && settings.keys.key_file != restored_key {
        eprintln!(
            "note: the server key was restored to {}; setting `server_key_file` names {} \
             instead",
            restored_key.display(),
            settings.keys.key_file.display()
        );
    }
    eprintln!(
        "start it with: gatehouse serve --data-dir {}",
        data_dir.display()
    );
    Ok(())
}

/// Paths restored so far, removed (newest first) unless the restore finished.
struct Written(Vec<PathBuf>);

impl Drop for Written {
    fn drop(&mut self) {
        for path in self.0.iter().rev() {
            let _ = std::fs::remove_file(path).or_else(|_| std::fs::remove_dir(path));
        }
    }
}

fn read_manifest<R: Read>(
    entries: &mut tar::Entries<'_, R>,
    file: &Path,
) -> anyhow::Result<Manifest> {
    let not_ours = || format!("{} is not a Gatehouse backup", file.display());
    let mut first = entries
        .next()
        .with_context(not_ours)?
        .with_context(not_ours)?;
    if first.path().with_context(not_ours)?.as_os_str() != MANIFEST {
        anyhow::bail!("{} (it does not start with {MANIFEST})", not_ours());
    }
    let mut text = String::new();
    first
        .by_ref()
        .take(1 << 20)
        .read_to_string(&mut text)
        .with_context(not_ours)?;
    let manifest: Manifest = serde_json::from_str(&text).with_context(not_ours)?;
    if manifest.format != FORMAT {
        anyhow::bail!("{}", not_ours());
    }
    if manifest.format_version > FORMAT_VERSION || manifest.backend != "sqlite" {
        anyhow::bail!(
            "{} was written by {} in a format this version cannot restore; restore it with \
             that version or a newer one",
            file.display(),
            manifest.written_by
        );
    }
    let known: Vec<String> = known_migrations().iter().map(|m| m.name()).collect();
    let unknown: Vec<&String> = manifest
        .migrations
        .iter()
        .filter(|m| !known.contains(m))
        .collect();
    if !unknown.is_empty() {
        anyhow::bail!(
            "{} was written by {}, whose database has migration(s) this version does not know \
             ({}); restore it with that version or a newer one",
            file.display(),
            manifest.written_by,
            unknown
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(manifest)
}

/// Creates `dir` (0700) or accepts it when empty but for a lock file no server holds; then
/// takes its serve lock, so no server starts on it during the restore.
fn lock_empty_target(dir: &Path) -> anyhow::Result<std::fs::File> {
    let lock_name = crate::app::SERVE_LOCK_FILE;
    if dir.exists() {
        if !dir.is_dir() {
            anyhow::bail!("{} is not a directory", dir.display());
        }
        // A server on it holds the lock: say so first, whatever else is there.
        if dir.join(lock_name).exists() {
            if let Err(e) = crate::app::take_serve_lock(dir) {
                anyhow::bail!(
                    "{e:#}. Stop that server first; restore into a new directory and point \
                     `data_dir` at it, rather than over the one in use"
                );
            }
        }
        let others: Vec<String> = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name != lock_name)
            .collect();
        if !others.is_empty() {
            anyhow::bail!(
                "{} is not empty (it holds {}): restore into a new directory, or move this one \
                 aside first; a restore never overwrites a data directory",
                dir.display(),
                others.join(", ")
            );
        }
    } else {
        private_files::create_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    crate::app::take_serve_lock(dir)
        .map_err(|e| anyhow::anyhow!("{e:#}. Stop that server first; restore into a new directory"))
}
