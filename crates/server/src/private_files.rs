//! The data directory is its owner's alone, whatever the umask: directories are created
//! 0700 and files 0600 (the database holds password hashes, `mail/` live reset links,
//! `files/` users' uploads, `secret.key` the server key). At start, looser modes left by
//! older versions are tightened, with a warning naming what changed. Off Unix these are
//! plain creates.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Creates `dir` and its missing parents, the new ones 0700.
pub fn create_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Opens a new file, 0600, refusing one that exists already or a symbolic link in its place
/// (`O_EXCL` never follows a link), so nothing is written through a planted link.
pub fn create_new(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Writes `bytes` to `path` in one step: a new 0600 file beside it, then a rename over it.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let partial = path.with_file_name(format!(".{name}.{}.partial", uuid::Uuid::new_v4()));
    let mut file = create_new(&partial)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    std::fs::rename(&partial, path)
}

/// [`write_atomically`] off the async workers.
pub async fn write_atomically_async(path: PathBuf, bytes: Vec<u8>) -> std::io::Result<()> {
    tokio::task::spawn_blocking(move || write_atomically(&path, &bytes))
        .await
        .map_err(std::io::Error::other)?
}

/// Tightens `dir` (to 0700) and, when it was open to others, everything under it
/// (directories 0700, files 0600); a private directory guards what it holds, so its
/// contents are not walked. Returns the paths changed; symbolic links are left alone.
pub fn tighten(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut changed = Vec::new();
    tighten_dir(dir, true, &mut changed)?;
    Ok(changed)
}

#[cfg(unix)]
fn tighten_dir(dir: &Path, walk_anyway: bool, changed: &mut Vec<PathBuf>) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Ok(());
    }
    let loose = meta.permissions().mode() & 0o077 != 0;
    if loose {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        changed.push(dir.to_owned());
    }
    if !(loose || walk_anyway) {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.is_dir() {
            tighten_dir(&path, false, changed)?;
        } else if meta.is_file() && meta.permissions().mode() & 0o077 != 0 {
            let mode = meta.permissions().mode() & 0o700;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode | 0o600))?;
            changed.push(path);
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn tighten_dir(_: &Path, _: bool, _: &mut Vec<PathBuf>) -> std::io::Result<()> {
    Ok(())
}

/// Creates the data directory 0700 and tightens what an older version left open, warning
/// about each path it changed.
pub fn prepare_data_dir(dir: &Path) -> std::io::Result<()> {
    create_dir(dir)?;
    let changed = tighten(dir)?;
    if !changed.is_empty() {
        let shown: Vec<String> = changed
            .iter()
            .take(10)
            .map(|p| p.display().to_string())
            .collect();
        let more = changed.len().saturating_sub(shown.len());
        let message = format!(
            "warning: {} path(s) in the data directory were readable by other users and are now \
             private to their owner (directories 0700, files 0600): {}{}",
            changed.len(),
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
        // Through the log when `serve` has set one up (a JSON log stays JSON only); on
        // standard error for the other commands, which log nothing.
        if tracing::dispatcher::has_been_set() {
            tracing::warn!(count = changed.len(), "{message}");
        } else {
            eprintln!("{message}");
        }
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    }

    #[test]
    fn loose_directories_and_their_files_are_tightened() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        std::fs::create_dir_all(data.join("mail")).unwrap();
        std::fs::write(data.join("gatehouse.db"), b"").unwrap();
        std::fs::write(data.join("mail/a.eml"), b"").unwrap();
        for (p, m) in [
            (data.clone(), 0o755),
            (data.join("mail"), 0o755),
            (data.join("gatehouse.db"), 0o644),
            (data.join("mail/a.eml"), 0o644),
        ] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m)).unwrap();
        }
        std::os::unix::fs::symlink("/etc/hostname", data.join("link")).unwrap();
        assert_eq!(tighten(&data).unwrap().len(), 4);
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("mail")), 0o700);
        assert_eq!(mode(&data.join("gatehouse.db")), 0o600);
        assert_eq!(mode(&data.join("mail/a.eml")), 0o600);
        assert!(tighten(&data).unwrap().is_empty(), "nothing left to change");
    }

    #[test]
    fn create_new_refuses_existing_files_and_links() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("target");
        std::fs::write(&target, b"keep").unwrap();
        let link = root.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(create_new(&link).is_err());
        assert!(create_new(&target).is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        let fresh = root.path().join("fresh");
        create_new(&fresh).unwrap();
        assert_eq!(mode(&fresh), 0o600);
    }
}
