//! `/api/metrics/*`: measured history.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::domain::AppError;
use crate::domain::metrics::{HistoryQuery, Series};

#[cfg(feature = "ssr")]
use crate::api::history;

/// `{"from": ms, "to": ms, "points": N}` → every series, at most N aggregated points each.
#[server(prefix = "/api", endpoint = "metrics/history", input = Json)]
pub async fn metrics_history(query: HistoryQuery) -> Result<Vec<Series>, AppError> {
    history()?.query(query).await
}

// The scope an API key needs for each (an untagged function needs `admin`).
#[cfg(feature = "ssr")]
crate::scoped!(ModelsRead: MetricsHistory);
