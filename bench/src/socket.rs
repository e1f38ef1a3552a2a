//! A tab's WebSocket to the Corral under test.

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `/ws` on the Corral at `base` (`http://host:port`). A small read buffer, as a browser
/// would have: the library zero-fills the whole buffer on every read, which at its 128 KiB
/// default would make the load generator the bottleneck.
pub async fn connect(base: &str) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    let url = format!("{}/ws", base.replacen("http://", "ws://", 1));
    let config = WebSocketConfig::default().read_buffer_size(4 * 1024);
    let (socket, _) =
        tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), false).await?;
    Ok(socket)
}
