//! The four bytes every GGUF file starts with: enough to tell a person "this is not a model file"
//! before a process is started.

use std::io::Read;
use std::path::Path;

pub const MAGIC: &[u8; 4] = b"GGUF";

/// What the start of a file says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileCheck {
    Gguf,
    Missing,
    NotGguf,
    Unreadable,
}

/// Reads the first four bytes of `path` (blocking: call it from `spawn_blocking`).
pub fn check(path: &Path) -> FileCheck {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return FileCheck::Missing,
        Err(_) => return FileCheck::Unreadable,
    };
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return FileCheck::NotGguf;
    }
    let mut head = [0u8; 4];
    match file.read_exact(&mut head) {
        Ok(()) if &head == MAGIC => FileCheck::Gguf,
        Ok(()) => FileCheck::NotGguf,
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => FileCheck::NotGguf,
        Err(_) => FileCheck::Unreadable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_tells_whether_it_is_gguf_missing_or_something_else() {
        let dir = tempfile::tempdir().unwrap();
        let gguf = dir.path().join("a.gguf");
        std::fs::write(&gguf, b"GGUF\x03\0\0\0rest").unwrap();
        let text = dir.path().join("notes.gguf");
        std::fs::write(&text, b"hello world").unwrap();
        let short = dir.path().join("short.gguf");
        std::fs::write(&short, b"GG").unwrap();
        assert_eq!(check(&gguf), FileCheck::Gguf);
        assert_eq!(check(&text), FileCheck::NotGguf);
        assert_eq!(check(&short), FileCheck::NotGguf);
        assert_eq!(check(dir.path()), FileCheck::NotGguf, "a directory");
        assert_eq!(check(&dir.path().join("gone.gguf")), FileCheck::Missing);
    }
}
