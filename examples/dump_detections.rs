//! Dumps full-frame pose detections of every frame of a video, with each
//! person's clothing-colour descriptor, as JSON lines. Input to the offline
//! walker linker (samples/link_walkers.py) that builds the reference the
//! track-id persistence test measures against.
//!
//! `cargo run --release --example dump_detections -- samples/vtest.avi > /tmp/vtest.dets.jsonl`

use sortwatch::bbox::BBox;
use sortwatch::pose::{MoveNet, MoveNetConfig, PoseEstimator};
use sortwatch::source::{FfmpegSource, FrameSource};
use sortwatch::track::Appearance;
use std::io::Write;
use std::sync::Arc;

fn main() {
    let video = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "samples/vtest.avi".into());
    let mut src = FfmpegSource::open(Arc::from("ref"), &video).expect("open video");
    // Native scale: the reference wants the model's best, not the node's budget.
    let mut net = MoveNet::load(MoveNetConfig {
        max_input_px: 0.0,
        ..MoveNetConfig::default()
    })
    .expect("model");
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    while let Some(frame) = src.next_frame().expect("decode") {
        let full = BBox::new(
            0.0,
            0.0,
            frame.image.width as f32,
            frame.image.height as f32,
        );
        let people = net.estimate(&frame.image, &[full]).expect("pose");
        for p in people.iter().filter(|p| p.score >= 0.25) {
            let look = Appearance::describe(&frame.image, p).map(|a| a.features());
            let b = p.bbox;
            let line = serde_json::json!({
                "frame": frame.seq,
                "bbox": [b.x0, b.y0, b.x1, b.y1],
                "score": p.score,
                "look": look,
            });
            writeln!(out, "{line}").expect("stdout");
        }
        if frame.seq % 100 == 0 {
            eprintln!("frame {}", frame.seq);
        }
    }
}
