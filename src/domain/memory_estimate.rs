//! How much memory a model will need with given settings, from its GGUF header alone: the KV
//! cache (this file), computed the way llama-server b11434 sizes it. Shared with the browser, so
//! the model page can recompute as a setting changes without asking the server.

use crate::domain::ModelSpec;
use crate::domain::config::advanced::FlashAttention;
use crate::domain::config::gpu::{GpuConfig, GpuLayers};
use crate::domain::config::memory::CacheType;
use crate::domain::config::{AdvancedConfig, MemoryConfig};
use crate::domain::gguf::GgufMetadata;

/// The settings that shape the KV cache; `None` is llama-server's default.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct KvSettings {
    /// `--ctx-size`; unset or 0 means the model's training context.
    pub context: Option<u64>,
    /// `--parallel`; unset lets llama-server choose (4 slots sharing one cache).
    pub parallel: Option<u64>,
    pub type_k: Option<CacheType>,
    pub type_v: Option<CacheType>,
    pub flash_attention: Option<FlashAttention>,
    /// `--kv-unified`; unset is on exactly when `parallel` is unset.
    pub unified: Option<bool>,
    /// `--swa-full`: sliding-window layers keep the whole context too.
    pub swa_full: Option<bool>,
    /// `--ubatch-size`; unset is llama-server's 512.
    pub ubatch: Option<u64>,
}

impl KvSettings {
    /// The KV settings a model's stored settings make.
    pub fn of(spec: &ModelSpec, memory: &MemoryConfig, advanced: &AdvancedConfig) -> KvSettings {
        let positive = |n: Option<i64>| n.and_then(|n| u64::try_from(n).ok());
        KvSettings {
            context: positive(spec.ctx_size),
            parallel: positive(spec.parallel),
            type_k: memory.cache_type_k,
            type_v: memory.cache_type_v,
            flash_attention: advanced.flash_attn,
            unified: advanced.kv_unified,
            swa_full: advanced.swa_full,
            ubatch: positive(spec.ubatch_size),
        }
    }
}

/// llama-server's own choice of slots when `--parallel` is not given.
pub const DEFAULT_SLOTS: u64 = 4;
/// Cells are allocated per sequence in multiples of this.
const CELL_PADDING: u64 = 256;
/// Tokens of one batch, which a sliding-window cache keeps besides its window.
const DEFAULT_UBATCH: u64 = 512;

/// What the KV cache will take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvEstimate {
    /// Token cells of the full-attention layers, over all sequences.
    pub cells: u64,
    pub k_bytes: u64,
    pub v_bytes: u64,
    /// Some layers use a sliding window, which this estimate sizes from the architecture's
    /// usual pattern (less certain than the rest).
    pub sliding: bool,
}

impl KvEstimate {
    pub fn bytes(&self) -> u64 {
        self.k_bytes + self.v_bytes
    }
}

/// Why the settings cannot work at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvProblem {
    /// The header lacks what the size depends on.
    Unknown(&'static str),
    /// llama-server refuses a quantized V cache without flash attention.
    QuantizedVNeedsFlashAttention,
}

/// Bytes of a row of `elements` values of a cache type, as ggml's `ggml_row_size` counts them
/// (quantized types store blocks of 32).
fn bytes_of(kind: CacheType, elements: u64) -> u64 {
    let (block_bytes, block) = match kind {
        CacheType::F32 => (4, 1),
        CacheType::F16 | CacheType::Bf16 => (2, 1),
        CacheType::Q8_0 => (34, 32),
        CacheType::Q4_0 | CacheType::Iq4Nl => (18, 32),
        CacheType::Q4_1 => (20, 32),
        CacheType::Q5_0 => (22, 32),
        CacheType::Q5_1 => (24, 32),
    };
    elements * block_bytes / block
}

fn pad(cells: u64) -> u64 {
    cells.div_ceil(CELL_PADDING).max(1) * CELL_PADDING
}

/// Every how many layers one uses full attention, by architecture, when the model has a
/// sliding window (the rest slide). Unknown architectures count every layer as full: an
/// estimate that errs high.
fn full_attention_every(architecture: &str) -> Option<u64> {
    match architecture {
        "gemma2" => Some(2),
        "gemma3" | "gemma3n" => Some(6),
        "llama4" | "cohere2" => Some(4),
        _ => None,
    }
}

