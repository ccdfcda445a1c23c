//! Replay output records (one JSON object per line; contract in
//! ARCHITECTURE.md and docs/replay.md).

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

/// One confirmed person track in one frame (`--tracks` output).
#[derive(Clone, Debug, Serialize)]
pub struct TrackRecord {
    pub event: &'static str,
    pub frame: u64,
    pub t_s: f64,
    pub id: u64,
    pub bbox: [f32; 4],
    pub score: f32,
}
