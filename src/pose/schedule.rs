//! When pose runs (`[schedule]`): on every frame while something the rules
//! judge may be happening near a person, otherwise at a low base rate. Between
//! pose frames the tracker predicts people, so motion and parcels keep going
//! at full rate. Pose is ~90% of a camera's CPU; this is what lets one node
//! carry several cameras (README, "Capacity").

use crate::bbox::BBox;
use crate::motion::Blob;
use crate::pose::{Person, L_ANKLE, L_WRIST, R_ANKLE, R_WRIST};
use crate::track::PersonTrack;
use serde::Deserialize;

/// The smallest parcel blob, as a share of the box of the person near it (a
/// 20 cm parcel by a 170 cm worker is about 0.03; the rules use 0.02).
const MIN_PARCEL_SHARE: f32 = 0.02;

/// Pose scheduling settings (`[schedule]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleConfig {
    /// Off: pose runs on every frame that motion or known people call for.
    /// Default false: on the eval slice it changed one handling event in 12
    /// scenarios and saved no pose frames (README, "Capacity").
    pub adaptive: bool,
    /// When nothing is going on, pose runs at least this often, in seconds.
    /// Default 0.2 (5 Hz).
    pub base_interval_s: f32,
    /// After motion at hands or feet, pose stays on every frame this long, in
    /// seconds: it covers the release, the flight and the landing. Default 1.0.
    pub hold_s: f32,
    /// Motion off the (predicted) body within this many body heights of a
    /// wrist or ankle is a trigger: a parcel picked up, carried, let go or
    /// struck by a foot. Default 0.5.
    pub reach_heights: f32,
    /// A person track younger than this, in seconds, gets pose on every frame
    /// (a tentative track always does: it dies on its first miss). Default 1.0.
    pub young_track_s: f32,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            adaptive: false,
            base_interval_s: 0.2,
            hold_s: 1.0,
            reach_heights: 0.5,
            young_track_s: 1.0,
        }
    }
}

/// Why pose runs on a frame (or not); counted in [`crate::pipeline::StageTimings`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Decision {
    /// The schedule is off: the old every-frame behaviour.
    #[default]
    Always,
    /// Base rate or a full-frame discovery pass is due.
    Due,
    /// A person track is tentative or young.
    YoungTrack,
    /// Off-body motion at a person's hands or feet.
    NearHandsOrFeet,
    /// Within `hold_s` of the last motion at hands or feet.
    Hold,
    /// Nothing going on: people are predicted.
    Skip,
}

impl Decision {
    pub fn runs_pose(self) -> bool {
        self != Decision::Skip
    }
}

/// The per-camera schedule state.
#[derive(Clone, Debug)]
pub struct Schedule {
    cfg: ScheduleConfig,
    last_pose_s: Option<f64>,
    last_trigger_s: Option<f64>,
}

impl Schedule {
    pub fn new(cfg: ScheduleConfig) -> Self {
        Schedule {
            cfg,
            last_pose_s: None,
            last_trigger_s: None,
        }
    }

    /// Forgets when pose last ran (the stream was reopened).
    pub fn restart(&mut self) {
        self.last_pose_s = None;
        self.last_trigger_s = None;
    }

    pub fn adaptive(&self) -> bool {
        self.cfg.adaptive
    }

    /// Decides for the frame at `t_s`. `discovery_due`: a full-frame pass is
    /// due; `tracks`: the person tracks; `bodies`: where confirmed people are
    /// predicted now; `off_body`: this frame's motion with those bodies cut out.
    pub fn decide(
        &mut self,
        t_s: f64,
        discovery_due: bool,
        tracks: &[PersonTrack],
        bodies: &[Person],
        off_body: &[Blob],
    ) -> Decision {
        if !self.cfg.adaptive {
            return Decision::Always;
        }
        let young = f64::from(self.cfg.young_track_s);
        let near = off_body
            .iter()
            .any(|b| near_extremity(b, bodies, self.cfg.reach_heights));
        if near {
            self.last_trigger_s = Some(t_s);
        }
        let trigger = if near {
            Some(Decision::NearHandsOrFeet)
        } else if tracks
            .iter()
            .any(|tr| tr.id == 0 || t_s - tr.first_seen_s < young - 1e-6)
        {
            Some(Decision::YoungTrack)
        } else {
            None
        };
        let decision = match trigger {
            Some(d) => d,
            None if self
                .last_trigger_s
                .is_some_and(|l| t_s - l < f64::from(self.cfg.hold_s) - 1e-6) =>
            {
                Decision::Hold
            }
            None if discovery_due
                || self
                    .last_pose_s
                    .is_none_or(|l| t_s - l >= f64::from(self.cfg.base_interval_s) - 1e-6) =>
            {
                Decision::Due
            }
            None => Decision::Skip,
        };
        if decision.runs_pose() {
            self.last_pose_s = Some(t_s);
        }
        decision
    }
}

/// Whether a parcel-sized blob lies within `reach` body heights of a wrist or
/// ankle. Smaller scraps are the body's own edges (the rules take them for a
/// hand too: `MIN_PARCEL_SHARE`).
fn near_extremity(b: &Blob, bodies: &[Person], reach: f32) -> bool {
    bodies.iter().any(|p| {
        if b.bbox.area() < MIN_PARCEL_SHARE * p.bbox.area() {
            return false;
        }
        let r = reach * p.bbox.height();
        [L_WRIST, R_WRIST, L_ANKLE, R_ANKLE].iter().any(|&k| {
            let kp = p.keypoints[k];
            kp.score >= 0.2 && distance_to_box(&b.bbox, kp.x, kp.y) <= r
        })
    })
}

fn distance_to_box(b: &BBox, x: f32, y: f32) -> f32 {
    let dx = (b.x0 - x).max(x - b.x1).max(0.0);
    let dy = (b.y0 - y).max(y - b.y1).max(0.0);
    dx.hypot(dy)
}

/// Where a track's person is predicted at `t_s`: the last detection moved by
/// the track's velocity (for at most a second, as the tracker predicts).
pub fn predicted_person(tr: &PersonTrack, t_s: f64) -> Person {
    let dt = ((t_s - tr.last_seen_s) as f32).clamp(0.0, 1.0);
    let (dx, dy) = (tr.velocity.0 * dt, tr.velocity.1 * dt);
    let mut p = tr.person.clone();
    p.bbox = p.bbox.translate(dx, dy);
    for k in &mut p.keypoints {
        k.x += dx;
        k.y += dy;
    }
    p
}
