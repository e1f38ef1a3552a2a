//! Reads what a GGUF header says (`GgufMetadata`), never the tensor data. The file is streamed
//! through a buffered reader; every count and length is capped before anything is allocated or
//! skipped for it, and only the few values Corral shows are kept: the tokenizer's arrays
//! (100k+ entries) are skipped keeping their length, a chat template is noted, not kept. What
//! one file can make Corral keep is bounded too (`MAX_RETAINED`): short texts, one per-layer
//! array, the first number of any other array, a few tensor types. A truncated, lying or
//! garbage file is a typed error, never a panic or a large allocation.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::domain::gguf::{GgufMetadata, TensorTypeShare};

use super::magic::MAGIC;
use super::types::{ValueType, file_type_name, tensor_type_name};

/// Metadata entries at most (real files have tens to a few hundred).
const MAX_ENTRIES: u64 = 1 << 16;
/// Tensors at most (the largest MoE models have tens of thousands).
const MAX_TENSORS: u64 = 1 << 20;
/// Longest string read or skipped (a chat template is tens of KB).
const MAX_STRING: u64 = 16 << 20;
/// Longest key read (longer ones are refused as malformed).
const MAX_KEY: u64 = 4096;
/// Longest text value kept (names, the architecture); a longer one is skipped.
const MAX_KEPT_TEXT: u64 = 512;
/// Bytes of values one file's header may make Corral keep, in all (a hostile file repeating
/// per-layer arrays under many prefixes kept 100 MB); past it, values are skipped.
const MAX_RETAINED: usize = 64 << 10;
/// Distinct tensor types counted apart (ggml has about forty); the rest are counted together.
const MAX_TENSOR_TYPES: usize = 64;
/// Where tensors of types past `MAX_TENSOR_TYPES` are counted.
pub const OTHER_TENSOR_TYPES: u32 = u32::MAX;
/// Entries of one array at most (vocabularies reach a few hundred thousand).
const MAX_ARRAY: u64 = 1 << 24;
/// Entries kept of a per-layer array (the deepest models have a few hundred layers).
const MAX_KEPT_ARRAY: u64 = 1024;
/// Dimensions of one tensor at most (ggml has four).
const MAX_DIMS: u32 = 8;
/// Arrays of arrays, at most this deep.
const MAX_NESTING: u32 = 3;
/// Parts of a split model at most.
const MAX_PARTS: u32 = 1024;

/// Why a file's header could not be read.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    #[error("cannot read the file: {0}")]
    Io(#[source] io::Error),
    #[error("not a GGUF file (it does not start with GGUF)")]
    NotGguf,
    #[error("GGUF version {0} is not supported (2 and 3 are)")]
    Version(u32),
    #[error("the file ends inside its header")]
    Truncated,
    #[error("{what} is {value}, more than the {max} Corral reads")]
    TooLarge {
        what: &'static str,
        value: u64,
        max: u64,
    },
    #[error("malformed header: {0}")]
    Malformed(String),
    #[error("part {part} of the split model is missing or unreadable ({path}): {error}")]
    Part {
        part: u32,
        path: String,
        #[source]
        error: Box<GgufError>,
    },
}

impl From<io::Error> for GgufError {
    fn from(error: io::Error) -> Self {
        if error.kind() == io::ErrorKind::UnexpectedEof {
            GgufError::Truncated
        } else {
            GgufError::Io(error)
        }
    }
}

fn cap(what: &'static str, value: u64, max: u64) -> Result<(), GgufError> {
    if value > max {
        Err(GgufError::TooLarge { what, value, max })
    } else {
        Ok(())
    }
}

/// A value kept from the metadata.
#[derive(Debug, Clone, PartialEq)]
enum Kept {
    Number(u64),
    Text(String),
    Flag(bool),
    Numbers(Vec<u64>),
}

/// What to do with one entry's value, by its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Skip,
    /// A scalar or a short text; of an array, its first number.
    Keep,
    /// A number, or a per-layer array of numbers whole.
    PerLayer,
    /// Only how many entries the array has.
    Length,
    /// A chat template: only what it handles (`template_traits`).
    Template,
}

