//! The small text parsers: log channel names from tabs, the `--ports` flag, and llama-server's
//! own log lines (classified into a failure reason). None may panic on any text.
#![no_main]

use corral::domain::run::{log_channel, parse_log_channel};
use corral::server::supervisor::classify::{Exit, classify, says_listening, strip_prefix};
use corral::server::supervisor::settings::parse_port_range;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(id) = parse_log_channel(&text) {
        assert_eq!(parse_log_channel(&log_channel(id)), Some(id));
    }
    if let Ok(range) = parse_port_range(&text) {
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
