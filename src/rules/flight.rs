//! Measuring a flight from a parcel's image track. A track runs: in the
//! hands (maybe), airborne on one ballistic path, touching down, sliding, at
//! rest. The flight is the longest run of points on one ballistic path that
//! ends where the parcel touches down. One camera barely sees depth, so the
//! fit is anchored in centimetres where the parcel touched the floor: the
//! first point after touchdown lies on the landing plane, a known height, so
//! its position is known in cm (less the short slide since touchdown, which
//! the next points show). Gravity then fixes the rest of the path. The
//! release is where the path, run backwards, meets the last point still in
//! the hands (or the wrists when the parcel was not seen there). Drop height
//! and throw distance come from the fitted 3-D path between the two.

use super::RulesConfig;
use crate::geometry::ballistic::{
    fit, fit_landing, Fit, ImagePoint, Landing, Prior, Rest, Trajectory,
};
use crate::geometry::Calibration;
use crate::track::TrajectoryPoint;
use serde::Serialize;

/// What a flight measured, world cm and media seconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FlightMeasure {
    pub t_release_s: f64,
    pub t_land_s: f64,
    pub release_cm: [f64; 3],
    pub landing_cm: [f64; 3],
    pub drop_height_cm: f64,
    pub throw_distance_cm: f64,
    /// Image points on the ballistic path.
    pub points: usize,
    pub rms_px: f64,
    /// Whether touchdown anchored the fit (false: the flight alone).
    pub anchored: bool,
    pub confidence: f64,
}

/// A wrist sample: time and (left, right) wrist pixels where seen.
pub type WristSample = (f64, [Option<(f32, f32)>; 2]);

/// Fewest image points that make a flight (the touchdown anchor adds one).
const MIN_POINTS: usize = 3;
/// A track that never moves this far (px) did not fly.
const MIN_TRAVEL_PX: f64 = 8.0;
/// Points within this many px of the resting place are at rest.
const REST_PX: f64 = 1.0;
/// How far (cm) a landed parcel's centre may sit from the configured height:
/// parcels differ in size.
const LANDED_Z_SIGMA_CM: f64 = 4.0;
/// Most flights last well under this long (a 170 cm drop takes 0.6 s).
const MAX_FLIGHT_S: f64 = 1.0;

/// Measures the flight in `points` (a parcel track from its first sighting),
/// or `None` when it did not fly (placed, too short, or not ballistic).
/// `wrists` are the releasing worker's, used when the track starts in the air.
pub fn measure_flight(
    cal: &Calibration,
    cfg: &RulesConfig,
    points: &[TrajectoryPoint],
    wrists: &[WristSample],
    worker_floor: Option<[f64; 2]>,
) -> Option<FlightMeasure> {
    let obs: Vec<ImagePoint> = points
        .iter()
        .map(|p| ImagePoint {
            t_s: p.t_s,
            u: f64::from(p.x),
            v: f64::from(p.y),
        })
        .collect();
    if obs.len() < MIN_POINTS {
        return None;
    }
    let rest = rest_start(&obs);
    let best = best_flight(cal, cfg, &obs, rest, worker_floor)?;
    let Candidate {
        start: s,
        end: e,
        fit: path,
        t_land,
        anchored,
    } = best;
    let dt = (obs[s + 1].t_s - obs[s].t_s).max(1e-3);
    let t_release = release_time(cal, &path.trajectory, &obs, s, dt, wrists);
    let release = path.trajectory.position(t_release);
    let landing = path.trajectory.position(t_land);
    let drop = release[2] - landing[2];
    let throw = (release[0] - landing[0]).hypot(release[1] - landing[1]);
    let speed = norm(path.trajectory.velocity(t_release));
    tracing::debug!(
        s,
        e,
        anchored,
        t_release,
        t_land,
        ?release,
        ?landing,
        speed,
        rms_px = path.rms_px,
        "flight fit"
    );
    // A person cannot release above 3 m or faster than 10 m/s; a path that
    // says so is a fit to something else (a belt, a shadow, a limb).
    if !(0.0..=300.0).contains(&release[2]) || speed > 1000.0 || drop < -30.0 {
        return None;
    }
    let airborne = e + 1 - s;
    let fit_quality = (1.0 - path.rms_px / (3.0 * cfg.track_noise_px)).clamp(0.0, 1.0);
    let coverage = (airborne as f64 / 5.0).min(1.0);
    let confidence = (fit_quality * coverage * if anchored { 1.0 } else { 0.6 }).clamp(0.05, 0.99);
    Some(FlightMeasure {
        t_release_s: t_release,
        t_land_s: t_land,
        release_cm: release,
        landing_cm: landing,
        drop_height_cm: drop,
        throw_distance_cm: throw,
        points: airborne,
        rms_px: path.rms_px,
        anchored,
        confidence,
    })
}

