//! Timestamps are Unix milliseconds everywhere; this formats them the same way on both builds,
//! so server-rendered HTML and the hydrated page agree.

/// Unix milliseconds now: the one clock of both builds (the browser's, or the system's).
pub fn now_ms() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now() as i64
    }
    #[cfg(not(feature = "hydrate"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }
}

/// `2026-11-22 14:03 UTC`.
pub fn format_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

/// `14:03:27`: the time of day in UTC, for rows that are seconds apart.
pub fn format_clock(ms: i64) -> String {
    let rem = ms.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", rem / 3600, (rem % 3600) / 60, rem % 60)
}

/// `850 ms`, `1.2 s`, `2m 05s`: a wait or a duration.
pub fn format_millis(ms: i64) -> String {
    match ms {
        ..1000 => format!("{} ms", ms.max(0)),
        1000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => format_duration((ms / 1000) as u64),
    }
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `45s`, `3m 12s`, `2h 05m`, `3d 4h`: an uptime, short.
pub fn format_duration(seconds: u64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s:02}s"),
        (0, _, _) => format!("{h}h {m:02}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// `1.2 GiB`, `640 KiB`, `12 B`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_short_at_every_scale() {
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(192), "3m 12s");
        assert_eq!(format_duration(2 * 3600 + 5 * 60 + 9), "2h 05m");
        assert_eq!(format_duration(3 * 86_400 + 4 * 3600), "3d 4h");
    }

    #[test]
    fn timestamps_format_as_utc_dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_utc(1_795_349_000_000), "2026-11-22 12:03 UTC");
        assert_eq!(format_utc(951_782_400_000), "2000-02-29 00:00 UTC");
    }

    #[test]
    fn waits_read_in_the_unit_that_fits() {
        assert_eq!(format_millis(850), "850 ms");
        assert_eq!(format_millis(1234), "1.2 s");
        assert_eq!(format_millis(125_000), "2m 05s");
        assert_eq!(format_clock(1_795_349_007_000), "12:03:27");
    }

    #[test]
    fn sizes_use_binary_units() {
        assert_eq!(format_bytes(12), "12 B");
        assert_eq!(format_bytes(409_600), "400.0 KiB");
        assert_eq!(format_bytes(4_920_000_000), "4.6 GiB");
    }
}
