//! What a kept KV cache is only good for: the same model file (size, modification time and a
//! hash of its first bytes, where the header lies), the same llama-server (path, size,
//! modification time) and the same command apart from the port (context size, cache types,
//! slots and every other setting that shapes the cache). A restore into anything else would be
//! refused by llama-server at best and wrong at worst.

use std::io::Read;
use std::path::Path;
use std::time::UNIX_EPOCH;

use sha2::{Digest, Sha256};

use crate::server::supervisor::prepare::memory_need::without_port;

/// Bytes of the model file hashed: the GGUF header and the start of its tensor index.
const HEAD_BYTES: u64 = 64 * 1024;

/// The fingerprint, as hex; read from the disk, so call it off the async threads.
pub fn of(command: &[String], binary: &Path, model_file: &Path) -> String {
    let mut hash = Sha256::new();
    for arg in without_port(command) {
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
        std::fs::write(&model, b"GGUF two, longer").unwrap();
        let d = of(
            &command(&["s", "--port", "8100", "-c", "512"]),
            &binary,
            &model,
        );
        assert_ne!(a, d);
    }
}
