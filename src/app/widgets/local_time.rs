//! A moment in the reader's own time zone (`2026-12-05 21:03`), with UTC on hover. The server
//! cannot know the reader's zone: it renders UTC, and the browser rewrites it once hydrated.

use leptos::prelude::*;

use crate::domain::time::format_utc;

/// `ms` (Unix milliseconds) in the browser's time zone; `seconds` adds `:SS`; `clock` shows
/// the time of day only (`21:03:27`, for rows seconds apart).
#[component]
pub fn LocalTime(
    ms: i64,
    #[prop(optional)] seconds: bool,
    #[prop(optional)] clock: bool,
) -> impl IntoView {
    let utc = format_utc(ms);
    let text = move || {
        let full = local(ms, seconds || clock);
        if clock {
            full.get(11..).map(str::to_string).unwrap_or(full)
        } else {
            full
        }
    };
    let shown = RwSignal::new(if clock {
        crate::domain::time::format_clock(ms)
    } else {
        utc.clone()
    });
    // Effects run in the browser only, after hydration: the text then becomes local.
    Effect::new(move |_| shown.set(text()));
    // "2026-12-05 21:14:16 UTC": the moment to the second, in UTC.
    let hover = format!(
        "{}:{:02} UTC",
        utc.trim_end_matches(" UTC"),
        ms.div_euclid(1000).rem_euclid(60)
    );
    view! { <time datetime=iso(ms) title=hover>{move || shown.get()}</time> }
}

/// The same text `LocalTime` shows, for places that need a string.
pub fn local(ms: i64, seconds: bool) -> String {
    #[cfg(feature = "hydrate")]
    {
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
        let mut text = format!(
            "{:04}-{:02}-{:02} {:02}:{:02}",
            date.get_full_year(),
            date.get_month() + 1,
            date.get_date(),
            date.get_hours(),
            date.get_minutes()
        );
        if seconds {
            text.push_str(&format!(":{:02}", date.get_seconds()));
        }
        text
    }
    #[cfg(not(feature = "hydrate"))]
    {
        // The server does not know the reader's zone: UTC, as `YYYY-MM-DD HH:MM[:SS]`.
        let utc = format_utc(ms);
        let minutes = utc.trim_end_matches(" UTC").to_string();
        if seconds {
            format!("{minutes}:{:02}", ms.div_euclid(1000).rem_euclid(60))
        } else {
            minutes
        }
    }
}

/// `2026-12-05T21:03:00Z`, for the `datetime` attribute.
fn iso(ms: i64) -> String {
    let utc = format_utc(ms);
    // "YYYY-MM-DD HH:MM UTC" → "YYYY-MM-DDTHH:MMZ"
    utc.strip_suffix(" UTC")
        .map(|t| format!("{}Z", t.replacen(' ', "T", 1)))
        .unwrap_or(utc)
}
