//! Thumbnails: decode under explicit limits, shrink to at most 320 px on the
//! long side, turn upright by the EXIF orientation, encode small.
//!
//! Bounded before anything is allocated: the decoder's header gives the size
//! and pixel format, and an image whose decoded buffer would pass
//! [`ThumbLimits::max_alloc`] (or whose sides pass the pixel limit) is refused
//! there, so a pixel bomb never gets a buffer; `image::Limits` repeats the
//! same bounds inside the decoders. Time is bounded by the same pixel budget
//! (decoding is linear in pixels, and only the first frame of an animation is
//! decoded). The shrink happens before the rotation so the full-size image is
//! never copied.
//!
//! Format: opaque images become JPEG (quality 80), images with transparency
//! lossless WebP (`image` has no lossy WebP encoder). For photos lossless WebP
//! is several times larger than JPEG at this size; for logos and screenshots
//! with alpha it keeps the transparency JPEG cannot hold.

use std::io::{BufRead, Cursor, Seek};

use image::codecs::jpeg::JpegEncoder;
use image::codecs::webp::WebPEncoder;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

use super::ImageType;

/// Longest side of a thumbnail, in pixels.
pub const MAX_SIDE: u32 = 320;

/// JPEG quality of opaque thumbnails: small, and artefacts stay invisible at 320 px.
const JPEG_QUALITY: u8 = 80;

/// Bounds on one thumbnail decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThumbLimits {
    /// Largest width × height decoded.
    pub max_pixels: u64,
    /// Largest decoded pixel buffer plus, for JPEG, the compressed input
    /// (the JPEG decoder holds the whole file in memory).
    pub max_alloc: u64,
}

impl Default for ThumbLimits {
    fn default() -> Self {
        ThumbLimits {
            max_pixels: 100_000_000,
            max_alloc: 128 * 1024 * 1024,
        }
    }
}

/// A finished thumbnail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thumb {
    /// The encoded bytes.
    pub bytes: Vec<u8>,
    /// JPEG or WebP.
    pub kind: ImageType,
    /// Pixels, after orientation.
    pub width: u32,
    /// Pixels, after orientation.
    pub height: u32,
}

