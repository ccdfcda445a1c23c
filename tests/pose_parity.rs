//! The Rust pipeline's model output equals Python onnxruntime's on the same
//! inputs within 1e-4 (goldens made by tests/golden/make_pose_golden.sh from
//! the full model, decoding in its graph), both with that model and with the
//! default one cut at its heads and decoded in Rust; and our FFmpeg decoder
//! yields the frames the ffmpeg CLI does.

use serde::Deserialize;
use sortwatch::pose::{MoveNet, MoveNetConfig};
use sortwatch::source::{FfmpegSource, FrameSource};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Deserialize)]
struct Golden {
    case: String,
    input_png: String,
    input_shape: [usize; 4],
    output: Vec<f32>,
}

fn goldens() -> Vec<(Golden, image::RgbImage)> {
    let dir = Path::new("tests/golden/pose");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let g: Golden = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let img = image::open(dir.join(&g.input_png)).unwrap().into_rgb8();
            out.push((g, img));
        }
    }
    out.sort_by(|a, b| a.0.case.cmp(&b.0.case));
    out
}

#[test]
fn movenet_output_matches_python_onnxruntime_within_1e4_on_photo_and_cctv_frames() {
    assert_matches_goldens(MoveNetConfig {
        model: PathBuf::from("models/movenet-multipose.onnx"),
        ..MoveNetConfig::default()
    });
}

#[test]
fn the_heads_model_decoded_in_rust_matches_python_onnxruntime_on_the_full_model() {
    let cfg = MoveNetConfig::default();
    assert!(
        cfg.model.ends_with("movenet-multipose-heads.onnx"),
        "{cfg:?}"
    );
    assert_matches_goldens(cfg);
}

fn assert_matches_goldens(cfg: MoveNetConfig) {
    let cases = goldens();
    let names: Vec<&str> = cases.iter().map(|c| c.0.case.as_str()).collect();
    assert!(
        names.iter().any(|n| n.starts_with("astronaut")),
        "{names:?}"
    );
    assert!(
        names.iter().filter(|n| n.starts_with("vtest")).count() >= 3,
        "{names:?}"
    );
    let mut net = MoveNet::load(cfg).expect("model and ONNX Runtime");
    for (g, img) in &cases {
        let [_, h, w, _] = g.input_shape;
        assert_eq!(
            (img.width() as usize, img.height() as usize),
            (w, h),
            "{}",
            g.case
        );
        let raw = net.run_raw(img.as_raw(), w, h).unwrap();
        assert_eq!(raw.values.len(), g.output.len(), "{}", g.case);
        let worst = raw
            .values
            .iter()
            .zip(&g.output)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        eprintln!("{}: max abs difference {worst:e}", g.case);
        assert!(
            worst <= 1e-4,
            "{}: max abs difference {worst:e} exceeds 1e-4",
            g.case
        );
        // The goldens are meaningful: each holds a detected person.
        let best = g
            .output
            .chunks_exact(56)
            .map(|r| r[55])
            .fold(0.0f32, f32::max);
        assert!(best > 0.1, "{}: best person score {best}", g.case);
    }
}

#[test]
fn ffmpeg_source_decodes_the_frames_the_ffmpeg_cli_does() {
    let mut src = FfmpegSource::open(Arc::from("vtest"), "samples/vtest.avi").unwrap();
    let wanted: Vec<(u64, image::RgbImage)> = goldens()
        .into_iter()
        .filter_map(|(g, img)| {
            let n = g.case.strip_prefix("vtest_f")?.get(..4)?.parse().ok()?;
            Some((n, img))
        })
        .collect();
    assert!(wanted.len() >= 3);
    let last = wanted.iter().map(|w| w.0).max().unwrap();
    let mut prev_t = -1.0;
    for n in 0..=last {
        let f = src.next_frame().unwrap().expect("frame");
        assert_eq!(f.seq, n);
        assert!(f.media_time_s > prev_t, "media time increases");
        prev_t = f.media_time_s;
        if let Some((_, img)) = wanted.iter().find(|w| w.0 == n) {
            assert!(
                (f.media_time_s - n as f64 / 10.0).abs() < 1e-6,
                "PTS-based time at frame {n}: {}",
                f.media_time_s
            );
            let diff: u64 = f
                .image
                .data
                .iter()
                .zip(img.as_raw())
                .map(|(a, b)| u64::from(a.abs_diff(*b)))
                .sum();
            let mean = diff as f64 / f.image.data.len() as f64;
            // Same decoder; only the YUV→RGB scaler's rounding may differ.
            assert!(
                mean < 1.5,
                "frame {n}: mean abs difference {mean} vs the ffmpeg CLI"
            );
        }
    }
}
