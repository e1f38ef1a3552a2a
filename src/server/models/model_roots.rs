//! The model folders (`--model-roots`): when set, every setting that names a file (the model,
//! projector, LoRA adapters, control vectors, draft model) must lead, after following symlinks,
//! to a place inside one of them. Beyond loopback they are required, so a key holder cannot make
//! Corral stat or load any file the service user can read. Checked when a setting is saved and
//! again before each start (a symlink may have been re-pointed meanwhile).

use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::domain::{AppError, FieldError, Rule};

/// How long resolving one path may take (a hung network mount must not hold a request).
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// The folders files must be inside; none means any file (a loopback Corral without the flag).
#[derive(Debug, Clone, Default)]
pub struct ModelRoots(Arc<[PathBuf]>);

impl ModelRoots {
    /// Resolves each folder once, at start-up: it must exist and be a directory.
    pub fn new(folders: &[PathBuf]) -> Result<ModelRoots, String> {
        let mut roots = Vec::with_capacity(folders.len());
        for folder in folders {
            let resolved = folder
                .canonicalize()
                .map_err(|e| format!("model folder {}: {e}", folder.display()))?;
            if !resolved.is_dir() {
                return Err(format!(
                    "model folder {} is not a directory",
                    folder.display()
                ));
            }
            roots.push(resolved);
        }
        Ok(ModelRoots(roots.into()))
    }

    /// True when files may be anywhere.
    pub fn is_open(&self) -> bool {
        self.0.is_empty()
    }

    /// True when `folder` (already resolved) lies inside a root, or there are no roots.
    pub fn covers(&self, folder: &Path) -> bool {
        self.is_open() || self.0.iter().any(|root| folder.starts_with(root))
    }

    /// A folder to watch for models (`--models-dir`, the Settings page): a real folder, inside
    /// the roots when those are set. Answers the resolved folder.
    pub fn models_folder(&self, dir: &Path) -> Result<PathBuf, String> {
        let real = dir
            .canonicalize()
            .map_err(|e| format!("models folder {}: {e}", dir.display()))?;
        if !real.is_dir() {
            return Err(format!("models folder {} is not a folder", dir.display()));
        }
        if !self.covers(&real) {
            return Err(format!(
                "models folder {} is outside the model roots ({})",
                dir.display(),
                self.describe()
            ));
        }
        Ok(real)
    }

    pub fn describe(&self) -> String {
        self.0
            .iter()
            .map(|root| root.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Every (setting, path) that resolves outside the roots, as a field error naming the
    /// setting and the `model_roots` rule; nothing when all are inside (or there are no roots).
    pub async fn check(&self, files: Vec<(String, String)>) -> Result<(), AppError> {
        if self.is_open() {
            return Ok(());
        }
        let mut errors = Vec::new();
        for (setting, path) in files {
            if let Some(error) = self.check_one(&setting, &path).await {
                errors.push(error);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(AppError::Invalid { errors })
        }
    }

    async fn check_one(&self, setting: &str, path: &str) -> Option<FieldError> {
        let roots = self.0.clone();
        let owned = PathBuf::from(path);
        let resolving = tokio::task::spawn_blocking(move || {
            resolve(&owned).map(|real| roots.iter().any(|root| real.starts_with(root)))
        });
        let message = match tokio::time::timeout(RESOLVE_TIMEOUT, resolving).await {
            Ok(Ok(Ok(true))) => return None,
            Ok(Ok(Ok(false))) => format!(
                "{path} is outside the model folders ({}), after following symlinks",
                self.describe()
            ),
            Ok(Ok(Err(error))) => format!("{path} cannot be resolved: {error}"),
            Ok(Err(_)) => format!("{path} cannot be resolved"),
            Err(_) => format!(
                "{path} could not be resolved within {} s",
                RESOLVE_TIMEOUT.as_secs()
            ),
        };
        Some(FieldError::new(setting, Rule::ModelRoots, message))
    }
}

/// Where `path` really leads: its longest existing ancestor with symlinks followed, then the
/// rest as written (a model may be registered before its download has finished). `..` and `.`
/// are refused in the part that does not exist yet, where no symlink can be followed.
fn resolve(path: &Path) -> io::Result<PathBuf> {
    if !path.is_absolute() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not an absolute path",
        ));
    }
    let mut existing = path;
    let mut missing = Vec::new();
    loop {
        match existing.canonicalize() {
            Ok(real) => {
                let mut real = real;
                for part in missing.iter().rev() {
                    real.push(part);
                }
                return Ok(real);
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                let (Some(parent), Some(Component::Normal(name))) =
                    (existing.parent(), existing.components().next_back())
                else {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "names a missing folder through . or ..",
                    ));
                };
                missing.push(name.to_os_string());
                existing = parent;
            }
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_resolves_through_its_existing_folder() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().canonicalize().unwrap();
        assert_eq!(
            resolve(&dir.path().join("later/model.gguf")).unwrap(),
            real.join("later/model.gguf")
        );
        assert!(resolve(&dir.path().join("later/../../x.gguf")).is_err());
        assert!(resolve(Path::new("relative.gguf")).is_err());
    }

    #[tokio::test]
    async fn a_symlink_out_of_the_roots_is_refused_and_one_within_passes() {
        let inside = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.gguf"), b"GGUF").unwrap();
        std::fs::write(inside.path().join("a.gguf"), b"GGUF").unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.gguf"),
            inside.path().join("link.gguf"),
        )
        .unwrap();
        std::os::unix::fs::symlink(inside.path().join("a.gguf"), inside.path().join("b.gguf"))
            .unwrap();
        let roots = ModelRoots::new(&[inside.path().to_path_buf()]).unwrap();
        let at = |name: &str| inside.path().join(name).to_string_lossy().into_owned();
        let (link, a, b) = (at("link.gguf"), at("a.gguf"), at("b.gguf"));
        let escape = format!("{}/../x.gguf", inside.path().display());
        let Err(AppError::Invalid { errors }) = roots
            .check(vec![
                ("path".into(), link.clone()),
                ("lora.lora[0].path".into(), a),
                ("lora.draft_model".into(), b),
                ("multimodal.mmproj".into(), escape),
            ])
            .await
        else {
            panic!("a file outside the roots passed");
        };
        let named: Vec<(&str, Rule)> = errors.iter().map(|e| (e.field.as_str(), e.rule)).collect();
        assert_eq!(
            named,
            [
                ("path", Rule::ModelRoots),
                ("multimodal.mmproj", Rule::ModelRoots)
            ]
        );
        let anywhere = ModelRoots::default();
        assert!(anywhere.check(vec![("path".into(), link)]).await.is_ok());
    }

    #[test]
    fn a_root_that_is_not_a_folder_is_refused_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        assert!(ModelRoots::new(&[file]).is_err());
        assert!(ModelRoots::new(&[dir.path().join("missing")]).is_err());
    }
}