/// Index of the first of the trailing points that stay at the track's
/// resting place (`obs.len()` when the track does not end at rest).
fn rest_start(obs: &[ImagePoint]) -> usize {
    let last = obs[obs.len() - 1];
    let i = obs
        .iter()
        .rposition(|p| (p.u - last.u).hypot(p.v - last.v) > REST_PX)
        .map_or(0, |i| i + 1);
    if obs.len() - i >= 2 {
        i
    } else {
        obs.len()
    }
}

/// A ballistic run `obs[start..=end]` and its fitted path.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    start: usize,
    end: usize,
    fit: Fit,
    t_land: f64,
    anchored: bool,
}

/// The flight that explains the track from its start to where it comes to
/// rest: for each possible first airborne point, the touchdown time that
/// fits best (points before it on the ballistic path, after it on the
/// landing plane sliding on), kept while every point stays on the model.
/// Each point a flight explains counts one; its squared error counts
/// against it in units of six squared track-noise sigmas, so a point still
/// in the hands (off the path by more than about 2.4 sigma) is better left
/// out. A track that does not come to rest is fitted as a flight alone.
fn best_flight(
    cal: &Calibration,
    cfg: &RulesConfig,
    obs: &[ImagePoint],
    rest: usize,
    feet: Option<[f64; 2]>,
) -> Option<Candidate> {
    let noise2 = cfg.track_noise_px.max(0.1).powi(2);
    let mut best: Option<(Candidate, f64)> = None;
    let last = if rest < obs.len() {
        rest
    } else {
        obs.len() - 1
    };
    if last < MIN_POINTS {
        return None;
    }
    for s in (0..=last + 1 - MIN_POINTS).rev() {
        if obs[last].t_s - obs[s].t_s > MAX_FLIGHT_S + 0.5 {
            break;
        }
        let c = if rest < obs.len() {
            landed_fit(cal, cfg, &obs[s..=last], feet)
        } else {
            free_fit(cal, &obs[s..])
        };
        let Some(mut c) = c else { continue };
        c.start += s;
        c.end += s;
        let explained = (last + 1 - s) as f64;
        tracing::trace!(
            s,
            e = c.end,
            rms = c.fit.rms_px,
            max = c.fit.max_px,
            t_land = c.t_land,
            "candidate"
        );
        if !(c.fit.rms_px <= 2.0 * cfg.track_noise_px && c.fit.max_px <= 4.0 * cfg.track_noise_px) {
            continue;
        }
        let score = explained - c.fit.rms_px.powi(2) * explained / (6.0 * noise2);
        if travel(&obs[c.start..=c.end]) >= MIN_TRAVEL_PX
            && best.as_ref().is_none_or(|(_, b)| score > *b)
        {
            best = Some((c, score));
        }
    }
    best.map(|(c, _)| c)
}

/// Largest distance (px) of a run's points from its first.
fn travel(run: &[ImagePoint]) -> f64 {
    let first = run[0];
    run.iter()
        .map(|p| (p.u - first.u).hypot(p.v - first.v))
        .fold(0.0, f64::max)
}

