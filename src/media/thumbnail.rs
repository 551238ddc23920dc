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
//! JPEGs (8-bit grey or colour, sequential or progressive) decode at 1/2,
//! 1/4 or 1/8 scale inside the inverse DCT: the smallest scale whose long
//! side still reaches [`MAX_SIDE`], so a 4000x3000 photo is decoded straight
//! to 500x375. That skips most of the IDCT and colour conversion and the
//! full-size buffer, which is what lets photos up to the pixel limit get a
//! thumbnail inside [`ThumbLimits::max_alloc`]: what is bounded then is the
//! scaled output, plus for a progressive file its coefficient store (two
//! bytes per sample of the full image, which the format needs until its last
//! scan). Other JPEGs (CMYK, 12-bit, lossless) take the full-size path.
//!
//! Format: opaque images become JPEG (quality 80), images with transparency
//! lossless WebP (`image` has no lossy WebP encoder). For photos lossless WebP
//! is several times larger than JPEG at this size; for logos and screenshots
//! with alpha it keeps the transparency JPEG cannot hold.

use std::io::{BufRead, Cursor, Seek, SeekFrom};

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
    let mut reader = reader;
    if kind == ImageType::Jpeg {
        let start = reader
            .stream_position()
            .map_err(image::ImageError::IoError)?;
        if let Some((img, orientation)) = jpeg_scaled(&mut reader, limits)? {
            // Already within 8x of the target: a real filter costs little
            // here and keeps the detail a box average of so few pixels loses.
            let small = if img.width() > MAX_SIDE || img.height() > MAX_SIDE {
                img.resize(MAX_SIDE, MAX_SIDE, image::imageops::FilterType::Triangle)
            } else {
                img
            };
            return shrink_and_encode(small, orientation);
        }
        reader
            .seek(SeekFrom::Start(start))
            .map_err(image::ImageError::IoError)?;
    }
    full_size(reader, len, kind, limits)
}

/// The thumbnail through a full-size decode by the `image` crate.
fn full_size<R: BufRead + Seek>(
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
    shrink_and_encode(full, orientation)
}

/// Shrinks to at most [`MAX_SIDE`], turns upright, encodes.
fn shrink_and_encode(
    full: DynamicImage,
    orientation: image::metadata::Orientation,
) -> Result<Thumb, ThumbError> {
    let mut small = if full.width() > MAX_SIDE || full.height() > MAX_SIDE {
        full.thumbnail(MAX_SIDE, MAX_SIDE)
    } else {
        full
    };
    small.apply_orientation(orientation);
    encode(small)
}

/// A JPEG decoded at the smallest DCT scale that keeps its long side at
/// [`MAX_SIDE`] or more, with its EXIF orientation. `None` for the kinds this
/// path leaves to the full decoder (CMYK, 12-bit, lossless); the reader is
/// then to be rewound.
fn jpeg_scaled<R: BufRead>(
    reader: R,
    limits: &ThumbLimits,
) -> Result<Option<(DynamicImage, image::metadata::Orientation)>, ThumbError> {
    use jpeg_decoder::{CodingProcess, PixelFormat};
    let mut d = jpeg_decoder::Decoder::new(reader);
    d.read_info().map_err(jpeg_error)?;
    let Some(info) = d.info() else {
        return Ok(None);
    };
    let channels: u64 = match (info.pixel_format, info.coding_process) {
        (_, CodingProcess::Lossless) => return Ok(None),
        (PixelFormat::L8, _) => 1,
        (PixelFormat::RGB24, _) => 3,
        (PixelFormat::L16 | PixelFormat::CMYK32, _) => return Ok(None),
    };
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    // MAX_SIDE fits a JPEG side (u16).
    let side = MAX_SIDE as u16;
    let (sw, sh) = d.scale(side, side).map_err(jpeg_error)?;
    let out = u64::from(sw) * u64::from(sh) * channels;
    // The decoder keeps each component's scaled plane beside the output, and
    // a progressive file every coefficient of the full image (8x8 blocks of
    // i16, at most one block per 8x8 pixels per component).
    let coefficients = if info.coding_process == CodingProcess::DctProgressive {
        u64::from(width.div_ceil(8)) * u64::from(height.div_ceil(8)) * 64 * 2 * channels
    } else {
        0
    };
    let bytes = out * 2 + coefficients;
    if u64::from(width) * u64::from(height) > limits.max_pixels || bytes > limits.max_alloc {
        return Err(ThumbError::TooLarge {
            width,
            height,
            bytes,
        });
    }
    d.set_max_decoding_buffer_size(usize::try_from(limits.max_alloc).unwrap_or(usize::MAX));
    let pixels = d.decode().map_err(jpeg_error)?;
    let (w, h) = (u32::from(sw), u32::from(sh));
    let img = if channels == 1 {
        image::GrayImage::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8)
    } else {
        image::RgbImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8)
    };
    let img = img.ok_or_else(|| {
        jpeg_error(jpeg_decoder::Error::Format(
            "decoded fewer pixels than the frame declares".into(),
        ))
    })?;
    // A broken EXIF block must not cost the thumbnail (as in `make`).
    let orientation = d
        .exif_data()
        .and_then(image::metadata::Orientation::from_exif_chunk)
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    Ok(Some((img, orientation)))
}

