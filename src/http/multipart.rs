//! The upload form reader: multer plus pixbin's constraints, over any byte stream.
//!
//! multer applies no constraint by default (docs.rs multer 2.0) and buffers the
//! preamble and every part's header block until it finds their end, so one 1 MiB
//! header line would sit in memory up to the whole-stream limit (the class of
//! busboy#250, python-multipart and actix-web#2810; SECURITY.md A05). [`Framing`]
//! follows the same byte stream as multer does and refuses an over-long preamble
//! or header block before multer has buffered it. [`FormReader`] adds the form
//! rules of SECURITY.md A01–A04: an RFC 2046 boundary, a bounded number of
//! parts, exactly one file part, no repeated field names, short UTF-8 text fields.
//!
//! Everything here is a function of the bytes alone (no sockets, no state), so
//! the property tests below drive it with arbitrary bodies and chunkings.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use memchr::memmem::Finder;

use crate::error::AppError;

/// The bounds a form is read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormLimits {
    /// Largest file part, in bytes.
    pub max_file: u64,
    /// Largest whole body (file plus boundaries and text fields).
    pub max_body: u64,
    /// Largest text field value, in bytes.
    pub max_text: usize,
    /// Most parts in one body.
    pub max_parts: usize,
    /// Largest header block of one part (all its header lines together).
    pub max_part_header: usize,
    /// Largest preamble before the first boundary.
    pub max_preamble: usize,
}

impl FormLimits {
    /// The limits of `POST /api/upload` for a given file size limit.
    pub fn for_upload(max_file: u64, overhead: u64) -> FormLimits {
        FormLimits {
            max_file,
            max_body: max_file.saturating_add(overhead),
            max_text: 4 * 1024,
            max_parts: 16,
            // A 255-character name needs < 1 KiB; 16 KiB leaves room for the
            // 4 096-character names of A06 even percent-encoded (RFC 5987).
            max_part_header: 16 * 1024,
            max_preamble: 4 * 1024,
        }
    }
}

/// Why a form was refused. Every variant is a client error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// No boundary, or one that RFC 2046 §5.1.1 does not allow.
    #[error("multipart body without a valid boundary (1 to 70 characters, RFC 2046)")]
    BadBoundary,
    /// The body or the file is over its limit.
    #[error("file too large")]
    TooLarge,
    /// The preamble or a part's headers are over their limit.
    #[error("multipart part headers are too large")]
    HeadersTooLarge,
    /// More than [`FormLimits::max_parts`] parts.
    #[error("too many parts in the multipart body")]
    TooManyParts,
    /// A second part with a filename.
    #[error("more than one file in the upload; send one per request")]
    SecondFile,
    /// Two parts with the same field name.
    #[error("form field {0:?} appears more than once")]
    Duplicate(String),
    /// A text field over [`FormLimits::max_text`].
    #[error("form field {0:?} is too long")]
    TextTooLong(String),
    /// A text field that is not UTF-8.
    #[error("form fields must be UTF-8")]
    NotUtf8,
    /// The client went quiet for longer than the body idle timeout.
    #[error("request body timed out")]
    TimedOut,
    /// The connection ended inside the body.
    #[error("request body was cut off")]
    CutOff,
    /// The body ended before the closing boundary.
    #[error("multipart body is incomplete")]
    Incomplete,
    /// A whole form without a file part.
    #[error("no file in the upload (send a part with a filename)")]
    NoFile,
    /// Anything else multer refused.
    #[error("malformed multipart body")]
    Malformed,
}

impl FormError {
    /// The client-facing error: 400 `file_too_large` naming `limit`, else 400
    /// `invalid_request` with the reason.
    pub fn into_app_error(self, limit: u64) -> AppError {
        match self {
            FormError::TooLarge => AppError::BadRequest {
                code: "file_too_large",
                message: format!("file too large (limit {limit} bytes)"),
            },
            other => AppError::bad_request(other.to_string()),
        }
    }
}

/// The boundary of a `multipart/form-data` Content-Type, if RFC 2046 allows it:
/// 1 to 70 characters from `bchars`, not ending in a space.
pub fn boundary(content_type: &str) -> Result<String, FormError> {
    let b = multer::parse_boundary(content_type).map_err(|_| FormError::BadBoundary)?;
    let bchar = |c: u8| c.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(&c);
    if b.is_empty() || b.len() > 70 || !b.bytes().all(bchar) || b.ends_with(' ') {
        return Err(FormError::BadBoundary);
    }
    Ok(b)
}

