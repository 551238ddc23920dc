//! Single byte-range requests (RFC 9110 §14). Multiple ranges are answered with
//! the whole representation, which the RFC allows (a server may ignore Range).

/// What to send for a `Range` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeResult {
    /// 200 with the whole body (no Range, or one we choose to ignore).
    Full,
    /// 206 with bytes `start..=end`.
    Partial {
        /// First byte.
        start: u64,
        /// Last byte, inclusive.
        end: u64,
    },
    /// 416 with `Content-Range: bytes */len`.
    Unsatisfiable,
}

fn num(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Interprets a `Range` header value against a representation of `len` bytes.
pub fn parse(header: Option<&str>, len: u64) -> RangeResult {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeResult::Full;
    };
    if spec.contains(',') {
        return RangeResult::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeResult::Full;
    };
    match (a.trim(), b.trim()) {
        ("", suffix) => match num(suffix) {
            None => RangeResult::Full,
            Some(0) => RangeResult::Unsatisfiable,
            Some(_) if len == 0 => RangeResult::Unsatisfiable,
            Some(n) => RangeResult::Partial {
                start: len.saturating_sub(n),
                end: len - 1,
            },
        },
        (first, last) => {
            let Some(start) = num(first) else {
                return RangeResult::Full;
            };
            let end = if last.is_empty() {
                u64::MAX
            } else {
                match num(last) {
                    Some(e) if e >= start => e,
                    _ => return RangeResult::Full,
                }
            };
            if start >= len {
                RangeResult::Unsatisfiable
            } else {
                RangeResult::Partial {
                    start,
                    end: end.min(len - 1),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RangeResult::*;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_rfc_examples() {
        assert_eq!(
            parse(Some("bytes=0-499"), 10_000),
            Partial { start: 0, end: 499 }
        );
        assert_eq!(
            parse(Some("bytes=500-999"), 10_000),
            Partial {
                start: 500,
                end: 999
            }
        );
        assert_eq!(
            parse(Some("bytes=-500"), 10_000),
            Partial {
                start: 9500,
                end: 9999
            }
        );
        assert_eq!(
            parse(Some("bytes=9500-"), 10_000),
            Partial {
                start: 9500,
                end: 9999
            }
        );
        assert_eq!(parse(Some("bytes=0-0,-1"), 10_000), Full);
        assert_eq!(
            parse(Some("bytes=0-99999"), 100),
            Partial { start: 0, end: 99 }
        );
        assert_eq!(
            parse(Some("bytes=-1000"), 100),
            Partial { start: 0, end: 99 }
        );
        assert_eq!(parse(Some("bytes=100-"), 100), Unsatisfiable);
        assert_eq!(parse(Some("bytes=-0"), 100), Unsatisfiable);
        assert_eq!(parse(Some("bytes=5-2"), 100), Full);
        assert_eq!(parse(Some("items=0-1"), 100), Full);
        assert_eq!(parse(Some("bytes=x-1"), 100), Full);
        assert_eq!(parse(None, 100), Full);
    }

    proptest! {
        #[test]
        fn partial_ranges_are_inside_the_body(h in "\\PC{0,30}", len in 1u64..10_000) {
            if let Partial { start, end } = parse(Some(&h), len) {
                prop_assert!(start <= end && end < len);
            }
        }
    }
}
