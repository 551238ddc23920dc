//! `decode_key`: no panic; whatever spelling was accepted (standard or URL-safe
//! base64, padded or not) decodes to the key whose canonical form, normalised
//! the same way, is the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pixbin::http::handlers::images::{decode_key, encode_key};

fuzz_target!(|s: &str| {
    if let Some(key) = decode_key(s) {
        let canonical = encode_key(&key);
        let normalised: String = s
            .trim_end_matches('=')
            .chars()
            .map(|c| match c {
                '+' => '-',
                '/' => '_',
                c => c,
            })
            .collect();
        assert_eq!(normalised, canonical);
        assert_eq!(decode_key(&canonical), Some(key));
    }
});
