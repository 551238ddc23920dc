//! The stored name of an ingested file: the client's (or the file's) name made
//! safe to store and display, with an extension that follows the bytes.

/// Longest stored file name, in characters.
pub const MAX_FILENAME: usize = 255;

/// Turns a client file name into something safe to store and display: no path,
/// no control or bidi-override characters, at most 255 characters. HTML escaping
/// is the job of whoever renders it; this keeps the JSON and logs clean.
pub fn sanitize_filename(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| {
            !c.is_control()
                && !matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
        })
        .take(MAX_FILENAME)
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.').trim();
    if trimmed.is_empty() {
        "upload".to_string()
    } else {
        trimmed.to_string()
    }
}

/// Keeps the sanitised name but makes its extension match the detected type, so
/// a download of `x.png` that is really a JPEG is not misnamed.
pub fn filename_with_ext(name: &str, ext: &str) -> String {
    let stem = match name.rsplit_once('.') {
        Some((stem, e)) if !stem.is_empty() && e.len() <= 5 => stem,
        _ => name,
    };
    let mut out: String = stem.chars().take(MAX_FILENAME - ext.len() - 1).collect();
    out.push('.');
    out.push_str(ext);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn filenames_are_sanitised() {
        assert_eq!(sanitize_filename("../../../etc/cron.d/x"), "x");
        assert_eq!(sanitize_filename("C:\\Users\\me\\shot.png"), "shot.png");
        assert_eq!(sanitize_filename("a\0.png"), "a.png");
        assert_eq!(sanitize_filename("a\r\nX-Evil: 1.png"), "aX-Evil: 1.png");
        assert_eq!(sanitize_filename("evil\u{202E}gnp.exe"), "evilgnp.exe");
        assert_eq!(sanitize_filename(""), "upload");
        assert_eq!(sanitize_filename(".."), "upload");
        assert_eq!(sanitize_filename(&"a".repeat(4096)).chars().count(), 255);
        assert_eq!(
            sanitize_filename("<img src=x onerror=alert(1)>.png"),
            "<img src=x onerror=alert(1)>.png"
        );
    }

    #[test]
    fn extensions_follow_the_bytes() {
        assert_eq!(filename_with_ext("photo.png", "jpg"), "photo.jpg");
        assert_eq!(filename_with_ext("photo", "png"), "photo.png");
        assert_eq!(
            filename_with_ext("my.holiday.photo.jpeg", "jpg"),
            "my.holiday.photo.jpg"
        );
        assert_eq!(
            filename_with_ext(&"a".repeat(255), "webp").chars().count(),
            255
        );
    }

    #[test]
    fn file_names_keep_their_stem_and_take_the_detected_extension() {
        let stored = |path: &str, ext| filename_with_ext(&sanitize_filename(path), ext);
        assert_eq!(stored("/x/shot.PNG", "jpg"), "shot.jpg");
        assert_eq!(stored("/x/no-extension", "png"), "no-extension.png");
    }

    proptest! {
        #[test]
        fn sanitised_names_have_no_path_or_controls(s in "\\PC{0,300}|[\\x00-\\x7f]{0,300}") {
            let n = sanitize_filename(&s);
            prop_assert!(!n.is_empty() && n.chars().count() <= MAX_FILENAME);
            prop_assert!(!n.contains('/') && !n.contains('\\'));
            prop_assert!(!n.chars().any(|c| c.is_control()));
        }
    }
}
