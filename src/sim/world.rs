//! The static scene: the camera built from the scenario (written out as the
//! project's calibration file, and parsed back so rendering uses exactly what
//! the file says), the surfaces parcels rest on, and the background rendered
//! once per scenario by casting each (distorted) pixel's ray into the scene.

use super::rng::hash01;
use super::scenario::{FloorKind, Scenario};
use crate::geometry::{rodrigues_inverse, Calibration};
use std::fmt::Write;

pub(crate) type V3 = [f64; 3];

/// The calibration file text for the scenario's camera (docs/calibration.md).
pub fn calibration_toml(s: &Scenario) -> String {
    let c = &s.camera;
    let (pan, tilt) = (c.pan_deg.to_radians(), c.tilt_deg.to_radians());
    // Camera axes in world: x right, y down (in the image), z forward.
    let fwd = [pan.sin() * tilt.cos(), pan.cos() * tilt.cos(), -tilt.sin()];
    let right = [pan.cos(), -pan.sin(), 0.0];
    let down = cross(fwd, right);
    let r = [right, down, fwd];
    let centre = [c.position_cm[0], c.position_cm[1], c.height_cm];
    let t: V3 = std::array::from_fn(|k| -dot(r[k], centre));
    let rv = rodrigues_inverse(&r);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Written by `sortwatch simulate` for scenario {:?}: the camera the video was rendered through.",
        s.name
    );
    let _ = writeln!(
        out,
        "camera = {:?}\nimage_width = {}\nimage_height = {}\n",
        format!("sim-{}", s.name),
        s.image_width,
        s.image_height
    );
    let _ = writeln!(
        out,
        "[intrinsics]\nfx = {:?}\nfy = {:?}\ncx = {:?}\ncy = {:?}\ndistortion = {:?}\n",
        c.focal_px,
        c.focal_px,
        f64::from(s.image_width) / 2.0,
        f64::from(s.image_height) / 2.0,
        c.distortion
    );
    let _ = writeln!(
        out,
        "[extrinsics]\nrotation = [{:?}, {:?}, {:?}]\ntranslation = [{:?}, {:?}, {:?}]",
        rv[0], rv[1], rv[2], t[0], t[1], t[2]
    );
    out
}

/// The scenario's camera, parsed back from [`calibration_toml`].
pub fn calibration(s: &Scenario) -> std::result::Result<Calibration, String> {
    Calibration::parse(&calibration_toml(s))
}

