//! Builds the walker reference for samples/vtest.avi used by the track-id
//! persistence test: full-frame pose (576x768, native scale) on every frame,
//! then offline linking with hindsight, which the live tracker cannot use:
//! tracklets are joined across gaps of up to 2 s when the motion before the
//! gap and after it agree, and gaps are filled by interpolation.
//!
//! `cargo run --release --example walker_reference > samples/vtest.walkers.json`

use sortwatch::bbox::BBox;
use sortwatch::pose::{MoveNet, MoveNetConfig, PoseEstimator};
use sortwatch::source::{FfmpegSource, FrameSource};
use std::sync::Arc;

const MIN_SCORE: f32 = 0.25;
const MAX_GAP: u64 = 20;
const MIN_FRAMES: usize = 30;

struct Tracklet {
    boxes: Vec<(u64, BBox)>,
}

impl Tracklet {
    fn last(&self) -> (u64, BBox) {
        *self.boxes.last().unwrap()
    }
    /// Centre velocity in px/frame over the last (or first) few detections.
    fn velocity(&self, at_end: bool) -> (f32, f32) {
        let n = self.boxes.len().min(5);
        let pts = if at_end {
            &self.boxes[self.boxes.len() - n..]
        } else {
            &self.boxes[..n]
        };
        let (f0, b0) = pts[0];
        let (f1, b1) = pts[n - 1];
        let dt = (f1 - f0).max(1) as f32;
        let (c0, c1) = (b0.center(), b1.center());
        ((c1.0 - c0.0) / dt, (c1.1 - c0.1) / dt)
    }
}

fn main() {
    let mut src =
        FfmpegSource::open(Arc::from("vtest"), "samples/vtest.avi").expect("run scripts/setup.sh");
    let mut net = MoveNet::load(MoveNetConfig::default()).expect("model");
    let mut tracklets: Vec<Tracklet> = Vec::new();
    let mut frames = 0u64;
    while let Some(frame) = src.next_frame().expect("decode") {
        let full = BBox::new(
            0.0,
            0.0,
            frame.image.width as f32,
            frame.image.height as f32,
        );
        let people = net.estimate(&frame.image, &[full]).expect("pose");
        let f = frame.seq;
        frames = f + 1;
        // Forward pass: strict IoU linking with the previous frame only.
        let mut used = vec![false; tracklets.len()];
        for p in people.iter().filter(|p| p.score >= MIN_SCORE) {
            let best = tracklets
                .iter()
                .enumerate()
                .filter(|(i, t)| !used[*i] && t.last().0 + 1 == f)
                .map(|(i, t)| (i, t.last().1.iou(&p.bbox)))
                .filter(|&(_, iou)| iou >= 0.3)
                .max_by(|a, b| a.1.total_cmp(&b.1));
            match best {
                Some((i, _)) => {
                    used[i] = true;
                    tracklets[i].boxes.push((f, p.bbox));
                }
                None => {
                    tracklets.push(Tracklet {
                        boxes: vec![(f, p.bbox)],
                    });
                    used.push(true);
                }
            }
        }
        if f % 100 == 0 {
            eprintln!("frame {f}: {} tracklets", tracklets.len());
        }
    }
    // Hindsight pass: join A→B when B starts within MAX_GAP frames after A ends
    // and both A's motion forwards and B's motion backwards bridge the gap.
    tracklets.retain(|t| t.boxes.len() >= 3);
    tracklets.sort_by_key(|t| t.boxes[0].0);
    let mut joined = true;
    while joined {
        joined = false;
        'outer: for a in 0..tracklets.len() {
            let (fa, ba) = tracklets[a].last();
            let va = tracklets[a].velocity(true);
            for b in 0..tracklets.len() {
                let (fb, bb) = tracklets[b].boxes[0];
                if b == a || fb <= fa || fb - fa > MAX_GAP {
                    continue;
                }
                let vb = tracklets[b].velocity(false);
                let gap = (fb - fa) as f32;
                let h = ba.height().max(bb.height());
                let (ca, cb) = (ba.center(), bb.center());
                let fwd = ((ca.0 + va.0 * gap - cb.0).hypot(ca.1 + va.1 * gap - cb.1)) / h;
                let bwd = ((cb.0 - vb.0 * gap - ca.0).hypot(cb.1 - vb.1 * gap - ca.1)) / h;
                if fwd < 0.5 && bwd < 0.5 {
                    let tail = std::mem::take(&mut tracklets[b].boxes);
                    tracklets[a].boxes.extend(tail);
                    tracklets.remove(b);
                    joined = true;
                    break 'outer;
                }
            }
        }
    }
    let mut walkers = Vec::new();
    for t in tracklets.iter().filter(|t| t.boxes.len() >= 3) {
        // Fill gaps by linear interpolation: the walker was there, unseen.
        let mut filled: Vec<(u64, BBox)> = Vec::new();
        for w in t.boxes.windows(2) {
            let ((f0, b0), (f1, b1)) = (w[0], w[1]);
            for f in f0..f1 {
                let a = (f - f0) as f32 / (f1 - f0) as f32;
                let lerp = |x: f32, y: f32| x + (y - x) * a;
                filled.push((
                    f,
                    BBox::new(
                        lerp(b0.x0, b1.x0),
                        lerp(b0.y0, b1.y0),
                        lerp(b0.x1, b1.x1),
                        lerp(b0.y1, b1.y1),
                    ),
                ));
            }
        }
        filled.push(t.last());
        if filled.len() >= MIN_FRAMES {
            walkers.push(filled);
        }
    }
    let walkers_json: Vec<serde_json::Value> = walkers
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let frames: Vec<[f32; 5]> = w
                .iter()
                .map(|(f, b)| {
                    [
                        *f as f32,
                        b.x0.round(),
                        b.y0.round(),
                        b.x1.round(),
                        b.y1.round(),
                    ]
                })
                .collect();
            serde_json::json!({ "walker": i + 1, "frames": frames })
        })
        .collect();
    let out = serde_json::json!({
        "source": "samples/vtest.avi (Debian opencv-doc), all frames",
        "method": "examples/walker_reference.rs: full-frame MoveNet at 576x768 every frame, score >= 0.25; forward IoU >= 0.3 linking; hindsight joins across gaps <= 2 s; gaps interpolated; walkers visible >= 3 s",
        "frames": frames,
        "walkers": walkers_json,
    });
    println!("{}", serde_json::to_string(&out).unwrap());
    eprintln!("{} walkers visible for at least 3 s", walkers.len());
}
