//! `/activity`: the gateway's requests, newest first, live (new rows arrive on the WebSocket),
//! filtered by model and outcome, with per-model charts of time to first token and generation
//! speed over the last hour.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::activity::{activity_charts, list_activity};
use crate::api::keys::list_keys;
use crate::app::live_store::use_live;
use crate::app::widgets::chart::{ChartData, LineChart};
use crate::app::widgets::local_time::LocalTime;
use crate::domain::activity::{Activity, ActivityQuery, ActivitySeries, Outcome, SeriesQuery};
use crate::domain::metrics::{Point, Unit};
use crate::domain::page::Page;
use crate::domain::time::{format_millis, now_ms};

const PAGE: u32 = 50;
const CHART_SPAN: i64 = 3_600_000;
const CHART_POINTS: u32 = 60;

// One page's markup, read top to bottom as it shows (filters, charts, the table); its state
// and its parts (charts, rows) live in their own files.
#[allow(clippy::too_many_lines)]
#[component]
pub fn ActivityPage() -> impl IntoView {
    let live = use_live();
    let model_id = RwSignal::new(None::<i64>);
    let outcome = RwSignal::new(None::<Outcome>);
    let caller = RwSignal::new(None::<String>);
    let query = move |before: Option<i64>| ActivityQuery {
        model_id: model_id.get_untracked(),
        outcome: outcome.get_untracked(),
        caller: caller.get_untracked(),
        page: Page {
            limit: Some(PAGE),
            before,
        },
    };
    // The first page for the filters; rows recorded after it arrive live; older pages on demand.
    let first = LocalResource::new(move || {
        model_id.track();
        outcome.track();
        caller.track();
        let q = query(None);
        async move { list_activity(q).await }
    });
    let older = RwSignal::new(Vec::<Activity>::new());
    Effect::new(move |_| {
        model_id.track();
        outcome.track();
        caller.track();
        older.set(Vec::new());
    });
    // The keys that may have made requests, to filter by (none where no key was ever made).
    let keys = LocalResource::new(|| async { list_keys().await.unwrap_or_default() });
    let rows = Memo::new(move |_| {
        let loaded = first.get().and_then(Result::ok).unwrap_or_default();
        let newest = loaded.first().map_or(0, |a| a.id);
        let (model, wanted, who) = (model_id.get(), outcome.get(), caller.get());
        let mut rows: Vec<Activity> = live.state.with(|s| {
            s.as_ref()
                .map(|s| {
                    s.activity
                        .iter()
                        .rev()
                        .filter(|a| {
                            a.id > newest
                                && shown(a, model, wanted)
                                && who.as_ref().is_none_or(|w| a.caller.as_ref() == Some(w))
                        })
                        .cloned()
                        .collect()
                })
                .unwrap_or_default()
        });
        rows.extend(loaded);
        rows.extend(older.get());
        rows
    });
    let more = Action::new(move |before: &i64| {
        let q = query(Some(*before));
        async move {
            if let Ok(page) = list_activity(q).await {
                older.update(|rows| rows.extend(page));
            }
        }
    });
    let error = move || match first.get() {
        Some(Err(error)) => Some(error.to_string()),
        _ => None,
    };
    // The charts are asked for again every ten seconds of the live clock (the samples).
    let clock = Memo::new(move |_| {
        live.state.with(|s| {
            s.as_ref()
                .and_then(|s| s.metrics.last())
                .map(|m| m.at / 10_000)
        })
    });
    let series = LocalResource::new(move || {
        // Read, not only tracked (a memo left unread stops telling of changes).
        clock.with(|_| ());
        let to = now_ms();
        async move {
            activity_charts(SeriesQuery {
                from: to - CHART_SPAN,
                to,
                points: CHART_POINTS,
            })
            .await
        }
    });
    let charts = Memo::new(move |_| {
        let chosen = model_id.get();
        series
            .get()
            .and_then(Result::ok)
            .unwrap_or_default()
            .into_iter()
            .filter(|s| chosen.is_none_or(|id| id == s.model_id))
            .flat_map(charts_of)
            .collect::<Vec<_>>()
    });
    let models = move || {
        live.models()
            .unwrap_or_default()
            .into_iter()
            .map(|m| (m.id, m.spec.name))
            .collect::<Vec<_>>()
    };
    view! {
        <Title text="Activity"/>
        <div class="page-head">
            <h1>"Activity"</h1>
            <div class="filters">
                <label>"Model "
                    <select aria-label="Model" on:change=move |ev| {
                        model_id.set(event_target_value(&ev).parse().ok());
                    }>
                        <option value="">"All models"</option>
                        {move || models().into_iter().map(|(id, name)| view! {
                            <option value=id.to_string() selected=move || model_id.get() == Some(id)>{name}</option>
                        }).collect_view()}
                    </select>
                </label>
                <label>"Outcome "
                    <select aria-label="Outcome" on:change=move |ev| {
                        outcome.set(Outcome::parse(&event_target_value(&ev)));
                    }>
                        <option value="">"All"</option>
                        <option value="succeeded">"Succeeded"</option>
                        <option value="failed">"Failed"</option>
                    </select>
                </label>
                <label>"Caller "
                    <select aria-label="Caller" on:change=move |ev| {
                        let value = event_target_value(&ev);
                        caller.set((!value.is_empty()).then_some(value));
                    }>
                        <option value="">"Anyone"</option>
                        <option value="session">"Signed-in browsers"</option>
                        {move || keys.get().unwrap_or_default().into_iter().map(|key| view! {
                            <option value=key.prefix.clone()>{format!("{} ({}…)", key.name, key.prefix)}</option>
                        }).collect_view()}
                    </select>
                </label>
            </div>
        </div>
        {move || error().map(|e| view! { <p class="error-banner" role="alert">{format!("Could not load activity: {e}")}</p> })}
        // The requests come first; on a narrow screen the table scrolls inside its box, never
        // the page.
        <div class="table-scroll" tabindex="0" role="region" aria-label="Requests (scrolls sideways)">
            <table class="activity" aria-label="Gateway requests">
                <thead>
                    <tr>
                        <th title="Your local time; hover a time for UTC">"Time"</th><th>"Model"</th><th>"Endpoint"</th><th>"Status"</th>
                        <th>"Waited"</th><th>"TTFT"</th><th>"Tokens"</th><th>"tok/s"</th><th>"Duration"</th>
                        <th>"Caller"</th>
                    </tr>
                </thead>
                <tbody>
                    <For each=move || rows.get() key=|a| a.id let:activity>
                        <ActivityRow activity/>
                    </For>
                </tbody>
            </table>
        </div>
        <Show when=move || rows.with(Vec::is_empty) && first.get().is_some()>
            <p class="muted">"No requests yet. Point an OpenAI client at this server's /v1 and name a model."</p>
        </Show>
        <Show when=move || rows.with(|r| r.len() >= PAGE as usize)>
            <button class="small" on:click=move |_| {
                if let Some(last) = rows.with(|r| r.last().map(|a| a.id)) {
                    more.dispatch(last);
                }
            }>"Load older"</button>
        </Show>
        // The charts follow, folded away by a click (20 of them with 10 models).
        <details class="charts-fold" open>
            <summary>"Charts"</summary>
            <div class="charts">
                <For each=move || charts.get() key=|(title, _, _)| title.clone() let:chart>
                    {
                        let (title, unit, _) = chart;
                        let key = title.clone();
                        let data = Signal::derive(move || {
                            charts.with(|all| all.iter().find(|(t, _, _)| *t == key).map(|(_, _, d)| d.clone()))
                                .unwrap_or(ChartData { points: vec![], from: 0, to: 1, ceiling: None })
                        });
                        view! { <LineChart title unit data/> }
                    }
                </For>
            </div>
        </details>
    }
}

