//! Measuring a flight from a parcel's image track. The flight is the longest
//! run of points on one ballistic path before the parcel arrives at its
//! resting place. One camera barely sees depth, so the fit is anchored in
//! centimetres: where a parcel comes to rest on the floor is where it touched
//! down, give or take a short slide, and the hands that released it were an
//! arm's length in front of the worker's feet. Touchdown is where the path
//! meets the floor, between the last airborne point and the first one at
//! rest; the release is where the path, run backwards, meets the hands. Drop
//! height and throw distance come from the fitted 3-D path.

use super::RulesConfig;
use crate::geometry::ballistic::{fit, Fit, ImagePoint, Prior, Trajectory, GRAVITY_CM_S2};
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
    pub confidence: f64,
}

/// A wrist sample: time and (left, right) wrist pixels where seen.
pub type WristSample = (f64, [Option<(f32, f32)>; 2]);

/// Fewest image points that make a flight (the landing anchor and priors add more).
const MIN_POINTS: usize = 3;
/// A track that never moves this far (px) did not fly.
const MIN_TRAVEL_PX: f32 = 8.0;
/// Share of its horizontal speed a cardboard parcel keeps as it lands and
/// starts to slide.
const SLIDE_RETAINED: f64 = 0.5;

/// Measures the flight in `points` (a parcel track from its first sighting),
/// or `None` when it did not fly (placed, too short, or not ballistic).
pub fn measure_flight(
    cal: &Calibration,
    cfg: &RulesConfig,
    points: &[TrajectoryPoint],
    wrists: &[WristSample],
    worker_floor: Option<[f64; 2]>,
) -> Option<FlightMeasure> {
    let first = points.first()?;
    let travel = points
        .iter()
        .map(|p| (p.x - first.x).hypot(p.y - first.y))
        .fold(0.0f32, f32::max);
    if points.len() < MIN_POINTS || travel < MIN_TRAVEL_PX {
        return None;
    }
    let obs: Vec<ImagePoint> = points
        .iter()
        .map(|p| ImagePoint {
            t_s: p.t_s,
            u: f64::from(p.x),
            v: f64::from(p.y),
        })
        .collect();
    // Where the track arrived at its resting place: the flight ends before
    // the first point there.
    let rest = *obs.last()?;
    let arrived = obs
        .iter()
        .rposition(|p| (p.u - rest.u).hypot(p.v - rest.v) > cfg.flight_fit_px)
        .map_or(0, |i| i + 1);
    let end = arrived.min(obs.len());
    let (start, airborne, best) = longest_flight(cal, cfg, &obs[..end])?;
    let obs_all = &obs;
    let first = &obs[start];
    let obs = &obs[start..];
    let last_air = obs[airborne - 1];
    let (t_land, anchor) = match obs.get(airborne) {
        Some(&q) => {
            // Landing lies between the last airborne point and the first one
            // off the path, where the path passes closest to the landed parcel.
            let t = closest_time(cal, &best, last_air.t_s, q.t_s, (q.u, q.v));
            (t, Some(ImagePoint { t_s: t, ..q }))
        }
        None => (last_air.t_s, None),
    };
    let dt = obs.get(1).map_or(0.04, |p| p.t_s - first.t_s);
    let landed = |extra: &[Prior]| {
        landed_fit(
            cal,
            cfg,
            &obs[..end - start],
            airborne,
            best,
            Rest {
                u: rest.u,
                v: rest.v,
                // Touchdown comes before the parcel is seen at its resting
                // place (a point just above the floor counts as there: a few
                // ms early at most).
                t_by: obs_all.get(end).map_or(f64::INFINITY, |p| p.t_s),
            },
            extra,
        )
    };
    let on_floor = landed(&[]).map(|fitted| {
        // One camera barely sees how far away the release was. The worker
        // stood there: hands are about an arm's length in front of the feet,
        // towards where the parcel went (which is where the worker faced).
        let Some(feet) = worker_floor else {
            return fitted;
        };
        let t = release_time(cal, &fitted.fit, first.t_s, dt, wrists);
        let sight = horizontal(cal.pixel_ray(first.u, first.v));
        let land = fitted.fit.trajectory.position(fitted.t_land);
        let (dx, dy) = (land[0] - feet[0], land[1] - feet[1]);
        let dist = dx.hypot(dy).max(1e-6);
        let r = RELEASE_REACH_CM.min(dist);
        let hands = [feet[0] + r * dx / dist, feet[1] + r * dy / dist];
        let depth = sight[0] * hands[0] + sight[1] * hands[1];
        landed(&[Prior::position(t, sight, depth, RELEASE_DEPTH_SIGMA_CM)]).unwrap_or(fitted)
    });
    // A parcel that came to rest off the floor (a cart, a belt) does not
    // fit the floor landing: fit its flight alone.
    let fitted = if let Some(f) = on_floor.filter(|f| f.fit.rms_px <= cfg.flight_fit_px) {
        f
    } else {
        let z_free = best.trajectory.position(t_land)[2];
        let mut pts = obs[..airborne].to_vec();
        pts.extend(anchor);
        let mut priors = Vec::new();
        // One camera barely sees speed along its line of sight. The slide
        // after landing does: a parcel slides on along its flight, slower.
        if let Some(slide) = slide_velocity(cal, &obs[airborne..], z_free) {
            let (c, l) = (cal.camera_center(), best.trajectory.position(t_land));
            let axis = horizontal([l[0] - c[0], l[1] - c[1], 0.0]);
            let along = (slide[0] * axis[0] + slide[1] * axis[1]) / SLIDE_RETAINED;
            priors.push(Prior::velocity(
                t_land,
                axis,
                along,
                50.0 + 0.5 * along.abs(),
            ));
        }
        Landed {
            fit: fit(cal, &pts, &priors)?,
            t_land,
            airborne,
        }
    };
    let t_land = fitted.t_land;
    let airborne = fitted.airborne;
    let fitted = fitted.fit;
    let path = fitted.trajectory;
    let t_release = release_time(cal, &fitted, first.t_s, dt, wrists);
    let release = path.position(t_release);
    let landing = path.position(t_land);
    let drop = release[2] - landing[2];
    let throw = (release[0] - landing[0]).hypot(release[1] - landing[1]);
    let speed = path
        .velocity(t_release)
        .iter()
        .map(|v| v * v)
        .sum::<f64>()
        .sqrt();
    tracing::debug!(
        airborne,
        t_release,
        t_land,
        ?release,
        ?landing,
        speed,
        rms_px = fitted.rms_px,
        "flight fit"
    );
    // A person cannot release above 3 m or faster than 10 m/s; a path that
    // says so is a fit to something else (a belt, a shadow, a limb).
    if !(0.0..=300.0).contains(&release[2]) || speed > 1000.0 || drop < -30.0 {
        return None;
    }
    let confidence = ((1.0 - fitted.rms_px / (2.0 * cfg.flight_fit_px))
        * (airborne as f64 / 6.0).min(1.0))
    .clamp(0.05, 0.99);
    Some(FlightMeasure {
        t_release_s: t_release,
        t_land_s: t_land,
        release_cm: release,
        landing_cm: landing,
        drop_height_cm: drop,
        throw_distance_cm: throw,
        points: airborne,
        rms_px: fitted.rms_px,
        confidence,
    })
}

