//! Scene simulator: renders a scripted sorting-floor scene (workers as
//! articulated mannequins, parcels with ballistic physics, a moving belt)
//! through a calibrated, distorting camera, with exact ground truth.
//! Scenario format: docs/simulator.md. Entry points: [`Simulation`],
//! [`render`], [`suite::generate`].

mod draw;
mod motion;
pub mod rng;
pub mod scenario;
pub mod suite;
mod world;

pub use motion::{Flight, Kick, Release, G};
pub use scenario::Scenario;
pub use world::{calibration, calibration_toml};

use crate::clips::Mp4Writer;
use crate::error::{Error, ErrorKind, Result};
use crate::geometry::Calibration;
use crate::source::RgbImage;
use draw::{Canvas, Prim};
use motion::{Body, Plan};
use rng::SplitMix64;
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use world::{Background, V3};

/// The zone limits as written to truth.json.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TruthLimits {
    pub max_drop_cm: f64,
    pub max_throw_cm: f64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TruthParcel {
    pub id: u32,
    pub size_cm: V3,
}

/// `truth.json`: what happened, for the evaluator (schema 1).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Truth {
    pub schema: u32,
    pub scenario: String,
    pub fps: f64,
    pub frames: usize,
    pub duration_s: f64,
    pub image_width: u32,
    pub image_height: u32,
    pub limits: TruthLimits,
    pub parcels: Vec<TruthParcel>,
    pub releases: Vec<Release>,
    pub flights: Vec<Flight>,
    pub kicks: Vec<Kick>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct WorkerTruth {
    pub id: u32,
    /// [x0, y0, x1, y1] pixels, clipped to the image.
    pub bbox: [f64; 4],
    /// 17 COCO keypoints [u, v, visible]; visible is 1 where the camera sees
    /// that worker at the point (inside the image, not hidden by a parcel, the
    /// belt or another worker; nose and eyes only with the face towards the camera).
    pub keypoints: Vec<[f64; 3]>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ParcelTruth {
    pub id: u32,
    pub centre_px: [f64; 2],
    pub bbox: [f64; 4],
    pub centre_cm: V3,
    pub state: &'static str,
}

/// One line of `frames.jsonl`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FrameTruth {
    pub frame: usize,
    pub t_s: f64,
    pub workers: Vec<WorkerTruth>,
    pub parcels: Vec<ParcelTruth>,
}

/// A scenario made ready to render: camera, timeline and background.
pub struct Simulation {
    scenario: Scenario,
    cal: Calibration,
    plan: Plan,
    bg: Background,
    noise_lut: [i16; 256],
}

impl Simulation {
    /// Plans the timeline and renders the static background; scenario
    /// mistakes (a kick out of reach, a toss with empty hands) are Config errors.
    pub fn new(s: &Scenario) -> Result<Simulation> {
        let bad = |m: String| Error::config(format!("scenario {}: {m}", s.name));
        s.validate().map_err(bad)?;
        let cal = world::calibration(s).map_err(|m| bad(format!("camera: {m}")))?;
        let plan = motion::plan(s).map_err(bad)?;
        let end = s.duration_s;
        for f in &plan.flights {
            if f.t_land_s > end {
                return Err(bad(format!(
                    "parcel {} lands at {:.2} s, after the end ({end} s); start the action earlier or lengthen `duration_s`",
                    f.parcel, f.t_land_s
                )));
            }
        }
        for k in &plan.kicks {
            if k.t_s > end {
                return Err(bad(format!(
                    "the kick of parcel {} lands after the end",
                    k.parcel
                )));
            }
        }
        let bg = Background::render(s, &cal, &plan.surfaces);
        // Triangular noise from one random byte: the sum of its two nibbles.
        let scale = s.scene.noise_sigma / 6.5;
        let noise_lut = std::array::from_fn(|b| {
            let v = (b & 15) as f64 + (b >> 4) as f64 - 15.0;
            (v * scale).round() as i16
        });
        Ok(Simulation {
            scenario: s.clone(),
            cal,
            plan,
            bg,
            noise_lut,
        })
    }

    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The camera the frames are rendered through (what calibration.toml holds).
    pub fn calibration(&self) -> &Calibration {
        &self.cal
    }

