//! Writes a llama-architecture GGUF with random F32 weights and a made-up SentencePiece vocabulary.
//! It answers nonsense, but a real llama-server loads it, serves `/health`, `/slots`, `/metrics`
//! and completions, which is what tests of process supervision need. Weights are streamed to disk,
//! so a large model costs no memory.

use std::io;
use std::path::Path;

use super::writer::{TensorInfo, Value, Writer};

/// ggml's F32 tensor type.
const F32: u32 = 0;

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
        self.write_with(path, &[])
    }

    /// Writes the model split in two as `gguf-split` does, as `<stem>-00001-of-00002.gguf` (every
    /// tensor) and `<stem>-00002-of-00002.gguf` (none) in `folder`; answers the first part.
    pub fn write_split(&self, folder: &Path, stem: &str) -> io::Result<std::path::PathBuf> {
        let tensors = self.tensors().len() as i32;
        let split = |no: u16| {
            vec![
                ("split.no".to_string(), Value::U16(no)),
                ("split.count".to_string(), Value::U16(2)),
                ("split.tensors.count".to_string(), Value::I32(tensors)),
            ]
        };
        let first = folder.join(format!("{stem}-00001-of-00002.gguf"));
        self.write_with(&first, &split(0))?;
        let mut out = Writer::create(&folder.join(format!("{stem}-00002-of-00002.gguf")))?;
        out.header(&split(1), &[], |_| 0)?;
        out.finish()?;
        Ok(first)
    }

    /// The model with `extra` metadata after its own.
    fn write_with(&self, path: &Path, extra: &[(String, Value)]) -> io::Result<u64> {
        let tensors: Vec<TensorInfo> = self
            .tensors()
            .into_iter()
            .map(|(name, dims)| TensorInfo::new(name, &dims, F32))
            .collect();
        let mut metadata = self.metadata();
        metadata.extend(extra.iter().cloned());
        let mut out = Writer::create(path)?;
        out.header(&metadata, &tensors, |t| 4 * t.dims.iter().product::<u64>())?;
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for tensor in &tensors {
            let count = tensor.dims.iter().product::<u64>();
            let norm = tensor.name.ends_with("norm.weight");
            for _ in 0..count {
                let weight = if norm { 1.0 } else { rng.weight() };
                out.bytes(&weight.to_le_bytes())?;
            }
            out.pad()?;
        }
        out.finish()
    }

    fn metadata(&self) -> Vec<(String, Value)> {
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
        .into_iter()
        .map(|(key, value)| (key.to_string(), value))
        .collect()
    }
}

impl TestModel {
    /// A LoRA adapter of rank `rank` for this model's attention queries (as llama.cpp's
    /// `convert_lora_to_gguf.py` writes one: `general.type = adapter`, `lora_a`/`lora_b`).
    pub fn write_lora(&self, path: &Path, rank: u64) -> io::Result<u64> {
        let e = self.embd;
        let mut tensors = Vec::new();
        for layer in 0..self.layers {
            let base = format!("blk.{layer}.attn_q.weight");
            tensors.push(TensorInfo::new(format!("{base}.lora_a"), &[e, rank], F32));
            tensors.push(TensorInfo::new(format!("{base}.lora_b"), &[rank, e], F32));
        }
        let metadata: Vec<(String, Value)> = [
            ("general.architecture", Value::Str("llama".into())),
            ("general.type", Value::Str("adapter".into())),
            ("adapter.type", Value::Str("lora".into())),
            ("adapter.lora.alpha", Value::F32(rank as f32)),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_string(), value))
        .collect();
        write_weights(path, &metadata, &tensors)
    }

    /// A control vector for this model: one `direction.N` of the embedding width per layer
    /// from 1 (as llama.cpp's `cvector-generator` writes one).
    pub fn write_control_vector(&self, path: &Path) -> io::Result<u64> {
        let tensors: Vec<TensorInfo> = (1..=self.layers)
            .map(|layer| TensorInfo::new(format!("direction.{layer}"), &[self.embd], F32))
            .collect();
        let metadata: Vec<(String, Value)> = [
            ("general.architecture", Value::Str("controlvector".into())),
            ("controlvector.model_hint", Value::Str("llama".into())),
            ("controlvector.layer_count", Value::U32(self.layers as u32)),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_string(), value))
        .collect();
        write_weights(path, &metadata, &tensors)
    }
}

/// A GGUF of F32 tensors with small random weights.
fn write_weights(
    path: &Path,
    metadata: &[(String, Value)],
    tensors: &[TensorInfo],
) -> io::Result<u64> {
    let mut out = Writer::create(path)?;
    out.header(metadata, tensors, |t| 4 * t.dims.iter().product::<u64>())?;
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    for tensor in tensors {
        for _ in 0..tensor.dims.iter().product::<u64>() {
            out.bytes(&rng.weight().to_le_bytes())?;
        }
        out.pad()?;
    }
    out.finish()
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
        assert_eq!(
            size % super::super::types::ALIGNMENT,
            0,
            "tensor data ends aligned"
        );
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
