//! Ballistic fitting through the calibrated camera. A parcel in free flight
//! follows p(τ) = p0 + v0 τ + ½ g τ² with g known in cm/s², so its image track
//! fixes the 3-D path in centimetres: each observation gives two equations that
//! are linear in (p0, v0) once multiplied out by depth, and re-weighting by the
//! fitted depth turns that algebraic error into reprojection error.

use super::{pnp::solve6, Calibration, Vec3};

/// Standard gravity, cm/s².
pub const GRAVITY_CM_S2: f64 = 981.0;

/// One observation of the parcel centre: media time and distorted pixel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ImagePoint {
    pub t_s: f64,
    pub u: f64,
    pub v: f64,
}

/// A free-flight path in world cm, referenced to time `t0_s`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Trajectory {
    pub t0_s: f64,
    pub p0: Vec3,
    pub v0: Vec3,
}

impl Trajectory {
    pub fn position(&self, t_s: f64) -> Vec3 {
        let tau = t_s - self.t0_s;
        [
            self.p0[0] + self.v0[0] * tau,
            self.p0[1] + self.v0[1] * tau,
            self.p0[2] + self.v0[2] * tau - 0.5 * GRAVITY_CM_S2 * tau * tau,
        ]
    }

    pub fn velocity(&self, t_s: f64) -> Vec3 {
        let tau = t_s - self.t0_s;
        [self.v0[0], self.v0[1], self.v0[2] - GRAVITY_CM_S2 * tau]
    }
}

/// A soft linear constraint on the path: at `t_s`, `axis · position` (or
/// `axis · velocity`) equals `value` give or take `sigma` (one sigma weighs
/// like one pixel of image error). A landing height is `axis = [0, 0, 1]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prior {
    pub t_s: f64,
    pub axis: Vec3,
    pub velocity: bool,
    /// cm, or cm/s for a velocity.
    pub value: f64,
    pub sigma: f64,
}

impl Prior {
    pub fn height(t_s: f64, z_cm: f64, sigma_cm: f64) -> Prior {
        Prior {
            t_s,
            axis: [0.0, 0.0, 1.0],
            velocity: false,
            value: z_cm,
            sigma: sigma_cm,
        }
    }

    /// `axis · position` at `t_s` (a height is `axis = [0, 0, 1]`).
    pub fn position(t_s: f64, axis: Vec3, value_cm: f64, sigma_cm: f64) -> Prior {
        Prior {
            t_s,
            axis,
            velocity: false,
            value: value_cm,
            sigma: sigma_cm,
        }
    }

    pub fn velocity(t_s: f64, axis: Vec3, value_cm_s: f64, sigma_cm_s: f64) -> Prior {
        Prior {
            t_s,
            axis,
            velocity: true,
            value: value_cm_s,
            sigma: sigma_cm_s,
        }
    }

    /// This prior as a row over (p0, v0) of a path starting at `t0` and its
    /// right-hand side, gravity moved across.
    fn row(&self, t0: f64) -> ([f64; 6], f64) {
        let tau = self.t_s - t0;
        let a = self.axis;
        let ga = -GRAVITY_CM_S2 * a[2];
        if self.velocity {
            // v(τ) = v0 + g τ
            ([0.0, 0.0, 0.0, a[0], a[1], a[2]], self.value - tau * ga)
        } else {
            (
                [a[0], a[1], a[2], a[0] * tau, a[1] * tau, a[2] * tau],
                self.value - 0.5 * tau * tau * ga,
            )
        }
    }
}

/// Normal equations of a weighted least-squares problem in six unknowns.
#[derive(Default)]
struct Normal6 {
    ata: [[f64; 6]; 6],
    atb: [f64; 6],
}

impl Normal6 {
    /// Adds the equation `row · x = rhs` with weight `w`.
    fn add(&mut self, row: [f64; 6], rhs: f64, w: f64) {
        for i in 0..6 {
            for j in 0..6 {
                self.ata[i][j] += w * w * row[i] * row[j];
            }
            self.atb[i] += w * w * row[i] * rhs;
        }
    }