/// Where [`Framing`] is in the body, mirroring multer's own stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Before the first `--boundary` (found anywhere, as multer does).
    Preamble,
    /// Just after a `--boundary`: `--` closes the body, anything else is padding.
    AfterDelimiter,
    /// Linear white space after a boundary, then the CRLF (`n` of its 2 bytes seen).
    Padding(u8),
    /// A part's header lines, up to the blank line.
    Headers,
    /// A part's data, up to CRLF `--boundary`.
    Data,
    /// After the closing boundary: multer stops reading.
    Epilogue,
}

/// A bound on what multer buffers: follows the multipart framing of a byte
/// stream chunk by chunk and fails once a preamble or a part's header block
/// passes its limit. Part data is only searched for the next boundary, never
/// held.
#[derive(Debug)]
pub struct Framing {
    stage: Stage,
    /// Bytes seen in the current preamble or header block.
    count: usize,
    /// The tail of the current stage's bytes, for patterns split across chunks.
    carry: Vec<u8>,
    /// The byte after a boundary, when the chunk ended between the two.
    pending_dash: bool,
    delimiter: Finder<'static>,
    data_end: Finder<'static>,
    blank_line: Finder<'static>,
    max_preamble: usize,
    max_header: usize,
}

impl Framing {
    /// A framing follower for `boundary` with the given limits.
    pub fn new(boundary: &str, limits: &FormLimits) -> Framing {
        Framing {
            stage: Stage::Preamble,
            count: 0,
            carry: Vec::new(),
            pending_dash: false,
            delimiter: Finder::new(format!("--{boundary}").as_bytes()).into_owned(),
            data_end: Finder::new(format!("\r\n--{boundary}").as_bytes()).into_owned(),
            blank_line: Finder::new(b"\r\n\r\n").into_owned(),
            max_preamble: limits.max_preamble,
            max_header: limits.max_part_header,
        }
    }

    /// Follows one more chunk of the body.
    pub fn feed(&mut self, mut chunk: &[u8]) -> Result<(), FormError> {
        while !chunk.is_empty() {
            match self.stage {
                Stage::Epilogue => return Ok(()),
                Stage::Preamble => {
                    let max = self.max_preamble;
                    let finder = self.delimiter.clone();
                    chunk = self.search(&finder, chunk, Some(max), Stage::AfterDelimiter)?;
                }
                Stage::Headers => {
                    let max = self.max_header;
                    let finder = self.blank_line.clone();
                    chunk = self.search(&finder, chunk, Some(max), Stage::Data)?;
                }
                Stage::Data => {
                    let finder = self.data_end.clone();
                    chunk = self.search(&finder, chunk, None, Stage::AfterDelimiter)?;
                }
                Stage::AfterDelimiter => {
                    let b = chunk[0];
                    if self.pending_dash {
                        self.pending_dash = false;
                        if b == b'-' {
                            self.stage = Stage::Epilogue;
                            return Ok(());
                        }
                        // `-x`: multer treats the `-` as a non-padding byte and
                        // fails on the missing CRLF; count it as header bytes.
                        self.enter(Stage::Headers);
                    } else if b == b'-' {
                        self.pending_dash = true;
                        chunk = &chunk[1..];
                    } else {
                        self.enter(Stage::Padding(0));
                    }
                }
                Stage::Padding(n) => {
                    let b = chunk[0];
                    if n == 0 && (b == b' ' || b == b'\t') {
                        chunk = &chunk[1..];
                    } else if n == 0 {
                        self.stage = Stage::Padding(1);
                        chunk = &chunk[1..];
                    } else {
                        // The second byte of what should be CRLF; multer reads
                        // both before it starts looking for the blank line.
                        self.enter(Stage::Headers);
                        chunk = &chunk[1..];
                    }
                }
            }
        }
        Ok(())
    }

    fn enter(&mut self, stage: Stage) {
        self.stage = stage;
        self.count = 0;
        self.carry.clear();
    }

