//! Latency summaries: median and p99 of a set of durations, and a throughput.

use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub requests: usize,
    pub median_ms: f64,
    pub p99_ms: f64,
    pub per_second: f64,
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn summarise(mut samples: Vec<Duration>, wall: Duration) -> Summary {
    samples.sort_unstable();
    Summary {
        requests: samples.len(),
        median_ms: percentile(&samples, 50.0).as_secs_f64() * 1000.0,
        p99_ms: percentile(&samples, 99.0).as_secs_f64() * 1000.0,
        per_second: samples.len() as f64 / wall.as_secs_f64().max(1e-9),
    }
}

impl Summary {
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "requests": self.requests,
            "median_ms": round(self.median_ms),
            "p99_ms": round(self.p99_ms),
            "per_second": round(self.per_second),
        })
    }
}

pub fn round(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let summary = summarise(samples, Duration::from_secs(1));
        assert_eq!(summary.median_ms, 50.0);
        assert_eq!(summary.p99_ms, 99.0);
        assert_eq!(summary.per_second, 100.0);
    }
}