    fn solve(&self) -> Option<[f64; 6]> {
        solve6(self.ata, self.atb)
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fit {
    pub trajectory: Trajectory,
    /// Reprojection error over the observations, px.
    pub rms_px: f64,
    pub max_px: f64,
}

/// Least-squares ballistic path through `points` (at least 3; each prior adds
/// one equation), every point weighed as one pixel of error and each prior's
/// sigma as one pixel. `None` when the system is degenerate or the path passes
/// behind the camera.
pub fn fit(cal: &Calibration, points: &[ImagePoint], priors: &[Prior]) -> Option<Fit> {
    if points.len() < 3 {
        return None;
    }
    let t0 = points[0].t_s;
    let r = &cal.r;
    let tr = cal.extrinsics.translation;
    let f = cal.intrinsics.fx;
    let g = [0.0, 0.0, -GRAVITY_CM_S2];
    let norm: Vec<(f64, f64)> = points
        .iter()
        .map(|p| cal.intrinsics.to_normalized(p.u, p.v))
        .collect();
    // Start from a depth typical of a floor camera; the loop replaces it with
    // each observation's fitted depth.
    let mut depth = vec![400.0; points.len()];
    let mut solution = None;
    for _ in 0..6 {
        let mut normal = Normal6::default();
        let mut add = |row: [f64; 6], rhs: f64, w: f64| normal.add(row, rhs, w);
        for ((p, &(x, y)), &z) in points.iter().zip(&norm).zip(&depth) {
            let tau = p.t_s - t0;
            let w = f / z;
            for (n, k) in [(x, 0), (y, 1)] {
                // (n r3 − r_k) · P = t_k − n t_z, with P = p0 + v0 τ + ½ g τ².
                let a: Vec3 = std::array::from_fn(|c| n * r[2][c] - r[k][c]);
                let rhs = tr[k] - n * tr[2] - 0.5 * tau * tau * dot(a, g);
                let row = [a[0], a[1], a[2], a[0] * tau, a[1] * tau, a[2] * tau];
                add(row, rhs, w);
            }
        }
        for p in priors {
            let (row, rhs) = p.row(t0);
            add(row, rhs, 1.0 / p.sigma);
        }
        let x = normal.solve()?;
        let traj = Trajectory {
            t0_s: t0,
            p0: [x[0], x[1], x[2]],
            v0: [x[3], x[4], x[5]],
        };
        for (p, z) in points.iter().zip(depth.iter_mut()) {
            let w = traj.position(p.t_s);
            // A wild intermediate solution keeps the previous weight.
            let zc = dot(r[2], w) + tr[2];
            if zc > 1.0 {
                *z = zc;
            }
        }
        solution = Some(traj);
    }
    let trajectory = solution?;
    let (rms_px, max_px) = residuals(cal, &trajectory, points)?;
    Some(Fit {
        trajectory,
        rms_px,
        max_px,
    })
}

/// Reprojection error of `points` against `path`: (rms, max) px.
pub fn residuals(
    cal: &Calibration,
    path: &Trajectory,
    points: &[ImagePoint],
) -> Option<(f64, f64)> {
    image_error(cal, points, |t| path.position(t))
}

/// (rms, max) image error (px) of `points` against the world positions
/// `at(t)`; (0, 0) for none.
fn image_error(
    cal: &Calibration,
    points: &[ImagePoint],
    at: impl Fn(f64) -> Vec3,
) -> Option<(f64, f64)> {
    let mut sum = 0.0;
    let mut max: f64 = 0.0;
    for p in points {
        let (u, v) = cal.project(at(p.t_s))?;
        let e = (u - p.u).hypot(v - p.v);
        sum += e * e;
        max = max.max(e);
    }
    Some(((sum / points.len().max(1) as f64).sqrt(), max))
}

/// A parcel's flight and the slide after it touched down.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Landing {
    pub flight: Trajectory,
    /// Touchdown, s.
    pub t_land_s: f64,
    /// Image error of the airborne points, then of the points after
    /// touchdown: (rms, max) px each.
    pub air_px: (f64, f64),
    pub slide_px: (f64, f64),
}

/// Where a landed parcel came to rest, and when it stopped.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rest {
    pub at_cm: Vec3,
    pub t_stop_s: f64,
}

impl Rest {
    /// Share of the way from touchdown (at `t_land`) to rest covered at `t`:
    /// the slide slows evenly to a stop.
    pub fn covered(&self, t_land: f64, t: f64) -> f64 {
        let span = self.t_stop_s - t_land;
        if span <= 1e-6 {
            return 1.0;
        }
        let u = ((t - t_land) / span).clamp(0.0, 1.0);
        1.0 - (1.0 - u) * (1.0 - u)
    }
}