    /// Looks for `finder`'s pattern in the current stage, counting bytes against
    /// `max`; returns the rest of the chunk after the pattern (or nothing).
    fn search<'c>(
        &mut self,
        finder: &Finder<'static>,
        chunk: &'c [u8],
        max: Option<usize>,
        next: Stage,
    ) -> Result<&'c [u8], FormError> {
        let pat = finder.needle();
        let end = find_end(&self.carry, chunk, finder);
        let used = end.unwrap_or(chunk.len());
        if let Some(max) = max {
            self.count = self.count.saturating_add(used);
            // The pattern itself does not count against the limit.
            if self.count > max.saturating_add(pat.len()) {
                return Err(FormError::HeadersTooLarge);
            }
        }
        match end {
            Some(e) => {
                self.enter(next);
                Ok(&chunk[e..])
            }
            None => {
                let keep = pat.len() - 1;
                if chunk.len() >= keep {
                    self.carry.clear();
                    self.carry.extend_from_slice(&chunk[chunk.len() - keep..]);
                } else {
                    self.carry.extend_from_slice(chunk);
                    let excess = self.carry.len().saturating_sub(keep);
                    self.carry.drain(..excess);
                }
                Ok(&[])
            }
        }
    }
}

/// Where in `chunk` the first match of the pattern ends, counting a match that
/// starts in `carry` (the previous bytes of the same stage, shorter than the
/// pattern).
fn find_end(carry: &[u8], chunk: &[u8], finder: &Finder<'_>) -> Option<usize> {
    let pat = finder.needle().len();
    if !carry.is_empty() {
        let k = (pat - 1).min(chunk.len());
        let mut joined = Vec::with_capacity(carry.len() + k);
        joined.extend_from_slice(carry);
        joined.extend_from_slice(&chunk[..k]);
        // `carry` alone and `chunk[..k]` alone are shorter than the pattern, so
        // any match here straddles the two.
        if let Some(i) = finder.find(&joined) {
            return Some(i + pat - carry.len());
        }
    }
    finder.find(chunk).map(|i| i + pat)
}

/// The framing error carried through multer's stream error, to be told apart.
#[derive(Debug)]
struct FramingRefused(FormError);

impl std::fmt::Display for FramingRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for FramingRefused {}

fn map_multer(e: multer::Error) -> FormError {
    match e {
        multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => {
            FormError::TooLarge
        }
        multer::Error::StreamReadFailed(inner) => {
            if let Some(f) = inner.downcast_ref::<FramingRefused>() {
                return f.0.clone();
            }
            match inner.downcast_ref::<std::io::Error>() {
                Some(io) if io.kind() == std::io::ErrorKind::TimedOut => FormError::TimedOut,
                Some(io) => match io
                    .get_ref()
                    .and_then(|i| i.downcast_ref::<FramingRefused>())
                {
                    Some(f) => f.0.clone(),
                    None => FormError::CutOff,
                },
                None => FormError::CutOff,
            }
        }
        multer::Error::IncompleteStream
        | multer::Error::IncompleteFieldData { .. }
        | multer::Error::IncompleteHeaders => FormError::Incomplete,
        _ => FormError::Malformed,
    }
}

/// One part of the form, in body order.
pub enum Part<'r> {
    /// The file: the client's file name (unsanitised) and its data.
    File {
        /// The `filename` parameter as sent.
        file_name: String,
        /// The part's data, read with [`FileData::chunk`].
        data: FileData<'r>,
    },
    /// A text field, whole.
    Text {
        /// The field name.
        name: String,
        /// Its value.
        value: String,
    },
}

/// The data of the file part.
pub struct FileData<'r>(Box<multer::Field<'r>>);

impl FileData<'_> {
    /// The next chunk of the file, `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, FormError> {
        self.0.chunk().await.map_err(map_multer)
    }
}

/// The request body, shared between multer and [`FormReader::finish`].
type SharedBody<'r> =
    Arc<Mutex<Option<Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send + 'r>>>>>;

/// Reads a form part by part under [`FormLimits`].
pub struct FormReader<'r> {
    mp: multer::Multipart<'r>,
    body: SharedBody<'r>,
    limits: FormLimits,
    parts: usize,
    file_seen: bool,
    names: HashSet<String>,
}