fn shown(activity: &Activity, model: Option<i64>, outcome: Option<Outcome>) -> bool {
    model.is_none_or(|id| activity.model_id == Some(id))
        && outcome.is_none_or(|o| (o == Outcome::Succeeded) == activity.succeeded())
}

#[component]
fn ActivityRow(activity: Activity) -> impl IntoView {
    let dash = || "—".to_string();
    let waited = match (activity.queue_ms, activity.load_ms) {
        (None, None) => dash(),
        (queue, load) => {
            let mut text = format_millis(queue.unwrap_or(0) + load.unwrap_or(0));
            if activity.started_model {
                text.push_str(" (started it)");
            }
            text
        }
    };
    let tokens = match (activity.prompt_tokens, activity.generated_tokens) {
        (None, None) => dash(),
        (prompt, generated) => {
            let cached = activity
                .cached_tokens
                .filter(|c| *c > 0)
                .map(|c| format!(", {c} cached"))
                .unwrap_or_default();
            format!(
                "{} → {}{cached}",
                prompt.map_or_else(dash, |p| p.to_string()),
                generated.map_or_else(dash, |g| g.to_string())
            )
        }
    };
    let class = if activity.succeeded() { "ok" } else { "failed" };
    let status_title = activity.error.clone().unwrap_or_default();
    view! {
        <tr class=class data-id=activity.id.to_string()>
            <td><LocalTime ms=activity.received_at clock=true/></td>
            <td>
                {activity.model.clone()}
                {activity.via.clone().map(|via| view! { <div class="small muted" title="the virtual model asked for">"via "{via}</div> })}
            </td>
            <td><code>{activity.endpoint.clone()}</code></td>
            <td title=status_title.clone()>
                {activity.status}
                {activity.error.clone().map(|e| view! { <div class="small activity-error">{e}</div> })}
            </td>
            <td>{waited}</td>
            <td>{activity.ttft_ms.map_or_else(dash, format_millis)}</td>
            <td>{tokens}</td>
            <td>{activity.generation_tokens_per_s.map_or_else(dash, |t| format!("{t:.1}"))}</td>
            <td>{format_millis(activity.duration_ms)}</td>
            <td>{activity.caller.clone().unwrap_or_else(dash)}</td>
        </tr>
    }
}

/// Two charts per model: time to first token (the median, with a band up to p99) and mean
/// generation speed.
fn charts_of(series: ActivitySeries) -> Vec<(String, Unit, ChartData)> {
    let to = now_ms();
    let from = to - CHART_SPAN;
    let chart = |points: Vec<Point>| ChartData {
        points,
        from,
        to,
        ceiling: None,
    };
    let ttft = series
        .points
        .iter()
        .filter_map(|p| {
            Some(Point {
                at: p.at,
                avg: p.ttft_p50_ms?,
                min: p.ttft_p50_ms?,
                max: p.ttft_p99_ms?,
            })
        })
        .collect();
    let speed = series
        .points
        .iter()
        .filter_map(|p| {
            let v = p.generation_tokens_per_s?;
            Some(Point {
                at: p.at,
                avg: v,
                min: v,
                max: v,
            })
        })
        .collect();
    vec![
        (
            format!("{} · time to first token (p50, band to p99)", series.model),
            Unit::Milliseconds,
            chart(ttft),
        ),
        (
            format!("{} · generation speed", series.model),
            Unit::PerSecond,
            chart(speed),
        ),
    ]
}