/// Why no thumbnail could be made. Never fatal to an upload.
#[derive(Debug, thiserror::Error)]
pub enum ThumbError {
    /// Decoding would need more memory or pixels than allowed.
    #[error("image too large to thumbnail ({width}x{height}, {bytes} bytes decoded)")]
    TooLarge {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// Bytes its decoded buffer would take.
        bytes: u64,
    },
    /// The decoder refused the data.
    #[error("cannot decode image: {0}")]
    Decode(#[from] image::ImageError),
}

fn format_of(kind: ImageType) -> ImageFormat {
    match kind {
        ImageType::Png => ImageFormat::Png,
        ImageType::Jpeg => ImageFormat::Jpeg,
        ImageType::Gif => ImageFormat::Gif,
        ImageType::Webp => ImageFormat::WebP,
        ImageType::Bmp => ImageFormat::Bmp,
        ImageType::Ico => ImageFormat::Ico,
    }
}

/// Makes the thumbnail of an image of type `kind` (already validated by the
/// inspector) read from `reader`, whose length is `len` bytes.
pub fn make<R: BufRead + Seek>(
    reader: R,
    len: u64,
    kind: ImageType,
    limits: &ThumbLimits,
) -> Result<Thumb, ThumbError> {
    let side = u32::try_from(limits.max_pixels).unwrap_or(u32::MAX);
    let mut decode_limits = image::Limits::default();
    decode_limits.max_image_width = Some(side);
    decode_limits.max_image_height = Some(side);
    decode_limits.max_alloc = Some(limits.max_alloc);
    let mut r = ImageReader::with_format(reader, format_of(kind));
    r.limits(decode_limits);
    let mut decoder = r.into_decoder()?;

    let (width, height) = decoder.dimensions();
    let input = if kind == ImageType::Jpeg { len } else { 0 };
    let bytes = decoder.total_bytes().saturating_add(input);
    if u64::from(width) * u64::from(height) > limits.max_pixels || bytes > limits.max_alloc {
        return Err(ThumbError::TooLarge {
            width,
            height,
            bytes,
        });
    }
    // A broken EXIF block must not cost the thumbnail; the image is then shown as stored.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    // First frame only for GIF and animated WebP: that is what the decoders
    // return from a single-image read.
    let full = DynamicImage::from_decoder(decoder)?;
    let mut small = if full.width() > MAX_SIDE || full.height() > MAX_SIDE {
        full.thumbnail(MAX_SIDE, MAX_SIDE)
    } else {
        full
    };
    small.apply_orientation(orientation);
    encode(small)
}

/// Encodes a small image: JPEG when opaque, lossless WebP with transparency.
fn encode(img: DynamicImage) -> Result<Thumb, ThumbError> {
    let (width, height) = (img.width(), img.height());
    let rgba = img.to_rgba8();
    let opaque = rgba.pixels().all(|p| p.0[3] == 255);
    let mut bytes = Vec::new();
    let kind = if opaque {
        let rgb = DynamicImage::ImageRgba8(rgba).to_rgb8();
        JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY).encode_image(&rgb)?;
        ImageType::Jpeg
    } else {
        WebPEncoder::new_lossless(Cursor::new(&mut bytes)).encode(
            rgba.as_raw(),
            width,
            height,
            image::ExtendedColorType::Rgba8,
        )?;
        ImageType::Webp
    };
    Ok(Thumb {
        bytes,
        kind,
        width,
        height,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn fixture(dir: &str, name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/{dir}/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn thumb(name: &str, kind: ImageType) -> Thumb {
        let b = fixture("real", name);
        make(
            Cursor::new(&b),
            b.len() as u64,
            kind,
            &ThumbLimits::default(),
        )
        .unwrap()
    }

    #[test]
    fn photos_become_small_jpegs_and_alpha_becomes_webp() {
        let t = thumb("hubble_deep_field.jpg", ImageType::Jpeg);
        assert_eq!((t.kind, t.width, t.height), (ImageType::Jpeg, 320, 279));
        assert!(t.bytes.starts_with(&[0xff, 0xd8]));
        // An RGBA file whose pixels are all opaque is still a JPEG.
        let t = thumb("logo.png", ImageType::Png);
        assert_eq!((t.kind, t.width, t.height), (ImageType::Jpeg, 320, 320));
        // Real transparency keeps its alpha channel in lossless WebP.
        let mut img = image::RgbaImage::new(400, 200);
        img.put_pixel(0, 0, image::Rgba([255, 0, 0, 255]));
        let mut png = Vec::new();
        DynamicImage::ImageRgba8(img)
            .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        let t = make(
            Cursor::new(&png),
            png.len() as u64,
            ImageType::Png,
            &ThumbLimits::default(),
        )
        .unwrap();
        assert_eq!((t.kind, t.width, t.height), (ImageType::Webp, 320, 160));
        assert!(t.bytes.starts_with(b"RIFF"));
        // Small images are not enlarged.
        let t = thumb("logo.ico", ImageType::Ico);
        assert_eq!((t.width, t.height), (48, 48));
    }

    #[test]
    fn exif_orientation_is_applied() {
        // 640x427 stored, Orientation 6 (rotate 90° clockwise): upright it is portrait.
        let t = thumb("rocket-gps.jpg", ImageType::Jpeg);
        assert_eq!((t.width, t.height), (214, 320));
        let t = thumb("rocket.jpg", ImageType::Jpeg);
        assert_eq!((t.width, t.height), (320, 214));
    }

    #[test]
    fn pixel_bombs_are_refused_before_allocation() {
        for (name, kind) in [
            ("pixel-bomb.png", ImageType::Png),
            ("pixel-bomb.jpg", ImageType::Jpeg),
        ] {
            let b = fixture("hostile", name);
            let err = make(
                Cursor::new(&b),
                b.len() as u64,
                kind,
                &ThumbLimits::default(),
            )
            .unwrap_err();
            assert!(
                matches!(
                    err,
                    ThumbError::TooLarge { .. } | ThumbError::Decode(image::ImageError::Limits(_))
                ),
                "{name}: {err}"
            );
        }
        let b = fixture("hostile", "truncated.png");
        assert!(
            make(
                Cursor::new(&b),
                b.len() as u64,
                ImageType::Png,
                &ThumbLimits::default()
            )
            .is_err()
        );
    }
}