/// How far (cm, along the line of sight) a parcel leaves the hands from the
/// point over the worker's feet: arms reach forward and to the side.
const RELEASE_DEPTH_SIGMA_CM: f64 = 10.0;
/// How far in front of the feet the hands release a parcel, cm.
const RELEASE_REACH_CM: f64 = 35.0;

/// Whether a fit keeps its points on the path: each within twice, and all
/// together within the tolerance (blob centres jitter; one outlier does not
/// end a flight).
fn on_path(cfg: &RulesConfig, f: &Fit) -> bool {
    f.max_px <= 2.0 * cfg.flight_fit_px && f.rms_px <= cfg.flight_fit_px
}

/// Where and by when a parcel came to rest: its resting pixel, and the time
/// by which it had landed.
#[derive(Clone, Copy, Debug)]
struct Rest {
    u: f64,
    v: f64,
    t_by: f64,
}

/// A flight fitted up to its touchdown.
struct Landed {
    fit: Fit,
    t_land: f64,
    /// Image points before touchdown.
    airborne: usize,
}

/// How far (cm) a parcel may slide between touching down and coming to rest.
const SLIDE_SIGMA_CM: f64 = 6.0;
/// How far (cm) a landed parcel's centre may sit from the configured height:
/// parcels differ in size.
const LANDED_Z_SIGMA_CM: f64 = 10.0;

