//! Memory: how the weights and the KV cache are held.

use serde::{Deserialize, Serialize};

use crate::domain::fields::{FieldSet, FieldSpec};

choice_enum! {
    /// How the weights are loaded (`--load-mode`).
    pub enum LoadMode {
        Auto => "auto",
        None => "none",
        Mmap => "mmap",
        Mlock => "mlock",
        MmapMlock => "mmap+mlock",
        Dio => "dio",
    }
}

choice_enum! {
    /// Data type of the K or V cache.
    pub enum CacheType {
        F32 => "f32",
        F16 => "f16",
        Bf16 => "bf16",
        Q8_0 => "q8_0",
        Q4_0 => "q4_0",
        Q4_1 => "q4_1",
        Iq4Nl => "iq4_nl",
        Q5_0 => "q5_0",
        Q5_1 => "q5_1",
    }
}

choice_enum! {
    /// NUMA placement (`--numa`).
    pub enum NumaMode {
        Distribute => "distribute",
        Isolate => "isolate",
        Numactl => "numactl",
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryConfig {
    pub load_mode: Option<LoadMode>,
    pub cache_ram_mib: Option<i64>,
    pub cache_reuse: Option<i64>,
    pub cache_type_k: Option<CacheType>,
    pub cache_type_v: Option<CacheType>,
    pub numa: Option<NumaMode>,
    pub defrag_threshold: Option<f64>,
}

impl FieldSet for MemoryConfig {
    const FIELDS: &'static [FieldSpec] = &[
        FieldSpec::choice("load_mode", "Load mode", LoadMode::NAMES)
            .passed_as("--load-mode")
            .help("mmap maps the file; mlock keeps it in RAM; dio reads with direct I/O.")
            .default("auto"),
        FieldSpec::int("cache_ram_mib", "Prompt cache RAM (MiB)", -1, 1_048_576)
            .passed_as("--cache-ram")
            .help("RAM for caching prompts between requests; 0 disables, -1 is unlimited.")
            .default("8192"),
        FieldSpec::int("cache_reuse", "Prompt cache reuse (tokens)", 0, 4_194_304)
            .passed_as("--cache-reuse")
            .help("Reuse cached prompt chunks this long or longer (KV shifting); 0 disables.")
            .default("0 (off)"),
        FieldSpec::choice("cache_type_k", "K cache type", CacheType::NAMES)
            .passed_as("--cache-type-k")
            .help("Quantising the K cache saves memory at some quality cost.")
            .default("f16"),
        FieldSpec::choice("cache_type_v", "V cache type", CacheType::NAMES)
            .passed_as("--cache-type-v")
            .help("Quantising the V cache needs flash attention.")
            .default("f16"),
        FieldSpec::choice("numa", "NUMA mode", NumaMode::NAMES)
            .passed_as("--numa")
            .help("Thread and memory placement on multi-socket machines.")
            .default("off"),
        FieldSpec::float("defrag_threshold", "KV defrag threshold", -1.0, 1.0)
            .passed_as("--defrag-thold")
            .help("Defragment the KV cache when holes exceed this share; -1 disables.")
            .default("-1 (off)"),
    ];
}
