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
/// about each path it changed. Run as root on a directory another user owns (the packaged
/// service's `/var/lib/gatehouse`), it refuses before writing anything: the files root
/// would create there could not be read by the service afterwards.
pub fn prepare_data_dir(dir: &Path) -> std::io::Result<()> {
    refuse_foreign_owner(dir, effective_uid())?;
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

/// The refusal of [`prepare_data_dir`] for a process running as `uid` (root is 0): a data
/// directory that exists and belongs to another user is not touched by root.
pub fn refuse_foreign_owner(dir: &Path, uid: Option<u32>) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let Ok(meta) = std::fs::metadata(dir) else {
            return Ok(());
        };
        if uid == Some(0) && meta.uid() != 0 {
            let owner = user_name(meta.uid()).unwrap_or_else(|| meta.uid().to_string());
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "{} belongs to user {owner}, and this command runs as root: files it made \
                     there would be root's, which the service could not read. Run it as that \
                     user instead: `sudo -u {owner} gatehouse ...` (or `runuser -u {owner} -- \
                     gatehouse ...`)",
                    dir.display()
                ),
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = (dir, uid);
    Ok(())
}

/// This process's effective user id, read from `/proc/self/status` (no `unsafe` call);
/// `None` where there is no such file (not Linux).
pub fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    // Real, effective, saved, filesystem.
    line.split_whitespace().nth(2)?.parse().ok()
}

/// The name `/etc/passwd` gives `uid`, if any.
fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id: u32 = fields.nth(1)?.parse().ok()?;
        (id == uid).then(|| name.to_owned())
    })
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

    #[test]
    fn root_refuses_a_data_directory_another_user_owns() {
        use std::os::unix::fs::MetadataExt;
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        std::fs::create_dir(&data).unwrap();
        if effective_uid() == Some(0) {
            // Running as root: hand the directory to `nobody`, as a package hands
            // /var/lib/gatehouse to its service user.
            std::os::unix::fs::chown(&data, Some(65534), Some(65534)).unwrap();
        }
        let owner = std::fs::metadata(&data).unwrap().uid();
        assert_ne!(owner, 0);
        let e = refuse_foreign_owner(&data, Some(0))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("sudo -u ") && e.contains(&data.display().to_string()),
            "{e}"
        );
        // Its owner, and root on root's own or a missing directory, go ahead.
        refuse_foreign_owner(&data, Some(owner)).unwrap();
        refuse_foreign_owner(&data.join("missing"), Some(0)).unwrap();
        refuse_foreign_owner(&data, None).unwrap();
    }
}
