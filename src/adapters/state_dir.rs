//! The state directory's safety: private to the user Guichet runs as, whatever the umask, and
//! never written by another user (a root-owned file in it would stop the daemon later).

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Files Guichet creates are readable by its own user only (0600, directories 0700).
pub fn restrict_new_files() {
    // SAFETY: umask only swaps the process's file-creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StateDirError {
    #[error("state directory {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "state directory {path} belongs to user {owner}, not to {me}: run this as {owner} \
         (e.g. `sudo -u {owner} guichet …`) so that every file in it stays that user's"
    )]
    OwnedByOther {
        path: PathBuf,
        owner: String,
        me: String,
    },
}

/// Creates the state directory (0700) or checks that the current user owns it, and takes away
/// any access that group and others had to it and to the database files.
pub fn prepare(dir: &Path) -> Result<(), StateDirError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |error| StateDirError::Io { path, error }
    };
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io(dir))?;
    }
    let metadata = std::fs::metadata(dir).map_err(io(dir))?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if metadata.uid() != me {
        return Err(StateDirError::OwnedByOther {
            path: dir.to_path_buf(),
            owner: user_name(metadata.uid()),
            me: user_name(me),
        });
    }
    make_private(dir, &metadata, 0o700).map_err(io(dir))?;
    for name in [
        "guichet.sqlite3",
        "guichet.sqlite3-wal",
        "guichet.sqlite3-shm",
    ] {
        let path = dir.join(name);
        if let Ok(metadata) = std::fs::metadata(&path) {
            make_private(&path, &metadata, 0o600).map_err(io(&path))?;
        }
    }
    Ok(())
}

fn make_private(path: &Path, metadata: &std::fs::Metadata, mode: u32) -> std::io::Result<()> {
    if metadata.mode() & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// The user's name from the password file, or `uid N` when it has none.
fn user_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| {
            passwd.lines().find_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                let id = fields.nth(1)?.parse::<u32>().ok()?;
                (id == uid).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| format!("uid {uid}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_state_directory_is_private_and_loosened_ones_are_tightened() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("state");
        prepare(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.join("guichet.sqlite3"), b"").unwrap();
        std::fs::set_permissions(
            dir.join("guichet.sqlite3"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        prepare(&dir).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        assert_eq!(
            std::fs::metadata(dir.join("guichet.sqlite3"))
                .unwrap()
                .mode()
                & 0o777,
            0o600
        );
    }

    #[test]
    fn a_directory_of_another_user_is_refused_with_who_to_run_as() {
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return; // Only root can give a directory away; CI runs as root.
        }
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("state");
        std::fs::create_dir(&dir).unwrap();
        std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
        let error = prepare(&dir).unwrap_err().to_string();
        let owner = user_name(65534);
        assert!(
            error.contains(&format!("belongs to user {owner}, not to root"))
                && error.contains(&format!("sudo -u {owner} guichet")),
            "{error}"
        );
    }

    #[test]
    fn root_is_named() {
        assert_eq!(user_name(0), "root");
    }
}