pub fn kv_cache(meta: &GgufMetadata, settings: &KvSettings) -> Result<KvEstimate, KvProblem> {
    let layers = meta.layers.ok_or(KvProblem::Unknown("the layer count"))?;
    let heads = meta
        .head_count
        .ok_or(KvProblem::Unknown("the head count"))?;
    let embedding = meta
        .embedding_length
        .ok_or(KvProblem::Unknown("the embedding length"))?;
    let head_size = embedding.checked_div(heads).unwrap_or(0);
    let (d_k, d_v) = (
        meta.key_length.unwrap_or(head_size),
        meta.value_length.unwrap_or(head_size),
    );
    let type_k = settings.type_k.unwrap_or(CacheType::F16);
    let type_v = settings.type_v.unwrap_or(CacheType::F16);
    let quantized_v = !matches!(type_v, CacheType::F32 | CacheType::F16 | CacheType::Bf16);
    if quantized_v && settings.flash_attention == Some(FlashAttention::Off) {
        return Err(KvProblem::QuantizedVNeedsFlashAttention);
    }
    let context = match settings.context {
        Some(context) if context > 0 => context,
        _ => meta
            .context_length
            .ok_or(KvProblem::Unknown("the training context"))?,
    };
    let slots = settings.parallel.unwrap_or(DEFAULT_SLOTS).max(1);
    let unified = settings.unified.unwrap_or(settings.parallel.is_none());
    let cells = if unified {
        pad(context)
    } else {
        slots * pad(context.div_ceil(slots))
    };
    let window = meta
        .sliding_window
        .filter(|_| settings.swa_full != Some(true));
    let every = window.and_then(|_| full_attention_every(&meta.architecture));
    let sliding_cells = window.map(|window| {
        let per_sequence = pad(window + DEFAULT_UBATCH);
        if unified {
            pad(window * slots + DEFAULT_UBATCH).min(cells)
        } else {
            (slots * per_sequence).min(cells)
        }
    });
    let (mut k_bytes, mut v_bytes) = (0u64, 0u64);
    for layer in 0..layers {
        let kv_heads = meta.kv_heads(layer as usize).unwrap_or(heads);
        let layer_cells = match (every, sliding_cells) {
            (Some(every), Some(sliding)) if (layer + 1) % every != 0 => sliding,
            _ => cells,
        };
        let rows = layer_cells.saturating_mul(kv_heads);
        k_bytes = k_bytes.saturating_add(rows.saturating_mul(bytes_of(type_k, d_k)));
        v_bytes = v_bytes.saturating_add(rows.saturating_mul(bytes_of(type_v, d_v)));
    }
    Ok(KvEstimate {
        cells,
        k_bytes,
        v_bytes,
        sliding: every.is_some(),
    })
}

/// Memory a start will take, as far as the header tells: the weights (the file), the KV cache
/// and the compute buffers. The measured figure after a start replaces it for that model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryEstimate {
    pub weights: u64,
    pub kv: KvEstimate,
    /// Rough: see `compute_buffers`.
    pub compute: u64,
}

impl MemoryEstimate {
    pub fn total(&self) -> u64 {
        self.weights
            .saturating_add(self.kv.bytes())
            .saturating_add(self.compute)
    }

    /// Where it will live: with GPUs present, the offloaded share of the weights and (unless
    /// `--no-kv-offload` keeps it on the host) the KV cache go to the GPUs; the rest, and
    /// everything without GPUs, takes RAM.
    pub fn placed(&self, has_gpus: bool, gpu: &GpuConfig, layers: Option<u64>) -> Placed {
        if !has_gpus {
            return Placed {
                ram: self.total(),
                gpu: 0,
            };
        }
        let weights = (self.weights as f64 * gpu_share(gpu.gpu_layers, layers)) as u64;
        let kv = if gpu.kv_offload == Some(false) {
            0
        } else {
            self.kv.bytes()
        };
        let on_gpu = weights.saturating_add(kv);
        Placed {
            ram: self.total().saturating_sub(on_gpu),
            gpu: on_gpu,
        }
    }
}

/// An estimate split between the machine's RAM and its GPUs' memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    pub ram: u64,
    pub gpu: u64,
}

