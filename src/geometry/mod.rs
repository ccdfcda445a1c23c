//! The calibrated camera: OpenCV pinhole model with distortion, posed over the
//! floor plane (world z = 0, z up, centimetres). Loads and validates
//! `calibration/<camera>.toml` (format in docs/calibration.md).

pub mod ballistic;
pub mod checkerboard;
pub mod intrinsics;
pub mod pnp;

use crate::error::{Error, Result};
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CalibrationFile {
    camera: String,
    image_width: u32,
    image_height: u32,
    intrinsics: Intrinsics,
    extrinsics: Extrinsics,
}

/// Pinhole intrinsics in pixels; `distortion` = [k1, k2, p1, p2, k3] (OpenCV order).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Intrinsics {
    pub fx: f64,
    pub fy: f64,
    pub cx: f64,
    pub cy: f64,
    #[serde(default)]
    pub distortion: [f64; 5],
}

impl Intrinsics {
    /// Normalised image coordinates (x/z, y/z) → distorted pixel (OpenCV model).
    pub fn to_pixel(&self, x: f64, y: f64) -> (f64, f64) {
        let [k1, k2, p1, p2, k3] = self.distortion;
        let r2 = x * x + y * y;
        let radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3));
        let xd = x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x);
        let yd = y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y;
        (self.fx * xd + self.cx, self.fy * yd + self.cy)
    }

    /// Pixel → undistorted normalised coordinates: the iterative inverse of
    /// [`Intrinsics::to_pixel`], as OpenCV's `undistortPoints` does.
    pub fn to_normalized(&self, u: f64, v: f64) -> (f64, f64) {
        let (xd, yd) = ((u - self.cx) / self.fx, (v - self.cy) / self.fy);
        let [k1, k2, p1, p2, k3] = self.distortion;
        let (mut x, mut y) = (xd, yd);
        for _ in 0..20 {
            let r2 = x * x + y * y;
            let radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3));
            let dx = 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x);
            let dy = p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y;
            x = (xd - dx) / radial;
            y = (yd - dy) / radial;
        }
        (x, y)
    }
}

/// World → camera: Rodrigues rotation vector and translation in cm.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Extrinsics {
    pub rotation: [f64; 3],
    pub translation: [f64; 3],
}

/// A validated calibration, with the rotation matrix precomputed.
#[derive(Debug, Clone)]
pub struct Calibration {
    pub camera: String,
    pub image_width: u32,
    pub image_height: u32,
    pub intrinsics: Intrinsics,
    pub extrinsics: Extrinsics,
    /// Row-major world → camera rotation.
    pub r: [[f64; 3]; 3],
}

pub type Vec3 = [f64; 3];