/// Templates longer than this are only noted as present.
const MAX_TEMPLATE: u64 = 256 * 1024;
/// What a chat template handles, as bits of the number kept for it.
const HAS_TEMPLATE: u64 = 1;
const HANDLES_TOOLS: u64 = 2;
const HANDLES_REASONING: u64 = 4;

/// What a chat template's text shows it handles: tool calls (it reads `tools`), reasoning (it
/// writes or toggles thinking).
fn template_traits(template: &str) -> u64 {
    let mut traits = HAS_TEMPLATE;
    if template.contains("tools") || template.contains("tool_call") {
        traits |= HANDLES_TOOLS;
    }
    let reasoning = [
        "<think>",
        "reasoning_content",
        "enable_thinking",
        "thinking",
    ];
    if reasoning.iter().any(|marker| template.contains(marker)) {
        traits |= HANDLES_REASONING;
    }
    traits
}

/// Keys whose last part Corral keeps, whatever the architecture prefix.
const NUMBER_SUFFIXES: &[&str] = &[
    ".context_length",
    ".embedding_length",
    ".block_count",
    ".attention.head_count",
    ".attention.head_count_kv",
    ".attention.key_length",
    ".attention.value_length",
    ".attention.sliding_window",
    ".expert_count",
    ".expert_used_count",
];

/// What to keep of `key`'s value. A per-architecture key counts only under the architecture the
/// file names (once it has named it; keys before that are kept within the retained bound).
fn want(key: &str, architecture: Option<&str>) -> Want {
    match key {
        "tokenizer.ggml.tokens" => return Want::Length,
        "tokenizer.chat_template" => return Want::Template,
        "general.architecture"
        | "general.name"
        | "general.size_label"
        | "general.file_type"
        | "split.no"
        | "split.count"
        | "clip.has_vision_encoder"
        | "clip.has_audio_encoder" => return Want::Keep,
        _ => {}
    }
    let Some(suffix) = NUMBER_SUFFIXES.iter().find(|suffix| key.ends_with(*suffix)) else {
        return Want::Skip;
    };
    let prefix = &key[..key.len() - suffix.len()];
    if architecture.is_some_and(|arch| arch != prefix) {
        return Want::Skip;
    }
    if *suffix == ".attention.head_count_kv" {
        Want::PerLayer
    } else {
        Want::Keep
    }
}

/// Bytes a kept value takes.
fn retained(kept: &Kept) -> usize {
    match kept {
        Kept::Text(text) => text.len(),
        Kept::Numbers(numbers) => numbers.len() * 8,
        Kept::Number(_) | Kept::Flag(_) => 8,
    }
}

struct Reader<R> {
    inner: R,
}

