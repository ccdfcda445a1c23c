//! Per-stage benches on real frames of the CCTV sample (samples/vtest.avi,
//! copied there by scripts/setup.sh): motion, pose pre-processing, inference
//! and post-processing.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use sortwatch::bbox::BBox;
use sortwatch::motion::{MotionConfig, MotionDetector};
use sortwatch::pose::{decode, suppress_duplicates, InputTensor, MoveNet, MoveNetConfig};
use sortwatch::source::{FfmpegSource, Frame, FrameSource};
use std::hint::black_box;
use std::sync::Arc;

fn frames(n: usize) -> Vec<Frame> {
    let mut src = FfmpegSource::open(Arc::from("vtest"), "samples/vtest.avi")
        .expect("samples/vtest.avi (run scripts/setup.sh)");
    (0..n)
        .map_while(|_| src.next_frame().expect("decode"))
        .collect()
}

fn bench(c: &mut Criterion) {
    let frames = frames(60);
    let full = BBox::new(0.0, 0.0, 768.0, 576.0);
    let crop = BBox::new(160.0, 120.0, 416.0, 376.0);

    c.bench_function("motion/768x576", |b| {
        let mut m = MotionDetector::new(MotionConfig::default());
        let mut i = 0usize;
        b.iter(|| {
            let f = &frames[i % frames.len()];
            i += 1;
            black_box(m.update(&f.image, i as f64 * 0.1));
        })
    });

    let mut pre = c.benchmark_group("pose/preprocess");
    for (name, region, scale) in [
        ("full_576x768", full, 1.0),
        ("crop_256", crop, 1.0),
        ("crop_128_up2x", BBox::new(300.0, 200.0, 428.0, 328.0), 2.0),
    ] {
        pre.bench_function(name, |b| {
            let mut t = InputTensor::default();
            b.iter(|| t.fill(black_box(&frames[0].image), &region, scale))
        });
    }
    pre.finish();

    let mut net = MoveNet::load(MoveNetConfig::default())
        .expect("model and ONNX Runtime (run scripts/setup.sh)");
    let mut infer = c.benchmark_group("pose/inference");
    infer.sample_size(20);
    let mut outputs = Vec::new();
    for (region, label) in [(crop, "256x256"), (full, "576x768")] {
        let mut t = InputTensor::default();
        t.fill(&frames[30].image, &region, 1.0);
        outputs.push((net.run_input(&t).unwrap(), region));
        infer.bench_with_input(BenchmarkId::from_parameter(label), &t, |b, t| {
            b.iter(|| black_box(net.run_input(t).unwrap()))
        });
    }
    infer.finish();

    c.bench_function("pose/postprocess", |b| {
        let (raw, region) = &outputs[1];
        b.iter(|| black_box(suppress_duplicates(decode(raw, region, 1.0, 0.2), 0.5)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
