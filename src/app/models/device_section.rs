//! The models page's devices: what each device (RAM, every GPU NVML reads) holds, by which
//! running model, and the budget Corral keeps the models within, from the live samples.

use leptos::prelude::*;

use crate::api::runs::get_memory_budgets;
use crate::app::fetch_when::fetch_when;
use crate::app::models::state::ModelsPageState;
use crate::domain::device_memory::{Budget, DeviceUse, MemoryBudgets, RunMemory, device_uses};
use crate::domain::time::format_bytes;

/// Most models named per device; the rest are counted.
const NAMED: usize = 6;
/// The meter's width in its own units.
const METER: f64 = 1000.0;

#[component]
pub fn DeviceSection(state: ModelsPageState) -> impl IntoView {
    let budgets = LocalResource::new(move || fetch_when(true, get_memory_budgets()));
    let devices = Memo::new(move |_| {
        let budgets: MemoryBudgets = match budgets.get() {
            Some(Some(Ok(budgets))) => budgets,
            _ => MemoryBudgets::default(),
        };
        state.live.state.with(|s| {
            let Some(s) = s else { return Vec::new() };
            let Some(last) = s.metrics.last() else {
                return Vec::new();
            };
            let runs: Vec<RunMemory> = s
                .runs
                .iter()
                .filter_map(|run| {
                    let sample = run.sample.as_ref()?;
                    Some(RunMemory {
                        model_id: run.model_id,
                        ram: sample.rss_bytes.unwrap_or(0),
                        gpus: sample.gpu_memory.clone(),
                    })
                })
                .collect();
            let ram = (last.memory_total_bytes, last.memory_used_bytes);
            device_uses(ram, &last.gpus, &runs, &budgets)
        })
    });
    let name_of = move |id: i64| {
        state.live.state.with(|s| {
            s.as_ref()
                .and_then(|s| s.models.iter().find(|m| m.id == id))
                .map_or_else(|| format!("model {id}"), |m| m.spec.name.clone())
        })
    };
    view! {
        <Show when=move || !devices.with(Vec::is_empty)>
            <section class="card devices" aria-labelledby="devices-title">
                <h2 id="devices-title">"Memory by device"</h2>
                <ul class="device-list">
                    <For each=move || devices.get() key=|d| d.clone() let:device>
                        <DeviceRow device name_of/>
                    </For>
                </ul>
            </section>
        </Show>
    }
}

#[component]
fn DeviceRow(
    device: DeviceUse,
    name_of: impl Fn(i64) -> String + Copy + Send + Sync + 'static,
) -> impl IntoView {
    // Drawn in SVG: widths are attributes there, which the page's CSP (no inline styles)
    // allows, where a `style` width would be blocked.
    let total = device.total.max(1) as f64;
    let scale = |bytes: u64| format!("{:.1}", (bytes as f64 / total * METER).min(METER));
    let models = device.models_use();
    let others = device.others_use();
    let room = device.budget.room_for_models(&device);
    let budget_at = match device.budget {
        Budget::Set { bytes } if bytes < device.total => Some(scale(bytes)),
        _ => None,
    };
    let standing = format!(
        "{} used of {} · models {} · {}",
        format_bytes(device.used),
        format_bytes(device.total),
        format_bytes(models),
        device.budget.describe()
    );
    let over = models > room;
    let mut held = device.by_model.clone();
    held.sort_by_key(|(_, bytes)| std::cmp::Reverse(*bytes));
    let more = held.len().saturating_sub(NAMED);
    view! {
        <li class="device">
            <div class="device-head">
                <strong class="device-name">{device.title()}</strong>
                <span class="muted device-standing">{standing}</span>
            </div>
            <svg class="device-meter" viewBox="0 0 1000 10" preserveAspectRatio="none" role="img"
                aria-label=format!("{} of {} held by models, {} by other processes", format_bytes(models), format_bytes(device.total), format_bytes(others))>
                <rect class="meter-track" width="1000" height="10"/>
                <rect class="meter-models" class:over=over width=scale(models) height="10"/>
                <rect class="meter-others" x=scale(models) width=scale(others) height="10"/>
                {budget_at.map(|at| view! { <rect class="meter-budget" x=at width="4" height="10"><title>"budget"</title></rect> })}
            </svg>
            <ul class="held-by">
                {held.into_iter().take(NAMED).map(|(id, bytes)| view! {
                    <li><a href=format!("/models/{id}")>{name_of(id)}</a>" "<span class="muted">{format_bytes(bytes)}</span></li>
                }).collect_view()}
                {(more > 0).then(|| view! { <li class="muted">{format!("{more} more")}</li> })}
                {(others > 0).then(|| view! {
                    <li class="muted">{format!("other processes {}", format_bytes(others))}</li>
                })}
            </ul>
        </li>
    }
}
