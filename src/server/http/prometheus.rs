//! `GET /metrics`: OpenMetrics text for every model, labelled by name: whether it is up, how
//! long its last load took, the numbers scraped from its server, the gateway requests it holds
//! now; then the gateway's counters and histograms. Built from the live state and memory, so it
//! costs no database read and says exactly what the page says.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::domain::ModelStatus;
use crate::domain::activity::ModelDemand;
use crate::domain::live::Snapshot;
use crate::server::boot::state::AppState;

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut text = render(&state.hub.snapshot(), &state.supervisor.demand_book().all());
    state.metering.encode(&mut text);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
}

/// One gauge family: help text and a value per model.
struct Family {
    name: &'static str,
    help: &'static str,
    values: Vec<(String, f64)>,
}

/// Every gauge, with its help: the readings of `render` come in this order.
const GAUGES: &[(&str, &str)] = &[
    (
        "corral_model_up",
        "1 while the model's llama-server is ready to answer, else 0.",
    ),
    ("corral_model_loading", "1 while the model is loading."),
    (
        "corral_model_load_seconds",
        "How long the running server took to become ready.",
    ),
    (
        "corral_model_prompt_tokens_per_second",
        "Prompt processing throughput (llama-server).",
    ),
    (
        "corral_model_generation_tokens_per_second",
        "Generation throughput (llama-server).",
    ),
    (
        "corral_model_requests_processing",
        "Requests being processed.",
    ),
    (
        "corral_model_requests_deferred",
        "Requests waiting for a free slot.",
    ),
    ("corral_model_slots_busy", "Slots busy with a request."),
    ("corral_model_slots_total", "Slots the server has."),
    (
        "corral_model_resident_memory_bytes",
        "Resident memory of the model's process.",
    ),
    (
        "corral_requests_in_flight",
        "Gateway requests the model's server is answering.",
    ),
    (
        "corral_requests_queued",
        "Gateway requests waiting for the model (its load, or room).",
    ),
];

pub fn render(snapshot: &Snapshot, demand: &[ModelDemand]) -> String {
    let mut families = GAUGES
        .iter()
        .map(|&(name, help)| Family {
            name,
            help,
            values: Vec::new(),
        })
        .collect::<Vec<_>>();
    for model in &snapshot.models {
        let label = escape(&model.spec.name);
        let run = snapshot.runs.iter().find(|r| r.model_id == model.id);
        let sample = run.and_then(|r| r.sample.as_ref());
        let up = model.status == ModelStatus::Running;
        let held = demand.iter().find(|d| d.model_id == model.id);
        let readings = [
            Some(f64::from(u8::from(up))),
            Some(f64::from(u8::from(model.status == ModelStatus::Loading))),
            run.and_then(|r| Some((r.ready_at? - r.started_at) as f64 / 1000.0)),
            sample.and_then(|s| s.prompt_tokens_per_s),
            sample.and_then(|s| s.generation_tokens_per_s),
            sample.and_then(|s| s.requests_processing),
            sample.and_then(|s| s.requests_deferred),
            sample.and_then(|s| s.slots_busy.map(f64::from)),
            sample.and_then(|s| s.slots_total.map(f64::from)),
            sample.and_then(|s| s.rss_bytes.map(|b| b as f64)),
            Some(f64::from(held.map_or(0, |d| d.in_flight))),
            Some(f64::from(held.map_or(0, |d| d.queued))),
        ];
        for (family, reading) in families.iter_mut().zip(readings) {
            if let Some(value) = reading {
                family.values.push((label.clone(), value));
            }
        }
    }
    let mut out = String::new();
    for family in families {
        out.push_str(&format!(
            "# HELP {} {}\n# TYPE {} gauge\n",
            family.name, family.help, family.name
        ));
        for (label, value) in family.values {
            out.push_str(&format!("{}{{model=\"{label}\"}} {value}\n", family.name));
        }
    }
    out
}

/// Label values escape backslash, double quote and newline (the exposition format's rules).
fn escape(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a \"b\" \\ c\nd"), r#"a \"b\" \\ c\nd"#);
    }
}
