//! Every file a model's settings name (the model, LoRA adapters, control vectors, the draft
//! model, the projector) is checked before a start takes any lock: it must be a regular GGUF
//! file, read within a deadline. A FIFO, a device or a hung network mount then costs one
//! refused request, never a blocked start or stop of another model.

use std::path::PathBuf;
use std::time::Duration;

use crate::domain::{FieldError, Model, Rule};
use crate::server::gguf::magic::{self, FileCheck};
use crate::server::supervisor::args::ModelConfig;

/// How long reading the start of one file may take.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A setting that names a file, and the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedFile {
    /// `path`, `lora.lora[0].path`, `multimodal.mmproj`...
    pub setting: String,
    pub path: String,
}

/// The outcome for one file; `None` when it could not be read in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub file: NamedFile,
    pub check: Option<FileCheck>,
}

/// Every file the model's settings name, the model's own first.
pub fn named_files(model: &Model, config: &ModelConfig) -> Vec<NamedFile> {
    let mut files = vec![NamedFile {
        setting: "path".into(),
        path: model.spec.path.clone(),
    }];
    for group in config.groups() {
        files.extend(
            group
                .named_files()
                .into_iter()
                .map(|(setting, path)| NamedFile { setting, path }),
        );
    }
    files
}

/// Checks each file off the async threads, each within `READ_TIMEOUT`. A read that does not
/// finish leaves its thread behind, which is the price of never waiting on it.
pub async fn check_all(files: Vec<NamedFile>) -> Vec<Checked> {
    let mut out = Vec::with_capacity(files.len());
    for file in files {
        let path = PathBuf::from(&file.path);
        let read = tokio::task::spawn_blocking(move || magic::check(&path));
        let check = match tokio::time::timeout(READ_TIMEOUT, read).await {
            Ok(Ok(check)) => Some(check),
            Ok(Err(_)) => Some(FileCheck::Unreadable),
            Err(_) => None,
        };
        out.push(Checked { file, check });
    }
    out
}

/// The errors a person must fix before a start can even be tried: files other than the model's
/// that are not GGUF, and any file that is not a regular file or hangs. (A missing or foreign
/// model file is recorded as a failed start instead, as it always was.)
pub fn refusals(checked: &[Checked]) -> Vec<FieldError> {
    checked
        .iter()
        .filter_map(|c| {
            let model_file = c.file.setting == "path";
            let message = match c.check {
                Some(FileCheck::Gguf) => return None,
                Some(FileCheck::Missing | FileCheck::NotGguf | FileCheck::Unreadable)
                    if model_file =>
                {
                    return None;
                }
                Some(FileCheck::NotRegular) => {
                    format!("{} is not a regular file", c.file.path)
                }
                Some(FileCheck::Missing) => format!("{} is not there", c.file.path),
                Some(FileCheck::NotGguf) => {
                    format!("{} does not start with GGUF", c.file.path)
                }
                Some(FileCheck::Unreadable) => format!("{} cannot be read", c.file.path),
                None => format!(
                    "{} could not be read within {} s",
                    c.file.path,
                    READ_TIMEOUT.as_secs()
                ),
            };
            Some(FieldError::new(
                c.file.setting.clone(),
                Rule::GgufFile,
                message,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::config::ConfigGroupKind;
    use serde_json::json;

    #[test]
    fn every_setting_that_names_a_file_is_listed_but_an_automatic_projector() {
        let spec = crate::domain::ModelSpec::parse_new(&json!({"name": "m", "path": "/m/a.gguf"}))
            .unwrap();
        let model = Model {
            id: 1,
            spec,
            size_bytes: None,
            status: crate::domain::ModelStatus::Stopped,
            status_reason: None,
            created_at: 0,
            updated_at: 0,
        };
        let config = ModelConfig::from_groups([
            ConfigGroupKind::Lora
                .parse_config(&json!({
                    "lora": [{"path": "/l/a.gguf"}],
                    "control_vectors": [{"path": "/c/v.gguf", "scale": 0.5}],
                    "draft_model": "/d/small.gguf"
                }))
                .unwrap(),
            ConfigGroupKind::Multimodal
                .parse_config(&json!({"mmproj": "auto"}))
                .unwrap(),
        ]);
        let settings: Vec<String> = named_files(&model, &config)
            .into_iter()
            .map(|f| f.setting)
            .collect();
        assert_eq!(
            settings,
            [
                "path",
                "lora.lora[0].path",
                "lora.control_vectors[0].path",
                "lora.draft_model"
            ]
        );
    }

    #[test]
    fn only_problems_a_start_cannot_record_are_refusals() {
        let file = |setting: &str| NamedFile {
            setting: setting.into(),
            path: "/x.gguf".into(),
        };
        let checked = [
            Checked {
                file: file("path"),
                check: Some(FileCheck::Missing),
            },
            Checked {
                file: file("lora.lora[0].path"),
                check: Some(FileCheck::Missing),
            },
            Checked {
                file: file("multimodal.mmproj"),
                check: Some(FileCheck::Gguf),
            },
            Checked {
                file: file("path"),
                check: Some(FileCheck::NotRegular),
            },
            Checked {
                file: file("lora.draft_model"),
                check: None,
            },
        ];
        let fields: Vec<(String, String)> = refusals(&checked)
            .into_iter()
            .map(|e| (e.field, e.message))
            .collect();
        assert_eq!(
            fields,
            [
                (
                    "lora.lora[0].path".to_string(),
                    "/x.gguf is not there".to_string()
                ),
                (
                    "path".to_string(),
                    "/x.gguf is not a regular file".to_string()
                ),
                (
                    "lora.draft_model".to_string(),
                    "/x.gguf could not be read within 5 s".to_string()
                ),
            ]
        );
    }
}
