//! The small text parsers: log channel names from tabs, stored metric series names, the
//! `--ports` flag, and llama-server's own log lines (classified into a failure reason). None may
//! panic on any text, and what parses reads back the same.
#![no_main]

use corral::domain::metrics::SeriesKey;
use corral::domain::run::LogSource;
use corral::domain::settings::parse_port_range;
use corral::server::supervisor::run::classify::{Exit, classify, says_listening, strip_prefix};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(source) = LogSource::from_channel(&text) {
        assert_eq!(LogSource::from_channel(&source.channel()), Some(source));
    }
    if let Some(key) = SeriesKey::parse(&text) {
        assert_eq!(SeriesKey::parse(&key.name()), Some(key));
    }
    if let Some(range) = parse_port_range(&text) {
        assert!(range.start() <= range.end(), "{range:?}");
    }
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    for line in &lines {
        let _ = strip_prefix(line);
        let _ = says_listening(line);
    }
    let exit = Exit {
        code: data.first().map(|&b| i32::from(b)),
        signal: data.get(1).map(|&b| i32::from(b % 32)),
    };
    let (_, message) = classify(exit, &lines);
    assert!(!message.is_empty());
});
