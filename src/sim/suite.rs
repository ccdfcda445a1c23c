//! Seeded scenario generator for evaluation suites: varied camera geometries,
//! frame rates and crews, with many flights close to the 50 cm limits (where
//! a detector is most likely to be wrong), clear throws, gentle placements,
//! kicks and belt traffic. Deterministic for a seed.

use super::motion;
use super::rng::SplitMix64;
use super::scenario::{
    Action, ActionKind, CameraSpec, CartSpec, ConveyorSpec, FloorKind, Limits, ParcelSpec,
    Scenario, SceneSpec, WorkerSpec,
};
use super::world;
use crate::geometry::Calibration;

/// Camera geometries: (height cm, tilt deg, barrel k1). Focal length is then
/// chosen so workers stand about 150–300 px tall.
const GEOMETRIES: [(f64, f64, f64); 8] = [
    (260.0, 32.0, 0.0),
    (300.0, 40.0, -0.16),
    (350.0, 45.0, 0.0),
    (350.0, 55.0, -0.22),
    (400.0, 50.0, 0.0),
    (420.0, 60.0, -0.12),
    (450.0, 68.0, 0.0),
    (320.0, 36.0, -0.10),
];

const SHIRTS: [[u8; 3]; 8] = [
    [200, 50, 40],
    [40, 90, 170],
    [30, 120, 60],
    [230, 160, 30],
    [235, 200, 40],
    [120, 40, 140],
    [220, 220, 215],
    [250, 120, 20],
];
const TROUSERS: [[u8; 3]; 4] = [[40, 40, 50], [30, 45, 85], [85, 75, 60], [60, 60, 60]];
const SKINS: [[u8; 3]; 4] = [
    [205, 160, 125],
    [175, 125, 90],
    [230, 190, 160],
    [125, 85, 60],
];

/// `n` scenarios, deterministic for `seed`.
pub fn generate(n: usize, seed: u64) -> Vec<Scenario> {
    (0..n)
        .map(|i| {
            // Retry with derived seeds until a scenario plans cleanly; each
            // attempt depends only on (seed, i, attempt), so the suite is stable.
            for attempt in 0..64u64 {
                let mut rng = SplitMix64::new(
                    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                        ^ (i as u64).wrapping_mul(0xD1B5_4A32_D192_ED03)
                        ^ attempt,
                );
                if let Some(s) = build(i, &mut rng) {
                    return s;
                }
            }
            fallback(i)
        })
        .collect()
}

fn fallback(i: usize) -> Scenario {
    let text = format!(
        "name = \"walk-{i:04}\"\nfps = 25\nduration_s = 4.0\n[camera]\nheight_cm = 350\ntilt_deg = 45\n\
         [[workers]]\nid = 1\nat_cm = [-60, 330]\n[[actions]]\nworker = 1\nt_s = 0.5\nkind = \"walk\"\nto_cm = [60, 330]\n"
    );
    Scenario::parse(&text).unwrap_or_else(|e| unreachable!("fallback scenario: {e}"))
}

struct Ctx {
    cal: Calibration,
    w: f64,
    h: f64,
}

impl Ctx {
    fn inside(&self, p: [f64; 3], margin: f64) -> bool {
        self.cal.project(p).is_some_and(|(u, v)| {
            u >= margin && v >= margin && u <= self.w - margin && v <= self.h - margin
        })
    }

    /// A worker standing at xy is fully in view and 150–300 px tall.
    fn worker_ok(&self, xy: [f64; 2], height: f64) -> bool {
        let feet = [xy[0], xy[1], 0.0];
        let head = [xy[0], xy[1], height + 5.0];
        if !(self.inside(feet, 25.0) && self.inside(head, 12.0)) {
            return false;
        }
        let around = [-40.0, 40.0];
        if !around.iter().all(|d| {
            self.inside([xy[0] + d, xy[1], 0.0], 8.0) && self.inside([xy[0], xy[1] + d, 0.0], 8.0)
        }) {
            return false;
        }
        match (self.cal.project(feet), self.cal.project(head)) {
            (Some(a), Some(b)) => {
                (150.0..=300.0).contains(&(a.1 - b.1).abs().max((a.0 - b.0).abs()))
            }
            _ => false,
        }
    }

    /// The floor point a pixel sees, rounded to mm so scenario files read well.
    fn floor_at(&self, u: f64, v: f64) -> Option<[f64; 2]> {
        self.cal
            .pixel_to_plane(u, v, 0.0)
            .map(|p| [round1(p[0]), round1(p[1])])
    }
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn dist(a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - b[0]).hypot(a[1] - b[1])
}

