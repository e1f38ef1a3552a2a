//! The live channel's decoder sees every text frame a tab (or anyone on loopback) sends. Any
//! input is answered with a message or a typed error, never a panic; whatever it accepts
//! reads back the same after encoding.
#![no_main]

use corral::domain::live::ClientMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(message) = ClientMessage::decode(text) {
        let encoded = serde_json::to_string(&message).expect("a message encodes");
        assert_eq!(ClientMessage::decode(&encoded).ok(), Some(message));
    }
});