impl<R: BufRead> Reader<R> {
    fn u32(&mut self) -> Result<u32, GgufError> {
        let mut bytes = [0u8; 4];
        self.inner.read_exact(&mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn u64(&mut self) -> Result<u64, GgufError> {
        let mut bytes = [0u8; 8];
        self.inner.read_exact(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn skip(&mut self, count: u64) -> Result<(), GgufError> {
        let skipped = io::copy(&mut (&mut self.inner).take(count), &mut io::sink())?;
        if skipped == count {
            Ok(())
        } else {
            Err(GgufError::Truncated)
        }
    }

    fn string_length(&mut self) -> Result<u64, GgufError> {
        let length = self.u64()?;
        cap("a string's length", length, MAX_STRING)?;
        Ok(length)
    }

    /// A string kept when at most `max` bytes, else skipped (`None`).
    fn string(&mut self, max: u64) -> Result<Option<String>, GgufError> {
        let length = self.string_length()?;
        if length > max {
            self.skip(length)?;
            return Ok(None);
        }
        let mut bytes = vec![0u8; length as usize];
        self.inner.read_exact(&mut bytes)?;
        Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
    }

    fn value_type(&mut self) -> Result<ValueType, GgufError> {
        let code = self.u32()?;
        ValueType::from_code(code)
            .ok_or_else(|| GgufError::Malformed(format!("unknown value type {code}")))
    }

    /// One scalar of a fixed-size type, as a number when it is a non-negative integer.
    fn scalar(&mut self, kind: ValueType) -> Result<Option<u64>, GgufError> {
        let size = kind.size().unwrap_or(0) as usize;
        let mut bytes = [0u8; 8];
        self.inner.read_exact(&mut bytes[..size])?;
        let unsigned = u64::from_le_bytes(bytes);
        Ok(match kind {
            ValueType::U8 | ValueType::U16 | ValueType::U32 | ValueType::U64 => Some(unsigned),
            ValueType::I8 => u64::try_from(bytes[0] as i8).ok(),
            ValueType::I16 => u64::try_from(i16::from_le_bytes([bytes[0], bytes[1]])).ok(),
            ValueType::I32 => {
                u64::try_from(i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])).ok()
            }
            ValueType::I64 => u64::try_from(i64::from_le_bytes(bytes)).ok(),
            ValueType::Bool => Some(u64::from(bytes[0] != 0)),
            _ => None,
        })
    }

    /// Skips one value of `kind` (an array's items included).
    fn skip_value(&mut self, kind: ValueType, depth: u32) -> Result<(), GgufError> {
        match kind {
            ValueType::String => {
                let length = self.string_length()?;
                self.skip(length)
            }
            ValueType::Array => {
                let (item, count) = self.array_header(depth)?;
                self.skip_items(item, count, depth)
            }
            fixed => self.skip(fixed.size().unwrap_or(0)),
        }
    }

    fn array_header(&mut self, depth: u32) -> Result<(ValueType, u64), GgufError> {
        cap(
            "arrays nested",
            u64::from(depth + 1),
            u64::from(MAX_NESTING),
        )?;
        let item = self.value_type()?;
        let count = self.u64()?;
        cap("an array's length", count, MAX_ARRAY)?;
        Ok((item, count))
    }

    fn skip_items(&mut self, item: ValueType, count: u64, depth: u32) -> Result<(), GgufError> {
        match item.size() {
            // Counts are capped, sizes at most 8: the product fits.
            Some(size) => self.skip(count * size),
            None => (0..count).try_for_each(|_| self.skip_value(item, depth + 1)),
        }
    }

    /// One metadata value, kept as `want` says.
    fn value(&mut self, want: Want) -> Result<Option<Kept>, GgufError> {
        let kind = self.value_type()?;
        match (want, kind) {
            (Want::Skip, kind) => self.skip_value(kind, 0).map(|()| None),
            (Want::Length, ValueType::Array) => {
                let (item, count) = self.array_header(0)?;
                self.skip_items(item, count, 0)?;
                Ok(Some(Kept::Number(count)))
            }
            (Want::Length, kind) => {
                self.skip_value(kind, 0)?;
                Ok(Some(Kept::Flag(true)))
            }
            (Want::Template, ValueType::String) => {
                let traits = self
                    .string(MAX_TEMPLATE)?
                    .map_or(HAS_TEMPLATE, |text| template_traits(&text));
                Ok(Some(Kept::Number(traits)))
            }
            (Want::Template, kind) => {
                self.skip_value(kind, 0)?;
                Ok(None)
            }
            (_, ValueType::String) => Ok(self.string(MAX_KEPT_TEXT)?.map(Kept::Text)),
            (_, ValueType::Bool) => Ok(self.scalar(kind)?.map(|v| Kept::Flag(v != 0))),
            (want, ValueType::Array) => {
                let (item, count) = self.array_header(0)?;
                if item.size().is_none() || count == 0 {
                    self.skip_items(item, count, 0)?;
                    return Ok(None);
                }
                if want != Want::PerLayer || count > MAX_KEPT_ARRAY {
                    let first = self.scalar(item)?.unwrap_or(0);
                    self.skip_items(item, count - 1, 0)?;
                    return Ok((want == Want::Keep).then_some(Kept::Number(first)));
                }
                let mut numbers = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    numbers.push(self.scalar(item)?.unwrap_or(0));
                }
                Ok(Some(Kept::Numbers(numbers)))
            }
            (_, kind) => Ok(self.scalar(kind)?.map(Kept::Number)),
        }
    }
}

/// What the tensor infos add up to.
#[derive(Debug, Default)]
struct Tensors {
    parameters: u64,
    by_type: HashMap<u32, u64>,
}

impl Tensors {
    /// Adds `elements` of type `kind`; a type past the first `MAX_TENSOR_TYPES` counts as
    /// `OTHER_TENSOR_TYPES`.
    fn count(&mut self, kind: u32, elements: u64) {
        let kind = if self.by_type.len() >= MAX_TENSOR_TYPES && !self.by_type.contains_key(&kind) {
            OTHER_TENSOR_TYPES
        } else {
            kind
        };
        let of_kind = self.by_type.entry(kind).or_default();
        *of_kind = of_kind.saturating_add(elements);
    }
}

/// Reads the header of one file (one part, for a split model).
fn read_header<R: BufRead>(input: R) -> Result<(HashMap<String, Kept>, Tensors), GgufError> {
    let mut reader = Reader { inner: input };
    let mut magic = [0u8; 4];
    reader
        .inner
        .read_exact(&mut magic)
        .map_err(|error| match error.kind() {
            io::ErrorKind::UnexpectedEof => GgufError::NotGguf,
            _ => GgufError::Io(error),
        })?;
    if &magic != MAGIC {
        return Err(GgufError::NotGguf);
    }
    let version = reader.u32()?;
    if !(2..=3).contains(&version) {
        return Err(GgufError::Version(version));
    }
    let tensor_count = reader.u64()?;
    cap("the tensor count", tensor_count, MAX_TENSORS)?;
    let entries = reader.u64()?;
    cap("the metadata count", entries, MAX_ENTRIES)?;
    let mut kept: HashMap<String, Kept> = HashMap::new();
    let mut retained_bytes = 0usize;
    for _ in 0..entries {
        let Some(key) = reader.string(MAX_KEY)? else {
            return Err(GgufError::Malformed(
                "a metadata key longer than 4 KiB".into(),
            ));
        };
        let architecture = match kept.get("general.architecture") {
            Some(Kept::Text(arch)) => Some(arch.as_str()),
            _ => None,
        };
        let mut want = want(&key, architecture);
        if retained_bytes + key.len() + 8 > MAX_RETAINED {
            want = Want::Skip;
        }
        if let Some(value) = reader.value(want)? {
            let bytes = key.len() + retained(&value);
            if retained_bytes + bytes <= MAX_RETAINED {
                retained_bytes += bytes;
                kept.insert(key, value);
            }
        }
    }
    let mut tensors = Tensors::default();
    for _ in 0..tensor_count {
        let name_length = reader.string_length()?;
        reader.skip(name_length)?;
        let dims = reader.u32()?;
        cap(
            "a tensor's dimensions",
            u64::from(dims),
            u64::from(MAX_DIMS),
        )?;
        let mut elements: u64 = 1;
        for _ in 0..dims {
            let dim = reader.u64()?;
            elements = elements
                .checked_mul(dim)
                .ok_or_else(|| GgufError::Malformed("a tensor's element count overflows".into()))?;
        }
        let kind = reader.u32()?;
        let _offset = reader.u64()?;
        tensors.parameters = tensors
            .parameters
            .checked_add(elements)
            .ok_or_else(|| GgufError::Malformed("the parameter count overflows".into()))?;
        tensors.count(kind, elements);
    }
    Ok((kept, tensors))
}

/// Reads a header from any buffered input (for the fuzzer and tests; `read_model` for files).
pub fn read(input: impl BufRead) -> Result<GgufMetadata, GgufError> {
    let (kept, tensors) = read_header(input)?;
    Ok(metadata(&kept, &tensors))
}

/// Opens a regular file without blocking (a FIFO named `x.gguf` must not hang the reader).
fn open(path: &Path) -> Result<BufReader<File>, GgufError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(GgufError::Io)?;
    if !file.metadata().map_err(GgufError::Io)?.is_file() {
        return Err(GgufError::Malformed("not a regular file".into()));
    }
    Ok(BufReader::with_capacity(64 << 10, file))
}

