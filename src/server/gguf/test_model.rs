//! Writes a llama-architecture GGUF with random F32 weights and a made-up SentencePiece vocabulary.
//! It answers nonsense, but a real llama-server loads it, serves `/health`, `/slots`, `/metrics`
//! and completions, which is what tests of process supervision need. Weights are streamed to disk,
//! so a large model costs no memory.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use super::magic::MAGIC;

/// The shape of a generated model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestModel {
    pub vocab: u64,
    pub embd: u64,
    pub ff: u64,
    pub layers: u64,
    pub heads: u64,
    pub context: u64,
}

impl TestModel {
    /// About 600 KB: loads in milliseconds.
    pub const TINY: TestModel = TestModel {
        vocab: 512,
        embd: 64,
        ff: 128,
        layers: 2,
        heads: 4,
        context: 512,
    };
    /// About 110 MB: big enough that loading and warm-up take visible time.
    pub const LARGE: TestModel = TestModel {
        vocab: 512,
        embd: 512,
        ff: 1536,
        layers: 8,
        heads: 8,
        context: 512,
    };

    /// Every tensor: name and dimensions, innermost first (GGUF order).
    fn tensors(&self) -> Vec<(String, Vec<u64>)> {
        let (e, f, v) = (self.embd, self.ff, self.vocab);
        let mut tensors = vec![
            ("token_embd.weight".to_string(), vec![e, v]),
            ("output_norm.weight".to_string(), vec![e]),
            ("output.weight".to_string(), vec![e, v]),
        ];
        for layer in 0..self.layers {
            for (name, dims) in [
                ("attn_norm", vec![e]),
                ("attn_q", vec![e, e]),
                ("attn_k", vec![e, e]),
                ("attn_v", vec![e, e]),
                ("attn_output", vec![e, e]),
                ("ffn_norm", vec![e]),
                ("ffn_gate", vec![e, f]),
                ("ffn_up", vec![e, f]),
                ("ffn_down", vec![f, e]),
            ] {
                tensors.push((format!("blk.{layer}.{name}.weight"), dims));
            }
        }
        tensors
    }

    /// Writes the model to `path` and returns its size in bytes.
    pub fn write(&self, path: &Path) -> io::Result<u64> {
        let mut out = Writer {
            inner: BufWriter::with_capacity(1 << 20, File::create(path)?),
            written: 0,
        };
        let tensors = self.tensors();
        let metadata = self.metadata();
        out.bytes(MAGIC)?;
        out.u32(3)?; // format version
        out.u64(tensors.len() as u64)?;
        out.u64(metadata.len() as u64)?;
        for (key, value) in &metadata {
            out.string(key)?;
            out.value(value)?;
        }
        let mut offset = 0u64;
        for (name, dims) in &tensors {
            out.string(name)?;
            out.u32(dims.len() as u32)?;
            for dim in dims {
                out.u64(*dim)?;
            }
            out.u32(0)?; // F32
            out.u64(offset)?;
            offset = align(offset + 4 * dims.iter().product::<u64>());
        }
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        out.pad()?;
        for (name, dims) in &tensors {
            let count = dims.iter().product::<u64>();
            let norm = name.ends_with("norm.weight");
            for _ in 0..count {
                let weight = if norm { 1.0 } else { rng.weight() };
                out.bytes(&weight.to_le_bytes())?;
            }
            out.pad()?;
        }
        let written = out.written;
        let file = out.inner.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(written)
    }