/// The compute buffers llama-server reserves, roughly: per token of a micro-batch the logits
/// (4 bytes per vocabulary entry) and the layer activations (taken as 64 bytes per embedding
/// value), plus the attention mask (2 bytes per micro-batch token per KV cell). Against b11434's
/// own log on the test models (ubatch 128 and 512, context 1,024 and 4,096) it errs high, by up
/// to twice on the tiniest and a fifth on the 110 MB one.
pub fn compute_buffers(meta: &GgufMetadata, settings: &KvSettings, cells: u64) -> u64 {
    let ubatch = settings.ubatch.unwrap_or(DEFAULT_UBATCH).max(1);
    let vocab = meta.vocabulary_size.unwrap_or(0);
    let embedding = meta.embedding_length.unwrap_or(0);
    let per_token = vocab
        .saturating_mul(4)
        .saturating_add(embedding.saturating_mul(64));
    ubatch
        .saturating_mul(per_token)
        .saturating_add(ubatch.saturating_mul(cells).saturating_mul(2))
}

pub fn memory(meta: &GgufMetadata, settings: &KvSettings) -> Result<MemoryEstimate, KvProblem> {
    let weights = meta
        .file_bytes
        .ok_or(KvProblem::Unknown("the file's size"))?;
    let kv = kv_cache(meta, settings)?;
    Ok(MemoryEstimate {
        weights,
        kv,
        compute: compute_buffers(meta, settings, kv.cells),
    })
}

/// The share of the weights llama-server puts on GPUs when some are present: `gpu_layers` of
/// the model's layers (the output layer counted as one more), all of them for `auto`, `all` or
/// unset (llama-server's `auto` offloads what fits, so this is the most it will).
pub fn gpu_share(gpu_layers: Option<GpuLayers>, layers: Option<u64>) -> f64 {
    let total = layers.unwrap_or(0) + 1;
    match gpu_layers {
        Some(GpuLayers::Count(n)) => {
            (u64::try_from(n).unwrap_or(0).min(total) as f64) / total as f64
        }
        Some(GpuLayers::Keyword(_)) | None => 1.0,
    }
}

/// How a need compares with what is free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// With room to spare (at most 85 % of what is free).
    Fits,
    /// Within what is free, but barely: compute buffers may tip it over.
    Tight,
    WontFit,
}

