//! Why a llama-server run failed, from how it exited and what it logged last, in terms a person
//! can act on. The patterns are llama-server's own messages (see TOOLCHAIN.md).

use crate::domain::run::FailureReason;

/// How the process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

/// What the log says, checked from the newest line back; first match wins.
const PATTERNS: &[(&str, FailureReason)] = &[
    ("no such file or directory", FailureReason::FileMissing),
    ("failed to open gguf file", FailureReason::FileMissing),
    ("invalid magic characters", FailureReason::NotGguf),
    ("not a gguf file", FailureReason::NotGguf),
    ("couldn't bind http server socket", FailureReason::PortInUse),
    ("address already in use", FailureReason::PortInUse),
    ("error: invalid argument", FailureReason::InvalidArgument),
    (
        "error while handling argument",
        FailureReason::InvalidArgument,
    ),
    ("error: unknown argument", FailureReason::InvalidArgument),
    ("out of memory", FailureReason::OutOfMemory),
    ("failed to allocate", FailureReason::OutOfMemory),
    ("unable to allocate", FailureReason::OutOfMemory),
    ("std::bad_alloc", FailureReason::OutOfMemory),
    ("cudamalloc failed", FailureReason::OutOfMemory),
];

/// The reason and a message: the advice, then the log line or exit that shows it.
pub fn classify(exit: Exit, log: &[String]) -> (FailureReason, String) {
    for line in log.iter().rev() {
        let lower = line.to_ascii_lowercase();
        if let Some((_, reason)) = PATTERNS.iter().find(|(p, _)| lower.contains(p)) {
            return (
                *reason,
                format!("{} ({})", reason.advice(), strip_prefix(line)),
            );
        }
    }
    let how = describe(exit);
    let reason = FailureReason::Other;
    let telling = log
        .iter()
        .rev()
        .find(|l| l.contains(" E ") || l.to_ascii_lowercase().contains("error"))
        .map(|l| format!("; last error: {}", strip_prefix(l)))
        .unwrap_or_default();
    (reason, format!("{} ({how}{telling})", reason.advice()))
}

/// "exited with code 1", "killed by SIGKILL (perhaps the out-of-memory killer)".
pub fn describe(exit: Exit) -> String {
    match (exit.code, exit.signal) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(libc::SIGKILL)) => {
            "killed by SIGKILL (by someone else, or the kernel's out-of-memory killer)".into()
        }
        (None, Some(libc::SIGSEGV)) => "crashed (SIGSEGV)".into(),
        (None, Some(libc::SIGABRT)) => "aborted (SIGABRT)".into(),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "ended".into(),
    }
}

/// True for the line llama-server prints once it answers HTTP (`listening on http://…`; older
/// builds say `server is listening on http://…`).
pub fn says_listening(line: &str) -> bool {
    line.contains("listening on http")
}

/// What a line says about sleep (`--sleep-idle-seconds`): `Some(true)` the server went to
/// sleep, `Some(false)` a request woke it (b11434's `handle_sleep` lines).
pub fn says_sleep(line: &str) -> Option<bool> {
    if line.contains("server is entering sleeping state") {
        Some(true)
    } else if line.contains("server is exiting sleeping state") {
        Some(false)
    } else {
        None
    }
}

/// A line that shows a woken server has its model back: its slots set up again, or the first
/// request taken.
pub fn says_awake(line: &str) -> bool {
    line.contains("initializing, n_slots") || line.contains("launch_slot_")
}

/// The time llama-server stamps a line with (`0.04.696.702`: minutes, seconds, milliseconds,
/// microseconds since it started), in milliseconds.
pub fn log_clock_ms(line: &str) -> Option<i64> {
    let stamp = line.split(' ').next()?;
    let mut parts = stamp.split('.').map(|p| p.parse::<i64>().ok());
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some(Some(m)), Some(Some(s)), Some(Some(ms)), Some(Some(_)), None) => {
            Some(m.checked_mul(60_000)?.checked_add(s * 1000 + ms)?)
        }
        _ => None,
    }
}

