//! Finding the llama-server binary: the configured path (flag or `CORRAL_LLAMA_SERVER`), else
//! `llama-server` on PATH.

use std::os::unix::fs::PermissionsExt;
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
    fn no_binary_anywhere_says_how_to_get_one() {
        let empty = tempfile::tempdir().unwrap();
        let error = find(None, Some(empty.path().as_os_str())).unwrap_err();
        assert!(error.contains("CORRAL_LLAMA_SERVER"), "{error}");
        let missing = empty.path().join("nope");
        let error = find(Some(&missing), None).unwrap_err();
        assert!(error.contains("not an executable"), "{error}");
    }
}