impl<'r> FormReader<'r> {
    /// A reader of `stream` (the request body) split by `boundary`.
    pub fn new<S>(stream: S, boundary: String, limits: FormLimits) -> FormReader<'r>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'r,
    {
        let mut framing = Framing::new(&boundary, &limits);
        let guarded = stream.map(move |chunk| {
            let chunk = chunk?;
            framing
                .feed(&chunk)
                .map_err(|e| std::io::Error::other(FramingRefused(e)))?;
            Ok::<Bytes, std::io::Error>(chunk)
        });
        let body: SharedBody<'r> = Arc::new(Mutex::new(Some(Box::pin(guarded))));
        let shared = body.clone();
        // multer stops reading at the closing boundary; sharing the body lets
        // `finish` read on to its end (the lock is never contended: one task).
        let for_multer = futures_util::stream::poll_fn(move |cx| {
            match shared.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
                Some(s) => s.as_mut().poll_next(cx),
                None => std::task::Poll::Ready(None),
            }
        });
        let constraints = multer::Constraints::new().size_limit(
            multer::SizeLimit::new()
                .whole_stream(limits.max_body)
                .per_field(limits.max_file),
        );
        FormReader {
            mp: multer::Multipart::with_constraints(for_multer, boundary, constraints),
            body,
            limits,
            parts: 0,
            file_seen: false,
            names: HashSet::new(),
        }
    }

    /// The next part, or `None` after the closing boundary. The previous
    /// [`Part::File`] must be dropped first.
    pub async fn next(&mut self) -> Result<Option<Part<'r>>, FormError> {
        let Some(mut field) = self.mp.next_field().await.map_err(map_multer)? else {
            return Ok(None);
        };
        self.parts += 1;
        if self.parts > self.limits.max_parts {
            return Err(FormError::TooManyParts);
        }
        let name: String = field.name().unwrap_or("").chars().take(64).collect();
        if !self.names.insert(name.clone()) {
            return Err(FormError::Duplicate(truncate(&name)));
        }
        if let Some(file_name) = field.file_name() {
            if self.file_seen {
                return Err(FormError::SecondFile);
            }
            self.file_seen = true;
            return Ok(Some(Part::File {
                file_name: file_name.to_string(),
                data: FileData(Box::new(field)),
            }));
        }
        let mut value = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(map_multer)? {
            if value.len() + chunk.len() > self.limits.max_text {
                return Err(FormError::TextTooLong(truncate(&name)));
            }
            value.extend_from_slice(&chunk);
        }
        let value = String::from_utf8(value).map_err(|_| FormError::NotUtf8)?;
        Ok(Some(Part::Text { name, value }))
    }

    /// After the closing boundary: reads the body to its real end. A body that
    /// is cut off there (`Content-Length` larger than what was sent, A07) is
    /// refused rather than committed; a long epilogue is refused too.
    pub async fn finish(self) -> Result<(), FormError> {
        drop(self.mp);
        let body = self.body.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some(mut body) = body else { return Ok(()) };
        let mut rest = 0usize;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| map_multer(multer::Error::StreamReadFailed(e.into())))?;
            rest += chunk.len();
            if rest > self.limits.max_preamble {
                return Err(FormError::HeadersTooLarge);
            }
        }
        Ok(())
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

/// What a whole form held, for tests and fuzzing: the file's name and length
/// and the text fields, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormSummary {
    /// `(file name, file length)` of the one file part.
    pub file: (String, u64),
    /// Text fields in body order.
    pub texts: Vec<(String, String)>,
}