/// Drops llama-server's `0.00.006.551 E srv  llama_server:` timestamp and level prefix.
pub fn strip_prefix(line: &str) -> &str {
    let mut parts = line.splitn(3, ' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(time), Some(level), Some(rest))
            if time.chars().all(|c| c.is_ascii_digit() || c == '.') && level.len() == 1 =>
        {
            rest.trim()
        }
        _ => line.trim(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    const FAILED: Exit = Exit {
        code: Some(1),
        signal: None,
    };

    // Lines as llama-server b11434 prints them.
    #[test]
    fn sleep_lines_and_the_log_clock_read_as_b11434_writes_them() {
        let asleep = "0.03.515.520 I srv  handle_sleep: server is entering sleeping state";
        let woke = "0.04.696.718 I srv  handle_sleep: server is exiting sleeping state";
        let ready = "0.04.701.957 I srv    load_model: initializing, n_slots = 1, n_ctx_slot = 512";
        assert_eq!(says_sleep(asleep), Some(true));
        assert_eq!(says_sleep(woke), Some(false));
        assert_eq!(says_sleep(ready), None);
        assert!(says_awake(ready));
        assert_eq!(log_clock_ms(woke), Some(4696));
        assert_eq!(log_clock_ms(ready), Some(4701));
        assert_eq!(log_clock_ms("61.00.001.000 I x"), Some(3_660_001));
        assert_eq!(log_clock_ms("main: no stamp"), None);
        assert_eq!(log_clock_ms("1.2.3 I three parts"), None);
    }

    #[test]
    fn real_failure_logs_map_to_their_reasons() {
        let cases = [
            (
                "0.00.005.945 E gguf_init_from_file: failed to open GGUF file '/tmp/x.gguf' (No such file or directory)\n\
                 0.00.006.551 E srv  llama_server: exiting due to model loading error",
                FailureReason::FileMissing,
            ),
            (
                "0.00.006.397 E gguf_init_from_reader: invalid magic characters: 'hell', expected 'GGUF'\n\
                 0.00.006.955 E srv  llama_server: exiting due to model loading error",
                FailureReason::NotGguf,
            ),
            (
                "0.00.003.742 E srv         start: couldn't bind HTTP server socket, hostname: 127.0.0.1, port: 18114\n\
                 0.00.003.830 E srv  llama_server: exiting due to HTTP server error",
                FailureReason::PortInUse,
            ),
            (
                "error: invalid argument: --bogus",
                FailureReason::InvalidArgument,
            ),
            (
                "error while handling argument \"--ctx-size\": stoi\n\nusage:\n-c, --ctx-size N",
                FailureReason::InvalidArgument,
            ),
            (
                "ggml_backend_cpu_buffer_type_alloc_buffer: failed to allocate buffer of size 99999",
                FailureReason::OutOfMemory,
            ),
        ];
        for (log, expected) in cases {
            let (reason, message) = classify(FAILED, &lines(log));
            assert_eq!(reason, expected, "{log}");
            assert!(message.starts_with(expected.advice()), "{message}");
        }
    }

    #[test]
    fn the_telling_line_is_quoted_without_its_timestamp() {
        let (_, message) = classify(
            FAILED,
            &lines("0.00.003.742 E srv         start: couldn't bind HTTP server socket, port: 1"),
        );
        assert!(
            message.ends_with("(srv         start: couldn't bind HTTP server socket, port: 1)"),
            "{message}"
        );
    }

    #[test]
    fn an_unknown_death_says_how_the_process_ended() {
        let killed = Exit {
            code: None,
            signal: Some(libc::SIGKILL),
        };
        let (reason, message) = classify(killed, &lines("0.01.000.000 I srv  all fine"));
        assert_eq!(reason, FailureReason::Other);
        assert!(message.contains("SIGKILL"), "{message}");
    }

    #[test]
    fn the_listening_line_of_new_and_old_builds_is_recognised() {
        assert!(says_listening(
            "0.00.012.148 I srv  llama_server: listening on http://127.0.0.1:24200"
        ));
        assert!(says_listening(
            "main: server is listening on http://127.0.0.1:8080 - starting the main loop"
        ));
        assert!(!says_listening(
            "0.00.004.715 I srv    load_model: loading model"
        ));
    }
}