/// The track `obs` (airborne from its first point to the first point at
/// rest, its last) fitted as a flight that touched down on the landing plane
/// and slid on to rest. The touchdown time is the one that fits best; its
/// rms and max errors are over every point.
fn landed_fit(
    cal: &Calibration,
    cfg: &RulesConfig,
    obs: &[ImagePoint],
    feet: Option<[f64; 2]>,
) -> Option<Candidate> {
    let z = cfg.landed_centre_height_cm;
    let noise = cfg.track_noise_px.max(0.1);
    let n = obs.len();
    // The parcel lay still from the last point (the first one at rest);
    // it stopped between the point before and that one.
    let last = obs[n - 1];
    let rest = Rest {
        at_cm: cal.pixel_to_plane(last.u, last.v, z)?,
        t_stop_s: last.t_s - 0.5 * (last.t_s - obs[n - 2].t_s),
    };
    let at = |t_land: f64| -> Option<(Landing, usize)> {
        let k = obs.iter().take_while(|p| p.t_s < t_land).count();
        if k < MIN_POINTS || k >= n {
            return None;
        }
        let (air, slide) = obs.split_at(k);
        let priors: Vec<Prior> = reach_prior(cal, air[0], rest.at_cm, feet, noise)
            .into_iter()
            .collect();
        let fitted = fit_landing(
            cal,
            air,
            slide,
            t_land,
            Rest {
                t_stop_s: rest.t_stop_s.max(t_land),
                ..rest
            },
            LANDED_Z_SIGMA_CM / noise,
            (SLIDE_KEEP, SLIDE_SIGMA_CM_S / noise),
            |i| if i < k { 1.0 } else { SLIDE_NOISE },
            &priors,
        )?;
        Some((fitted, k))
    };
    let cost = |t: f64| {
        at(t).map_or(f64::INFINITY, |(l, k)| {
            let (a, s) = (l.air_px.0, l.slide_px.0);
            a * a * k as f64 + s * s * (n - k) as f64
        })
    };
    let (t0, t1) = (obs[MIN_POINTS - 1].t_s, obs[n - 1].t_s);
    let dt = (obs[1].t_s - obs[0].t_s).max(1e-3);
    let steps = (((t1 - t0) / (0.25 * dt)).ceil() as usize).clamp(4, 200);
    let t_land = minimise(t0, t1, steps, cost)?;
    let (landing, k) = at(t_land)?;
    let rms = (cost(t_land) / n as f64).sqrt();
    let max = landing.air_px.1.max(landing.slide_px.1);
    Some(Candidate {
        start: 0,
        end: k - 1,
        fit: Fit {
            trajectory: landing.flight,
            rms_px: rms,
            max_px: max,
        },
        t_land,
        anchored: true,
    })
}

/// What a parcel keeps of its horizontal speed as it lands and slides on,
/// give or take this much (cm/s).
const SLIDE_KEEP: f64 = 0.25;
const SLIDE_SIGMA_CM_S: f64 = 60.0;
/// Points after touchdown fit the slide model less well than a flight's
/// fit a parabola: their sigma, in track-noise units.
const SLIDE_NOISE: f64 = 1.5;

/// One camera barely sees how far away the release was; the worker stood
/// there. Hands let go about an arm's length in front of the feet, towards
/// where the parcel went (where the worker faced): a prior on the first
/// airborne point's position along the line of sight.
fn reach_prior(
    cal: &Calibration,
    first: ImagePoint,
    landing: [f64; 3],
    feet: Option<[f64; 2]>,
    noise: f64,
) -> Option<Prior> {
    let feet = feet?;
    let sight = horizontal(cal.pixel_ray(first.u, first.v));
    let (dx, dy) = (landing[0] - feet[0], landing[1] - feet[1]);
    let dist = dx.hypot(dy).max(1e-6);
    let r = RELEASE_REACH_CM.min(dist);
    let hands = [feet[0] + r * dx / dist, feet[1] + r * dy / dist];
    let depth = sight[0] * hands[0] + sight[1] * hands[1];
    Some(Prior::position(
        first.t_s,
        sight,
        depth,
        RELEASE_REACH_SIGMA_CM / noise,
    ))
}

/// How far in front of the feet the hands let go of a parcel, cm.
const RELEASE_REACH_CM: f64 = 40.0;
/// How much that varies (arms reach forward and to the side), cm.
const RELEASE_REACH_SIGMA_CM: f64 = 5.0;