impl Calibration {
    /// Reads and validates a calibration file; errors name the file and the key.
    pub fn load(path: &Path) -> Result<Calibration> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(path, "cannot read calibration file", e))?;
        Self::parse(&text).map_err(|msg| {
            Error::config(format!(
                "calibration file {}: {msg} (see docs/calibration.md for the format)",
                path.display()
            ))
        })
    }

    /// Parses and validates calibration TOML; the error is a message naming the key.
    pub fn parse(text: &str) -> std::result::Result<Calibration, String> {
        let f: CalibrationFile =
            toml::from_str(text).map_err(|e| crate::config::toml_error(text, &e))?;
        let i = &f.intrinsics;
        let check = |ok: bool, key: &str, why: &str| {
            if ok {
                Ok(())
            } else {
                Err(format!("key `{key}` {why}"))
            }
        };
        check(
            !f.camera.trim().is_empty(),
            "camera",
            "must name the camera",
        )?;
        check(f.image_width > 0, "image_width", "must be positive")?;
        check(f.image_height > 0, "image_height", "must be positive")?;
        check(
            i.fx.is_finite() && i.fx > 0.0,
            "intrinsics.fx",
            "must be a positive focal length in pixels",
        )?;
        check(
            i.fy.is_finite() && i.fy > 0.0,
            "intrinsics.fy",
            "must be a positive focal length in pixels",
        )?;
        let (w, h) = (f64::from(f.image_width), f64::from(f.image_height));
        check(
            i.cx.is_finite() && (0.0..=w).contains(&i.cx),
            "intrinsics.cx",
            "must lie inside the image width",
        )?;
        check(
            i.cy.is_finite() && (0.0..=h).contains(&i.cy),
            "intrinsics.cy",
            "must lie inside the image height",
        )?;
        check(
            i.distortion.iter().all(|d| d.is_finite()),
            "intrinsics.distortion",
            "must be 5 finite numbers",
        )?;
        let e = &f.extrinsics;
        check(
            e.rotation.iter().all(|v| v.is_finite()),
            "extrinsics.rotation",
            "must be 3 finite numbers",
        )?;
        check(
            e.translation.iter().all(|v| v.is_finite()),
            "extrinsics.translation",
            "must be 3 finite numbers",
        )?;
        let r = rodrigues(e.rotation);
        let cal = Calibration {
            camera: f.camera,
            image_width: f.image_width,
            image_height: f.image_height,
            intrinsics: f.intrinsics,
            extrinsics: f.extrinsics,
            r,
        };
        let c = cal.camera_center();
        check(
            c[2] > 0.0,
            "extrinsics.translation",
            &format!(
                "puts the camera at height {:.1} cm; it must be above the floor (z > 0)",
                c[2]
            ),
        )?;
        Ok(cal)
    }

    /// Camera centre in world coordinates (cm): C = -Rᵀ t.
    pub fn camera_center(&self) -> Vec3 {
        let t = self.extrinsics.translation;
        let r = &self.r;
        [
            -(r[0][0] * t[0] + r[1][0] * t[1] + r[2][0] * t[2]),
            -(r[0][1] * t[0] + r[1][1] * t[1] + r[2][1] * t[2]),
            -(r[0][2] * t[0] + r[1][2] * t[1] + r[2][2] * t[2]),
        ]
    }

    /// Projects a world point (cm) to pixels; `None` if it is behind the camera.
    pub fn project(&self, p: Vec3) -> Option<(f64, f64)> {
        project_point(&self.intrinsics, &self.r, self.extrinsics.translation, p)
    }

    /// Undistorted normalised ray direction for a pixel (iterative inverse of the
    /// distortion model, as OpenCV's undistortPoints does).
    pub fn pixel_ray(&self, u: f64, v: f64) -> Vec3 {
        let (x, y) = self.intrinsics.to_normalized(u, v);
        // Camera-frame ray → world frame: Rᵀ d.
        let d = [x, y, 1.0];
        let r = &self.r;
        std::array::from_fn(|k| r[0][k] * d[0] + r[1][k] * d[1] + r[2][k] * d[2])
    }

    /// Where the pixel's ray meets the horizontal plane z = `height_cm`.
    pub fn pixel_to_plane(&self, u: f64, v: f64, height_cm: f64) -> Option<Vec3> {
        let c = self.camera_center();
        let d = self.pixel_ray(u, v);
        if d[2].abs() < 1e-12 {
            return None;
        }
        let s = (height_cm - c[2]) / d[2];
        (s > 0.0).then(|| [c[0] + s * d[0], c[1] + s * d[1], height_cm])
    }
}

/// Projects world point `p` (cm) through rotation `r`, translation `t` and the
/// lens; `None` if it is behind the camera.
pub fn project_point(intr: &Intrinsics, r: &[[f64; 3]; 3], t: Vec3, p: Vec3) -> Option<(f64, f64)> {
    let pc: Vec3 = std::array::from_fn(|k| r[k][0] * p[0] + r[k][1] * p[1] + r[k][2] * p[2] + t[k]);
    (pc[2] > 1e-6).then(|| intr.to_pixel(pc[0] / pc[2], pc[1] / pc[2]))
}