/// One scenario, or None if this draw did not fit (retry with another).
fn build(i: usize, rng: &mut SplitMix64) -> Option<Scenario> {
    let g = i % GEOMETRIES.len();
    let (height, tilt, k1) = GEOMETRIES[g];
    let pan = rng.range(-15.0, 15.0);
    let fps = if rng.chance(0.5) { 25.0 } else { 15.0 };
    let mut s = Scenario {
        name: String::new(),
        seed: rng.next_u64() % 1_000_000,
        fps,
        duration_s: 8.0,
        image_width: 768,
        image_height: 576,
        camera: CameraSpec {
            height_cm: height,
            tilt_deg: tilt,
            pan_deg: (pan * 10.0).round() / 10.0,
            position_cm: [0.0, 0.0],
            focal_px: 600.0,
            distortion: [k1, k1 * k1 * 0.8, 0.0, 0.0, 0.0],
        },
        limits: Limits::default(),
        scene: SceneSpec {
            floor: if rng.chance(0.6) {
                FloorKind::Concrete
            } else {
                FloorKind::Tiles
            },
            lines: rng.chance(0.8),
            noise_sigma: rng.range(1.0, 3.5),
            flicker: rng.range(0.0, 0.03),
            conveyor: None,
            carts: Vec::new(),
        },
        workers: Vec::new(),
        parcels: Vec::new(),
        actions: Vec::new(),
    };
    // Focal length: a 175 cm worker in the middle of the view about 220 px tall.
    {
        let cal = world::calibration(&s).ok()?;
        let c = cal.pixel_to_plane(384.0, 380.0, 0.0)?;
        let (a, b) = (cal.project(c)?, cal.project([c[0], c[1], 175.0])?);
        let px = (a.1 - b.1).abs();
        let target = rng.range(190.0, 250.0);
        s.camera.focal_px = (600.0 * target / px).clamp(350.0, 1500.0).round();
    }
    let cal = world::calibration(&s).ok()?;
    let ctx = Ctx {
        cal,
        w: 768.0,
        h: 576.0,
    };
    let pan_r = s.camera.pan_deg.to_radians();
    let right = [pan_r.cos(), -pan_r.sin()];
    // The belt runs across the view behind the middle; carts to the sides.
    if rng.chance(0.6) {
        let v = rng.range(90.0, 200.0);
        if let Some(p) = ctx.floor_at(384.0, v) {
            let speed = rng.range(20.0, 45.0).round();
            s.scene.conveyor = Some(ConveyorSpec {
                start_cm: [
                    round1(p[0] - right[0] * 700.0),
                    round1(p[1] - right[1] * 700.0),
                ],
                end_cm: [
                    round1(p[0] + right[0] * 700.0),
                    round1(p[1] + right[1] * 700.0),
                ],
                width_cm: 60.0,
                height_cm: rng.range(70.0, 85.0).round(),
                speed_cm_s: speed,
            });
        }
    }
    if rng.chance(0.4) {
        let u = if rng.chance(0.5) {
            rng.range(90.0, 200.0)
        } else {
            rng.range(570.0, 680.0)
        };
        if let Some(p) = ctx.floor_at(u, rng.range(330.0, 480.0)) {
            s.scene.carts.push(CartSpec {
                centre_cm: p,
                size_cm: [100.0, 60.0],
                height_cm: rng.range(45.0, 70.0).round(),
                yaw_deg: (-pan_r.to_degrees()).round(),
            });
        }
    }
    let surfaces = world::Surfaces::new(&s);
    let blocked = |xy: [f64; 2], r: f64| {
        [[0.0, 0.0], [r, 0.0], [-r, 0.0], [0.0, r], [0.0, -r]]
            .iter()
            .any(|d| surfaces.at(xy[0] + d[0], xy[1] + d[1]).0 > 0.0)
    };
    let n_workers = rng.int(1, 3) as u32;
    let kick_scene = rng.chance(0.15);
    let mut next_parcel = 1u32;
    let mut end_time: f64 = 0.0;
    let mut tags: Vec<&str> = Vec::new();
    // Everywhere a worker stands at some point: others keep clear of these.
    let mut spots: Vec<[f64; 2]> = Vec::new();
    for wid in 1..=n_workers {
        let height = rng.range(160.0, 188.0).round();
        let scale = height / 175.0;
        // Stand somewhere fully in view, clear of other workers and furniture.
        let mut pos = None;
        for _ in 0..60 {
            let xy = ctx.floor_at(rng.range(140.0, 628.0), rng.range(300.0, 540.0))?;
            if ctx.worker_ok(xy, height)
                && !blocked(xy, 45.0)
                && spots.iter().all(|p| dist(*p, xy) > 120.0)
                && s.parcels
                    .iter()
                    .filter_map(|p| p.at_cm)
                    .all(|p| dist(p, xy) > 90.0)
            {
                pos = Some(xy);
                break;
            }
        }
        let pos = pos?;
        spots.push(pos);
        let facing = rng.range(0.0, 360.0).round();
        s.workers.push(WorkerSpec {
            id: wid,
            at_cm: pos,
            facing_deg: facing,
            height_cm: height,
            shirt_rgb: *rng.pick(&SHIRTS),
            trousers_rgb: *rng.pick(&TROUSERS),
            skin_rgb: *rng.pick(&SKINS),
        });
        let size = [
            rng.range(25.0, 50.0).round(),
            rng.range(20.0, 35.0).round(),
            rng.range(12.0, 35.0).round(),
        ];
        let mut t = rng.range(0.2, 1.2);
        let mut here = pos;
        let mut face = facing;
        let act = |kind: ActionKind, t_s: f64| Action {
            worker: wid,
            t_s: (t_s * 100.0).round() / 100.0,
            kind,
            to_cm: None,
            speed_cm_s: 110.0,
            face_deg: None,
            parcel: None,
            drop_height_cm: None,
            distance_cm: None,
            direction_deg: None,
            loft_deg: 15.0,
        };
        if kick_scene && wid == 1 {
            // A parcel on the floor ahead, kicked along the floor.
            let d = rng.range(70.0, 110.0);
            let mut placed = None;
            for _ in 0..24 {
                let a = rng.range(0.0, 360.0).to_radians();
                let p = [round1(here[0] + a.cos() * d), round1(here[1] + a.sin() * d)];
                let k = rng.range(40.0, 150.0).round();
                let end = [p[0] + a.cos() * k, p[1] + a.sin() * k];
                if ctx.inside([p[0], p[1], 0.0], 30.0)
                    && ctx.inside([end[0], end[1], 0.0], 30.0)
                    && !blocked(p, 40.0)
                    && !blocked(end, 40.0)
                {
                    placed = Some((p, k));
                    break;
                }
            }
            let (p, k) = placed?;
            s.parcels.push(ParcelSpec {
                id: next_parcel,
                size_cm: size,
                held_by: None,
                at_cm: Some(p),
                yaw_deg: 0.0,
                shade: (next_parcel % 4) as u8,
            });
            let mut a = act(ActionKind::Kick, t);
            a.parcel = Some(next_parcel);
            a.distance_cm = Some(k);
            s.actions.push(a);
            next_parcel += 1;
            end_time = end_time.max(t + 1.3 + 1.0);
            tags.push("kick");
            continue;
        }
        let story = rng.f64();
        if story < 0.08 {
            // Just walking across.
            for _ in 0..20 {
                let a = rng.range(0.0, 360.0).to_radians();
                let to = [
                    round1(here[0] + a.cos() * 120.0),
                    round1(here[1] + a.sin() * 120.0),
                ];
                if ctx.worker_ok(to, height)
                    && !blocked(to, 45.0)
                    && spots[..spots.len() - 1]
                        .iter()
                        .all(|p| dist(*p, to) > 120.0)
                {
                    spots.push(to);
                    let mut w = act(ActionKind::Walk, t);
                    w.to_cm = Some(to);
                    s.actions.push(w);
                    end_time = end_time.max(t + 0.25 + 120.0 / 110.0);
                    tags.push("walk");
                    break;
                }
            }
            continue;
        }
        s.parcels.push(ParcelSpec {
            id: next_parcel,
            size_cm: size,
            held_by: Some(wid),
            at_cm: None,
            yaw_deg: 0.0,
            shade: (next_parcel % 4) as u8,
        });
        next_parcel += 1;
        // Sometimes carry it a little way first.
        if rng.chance(0.45) {
            for _ in 0..20 {
                let a = rng.range(0.0, 360.0).to_radians();
                let len = rng.range(50.0, 130.0);
                let to = [
                    round1(here[0] + a.cos() * len),
                    round1(here[1] + a.sin() * len),
                ];
                if ctx.worker_ok(to, height)
                    && !blocked(to, 45.0)
                    && s.workers
                        .iter()
                        .filter(|w| w.id != wid)
                        .all(|w| dist(w.at_cm, to) > 100.0)
                {
                    let mut c = act(ActionKind::Carry, t);
                    c.to_cm = Some(to);
                    s.actions.push(c);
                    t += 0.25 + len / 110.0 + 0.15;
                    here = to;
                    spots.push(to);
                    face = a.to_degrees();
                    break;
                }
            }
        }
        let reach = 18.0 * scale + size[1] / 2.0;
        // Place gently onto the belt or a cart when one is within reach.
        let furniture = if rng.chance(0.3) {
            find_surface_target(&surfaces, here, reach + 6.0)
        } else {
            None
        };
        if let Some(dir_deg) = furniture {
            let mut p = act(ActionKind::Place, t);
            p.direction_deg = Some(dir_deg);
            s.actions.push(p);
            end_time = end_time.max(t + 1.4);
            tags.push("place-on");
            continue;
        }
        let kind_roll = rng.f64();
        let (kind, h, d, tag) = if kind_roll < 0.45 {
            // Near the limit, in either measure.
            if rng.chance(0.5) {
                (
                    if rng.chance(0.5) {
                        ActionKind::Drop
                    } else {
                        ActionKind::Toss
                    },
                    rng.range(35.0, 65.0),
                    rng.range(0.0, 20.0),
                    "near-drop",
                )
            } else {
                (
                    ActionKind::Toss,
                    rng.range(10.0, 35.0),
                    rng.range(35.0, 65.0),
                    "near-throw",
                )
            }
        } else if kind_roll < 0.63 {
            (
                ActionKind::Toss,
                rng.range(20.0, 80.0),
                rng.range(70.0, 150.0),
                "throw",
            )
        } else if kind_roll < 0.75 {
            (
                ActionKind::Drop,
                rng.range(70.0, 120.0),
                rng.range(0.0, 15.0),
                "drop",
            )
        } else if kind_roll < 0.85 {
            (
                ActionKind::Toss,
                rng.range(3.0, 20.0),
                rng.range(0.0, 20.0),
                "gentle-toss",
            )
        } else {
            (ActionKind::Place, 0.0, 0.0, "place")
        };
        let (h, d) = ((h * 10.0).round() / 10.0, (d * 10.0).round() / 10.0);
        // A direction whose release and landing are in view and on the floor.
        let mut chosen = None;
        for k in 0..24 {
            let a = if k == 0 { face } else { rng.range(0.0, 360.0) };
            let ar = a.to_radians();
            let out = reach + if kind == ActionKind::Toss { 10.0 } else { 6.0 };
            let rel = [here[0] + ar.cos() * out, here[1] + ar.sin() * out];
            let land = [rel[0] + ar.cos() * d, rel[1] + ar.sin() * d];
            let slide = if kind == ActionKind::Place { 0.0 } else { 25.0 };
            let after = [land[0] + ar.cos() * slide, land[1] + ar.sin() * slide];
            if ctx.inside([land[0], land[1], 0.0], 30.0)
                && ctx.inside([after[0], after[1], 0.0], 20.0)
                && ctx.inside([rel[0], rel[1], h + 20.0], 15.0)
                && !blocked(land, 35.0)
                && !blocked(rel, 25.0)
                && !blocked(after, 30.0)
            {
                chosen = Some(a);
                break;
            }
        }
        let a = chosen?;
        let mut act_ = act(kind, t + 0.1);
        act_.direction_deg = Some(a.round());
        if kind != ActionKind::Place {
            act_.drop_height_cm = Some(h.max(1.0));
            act_.distance_cm = Some(d);
            act_.loft_deg = if kind == ActionKind::Toss {
                rng.range(5.0, 30.0).round()
            } else {
                15.0
            };
        }
        s.actions.push(act_);
        end_time = end_time.max(t + 0.1 + 1.3 + 0.6);
        tags.push(tag);
    }
    // Parcels riding the belt, in view for the whole scenario.
    if let Some(b) = s.scene.conveyor.clone() {
        let n_belt = rng.int(0, 2);
        let len = dist(b.start_cm, b.end_cm);
        let axis = [
            (b.end_cm[0] - b.start_cm[0]) / len,
            (b.end_cm[1] - b.start_cm[1]) / len,
        ];
        for _ in 0..n_belt {
            for _ in 0..20 {
                let along = rng.range(0.0, len);
                let p = [
                    round1(b.start_cm[0] + axis[0] * along),
                    round1(b.start_cm[1] + axis[1] * along),
                ];
                let q = [
                    p[0] + axis[0] * b.speed_cm_s * 8.0,
                    p[1] + axis[1] * b.speed_cm_s * 8.0,
                ];
                if ctx.inside([p[0], p[1], b.height_cm], 20.0)
                    && ctx.inside([q[0], q[1], b.height_cm], 20.0)
                    && s.parcels
                        .iter()
                        .filter_map(|x| x.at_cm)
                        .all(|x| dist(x, p) > 60.0)
                {
                    let size = [
                        rng.range(25.0, 45.0).round(),
                        rng.range(20.0, 35.0).round(),
                        rng.range(12.0, 30.0).round(),
                    ];
                    s.parcels.push(ParcelSpec {
                        id: next_parcel,
                        size_cm: size,
                        held_by: None,
                        at_cm: Some(p),
                        yaw_deg: 0.0,
                        shade: (next_parcel % 4) as u8,
                    });
                    next_parcel += 1;
                    break;
                }
            }
        }
    }
    s.duration_s = (end_time + rng.range(0.6, 1.5)).clamp(4.0, 8.0).ceil();
    let main = tags.first().copied().unwrap_or("idle");
    s.name = format!("g{g}-w{n_workers}-{main}-{i:04}");
    // The timeline must plan, and every landing fall inside the video.
    let plan = motion::plan(&s).ok()?;
    s.validate().ok()?;
    if plan.flights.iter().any(|f| f.t_land_s > s.duration_s - 0.3)
        || plan.kicks.iter().any(|k| k.t_s > s.duration_s - 0.5)
    {
        return None;
    }
    Some(s)
}

