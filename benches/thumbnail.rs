//! Thumbnail cost per megapixel: decode + shrink + orient + encode, for a
//! phone-sized JPEG and PNG made in the run and for real fixtures.
//!
//! Criterion reports throughput in Melem/s, one element per source pixel, so
//! Melem/s is megapixels per second; the summary printed at the end turns it
//! into milliseconds per megapixel for each input, plus the ratio of the large
//! JPEG to the small one (a ratio near 1 means the cost is linear in pixels).
//! Run: `cargo bench --bench thumbnail`.

use std::hint::black_box;
use std::io::Cursor;
use std::time::Instant;

use criterion::{Criterion, Throughput};
use image::{DynamicImage, ImageFormat, RgbImage};
use pixbin::media::ImageType;
use pixbin::media::thumbnail::{ThumbLimits, make};

/// A 12-megapixel (4000x3000) photo-like image: smooth gradients plus noise,
/// so encoders cannot shortcut it.
fn synthetic(format: ImageFormat) -> Vec<u8> {
    let (w, h) = (4000, 3000);
    let mut seed = 0x2545_f491_u32;
    let img = RgbImage::from_fn(w, h, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let n = (seed & 15) as u8;
        image::Rgb([
            (x * 255 / w) as u8 ^ n,
            (y * 255 / h) as u8 ^ n,
            ((x + y) % 256) as u8,
        ])
    });
    let mut out = Vec::new();
    DynamicImage::ImageRgb8(img)
        .write_to(&mut Cursor::new(&mut out), format)
        .unwrap();
    out
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/real/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

struct Input {
    name: &'static str,
    kind: ImageType,
    bytes: Vec<u8>,
    megapixels: f64,
}

fn inputs() -> Vec<Input> {
    let mut v = vec![
        ("12mp.jpg", ImageType::Jpeg, synthetic(ImageFormat::Jpeg)),
        ("12mp.png", ImageType::Png, synthetic(ImageFormat::Png)),
        (
            "hubble_deep_field.jpg",
            ImageType::Jpeg,
            fixture("hubble_deep_field.jpg"),
        ),
        ("astronaut.png", ImageType::Png, fixture("astronaut.png")),
        ("coffee.webp", ImageType::Webp, fixture("coffee.webp")),
    ];
    v.drain(..)
        .map(|(name, kind, bytes)| {
            let (w, h) = image::load_from_memory(&bytes)
                .unwrap()
                .into_rgb8()
                .dimensions();
            Input {
                name,
                kind,
                megapixels: f64::from(w) * f64::from(h) / 1e6,
                bytes,
            }
        })
        .collect()
}

fn run(input: &Input) {
    let t = make(
        Cursor::new(&input.bytes),
        input.bytes.len() as u64,
        input.kind,
        &ThumbLimits::default(),
    )
    .unwrap();
    black_box(t);
}

fn main() {
    let inputs = inputs();
    let mut c = Criterion::default().sample_size(10).configure_from_args();
    {
        let mut g = c.benchmark_group("thumbnail");
        for input in &inputs {
            g.throughput(Throughput::Elements((input.megapixels * 1e6) as u64));
            g.bench_function(input.name, |b| b.iter(|| run(input)));
        }
        g.finish();
    }
    c.final_summary();

    // The summary, measured again in this run (median of 5) so the figures and
    // the ratio come from the same machine state.
    println!("\nthumbnail time per megapixel (median of 5):");
    let mut per_mp = Vec::new();
    for input in &inputs {
        let mut times: Vec<f64> = (0..5)
            .map(|_| {
                let t = Instant::now();
                run(input);
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let ms_per_mp = times[2] / input.megapixels;
        per_mp.push(ms_per_mp);
        println!(
            "  {:<24} {:>6.2} MP  {:>8.1} ms  {:>7.1} ms/MP",
            input.name, input.megapixels, times[2], ms_per_mp
        );
    }
    println!(
        "  ratio 12 MP JPEG / 0.87 MP JPEG per megapixel: {:.2}",
        per_mp[0] / per_mp[2]
    );
}