/// Rotation matrix → Rodrigues vector, as OpenCV's `Rodrigues`.
pub fn rodrigues_inverse(r: &[[f64; 3]; 3]) -> Vec3 {
    let cos = ((r[0][0] + r[1][1] + r[2][2] - 1.0) * 0.5).clamp(-1.0, 1.0);
    let theta = cos.acos();
    let w = [r[2][1] - r[1][2], r[0][2] - r[2][0], r[1][0] - r[0][1]];
    if theta < 1e-9 {
        return [0.0; 3];
    }
    if std::f64::consts::PI - theta < 1e-6 {
        // Near 180°: axis from the diagonal of (R + I) / 2.
        let axis: Vec3 = std::array::from_fn(|i| ((r[i][i] + 1.0) * 0.5).max(0.0).sqrt());
        let k = (0..3)
            .max_by(|&a, &b| axis[a].total_cmp(&axis[b]))
            .unwrap_or(0);
        let mut a = axis;
        for j in 0..3 {
            if j != k {
                a[j] = (r[k][j] + r[j][k]) * 0.25 / axis[k];
            }
        }
        return a.map(|v| v * theta);
    }
    let s = 2.0 * theta.sin();
    w.map(|v| v / s * theta)
}

/// Rodrigues vector → rotation matrix (row-major), as OpenCV's `Rodrigues`.
pub fn rodrigues(v: Vec3) -> [[f64; 3]; 3] {
    let theta = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    if theta < 1e-12 {
        return [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    }
    let k = [v[0] / theta, v[1] / theta, v[2] / theta];
    let (s, c) = theta.sin_cos();
    let cc = 1.0 - c;
    [
        [
            c + k[0] * k[0] * cc,
            k[0] * k[1] * cc - k[2] * s,
            k[0] * k[2] * cc + k[1] * s,
        ],
        [
            k[1] * k[0] * cc + k[2] * s,
            c + k[1] * k[1] * cc,
            k[1] * k[2] * cc - k[0] * s,
        ],
        [
            k[2] * k[0] * cc - k[1] * s,
            k[2] * k[1] * cc + k[0] * s,
            c + k[2] * k[2] * cc,
        ],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
camera = "test"
image_width = 640
image_height = 480
[intrinsics]
fx = 600.0
fy = 600.0
cx = 320.0
cy = 240.0
distortion = [-0.1, 0.01, 0.0, 0.0, 0.0]
[extrinsics]
rotation = [-2.2, 0.0, 0.0]
translation = [0.0, 100.0, 400.0]
"#;

    #[test]
    fn floor_point_round_trips_through_projection_and_back() {
        let cal = Calibration::parse(GOOD).unwrap();
        let p = [35.0, 120.0, 0.0];
        let (u, v) = cal.project(p).unwrap();
        let q = cal.pixel_to_plane(u, v, 0.0).unwrap();
        for k in 0..3 {
            assert!((p[k] - q[k]).abs() < 1e-6, "{p:?} vs {q:?}");
        }
    }

    #[test]
    fn rodrigues_inverse_recovers_the_vector() {
        for v in [
            [0.3, -1.2, 0.4],
            [2.0943951, 0.0, 0.0],
            [0.0, 0.0, 3.1],
            [1e-5, 0.0, 0.0],
        ] {
            let back = rodrigues_inverse(&rodrigues(v));
            for k in 0..3 {
                assert!((back[k] - v[k]).abs() < 1e-6, "{v:?} -> {back:?}");
            }
        }
    }

    #[test]
    fn rodrigues_of_quarter_turn_about_z_swaps_axes() {
        let r = rodrigues([0.0, 0.0, std::f64::consts::FRAC_PI_2]);
        assert!((r[0][1] + 1.0).abs() < 1e-12 && (r[1][0] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn missing_key_is_named() {
        let text = GOOD.replace("fy = 600.0\n", "");
        let err = Calibration::parse(&text).unwrap_err();
        assert!(err.contains("fy"), "{err}");
    }

    #[test]
    fn unknown_key_is_named() {
        let text = GOOD.replace("cy = 240.0", "cy = 240.0\nskew = 1.0");
        let err = Calibration::parse(&text).unwrap_err();
        assert!(err.contains("skew"), "{err}");
    }

    #[test]
    fn invalid_value_names_key_and_reason() {
        let err = Calibration::parse(&GOOD.replace("fx = 600.0", "fx = -5.0")).unwrap_err();
        assert!(
            err.contains("intrinsics.fx") && err.contains("positive"),
            "{err}"
        );
        let err = Calibration::parse(&GOOD.replace("400.0]", "-400.0]")).unwrap_err();
        assert!(err.contains("above the floor"), "{err}");
    }
}