impl Fit {
    pub fn of(need: u64, free: u64) -> Fit {
        if need.saturating_mul(100) <= free.saturating_mul(85) {
            Fit::Fits
        } else if need <= free {
            Fit::Tight
        } else {
            Fit::WontFit
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Fit::Fits => "fits",
            Fit::Tight => "tight",
            Fit::WontFit => "won't fit",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn llama_8b() -> GgufMetadata {
        GgufMetadata {
            architecture: "llama".into(),
            context_length: Some(131_072),
            layers: Some(32),
            embedding_length: Some(4096),
            head_count: Some(32),
            head_count_kv: vec![8],
            ..GgufMetadata::default()
        }
    }

    #[test]
    fn the_need_is_the_file_and_the_kv_cache_and_is_judged_against_what_is_free() {
        let meta = GgufMetadata {
            file_bytes: Some(4 << 30),
            ..llama_8b()
        };
        let settings = KvSettings {
            context: Some(8192),
            ..KvSettings::default()
        };
        let estimate = memory(&meta, &settings).unwrap();
        assert_eq!(estimate.weights + estimate.kv.bytes(), 5 << 30);
        // 512 tokens × 4096 × 64 bytes of activations, plus a 512 × 8192 mask of 2 bytes.
        assert_eq!(estimate.compute, (128 << 20) + (8 << 20));
        let need = estimate.total();
        assert_eq!(Fit::of(need, 8 << 30), Fit::Fits);
        assert_eq!(Fit::of(need, need + (100 << 20)), Fit::Tight);
        assert_eq!(Fit::of(need, 5 << 30), Fit::WontFit);
        assert_eq!(
            memory(&llama_8b(), &settings),
            Err(KvProblem::Unknown("the file's size"))
        );
    }

    #[test]
    fn the_gpu_share_follows_the_gpu_layers() {
        use crate::domain::config::gpu::LayersKeyword;
        assert_eq!(gpu_share(Some(GpuLayers::Count(0)), Some(31)), 0.0);
        assert_eq!(gpu_share(Some(GpuLayers::Count(16)), Some(31)), 0.5);
        assert_eq!(gpu_share(Some(GpuLayers::Count(99)), Some(31)), 1.0);
        assert_eq!(
            gpu_share(Some(GpuLayers::Keyword(LayersKeyword::Auto)), Some(31)),
            1.0
        );
        assert_eq!(gpu_share(None, None), 1.0);
        let estimate = MemoryEstimate {
            weights: 1000,
            kv: KvEstimate {
                cells: 0,
                k_bytes: 50,
                v_bytes: 50,
                sliding: false,
            },
            compute: 10,
        };
        let half = GpuConfig {
            gpu_layers: Some(GpuLayers::Count(16)),
            ..GpuConfig::default()
        };
        assert_eq!(
            estimate.placed(false, &half, Some(31)),
            Placed { ram: 1110, gpu: 0 }
        );
        assert_eq!(
            estimate.placed(true, &half, Some(31)),
            Placed { ram: 510, gpu: 600 }
        );
        let kv_home = GpuConfig {
            kv_offload: Some(false),
            ..half
        };
        assert_eq!(
            estimate.placed(true, &kv_home, Some(31)),
            Placed { ram: 610, gpu: 500 }
        );
    }

    #[test]
    fn llama_3_8b_takes_128_kib_per_token_at_f16() {
        let at = |context| {
            kv_cache(
                &llama_8b(),
                &KvSettings {
                    context: Some(context),
                    ..KvSettings::default()
                },
            )
            .unwrap()
            .bytes()
        };
        assert_eq!(at(8192), 1 << 30);
        assert_eq!(at(131_072), 16 << 30);
        // Unset: the training context.
        assert_eq!(
            kv_cache(&llama_8b(), &KvSettings::default())
                .unwrap()
                .bytes(),
            16 << 30
        );
    }

    #[test]
    fn separate_slots_pad_each_sequence_and_quantized_caches_shrink() {
        let settings = KvSettings {
            context: Some(4096),
            parallel: Some(3),
            ..KvSettings::default()
        };
        // 4096 / 3 → 1366 → 1536 cells each.
        assert_eq!(kv_cache(&llama_8b(), &settings).unwrap().cells, 3 * 1536);
        let q8 = KvSettings {
            context: Some(8192),
            type_k: Some(CacheType::Q8_0),
            type_v: Some(CacheType::Q8_0),
            ..KvSettings::default()
        };
        assert_eq!(
            kv_cache(&llama_8b(), &q8).unwrap().bytes(),
            (1u64 << 30) * 34 / 64
        );
        let no_fa = KvSettings {
            flash_attention: Some(FlashAttention::Off),
            ..q8
        };
        assert_eq!(
            kv_cache(&llama_8b(), &no_fa),
            Err(KvProblem::QuantizedVNeedsFlashAttention)
        );
    }

    #[test]
    fn per_layer_kv_heads_and_sliding_windows_count_only_what_is_kept() {
        let mut meta = llama_8b();
        meta.head_count_kv = (0..32).map(|l| if l % 2 == 0 { 8 } else { 0 }).collect();
        let settings = KvSettings {
            context: Some(8192),
            ..KvSettings::default()
        };
        assert_eq!(kv_cache(&meta, &settings).unwrap().bytes(), 1 << 29);
        let gemma = GgufMetadata {
            architecture: "gemma3".into(),
            sliding_window: Some(1024),
            head_count_kv: vec![8],
            ..llama_8b()
        };
        let windowed = kv_cache(&gemma, &settings).unwrap();
        assert!(windowed.sliding);
        // Every 6th layer full (5 of 32, 8192 cells); the other 27 keep the window of each of
        // the 4 slots and a batch: 4 × 1024 + 512 → 4608 cells. 4 KiB per cell and layer.
        assert_eq!(windowed.bytes(), (5 * 8192 + 27 * 4608) * 4096);
        let full = KvSettings {
            swa_full: Some(true),
            ..settings
        };
        assert_eq!(kv_cache(&gemma, &full).unwrap().bytes(), 1 << 30);
        assert_eq!(
            kv_cache(&GgufMetadata::default(), &settings),
            Err(KvProblem::Unknown("the layer count"))
        );
    }
}
