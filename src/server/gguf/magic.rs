//! The four bytes every GGUF file starts with: enough to tell a person "this is not a model file"
//! before a process is started. Only regular files are opened, and without blocking: a FIFO or
//! a device named `x.gguf` would otherwise hang whoever reads it.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

pub const MAGIC: &[u8; 4] = b"GGUF";

/// What the start of a file says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileCheck {
    Gguf,
    Missing,
    /// A directory, FIFO, socket or device: never opened.
    NotRegular,
    NotGguf,
    Unreadable,
}

/// Reads the first four bytes of `path` (blocking on a slow disk: call it from `spawn_blocking`
/// with a timeout).
pub fn check(path: &Path) -> FileCheck {
    open(path).0
}

/// `check`, keeping the file open when it is a regular file: what was checked is what a start
/// hands on (a path looked up again could lead elsewhere by then). Opened close-on-exec.
pub fn open(path: &Path) -> (FileCheck, Option<File>) {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => return (FileCheck::NotRegular, None),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return (FileCheck::Missing, None);
        }
        Err(_) => return (FileCheck::Unreadable, None),
    }
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path);
    let mut file = match opened {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return (FileCheck::Missing, None);
        }
        Err(_) => return (FileCheck::Unreadable, None),
    };
    // It may have been swapped for something else between the two looks.
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return (FileCheck::NotRegular, None);
    }
    let mut head = [0u8; 4];
    let check = match file.read_exact(&mut head) {
        Ok(()) if &head == MAGIC => FileCheck::Gguf,
        Ok(()) => FileCheck::NotGguf,
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => FileCheck::NotGguf,
        Err(_) => FileCheck::Unreadable,
    };
    (check, Some(file))
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
        assert_eq!(check(dir.path()), FileCheck::NotRegular, "a directory");
        assert_eq!(check(&dir.path().join("gone.gguf")), FileCheck::Missing);
    }

    #[test]
    fn a_fifo_is_refused_without_being_opened() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("x.gguf");
        let name = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo reads a valid C string.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        // Opening a FIFO without a writer would block forever; this returns at once.
        assert_eq!(check(&fifo), FileCheck::NotRegular);
    }

    #[test]
    fn a_symlink_to_a_model_is_followed() {
        let dir = tempfile::tempdir().unwrap();
        let gguf = dir.path().join("a.gguf");
        std::fs::write(&gguf, b"GGUF\x03\0\0\0").unwrap();
        let link = dir.path().join("link.gguf");
        std::os::unix::fs::symlink(&gguf, &link).unwrap();
        assert_eq!(check(&link), FileCheck::Gguf);
    }
}
