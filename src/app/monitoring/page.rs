//! `/monitoring`: the last five minutes live from the WebSocket (the machine, Corral, GPUs, and
//! each running model from when the page opened), or a longer range from history; model charts
//! are titled with the model's name.

use leptos::prelude::*;

use crate::app::widgets::log_view::LogView;
use leptos_meta::Title;

use crate::api::metrics::metrics_history;
use crate::app::live_store::{LiveStore, use_live};
use crate::app::widgets::chart::{ChartData, LineChart};
use std::collections::HashMap;

use crate::domain::metrics::{
    HistoryQuery, Point, Series, SeriesKey, SeriesSource, SystemSample, Unit,
};
use crate::domain::run::LogSource;
use crate::domain::run::ModelSample;
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
    let history = LocalResource::new(move || read_history(range.get()));
    let samples = move || {
        live.state
            .with(|s| s.as_ref().map(|s| s.metrics.clone()).unwrap_or_default())
    };
    let model_points = collect_model_points(live);
    let title_of = move |key: SeriesKey| chart_title(live, key);
    // Every series to draw, from the live samples or from history.
    let charts = Memo::new(move |_| match range.get() {
        None => {
            let mut charts = live_charts(&samples());
            let (from, to) = charts
                .first()
                .map_or_else(|| (now_ms() - LIVE_SPAN, now_ms()), |(_, d)| (d.from, d.to));
            model_points.with(|all| {
                charts.extend(all.iter().map(|(key, points)| {
                    (
                        *key,
                        ChartData {
                            points: points.clone(),
                            from,
                            to,
                            ceiling: None,
                        },
                    )
                }));
            });
            charts.sort_by_key(|(key, _)| *key);
            charts
        }
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
            <For each=move || charts.get() key=|(key, _)| *key let:chart>
                {
                    let (key, _) = chart;
                    let (title, unit) = (title_of(key), key.unit());
                    let data = Signal::derive(move || {
                        charts.with(|all| all.iter().find(|(k, _)| *k == key).map(|(_, d)| d.clone()))
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
        <LogView source=LogSource::Corral live title="Corral's log" empty="Nothing logged yet."/>
    }
}

type Chart = (SeriesKey, ChartData);

/// The history of the last `span` (none for Live).
async fn read_history(span: Option<i64>) -> Option<Result<Vec<Series>, crate::domain::AppError>> {
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

/// Each running model's readings as they arrive (the live snapshot carries only the latest
/// sample per run): kept for the live span, from when the page opened.
fn collect_model_points(live: LiveStore) -> RwSignal<HashMap<SeriesKey, Vec<Point>>> {
    let model_points = RwSignal::new(HashMap::<SeriesKey, Vec<Point>>::new());
    Effect::new(move |_| {
        let latest: Vec<(i64, ModelSample)> = live.state.with(|s| {
            s.as_ref().map_or_else(Vec::new, |s| {
                s.runs
                    .iter()
                    .filter_map(|r| r.sample.clone().map(|sample| (r.model_id, sample)))
                    .collect()
            })
        });
        model_points.update(|all| {
            for (model_id, sample) in &latest {
                for (key, value) in sample.series(*model_id) {
                    let points = all.entry(key).or_default();
                    if points.last().is_none_or(|p| p.at < sample.at) {
                        points.push(Point {
                            at: sample.at,
                            avg: value,
                            min: value,
                            max: value,
                        });
                    }
                }
            }
            let oldest = now_ms() - LIVE_SPAN;
            all.retain(|_, points| {
                points.retain(|p| p.at >= oldest);
                !points.is_empty()
            });
        });
    });
    model_points
}

/// A chart's title; a model's charts are titled with its name (an id only for a model since
/// deleted).
fn chart_title(live: LiveStore, key: SeriesKey) -> String {
    match key.source {
        SeriesSource::Model(id) => {
            let name = live.state.with(|s| {
                s.as_ref()
                    .and_then(|s| s.models.iter().find(|m| m.id == id))
                    .map(|m| m.spec.name.clone())
            });
            format!(
                "{} · {}",
                name.unwrap_or_else(|| format!("Model {id} (deleted)")),
                key.reading.label()
            )
        }
        _ => key.title(),
    }
}

fn live_charts(samples: &[SystemSample]) -> Vec<Chart> {
    let Some(last) = samples.last() else {
        return Vec::new();
    };
    let to = last.at;
    let from = to - LIVE_SPAN;
    last.series()
        .into_iter()
        .map(|(key, _)| {
            let points = samples
                .iter()
                .filter(|s| s.at >= from)
                .filter_map(|s| {
                    let value = s.series().into_iter().find(|(k, _)| *k == key)?.1;
                    Some(Point {
                        at: s.at,
                        avg: value,
                        min: value,
                        max: value,
                    })
                })
                .collect();
            let ceiling = last.ceiling(key);
            (
                key,
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

/// The chosen range, whole, in the same order as the live charts (the machine, Corral, GPUs,
/// models).
fn history_charts(series: Vec<Series>, span: i64) -> Vec<Chart> {
    let to = now_ms();
    let from = to - span;
    let mut charts: Vec<Chart> = series
        .into_iter()
        .map(|s| {
            let ceiling = (s.key.unit() == Unit::Percent).then_some(100.0);
            (
                s.key,
                ChartData {
                    points: s.points,
                    from,
                    to,
                    ceiling,
                },
            )
        })
        .collect();
    charts.sort_by_key(|(key, _)| *key);
    charts
}
