//! The memory estimate's cost per keystroke on the model page: the page recomputes the KV
//! cache and the whole estimate each time a General setting changes. Measured natively (the
//! browser runs the same code compiled to WASM, typically within 2× of this).
//!
//! cargo bench --features ssr --bench memory_estimate
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly

use std::hint::black_box;
use std::time::Instant;

use corral::domain::gguf::GgufMetadata;
use corral::domain::memory_estimate::{KvSettings, kv_cache, memory};

fn model(architecture: &str, layers: u64, sliding: Option<u64>) -> GgufMetadata {
    GgufMetadata {
        architecture: architecture.into(),
        layers: Some(layers),
        embedding_length: Some(4096),
        head_count: Some(32),
        head_count_kv: vec![8],
        context_length: Some(131_072),
        vocabulary_size: Some(128_256),
        sliding_window: sliding,
        file_bytes: Some(4 << 30),
        ..GgufMetadata::default()
    }
}

fn main() {
    const ROUNDS: u32 = 1_000_000;
    for (name, meta) in [
        ("llama 32 layers", model("llama", 32, None)),
        (
            "gemma3 62 layers, sliding window",
            model("gemma3", 62, Some(1024)),
        ),
    ] {
        let started = Instant::now();
        let mut total = 0u64;
        for round in 0..ROUNDS {
            // A different context each time, as typing changes it.
            let settings = KvSettings {
                context: Some(1024 + u64::from(round % 64) * 1024),
                ..KvSettings::default()
            };
            let estimate = memory(black_box(&meta), black_box(&settings)).unwrap();
            total = total.wrapping_add(estimate.total());
            total = total.wrapping_add(kv_cache(&meta, &settings).unwrap().bytes());
        }
        let per = started.elapsed().as_nanos() as f64 / f64::from(ROUNDS);
        println!("memory estimate, {name}: {per:.0} ns per keystroke ({total})");
    }
}
