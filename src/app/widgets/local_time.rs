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

/// The reader's offset from UTC in minutes (east positive), learned once by the app's root:
/// the pages then only add it (a page split off the release bundle calls no `Date` of its own).
static OFFSET_MINUTES: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// Learns the reader's time zone offset (the app's root calls it once, in the browser).
pub fn learn_offset() {
    #[cfg(feature = "hydrate")]
    {
        // `getTimezoneOffset` is UTC minus local, in minutes.
        let offset = -(js_sys::Date::new_0().get_timezone_offset() as i64);
        OFFSET_MINUTES.store(offset, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The same text `LocalTime` shows (`2026-12-05 21:03[:27]`), for places that need a string.
/// On the server, which does not know the reader's zone, it is UTC.
pub fn local(ms: i64, seconds: bool) -> String {
    let offset = if cfg!(feature = "hydrate") {
        OFFSET_MINUTES.load(std::sync::atomic::Ordering::Relaxed) * 60_000
    } else {
        0
    };
    let at = ms + offset;
    let minutes = format_utc(at).trim_end_matches(" UTC").to_string();
    if seconds {
        format!("{minutes}:{:02}", at.div_euclid(1000).rem_euclid(60))
    } else {
        minutes
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
