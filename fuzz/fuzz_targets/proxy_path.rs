//! `parse_proxy_path`: no panic; an accepted path is exactly
//! `/api/proxy/{canonical lowercase uuid}.{canonical extension}`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pixbin::http::router::parse_proxy_path;

fuzz_target!(|path: &str| {
    if let Some((uuid, kind)) = parse_proxy_path(path) {
        assert_eq!(
            path,
            format!("/api/proxy/{}.{}", uuid.hyphenated(), kind.ext())
        );
    }
});