    pub fn frame_count(&self) -> usize {
        self.scenario.frames()
    }

    pub fn frame_time(&self, i: usize) -> f64 {
        i as f64 / self.scenario.fps
    }

    pub fn truth(&self) -> Truth {
        let s = &self.scenario;
        Truth {
            schema: 1,
            scenario: s.name.clone(),
            fps: s.fps,
            frames: self.frame_count(),
            duration_s: s.duration_s,
            image_width: s.image_width,
            image_height: s.image_height,
            limits: TruthLimits {
                max_drop_cm: s.limits.max_drop_cm,
                max_throw_cm: s.limits.max_throw_cm,
            },
            parcels: s
                .parcels
                .iter()
                .map(|p| TruthParcel {
                    id: p.id,
                    size_cm: p.size_cm,
                })
                .collect(),
            releases: self.plan.releases.clone(),
            flights: self.plan.flights.clone(),
            kicks: self.plan.kicks.clone(),
        }
    }

    fn cam(&self, p: V3) -> V3 {
        let r = &self.cal.r;
        let t = self.cal.extrinsics.translation;
        std::array::from_fn(|k| r[k][0] * p[0] + r[k][1] * p[1] + r[k][2] * p[2] + t[k])
    }

    fn px(&self, p: V3) -> Option<[f64; 2]> {
        self.cal.project(p).map(|(u, v)| [u, v])
    }

    /// Parcel centre, yaw and state at time t (used by tests).
    pub fn parcel_state(&self, id: u32, t: f64) -> Option<(V3, &'static str)> {
        let i = self.plan.parcels.iter().position(|p| p.id == id)?;
        let (c, _, st) = self.plan.parcel_at(i, t);
        Some((c, st))
    }

    /// Renders frame `i` into `img` (resized if needed) and returns its truth.
    pub fn render_frame(&self, i: usize, img: &mut RgbImage) -> FrameTruth {
        let s = &self.scenario;
        let (w, h) = (s.image_width as usize, s.image_height as usize);
        if img.width as usize != w || img.height as usize != h {
            *img = RgbImage::new(s.image_width, s.image_height);
        }
        let t = self.frame_time(i);
        let belt_shift = self.plan.surfaces.belt.as_ref().map_or(0.0, |(_, v)| v * t);
        self.bg.paint(&mut img.data, belt_shift);
        let mut prims: Vec<(f32, u16, Prim)> = Vec::with_capacity(96);
        let mut workers = Vec::new();
        for (wi, wp) in self.plan.workers.iter().enumerate() {
            let body = wp.body(t);
            let (bbox, kps) = self.worker_prims(wi as u16 + 1, &body, wp.colours, &mut prims);
            workers.push(WorkerTruth {
                id: wp.id,
                bbox,
                keypoints: kps,
            });
        }
        let mut parcels = Vec::new();
        for (pi, pp) in self.plan.parcels.iter().enumerate() {
            let (c, yaw, state) = self.plan.parcel_at(pi, t);
            let bbox = self.parcel_prims(c, yaw, pp.size, pp.shade, &mut prims);
            parcels.push(ParcelTruth {
                id: pp.id,
                centre_px: self.px(c).unwrap_or([f64::NAN; 2]),
                bbox,
                centre_cm: c,
                state,
            });
        }
        prims.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut owner = vec![0u16; w * h];
        let mut canvas = Canvas {
            rgb: &mut img.data,
            bg_depth: &self.bg.depth,
            owner: &mut owner,
            tag: 0,
            w,
            h,
        };
        for (d, tag, p) in &prims {
            canvas.tag = *tag;
            canvas.draw(p, *d);
        }
        // A keypoint is visible where its own worker is what the camera sees
        // (not hidden by a parcel, the belt or another worker).
        for (wi, wt) in workers.iter_mut().enumerate() {
            let tag = wi as u16 + 1;
            for kp in &mut wt.keypoints {
                if kp[2] > 0.5 {
                    let (x, y) = (kp[0].round() as i64, kp[1].round() as i64);
                    let mut seen = false;
                    for dy in -2..=2 {
                        for dx in -2..=2 {
                            let (xx, yy) = (x + dx, y + dy);
                            if xx >= 0 && yy >= 0 && (xx as usize) < w && (yy as usize) < h {
                                seen |= owner[yy as usize * w + xx as usize] == tag;
                            }
                        }
                    }
                    if !seen {
                        kp[2] = 0.0;
                    }
                }
            }
        }
        self.sensor(&mut img.data, i, t);
        FrameTruth {
            frame: i,
            t_s: t,
            workers,
            parcels,
        }
    }

