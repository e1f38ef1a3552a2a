//! One walk of the model folders: every `.gguf` file (the first part only of a split model),
//! symlinked folders not followed, with caps on what one walk visits.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use walkdir::WalkDir;

use crate::domain::gguf::FileReport;
use crate::server::gguf::reader::read_model;

/// Entries one walk visits at most, and files it lists at most.
const MAX_VISITED: usize = 200_000;
const MAX_FILES: usize = 10_000;
/// Folders deep at most below a model folder (Hugging Face caches nest about five).
const MAX_DEPTH: usize = 10;
/// Bytes the reports of one walk may hold in all (a real header's report is about a KiB; a
/// hostile one is bounded by the reader, and this bounds many of them together).
const MAX_REPORT_BYTES: usize = 32 << 20;

/// A file as last seen, with what its header said then.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub size: u64,
    pub modified: Option<SystemTime>,
    pub report: FileReport,
}

/// True for the files a folder lists as models: `.gguf`, and of a split model only part 1.
pub fn is_listed(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let lower = name.to_ascii_lowercase();
    let Some(stem) = lower.strip_suffix(".gguf") else {
        return false;
    };
    // `-0000N-of-0000M`: only N = 1.
    match stem.rsplit_once("-of-") {
        Some((before, count)) if count.len() == 5 && count.bytes().all(|b| b.is_ascii_digit()) => {
            before.ends_with("-00001")
        }
        _ => true,
    }
}

/// Walks `folders`; a file unchanged since `before` keeps its report without being read again.
pub fn scan(folders: &[PathBuf], before: &BTreeMap<PathBuf, Seen>) -> BTreeMap<PathBuf, Seen> {
    let mut found = BTreeMap::new();
    let mut visited = 0usize;
    let mut kept_bytes = 0usize;
    'folders: for folder in folders {
        for entry in WalkDir::new(folder)
            .follow_links(false)
            .max_depth(MAX_DEPTH)
        {
            visited += 1;
            if visited > MAX_VISITED || found.len() >= MAX_FILES {
                tracing::warn!(
                    visited,
                    files = found.len(),
                    "the model folders hold more than one walk looks at"
                );
                break 'folders;
            }
            let Ok(entry) = entry else { continue };
            let path = entry.path();
            if entry.file_type().is_dir() || !is_listed(path) {
                continue;
            }
            // A symlinked file is followed (Hugging Face caches are links into blobs).
            let Ok(meta) = std::fs::metadata(path) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let modified = meta.modified().ok();
            let mut report = match before.get(path) {
                Some(seen) if seen.size == meta.len() && seen.modified == modified => {
                    seen.report.clone()
                }
                _ => match read_model(path) {
                    Ok(metadata) => FileReport::Read(Box::new(metadata)),
                    Err(error) => FileReport::Unreadable(error.to_string()),
                },
            };
            if kept_bytes + report.retained_bytes() > MAX_REPORT_BYTES {
                report = FileReport::Unreadable(format!(
                    "not kept: the headers of the model folders' files take {} MiB already",
                    MAX_REPORT_BYTES >> 20
                ));
            }
            kept_bytes += report.retained_bytes();
            found.insert(
                path.to_path_buf(),
                Seen {
                    size: meta.len(),
                    modified,
                    report,
                },
            );
        }
    }
    found
}

/// Download caches present on this machine: Hugging Face's hub and llama.cpp's.
pub fn offered_caches() -> Vec<PathBuf> {
    let home = dirs::home_dir();
    let cache = dirs::cache_dir();
    let hugging_face = std::env::var_os("HF_HUB_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HF_HOME").map(|h| PathBuf::from(h).join("hub")))
        .or_else(|| home.as_ref().map(|h| h.join(".cache/huggingface/hub")));
    let llama_cpp = std::env::var_os("LLAMA_CACHE")
        .map(PathBuf::from)
        .or_else(|| cache.map(|c| c.join("llama.cpp")));
    [hugging_face, llama_cpp]
        .into_iter()
        .flatten()
        .filter(|dir| dir.is_dir())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_gguf_files_and_the_first_part_of_a_split_are_listed() {
        for (name, listed) in [
            ("/m/a.gguf", true),
            ("/m/A.GGUF", true),
            ("/m/a.bin", false),
            ("/m/big-00001-of-00003.gguf", true),
            ("/m/big-00002-of-00003.gguf", false),
            ("/m/odd-of-x.gguf", true),
        ] {
            assert_eq!(is_listed(Path::new(name)), listed, "{name}");
        }
    }
}
