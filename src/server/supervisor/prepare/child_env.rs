//! What a model server is given besides its arguments: a small environment, and a key of its
//! own. llama-server reads a setting from any `LLAMA_ARG_*` variable and Corral's own
//! `CORRAL_*` variables are none of its business, so only what a GPU runtime needs is passed.
//! The key makes every endpoint but `/health` answer only Corral: without it any web page could
//! run completions on the model's port or read other people's prompts from `/slots`. Each run
//! gets an empty home of its own (`ChildHomes`): llama-server applies
//! `~/.config/llama.cpp/config.ini` before its command line, which would let that file add
//! flags the extra-arguments review never saw.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::domain::AppError;

/// The variable llama-server reads its API key from (kept out of the command line, which every
/// local user can read in /proc).
pub const API_KEY_VAR: &str = "LLAMA_API_KEY";

/// Passed on unchanged (not `HOME`: each run has its own).
const PASSED: &[&str] = &["PATH", "LANG", "TMPDIR", "LD_LIBRARY_PATH"];
/// Passed on by prefix: CUDA, ROCm/HIP (HSA_OVERRIDE_GFX_VERSION is a common ROCm need), ggml.
const PASSED_PREFIXES: &[&str] = &["CUDA_", "HIP_", "ROCR_", "HSA_", "GGML_"];

/// The environment of a model server: the passed variables of `parent`, the model's own
/// (`gpu.env`), its empty home (also its configuration folder), and its key.
pub fn for_run(
    parent: impl IntoIterator<Item = (OsString, OsString)>,
    home: &Path,
    key: &str,
    model_vars: Vec<(String, String)>,
) -> Vec<(OsString, OsString)> {
    let mut env = runtime_only(parent);
    set_model_vars(&mut env, model_vars);
    env.push(("HOME".into(), home.into()));
    env.push(("XDG_CONFIG_HOME".into(), home.into()));
    env.push((API_KEY_VAR.into(), key.into()));
    env
}

/// Adds the model's own variables (`gpu.env`, checked against its allow-list when saved; a
/// name outside it is skipped here too), each replacing one passed on.
fn set_model_vars(env: &mut Vec<(OsString, OsString)>, vars: Vec<(String, String)>) {
    for (name, value) in vars {
        if crate::domain::config::gpu::env_refusal(&name).is_some() {
            continue;
        }
        env.retain(|(passed, _)| passed.as_os_str() != OsStr::new(&name));
        env.push((name.into(), value.into()));
    }
}

/// Empty, private homes for model servers: a folder of Corral's own (mode 0700, named for this
/// process and a random word in the temporary folder, made with `mkdir`, which never follows a
/// link planted there) with one folder per model in it, emptied before each of its runs (a
/// model has one run at a time). Removed with the supervisor; one left by a Corral that was
/// killed is removed by the next.
pub struct ChildHomes {
    root: PathBuf,
}

/// What every root's name starts with, then `<pid>-<random>`.
const ROOT_PREFIX: &str = "corral-homes-";