/// Refits a flight that ended on the floor with its resting place as a 3-D
/// anchor: the parcel comes to rest close to where it touched down, and a
/// resting parcel on the floor is seen for many frames at a known height, so
/// its position is known in cm. Touchdown is where the path meets that
/// height; the points after it are off the flight.
fn landed_fit(
    cal: &Calibration,
    cfg: &RulesConfig,
    obs: &[ImagePoint],
    airborne: usize,
    free: Fit,
    rest: Rest,
    extra: &[Prior],
) -> Option<Landed> {
    let z = cfg.landed_centre_height_cm;
    let at = cal.pixel_to_plane(rest.u, rest.v, z)?;
    // Touchdown lies after the last point taken as airborne and before the
    // parcel was seen at rest: a path that meets the floor elsewhere is one
    // that slides along the line of sight to fit the anchor.
    let window = |n: usize, t: f64| t.clamp(obs[n - 1].t_s, rest.t_by.max(obs[n - 1].t_s));
    let most = obs.len();
    let mut path = free;
    let mut n = airborne;
    // Start mid-window: the free fit's own touchdown can be far off.
    let mut t_land = if rest.t_by.is_finite() {
        0.5 * (obs[n - 1].t_s + rest.t_by.max(obs[n - 1].t_s))
    } else {
        touchdown(&free.trajectory, z).unwrap_or(obs[n - 1].t_s)
    };
    for i in 0..4 {
        if i > 0 {
            t_land = window(n, touchdown(&path.trajectory, z).unwrap_or(t_land));
        }
        n = obs
            .iter()
            .take_while(|p| p.t_s < t_land - 1e-3)
            .count()
            .clamp(MIN_POINTS, most);
        let mut priors = vec![
            Prior::position(t_land, [1.0, 0.0, 0.0], at[0], SLIDE_SIGMA_CM),
            Prior::position(t_land, [0.0, 1.0, 0.0], at[1], SLIDE_SIGMA_CM),
            Prior::height(t_land, z, LANDED_Z_SIGMA_CM),
        ];
        priors.extend_from_slice(extra);
        // Priors are in cm and the fit weighs one sigma like one pixel: the
        // noisier the track, the more the priors must count.
        let px = free.rms_px.clamp(1.0, 10.0);
        for p in &mut priors {
            p.sigma /= px;
        }
        path = fit(cal, &obs[..n], &priors)?;
    }
    Some(Landed {
        t_land: window(n, touchdown(&path.trajectory, z).unwrap_or(t_land)),
        fit: path,
        airborne: n,
    })
}

/// When the path comes down to height `z` (cm), falling.
fn touchdown(path: &Trajectory, z: f64) -> Option<f64> {
    let g = GRAVITY_CM_S2;
    let (z0, vz) = (path.p0[2], path.v0[2]);
    let disc = vz * vz + 2.0 * g * (z0 - z);
    (disc >= 0.0).then(|| path.t0_s + (vz + disc.sqrt()) / g)
}

/// Most flights last well under this long (a 170 cm drop takes 0.6 s).
const MAX_FLIGHT_S: f64 = 1.0;

/// The longest run of consecutive points that stays on one ballistic path:
/// (index of its first point, its length, the fit). The run may start
/// anywhere: a parcel seen in the hands first, or one whose first airborne
/// points still sat by a wrist, is found by the path and not by proximity.
fn longest_flight(
    cal: &Calibration,
    cfg: &RulesConfig,
    obs: &[ImagePoint],
) -> Option<(usize, usize, Fit)> {
    let mut best: Option<(usize, usize, Fit)> = None;
    for s in 0..obs.len().saturating_sub(MIN_POINTS - 1) {
        // A later start can no longer beat the best run.
        if best.as_ref().is_some_and(|b| obs.len() - s < b.1) {
            break;
        }
        let first = obs[s];
        // Weak priors (hands at about waist height, no great speed along the
        // line of sight) keep fits of a few jittery points from running off.
        let sight = horizontal(cal.pixel_ray(first.u, first.v));
        let weak = [
            Prior::height(first.t_s, 90.0, 60.0),
            Prior::velocity(first.t_s, sight, 0.0, 300.0),
        ];
        let good = |n: usize| fit(cal, &obs[s..s + n], &weak).filter(|f| on_path(cfg, f));
        let Some(mut run) = good(MIN_POINTS) else {
            continue;
        };
        let mut n = MIN_POINTS;
        while s + n < obs.len() && obs[s + n].t_s - first.t_s <= MAX_FLIGHT_S {
            match good(n + 1) {
                Some(f) => {
                    run = f;
                    n += 1;
                }
                None => break,
            }
        }
        let moved = obs[s..s + n]
            .iter()
            .map(|p| (p.u - first.u).hypot(p.v - first.v))
            .fold(0.0, f64::max);
        if moved >= f64::from(MIN_TRAVEL_PX) && best.as_ref().is_none_or(|b| n >= b.1) {
            best = Some((s, n, run));
        }
    }
    best
}

/// The horizontal unit vector along `v`: the line of sight over the floor.
fn horizontal(v: [f64; 3]) -> [f64; 3] {
    let n = v[0].hypot(v[1]).max(1e-9);
    [v[0] / n, v[1] / n, 0.0]
}

