//! Replay output records (one JSON object per line; contract in
//! ARCHITECTURE.md, fields in the README).

use crate::rules::{Event, Handling, Violation, ViolationKind};
use serde::Serialize;

/// The final line of a replay.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Summary {
    pub event: &'static str,
    pub frames: u64,
    pub duration_s: f64,
    pub handled: u64,
    pub violations: u64,
    pub throws: u64,
    pub kicks: u64,
    /// Share of handled parcels without a violation; `null` when none were handled.
    pub compliance_rate: Option<f64>,
    /// Distinct confirmed person track ids.
    pub people_tracked: u64,
    pub camera: String,
    pub processing_fps: f64,
}

impl Summary {
    pub fn compliance(handled: u64, violations: u64) -> Option<f64> {
        (handled > 0).then(|| (handled - violations.min(handled)) as f64 / handled as f64)
    }
}

/// One confirmed person track in one frame (`--tracks` output), with its
/// keypoints in COCO order.
#[derive(Clone, Debug, Serialize)]
pub struct TrackRecord {
    pub event: &'static str,
    pub frame: u64,
    pub t_s: f64,
    pub id: u64,
    pub bbox: [f32; 4],
    pub score: f32,
    /// COCO-order keypoints as `[x, y, score]`.
    pub keypoints: Vec<[f32; 3]>,
}

/// A `--tracks` line for a moving object (a parcel candidate) seen in a frame:
/// `{"event":"object","frame":…,"t_s":…,"id":…,"x":…,"y":…,"bbox":[…]}`.
#[derive(Clone, Debug, Serialize)]
pub struct ObjectRecord {
    pub event: &'static str,
    pub frame: u64,
    pub t_s: f64,
    pub id: u64,
    pub x: f32,
    pub y: f32,
    pub bbox: [f32; 4],
}

/// A violation line: `{"event":"violation","id":…,"camera":…,"kind":…,…}`.
#[derive(Clone, Debug, Serialize)]
pub struct ViolationRecord<'a> {
    pub event: &'static str,
    /// Stable across replays of the same input: camera, start time, parcel.
    pub id: String,
    pub camera: &'a str,
    #[serde(flatten)]
    pub violation: &'a Violation,
}

/// A handling line: `{"event":"handling","t_s":…,"person_id":…,"flight":…}`.
#[derive(Clone, Debug, Serialize)]
pub struct HandlingRecord<'a> {
    pub event: &'static str,
    pub camera: &'a str,
    #[serde(flatten)]
    pub handling: &'a Handling,
}

/// Running counts for the summary line.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Counts {
    pub handled: u64,
    pub throws: u64,
    pub kicks: u64,
}

impl Counts {
    pub fn add(&mut self, e: &Event) {
        match e {
            Event::Handling(_) => self.handled += 1,
            Event::Violation(v) if v.kind == ViolationKind::Throw => self.throws += 1,
            Event::Violation(_) => self.kicks += 1,
        }
    }

    pub fn violations(&self) -> u64 {
        self.throws + self.kicks
    }
}

/// The stable id of a violation on a camera.
pub fn violation_id(camera: &str, v: &Violation) -> String {
    format!(
        "{camera}-{}-{}",
        (v.t_start_s * 1000.0).round() as i64,
        v.parcel_id
    )
}

/// Serialises an event as its replay line.
pub fn to_json(camera: &str, e: &Event) -> serde_json::Value {
    let value = match e {
        Event::Handling(h) => serde_json::to_value(HandlingRecord {
            event: "handling",
            camera,
            handling: h,
        }),
        Event::Violation(v) => serde_json::to_value(ViolationRecord {
            event: "violation",
            id: violation_id(camera, v),
            camera,
            violation: v,
        }),
    };
    value.expect("events serialise: plain numbers and strings")
}