/// Direction (degrees) from `here` in which the point `reach` ahead lies on
/// the belt or a cart, if any.
fn find_surface_target(surfaces: &world::Surfaces, here: [f64; 2], reach: f64) -> Option<f64> {
    (0..72).map(|k| f64::from(k) * 5.0).find(|a| {
        let r = a.to_radians();
        let p = [here[0] + r.cos() * reach, here[1] + r.sin() * reach];
        let (h, _) = surfaces.at(p[0], p[1]);
        h > 0.0 && {
            // Well inside the surface, not on its edge.
            let q = [
                here[0] + r.cos() * (reach + 15.0),
                here[1] + r.sin() * (reach + 15.0),
            ];
            surfaces.at(q[0], q[1]).0 == h
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suite_is_deterministic_for_a_seed_and_differs_between_seeds() {
        let a = generate(12, 5);
        assert_eq!(a, generate(12, 5));
        assert_ne!(a, generate(12, 6));
    }

    #[test]
    fn suite_covers_geometries_rates_crews_near_limit_flights_and_kicks() {
        let suite = generate(200, 1);
        let mut geoms = std::collections::BTreeSet::new();
        let (mut fps15, mut fps25, mut near, mut kicks, mut places, mut belt_riders) =
            (0, 0, 0, 0, 0, 0);
        let mut crews = [0usize; 4];
        let mut distorted = 0;
        for s in &suite {
            let plan = motion::plan(s).unwrap();
            geoms.insert((s.camera.height_cm as i64, s.camera.tilt_deg as i64));
            distorted += usize::from(s.camera.distortion[0] != 0.0);
            if s.fps == 15.0 {
                fps15 += 1;
            } else if s.fps == 25.0 {
                fps25 += 1;
            }
            crews[s.workers.len().min(3)] += 1;
            near += plan
                .flights
                .iter()
                .filter(|f| {
                    (40.0..=60.0).contains(&f.drop_height_cm)
                        || (40.0..=60.0).contains(&f.throw_distance_cm)
                })
                .count();
            kicks += plan.kicks.len();
            places += plan.releases.iter().filter(|r| r.kind == "place").count();
            belt_riders += s
                .parcels
                .iter()
                .filter(|p| {
                    p.at_cm.is_some_and(|xy| {
                        world::Surfaces::new(s).at(xy[0], xy[1]).1 == world::Ground::Belt
                    })
                })
                .count();
            assert!(
                (4.0..=8.0).contains(&s.duration_s),
                "{}: {}",
                s.name,
                s.duration_s
            );
            assert!(!s.name.starts_with("walk-"), "fallback used for {}", s.name);
        }
        eprintln!(
            "suite(200, 1): {} geometries ({distorted} distorted), fps15 {fps15}, fps25 {fps25}, crews {:?}, near-limit flights {near}, kicks {kicks}, places {places}, belt riders {belt_riders}",
            geoms.len(),
            &crews[1..]
        );
        assert!(geoms.len() >= 6, "{geoms:?}");
        assert!(distorted > 20 && distorted < 180);
        assert!(fps15 > 40 && fps25 > 40);
        assert!(crews[1] > 0 && crews[2] > 0 && crews[3] > 0, "{crews:?}");
        assert!(near >= 40, "near-limit flights {near}");
        assert!(kicks >= 15, "kicks {kicks}");
        assert!(places >= 10 && belt_riders >= 10);
    }
}
