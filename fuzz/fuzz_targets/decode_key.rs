//! `decode_key`: no panic; an accepted spelling (standard or URL-safe base64,
//! padded or not) is the canonical form of the key it decodes to.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pixbin::http::image_json::{decode_key, encode_key};

fuzz_target!(|s: &str| {
    if let Some(key) = decode_key(s) {
        // The accepted text is the canonical URL-safe key, except that any
        // character may be its standard-alphabet twin and `=` padding may
        // follow; and the canonical form decodes to the same key.
        let canonical = encode_key(&key);
        let body = s.trim_end_matches('=');
        assert!(s.len() - body.len() <= 2, "too much padding: {s:?}");
        assert_eq!(body.chars().count(), canonical.chars().count(), "{s:?}");
        for (a, b) in body.chars().zip(canonical.chars()) {
            assert!(
                a == b || (a, b) == ('+', '-') || (a, b) == ('/', '_'),
                "{s:?} vs {canonical:?}"
            );
        }
        assert_eq!(decode_key(&canonical), Some(key));
    }
});
