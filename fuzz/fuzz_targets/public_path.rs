//! `parse_public_path`: no panic; an accepted path is exactly
//! `/{canonical lowercase uuid}.{canonical extension}`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pixbin::http::router::parse_public_path;

fuzz_target!(|path: &str| {
    if let Some((uuid, kind)) = parse_public_path(path) {
        assert_eq!(path, format!("/{}.{}", uuid.hyphenated(), kind.ext()));
    }
});