pub(crate) fn dot(a: V3, b: V3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
pub(crate) fn cross(a: V3, b: V3) -> V3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

/// An upright box on the floor: the belt or a cart.
#[derive(Clone, Debug)]
pub(crate) struct Slab {
    pub centre: [f64; 2],
    /// Unit vector of the local x axis (the belt's running direction).
    pub axis: [f64; 2],
    pub half: [f64; 2],
    pub height: f64,
}

impl Slab {
    /// Local (along, across) coordinates of a floor point.
    pub fn local(&self, x: f64, y: f64) -> [f64; 2] {
        let (dx, dy) = (x - self.centre[0], y - self.centre[1]);
        [
            dx * self.axis[0] + dy * self.axis[1],
            -dx * self.axis[1] + dy * self.axis[0],
        ]
    }

    pub fn contains(&self, x: f64, y: f64) -> bool {
        let l = self.local(x, y);
        l[0].abs() <= self.half[0] && l[1].abs() <= self.half[1]
    }

    /// Ray (origin o, direction d) entry: (t, local hit point, face 0..5 =
    /// -x, +x, -y, +y, bottom, top).
    fn hit(&self, o: V3, d: V3) -> Option<(f64, V3, usize)> {
        let lo = {
            let l = self.local(o[0], o[1]);
            [l[0], l[1], o[2]]
        };
        let ld = [
            d[0] * self.axis[0] + d[1] * self.axis[1],
            -d[0] * self.axis[1] + d[1] * self.axis[0],
            d[2],
        ];
        let mins = [-self.half[0], -self.half[1], 0.0];
        let maxs = [self.half[0], self.half[1], self.height];
        let (mut t_in, mut t_out, mut face) = (f64::NEG_INFINITY, f64::INFINITY, 0usize);
        for k in 0..3 {
            if ld[k].abs() < 1e-12 {
                if lo[k] < mins[k] || lo[k] > maxs[k] {
                    return None;
                }
                continue;
            }
            let (mut a, mut b) = ((mins[k] - lo[k]) / ld[k], (maxs[k] - lo[k]) / ld[k]);
            let mut f = 2 * k;
            if a > b {
                std::mem::swap(&mut a, &mut b);
                f += 1;
            }
            if a > t_in {
                t_in = a;
                face = f;
            }
            t_out = t_out.min(b);
        }
        (t_in <= t_out && t_in > 0.0).then(|| {
            let p = std::array::from_fn(|k| lo[k] + ld[k] * t_in);
            (t_in, p, face)
        })
    }
}

/// What parcels can rest on.
#[derive(Clone, Debug)]
pub(crate) struct Surfaces {
    pub belt: Option<(Slab, f64)>,
    pub carts: Vec<Slab>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Ground {
    Floor,
    Belt,
    Cart,
}

impl Surfaces {
    pub fn new(s: &Scenario) -> Surfaces {
        let belt = s.scene.conveyor.as_ref().map(|b| {
            let (dx, dy) = (b.end_cm[0] - b.start_cm[0], b.end_cm[1] - b.start_cm[1]);
            let len = dx.hypot(dy);
            (
                Slab {
                    centre: [
                        (b.start_cm[0] + b.end_cm[0]) / 2.0,
                        (b.start_cm[1] + b.end_cm[1]) / 2.0,
                    ],
                    axis: [dx / len, dy / len],
                    half: [len / 2.0, b.width_cm / 2.0],
                    height: b.height_cm,
                },
                b.speed_cm_s,
            )
        });
        let carts = s
            .scene
            .carts
            .iter()
            .map(|c| {
                let yaw = c.yaw_deg.to_radians();
                Slab {
                    centre: c.centre_cm,
                    axis: [yaw.cos(), yaw.sin()],
                    half: [c.size_cm[0] / 2.0, c.size_cm[1] / 2.0],
                    height: c.height_cm,
                }
            })
            .collect();
        Surfaces { belt, carts }
    }

    /// Height and kind of whatever is at floor point (x, y).
    pub fn at(&self, x: f64, y: f64) -> (f64, Ground) {
        let mut best = (0.0, Ground::Floor);
        if let Some((b, _)) = &self.belt {
            if b.contains(x, y) {
                best = (b.height, Ground::Belt);
            }
        }
        for c in &self.carts {
            if c.contains(x, y) && c.height > best.0 {
                best = (c.height, Ground::Cart);
            }
        }
        best
    }
}

/// Per-pixel background: colours for everything static, and for the belt top
/// the along-belt coordinate so its texture can move each frame.
pub(crate) struct Background {
    pub rgb: Vec<u8>,
    /// Camera-frame depth (cm) of what each pixel sees; workers and parcels
    /// farther than this are hidden behind the belt or a cart.
    pub depth: Vec<f32>,
    /// (pixel index, along-belt cm, brightness) for belt-top pixels.
    pub belt_px: Vec<(u32, f32, f32)>,
}

fn mix(a: [f64; 3], b: [f64; 3], t: f64) -> [f64; 3] {
    std::array::from_fn(|k| a[k] + (b[k] - a[k]) * t)
}

/// Smooth value noise in [0, 1) on a grid of `cell` cm.
fn value_noise(seed: u64, x: f64, y: f64, cell: f64) -> f64 {
    let (gx, gy) = (x / cell, y / cell);
    let (ix, iy) = (gx.floor(), gy.floor());
    let (fx, fy) = (gx - ix, gy - iy);
    let (sx, sy) = (fx * fx * (3.0 - 2.0 * fx), fy * fy * (3.0 - 2.0 * fy));
    let (ix, iy) = (ix as i64, iy as i64);
    let a = hash01(seed, ix, iy);
    let b = hash01(seed, ix + 1, iy);
    let c = hash01(seed, ix, iy + 1);
    let d = hash01(seed, ix + 1, iy + 1);
    let top = a + (b - a) * sx;
    let bot = c + (d - c) * sx;
    top + (bot - top) * sy
}

fn floor_colour(s: &Scenario, x: f64, y: f64) -> [f64; 3] {
    let seed = s.seed;
    let n = value_noise(seed, x, y, 40.0) * 0.6
        + value_noise(seed ^ 1, x, y, 9.0) * 0.3
        + hash01(seed ^ 2, (x * 0.8) as i64, (y * 0.8) as i64) * 0.1;
    let mut c = match s.scene.floor {
        FloorKind::Concrete => {
            let g = 118.0 + 34.0 * n;
            [g, g * 0.99, g * 0.95]
        }
        FloorKind::Tiles => {
            let (tx, ty) = ((x / 60.0).floor() as i64, (y / 60.0).floor() as i64);
            let (fx, fy) = (x.rem_euclid(60.0), y.rem_euclid(60.0));
            if fx < 1.2 || fy < 1.2 {
                [70.0, 70.0, 72.0]
            } else {
                let g = 150.0 + 16.0 * n + if (tx + ty) % 2 == 0 { 10.0 } else { -6.0 };
                [g * 0.97, g, g * 0.98]
            }
        }
    };
    if s.scene.lines {
        // Lane lines 10 cm wide every 3 m along y, and one across at y = 150 cm.
        let lane = (x + 150.0).rem_euclid(300.0) < 10.0 || (y - 150.0).abs() < 5.0;
        if lane {
            let wear = value_noise(seed ^ 3, x, y, 6.0);
            c = mix(c, [205.0, 170.0, 45.0], 0.6 + 0.35 * wear);
        }
    }
    // Light pools from overhead lamps every 4 m.
    let lx = (x.rem_euclid(400.0) - 200.0) / 400.0;
    let ly = (y.rem_euclid(400.0) - 200.0) / 400.0;
    let lamp = 1.06 - 0.25 * (lx * lx + ly * ly);
    c.map(|v| v * lamp)
}

impl Background {
    pub fn render(s: &Scenario, cal: &Calibration, surf: &Surfaces) -> Background {
        let (w, h) = (s.image_width as usize, s.image_height as usize);
        let mut rgb = vec![0u8; w * h * 3];
        let mut depth = vec![f32::INFINITY; w * h];
        let mut belt_px = Vec::new();
        let o = cal.camera_center();
        let light = [0.35f64, -0.5, 0.8];
        for py in 0..h {
            for px in 0..w {
                let i = py * w + px;
                // The ray's camera-z component is 1, so its parameter is depth.
                let d = cal.pixel_ray(px as f64, py as f64);
                let mut best: Option<(f64, [f64; 3])> = None;
                let mut keep = |t: f64, c: [f64; 3]| {
                    if best.is_none_or(|(bt, _)| t < bt) {
                        best = Some((t, c));
                    }
                };
                if d[2] < -1e-9 {
                    let t = -o[2] / d[2];
                    let (x, y) = (o[0] + t * d[0], o[1] + t * d[1]);
                    if t < 4000.0 {
                        keep(t, floor_colour(s, x, y));
                    }
                }
                let face_shade = |face: usize, axis: [f64; 2]| -> f64 {
                    let n = match face {
                        0 => [-axis[0], -axis[1], 0.0],
                        1 => [axis[0], axis[1], 0.0],
                        2 => [axis[1], -axis[0], 0.0],
                        3 => [-axis[1], axis[0], 0.0],
                        4 => [0.0, 0.0, -1.0],
                        _ => [0.0, 0.0, 1.0],
                    };
                    0.55 + 0.45 * dot(n, light).max(0.0)
                };
                let mut belt_hit = None;
                if let Some((b, _)) = &surf.belt {
                    if let Some((t, p, face)) = b.hit(o, d) {
                        let c = if face == 5 {
                            if p[1].abs() > b.half[1] - 5.0 {
                                [150.0, 154.0, 160.0]
                            } else {
                                belt_hit = Some((t, p[0], p[1]));
                                [60.0, 62.0, 66.0]
                            }
                        } else {
                            let k = face_shade(face, b.axis);
                            // Frame legs are darker gaps under the side rail.
                            let rail = p[2] > b.height - 12.0;
                            let base = if rail {
                                [120.0, 126.0, 134.0]
                            } else {
                                [78.0, 82.0, 90.0]
                            };
                            base.map(|v| v * k)
                        };
                        keep(t, c);
                    }
                }
                for cart in &surf.carts {
                    if let Some((t, p, face)) = cart.hit(o, d) {
                        let c = if face == 5 {
                            let mesh = p[0].rem_euclid(10.0) < 1.5 || p[1].rem_euclid(10.0) < 1.5;
                            if mesh {
                                [30.0, 60.0, 120.0]
                            } else {
                                [45.0, 95.0, 175.0]
                            }
                        } else {
                            let k = face_shade(face, cart.axis);
                            [35.0 * k, 72.0 * k, 140.0 * k]
                        };
                        keep(t, c);
                    }
                }
                let (t, c) = best.unwrap_or((f32::INFINITY as f64, [172.0, 170.0, 162.0]));
                depth[i] = t as f32;
                if let Some((bt, along, across)) = belt_hit {
                    if (bt - t).abs() < 1e-9 {
                        let n = hash01(s.seed ^ 9, (across / 3.0).floor() as i64, 0);
                        belt_px.push((i as u32, along as f32, (0.9 + 0.2 * n) as f32));
                    }
                }
                for k in 0..3 {
                    rgb[i * 3 + k] = c[k].clamp(0.0, 255.0) as u8;
                }
            }
        }
        Background {
            rgb,
            depth,
            belt_px,
        }
    }

    /// Writes the background with the belt texture moved `shift_cm` along.
    pub fn paint(&self, out: &mut [u8], shift_cm: f64) {
        out.copy_from_slice(&self.rgb);
        let shift = shift_cm as f32;
        for &(i, along, k) in &self.belt_px {
            let a = (along - shift).rem_euclid(14.0);
            // Cleats every 14 cm, and a scuff pattern that moves with the belt.
            let base = if a < 2.5 {
                96.0
            } else {
                let s = ((along - shift) * 0.9).sin() * 4.0;
                58.0 + s
            };
            let v = (base * k).clamp(0.0, 255.0) as u8;
            let j = i as usize * 3;
            out[j] = v;
            out[j + 1] = v;
            out[j + 2] = v.saturating_add(4);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scenario::Scenario;

    #[test]
    fn camera_looks_down_at_the_tilt_from_the_given_height() {
        let mut s = Scenario::parse(crate::sim::scenario::tests_support::MINIMAL).unwrap();
        s.camera.distortion = [-0.2, 0.05, 0.0, 0.0, 0.0];
        let cal = calibration(&s).unwrap();
        let c = cal.camera_center();
        assert!((c[2] - 350.0).abs() < 1e-9, "{c:?}");
        // The image centre sees the floor at height / tan(tilt) ahead (+y at pan 0).
        let p = cal.pixel_to_plane(384.0, 288.0, 0.0).unwrap();
        assert!((p[1] - 350.0).abs() < 1e-6 && p[0].abs() < 1e-6, "{p:?}");
    }

    #[test]
    fn belt_and_cart_tops_are_surfaces_and_the_floor_is_elsewhere() {
        let mut s = Scenario::parse(crate::sim::scenario::tests_support::MINIMAL).unwrap();
        s.scene.conveyor = Some(crate::sim::scenario::ConveyorSpec {
            start_cm: [-300.0, 500.0],
            end_cm: [300.0, 500.0],
            width_cm: 60.0,
            height_cm: 75.0,
            speed_cm_s: 30.0,
        });
        let surf = Surfaces::new(&s);
        assert_eq!(surf.at(0.0, 510.0), (75.0, Ground::Belt));
        assert_eq!(surf.at(0.0, 300.0), (0.0, Ground::Floor));
    }
}
