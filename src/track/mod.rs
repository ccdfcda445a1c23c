//! Trackers: stable ids for people ([`PersonTracker`]) and timestamped image
//! trajectories for moving objects, the parcel candidates ([`ObjectTracker`]).
//! Both are plain state machines: `update(now, detections)`, no I/O.

mod appearance;
mod objects;
mod people;

pub use appearance::Appearance;
pub use objects::{ObjectTrack, ObjectTracker, ObjectTrackerConfig, TrajectoryPoint};
pub use people::{PersonTrack, PersonTracker, PersonTrackerConfig};

/// Greedy assignment by descending score: good enough for the sparse cost
/// matrices of a floor scene, and deterministic. Returns (row, col) pairs.
pub(crate) fn greedy_assign(
    scores: &[(usize, usize, f32)],
    rows: usize,
    cols: usize,
) -> Vec<(usize, usize)> {
    let mut order: Vec<&(usize, usize, f32)> = scores.iter().collect();
    order.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
    let (mut row_used, mut col_used) = (vec![false; rows], vec![false; cols]);
    let mut out = Vec::new();
    for &&(r, c, _) in &order {
        if !row_used[r] && !col_used[c] {
            row_used[r] = true;
            col_used[c] = true;
            out.push((r, c));
        }
    }
    out
}