/// The `t` in [t0, t1] minimising `cost`: a grid of `steps`, then a
/// golden-section search around its best point. `None` when nothing is
/// finite.
fn minimise(t0: f64, t1: f64, steps: usize, cost: impl Fn(f64) -> f64) -> Option<f64> {
    let at = |i: usize| t0 + (t1 - t0) * i as f64 / steps as f64;
    let (i, c) = (0..=steps)
        .map(|i| (i, cost(at(i))))
        .min_by(|a, b| a.1.total_cmp(&b.1))?;
    if !c.is_finite() {
        return None;
    }
    let (mut lo, mut hi) = (at(i.saturating_sub(1)), at((i + 1).min(steps)));
    let phi = 0.5 * (5f64.sqrt() - 1.0);
    for _ in 0..12 {
        let (m1, m2) = (hi - phi * (hi - lo), lo + phi * (hi - lo));
        if cost(m1) <= cost(m2) {
            hi = m2;
        } else {
            lo = m1;
        }
    }
    let mid = 0.5 * (lo + hi);
    Some(if cost(mid) <= c { mid } else { at(i) })
}

/// A track that ends in the air (or out of sight) fitted as a flight alone,
/// landing at its last point.
fn free_fit(cal: &Calibration, obs: &[ImagePoint]) -> Option<Candidate> {
    let first = obs[0];
    // Weak priors (hands at about waist height, no great speed along the
    // line of sight) keep fits of a few jittery points from running off.
    let sight = horizontal(cal.pixel_ray(first.u, first.v));
    let weak = [
        Prior::height(first.t_s, 90.0, 60.0),
        Prior::velocity(first.t_s, sight, 0.0, 300.0),
    ];
    let fit = fit(cal, obs, &weak)?;
    Some(Candidate {
        start: 0,
        end: obs.len() - 1,
        fit,
        t_land: obs[obs.len() - 1].t_s,
        anchored: false,
    })
}

