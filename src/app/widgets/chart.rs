//! A line chart in plain SVG: time along the bottom, the value with its unit up the side, the
//! mean as a line and the min–max range as a band. Small enough to keep the WASM lean.

use leptos::prelude::*;

use crate::app::widgets::local_time::local;
use crate::domain::metrics::{Point, Unit, format_value};

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 200.0;
// The value labels sit inside the plot, above their grid lines, starting at its left edge:
// however long a value ("8992.8 tok/s"), it is never cut off.
const LEFT: f64 = 4.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 22.0;
const BOTTOM: f64 = 26.0;

/// What one chart draws.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartData {
    pub points: Vec<Point>,
    pub from: i64,
    pub to: i64,
    /// The top of the value axis when it is known (100 %, total memory); else the data's max.
    pub ceiling: Option<f64>,
}

#[component]
pub fn LineChart(
    title: String,
    unit: Unit,
    #[prop(into)] data: Signal<ChartData>,
) -> impl IntoView {
    let latest = move || data.with(|d| d.points.last().map(|p| format_value(p.avg, unit)));
    let label = {
        let title = title.clone();
        move || {
            format!(
                "{title}: {}",
                latest().unwrap_or_else(|| "no data yet".into())
            )
        }
    };
    view! {
        <figure class="chart">
            <figcaption>
                <span class="chart-title">{title}</span>
                <span class="chart-latest">{move || latest().unwrap_or_else(|| "—".into())}</span>
            </figcaption>
            <svg viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img" aria-label=label
                data-points=move || data.with(|d| d.points.len().to_string())>
                {move || data.with(|d| draw(d, unit))}
            </svg>
        </figure>
    }
}

fn draw(data: &ChartData, unit: Unit) -> AnyView {
    if data.points.is_empty() {
        // No axis of zeros: say there is nothing yet.
        return view! {
            <text class="empty" x=WIDTH / 2.0 y=HEIGHT / 2.0 text-anchor="middle">"No data yet"</text>
        }
        .into_any();
    }
    let span = (data.to - data.from).max(1) as f64;
    let top = data
        .ceiling
        .unwrap_or_else(|| data.points.iter().map(|p| p.max).fold(0.0, f64::max))
        .max(f64::MIN_POSITIVE);
    let x = |at: i64| LEFT + (at - data.from) as f64 / span * (WIDTH - LEFT - RIGHT);
    let y = |value: f64| TOP + (1.0 - (value / top).clamp(0.0, 1.0)) * (HEIGHT - TOP - BOTTOM);
    let line: Vec<String> = data
        .points
        .iter()
        .map(|p| format!("{:.1},{:.1}", x(p.at), y(p.avg)))
        .collect();
    let band: Vec<String> = data
        .points
        .iter()
        .map(|p| format!("{:.1},{:.1}", x(p.at), y(p.max)))
        .chain(
            data.points
                .iter()
                .rev()
                .map(|p| format!("{:.1},{:.1}", x(p.at), y(p.min))),
        )
        .collect();
    // All zeros: one line at 0, not three labels saying "0".
    let fractions: &[f64] = if top > f64::MIN_POSITIVE {
        &[0.0, 0.5, 1.0]
    } else {
        &[0.0]
    };
    let y_ticks: Vec<(f64, String)> = fractions
        .iter()
        .map(|f| (y(top * f), format_value(top * f, unit)))
        .collect();
    // The first label starts at the axis, the last ends at the edge: none is clipped.
    let x_ticks = (0..=3).map(|i| {
        let at = data.from + (data.to - data.from) * i / 3;
        let anchor = match i {
            0 => "start",
            3 => "end",
            _ => "middle",
        };
        (x(at), anchor, time_label(at, data.to - data.from))
    });
    view! {
        <g class="axis">
            {y_ticks.into_iter().map(|(py, text)| view! {
                <line x1=LEFT x2=WIDTH - RIGHT y1=py y2=py class="grid"/>
                <text x=LEFT + 2.0 y=py - 4.0 text-anchor="start">{text}</text>
            }).collect_view()}
            {x_ticks.map(|(px, anchor, text)| view! {
                <text x=px y=HEIGHT - 6.0 text-anchor=anchor>{text}</text>
            }).collect_view()}
        </g>
        <polygon class="band" points=band.join(" ")/>
        <polyline class="line" points=line.join(" ")/>
        // A line needs two points: a lone one (a model's first requests) is drawn as a dot.
        {(data.points.len() == 1).then(|| data.points.first().map(|p| view! {
            <circle class="dot" cx=x(p.at) cy=y(p.avg) r="3"/>
        })).flatten()}
    }
    .into_any()
}

/// `14:03:20` for minutes, `14:03` for hours, `11-21 14:03` for days, in the reader's time
/// zone (UTC where it is not known: on the server).
fn time_label(at: i64, span: i64) -> String {
    let full = local(at, true);
    let part = |range: std::ops::Range<usize>| full.get(range).unwrap_or(&full).to_string();
    match span {
        s if s <= 20 * 60_000 => part(11..19),
        s if s <= 36 * 3_600_000 => part(11..16),
        _ => part(5..16),
    }
}
