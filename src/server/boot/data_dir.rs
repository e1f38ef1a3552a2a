//! The data directory: private to its user (0700, files 0600), and used by one Corral at a time.
//! A second Corral on the same directory would reconcile — stop — the first one's models, so the
//! lock is taken before anything else and names the Corral that holds it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why the data directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("cannot create or secure the data directory {0}: {1}")]
    Create(PathBuf, std::io::Error),
    #[error("cannot lock the data directory {0}: {1}")]
    Lock(PathBuf, std::io::Error),
    #[error(
        "another Corral ({holder}) is using the data directory {dir}; stop it first or give this one \
         its own --data-dir"
    )]
    InUse { dir: PathBuf, holder: String },
}

/// Held while Corral runs; the lock goes with the process, however it ends.
#[derive(Debug)]
pub struct InstanceLock {
    file: File,
    path: PathBuf,
}

const LOCK_FILE: &str = "corral.lock";

/// Creates the directory (0700), tightens one that is open to others, and takes the lock.
pub fn claim(dir: &Path) -> Result<InstanceLock, DataDirError> {
    secure(dir)?;
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| DataDirError::Lock(path.clone(), e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(DataDirError::InUse {
                dir: dir.to_path_buf(),
                holder: if holder.is_empty() {
                    "starting up".to_string()
                } else {
                    holder.replace('\n', ", ")
                },
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(DataDirError::Lock(path, e)),
    }
    let lock = InstanceLock { file, path };
    lock.describe(&format!("pid {}", std::process::id()));
    Ok(lock)
}

impl InstanceLock {
    /// Records who holds the lock, for the message a second Corral prints.
    pub fn describe(&self, text: &str) {
        let mut file = &self.file;
        let written = file
            .set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)).map(drop))
            .and_then(|()| file.write_all(format!("{text}\n").as_bytes()));
        if let Err(error) = written {
            tracing::warn!(path = %self.path.display(), %error, "cannot record the lock holder");
        }
    }
}

/// 0700 for the directory, created if needed; an existing one open to others is tightened.
pub fn secure(dir: &Path) -> Result<(), DataDirError> {
    let fail = |e| DataDirError::Create(dir.to_path_buf(), e);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(fail)?;
    let mode = std::fs::metadata(dir).map_err(fail)?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::info!(dir = %dir.display(), "making the data directory private (0700)");
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(fail)?;
    }
    Ok(())
}

/// 0600 for a file Corral keeps (the database and its journal files), if it exists.
pub fn make_private(file: &Path) -> std::io::Result<()> {
    match std::fs::metadata(file) {
        Ok(meta) if meta.permissions().mode() & 0o077 != 0 => {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_claim_on_the_same_directory_is_refused_with_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = claim(&data).unwrap();
        first.describe("pid 42, http://127.0.0.1:3000");
        match claim(&data) {
            Err(DataDirError::InUse { holder, .. }) => {
                assert_eq!(holder, "pid 42, http://127.0.0.1:3000");
            }
            other => panic!("expected InUse, got {other:?}"),
        }
        drop(first);
        assert!(claim(&data).is_ok(), "free again once the first is gone");
    }

    #[test]
    fn the_directory_is_private_even_when_it_existed_open() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        let _lock = claim(&data).unwrap();
        let mode = std::fs::metadata(&data).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let lock_mode = std::fs::metadata(data.join(LOCK_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(lock_mode & 0o777, 0o600);
    }
}