impl ChildHomes {
    pub fn create() -> std::io::Result<ChildHomes> {
        let temp = std::env::temp_dir();
        remove_orphans(&temp);
        let mut attempts = 0;
        loop {
            let mut bytes = [0u8; 8];
            getrandom::fill(&mut bytes).map_err(std::io::Error::other)?;
            let word: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            let root = temp.join(format!("{ROOT_PREFIX}{}-{word}", std::process::id()));
            match private_folder(&root) {
                Ok(()) => return Ok(ChildHomes { root }),
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists && attempts < 8 => {
                    attempts += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// The model's home, new and empty for the run about to start.
    pub fn fresh(&self, model_id: i64) -> std::io::Result<PathBuf> {
        let home = self.root.join(model_id.to_string());
        match std::fs::remove_dir_all(&home) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
        private_folder(&home)?;
        Ok(home)
    }
}

impl Drop for ChildHomes {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Removes the roots of this user's Corrals that are gone (killed before they could).
fn remove_orphans(temp: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(temp) else {
        return;
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(ROOT_PREFIX))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let ours = entry.metadata().is_ok_and(|m| m.is_dir() && m.uid() == me);
        if ours && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn private_folder(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().mode(0o700).create(path)
}

/// The passed variables of `parent` alone (for running `llama-server --help`).
pub fn runtime_only(
    parent: impl IntoIterator<Item = (OsString, OsString)>,
) -> Vec<(OsString, OsString)> {
    parent
        .into_iter()
        .filter(|(name, _)| passed(name))
        .collect()
}

fn passed(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    PASSED.contains(&name) || PASSED_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// A new random key: 32 bytes from the operating system, as hex.
pub fn new_key() -> Result<String, AppError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| AppError::internal(format!("no randomness for a run key: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The key a running server was started with, read from its environment (a server adopted from
/// an earlier Corral). Only the same user can read it.
pub fn key_of(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{API_KEY_VAR}=");
    raw.split(|b| *b == 0)
        .find_map(|entry| entry.strip_prefix(prefix.as_bytes()))
        .map(|key| OsStr::from_bytes(key).to_string_lossy().into_owned())
        .filter(|key| !key.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    #[test]
    fn only_runtime_variables_and_the_key_are_passed() {
        let env = for_run(
            vars(&[
                ("PATH", "/usr/bin"),
                ("HOME", "/home/a"),
                ("CORRAL_DATA_DIR", "/secret"),
                ("LLAMA_ARG_MCP_SERVERS_JSON", "{}"),
                ("LLAMA_API_KEY", "inherited"),
                ("CUDA_VISIBLE_DEVICES", "0"),
                ("HIP_VISIBLE_DEVICES", "1"),
                ("GGML_CUDA_NO_PINNED", "1"),
                ("AWS_SECRET_ACCESS_KEY", "x"),
                ("LD_PRELOAD", "/tmp/evil.so"),
                ("XDG_CONFIG_HOME", "/home/a/.config"),
            ]),
            Path::new("/tmp/corral-homes-x/1"),
            "k3y",
            // The model's own: one replaces a passed one, one outside the allow-list is not set.
            vec![
                ("CUDA_VISIBLE_DEVICES".into(), "3".into()),
                ("LLAMA_ARG_PORT".into(), "1".into()),
            ],
        );
        let names: Vec<&str> = env.iter().map(|(k, _)| k.to_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "PATH",
                "HIP_VISIBLE_DEVICES",
                "GGML_CUDA_NO_PINNED",
                "CUDA_VISIBLE_DEVICES",
                "HOME",
                "XDG_CONFIG_HOME",
                "LLAMA_API_KEY"
            ]
        );
        assert_eq!(env[3].1, "3", "the model's own value");
        assert_eq!(env[4].1, "/tmp/corral-homes-x/1", "a home of its own");
        assert_eq!(
            env.last().unwrap().1,
            "k3y",
            "Corral's key, not an inherited one"
        );
    }

    #[test]
    fn each_run_gets_an_empty_private_home_and_all_go_with_the_supervisor() {
        use std::os::unix::fs::PermissionsExt;
        let homes = ChildHomes::create().unwrap();
        let (a, b) = (homes.fresh(1).unwrap(), homes.fresh(2).unwrap());
        assert_ne!(a, b);
        for home in [&a, &b, &homes.root] {
            let meta = std::fs::metadata(home).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o700);
        }
        // Whatever a run left there is gone before the model's next run.
        std::fs::create_dir_all(a.join(".config/llama.cpp")).unwrap();
        assert_eq!(homes.fresh(1).unwrap(), a);
        assert_eq!(std::fs::read_dir(&a).unwrap().count(), 0);
        let root = homes.root.clone();
        drop(homes);
        assert!(!root.exists());
    }

    #[test]
    fn a_root_left_by_a_corral_that_is_gone_is_removed_by_the_next() {
        let temp = tempfile::tempdir().unwrap();
        // No process has pid 4194304 (above Linux's largest).
        let orphan = temp.path().join(format!("{ROOT_PREFIX}4194304-ab"));
        let live = temp
            .path()
            .join(format!("{ROOT_PREFIX}{}-cd", std::process::id()));
        let other = temp.path().join("corral-homes-notapid");
        for folder in [&orphan, &live, &other] {
            std::fs::create_dir_all(folder.join("1")).unwrap();
        }
        remove_orphans(temp.path());
        assert!(!orphan.exists());
        assert!(live.exists() && other.exists());
    }

    #[test]
    fn keys_are_long_random_and_different() {
        let a = new_key().unwrap();
        let b = new_key().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn a_process_without_a_key_has_none() {
        assert_eq!(key_of(std::process::id()), None);
    }
}
