//! The gateway's Prometheus counters and histograms (the `prometheus-client` crate keeps and
//! encodes them), fed from each finished activity record. Labels stay bounded: a model is named
//! only once it resolved to a registered one, a pass-through counts as `/upstream`, and an
//! endpoint is one the gateway routes by name or `other`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::domain::activity::Activity;
use crate::server::route_class::MODEL_ROUTES;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    model: String,
    endpoint: String,
    code: u16,
    /// The API key's prefix, `session`, or empty where no login is required.
    key: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    model: String,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabel {
    model: String,
}

type Timings = Family<ModelLabel, Histogram, fn() -> Histogram>;

/// Seconds from 5 ms to about 82 s, doubling: a cached short answer to a long cold load.
fn seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

pub struct Counters {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    tokens: Family<TokenLabels, Counter>,
    ttft: Timings,
    duration: Timings,
    queue_wait: Timings,
    /// Records that could not be stored (the writer fell behind).
    pub dropped: Counter,
}

impl Default for Counters {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let tokens = Family::<TokenLabels, Counter>::default();
        let ttft = Timings::new_with_constructor(seconds);
        let duration = Timings::new_with_constructor(seconds);
        let queue_wait = Timings::new_with_constructor(seconds);
        let dropped = Counter::default();
        registry.register(
            "corral_requests",
            "Gateway requests by model, endpoint, HTTP status and caller (key prefix or session).",
            requests.clone(),
        );
        registry.register(
            "corral_tokens",
            "Tokens by model and kind (prompt, cached, generated).",
            tokens.clone(),
        );
        registry.register(
            "corral_time_to_first_token_seconds",
            "From a streamed request's arrival to its first generated text.",
            ttft.clone(),
        );
        registry.register(
            "corral_request_duration_seconds",
            "From a request's arrival to the end of its answer.",
            duration.clone(),
        );
        registry.register(
            "corral_queue_wait_seconds",
            "From a request's arrival until it went to the model (queue and load).",
            queue_wait.clone(),
        );
        registry.register(
            "corral_activity_dropped",
            "Activity records not stored because the writer fell behind.",
            dropped.clone(),
        );
        Counters {
            registry,
            requests,
            tokens,
            ttft,
            duration,
            queue_wait,
            dropped,
        }
    }
}

impl Counters {
    pub fn count(&self, record: &Activity) {
        let model = if record.model_id.is_some() {
            record.model.clone()
        } else {
            String::new()
        };
        // A fixed set of values: a route the gateway meters by name, else where it belongs.
        let endpoint = if record.endpoint.starts_with("/upstream") {
            "/upstream"
        } else if MODEL_ROUTES
            .iter()
            .any(|(route, _)| *route == record.endpoint)
        {
            record.endpoint.as_str()
        } else {
            "other"
        }
        .to_string();
        self.requests
            .get_or_create(&RequestLabels {
                model: model.clone(),
                endpoint,
                code: record.status,
                key: record.caller.clone().unwrap_or_default(),
            })
            .inc();
        for (kind, count) in [
            ("prompt", record.prompt_tokens),
            ("cached", record.cached_tokens),
            ("generated", record.generated_tokens),
        ] {
            if let Some(count) = count.and_then(|c| u64::try_from(c).ok()) {
                self.tokens
                    .get_or_create(&TokenLabels {
                        model: model.clone(),
                        kind,
                    })
                    .inc_by(count);
            }
        }
        let label = ModelLabel { model };
        let seconds = |ms: i64| ms.max(0) as f64 / 1000.0;
        if let Some(ttft) = record.ttft_ms {
            self.ttft.get_or_create(&label).observe(seconds(ttft));
        }
        self.duration
            .get_or_create(&label)
            .observe(seconds(record.duration_ms));
        if record.queue_ms.is_some() || record.load_ms.is_some() {
            let waited = record.queue_ms.unwrap_or(0) + record.load_ms.unwrap_or(0);
            self.queue_wait
                .get_or_create(&label)
                .observe(seconds(waited));
        }
    }

    /// The OpenMetrics text of every family, ending in `# EOF`.
    pub fn encode(&self, out: &mut String) {
        if let Err(error) = prometheus_client::encoding::text::encode(out, &self.registry) {
            tracing::warn!(%error, "could not encode the gateway's metrics");
        }
    }
}
