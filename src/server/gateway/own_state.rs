//! The gateway's own state: its settings (from command-line flags), the requests waiting for
//! their models, its connections to the model servers, and the model event streams each key
//! holds. Kept apart from the handlers so the server's shared state can hold it without
//! importing them.

use std::sync::Arc;

use crate::server::gateway::on_demand::OnDemand;
use crate::server::gateway::upstream::UpstreamClient;
use crate::server::http::cors::CorsOrigins;

/// How the gateway behaves, from command-line flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewaySettings {
    /// Largest request body (images travel in base64).
    pub max_body_bytes: u64,
    /// Sites whose pages may call the gateway with an API key (`--cors-origin`).
    pub cors: CorsOrigins,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        GatewaySettings {
            max_body_bytes: 32 * 1024 * 1024,
            cors: CorsOrigins::default(),
        }
    }
}

/// The gateway's own state: its settings, its connections to the model servers, and the model
/// event streams each key holds.
#[derive(Clone)]
pub struct Gateway {
    pub settings: Arc<GatewaySettings>,
    /// Requests waiting for their model: queue, start on demand, put in flight.
    pub on_demand: OnDemand,
    pub(super) client: UpstreamClient,
    pub(super) event_streams: crate::server::support::per_owner_cap::Places<i64>,
}

impl Gateway {
    pub fn new(settings: GatewaySettings, on_demand: OnDemand) -> Gateway {
        Gateway {
            settings: Arc::new(settings),
            on_demand,
            client: UpstreamClient::default(),
            event_streams: crate::server::support::per_owner_cap::Places::default(),
        }
    }
}
