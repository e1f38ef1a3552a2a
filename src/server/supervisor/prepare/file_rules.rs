//! Every file a model's settings name (the model, LoRA adapters, control vectors, the draft
//! model, the projector) is checked before a start takes any lock: it must be a regular GGUF
//! file, read within a deadline. A FIFO, a device or a hung network mount then costs one
//! refused request, never a blocked start or stop of another model. Each file is opened once:
//! the open file is checked against the model roots again (where it really is, not where its
//! path now leads) and handed to llama-server as `/proc/self/fd/N`, so a symlink swapped after
//! the check cannot change what runs.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::Duration;

use std::collections::HashMap;

use crate::domain::{FieldError, Model, Rule};
use crate::server::gguf::magic::{self, FileCheck};
use crate::server::gguf::reader::split_part;
use crate::server::models::model_roots::ModelRoots;
use crate::server::supervisor::prepare::args::ModelConfig;

/// The child's descriptor of the first file handed to it.
pub const FIRST_PASSED_FD: i32 = 3;

/// The path a child opens to reach the `index`th file handed to it.
pub fn passed_path(index: usize) -> String {
    format!("/proc/self/fd/{}", FIRST_PASSED_FD as usize + index)
}

/// How long reading the start of one file may take.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A setting that names a file, and the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedFile {
    /// `path`, `lora.lora[0].path`, `multimodal.mmproj`...
    pub setting: String,
    pub path: String,
}

/// The outcome for one file; `None` when it could not be read in time. A regular file stays
/// open (`opened`).
#[derive(Debug)]
pub struct Checked {
    pub file: NamedFile,
    pub check: Option<FileCheck>,
    pub opened: Option<File>,
}

impl Checked {
    /// Where the open file really is (its path as the kernel knows it now).
    pub fn real_path(&self) -> Option<PathBuf> {
        let file = self.opened.as_ref()?;
        std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
    }
}

/// True for the first part of a split file (`-00001-of-00003.gguf`): llama-server finds the
/// other parts by that name.
pub fn names_its_parts(path: &str) -> bool {
    let Some(stem) = path.strip_suffix(".gguf") else {
        return false;
    };
    stem.rsplit_once("-of-").is_some_and(|(before, count)| {
        count.len() == 5 && count.bytes().all(|b| b.is_ascii_digit()) && before.ends_with("-00001")
    })
}

/// Files whose open copy is outside the model roots: the path led inside when it was checked,
/// and elsewhere when it was opened (a symlink swapped in between).
pub fn outside_roots(files: &[Checked], roots: &ModelRoots) -> Vec<FieldError> {
    if roots.is_open() {
        return Vec::new();
    }
    files
        .iter()
        .filter_map(|checked| {
            let real = checked.real_path()?;
            (!roots.covers(&real)).then(|| {
                FieldError::new(
                    checked.file.setting.clone(),
                    Rule::ModelRoots,
                    format!(
                        "{} led outside the model folders ({}) when it was opened",
                        checked.file.path,
                        real.display()
                    ),
                )
            })
        })
        .collect()
}

/// `named` with the other parts of each split file after it (`-00002-of-00003.gguf`, …, as
/// `<setting> (part N)`): llama-server opens them too, so they are checked and opened like it.
pub fn with_parts(named: Vec<NamedFile>) -> Vec<NamedFile> {
    let mut all = Vec::with_capacity(named.len());
    for file in named {
        let parts = other_parts(&file.path);
        let setting = file.setting.clone();
        all.push(file);
        all.extend(parts.into_iter().map(|(part, path)| NamedFile {
            setting: format!("{setting} (part {part})"),
            path,
        }));
    }
    all
}

/// True for a file `with_parts` added.
fn is_part(setting: &str) -> bool {
    setting.ends_with(')') && setting.contains(" (part ")
}

