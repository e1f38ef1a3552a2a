//! Activity: one record per request the gateway handled, what it cost and how it went. Kept in
//! SQLite (retention in days), heard live by every tab, and summed on `/metrics`.

use serde::{Deserialize, Serialize};

use crate::domain::page::Page;
use crate::domain::text;

/// One gateway request, from its arrival to the last byte of its answer (or the client leaving).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    /// 0 until stored.
    pub id: i64,
    /// Unix milliseconds when the request arrived.
    pub received_at: i64,
    /// The registered model that served it (`None` when the name matched no model).
    pub model_id: Option<i64>,
    /// The model's name, or the name asked for when it matched none.
    pub model: String,
    /// The run (process) that answered.
    pub run_id: Option<i64>,
    /// The route, e.g. `/v1/chat/completions`, or `/upstream/<path>` for a pass-through.
    pub endpoint: String,
    /// The HTTP status the client got (499: the client left before an answer began).
    pub status: u16,
    /// True when this request started the model.
    pub started_model: bool,
    /// Waiting for a place (room for the model, the model's turn), not counting its load.
    pub queue_ms: Option<i64>,
    /// Waiting for the model to load.
    pub load_ms: Option<i64>,
    /// From arrival to the first non-empty content or reasoning piece of a streamed answer.
    pub ttft_ms: Option<i64>,
    /// Prompt tokens, those of them read from the cache, and tokens generated.
    pub prompt_tokens: Option<i64>,
    pub cached_tokens: Option<i64>,
    pub generated_tokens: Option<i64>,
    /// As llama-server measured them (`timings`).
    pub prompt_tokens_per_s: Option<f64>,
    pub generation_tokens_per_s: Option<f64>,
    /// From arrival to the answer's end.
    pub duration_ms: i64,
    pub error: Option<String>,
    /// Who asked: an API key's prefix, `session` (a signed-in browser), or `None` where no
    /// login is required.
    #[serde(default)]
    pub caller: Option<String>,
    /// The virtual model the client asked for, when one picked `model`.
    #[serde(default)]
    pub via: Option<String>,
}

impl Activity {
    /// The record with every text cut to `text::MAX_KEPT_BYTES`: the name a client asked for,
    /// the endpoint, the caller and the error come from outside (a 4 MiB model name echoed in
    /// an error) and are stored, counted and sent to every tab.
    pub fn with_bounded_texts(mut self) -> Activity {
        self.model = text::kept(&self.model);
        self.endpoint = text::kept(&self.endpoint);
        self.caller = self.caller.as_deref().map(text::kept);
        self.via = self.via.as_deref().map(text::kept);
        self.error = self.error.as_deref().map(text::kept);
        self
    }

    /// A 2xx answer that ended whole.
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status) && self.error.is_none()
    }
}

choice_enum! {
    /// Which requests a list shows.
    pub enum Outcome {
        Succeeded => "succeeded",
        Failed => "failed",
    }
}

/// `POST /api/activity/list`: newest first, a page at a time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActivityQuery {
    #[serde(default)]
    pub model_id: Option<i64>,
    #[serde(default)]
    pub outcome: Option<Outcome>,
    /// A key's prefix, or `session`.
    #[serde(default)]
    pub caller: Option<String>,
    #[serde(default, flatten)]
    pub page: Page,
}

/// `POST /api/activity/series`: per-model figures in equal time buckets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SeriesQuery {
    /// Unix milliseconds, start inclusive, end exclusive.
    pub from: i64,
    pub to: i64,
    /// Buckets wanted (1–500).
    pub points: u32,
}

/// One bucket of one model's requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityPoint {
    /// The bucket's start, Unix milliseconds.
    pub at: i64,
    pub requests: u32,
    pub ttft_p50_ms: Option<f64>,
    pub ttft_p90_ms: Option<f64>,
    pub ttft_p99_ms: Option<f64>,
    /// Mean generation speed of the bucket's requests that generated.
    pub generation_tokens_per_s: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivitySeries {
    pub model_id: i64,
    pub model: String,
    pub points: Vec<ActivityPoint>,
}

/// Requests a model holds now (the models page shows them per row).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelDemand {
    pub model_id: i64,
    pub queued: u32,
    pub in_flight: u32,
}

/// The value at quantile `q` (0–1) of sorted values, by the nearest-rank rule.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_take_the_nearest_rank() {
        let values: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(quantile(&values, 0.5), Some(5.0));
        assert_eq!(quantile(&values, 0.9), Some(9.0));
        assert_eq!(quantile(&values, 0.99), Some(10.0));
        assert_eq!(quantile(&[3.0], 0.5), Some(3.0));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