/// Fits a flight that touched down at `t_land_s` on the plane z =
/// `rest.at_cm[2]` and slid, slowing evenly, to `rest` (the landing plane's
/// point where the parcel lay still), from its airborne image points `air`
/// and the points `slide` between touchdown and rest. `slide_keep` is
/// (k, sigma cm/s): the slide starts at about k times the flight's
/// horizontal velocity. Every point weighs as one pixel over `sigma_px(i)`
/// (air first, then slide); each prior's sigma counts as one pixel. Linear
/// in the flight for a given touchdown time.
#[allow(clippy::too_many_arguments)]
pub fn fit_landing(
    cal: &Calibration,
    air: &[ImagePoint],
    slide: &[ImagePoint],
    t_land_s: f64,
    rest: Rest,
    height_sigma: f64,
    slide_keep: (f64, f64),
    sigma_px: impl Fn(usize) -> f64,
    priors: &[Prior],
) -> Option<Landing> {
    if air.len() < 2 {
        return None;
    }
    let t0 = air[0].t_s;
    let r = &cal.r;
    let tr = cal.extrinsics.translation;
    let f = cal.intrinsics.fx;
    let g = [0.0, 0.0, -GRAVITY_CM_S2];
    let big_t = t_land_s - t0;
    let h = rest.at_cm[2];
    let all: Vec<&ImagePoint> = air.iter().chain(slide).collect();
    let norm: Vec<(f64, f64)> = all
        .iter()
        .map(|p| cal.intrinsics.to_normalized(p.u, p.v))
        .collect();
    // Where a slide point is, given the touchdown point L: L + (R − L) w.
    let slide_at = |land: Vec3, t: f64| -> Vec3 {
        let w = rest.covered(t_land_s, t);
        std::array::from_fn(|c| land[c] + (rest.at_cm[c] - land[c]) * w)
    };
    let mut depth = vec![400.0; all.len()];
    let mut solution = None;
    for _ in 0..6 {
        let mut normal = Normal6::default();
        let mut add = |row: [f64; 6], rhs: f64, w: f64| normal.add(row, rhs, w);
        for (i, (p, (&(x, y), &z))) in all.iter().zip(norm.iter().zip(&depth)).enumerate() {
            let w = f / (z * sigma_px(i));
            for (n, k) in [(x, 0), (y, 1)] {
                // (n r3 − r_k) · P = t_k − n t_z
                let a: Vec3 = std::array::from_fn(|c| n * r[2][c] - r[k][c]);
                let rhs = tr[k] - n * tr[2];
                if i < air.len() {
                    let tau = p.t_s - t0;
                    let row = [a[0], a[1], a[2], a[0] * tau, a[1] * tau, a[2] * tau];
                    add(row, rhs - 0.5 * tau * tau * dot(a, g), w);
                } else {
                    // P = L (1 − c) + R c with L = p(t_land) on the plane.
                    let c = rest.covered(t_land_s, p.t_s);
                    let k1 = 1.0 - c;
                    let row = [
                        a[0] * k1,
                        a[1] * k1,
                        0.0,
                        a[0] * k1 * big_t,
                        a[1] * k1 * big_t,
                        0.0,
                    ];
                    let known = a[0] * rest.at_cm[0] * c + a[1] * rest.at_cm[1] * c + a[2] * h;
                    add(row, rhs - known, w);
                }
            }
        }
        // Touchdown is at the landing height.
        add(
            [0.0, 0.0, 1.0, 0.0, 0.0, big_t],
            h + 0.5 * big_t * big_t * GRAVITY_CM_S2,
            1.0 / height_sigma,
        );
        // The slide starts along the flight, slower: slowing evenly from
        // touchdown to rest, it starts at 2 (R − L) / span.
        let span = rest.t_stop_s - t_land_s;
        if span > 1e-3 {
            let (k, sigma) = slide_keep;
            for c in 0..2 {
                // 2 (R_c − p0_c − v0_c T) / span − k v0_c = 0
                let mut row = [0.0; 6];
                row[c] = -2.0 / span;
                row[3 + c] = -2.0 * big_t / span - k;
                add(row, -2.0 * rest.at_cm[c] / span, 1.0 / sigma);
            }
        }
        for p in priors {
            let (row, rhs) = p.row(t0);
            add(row, rhs, 1.0 / p.sigma);
        }
        let x = normal.solve()?;
        let flight = Trajectory {
            t0_s: t0,
            p0: [x[0], x[1], x[2]],
            v0: [x[3], x[4], x[5]],
        };
        let mut land = flight.position(t_land_s);
        land[2] = h;
        for (i, (p, z)) in all.iter().zip(depth.iter_mut()).enumerate() {
            let w = if i < air.len() {
                flight.position(p.t_s)
            } else {
                slide_at(land, p.t_s)
            };
            let zc = dot(r[2], w) + tr[2];
            if zc > 1.0 {
                *z = zc;
            }
        }
        solution = Some(flight);
    }
    let flight = solution?;
    let mut land = flight.position(t_land_s);
    land[2] = h;
    Some(Landing {
        flight,
        t_land_s,
        air_px: residuals(cal, &flight, air)?,
        slide_px: image_error(cal, slide, |t| slide_at(land, t))?,
    })
}