/// The other parts of a split file whose first part is `path`, numbered from 2.
fn other_parts(path: &str) -> Vec<(u32, String)> {
    if !names_its_parts(path) {
        return Vec::new();
    }
    let count = path
        .strip_suffix(".gguf")
        .and_then(|stem| stem.rsplit_once("-of-"))
        .and_then(|(_, count)| count.parse::<u32>().ok())
        .unwrap_or(0)
        .min(MAX_PARTS);
    (2..=count)
        .filter_map(|part| {
            split_part(std::path::Path::new(path), part, count)
                .map(|p| (part, p.display().to_string()))
        })
        .collect()
}

/// Parts of a split file at most (as the header reader allows).
const MAX_PARTS: u32 = 1024;

/// What a start hands llama-server: the open files (in descriptor order) and, per setting,
/// what to pass instead of the path: `/proc/self/fd/N`; for a split file, a link in `links`
/// (the run's own folder) named as its first part, beside links named as the others, each to
/// its descriptor, since llama-server finds the parts by name.
pub fn handed_on(
    files: Vec<Checked>,
    links: &std::path::Path,
) -> std::io::Result<(Vec<File>, HashMap<String, String>)> {
    let mut open: Vec<File> = Vec::new();
    let mut passed = HashMap::new();
    let mut files = files.into_iter().peekable();
    let mut splits = 0;
    while let Some(checked) = files.next() {
        if is_part(&checked.file.setting) || checked.check != Some(FileCheck::Gguf) {
            continue;
        }
        let Some(file) = checked.opened else {
            continue;
        };
        if !names_its_parts(&checked.file.path) {
            passed.insert(checked.file.setting, passed_path(open.len()));
            open.push(file);
            continue;
        }
        let folder = links.join(splits.to_string());
        splits += 1;
        std::fs::create_dir_all(&folder)?;
        let mut link = |path: &str, file: File| -> std::io::Result<PathBuf> {
            let name = std::path::Path::new(path)
                .file_name()
                .ok_or_else(|| std::io::Error::other(format!("{path} names no file")))?;
            let link = folder.join(name);
            std::os::unix::fs::symlink(passed_path(open.len()), &link)?;
            open.push(file);
            Ok(link)
        };
        let first = link(&checked.file.path, file)?;
        let own = format!("{} (part ", checked.file.setting);
        while let Some(part) = files.next_if(|c| c.file.setting.starts_with(&own)) {
            if let Some(file) = part.opened {
                link(&part.file.path, file)?;
            }
        }
        passed.insert(checked.file.setting, first.display().to_string());
    }
    Ok((open, passed))
}

/// Settings whose llama-server flag splits its value on commas (and, scaled, on `:`): a path
/// holding one would name other files than the one checked.
pub fn separator_refusals(named: &[NamedFile]) -> Vec<FieldError> {
    named
        .iter()
        .filter(|f| {
            f.setting.starts_with("lora.lora[") || f.setting.starts_with("lora.control_vectors[")
        })
        .filter_map(|f| {
            crate::domain::fields::listed_path_problem(&f.path)
                .map(|why| FieldError::new(f.setting.clone(), Rule::Pattern, why))
        })
        .collect()
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
        let read = tokio::task::spawn_blocking(move || magic::open(&path));
        let (check, opened) = match tokio::time::timeout(READ_TIMEOUT, read).await {
            Ok(Ok((check, opened))) => (Some(check), opened),
            Ok(Err(_)) => (Some(FileCheck::Unreadable), None),
            Err(_) => (None, None),
        };
        out.push(Checked {
            file,
            check,
            opened,
        });
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
                opened: None,
            },
            Checked {
                file: file("lora.lora[0].path"),
                check: Some(FileCheck::Missing),
                opened: None,
            },
            Checked {
                file: file("multimodal.mmproj"),
                check: Some(FileCheck::Gguf),
                opened: None,
            },
            Checked {
                file: file("path"),
                check: Some(FileCheck::NotRegular),
                opened: None,
            },
            Checked {
                file: file("lora.draft_model"),
                check: None,
                opened: None,
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