/// The model a file holds. For the first part of a split model (`-00001-of-0000N.gguf`), the
/// other parts are read too and their tensors counted: one model. Blocking: call it from
/// `spawn_blocking`.
pub fn read_model(path: &Path) -> Result<GgufMetadata, GgufError> {
    let first = open(path)?;
    let mut file_bytes = first.get_ref().metadata().map_err(GgufError::Io)?.len();
    let (kept, mut tensors) = read_header(first)?;
    let mut found = metadata(&kept, &tensors);
    if let Some((1, count)) = found.split {
        cap("the split parts", u64::from(count), u64::from(MAX_PARTS))?;
        for part in 2..=count {
            let Some(part_path) = split_part(path, part, count) else {
                break;
            };
            let read = open(&part_path).and_then(|file| {
                let size = file.get_ref().metadata().map_err(GgufError::Io)?.len();
                Ok((size, read_header(file)?))
            });
            let (size, (_, more)) = read.map_err(|error| GgufError::Part {
                part,
                path: part_path.display().to_string(),
                error: Box::new(error),
            })?;
            file_bytes = file_bytes.saturating_add(size);
            tensors.parameters = tensors.parameters.saturating_add(more.parameters);
            for (kind, count) in more.by_type {
                tensors.count(kind, count);
            }
        }
        found.parameters = tensors.parameters;
        found.tensor_types = shares(&tensors);
    }
    found.file_bytes = Some(file_bytes);
    Ok(found)
}

