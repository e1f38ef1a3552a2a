//! A line chart in plain SVG: time along the bottom, the value with its unit up the side, the
//! mean as a line and the min–max range as a band. Small enough to keep the WASM lean.

use leptos::prelude::*;

use crate::domain::metrics::{Point, Unit, format_value};

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 200.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
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

fn draw(data: &ChartData, unit: Unit) -> impl IntoView + use<> {
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
    let y_ticks = [0.0, 0.5, 1.0].map(|f| (y(top * f), format_value(top * f, unit)));
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
                <text x=LEFT - 6.0 y=py + 4.0 text-anchor="end">{text}</text>
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
}

/// `14:03:20` for minutes, `14:03` for hours, `11-21 14:03` for days (UTC, like every time here).
fn time_label(at: i64, span: i64) -> String {
    let full = crate::domain::time::format_utc(at);
    let secs = at.div_euclid(1000).rem_euclid(60);
    match span {
        s if s <= 20 * 60_000 => format!("{}:{secs:02}", &full[11..16]),
        s if s <= 36 * 3_600_000 => full[11..16].to_string(),
        _ => full[5..16].to_string(),
    }
}
