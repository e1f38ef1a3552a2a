//! `/api/activity/*`: the gateway's requests, as metering recorded them.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::domain::AppError;
use crate::domain::activity::{Activity, ActivityQuery, ActivitySeries, SeriesQuery};

#[cfg(feature = "ssr")]
use crate::api::metering;

/// `{"query": {"model_id"?, "outcome"?: "succeeded"|"failed", "limit"?, "before"?}}` → one page
/// of requests, newest first.
#[server(prefix = "/api", endpoint = "activity/list", input = Json)]
pub async fn list_activity(
    #[server(default)] query: ActivityQuery,
) -> Result<Vec<Activity>, AppError> {
    metering()?.list(query).await
}

/// `{"query": {"from": ms, "to": ms, "points": N}}` → per model, requests, time-to-first-token
/// percentiles and generation speed in N buckets.
#[server(prefix = "/api", endpoint = "activity/series", input = Json)]
pub async fn activity_charts(query: SeriesQuery) -> Result<Vec<ActivitySeries>, AppError> {
    metering()?.series(query).await
}

// The scope an API key needs for each (an untagged function needs `admin`).
#[cfg(feature = "ssr")]
crate::scoped!(ModelsRead: ListActivity, ActivityCharts);