    /// Illumination flicker and sensor noise, seeded per frame.
    fn sensor(&self, data: &mut [u8], i: usize, t: f64) {
        let s = &self.scenario;
        let mut rng = SplitMix64::new(s.seed ^ (i as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
        let wobble = rng.range(-1.0, 1.0);
        let gain = 1.0
            + s.scene.flicker * (0.7 * (t * 2.0 * std::f64::consts::PI * 1.7).sin() + 0.3 * wobble);
        let g = (gain * 256.0).round() as i32;
        for chunk in data.chunks_mut(8) {
            let r = rng.next_u64().to_le_bytes();
            for (v, b) in chunk.iter_mut().zip(r) {
                let x = ((i32::from(*v) * g) >> 8) + i32::from(self.noise_lut[b as usize]);
                *v = x.clamp(0, 255) as u8;
            }
        }
    }

    fn worker_prims(
        &self,
        tag: u16,
        b: &Body,
        colours: [[u8; 3]; 3],
        prims: &mut Vec<(f32, u16, Prim)>,
    ) -> ([f64; 4], Vec<[f64; 3]>) {
        let s = b.s;
        let col = |c: [u8; 3]| c.map(f32::from);
        let (shirt, trousers, skin) = (col(colours[0]), col(colours[1]), col(colours[2]));
        let shoe = [32.0, 30.0, 30.0];
        let fx = self.cal.intrinsics.fx;
        let mut bb = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
        let mut extend = |p: [f64; 2], r: f64| {
            bb[0] = bb[0].min(p[0] - r);
            bb[1] = bb[1].min(p[1] - r);
            bb[2] = bb[2].max(p[0] + r);
            bb[3] = bb[3].max(p[1] + r);
        };
        let mut capsule = |a: V3,
                           bpt: V3,
                           ra: f64,
                           rb: f64,
                           colour: [f32; 3],
                           prims: &mut Vec<(f32, u16, Prim)>| {
            let (ca, cb) = (self.cam(a), self.cam(bpt));
            if ca[2] < 1.0 || cb[2] < 1.0 {
                return;
            }
            let (Some(pa), Some(pb)) = (self.px(a), self.px(bpt)) else {
                return;
            };
            let (ra, rb) = (ra * fx / ca[2], rb * fx / cb[2]);
            extend(pa, ra);
            extend(pb, rb);
            let depth = (ca[2].min(cb[2]) - ra.min(rb) * 0.0) as f32;
            prims.push((
                ((ca[2] + cb[2]) * 0.5) as f32,
                tag,
                Prim::Capsule {
                    a: pa,
                    b: pb,
                    ra,
                    rb,
                    colour,
                },
            ));
            let _ = depth;
        };
        let k = &b.kp;
        let mid = |a: V3, c: V3, t: f64| {
            [
                a[0] + (c[0] - a[0]) * t,
                a[1] + (c[1] - a[1]) * t,
                a[2] + (c[2] - a[2]) * t,
            ]
        };
        let dir = {
            let d = [
                b.chest[0] - b.pelvis[0],
                b.chest[1] - b.pelvis[1],
                b.chest[2] - b.pelvis[2],
            ];
            let n = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
            d.map(|v| v / n)
        };
        let waist = mid(b.pelvis, b.chest, 0.2);
        // Legs, then trunk, arms and head; the depth sort interleaves them.
        for side in 0..2 {
            capsule(
                k[11 + side],
                k[13 + side],
                8.5 * s,
                6.8 * s,
                trousers,
                prims,
            );
            capsule(
                k[13 + side],
                k[15 + side],
                6.3 * s,
                4.6 * s,
                trousers,
                prims,
            );
            capsule(k[15 + side], b.toes[side], 4.6 * s, 4.2 * s, shoe, prims);
        }
        // Trunk as two side-by-side capsules: wide seen from the front,
        // slim from the side, as a body is.
        let lat = |p: V3, d: f64| [p[0] + b.left[0] * d, p[1] + b.left[1] * d, p[2]];
        capsule(k[11], k[12], 9.5 * s, 9.5 * s, trousers, prims);
        let chest_low = [
            b.chest[0] - dir[0] * 9.0 * s,
            b.chest[1] - dir[1] * 9.0 * s,
            b.chest[2] - dir[2] * 9.0 * s,
        ];
        for side in [1.0, -1.0] {
            capsule(
                lat(b.pelvis, side * 6.5 * s),
                lat(waist, side * 6.5 * s),
                10.5 * s,
                10.5 * s,
                trousers,
                prims,
            );
            capsule(
                lat(waist, side * 6.5 * s),
                lat(chest_low, side * 7.5 * s),
                10.5 * s,
                11.5 * s,
                shirt,
                prims,
            );
        }
        capsule(k[5], k[6], 7.5 * s, 7.5 * s, shirt, prims);
        capsule(b.chest, b.neck_top, 5.2 * s, 4.8 * s, skin, prims);
        for side in 0..2 {
            // Sleeves a shade darker than the chest, so the arm stands out
            // from the body as it does under real lighting.
            let sleeve_col = shirt.map(|v| v * SLEEVE_SHADE);
            capsule(
                k[5 + side],
                k[7 + side],
                6.0 * s,
                5.0 * s,
                sleeve_col,
                prims,
            );
            let sleeve = mid(k[7 + side], k[9 + side], SLEEVE);
            capsule(k[7 + side], sleeve, 5.0 * s, 4.8 * s, sleeve_col, prims);
            capsule(sleeve, k[9 + side], 4.3 * s, 3.6 * s, skin, prims);
            capsule(
                k[9 + side],
                b.hand_tips[side],
                4.6 * s,
                4.0 * s,
                skin,
                prims,
            );
        }
        // Head: a shaded sphere, with hair away from the face and two eyes.
        let ch = self.cam(b.head);
        let mut head_px = None;
        if ch[2] > 1.0 {
            if let Some(c) = self.px(b.head) {
                let r = b.head_r * fx / ch[2];
                extend(c, r);
                let rot = |v: V3| -> V3 {
                    let m = &self.cal.r;
                    std::array::from_fn(|i| m[i][0] * v[0] + m[i][1] * v[1] + m[i][2] * v[2])
                };
                let face = rot(b.face);
                let up = rot(b.up);
                let facing_camera = face[2] < -0.15;
                let eyes = if facing_camera {
                    match (self.px(k[1]), self.px(k[2])) {
                        (Some(a), Some(c2)) => Some([a, c2]),
                        _ => None,
                    }
                } else {
                    None
                };
                head_px = Some(facing_camera);
                prims.push((
                    ch[2] as f32 - 2.0,
                    tag,
                    Prim::Head {
                        c,
                        r,
                        skin,
                        face,
                        up,
                        eyes,
                    },
                ));
            }
        }
        let (w, h) = (
            f64::from(self.scenario.image_width),
            f64::from(self.scenario.image_height),
        );
        let bbox = [
            bb[0].max(0.0),
            bb[1].max(0.0),
            bb[2].min(w - 1.0),
            bb[3].min(h - 1.0),
        ];
        let facing_camera = head_px.unwrap_or(false);
        let kps = k
            .iter()
            .enumerate()
            .map(|(i, p)| match self.px(*p) {
                Some([u, v]) => {
                    let inside = (0.0..w).contains(&u) && (0.0..h).contains(&v);
                    let seen = inside && (i > 2 || facing_camera);
                    [u, v, if seen { 1.0 } else { 0.0 }]
                }
                None => [f64::NAN, f64::NAN, 0.0],
            })
            .collect();
        (bbox, kps)
    }

    fn parcel_prims(
        &self,
        c: V3,
        yaw: f64,
        size: V3,
        shade: u8,
        prims: &mut Vec<(f32, u16, Prim)>,
    ) -> [f64; 4] {
        const CARD: [[f32; 3]; 4] = [
            [196.0, 150.0, 102.0],
            [178.0, 132.0, 86.0],
            [212.0, 174.0, 126.0],
            [165.0, 122.0, 80.0],
        ];
        let base = CARD[usize::from(shade) % 4];
        let (ax, ay) = ([yaw.cos(), yaw.sin(), 0.0], [-yaw.sin(), yaw.cos(), 0.0]);
        let az = [0.0, 0.0, 1.0];
        let half = [size[0] / 2.0, size[1] / 2.0, size[2] / 2.0];
        let at = |u: f64, v: f64, w: f64| -> V3 {
            std::array::from_fn(|k| {
                c[k] + ax[k] * u * half[0] + ay[k] * v * half[1] + az[k] * w * half[2]
            })
        };
        let eye = self.cal.camera_center();
        let light = [0.35, -0.5, 0.8];
        let mut bb = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
        let mut near = f64::MAX;
        for u in [-1.0, 1.0] {
            for v in [-1.0, 1.0] {
                for w in [-1.0, 1.0] {
                    let p = at(u, v, w);
                    near = near.min(self.cam(p)[2]);
                    if let Some(q) = self.px(p) {
                        bb = [
                            bb[0].min(q[0]),
                            bb[1].min(q[1]),
                            bb[2].max(q[0]),
                            bb[3].max(q[1]),
                        ];
                    }
                }
            }
        }
        if near < 1.0 {
            return bb;
        }
        let centre_depth = self.cam(c)[2] as f32;
        // Faces as (normal axis, sign); the 4 corners go round the face.
        let faces: [(usize, f64); 6] = [
            (0, 1.0),
            (0, -1.0),
            (1, 1.0),
            (1, -1.0),
            (2, 1.0),
            (2, -1.0),
        ];
        for (axis, sg) in faces {
            let n = match axis {
                0 => ax.map(|v| v * sg),
                1 => ay.map(|v| v * sg),
                _ => az.map(|v| v * sg),
            };
            let fc = at(
                if axis == 0 { sg } else { 0.0 },
                if axis == 1 { sg } else { 0.0 },
                if axis == 2 { sg } else { 0.0 },
            );
            let view = [fc[0] - eye[0], fc[1] - eye[1], fc[2] - eye[2]];
            if view[0] * n[0] + view[1] * n[1] + view[2] * n[2] >= 0.0 {
                continue;
            }
            let corner = |a: f64, b: f64| -> V3 {
                match axis {
                    0 => at(sg, a, b),
                    1 => at(a, sg, b),
                    _ => at(a, b, sg),
                }
            };
            let quad = |lo: f64, hi: f64, full: bool| -> Option<[[f64; 2]; 4]> {
                let pts = if full {
                    [
                        corner(-1.0, -1.0),
                        corner(1.0, -1.0),
                        corner(1.0, 1.0),
                        corner(-1.0, 1.0),
                    ]
                } else {
                    [
                        corner(-1.0, lo),
                        corner(1.0, lo),
                        corner(1.0, hi),
                        corner(-1.0, hi),
                    ]
                };
                let mut out = [[0.0; 2]; 4];
                for (o, p) in out.iter_mut().zip(pts) {
                    *o = self.px(p)?;
                }
                Some(out)
            };
            let lit = (0.62 + 0.38 * (n[0] * light[0] + n[1] * light[1] + n[2] * light[2]).max(0.0))
                as f32;
            let d = near as f32;
            if let Some(q) = quad(0.0, 0.0, true) {
                prims.push((
                    centre_depth,
                    PARCEL_TAG,
                    Prim::Quad {
                        pts: q,
                        colour: base.map(|v| v * lit),
                        near: d,
                    },
                ));
            }
            // Packing tape along the length, over the top and the two end faces.
            if axis != 1 {
                let tape_half = (0.22 * size[1] / size[1].max(1.0)).min(0.3);
                if let Some(q) = quad(-tape_half, tape_half, false) {
                    let tape = [222.0f32, 200.0, 150.0].map(|v| v * lit);
                    prims.push((
                        centre_depth - 0.01,
                        PARCEL_TAG,
                        Prim::Quad {
                            pts: q,
                            colour: tape,
                            near: d - 0.01,
                        },
                    ));
                }
            }
        }
        bb
    }
}

const PARCEL_TAG: u16 = u16::MAX;
/// How far down the forearm the sleeve reaches (0 = elbow, 1 = wrist): bare
/// forearms are what let MoveNet find the wrists (long sleeves doubled the error).
const SLEEVE: f64 = 0.12;
const SLEEVE_SHADE: f32 = 0.72;

/// What [`render`] wrote.
#[derive(Clone, Debug)]
pub struct RenderSummary {
    pub frames: usize,
    pub video: PathBuf,
    pub truth: Truth,
    /// Seconds spent rendering (not encoding).
    pub render_s: f64,
}

/// Renders a scenario into `out_dir`: video.mp4, calibration.toml, truth.json, frames.jsonl.
pub fn render(s: &Scenario, out_dir: &Path) -> Result<RenderSummary> {
    let sim = Simulation::new(s)?;
    std::fs::create_dir_all(out_dir)
        .map_err(|e| Error::io(out_dir, "cannot create output directory", e))?;
    let write = |name: &str, text: &str| -> Result<()> {
        let p = out_dir.join(name);
        std::fs::write(&p, text).map_err(|e| Error::io(&p, "cannot write", e))
    };
    write("calibration.toml", &calibration_toml(s))?;
    let truth = sim.truth();
    let json = serde_json::to_string_pretty(&truth)
        .map_err(|e| Error::new(ErrorKind::Internal, format!("truth: {e}")))?;
    write("truth.json", &json)?;
    let video = out_dir.join("video.mp4");
    let mut mp4 = Mp4Writer::create(&video, s.image_width, s.image_height, s.fps)?;
    let frames_path = out_dir.join("frames.jsonl");
    let file = std::fs::File::create(&frames_path)
        .map_err(|e| Error::io(&frames_path, "cannot write", e))?;
    let mut lines = std::io::BufWriter::new(file);
    let mut img = RgbImage::new(s.image_width, s.image_height);
    let mut render_s = 0.0;
    for i in 0..sim.frame_count() {
        let t0 = std::time::Instant::now();
        let ft = sim.render_frame(i, &mut img);
        render_s += t0.elapsed().as_secs_f64();
        mp4.write(&img, ft.t_s)?;
        let line = serde_json::to_string(&ft)
            .map_err(|e| Error::new(ErrorKind::Internal, format!("frame truth: {e}")))?;
        writeln!(lines, "{line}").map_err(|e| Error::io(&frames_path, "cannot write", e))?;
    }
    lines
        .flush()
        .map_err(|e| Error::io(&frames_path, "cannot write", e))?;
    mp4.finish()?;
    Ok(RenderSummary {
        frames: sim.frame_count(),
        video,
        truth,
        render_s,
    })
}
