//! Reading a running server's numbers: `/metrics` (Prometheus text, with `--metrics`), `/slots`,
//! and the process's resident memory from /proc.

use crate::server::supervisor::admission::memory_room::rss_bytes;
use std::time::Duration;

use serde::Deserialize;

use crate::domain::run::ModelSample;
use crate::server::now_ms;
use crate::server::supervisor::run::http_probe;

const TIMEOUT: Duration = Duration::from_secs(2);

/// One sample; a part that cannot be read is left empty rather than failing the rest. A server
/// that sleeps when idle is not asked `/slots`: that wakes it (b11434), `/metrics` does not.
pub async fn sample(port: u16, pid: u32, key: Option<&str>, sleeps: bool) -> ModelSample {
    let mut sample = ModelSample {
        at: now_ms(),
        rss_bytes: rss_bytes(pid),
        ..ModelSample::default()
    };
    if let Ok((200, text)) = http_probe::get(port, "/metrics", key, TIMEOUT).await {
        apply_metrics(&mut sample, &text);
    }
    if sleeps {
        return sample;
    }
    if let Ok((200, text)) = http_probe::get(port, "/slots", key, TIMEOUT).await
        && let Ok(slots) = serde_json::from_str::<Vec<Slot>>(&text)
    {
        sample.slots_total = Some(slots.len() as u32);
        sample.slots_busy = Some(slots.iter().filter(|s| s.is_processing).count() as u32);
    }
    sample
}

#[derive(Deserialize)]
struct Slot {
    #[serde(default)]
    is_processing: bool,
}

/// Picks the gauges Corral shows out of llama-server's Prometheus text.
pub fn apply_metrics(sample: &mut ModelSample, text: &str) {
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((name, value)) = line.split_once(' ') else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        if !value.is_finite() {
            continue;
        }
        match name {
            "llamacpp:prompt_tokens_seconds" => sample.prompt_tokens_per_s = Some(value),
            "llamacpp:predicted_tokens_seconds" => sample.generation_tokens_per_s = Some(value),
            "llamacpp:requests_processing" => sample.requests_processing = Some(value),
            "llamacpp:requests_deferred" => sample.requests_deferred = Some(value),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shown_gauges_are_read_and_the_rest_ignored() {
        let text = "# HELP llamacpp:prompt_tokens_seconds Average prompt throughput\n\
                    llamacpp:prompt_tokens_total 9\n\
                    llamacpp:prompt_tokens_seconds 118.5\n\
                    llamacpp:predicted_tokens_seconds 69.25\n\
                    llamacpp:requests_processing 1\n\
                    llamacpp:requests_deferred 0\n\
                    llamacpp:broken nan-ish\n";
        let mut sample = ModelSample::default();
        apply_metrics(&mut sample, text);
        assert_eq!(sample.prompt_tokens_per_s, Some(118.5));
        assert_eq!(sample.generation_tokens_per_s, Some(69.25));
        assert_eq!(sample.requests_processing, Some(1.0));
        assert_eq!(sample.requests_deferred, Some(0.0));
    }

    #[test]
    fn this_process_has_a_resident_size() {
        assert!(rss_bytes(std::process::id()).is_some_and(|b| b > 1024 * 1024));
        assert_eq!(rss_bytes(u32::MAX), None);
    }
}
