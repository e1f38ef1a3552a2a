//! The playground: a chat with any registered model through the gateway, as clients talk to it.

#[cfg(feature = "hydrate")]
mod chat_stream;
pub mod page;
