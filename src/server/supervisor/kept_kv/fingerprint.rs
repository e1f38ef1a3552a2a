//! What a kept KV cache is only good for: the same model file (size, modification time and a
//! hash of its first bytes, where the header lies), the same llama-server (path, size,
//! modification time) and the same command apart from what only says where and how the server
//! answers (port, host, alias, allowed origin, sleep, metrics): context size, cache types, slots
//! and every other setting that shapes the cache count. A restore into anything else would be
//! refused by llama-server at best and wrong at worst.

use std::io::Read;
use std::path::Path;
use std::time::UNIX_EPOCH;

use sha2::{Digest, Sha256};

/// Bytes of the model file hashed: the GGUF header and the start of its tensor index.
const HEAD_BYTES: u64 = 64 * 1024;

/// The fingerprint, as hex; read from the disk, so call it off the async threads.
pub fn of(command: &[String], binary: &Path, model_file: &Path) -> String {
    let mut hash = Sha256::new();
    for arg in shaping(command) {
        hash.update(arg.as_bytes());
        hash.update([0]);
    }
    hash.update(identity(binary).as_bytes());
    hash.update(identity(model_file).as_bytes());
    if let Ok(file) = std::fs::File::open(model_file) {
        let mut head = Vec::new();
        if file.take(HEAD_BYTES).read_to_end(&mut head).is_ok() {
            hash.update(&head);
        }
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Flags (with their values) that do not shape the cache: a rename or a new idle time keeps it.
const NOT_SHAPING_WITH_VALUE: &[&str] = &[
    "--port",
    "--host",
    "--alias",
    "--cors-origins",
    "--sleep-idle-seconds",
];
const NOT_SHAPING: &[&str] = &["--metrics", "--no-cors-credentials"];

/// The command without the flags that do not shape the cache.
fn shaping(command: &[String]) -> Vec<&str> {
    let mut kept = Vec::with_capacity(command.len());
    let mut args = command.iter();
    while let Some(arg) = args.next() {
        if NOT_SHAPING_WITH_VALUE.contains(&arg.as_str()) {
            args.next();
        } else if !NOT_SHAPING.contains(&arg.as_str()) {
            kept.push(arg.as_str());
        }
    }
    kept
}

/// `path size mtime-ns`, or the path alone when it cannot be read.
fn identity(path: &Path) -> String {
    let stamp = std::fs::metadata(path).ok().map(|meta| {
        let modified = meta
            .modified()
            .ok()
            .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        format!("{} {modified}", meta.len())
    });
    format!("{} {}\0", path.display(), stamp.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn the_port_does_not_count_but_a_setting_or_a_changed_file_does() {
        let dir = tempfile::tempdir().unwrap();
        let (binary, model) = (dir.path().join("llama-server"), dir.path().join("m.gguf"));
        std::fs::write(&binary, b"binary").unwrap();
        std::fs::write(&model, b"GGUF one").unwrap();
        let a = of(
            &command(&["s", "--port", "8100", "-c", "512"]),
            &binary,
            &model,
        );
        let b = of(
            &command(&["s", "--port", "8101", "-c", "512"]),
            &binary,
            &model,
        );
        let c = of(
            &command(&["s", "--port", "8101", "-c", "1024"]),
            &binary,
            &model,
        );
        assert_eq!(a, b);
        assert_ne!(a, c);
        let renamed = of(
            &command(&[
                "s",
                "--port",
                "8100",
                "-c",
                "512",
                "--alias",
                "new-name",
                "--metrics",
            ]),
            &binary,
            &model,
        );
        assert_eq!(a, renamed, "a rename keeps the cache");
        std::fs::write(&model, b"GGUF two, longer").unwrap();
        let d = of(
            &command(&["s", "--port", "8100", "-c", "512"]),
            &binary,
            &model,
        );
        assert_ne!(a, d);
    }
}
