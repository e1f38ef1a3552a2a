//! `/monitoring`: the last five minutes live from the WebSocket, or a longer range from history.

use leptos::prelude::*;

use crate::app::model::logs::LogView;
use crate::domain::run::CORRAL_LOG;
use leptos_meta::Title;

use crate::api::metrics::metrics_history;
use crate::app::live_store::use_live;
use crate::app::widgets::chart::{ChartData, LineChart};
use crate::domain::metrics::{HistoryQuery, Point, Series, SystemSample, Unit, unit_of};
use crate::domain::time::now_ms;

/// The ranges a person can pick; `None` is live.
const RANGES: &[(&str, Option<i64>)] = &[
    ("Live", None),
    ("15 min", Some(15 * 60_000)),
    ("1 h", Some(3_600_000)),
    ("24 h", Some(24 * 3_600_000)),
    ("7 days", Some(7 * 24 * 3_600_000)),
];
const LIVE_SPAN: i64 = 5 * 60_000;
const HISTORY_POINTS: u32 = 300;

#[component]
pub fn MonitoringPage() -> impl IntoView {
    let live = use_live();
    let range = RwSignal::new(None::<i64>);
    let history = LocalResource::new(move || {
        let span = range.get();
        async move {
            let span = span?;
            let to = now_ms();
            Some(
                metrics_history(HistoryQuery {
                    from: to - span,
                    to,
                    points: HISTORY_POINTS,
                })
                .await,
            )
        }
    });
    let samples = move || {
        live.state
            .with(|s| s.as_ref().map(|s| s.metrics.clone()).unwrap_or_default())
    };
    // Every series to draw, from the live samples or from history.
    let charts = Memo::new(move |_| match range.get() {
        None => live_charts(&samples()),
        Some(span) => match history.get() {
            Some(Some(Ok(series))) => history_charts(series, span),
            _ => Vec::new(),
        },
    });
    let error = move || match history.get() {
        Some(Some(Err(error))) => Some(error.to_string()),
        _ => None,
    };
    view! {
        <Title text="Monitoring"/>
        <div class="page-head">
            <h1>"Monitoring"</h1>
            <div class="segmented" role="radiogroup" aria-label="Time range">
                {RANGES.iter().map(|(label, span)| {
                    let span = *span;
                    view! {
                        <button role="radio" aria-checked=move || (range.get() == span).to_string()
                            on:click=move |_| range.set(span)>{*label}</button>
                    }
                }).collect_view()}
            </div>
        </div>
        {move || error().map(|e| view! { <p class="error-banner" role="alert">{format!("Could not load history: {e}")}</p> })}
        <div class="charts">
            <For each=move || charts.get() key=|(name, _, _)| name.clone() let:chart>
                {
                    let (name, unit, _) = chart;
                    let title = chart_title(&name);
                    let data = Signal::derive(move || {
                        charts.with(|all| all.iter().find(|(n, _, _)| *n == name).map(|(_, _, d)| d.clone()))
                            .unwrap_or(ChartData { points: vec![], from: 0, to: 1, ceiling: None })
                    });
                    view! { <LineChart title unit data/> }
                }
            </For>
        </div>
        <Show when=move || charts.with(Vec::is_empty) && error().is_none()>
            <p class="muted">{move || if range.get().is_none() {
                "Waiting for the first measurements…"
            } else {
                "No history for this range yet: Corral keeps a sample per second while it runs."
            }}</p>
        </Show>
        <LogView model_id=CORRAL_LOG live title="Corral's log" empty="Nothing logged yet."/>
    }
}

type Chart = (String, Unit, ChartData);

fn live_charts(samples: &[SystemSample]) -> Vec<Chart> {
    let Some(last) = samples.last() else {
        return Vec::new();
    };
    let to = last.at;
    let from = to - LIVE_SPAN;
    last.series()
        .into_iter()
        .map(|(name, _)| {
            let points = samples
                .iter()
                .filter(|s| s.at >= from)
                .filter_map(|s| {
                    let value = s.series().into_iter().find(|(n, _)| *n == name)?.1;
                    Some(Point {
                        at: s.at,
                        avg: value,
                        min: value,
                        max: value,
                    })
                })
                .collect();
            let ceiling = ceiling_of(&name, last);
            let unit = unit_of(&name);
            (
                name,
                unit,
                ChartData {
                    points,
                    from,
                    to,
                    ceiling,
                },
            )
        })
        .collect()
}

/// The chosen range, whole, in the same order as the live charts.
fn history_charts(series: Vec<Series>, span: i64) -> Vec<Chart> {
    let to = now_ms();
    let from = to - span;
    let mut charts: Vec<Chart> = series
        .into_iter()
        .map(|s| {
            let ceiling = (s.unit == Unit::Percent).then_some(100.0);
            (
                s.name,
                s.unit,
                ChartData {
                    points: s.points,
                    from,
                    to,
                    ceiling,
                },
            )
        })
        .collect();
    charts.sort_by_key(|(name, _, _)| order_of(name));
    charts
}

/// Host charts first, in the order a sample lists them; GPUs after, by name.
fn order_of(name: &str) -> (usize, String) {
    const HOST: [&str; 4] = [
        "cpu_percent",
        "memory_used_bytes",
        "disk_used_bytes",
        "corral_rss_bytes",
    ];
    (
        HOST.iter().position(|h| *h == name).unwrap_or(HOST.len()),
        name.to_string(),
    )
}

/// A known top for the value axis: 100 % and the machine's totals.
fn ceiling_of(name: &str, sample: &SystemSample) -> Option<f64> {
    match name {
        n if n.ends_with("_percent") => Some(100.0),
        "memory_used_bytes" => Some(sample.memory_total_bytes as f64),
        "disk_used_bytes" => Some(sample.disk_total_bytes as f64),
        n => sample
            .gpus
            .iter()
            .find(|g| n == format!("gpu{}_memory_used_bytes", g.index))
            .and_then(|g| g.memory_total_bytes.map(|b| b as f64)),
    }
}

fn chart_title(name: &str) -> String {
    match name {
        "cpu_percent" => "CPU".into(),
        "memory_used_bytes" => "Memory used".into(),
        "disk_used_bytes" => "Disk used (data directory)".into(),
        "corral_rss_bytes" => "Corral memory (RSS)".into(),
        other => match other
            .strip_prefix("model")
            .and_then(|rest| rest.split_once('_'))
        {
            Some((id, reading)) if id.parse::<i64>().is_ok() => {
                format!(
                    "Model {id}: {}",
                    reading.replace("_per_s", "/s").replace('_', " ")
                )
            }
            _ => other.replace('_', " "),
        },
    }
}
