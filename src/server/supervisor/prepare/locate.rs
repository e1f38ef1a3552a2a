//! Finding the llama-server binary: the configured path (flag, `CORRAL_LLAMA_SERVER` or the
//! Settings page), else `llama-server` on PATH; and vetting one the Settings page named, when it
//! is saved and again before every run (`vet`).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub const BINARY_NAME: &str = "llama-server";

/// The binary to run, or a sentence saying why there is none.
pub fn find(
    configured: Option<&Path>,
    path_var: Option<&std::ffi::OsStr>,
) -> Result<PathBuf, String> {
    if let Some(path) = configured {
        return if is_executable(path) {
            Ok(path.to_path_buf())
        } else {
            Err(format!(
                "the configured llama-server {} is not an executable file",
                path.display()
            ))
        };
    }
    path_var
        .into_iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(BINARY_NAME))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| {
            "no llama-server found: set CORRAL_LLAMA_SERVER (or --llama-server) to its path, or put \
             it on PATH; scripts/llama-server builds one"
                .to_string()
        })
}

/// Vets a binary named on the Settings page, which Corral runs for every model (so a page that
/// can name it could otherwise make Corral run any program): its real path (links followed)
/// names an executable file called `llama-server` that only its owner (this user or root) can
/// change, in a folder no one else can change, under folders no one else can rename things in
/// (owned by this user or root, and not writable by others unless sticky, as `/tmp` is).
/// Answers the real path: that is what is stored and run, never the link.
pub fn vet(path: &Path) -> Result<PathBuf, String> {
    let real = path
        .canonicalize()
        .map_err(|e| format!("cannot find it: {e}"))?;
    if real.file_name().and_then(|n| n.to_str()) != Some(BINARY_NAME) {
        return Err(format!("must name a file called {BINARY_NAME}"));
    }
    let metadata = std::fs::metadata(&real).map_err(|e| format!("cannot read it: {e}"))?;
    if !metadata.is_file() || metadata.permissions().mode() & 0o111 == 0 {
        return Err("is not an executable file".into());
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let owned = |meta: &std::fs::Metadata| meta.uid() == me || meta.uid() == 0;
    let others_write = |meta: &std::fs::Metadata| meta.permissions().mode() & 0o022 != 0;
    let sticky = |meta: &std::fs::Metadata| meta.permissions().mode() & 0o1000 != 0;
    let mut folders = real.ancestors().skip(1);
    for (what, meta) in [
        ("it", Some(metadata)),
        (
            "its folder",
            folders.next().and_then(|d| std::fs::metadata(d).ok()),
        ),
    ] {
        let Some(meta) = meta else { continue };
        if !owned(&meta) {
            return Err(format!("{what} must belong to this user or root"));
        }
        if others_write(&meta) {
            return Err(format!("{what} must not be writable by other users"));
        }
    }
    for folder in folders {
        let meta = std::fs::metadata(folder)
            .map_err(|e| format!("cannot read {}: {e}", folder.display()))?;
        if !owned(&meta) || (others_write(&meta) && !sticky(&meta)) {
            return Err(format!(
                "{} above it must belong to this user or root and not be writable by other \
                 users (unless sticky, as /tmp is)",
                folder.display()
            ));
        }
    }
    Ok(real)
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn executable(dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn the_configured_binary_wins_over_path() {
        let dir = tempfile::tempdir().unwrap();
        let configured = executable(dir.path(), "my-server");
        let on_path = tempfile::tempdir().unwrap();
        executable(on_path.path(), BINARY_NAME);
        let found = find(Some(&configured), Some(on_path.path().as_os_str()));
        assert_eq!(found, Ok(configured));
    }

    #[test]
    fn path_is_searched_in_order_for_an_executable() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::write(a.path().join(BINARY_NAME), "not executable").unwrap();
        let wanted = executable(b.path(), BINARY_NAME);
        let path = std::env::join_paths([a.path(), b.path()]).unwrap();
        assert_eq!(find(None, Some(&path)), Ok(wanted));
    }

    #[test]
    fn a_vetted_binary_is_its_real_path_and_a_link_into_a_shared_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("bin");
        std::fs::create_dir(&home).unwrap();
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o755)).unwrap();
        let real = executable(&home, BINARY_NAME);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert_eq!(vet(&link), Ok(real.canonicalize().unwrap()));
        let shared = dir.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
        let planted = executable(&shared, BINARY_NAME);
        let error = vet(&planted).unwrap_err();
        assert!(error.contains("folder must not be writable"), "{error}");
        // The link swapped to the planted file later: the next vet (before a run) refuses it.
        std::fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink(&planted, &link).unwrap();
        assert!(vet(&link).is_err());
        let wrong_name = executable(&home, "other");
        assert!(
            vet(&wrong_name)
                .unwrap_err()
                .contains("called llama-server")
        );
    }

    #[test]
    fn no_binary_anywhere_says_how_to_get_one() {
        let empty = tempfile::tempdir().unwrap();
        let error = find(None, Some(empty.path().as_os_str())).unwrap_err();
        assert!(error.contains("CORRAL_LLAMA_SERVER"), "{error}");
        let missing = empty.path().join("nope");
        let error = find(Some(&missing), None).unwrap_err();
        assert!(error.contains("not an executable"), "{error}");
    }
}