fn norm(v: [f64; 3]) -> f64 {
    (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt()
}

/// The horizontal unit vector along `v`: the line of sight over the floor.
fn horizontal(v: [f64; 3]) -> [f64; 3] {
    let n = v[0].hypot(v[1]).max(1e-9);
    [v[0] / n, v[1] / n, 0.0]
}

/// Time in [t0, t1] at which the path projects closest to `q`.
fn closest_time(cal: &Calibration, path: &Trajectory, t0: f64, t1: f64, q: (f64, f64)) -> f64 {
    closest(cal, path, t0, t1, |_| Some(q)).map_or(t1, |(t, _)| t)
}

/// Time in [t0, t1] at which the path projects closest to `target(t)`, and
/// how far from it (px).
fn closest(
    cal: &Calibration,
    path: &Trajectory,
    t0: f64,
    t1: f64,
    target: impl Fn(f64) -> Option<(f64, f64)>,
) -> Option<(f64, f64)> {
    let steps = 100;
    (0..=steps)
        .map(|i| t0 + (t1 - t0) * f64::from(i) / f64::from(steps))
        .filter_map(|t| {
            let q = target(t)?;
            let (u, v) = cal.project(path.position(t))?;
            Some((t, (u - q.0).hypot(v - q.1)))
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

/// When the parcel left the hands. Seen in the hands just before the flight
/// (`obs[s - 1]`), it left them where the path, run backwards, passes closest
/// to that last held point. Otherwise the hands are the wrists: their
/// midpoint where both are seen (a parcel is held between both hands),
/// interpolated between pose samples, within a frame before the first
/// airborne point or, where the path passes through them, further back.
/// Without either, half a frame before it.
fn release_time(
    cal: &Calibration,
    path: &Trajectory,
    obs: &[ImagePoint],
    s: usize,
    dt: f64,
    wrists: &[WristSample],
) -> f64 {
    let first = obs[s].t_s;
    if s > 0 && first - obs[s - 1].t_s <= 1.5 * dt {
        let held = obs[s - 1];
        return closest_time(cal, path, held.t_s, first, (held.u, held.v));
    }
    // Still merged with the worker's body, the parcel may be hidden for a
    // few frames after leaving the hands: the path, run back that far, must
    // then pass through them.
    let from = first - MAX_HIDDEN_S.max(dt);
    match closest(cal, path, from, first, |t| hands_at(wrists, t)) {
        Some((t, miss)) if t >= first - dt || miss <= HANDS_MISS_PX => t,
        _ => first - 0.5 * dt,
    }
}

/// A parcel leaving the hands may stay merged with the worker this long, s.
const MAX_HIDDEN_S: f64 = 0.3;
/// How near (px) the path must pass the hands to have left them unseen.
const HANDS_MISS_PX: f64 = 12.0;

/// Where the hands were at `t`: the wrists' midpoint where both are seen,
/// interpolated between the samples around `t` (no further than 0.15 s).
fn hands_at(wrists: &[WristSample], t: f64) -> Option<(f64, f64)> {
    let at = |s: &WristSample| -> Option<(f64, f64)> {
        let [a, b] = [s.1[0]?, s.1[1]?];
        Some((f64::from(a.0 + b.0) / 2.0, f64::from(a.1 + b.1) / 2.0))
    };
    let before = wrists
        .iter()
        .rev()
        .filter(|s| s.0 <= t && t - s.0 <= 0.15)
        .find_map(|s| Some((s.0, at(s)?)));
    let after = wrists
        .iter()
        .filter(|s| s.0 >= t && s.0 - t <= 0.15)
        .find_map(|s| Some((s.0, at(s)?)));
    match (before, after) {
        (Some((ta, a)), Some((tb, b))) if tb > ta => {
            let k = (t - ta) / (tb - ta);
            Some((a.0 + k * (b.0 - a.0), a.1 + k * (b.1 - a.1)))
        }
        (Some((_, a)), _) => Some(a),
        (None, b) => b.map(|b| b.1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bbox::BBox;
    use crate::geometry::ballistic::{tests::camera, GRAVITY_CM_S2};

    /// The image track of `path` from `t0` at `fps` until it comes down to
    /// `z_rest`, then 0.4 s at rest there; `jitter` px alternates in sign.
    fn track(
        cal: &Calibration,
        path: &Trajectory,
        z_rest: f64,
        fps: f64,
        jitter: f32,
    ) -> Vec<TrajectoryPoint> {
        let t_land = touchdown(path, z_rest).unwrap();
        let rest = path.position(t_land);
        let mut out = Vec::new();
        let mut i = 1;
        loop {
            let t = path.t0_s + f64::from(i) / fps;
            if t > t_land + 0.4 {
                return out;
            }
            let flying = t < t_land;
            let (u, v) = cal
                .project(if flying { path.position(t) } else { rest })
                .unwrap();
            let s = if flying && i % 2 == 0 {
                jitter
            } else {
                -jitter
            };
            let s = if flying { s } else { 0.0 };
            let (x, y) = (u as f32 + s, v as f32 - s);
            out.push(TrajectoryPoint {
                t_s: t,
                x,
                y,
                bbox: BBox::new(x - 15.0, y - 12.0, x + 15.0, y + 12.0),
            });
            i += 1;
        }
    }

    /// Wrists either side of the parcel at the release point until `t0`,
    /// then spreading 20 cm apart and staying there.
    fn wrists(cal: &Calibration, at: [f64; 3], t0: f64, fps: f64) -> Vec<WristSample> {
        (-8..12)
            .map(|i| {
                let t = t0 + f64::from(i) / fps;
                let spread = if t <= t0 { 15.0 } else { 35.0 };
                let px = |dx: f64| {
                    let (u, v) = cal.project([at[0] + dx, at[1], at[2]]).unwrap();
                    Some((u as f32, v as f32))
                };
                (t, [px(-spread), px(spread)])
            })
            .collect()
    }

    /// When the path comes down to height `z` (cm), falling.
    fn touchdown(path: &Trajectory, z: f64) -> Option<f64> {
        let g = GRAVITY_CM_S2;
        let (z0, vz) = (path.p0[2], path.v0[2]);
        let disc = vz * vz + 2.0 * g * (z0 - z);
        (disc >= 0.0).then(|| path.t0_s + (vz + disc.sqrt()) / g)
    }

    #[test]
    fn touchdown_is_when_the_path_comes_down_to_the_height() {
        let path = Trajectory {
            t0_s: 2.0,
            p0: [0.0, 0.0, 100.0],
            v0: [0.0, 0.0, 0.0],
        };
        let t = touchdown(&path, 12.0).unwrap();
        assert!((t - 2.0 - (2.0 * 88.0 / GRAVITY_CM_S2).sqrt()).abs() < 1e-9);
        assert_eq!(touchdown(&path, 150.0), None, "never that high");
    }

    #[test]
    fn the_hands_are_the_wrists_midpoint_interpolated_between_pose_samples() {
        let s = |t: f64, l: (f32, f32), r: Option<(f32, f32)>| (t, [Some(l), r]);
        let w = vec![
            s(1.0, (100.0, 200.0), Some((120.0, 200.0))),
            s(1.1, (120.0, 220.0), Some((140.0, 220.0))),
        ];
        let h = hands_at(&w, 1.025).unwrap();
        assert!(
            (h.0 - 115.0).abs() < 1e-4 && (h.1 - 205.0).abs() < 1e-4,
            "{h:?}"
        );
        // One wrist seen: not the hands holding a parcel.
        let one = vec![s(1.0, (100.0, 200.0), None)];
        assert_eq!(hands_at(&one, 1.0), None);
        // Nothing within 0.15 s.
        assert_eq!(hands_at(&w, 1.5), None);
    }

    #[test]
    fn a_jittery_15fps_drop_from_75cm_is_measured_within_centimetres() {
        let cal = camera([0.0; 5]);
        // Points jitter by 1.5 px in each coordinate: 2.1 px in all.
        let cfg = RulesConfig {
            track_noise_px: 2.0,
            ..RulesConfig::default()
        };
        let release = [20.0, 380.0, 75.0];
        let path = Trajectory {
            t0_s: 1.0,
            p0: release,
            v0: [0.0, 30.0, 0.0],
        };
        let points = track(&cal, &path, 12.0, 15.0, 1.5);
        let hands = wrists(&cal, release, 1.0, 15.0);
        let f = measure_flight(&cal, &cfg, &points, &hands, Some([20.0, 340.0])).expect("a flight");
        let t_land = touchdown(&path, 12.0).unwrap();
        assert!((f.drop_height_cm - 63.0).abs() < 6.0, "{f:?}");
        let throw = 30.0 * (t_land - 1.0);
        assert!((f.throw_distance_cm - throw).abs() < 6.0, "{f:?}");
        // Within three quarters of a frame.
        assert!((f.t_release_s - 1.0).abs() < 0.05, "{f:?}");
        assert!((f.t_land_s - t_land).abs() < 0.05, "{f:?}");
    }

    #[test]
    fn a_25fps_throw_of_120cm_ends_where_the_parcel_comes_to_rest() {
        let cal = camera([0.0; 5]);
        let cfg = RulesConfig::default();
        let release = [-40.0, 390.0, 90.0];
        let path = Trajectory {
            t0_s: 3.0,
            p0: release,
            v0: [250.0, 0.0, 80.0],
        };
        let points = track(&cal, &path, 12.0, 25.0, 1.0);
        let hands = wrists(&cal, release, 3.0, 25.0);
        let f = measure_flight(&cal, &cfg, &points, &hands, Some([-70.0, 390.0])).expect("flight");
        let t_land = touchdown(&path, 12.0).unwrap();
        let throw = 250.0 * (t_land - 3.0);
        assert!(throw > 100.0);
        assert!(
            (f.throw_distance_cm - throw).abs() < 5.0,
            "{f:?} vs {throw}"
        );
        assert!((f.drop_height_cm - 78.0).abs() < 5.0, "{f:?}");
        // The points at rest are not part of the flight.
        let airborne = points.iter().filter(|p| p.t_s < t_land).count();
        assert!(f.points <= airborne, "{f:?}");
    }
}
