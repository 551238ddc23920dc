//! The upload form reader (multer behind our framing checks and limits), fed
//! from a byte stream cut at fuzzer-chosen points: no panic; an accepted form
//! has exactly one file and respects every limit; the chunking never changes
//! the answer.
//!
//! Input: one byte giving the chunk length (0: one chunk), then the body.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use pixbin::http::multipart::{FormLimits, FormSummary, read_form};

const CONTENT_TYPE: &str = "multipart/form-data; boundary=XyZzy-b0undary";

const LIMITS: FormLimits = FormLimits {
    max_file: 4096,
    max_body: 4096 + 8192,
    max_text: 64,
    max_parts: 6,
    max_part_header: 512,
    max_preamble: 128,
};

fn run(body: &[u8], step: usize) -> Option<FormSummary> {
    let pieces: Vec<_> = if step == 0 {
        vec![Ok::<_, std::io::Error>(Bytes::copy_from_slice(body))]
    } else {
        body.chunks(step)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect()
    };
    let stream = futures_util::stream::iter(pieces);
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
        .block_on(read_form(stream, CONTENT_TYPE, LIMITS))
        .ok()
}

fuzz_target!(|input: &[u8]| {
    let Some((&step, body)) = input.split_first() else {
        return;
    };
    let chunked = run(body, usize::from(step));
    assert_eq!(chunked, run(body, 0), "chunking changed the answer");
    if let Some(form) = chunked {
        assert!(form.file.1 <= LIMITS.max_file);
        assert!(form.texts.len() < LIMITS.max_parts);
        assert!(form.texts.iter().all(|(_, v)| v.len() <= LIMITS.max_text));
        let mut names: Vec<_> = form.texts.iter().map(|t| &t.0).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), form.texts.len(), "a text field appeared twice");
    }
});
