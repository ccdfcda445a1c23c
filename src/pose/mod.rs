//! People and their 17 COCO keypoints, from MoveNet MultiPose through ONNX
//! Runtime. [`PoseEstimator`] is the seam tests and the pipeline use;
//! [`MoveNet`] is the real model, [`plan`] decides where in a frame it runs.

mod centernet;
mod movenet;
pub mod plan;
pub mod pool;
pub mod runtime;
pub mod schedule;

pub use movenet::{decode, InputTensor, MoveNet, MoveNetConfig, RawOutput};

use crate::bbox::BBox;
use crate::error::Result;
use crate::source::RgbImage;
use serde::Serialize;
use std::time::Duration;

pub const NUM_KEYPOINTS: usize = 17;

/// COCO keypoint order, as MoveNet emits them.
pub const KEYPOINT_NAMES: [&str; NUM_KEYPOINTS] = [
    "nose",
    "l_eye",
    "r_eye",
    "l_ear",
    "r_ear",
    "l_shoulder",
    "r_shoulder",
    "l_elbow",
    "r_elbow",
    "l_wrist",
    "r_wrist",
    "l_hip",
    "r_hip",
    "l_knee",
    "r_knee",
    "l_ankle",
    "r_ankle",
];
pub const L_WRIST: usize = 9;
pub const R_WRIST: usize = 10;
pub const L_ANKLE: usize = 15;
pub const R_ANKLE: usize = 16;

/// Skeleton edges for drawing.
pub const SKELETON: [(usize, usize); 16] = [
    (0, 1),
    (0, 2),
    (1, 3),
    (2, 4),
    (5, 6),
    (5, 7),
    (7, 9),
    (6, 8),
    (8, 10),
    (5, 11),
    (6, 12),
    (11, 12),
    (11, 13),
    (13, 15),
    (12, 14),
    (14, 16),
];

/// A keypoint in frame pixels with the model's confidence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Keypoint {
    pub x: f32,
    pub y: f32,
    pub score: f32,
}

/// One detected person in frame pixels.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Person {
    pub bbox: BBox,
    pub score: f32,
    pub keypoints: [Keypoint; NUM_KEYPOINTS],
}

impl Person {
    /// Whether pixel (x, y) lies on the body: within a limb's thickness of a
    /// skeleton segment or in the torso. Tells a parcel just out of the hands
    /// (off the body) from the arm that threw it (on it).
    pub fn covers(&self, x: f32, y: f32) -> bool {
        let r = 0.07 * self.bbox.height();
        let k = &self.keypoints;
        let seen = |i: usize| k[i].score >= 0.2;
        let near = |a: usize, b: usize, r: f32| {
            seen(a) && seen(b) && segment_distance((x, y), (k[a].x, k[a].y), (k[b].x, k[b].y)) <= r
        };
        // Hands reach past the wrist keypoints by about 40% of a forearm.
        let hand = |e: usize, w: usize| {
            seen(e) && seen(w) && {
                let (dx, dy) = (k[w].x - k[e].x, k[w].y - k[e].y);
                let tip = (k[w].x + 0.4 * dx, k[w].y + 0.4 * dy);
                segment_distance((x, y), (k[w].x, k[w].y), tip) <= r
            }
        };
        SKELETON.iter().any(|&(a, b)| near(a, b, r))
            || hand(7, 9)
            || hand(8, 10)
            // Torso diagonals, thicker.
            || near(5, 12, 1.5 * r)
            || near(6, 11, 1.5 * r)
            || (seen(0) && (k[0].x - x).hypot(k[0].y - y) <= 1.5 * r)
            || self.head(x, y, r)
    }

    /// Whether (x, y) is on the head: from the nose up to the crown, as far
    /// again beyond the nose as 60% of the neck (shoulders' midpoint to
    /// nose).
    fn head(&self, x: f32, y: f32, r: f32) -> bool {
        let k = &self.keypoints;
        if [0, 5, 6].iter().any(|&i| k[i].score < 0.2) {
            return false;
        }
        let neck = ((k[5].x + k[6].x) / 2.0, (k[5].y + k[6].y) / 2.0);
        let crown = (
            k[0].x + 0.6 * (k[0].x - neck.0),
            k[0].y + 0.6 * (k[0].y - neck.1),
        );
        segment_distance((x, y), (k[0].x, k[0].y), crown) <= 1.6 * r
    }
}

/// Distance from point p to segment ab.
fn segment_distance(p: (f32, f32), a: (f32, f32), b: (f32, f32)) -> f32 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    (p.0 - a.0 - t * dx).hypot(p.1 - a.1 - t * dy)
}

/// Time spent per stage, accumulated over calls.
#[derive(Clone, Copy, Debug, Default)]
pub struct PoseTimings {
    pub preprocess: Duration,
    pub inference: Duration,
    pub postprocess: Duration,
    pub inferences: u64,
    /// Model input pixels over all inferences (inference time grows with them).
    pub input_pixels: u64,
}

impl PoseTimings {
    /// What was spent between `earlier` and `self`.
    pub fn since(&self, earlier: &PoseTimings) -> PoseTimings {
        PoseTimings {
            preprocess: self.preprocess - earlier.preprocess,
            inference: self.inference - earlier.inference,
            postprocess: self.postprocess - earlier.postprocess,
            inferences: self.inferences - earlier.inferences,
            input_pixels: self.input_pixels - earlier.input_pixels,
        }
    }

    /// Mean model input per inference, in thousands of pixels.
    pub fn mean_input_kpx(&self) -> f64 {
        self.input_pixels as f64 / 1e3 / self.inferences.max(1) as f64
    }

    pub fn add(&mut self, spent: &PoseTimings) {
        self.preprocess += spent.preprocess;
        self.inference += spent.inference;
        self.postprocess += spent.postprocess;
        self.inferences += spent.inferences;
        self.input_pixels += spent.input_pixels;
    }
}

/// Finds people in the given regions of an image (frame pixels).
pub trait PoseEstimator: Send {
    fn estimate(&mut self, image: &RgbImage, regions: &[BBox]) -> Result<Vec<Person>>;
    fn timings(&self) -> PoseTimings;
}

/// Drops duplicates of the same person found by overlapping regions, keeping
/// the higher-scoring one.
pub fn suppress_duplicates(mut people: Vec<Person>, iou: f32) -> Vec<Person> {
    people.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Person> = Vec::with_capacity(people.len());
    for p in people {
        if kept
            .iter()
            .all(|k| k.bbox.iou(&p.bbox) < iou && k.bbox.overlap_min(&p.bbox) < 0.8)
        {
            kept.push(p);
        }
    }
    kept
}