/// Reads a whole form from a stream of chunks with the same rules as uploads
/// (exactly one file part), discarding the file's bytes.
pub async fn read_form<S>(
    stream: S,
    content_type: &str,
    limits: FormLimits,
) -> Result<FormSummary, FormError>
where
    S: Stream<Item = Result<Bytes, std::io::Error>> + Send,
{
    let mut form = FormReader::new(stream, boundary(content_type)?, limits);
    let mut file = None;
    let mut texts = Vec::new();
    while let Some(part) = form.next().await? {
        match part {
            Part::File {
                file_name,
                mut data,
            } => {
                let mut len = 0u64;
                while let Some(c) = data.chunk().await? {
                    len += c.len() as u64;
                }
                file = Some((file_name, len));
            }
            Part::Text { name, value } => texts.push((name, value)),
        }
    }
    form.finish().await?;
    Ok(FormSummary {
        file: file.ok_or(FormError::NoFile)?,
        texts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const B: &str = "XyZzy-b0undary";

    fn limits() -> FormLimits {
        FormLimits {
            max_file: 4096,
            max_body: 4096 + 8192,
            max_text: 64,
            max_parts: 6,
            max_part_header: 512,
            max_preamble: 128,
        }
    }

    fn ct() -> String {
        format!("multipart/form-data; boundary={B}")
    }

    /// Runs [`read_form`] on `body` split at `cuts`.
    fn run(body: &[u8], cuts: &[usize], limits: FormLimits) -> Result<FormSummary, FormError> {
        let mut pieces = Vec::new();
        let mut at = 0;
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
        cuts.sort_unstable();
        for c in cuts {
            pieces.push(Ok(Bytes::copy_from_slice(&body[at..c.max(at)])));
            at = c.max(at);
        }
        pieces.push(Ok(Bytes::copy_from_slice(&body[at..])));
        let stream = futures_util::stream::iter(pieces);
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(read_form(stream, &ct(), limits))
    }

    fn part(name: &str, file: Option<&str>, data: &[u8]) -> Vec<u8> {
        let mut p =
            format!("--{B}\r\nContent-Disposition: form-data; name=\"{name}\"").into_bytes();
        if let Some(f) = file {
            p.extend(format!("; filename=\"{f}\"\r\nContent-Type: image/png").as_bytes());
        }
        p.extend(b"\r\n\r\n");
        p.extend(data);
        p.extend(b"\r\n");
        p
    }

    fn close(mut body: Vec<u8>) -> Vec<u8> {
        body.extend(format!("--{B}--\r\n").as_bytes());
        body
    }

    #[test]
    fn boundaries_follow_rfc_2046() {
        assert_eq!(boundary(&ct()).unwrap(), B);
        assert_eq!(
            boundary("multipart/form-data; boundary=\"a b:c\"").unwrap(),
            "a b:c"
        );
        for bad in [
            "multipart/form-data".to_string(),
            "multipart/form-data; boundary=".into(),
            "multipart/form-data; boundary=\"\"".into(),
            format!("multipart/form-data; boundary={}", "a".repeat(71)),
            "multipart/form-data; boundary=\"ab \"".into(),
            "multipart/form-data; boundary=\"a<b\"".into(),
        ] {
            assert_eq!(boundary(&bad), Err(FormError::BadBoundary), "{bad}");
        }
        assert!(boundary(&format!("multipart/form-data; boundary={}", "a".repeat(70))).is_ok());
    }

    #[test]
    fn reads_one_file_and_text_fields() {
        let mut body = part("private", None, b"true");
        body.extend(part("file", Some("shot.png"), b"\x89PNG data\r\n--almost"));
        let s = run(&close(body), &[], limits()).unwrap();
        assert_eq!(s.file, ("shot.png".into(), 19));
        assert_eq!(s.texts, vec![("private".into(), "true".into())]);
    }

    #[test]
    fn form_rules() {
        let two_files = close(
            [
                part("a", Some("1.png"), b"x"),
                part("b", Some("2.png"), b"y"),
            ]
            .concat(),
        );
        assert_eq!(run(&two_files, &[], limits()), Err(FormError::SecondFile));
        let same_name =
            close([part("file", Some("1.png"), b"x"), part("file", None, b"y")].concat());
        assert_eq!(
            run(&same_name, &[], limits()),
            Err(FormError::Duplicate("file".into()))
        );
        let many = close(
            (0..7)
                .map(|i| part(&format!("f{i}"), None, b"v"))
                .collect::<Vec<_>>()
                .concat(),
        );
        assert_eq!(run(&many, &[], limits()), Err(FormError::TooManyParts));
        let long = close(part("note", None, &[b'a'; 65]));
        assert_eq!(
            run(&long, &[], limits()),
            Err(FormError::TextTooLong("note".into()))
        );
        let big = close(part("file", Some("x.png"), &[0; 4097]));
        assert_eq!(run(&big, &[], limits()), Err(FormError::TooLarge));
        let binary = close(part("note", None, &[0xff, 0xfe]));
        assert_eq!(run(&binary, &[], limits()), Err(FormError::NotUtf8));
        let unclosed = part("file", Some("x.png"), b"data");
        assert_eq!(run(&unclosed, &[], limits()), Err(FormError::Incomplete));
        let no_file = close(part("private", None, b"true"));
        assert_eq!(run(&no_file, &[], limits()), Err(FormError::NoFile));
    }

    #[test]
    fn long_headers_and_preambles_are_refused_before_multer_buffers_them() {
        // One header line far over the limit, never terminated.
        let mut body = format!("--{B}\r\nX-Junk: ").into_bytes();
        body.extend(vec![b'a'; 100_000]);
        assert_eq!(
            run(&body, &[7, 300], limits()),
            Err(FormError::HeadersTooLarge)
        );
        // Many short header lines.
        let mut body = format!("--{B}\r\n").into_bytes();
        for _ in 0..5000 {
            body.extend(b"X-A: 1\r\n");
        }
        assert_eq!(run(&body, &[], limits()), Err(FormError::HeadersTooLarge));
        // A preamble with no boundary at all.
        assert_eq!(
            run(&[b'p'; 10_000], &[], limits()),
            Err(FormError::HeadersTooLarge)
        );
        // A part with no headers whose data never has a blank line: multer would
        // look for one forever.
        let mut body = format!("--{B}\r\n\r\n").into_bytes();
        body.extend(vec![b'd'; 10_000]);
        assert_eq!(run(&body, &[], limits()), Err(FormError::HeadersTooLarge));
    }

    #[test]
    fn framing_follows_patterns_split_across_chunks() {
        let body = close(part("file", Some("x.png"), &[7; 3000]));
        for step in [1, 2, 3, 5, 17, 64] {
            let cuts: Vec<usize> = (0..body.len()).step_by(step).collect();
            let s = run(&body, &cuts, limits()).unwrap();
            assert_eq!(s.file, ("x.png".into(), 3000), "step {step}");
        }
    }

    /// A body built from form-ish pieces, some of them hostile.
    fn piece() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            ("[a-z]{1,6}", "[ -~]{0,80}").prop_map(|(n, v)| part(&n, None, v.as_bytes())),
            (
                "[a-z]{1,6}",
                "[ -~]{0,20}",
                proptest::collection::vec(any::<u8>(), 0..600)
            )
                .prop_map(|(n, f, d)| part(&n, Some(&f.replace('"', "")), &d)),
            Just(format!("--{B}").into_bytes()),
            Just(b"\r\n".to_vec()),
            Just(b"\r\n\r\n".to_vec()),
            Just(format!("--{B}--").into_bytes()),
            proptest::collection::vec(any::<u8>(), 0..200),
            (1usize..3000).prop_map(|n| vec![b'h'; n]),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Oracles of SECURITY.md M2: no panic; an accepted form has exactly
        /// one file and respects every limit.
        #[test]
        fn accepted_forms_respect_every_limit(
            pieces in proptest::collection::vec(piece(), 0..12),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
            closed in any::<bool>(),
        ) {
            let mut body = pieces.concat();
            if closed {
                body = close(body);
            }
            let l = limits();
            let result = run(&body, &cuts, l);
            if let Ok(s) = &result {
                prop_assert!(s.texts.len() < l.max_parts);
                prop_assert!(s.texts.iter().all(|(_, v)| v.len() <= l.max_text));
                let mut names: Vec<_> = s.texts.iter().map(|t| &t.0).collect();
                names.sort();
                names.dedup();
                prop_assert_eq!(names.len(), s.texts.len());
                prop_assert!(s.file.1 <= l.max_file);
            }
            // Accepting never depends on how the bytes arrived.
            prop_assert_eq!(result.ok(), run(&body, &[], l).ok());
        }

        /// The same well-formed form reads the same whatever the chunking.
        #[test]
        fn chunking_never_changes_the_result(
            text in "[ -~]{0,60}",
            data in proptest::collection::vec(any::<u8>(), 0..2000),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
        ) {
            let body = close([part("private", None, text.as_bytes()), part("file", Some("a.png"), &data)].concat());
            let whole = run(&body, &[], limits());
            prop_assert_eq!(&run(&body, &cuts, limits()), &whole);
            let s = whole.unwrap();
            prop_assert_eq!(s.file, ("a.png".to_string(), data.len() as u64));
            prop_assert_eq!(s.texts, vec![("private".to_string(), text)]);
        }

        /// A header block over the limit is always refused, however it is cut.
        #[test]
        fn oversized_header_blocks_are_always_refused(
            n in 600usize..5000,
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            let mut body = format!("--{B}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"").into_bytes();
            body.extend(vec![b'n'; n]);
            body.extend(b"\"\r\n\r\ndata\r\n");
            let body = close(body);
            prop_assert_eq!(run(&body, &cuts, limits()), Err(FormError::HeadersTooLarge));
        }
    }
}
