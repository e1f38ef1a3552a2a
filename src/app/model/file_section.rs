//! "What the file says": the model file's GGUF header (architecture, parameters, quantization,
//! training context, attention shape) and the KV cache the saved settings will allocate. Read
//! after the page has loaded (a header read never holds up the page).

use leptos::prelude::*;

use crate::api::models::get_model_file;
use crate::api::runs::list_runs;
use crate::app::live_store::use_live;
use crate::domain::config::gpu::GpuConfig;
use crate::domain::gguf::{FileReport, GgufMetadata, format_parameters};
use crate::domain::memory_estimate::{Fit, KvProblem, KvSettings, kv_cache, memory};
use crate::domain::time::format_bytes;
use crate::domain::{AppError, Model};

#[component]
pub fn FileSection(
    id: i64,
    kv: Signal<KvSettings>,
    gpu: GpuConfig,
    current: RwSignal<Model>,
) -> impl IntoView {
    // Fetched from an effect, which runs only in the browser: a resource read here would sit
    // inside the page's Suspense and hold its server render open forever.
    let report = RwSignal::new(None::<Result<FileReport, AppError>>);

    Effect::new(move |_| {
        leptos::task::spawn_local(async move {
            report.set(Some(get_model_file(id).await));
        });
    });
    // What the last measured run used, fetched again whenever the status changes (a run that
    // just ended has its peak recorded).
    let status = Memo::new(move |_| current.with(|m| m.status));
    let recent = LocalResource::new(move || {
        // Read, not only tracked (a memo left unread stops telling of changes).
        status.with(|_| ());
        list_runs(id, Some(5), None)
    });
    let measured = Signal::derive(move || match recent.get() {
        Some(Ok(runs)) => runs.iter().find_map(|run| run.peak_rss_bytes),
        _ => None,
    });
    view! {
        <section class="card" id="file" aria-labelledby="file-title">
            <div class="card-head"><h2 id="file-title">"What the file says"</h2></div>
            {move || match report.get() {
                None => view! { <p class="muted">"Reading the file's header…"</p> }.into_any(),
                Some(Err(error)) => view! {
                    <p class="error-banner" role="alert">{format!("Could not read the file: {error}")}</p>
                }.into_any(),
                Some(Ok(FileReport::Unreadable(why))) => view! {
                    <p class="muted" role="status">{format!("Nothing to show: {why}")}</p>
                }.into_any(),
                Some(Ok(FileReport::Read(meta))) => view! { <FileFacts meta=*meta kv gpu=gpu.clone() current measured/> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn FileFacts(
    meta: GgufMetadata,
    kv: Signal<KvSettings>,
    gpu: GpuConfig,
    current: RwSignal<Model>,
    measured: Signal<Option<u64>>,
) -> impl IntoView {
    let live = use_live();
    let layers = meta.layers;
    let estimate_meta = meta.clone();
    // Against this machine's free memory now (the live channel's latest sample).
    let fit_line = move || {
        let need = match memory(&estimate_meta, &kv.get()) {
            Ok(need) => need,
            Err(_) => return "not known (see the KV cache above)".to_string(),
        };
        let sample = live
            .state
            .with(|s| s.as_ref().and_then(|s| s.metrics.last().cloned()));
        let gpus = sample.as_ref().map_or(0, |s| s.gpus.len());
        let placed = need.placed(gpus > 0, &gpu, layers);
        let mut parts = format!(
            "needs about {} (weights {} + KV {} + compute buffers about {})",
            format_bytes(need.total()),
            format_bytes(need.weights),
            format_bytes(need.kv.bytes()),
            format_bytes(need.compute)
        );
        if gpus > 0 {
            parts.push_str(&format!(
                "; on GPUs about {}, in RAM about {}",
                format_bytes(placed.gpu),
                format_bytes(placed.ram)
            ));
        }
        if let Some(peak) = measured.get() {
            parts.push_str(&format!(
                "; a recent run used {} at its peak",
                format_bytes(peak)
            ));
        }
        if current.with(|m| m.status.is_active()) {
            // The process's measured memory, beside the estimate.
            let id = current.with(|m| m.id);
            let now = live.state.with(|s| {
                s.as_ref().and_then(|s| {
                    s.runs
                        .iter()
                        .find(|r| r.model_id == id)
                        .and_then(|r| r.sample.as_ref()?.rss_bytes)
                })
            });
            return match now {
                Some(rss) => format!(
                    "{parts}; running, it uses {} (resident) now",
                    format_bytes(rss)
                ),
                None => format!("{parts}; it is running, so its memory is in use now"),
            };
        }
        let Some(sample) = sample else {
            return format!("{parts}; free memory not known yet");
        };
        let free = sample
            .memory_total_bytes
            .saturating_sub(sample.memory_used_bytes);
        let mut line = format!(
            "{parts}; {} of RAM free: {}",
            format_bytes(free),
            Fit::of(placed.ram, free).label()
        );
        let mut gpu_free = 0u64;
        for gpu in &sample.gpus {
            if let (Some(total), Some(used)) = (gpu.memory_total_bytes, gpu.memory_used_bytes) {
                gpu_free = gpu_free.saturating_add(total.saturating_sub(used));
                line.push_str(&format!(
                    "; GPU {} ({}) has {} free",
                    gpu.index,
                    gpu.name,
                    format_bytes(total.saturating_sub(used))
                ));
            }
        }
        if gpus > 0 {
            // The offloaded part against every GPU's free memory together (layers split
            // across them).
            line.push_str(&format!(
                "; on the GPUs: {}",
                Fit::of(placed.gpu, gpu_free).label()
            ));
        }
        line
    };
    let quantization = meta.quantization();
    let number = |n: Option<u64>| n.map_or_else(|| "not stated".to_string(), |n| n.to_string());
    let kv_heads = match meta.head_count_kv.as_slice() {
        [] => number(meta.head_count),
        [all] => all.to_string(),
        per_layer => {
            let (low, high) = (per_layer.iter().min(), per_layer.iter().max());
            format!("{}–{} (per layer)", low.unwrap_or(&0), high.unwrap_or(&0))
        }
    };
    let kv_meta = meta.clone();
    let model_id = current.with_untracked(|m| m.id);
    // The saved settings' cache, and what the running process still uses when a restart is
    // waiting to change it.
    let running_differs = move || {
        let changes = live.pending_restart(model_id)?;
        let kv: Vec<String> = changes
            .iter()
            .filter(|c| KV_FLAGS.contains(&c.flag.as_str()))
            .map(|c| c.describe())
            .collect();
        (!kv.is_empty()).then(|| {
            format!(
                " (saved settings; the running process still uses the old values, restart to apply: {})",
                kv.join(", ")
            )
        })
    };
    let kv_line =
        move || kv_saved_line(&kv_meta, &kv.get()) + &running_differs().unwrap_or_default();
    let mut names = meta.architecture.clone();
    if let Some(label) = &meta.size_label {
        names.push_str(&format!(" · {label}"));
    }
    view! {
        <dl class="facts" aria-label="File metadata">
            <div><dt>"Name"</dt><dd>{meta.name.clone().unwrap_or_else(|| "not stated".into())}</dd></div>
            <div><dt>"Architecture"</dt><dd class="mono">{names}</dd></div>
            <div><dt>"Parameters"</dt><dd>{format_parameters(meta.parameters)}</dd></div>
            <div><dt>"Quantization"</dt><dd class="mono">{quantization}</dd></div>
            <div><dt>"Training context"</dt><dd>{number(meta.context_length)}</dd></div>
            <div><dt>"Layers"</dt><dd>{number(meta.layers)}</dd></div>
            <div><dt>"Attention heads / KV heads"</dt><dd>{format!("{} / {kv_heads}", number(meta.head_count))}</dd></div>
            <div><dt>"Vocabulary"</dt><dd>{number(meta.vocabulary_size)}</dd></div>
            <div><dt>"Chat template"</dt><dd>{if meta.has_chat_template { "in the file" } else { "none" }}</dd></div>
            {meta.split.map(|(part, of)| view! { <div><dt>"Split"</dt><dd>{format!("part {part} of {of}")}</dd></div> })}
            {(!meta.projects_for.is_empty()).then(|| view! {
                <div><dt>"Projects for"</dt><dd>{meta.projects_for.join(", ")}</dd></div>
            })}
            <div><dt>"KV cache (these settings)"</dt><dd>{kv_line}</dd></div>
            <div><dt>"Will it fit"</dt><dd>{fit_line}</dd></div>
        </dl>
    }
}

/// Flags that change the KV cache's size or type.
const KV_FLAGS: &[&str] = &[
    "--ctx-size",
    "--cache-type-k",
    "--cache-type-v",
    "--flash-attn",
    "--parallel",
    "--kv-unified",
    "--swa-full",
];

/// "48 MiB for 4096 cells (24 MiB K, 24 MiB V)": the cache the saved settings allocate.
fn kv_saved_line(meta: &GgufMetadata, settings: &KvSettings) -> String {
    match kv_cache(meta, settings) {
        Ok(estimate) => format!(
            "{} for {} cells ({} K, {} V){}",
            format_bytes(estimate.bytes()),
            estimate.cells,
            format_bytes(estimate.k_bytes),
            format_bytes(estimate.v_bytes),
            if estimate.sliding {
                "; sliding-window layers sized from the architecture"
            } else {
                ""
            }
        ),
        Err(KvProblem::QuantizedVNeedsFlashAttention) => {
            "llama-server refuses a quantized V cache with flash attention off".to_string()
        }
        Err(KvProblem::Unknown(what)) => format!("not known: the file does not state {what}"),
    }
}