/// A JPEG decoder error as the `image` error the rest of this module speaks.
fn jpeg_error(e: jpeg_decoder::Error) -> ThumbError {
    ThumbError::Decode(image::ImageError::Decoding(
        image::error::DecodingError::new(image::ImageFormat::Jpeg.into(), e),
    ))
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

    /// Mean absolute difference per channel between two thumbnails (decoded
    /// back), or `None` when their sizes differ.
    fn difference(a: &Thumb, b: &Thumb) -> Option<f64> {
        let a = image::load_from_memory(&a.bytes).unwrap().to_rgb8();
        let b = image::load_from_memory(&b.bytes).unwrap().to_rgb8();
        if a.dimensions() != b.dimensions() {
            return None;
        }
        let sum: u64 = a
            .as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(x, y)| u64::from(x.abs_diff(*y)))
            .sum();
        Some(sum as f64 / a.as_raw().len() as f64)
    }

    /// The thumbnail as a careful tool would make it: full-size decode,
    /// Lanczos, turned upright, encoded at high quality.
    fn reference_thumb(b: &[u8]) -> Thumb {
        let mut decoder = image::codecs::jpeg::JpegDecoder::new(Cursor::new(b)).unwrap();
        let orientation = decoder.orientation().unwrap();
        let full = DynamicImage::from_decoder(decoder).unwrap();
        let mut small = full.resize(MAX_SIDE, MAX_SIDE, image::imageops::FilterType::Lanczos3);
        small.apply_orientation(orientation);
        let mut bytes = Vec::new();
        JpegEncoder::new_with_quality(&mut bytes, 95)
            .encode_image(&small.to_rgb8())
            .unwrap();
        Thumb {
            bytes,
            kind: ImageType::Jpeg,
            width: small.width(),
            height: small.height(),
        }
    }

    /// A baseline 4:2:0 JPEG of `w` x `h` scaled up from a real photo.
    fn big_jpeg(w: u32, h: u32) -> Vec<u8> {
        let src = image::load_from_memory(&fixture("real", "astronaut.png")).unwrap();
        let img = src.resize_exact(w, h, image::imageops::FilterType::Triangle);
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, 90)
            .encode_image(&img.to_rgb8())
            .unwrap();
        out
    }

    #[test]
    fn scaled_jpeg_decoding_matches_the_full_size_path() {
        let big = big_jpeg(3000, 2000);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("3000x2000 baseline (1/8)", big),
            (
                "1800x1200 progressive (1/4)",
                fixture("jpeg", "coffee-progressive.jpg"),
            ),
            (
                "1536x1536 grey (1/4)",
                fixture("jpeg", "astronaut-gray.jpg"),
            ),
            ("1000x872 (1/2)", fixture("real", "hubble_deep_field.jpg")),
            (
                "640x427 with Orientation 6 (1/1)",
                fixture("real", "rocket-gps.jpg"),
            ),
            (
                "451x300 CMYK (full-size path)",
                fixture("jpeg", "chelsea-cmyk.jpg"),
            ),
        ];
        for (name, b) in cases {
            let limits = ThumbLimits::default();
            let fast = make(Cursor::new(&b), b.len() as u64, ImageType::Jpeg, &limits).unwrap();
            let full =
                full_size(Cursor::new(&b), b.len() as u64, ImageType::Jpeg, &limits).unwrap();
            assert_eq!(
                (fast.width, fast.height, fast.kind),
                (full.width, full.height, full.kind),
                "{name}"
            );
            // Against a careful reference (Lanczos from the full-size
            // pixels), the scaled path is about as close as the full-size
            // one: a shifted, tinted or wrongly turned picture is 20 and more.
            let reference = reference_thumb(&b);
            let fast_err = difference(&fast, &reference).unwrap();
            let full_err = difference(&full, &reference).unwrap();
            assert!(
                fast_err < full_err + 1.0 && fast_err < 5.0,
                "{name}: scaled {fast_err:.2}, full-size {full_err:.2} from the reference"
            );
        }
    }

    #[test]
    fn scaled_jpeg_decoding_fits_a_photo_at_the_pixel_limit_in_the_budget() {
        // 9000x6000 = 54 MP: 162 MB at full size, more than the budget; at
        // 1/8 scale it is 1125x750. Large flat squares keep the file small.
        let (w, h) = (9_000, 6_000);
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            let v = ((x / 64 + y / 64) % 2 * 200) as u8;
            image::Rgb([v, 255 - v, 128])
        });
        let mut b = Vec::new();
        JpegEncoder::new_with_quality(&mut b, 50)
            .encode_image(&img)
            .unwrap();
        drop(img);
        let limits = ThumbLimits::default();
        assert!(3 * u64::from(w) * u64::from(h) > limits.max_alloc);
        let t = make(Cursor::new(&b), b.len() as u64, ImageType::Jpeg, &limits).unwrap();
        assert_eq!((t.width, t.height), (320, 213));
        // The full-size decoder refuses it.
        assert!(matches!(
            full_size(Cursor::new(&b), b.len() as u64, ImageType::Jpeg, &limits),
            Err(ThumbError::TooLarge { .. })
        ));
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