/// Horizontal velocity (cm/s) on the landing plane right after landing, from
/// the first points off the flight path.
fn slide_velocity(cal: &Calibration, after: &[ImagePoint], z: f64) -> Option<[f64; 2]> {
    let a = after.first()?;
    let b = after.iter().find(|p| p.t_s - a.t_s >= 0.06)?;
    let pa = cal.pixel_to_plane(a.u, a.v, z)?;
    let pb = cal.pixel_to_plane(b.u, b.v, z)?;
    let dt = b.t_s - a.t_s;
    Some([(pb[0] - pa[0]) / dt, (pb[1] - pa[1]) / dt])
}

/// Time in [t0, t1] at which the fitted path projects closest to `q`.
fn closest_time(cal: &Calibration, f: &Fit, t0: f64, t1: f64, q: (f64, f64)) -> f64 {
    let steps = 50;
    (0..=steps)
        .map(|i| t0 + (t1 - t0) * f64::from(i) / f64::from(steps))
        .filter_map(|t| {
            let (u, v) = cal.project(f.trajectory.position(t))?;
            Some((t, (u - q.0).hypot(v - q.1)))
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(t1, |(t, _)| t)
}

/// When the parcel left the hands: the time, up to 0.3 s before
/// the flight's first point, at which the path passes closest to where the
/// hands held it. A parcel is held between both hands, so that is the
/// midpoint of the wrists where both are seen (a single wrist sits at the
/// parcel's side, and the path run backwards rises past it); otherwise the one
/// wrist seen. Wrists are interpolated between pose samples. Without wrists
/// near that time the release is taken half a frame before the first point.
fn release_time(cal: &Calibration, f: &Fit, t_first: f64, dt: f64, wrists: &[WristSample]) -> f64 {
    let hands = |both: bool| {
        let mut best: Option<(f64, f64)> = None;
        for i in 0..=60 {
            let t = t_first - 0.3 + 0.005 * f64::from(i);
            let Some(h) = hands_at(wrists, t, both) else {
                continue;
            };
            let Some((u, v)) = cal.project(f.trajectory.position(t)) else {
                continue;
            };
            let d = (h.0 - u).hypot(h.1 - v);
            if best.is_none_or(|b| d < b.1) {
                best = Some((t, d));
            }
        }
        best.map(|b| b.0)
    };
    hands(true)
        .or_else(|| hands(false))
        .unwrap_or(t_first - 0.5 * dt)
}

/// Where the hands were at `t`: the wrists' midpoint (`both`) or the one wrist
/// seen, interpolated between the samples around `t` (no further than 0.15 s).
fn hands_at(wrists: &[WristSample], t: f64, both: bool) -> Option<(f64, f64)> {
    let at = |s: &WristSample| -> Option<(f64, f64)> {
        let [l, r] = s.1;
        let p = match (l, r) {
            (Some(a), Some(b)) => ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0),
            (Some(a), None) | (None, Some(a)) if !both => a,
            _ => return None,
        };
        Some((f64::from(p.0), f64::from(p.1)))
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
    use crate::geometry::ballistic::tests::camera;

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
        let h = hands_at(&w, 1.025, true).unwrap();
        assert!(
            (h.0 - 115.0).abs() < 1e-4 && (h.1 - 205.0).abs() < 1e-4,
            "{h:?}"
        );
        // One wrist seen: only when a single wrist is allowed.
        let one = vec![s(1.0, (100.0, 200.0), None)];
        assert_eq!(hands_at(&one, 1.0, true), None);
        assert_eq!(hands_at(&one, 1.0, false), Some((100.0, 200.0)));
        // Nothing within 0.15 s.
        assert_eq!(hands_at(&w, 1.5, true), None);
    }

    #[test]
    fn a_jittery_15fps_drop_from_75cm_is_measured_within_centimetres() {
        let cal = camera([0.0; 5]);
        let cfg = RulesConfig::default();
        let release = [20.0, 380.0, 75.0];
        let path = Trajectory {
            t0_s: 1.0,
            p0: release,
            v0: [0.0, 30.0, 0.0],
        };
        let points = track(&cal, &path, 12.0, 15.0, 1.5);
        let hands = wrists(&cal, release, 1.0, 15.0);
        let feet = Some([20.0, 350.0]);
        let f = measure_flight(&cal, &cfg, &points, &hands, feet).expect("a flight");
        let t_land = touchdown(&path, 12.0).unwrap();
        assert!((f.drop_height_cm - 63.0).abs() < 6.0, "{f:?}");
        let throw = 30.0 * (t_land - 1.0);
        assert!((f.throw_distance_cm - throw).abs() < 6.0, "{f:?}");
        assert!((f.t_release_s - 1.0).abs() < 0.04, "{f:?}");
        assert!((f.t_land_s - t_land).abs() < 0.04, "{f:?}");
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