fn dot(a: Vec3, b: Vec3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::geometry::{Extrinsics, Intrinsics};

    /// A camera 350 cm up looking 45° down the +y axis.
    pub(crate) fn camera(distortion: [f64; 5]) -> Calibration {
        let tilt = 45f64.to_radians();
        // World → camera: x stays, camera z looks along +y tilted down.
        let r = [
            [1.0, 0.0, 0.0],
            [0.0, -tilt.sin(), -tilt.cos()],
            [0.0, tilt.cos(), -tilt.sin()],
        ];
        let c = [0.0, 0.0, 350.0];
        let t: Vec3 = std::array::from_fn(|k| -dot(r[k], c));
        Calibration {
            camera: "test".into(),
            image_width: 768,
            image_height: 576,
            intrinsics: Intrinsics {
                fx: 700.0,
                fy: 700.0,
                cx: 384.0,
                cy: 288.0,
                distortion,
            },
            extrinsics: Extrinsics {
                rotation: crate::geometry::rodrigues_inverse(&r),
                translation: t,
            },
            r,
        }
    }

    fn observe(
        cal: &Calibration,
        traj: &Trajectory,
        times: &[f64],
        noise_px: f64,
    ) -> Vec<ImagePoint> {
        times
            .iter()
            .enumerate()
            .map(|(i, &t)| {
                let (u, v) = cal.project(traj.position(t)).unwrap();
                // Deterministic ±noise pattern.
                let s = if i % 2 == 0 { noise_px } else { -noise_px };
                ImagePoint {
                    t_s: t,
                    u: u + s,
                    v: v - s,
                }
            })
            .collect()
    }

    #[test]
    fn an_exact_image_track_recovers_the_flight_in_centimetres() {
        for dist in [[0.0; 5], [-0.25, 0.08, 0.001, -0.001, 0.0]] {
            let cal = camera(dist);
            let truth = Trajectory {
                t0_s: 1.0,
                p0: [30.0, 350.0, 110.0],
                v0: [-80.0, 150.0, 120.0],
            };
            let times: Vec<f64> = (0..6).map(|i| 1.0 + f64::from(i) / 25.0).collect();
            let fit = fit(&cal, &observe(&cal, &truth, &times, 0.0), &[]).unwrap();
            for k in 0..3 {
                assert!((fit.trajectory.p0[k] - truth.p0[k]).abs() < 1e-6, "{fit:?}");
                assert!((fit.trajectory.v0[k] - truth.v0[k]).abs() < 1e-5, "{fit:?}");
            }
            assert!(fit.rms_px < 1e-6);
        }
    }

    #[test]
    fn anchored_at_landing_and_worker_a_noisy_15fps_drop_is_measured_to_centimetres() {
        let cal = camera([0.0; 5]);
        let truth = Trajectory {
            t0_s: 0.0,
            p0: [0.0, 380.0, 70.0],
            v0: [0.0, 0.0, 0.0],
        };
        // Dropped from 70 cm onto a 10 cm half-height: lands after 0.35 s.
        let t_land = (2.0 * 60.0 / GRAVITY_CM_S2).sqrt();
        let mut times: Vec<f64> = (1..6).map(|i| f64::from(i) / 15.0).collect();
        times.push(t_land);
        let obs = observe(&cal, &truth, &times, 0.3);
        let fit = fit(&cal, &obs, &[Prior::height(t_land, 10.0, 5.0)]).unwrap();
        let drop = fit.trajectory.position(0.0)[2] - fit.trajectory.position(t_land)[2];
        assert!((drop - 60.0).abs() < 5.0, "drop {drop}");
        // Without the anchors the same track says little about depth.
        let loose = super::fit(&cal, &obs[..5], &[]).unwrap();
        let loose_drop = loose.trajectory.position(0.0)[2] - loose.trajectory.position(t_land)[2];
        assert!((loose_drop - 60.0).abs() > (drop - 60.0).abs());
    }

    #[test]
    fn a_track_that_does_not_fall_fits_badly() {
        // Constant image velocity for 0.4 s (a parcel sliding on a belt).
        let cal = camera([0.0; 5]);
        let pts: Vec<ImagePoint> = (0..11)
            .map(|i| {
                let t = f64::from(i) / 25.0;
                ImagePoint {
                    t_s: t,
                    u: 300.0 + 200.0 * t,
                    v: 400.0,
                }
            })
            .collect();
        let good = fit(&cal, &pts, &[]).is_some_and(|f| f.rms_px < 1.0);
        assert!(!good);
    }
}
