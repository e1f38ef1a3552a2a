//! Writes GGUF files: the header (metadata and tensor infos) and, when asked, tensor data. The
//! test model is written with it, and the reader's tests write the shapes real models have
//! (per-layer KV heads, sliding windows, split parts, projectors).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use super::magic::MAGIC;
use super::types::{ValueType, align};

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U16(u16),
    U32(u32),
    I32(i32),
    U64(u64),
    F32(f32),
    Bool(bool),
    Str(String),
    Strings(Vec<String>),
    U32s(Vec<u32>),
    I32s(Vec<i32>),
    F32s(Vec<f32>),
}

/// One tensor: its name, dimensions (innermost first, as GGUF stores them) and ggml type id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    pub dims: Vec<u64>,
    pub kind: u32,
}

impl TensorInfo {
    pub fn new(name: impl Into<String>, dims: &[u64], kind: u32) -> TensorInfo {
        TensorInfo {
            name: name.into(),
            dims: dims.to_vec(),
            kind,
        }
    }
}

/// A GGUF file being written.
pub struct Writer {
    inner: BufWriter<File>,
    /// Bytes written so far; tracked here because seeking a `BufWriter` flushes it.
    written: u64,
}

impl Writer {
    pub fn create(path: &Path) -> io::Result<Writer> {
        Ok(Writer {
            inner: BufWriter::with_capacity(1 << 20, File::create(path)?),
            written: 0,
        })
    }

    /// The header: magic, version 3, metadata, tensor infos (offsets for `bytes_of` bytes of
    /// data per tensor), then padding to where the data starts.
    pub fn header(
        &mut self,
        metadata: &[(String, Value)],
        tensors: &[TensorInfo],
        bytes_of: impl Fn(&TensorInfo) -> u64,
    ) -> io::Result<()> {
        self.bytes(MAGIC)?;
        self.u32(3)?;
        self.u64(tensors.len() as u64)?;
        self.u64(metadata.len() as u64)?;
        for (key, value) in metadata {
            self.string(key)?;
            self.value(value)?;
        }
        let mut offset = 0u64;
        for tensor in tensors {
            self.string(&tensor.name)?;
            self.u32(tensor.dims.len() as u32)?;
            for dim in &tensor.dims {
                self.u64(*dim)?;
            }
            self.u32(tensor.kind)?;
            self.u64(offset)?;
            offset = align(offset + bytes_of(tensor));
        }
        self.pad()
    }

    pub fn bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.written += bytes.len() as u64;
        self.inner.write_all(bytes)
    }

    /// Zero bytes up to the next alignment boundary of the whole file.
    pub fn pad(&mut self) -> io::Result<()> {
        let padding = align(self.written) - self.written;
        self.bytes(&vec![0u8; padding as usize])
    }

    /// Flushes and syncs; answers the file's size.
    pub fn finish(self) -> io::Result<u64> {
        let written = self.written;
        let file = self.inner.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(written)
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

    fn kind(&mut self, kind: ValueType) -> io::Result<()> {
        self.u32(kind as u32)
    }

    fn array(&mut self, item: ValueType, len: usize) -> io::Result<()> {
        self.kind(ValueType::Array)?;
        self.kind(item)?;
        self.u64(len as u64)
    }

    fn value(&mut self, value: &Value) -> io::Result<()> {
        match value {
            Value::U16(v) => {
                self.kind(ValueType::U16)?;
                self.bytes(&v.to_le_bytes())
            }
            Value::U32(v) => {
                self.kind(ValueType::U32)?;
                self.u32(*v)
            }
            Value::I32(v) => {
                self.kind(ValueType::I32)?;
                self.bytes(&v.to_le_bytes())
            }
            Value::U64(v) => {
                self.kind(ValueType::U64)?;
                self.u64(*v)
            }
            Value::F32(v) => {
                self.kind(ValueType::F32)?;
                self.bytes(&v.to_le_bytes())
            }
            Value::Bool(v) => {
                self.kind(ValueType::Bool)?;
                self.bytes(&[u8::from(*v)])
            }
            Value::Str(s) => {
                self.kind(ValueType::String)?;
                self.string(s)
            }
            Value::Strings(items) => {
                self.array(ValueType::String, items.len())?;
                items.iter().try_for_each(|s| self.string(s))
            }
            Value::U32s(items) => {
                self.array(ValueType::U32, items.len())?;
                items.iter().try_for_each(|v| self.u32(*v))
            }
            Value::I32s(items) => {
                self.array(ValueType::I32, items.len())?;
                items.iter().try_for_each(|v| self.bytes(&v.to_le_bytes()))
            }
            Value::F32s(items) => {
                self.array(ValueType::F32, items.len())?;
                items.iter().try_for_each(|v| self.bytes(&v.to_le_bytes()))
            }
        }
    }
}

/// Writes a file with this header and no tensor data, for tests of what reads headers (they
/// never look past it).
pub fn write_header_only(
    path: &Path,
    metadata: &[(String, Value)],
    tensors: &[TensorInfo],
) -> io::Result<u64> {
    let mut out = Writer::create(path)?;
    out.header(metadata, tensors, |_| 0)?;
    out.finish()
}
