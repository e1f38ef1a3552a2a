//! The playground: a chat with any registered model through the gateway, as clients talk to it;
//! conversations saved per person.

pub mod chat;
#[cfg(feature = "hydrate")]
mod chat_stream;
pub mod composer;
pub mod conversation_list;
pub mod markdown;
pub mod message_view;
pub mod page;
pub mod request;
pub mod sampling_panel;