/// `model-00001-of-00003.gguf` → part `part` of it, when the name has that pattern.
pub fn split_part(first: &Path, part: u32, count: u32) -> Option<PathBuf> {
    let name = first.file_name()?.to_str()?;
    let marker = format!("-{:05}-of-{count:05}.gguf", 1);
    let stem = name.strip_suffix(&marker)?;
    Some(first.with_file_name(format!("{stem}-{part:05}-of-{count:05}.gguf")))
}

fn shares(tensors: &Tensors) -> Vec<TensorTypeShare> {
    let mut shares: Vec<TensorTypeShare> = tensors
        .by_type
        .iter()
        .map(|(kind, parameters)| TensorTypeShare {
            kind: match *kind {
                OTHER_TENSOR_TYPES => "other types".to_string(),
                kind => tensor_type_name(kind).map_or_else(|| format!("type {kind}"), String::from),
            },
            parameters: *parameters,
        })
        .collect();
    shares.sort_by(|a, b| b.parameters.cmp(&a.parameters).then(a.kind.cmp(&b.kind)));
    shares
}

fn metadata(kept: &HashMap<String, Kept>, tensors: &Tensors) -> GgufMetadata {
    let text = |key: &str| match kept.get(key) {
        Some(Kept::Text(text)) => Some(text.clone()),
        _ => None,
    };
    let number = |key: &str| match kept.get(key) {
        Some(Kept::Number(n)) => Some(*n),
        Some(Kept::Numbers(all)) => all.first().copied(),
        _ => None,
    };
    let flag = |key: &str| matches!(kept.get(key), Some(Kept::Flag(true)));
    let architecture = text("general.architecture").unwrap_or_default();
    let arch = |suffix: &str| number(&format!("{architecture}.{suffix}"));
    let head_count_kv = match kept.get(&format!("{architecture}.attention.head_count_kv")) {
        Some(Kept::Numbers(per_layer)) => per_layer.clone(),
        Some(Kept::Number(all)) => vec![*all],
        _ => Vec::new(),
    };
    let mut projects_for = Vec::new();
    if flag("clip.has_vision_encoder") {
        projects_for.push("vision".to_string());
    }
    if flag("clip.has_audio_encoder") {
        projects_for.push("audio".to_string());
    }
    let split = match (number("split.no"), number("split.count")) {
        (Some(no), Some(count)) if count > 1 && no < count => {
            Some((no as u32 + 1, count.min(u64::from(u32::MAX)) as u32))
        }
        _ => None,
    };
    GgufMetadata {
        name: text("general.name"),
        size_label: text("general.size_label"),
        parameters: tensors.parameters,
        file_type: number("general.file_type")
            .map(|id| file_type_name(id).map_or_else(|| format!("type {id}"), String::from)),
        tensor_types: shares(tensors),
        context_length: arch("context_length"),
        layers: arch("block_count"),
        embedding_length: arch("embedding_length"),
        head_count: arch("attention.head_count"),
        head_count_kv,
        key_length: arch("attention.key_length"),
        value_length: arch("attention.value_length"),
        sliding_window: arch("attention.sliding_window"),
        expert_count: arch("expert_count"),
        expert_used_count: arch("expert_used_count"),
        has_chat_template: kept.contains_key("tokenizer.chat_template"),
        template_tools: number("tokenizer.chat_template").is_some_and(|t| t & HANDLES_TOOLS != 0),
        template_reasoning: number("tokenizer.chat_template")
            .is_some_and(|t| t & HANDLES_REASONING != 0),
        vocabulary_size: number("tokenizer.ggml.tokens"),
        projects_for,
        split,
        architecture,
        file_bytes: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::gguf::test_model::TestModel;
    use crate::server::gguf::writer::{TensorInfo, Value, write_header_only};

    fn entries(items: Vec<(&str, Value)>) -> Vec<(String, Value)> {
        items.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    #[test]
    fn the_test_model_reads_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.gguf");
        TestModel::TINY.write(&path).unwrap();
        let read = read_model(&path).unwrap();
        let (e, f, v, l) = (64u64, 128u64, 512u64, 2u64);
        let parameters = 2 * e * v + e + l * (2 * e + 4 * e * e + 3 * e * f);
        assert_eq!(read.architecture, "llama");
        assert_eq!(read.name.as_deref(), Some("corral-test"));
        assert_eq!(read.parameters, parameters);
        assert_eq!(
            read.tensor_types,
            [TensorTypeShare {
                kind: "F32".into(),
                parameters
            }]
        );
        assert_eq!(
            (
                read.context_length,
                read.layers,
                read.embedding_length,
                read.head_count
            ),
            (Some(512), Some(2), Some(64), Some(4))
        );
        assert_eq!(read.head_count_kv, [4]);
        assert_eq!(read.vocabulary_size, Some(512));
        assert!(!read.has_chat_template);
        assert_eq!(read.split, None);
    }

    #[test]
    fn per_layer_kv_heads_a_sliding_window_and_experts_read_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gemma.gguf");
        let metadata = entries(vec![
            ("general.architecture", Value::Str("gemma3".into())),
            ("general.name", Value::Str("Gemma 3 4B".into())),
            ("general.size_label", Value::Str("4B".into())),
            ("general.file_type", Value::U32(15)),
            ("gemma3.context_length", Value::U32(131_072)),
            ("gemma3.block_count", Value::U32(4)),
            ("gemma3.embedding_length", Value::U64(2560)),
            ("gemma3.attention.head_count", Value::U32(8)),
            (
                "gemma3.attention.head_count_kv",
                Value::I32s(vec![4, 4, 0, 4]),
            ),
            ("gemma3.attention.key_length", Value::U32(256)),
            ("gemma3.attention.value_length", Value::U32(256)),
            ("gemma3.attention.sliding_window", Value::U32(1024)),
            ("gemma3.expert_count", Value::U32(8)),
            ("gemma3.expert_used_count", Value::U32(2)),
            ("gemma3.rope.freq_base", Value::F32(1e6)),
            (
                "tokenizer.chat_template",
                Value::Str("{{ messages }}".repeat(4000)),
            ),
            (
                "tokenizer.ggml.tokens",
                Value::Strings((0..70_000).map(|i| format!("t{i}")).collect()),
            ),
            ("tokenizer.ggml.scores", Value::F32s(vec![0.0; 70_000])),
            ("general.tags", Value::Strings(vec!["a".into(), "b".into()])),
            ("general.flag", Value::Bool(true)),
        ]);
        let tensors = [
            TensorInfo::new("token_embd.weight", &[2560, 70_000], 14),
            TensorInfo::new("blk.0.attn_q.weight", &[2560, 2048], 12),
            TensorInfo::new("blk.0.attn_norm.weight", &[2560], 0),
        ];
        write_header_only(&path, &metadata, &tensors).unwrap();
        let read = read_model(&path).unwrap();
        assert_eq!(read.architecture, "gemma3");
        assert_eq!(read.size_label.as_deref(), Some("4B"));
        assert_eq!(read.file_type.as_deref(), Some("Q4_K_M"));
        assert_eq!(read.context_length, Some(131_072));
        assert_eq!(read.embedding_length, Some(2560));
        assert_eq!(read.head_count_kv, [4, 4, 0, 4]);
        assert_eq!((read.kv_heads(2), read.kv_heads(3)), (Some(0), Some(4)));
        assert_eq!((read.key_length, read.value_length), (Some(256), Some(256)));
        assert_eq!(read.sliding_window, Some(1024));
        assert_eq!(
            (read.expert_count, read.expert_used_count),
            (Some(8), Some(2))
        );
        assert!(read.has_chat_template);
        assert_eq!(read.vocabulary_size, Some(70_000));
        assert_eq!(read.parameters, 2560 * 70_000 + 2560 * 2048 + 2560);
        let kinds: Vec<&str> = read.tensor_types.iter().map(|t| t.kind.as_str()).collect();
        assert_eq!(kinds, ["Q6_K", "Q4_K", "F32"]);
        assert_eq!(read.main_tensor_type(), Some("Q6_K"));
    }

    #[test]
    fn a_split_model_is_one_model_and_a_missing_part_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let part = |n: u32| dir.path().join(format!("big-{n:05}-of-00003.gguf"));
        for n in 1..=3u32 {
            let mut metadata = entries(vec![
                ("split.no", Value::U32(n - 1)),
                ("split.count", Value::U32(3)),
            ]);
            if n == 1 {
                metadata.insert(
                    0,
                    ("general.architecture".into(), Value::Str("qwen3".into())),
                );
            }
            let tensors = [TensorInfo::new(format!("t{n}"), &[10, u64::from(n)], 8)];
            write_header_only(&part(n), &metadata, &tensors).unwrap();
        }
        let read = read_model(&part(1)).unwrap();
        assert_eq!(read.split, Some((1, 3)));
        assert_eq!(read.parameters, 10 + 20 + 30);
        assert_eq!(read.tensor_types[0].kind, "Q8_0");
        let sizes: u64 = (1..=3)
            .map(|n| std::fs::metadata(part(n)).unwrap().len())
            .sum();
        assert_eq!(read.file_bytes, Some(sizes), "every part's bytes");
        assert_eq!(read_model(&part(2)).unwrap().split, Some((2, 3)));
        std::fs::remove_file(part(3)).unwrap();
        let error = read_model(&part(1)).unwrap_err();
        assert!(matches!(error, GgufError::Part { part: 3, .. }), "{error}");
    }

    #[test]
    fn a_projector_says_what_it_projects_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mmproj-model-f16.gguf");
        let metadata = entries(vec![
            ("general.architecture", Value::Str("clip".into())),
            ("clip.has_vision_encoder", Value::Bool(true)),
            ("clip.has_audio_encoder", Value::Bool(true)),
            ("clip.projector_type", Value::Str("gemma3".into())),
        ]);
        write_header_only(
            &path,
            &metadata,
            &[TensorInfo::new(
                "v.patch_embd.weight",
                &[14, 14, 3, 1152],
                1,
            )],
        )
        .unwrap();
        let read = read_model(&path).unwrap();
        assert_eq!(read.architecture, "clip");
        assert_eq!(read.projects_for, ["vision", "audio"]);
        assert_eq!(read.parameters, 14 * 14 * 3 * 1152);
    }

    fn header(version: u32, tensors: u64, entries: u64) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        bytes.extend(version.to_le_bytes());
        bytes.extend(tensors.to_le_bytes());
        bytes.extend(entries.to_le_bytes());
        bytes
    }

    #[test]
    fn truncated_lying_and_garbage_headers_are_clear_errors() {
        // Every prefix of a real header fails cleanly.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.gguf");
        TestModel::TINY.write(&path).unwrap();
        let whole = std::fs::read(&path).unwrap();
        let header_end = 12_000.min(whole.len());
        for end in (0..header_end).step_by(7) {
            assert!(read(&whole[..end]).is_err(), "a header cut at {end} read");
        }
        assert!(matches!(
            read(&b"PK\x03\x04 not a model"[..]),
            Err(GgufError::NotGguf)
        ));
        assert!(matches!(
            read(&header(99, 0, 0)[..]),
            Err(GgufError::Version(99))
        ));
        assert!(matches!(
            read(&header(3, u64::MAX, 0)[..]),
            Err(GgufError::TooLarge { .. })
        ));
        // A key whose length claims a terabyte.
        let mut lying = header(3, 0, 1);
        lying.extend((1u64 << 40).to_le_bytes());
        assert!(matches!(read(&lying[..]), Err(GgufError::TooLarge { .. })));
        // An array claiming 2^40 entries.
        let mut lying = header(3, 0, 1);
        lying.extend(3u64.to_le_bytes());
        lying.extend(b"key");
        lying.extend(9u32.to_le_bytes());
        lying.extend(4u32.to_le_bytes());
        lying.extend((1u64 << 40).to_le_bytes());
        assert!(matches!(read(&lying[..]), Err(GgufError::TooLarge { .. })));
        // An unknown value type.
        let mut odd = header(3, 0, 1);
        odd.extend(3u64.to_le_bytes());
        odd.extend(b"key");
        odd.extend(77u32.to_le_bytes());
        assert!(matches!(read(&odd[..]), Err(GgufError::Malformed(_))));
        // A tensor whose element count overflows.
        let mut huge = header(3, 1, 0);
        huge.extend(1u64.to_le_bytes());
        huge.extend(b"t");
        huge.extend(2u32.to_le_bytes());
        huge.extend(u64::MAX.to_le_bytes());
        huge.extend(3u64.to_le_bytes());
        huge.extend(0u32.to_le_bytes());
        huge.extend(0u64.to_le_bytes());
        assert!(matches!(read(&huge[..]), Err(GgufError::Malformed(_))));
    }

    #[test]
    fn a_header_repeating_per_layer_arrays_under_many_prefixes_keeps_little() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kept.gguf");
        let mut items = vec![("general.architecture", Value::Str("llama".into()))];
        let keys: Vec<String> = (0..200)
            .map(|i| format!("x{i}.attention.head_count_kv"))
            .collect();
        for key in &keys {
            items.push((key.as_str(), Value::U32s(vec![8; 1000])));
        }
        items.push((
            "llama.attention.head_count_kv",
            Value::U32s(vec![4; 65_536]),
        ));
        items.push(("llama.context_length", Value::U32s(vec![4096; 10_000])));
        items.push(("general.name", Value::Str("n".repeat(100_000))));
        let tensors: Vec<TensorInfo> = (0..200)
            .map(|i| TensorInfo::new(format!("t{i}"), &[2], 1000 + i))
            .collect();
        write_header_only(&path, &entries(items), &tensors).unwrap();
        let file = open(&path).unwrap();
        let (kept, counted) = read_header(file).unwrap();
        let bytes: usize = kept.iter().map(|(k, v)| k.len() + retained(v)).sum();
        assert!(bytes <= MAX_RETAINED, "{bytes} bytes kept");
        assert!(
            !kept.keys().any(|k| k.starts_with('x')),
            "keys of another architecture are not kept"
        );
        assert!(counted.by_type.len() <= MAX_TENSOR_TYPES + 1);
        let read = read_model(&path).unwrap();
        assert_eq!(
            read.head_count_kv,
            Vec::<u64>::new(),
            "too many layers to keep"
        );
        assert_eq!(read.context_length, Some(4096), "an array's first number");
        assert_eq!(read.name, None, "a name too long to keep");
        assert!(read.tensor_types.iter().any(|t| t.kind == "other types"));
        assert!(serde_json::to_string(&read).unwrap().len() < 16 << 10);
    }

    #[test]
    fn split_part_names_follow_the_first() {
        let first = Path::new("/m/qwen-00001-of-00004.gguf");
        assert_eq!(
            split_part(first, 3, 4),
            Some(PathBuf::from("/m/qwen-00003-of-00004.gguf"))
        );
        assert_eq!(split_part(Path::new("/m/qwen.gguf"), 2, 4), None);
    }
}