    fn metadata(&self) -> Vec<(&'static str, Value)> {
        let vocab = self.vocab as usize;
        // SentencePiece needs <unk>, <s>, </s> and the 256 byte tokens (the newline token is looked
        // up as <0x0A>); the rest are made-up pieces.
        let mut tokens = vec!["<unk>".to_string(), "<s>".into(), "</s>".into()];
        let mut types = vec![2i32, 3, 3]; // unknown, control, control
        for byte in 0..=255u8 {
            tokens.push(format!("<0x{byte:02X}>"));
            types.push(6); // byte
        }
        let mut piece = 0;
        while tokens.len() < vocab {
            tokens.push(format!("\u{2581}t{piece}"));
            types.push(1); // normal
            piece += 1;
        }
        let scores = (0..tokens.len()).map(|i| -(i as f32)).collect();
        vec![
            ("general.architecture", Value::Str("llama".into())),
            ("general.name", Value::Str("corral-test".into())),
            ("llama.context_length", Value::U32(self.context as u32)),
            ("llama.embedding_length", Value::U32(self.embd as u32)),
            ("llama.block_count", Value::U32(self.layers as u32)),
            ("llama.feed_forward_length", Value::U32(self.ff as u32)),
            ("llama.attention.head_count", Value::U32(self.heads as u32)),
            (
                "llama.attention.head_count_kv",
                Value::U32(self.heads as u32),
            ),
            ("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
            (
                "llama.rope.dimension_count",
                Value::U32((self.embd / self.heads) as u32),
            ),
            ("tokenizer.ggml.model", Value::Str("llama".into())),
            ("tokenizer.ggml.tokens", Value::Strings(tokens)),
            ("tokenizer.ggml.scores", Value::F32s(scores)),
            ("tokenizer.ggml.token_type", Value::I32s(types)),
            ("tokenizer.ggml.unknown_token_id", Value::U32(0)),
            ("tokenizer.ggml.bos_token_id", Value::U32(1)),
            ("tokenizer.ggml.eos_token_id", Value::U32(2)),
        ]
    }
}

/// The metadata value kinds this writer needs.
enum Value {
    U32(u32),
    F32(f32),
    Str(String),
    Strings(Vec<String>),
    F32s(Vec<f32>),
    I32s(Vec<i32>),
}

const ALIGNMENT: u64 = 32;

fn align(offset: u64) -> u64 {
    offset.div_ceil(ALIGNMENT) * ALIGNMENT
}

struct Writer {
    inner: BufWriter<File>,
    /// Bytes written so far; tracked here because seeking a `BufWriter` flushes it.
    written: u64,
}

impl Writer {
    fn bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.written += bytes.len() as u64;
        self.inner.write_all(bytes)
    }
    fn u32(&mut self, value: u32) -> io::Result<()> {
        self.bytes(&value.to_le_bytes())
    }
    fn u64(&mut self, value: u64) -> io::Result<()> {
        self.bytes(&value.to_le_bytes())
    }
    fn string(&mut self, text: &str) -> io::Result<()> {
        self.u64(text.len() as u64)?;
        self.bytes(text.as_bytes())
    }
    fn value(&mut self, value: &Value) -> io::Result<()> {
        // Type codes from the GGUF spec.
        const U32: u32 = 4;
        const I32: u32 = 5;
        const F32: u32 = 6;
        const STRING: u32 = 8;
        const ARRAY: u32 = 9;
        match value {
            Value::U32(v) => {
                self.u32(U32)?;
                self.u32(*v)
            }
            Value::F32(v) => {
                self.u32(F32)?;
                self.bytes(&v.to_le_bytes())
            }
            Value::Str(s) => {
                self.u32(STRING)?;
                self.string(s)
            }
            Value::Strings(items) => {
                self.array_header(ARRAY, STRING, items.len())?;
                items.iter().try_for_each(|s| self.string(s))
            }
            Value::F32s(items) => {
                self.array_header(ARRAY, F32, items.len())?;
                items.iter().try_for_each(|v| self.bytes(&v.to_le_bytes()))
            }
            Value::I32s(items) => {
                self.array_header(ARRAY, I32, items.len())?;
                items.iter().try_for_each(|v| self.bytes(&v.to_le_bytes()))
            }
        }
    }
    fn array_header(&mut self, array: u32, item: u32, len: usize) -> io::Result<()> {
        self.u32(array)?;
        self.u32(item)?;
        self.u64(len as u64)
    }
    /// Zero bytes up to the next alignment boundary of the whole file.
    fn pad(&mut self) -> io::Result<()> {
        let padding = align(self.written) - self.written;
        self.bytes(&vec![0u8; padding as usize])
    }
}

/// A small deterministic generator: the same file every time, no dependency.
struct XorShift(u64);

impl XorShift {
    /// A weight in (-0.05, 0.05).
    fn weight(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::gguf::magic::{FileCheck, check};

    #[test]
    fn the_tiny_model_is_a_gguf_of_a_few_hundred_kilobytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.gguf");
        let size = TestModel::TINY.write(&path).unwrap();
        assert_eq!(check(&path), FileCheck::Gguf);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), size);
        assert!((200_000..1_000_000).contains(&size), "{size} bytes");
        assert_eq!(size % ALIGNMENT, 0, "tensor data ends aligned");
    }

    #[test]
    fn the_same_shape_writes_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.gguf"), dir.path().join("b.gguf"));
        TestModel::TINY.write(&a).unwrap();
        TestModel::TINY.write(&b).unwrap();
        assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    }
}
