//! The GGUF header reader on any bytes: it may refuse them, never panic, and never allocate in
//! proportion to a length the input claims (libFuzzer's memory limit would stop it).
#![no_main]

use corral::server::gguf::reader::read;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(metadata) = read(data) {
        // What reads adds up: the largest tensor type first, the types summing to the total.
        let shares = &metadata.tensor_types;
        assert!(
            shares
                .windows(2)
                .all(|w| w[0].parameters >= w[1].parameters)
        );
        let total: u128 = shares.iter().map(|s| u128::from(s.parameters)).sum();
        assert_eq!(total, u128::from(metadata.parameters));
    }
});
