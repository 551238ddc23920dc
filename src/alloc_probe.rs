//! Allocation bounds of the parsers that read untrusted input (SECURITY.md M2:
//! "allocations bounded"), checked with a counting allocator in unit tests.
//!
//! The allocator keeps, per thread, the bytes currently allocated and the
//! peak since the last [`peak`] call started, so a measured call is not
//! disturbed by other tests running on other threads. Each test feeds inputs
//! of very different sizes and checks that the peak stays under a constant:
//! memory that does not grow with the input. Work that hops to a tokio
//! runtime's blocking pool (file I/O, store calls) is measured with
//! [`group_peak`] over the threads that joined with [`track_this_thread`].
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicIsize, Ordering};

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
    /// Whether this thread's allocations also count for [`group_peak`].
    static TRACKED: Cell<bool> = const { Cell::new(false) };
}

/// Bytes allocated by the tracked threads, and their peak.
static GROUP_LIVE: AtomicIsize = AtomicIsize::new(0);
static GROUP_PEAK: AtomicIsize = AtomicIsize::new(0);

struct Probe;

#[global_allocator]
static PROBE: Probe = Probe;

fn count(delta: isize) {
    // `try_with`: a thread being torn down has no counters left; ignore it.
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| {
            if now > peak.get() {
                peak.set(now);
            }
        });
    });
    if TRACKED.try_with(Cell::get).unwrap_or(false) {
        let now = GROUP_LIVE.fetch_add(delta, Ordering::Relaxed) + delta;
        GROUP_PEAK.fetch_max(now, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counters are plain thread-local cells that never allocate.
unsafe impl GlobalAlloc for Probe {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        count(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        p
    }
}

/// Runs `f` and returns its result and the most bytes it had allocated at
/// once on this thread (above what was allocated when it started).
pub fn peak<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let out = f();
    let peak = PEAK.with(Cell::get) - start;
    (out, peak.max(0) as usize)
}

/// Counts this thread's allocations for [`group_peak`] from now on: call it
/// from a runtime's `on_thread_start`, so its blocking pool is measured too.
pub fn track_this_thread() {
    TRACKED.with(|t| t.set(true));
}

/// Runs `f` and returns its result and the most bytes allocated at once by
/// the calling thread and every thread that called [`track_this_thread`]
/// together (above what they held when it started). One measurement at a
/// time; threads outside the group (other tests) are not counted.
pub fn group_peak<T>(f: impl FnOnce() -> T) -> (T, usize) {
    static ONE: Mutex<()> = Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(|p| p.into_inner());
    track_this_thread();
    let start = GROUP_LIVE.load(Ordering::SeqCst);
    GROUP_PEAK.store(start, Ordering::SeqCst);
    let out = f();
    let peak = GROUP_PEAK.load(Ordering::SeqCst) - start;
    TRACKED.with(|t| t.set(false));
    (out, peak.max(0) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::image_json::decode_key;
    use crate::http::multipart::{FormLimits, read_form};
    use crate::http::router::{parse_proxy_path, parse_public_path};
    use crate::media::{Inspector, Limits};
    use bytes::Bytes;
    use futures_util::StreamExt;
    use proptest::prelude::*;

    #[test]
    fn the_probe_sees_allocations() {
        let (_, p) = peak(|| std::hint::black_box(vec![1u8; 100_000]));
        assert!(p >= 100_000, "{p}");
        let (_, p) = peak(|| std::hint::black_box(1 + 1));
        assert_eq!(p, 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Paths and keys of any length: no allocation at all for paths, a
        /// key-sized one for keys.
        #[test]
        fn path_and_key_parsers_allocate_a_constant(s in "\\PC{0,2000}", n in 0usize..200_000) {
            let long = s.repeat(n / s.len().max(1) + 1);
            for input in [s.as_str(), long.as_str()] {
                let (_, p) = peak(|| {
                    std::hint::black_box(parse_public_path(input));
                    std::hint::black_box(parse_proxy_path(input));
                });
                prop_assert_eq!(p, 0);
                let (_, p) = peak(|| std::hint::black_box(decode_key(input)));
                prop_assert!(p <= 256, "decode_key peaked at {} bytes", p);
            }
        }

        /// The inspector holds at most its sniffing head, the ICO directory
        /// (bounded by `max_head`) and small records, however long the upload.
        #[test]
        fn the_inspector_allocates_at_most_its_head(
            prefix in prop::sample::select(vec![
                &b"\\x89PNG\\r\\n\\x1a\\n"[..], b"\\xff\\xd8\\xff\\xe0", b"GIF89a", b"RIFF\\0\\0\\0\\0WEBPVP8X",
                b"BM", b"\\0\\0\\x01\\0\\x01\\0", b"<html>", b"",
            ]),
            body in prop::collection::vec(any::<u8>(), 0..4096),
            repeat in 1usize..2048,
            chunk in 1usize..70_000,
        ) {
            let limits = Limits { max_head: 64 * 1024, ..Limits::default() };
            let mut data = prefix.to_vec();
            for _ in 0..repeat {
                data.extend_from_slice(&body);
            }
            let (_, p) = peak(|| {
                let mut inspector = Inspector::new(&limits);
                for c in data.chunks(chunk) {
                    if inspector.update(c).is_err() {
                        break;
                    }
                }
                std::hint::black_box(inspector.finish())
            });
            prop_assert!(p <= limits.max_head + 4096, "peaked at {} bytes for {} bytes of input", p, data.len());
        }
    }

    /// A form with a file of 64 KiB or of 8 MiB: the reader's peak memory is
    /// the same few buffers, not the file.
    #[test]
    fn the_form_reader_does_not_hold_the_file() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let limits = FormLimits::for_upload(16 << 20, 64 * 1024);
        let mut peaks = Vec::new();
        for size in [64 * 1024, 8 << 20] {
            let mut body = b"--XyZ\r\nContent-Disposition: form-data; name=\"private\"\r\n\r\ntrue\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n".to_vec();
            body.extend(std::iter::repeat_n(0x5a, size));
            body.extend_from_slice(b"\r\n--XyZ--\r\n");
            // Arrives in 16 KiB pieces, one at a time, as hyper delivers a
            // request body: multer reads whatever is ready at once, so a
            // stream that is always ready would be buffered whole.
            let pieces: Vec<_> = body
                .chunks(16 * 1024)
                .map(|c| Ok::<_, std::io::Error>(Bytes::copy_from_slice(c)))
                .collect();
            drop(body);
            let (summary, p) = peak(|| {
                let arriving = futures_util::stream::iter(pieces).then(|piece| async {
                    tokio::task::yield_now().await;
                    piece
                });
                rt.block_on(read_form(
                    arriving,
                    "multipart/form-data; boundary=XyZ",
                    limits,
                ))
            });
            assert_eq!(summary.unwrap().file.1, size as u64);
            peaks.push(p);
        }
        // The pieces themselves are already allocated; what the reader adds
        // stays small and does not grow 128-fold with the file.
        assert!(peaks.iter().all(|&p| p < 256 * 1024), "{peaks:?}");
        assert!(peaks[1] < peaks[0] + 64 * 1024, "{peaks:?}");
    }
}
