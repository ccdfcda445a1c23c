//! Moving-object tracking: every motion blob that is not a person's body is a
//! parcel candidate, tracked by predicted centroid with a timestamped image
//! trajectory (what the throw and kick rules fit trajectories to).

use super::greedy_assign;
use crate::bbox::BBox;
use crate::motion::Blob;
use crate::pose::Person;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Object tracker settings (`[tracking.objects]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObjectTrackerConfig {
    /// Largest jump from the predicted centroid, in px per second elapsed,
    /// plus a fixed 30 px. Default 1500 (a parcel flies fast). A track's own
    /// gate is smaller: 1.5 × its speed + 300 px/s, up to this.
    pub max_speed_px_s: f32,
    /// How long an unseen object is kept, in s. Default 0.5.
    pub max_lost_s: f32,
    /// Points kept per trajectory. Default 300.
    pub max_points: usize,
    /// Blobs covered by a person box at least this much are the person
    /// moving, not an object... Default 0.8.
    pub person_overlap: f32,
    /// ... unless less than this share of the blob's box lies on the
    /// person's body (limbs, torso, head from the keypoints): a parcel just
    /// out of the hands is still inside the person's box. Default 0.5.
    pub on_body: f32,
    /// A blob more than this many times larger or smaller than a track's
    /// last one is something else. Default 4.
    pub max_area_ratio: f32,
}

impl Default for ObjectTrackerConfig {
    fn default() -> Self {
        ObjectTrackerConfig {
            max_speed_px_s: 1500.0,
            max_lost_s: 0.5,
            max_points: 300,
            person_overlap: 0.8,
            on_body: 0.5,
            max_area_ratio: 4.0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct TrajectoryPoint {
    /// Media time, s.
    pub t_s: f64,
    pub x: f32,
    pub y: f32,
    pub bbox: BBox,
}

#[derive(Clone, Debug)]
pub struct ObjectTrack {
    pub id: u64,
    pub trajectory: VecDeque<TrajectoryPoint>,
    pub velocity: (f32, f32),
    pub visible: bool,
}

impl ObjectTrack {
    fn last(&self) -> &TrajectoryPoint {
        self.trajectory
            .back()
            .expect("a track has at least one point")
    }
}

pub struct ObjectTracker {
    cfg: ObjectTrackerConfig,
    tracks: Vec<ObjectTrack>,
    next_id: u64,
}

impl ObjectTracker {
    pub fn new(cfg: ObjectTrackerConfig) -> Self {
        ObjectTracker {
            cfg,
            tracks: Vec::new(),
            next_id: 1,
        }
    }

    /// Drops every track (the stream was reopened); new ids carry on.
    pub fn restart(&mut self) {
        self.tracks.clear();
    }

    pub fn tracks(&self) -> &[ObjectTrack] {
        &self.tracks
    }

    /// Feeds one frame's blobs; `people` are the people seen now, whose own
    /// motion is not an object.
    pub fn update(&mut self, t_s: f64, blobs: &[Blob], people: &[&Person]) -> &[ObjectTrack] {
        let candidates: Vec<&Blob> = blobs
            .iter()
            .filter(|b| {
                people.iter().all(|p| {
                    p.bbox.overlap_min(&b.bbox) < self.cfg.person_overlap
                        || body_share(p, &b.bbox) < self.cfg.on_body
                })
            })
            .collect();
        let mut scores = Vec::new();
        for (r, t) in self.tracks.iter().enumerate() {
            let last = t.last();
            let dt = (t_s - last.t_s) as f32;
            let (px, py) = (last.x + t.velocity.0 * dt, last.y + t.velocity.1 * dt);
            // A track may change speed by about its own speed plus a toss's
            // worth per second: a slow belt parcel cannot leap across the frame.
            let speed = t.velocity.0.hypot(t.velocity.1);
            let gate = 30.0 + (1.5 * speed + 300.0).min(self.cfg.max_speed_px_s) * dt;
            let area = last.bbox.area().max(1.0);
            for (c, b) in candidates.iter().enumerate() {
                let d = ((b.cx - px).powi(2) + (b.cy - py).powi(2)).sqrt();
                let ratio = b.bbox.area().max(1.0) / area;
                let k = self.cfg.max_area_ratio;
                // Shape too: a long strip of belt texture is not a box.
                let shape = aspect(&b.bbox) / aspect(&last.bbox);
                let similar = (1.0 / k..=k).contains(&ratio) && (0.4..=2.5).contains(&shape);
                if d <= gate && similar {
                    scores.push((r, c, 1.0 - d / gate));
                }
            }
        }
        for t in &mut self.tracks {
            t.visible = false;
        }
        let pairs = greedy_assign(&scores, self.tracks.len(), candidates.len());
        let mut used = vec![false; candidates.len()];
        for (r, c) in pairs {
            used[c] = true;
            let b = candidates[c];
            let t = &mut self.tracks[r];
            let last = *t.last();
            let dt = (t_s - last.t_s) as f32;
            if dt > 0.0 {
                t.velocity = ((b.cx - last.x) / dt, (b.cy - last.y) / dt);
            }
            t.trajectory.push_back(TrajectoryPoint {
                t_s,
                x: b.cx,
                y: b.cy,
                bbox: b.bbox,
            });
            if t.trajectory.len() > self.cfg.max_points {
                t.trajectory.pop_front();
            }
            t.visible = true;
        }
        for (c, b) in candidates.iter().enumerate() {
            if !used[c] {
                self.tracks.push(ObjectTrack {
                    id: self.next_id,
                    trajectory: VecDeque::from([TrajectoryPoint {
                        t_s,
                        x: b.cx,
                        y: b.cy,
                        bbox: b.bbox,
                    }]),
                    velocity: (0.0, 0.0),
                    visible: true,
                });
                self.next_id += 1;
            }
        }
        let max_lost = f64::from(self.cfg.max_lost_s);
        self.tracks.retain(|t| t_s - t.last().t_s <= max_lost);
        &self.tracks
    }
}

/// Share of an 8×8 grid over `b` that lies on the person's body.
fn body_share(p: &Person, b: &BBox) -> f32 {
    let mut on = 0;
    for i in 0..8 {
        for j in 0..8 {
            let x = b.x0 + (i as f32 + 0.5) / 8.0 * b.width();
            let y = b.y0 + (j as f32 + 0.5) / 8.0 * b.height();
            on += u32::from(p.covers(x, y));
        }
    }
    on as f32 / 64.0
}

/// Width over height of a box, kept away from zero.
fn aspect(b: &BBox) -> f32 {
    b.width().max(1.0) / b.height().max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(x: f32, y: f32) -> Blob {
        Blob {
            bbox: BBox::new(x - 10.0, y - 10.0, x + 10.0, y + 10.0),
            area_px: 400.0,
            cx: x,
            cy: y,
        }
    }

    #[test]
    fn a_tossed_object_keeps_one_track_with_a_timestamped_trajectory() {
        let mut tr = ObjectTracker::new(ObjectTrackerConfig::default());
        // A parabola in image space at 25 fps: fast, accelerating downwards.
        for f in 0..20 {
            let t = f64::from(f) / 25.0;
            let (x, y) = (
                100.0 + 300.0 * t as f32,
                300.0 - 400.0 * t as f32 + 490.0 * (t * t) as f32,
            );
            tr.update(t, &[blob(x, y)], &[]);
        }
        assert_eq!(tr.tracks().len(), 1);
        let traj = &tr.tracks()[0].trajectory;
        assert_eq!(traj.len(), 20);
        assert!(traj
            .iter()
            .zip(traj.iter().skip(1))
            .all(|(a, b)| b.t_s > a.t_s));
    }

    #[test]
    fn motion_on_a_body_is_not_an_object_but_a_parcel_off_it_in_the_box_is() {
        use crate::pose::Keypoint;
        let mut tr = ObjectTracker::new(ObjectTrackerConfig::default());
        let kp = |x: f32, y: f32| Keypoint { x, y, score: 0.9 };
        let mut keypoints = [kp(100.0, 60.0); 17];
        for (i, (x, y)) in [
            (80.0, 90.0),
            (120.0, 90.0),
            (75.0, 130.0),
            (125.0, 130.0),
            (75.0, 160.0),
            (125.0, 160.0),
            (85.0, 160.0),
            (115.0, 160.0),
            (85.0, 200.0),
            (115.0, 200.0),
            (85.0, 245.0),
            (115.0, 245.0),
        ]
        .into_iter()
        .enumerate()
        {
            keypoints[5 + i] = kp(x, y);
        }
        let person = Person {
            bbox: BBox::new(50.0, 50.0, 150.0, 250.0),
            score: 0.9,
            keypoints,
        };
        let blobs = [blob(100.0, 150.0), blob(400.0, 150.0), blob(140.0, 230.0)];
        tr.update(0.0, &blobs, &[&person]);
        let xs: Vec<f32> = tr.tracks().iter().map(|t| t.trajectory[0].x).collect();
        assert_eq!(xs, vec![400.0, 140.0]);
    }

    #[test]
    fn objects_far_apart_get_separate_tracks_and_vanished_ones_expire() {
        let mut tr = ObjectTracker::new(ObjectTrackerConfig::default());
        tr.update(0.0, &[blob(100.0, 100.0), blob(500.0, 400.0)], &[]);
        tr.update(0.04, &[blob(104.0, 100.0), blob(500.0, 404.0)], &[]);
        assert_eq!(tr.tracks().len(), 2);
        assert!(tr.tracks().iter().all(|t| t.trajectory.len() == 2));
        tr.update(1.0, &[], &[]);
        assert!(tr.tracks().is_empty());
    }
}
