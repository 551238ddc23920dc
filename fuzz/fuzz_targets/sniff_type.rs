//! The streaming inspector (type sniffing, structure walk, dimensions): no
//! panic; the answer never depends on how the bytes were split; an accepted
//! image has an allowed type and non-zero dimensions within the pixel limit.
//!
//! Input: two bytes (big-endian) choosing where to split, then the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pixbin::media::{Inspector, Limits, inspect};

fuzz_target!(|input: &[u8]| {
    let Some((cut, data)) = input.split_first_chunk::<2>() else {
        return;
    };
    let cut = u16::from_be_bytes(*cut);
    let limits = Limits {
        max_pixels: 1 << 24,
        max_head: 4096,
        ..Limits::default()
    };
    let whole = inspect(data, &limits);
    let cut = usize::from(cut) % (data.len() + 1);
    let mut split = Inspector::new(&limits);
    let parts = split
        .update(&data[..cut])
        .and_then(|()| split.update(&data[cut..]));
    let split = parts.and_then(|()| split.finish());
    assert_eq!(whole.is_ok(), split.is_ok(), "split at {cut}");
    if let (Ok(a), Ok(b)) = (&whole, &split) {
        assert_eq!(a, b);
        assert!(limits.allowed.contains(&a.kind));
        assert!(a.width >= 1 && a.height >= 1);
        assert!(u64::from(a.width) * u64::from(a.height) <= limits.max_pixels);
    }
});
