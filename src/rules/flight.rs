//! Measuring a flight from a parcel's image track: the longest prefix that
//! fits a ballistic path is the flight; the first point off it marks the
//! landing; the release is where the path, run backwards, meets the worker's
//! hands. Drop height and throw distance come from the fitted 3-D path.

use super::RulesConfig;
use crate::geometry::ballistic::{fit, Fit, ImagePoint, Prior};
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
/// Landing surfaces higher than this (cm) are not the floor: no floor prior.
const RAISED_SURFACE_CM: f64 = 45.0;

/// Measures the flight in `points` (a parcel track from its first sighting),
/// or `None` when it did not fly (placed, too short, or not ballistic).
pub fn measure_flight(
    cal: &Calibration,
    cfg: &RulesConfig,
    points: &[TrajectoryPoint],
    wrists: &[WristSample],
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
    // Grow the flight while the points stay on one ballistic path. Weak
    // priors (hands at about waist height, no great speed along the line of
    // sight) keep fits of a few jittery points from running off.
    let sight = horizontal(cal.pixel_ray(f64::from(first.x), f64::from(first.y)));
    let weak = [
        Prior::height(first.t_s, 90.0, 60.0),
        Prior::velocity(first.t_s, sight, 0.0, 300.0),
    ];
    let mut airborne = MIN_POINTS;
    let mut best: Fit =
        fit(cal, &obs[..airborne], &weak).filter(|f| f.max_px <= cfg.flight_fit_px)?;
    while airborne < obs.len() {
        match fit(cal, &obs[..=airborne], &weak) {
            Some(f) if f.max_px <= cfg.flight_fit_px => {
                best = f;
                airborne += 1;
            }
            _ => break,
        }
    }
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
    let mut pts = obs[..airborne].to_vec();
    pts.extend(anchor);
    let z_free = best.trajectory.position(t_land)[2];
    let mut priors = Vec::new();
    let z_land = if z_free < RAISED_SURFACE_CM {
        priors.push(Prior::height(t_land, cfg.landed_centre_height_cm, 6.0));
        cfg.landed_centre_height_cm
    } else {
        z_free
    };
    // One camera barely sees speed along its line of sight. The slide after
    // landing does: a parcel slides on along its flight, slower.
    if let Some(slide) = slide_velocity(cal, &obs[airborne..], z_land) {
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
    let fitted = fit(cal, &pts, &priors)?;
    let path = fitted.trajectory;
    let t_release = release_time(cal, &fitted, first.t_s, wrists);
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

/// When the parcel left the hands: the time, from 0.3 s before to 0.1 s after
/// the track's first point (its last sighting in the hands, or its first
/// apart from the worker), at which the path passes closest to a wrist or
/// between the wrists.
fn release_time(cal: &Calibration, f: &Fit, t_first: f64, wrists: &[WristSample]) -> f64 {
    let mut best: Option<(f64, f64)> = None;
    for i in 0..=80 {
        let t = t_first - 0.3 + 0.005 * f64::from(i);
        let Some((u, v)) = cal.project(f.trajectory.position(t)) else {
            continue;
        };
        let Some(&(_, [l, r])) = wrists
            .iter()
            .min_by(|a, b| (a.0 - t).abs().total_cmp(&(b.0 - t).abs()))
        else {
            return t_first;
        };
        let mid = l
            .zip(r)
            .map(|(a, b)| ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0));
        let d = [l, r, mid]
            .into_iter()
            .flatten()
            .map(|(x, y)| (f64::from(x) - u).hypot(f64::from(y) - v))
            .fold(f64::INFINITY, f64::min);
        if best.is_none_or(|b| d < b.1) {
            best = Some((t, d));
        }
    }
    best.map_or(t_first, |b| b.0)
}
