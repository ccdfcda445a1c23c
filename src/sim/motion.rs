//! The scenario's timeline worked out in advance: where each worker stands and
//! what their hands and feet aim at over time, each parcel's states (held,
//! flight, sliding, resting, riding the belt), and the truth that follows
//! (releases, flights, kicks). Poses are then evaluated at any instant.

use super::scenario::{ActionKind, Scenario};
use super::world::{cross, dot, Ground, Surfaces, V3};
use serde::Serialize;

/// Gravity, cm/s².
pub const G: f64 = 981.0;
/// Kicked parcels slide on the floor with this friction coefficient.
const KICK_MU: f64 = 0.35;
/// A landing keeps this share of the horizontal speed, then slides to rest.
const LANDING_KEEP: f64 = 0.25;
const LANDING_MU: f64 = 0.5;
/// Wrist to the end of the drawn hand (cm, for a 175 cm worker).
const HAND_CM: f64 = 7.0;

#[derive(Clone, Copy, Debug)]
enum Target {
    Rest,
    /// Worker-relative: forward, left, up (cm), follows the worker.
    Local(V3),
    World(V3),
}

#[derive(Clone, Copy, Debug)]
struct Key {
    t: f64,
    target: Target,
    /// Half the distance between the hands.
    hw: f64,
}

/// Two resolved key targets (position, half hand spacing) and the blend weight.
type Keyed = (Option<(V3, f64)>, Option<(V3, f64)>, f64);

#[derive(Clone, Copy, Debug)]
struct RootSeg {
    t0: f64,
    t1: f64,
    p0: [f64; 2],
    p1: [f64; 2],
    f0: f64,
    f1: f64,
    gait: bool,
    dist0: f64,
}

#[derive(Clone, Debug)]
pub(crate) struct WorkerPlan {
    pub id: u32,
    pub scale: f64,
    pub colours: [[u8; 3]; 3],
    start: ([f64; 2], f64),
    roots: Vec<RootSeg>,
    hands: Vec<Key>,
    foot: Vec<Key>,
}

#[derive(Clone, Copy, Debug)]
enum PSeg {
    Rest {
        c: V3,
    },
    Held {
        worker: usize,
    },
    Flight {
        p0: V3,
        v0: V3,
    },
    Slide {
        p0: V3,
        dir: [f64; 2],
        v0: f64,
        decel: f64,
    },
    Belt {
        p0: V3,
        stop_t: f64,
    },
}

#[derive(Clone, Debug)]
pub(crate) struct ParcelPlan {
    pub id: u32,
    pub size: V3,
    pub shade: u8,
    segs: Vec<(f64, PSeg, f64)>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Release {
    pub parcel: u32,
    pub worker: u32,
    pub t_s: f64,
    pub kind: &'static str,
    pub position_cm: V3,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Flight {
    pub parcel: u32,
    pub worker: u32,
    pub kind: &'static str,
    pub t_release_s: f64,
    pub t_land_s: f64,
    pub release_cm: V3,
    pub landing_cm: V3,
    pub drop_height_cm: f64,
    pub throw_distance_cm: f64,
    pub violation: bool,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Kick {
    pub parcel: u32,
    pub worker: u32,
    pub t_s: f64,
    pub distance_cm: f64,
    pub violation: bool,
}

pub(crate) struct Plan {
    pub workers: Vec<WorkerPlan>,
    pub parcels: Vec<ParcelPlan>,
    pub surfaces: Surfaces,
    pub releases: Vec<Release>,
    pub flights: Vec<Flight>,
    pub kicks: Vec<Kick>,
}

/// A worker's body at one instant: the 17 COCO keypoints plus what drawing needs.
#[derive(Clone, Debug)]
pub(crate) struct Body {
    pub kp: [V3; 17],
    pub pelvis: V3,
    pub chest: V3,
    pub neck_top: V3,
    pub head: V3,
    pub head_r: f64,
    pub face: V3,
    pub left: V3,
    pub up: V3,
    pub toes: [V3; 2],
    pub hand_tips: [V3; 2],
    pub s: f64,
}

fn fwd(f: f64) -> [f64; 2] {
    [f.cos(), f.sin()]
}
fn left_of(f: f64) -> [f64; 2] {
    [-f.sin(), f.cos()]
}
fn add(a: V3, b: V3) -> V3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}
fn sub(a: V3, b: V3) -> V3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
fn mul(a: V3, k: f64) -> V3 {
    [a[0] * k, a[1] * k, a[2] * k]
}
fn norm(a: V3) -> f64 {
    dot(a, a).sqrt()
}
fn unit(a: V3) -> V3 {
    let n = norm(a).max(1e-12);
    mul(a, 1.0 / n)
}
fn lerp3(a: V3, b: V3, t: f64) -> V3 {
    add(a, mul(sub(b, a), t))
}
fn smooth(t: f64) -> f64 {
    let t = t.clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}
fn angle_lerp(a: f64, b: f64, t: f64) -> f64 {
    let d = (b - a + std::f64::consts::PI).rem_euclid(std::f64::consts::TAU) - std::f64::consts::PI;
    a + d * t
}

/// Two-bone inverse kinematics: the middle joint and the (reachable) end.
fn ik(a: V3, target: V3, l1: f64, l2: f64, pole: V3) -> (V3, V3) {
    let to = sub(target, a);
    let d = norm(to).clamp((l1 - l2).abs() + 1e-3, l1 + l2 - 1e-3);
    let u = unit(to);
    let cos_a = ((l1 * l1 + d * d - l2 * l2) / (2.0 * l1 * d)).clamp(-1.0, 1.0);
    let along = l1 * cos_a;
    let h = l1 * (1.0 - cos_a * cos_a).sqrt();
    let mut p = sub(pole, mul(u, dot(pole, u)));
    if norm(p) < 1e-6 {
        p = cross(u, [0.0, 0.0, 1.0]);
    }
    let p = unit(p);
    let mid = add(add(a, mul(u, along)), mul(p, h));
    (mid, add(a, mul(u, d)))
}

impl WorkerPlan {
    /// Root position, facing and gait phase (radians) if walking.
    fn root(&self, t: f64) -> ([f64; 2], f64, Option<f64>) {
        let (mut p, mut f) = self.start;
        for s in &self.roots {
            if t < s.t0 {
                break;
            }
            if t <= s.t1 {
                let a = if s.t1 > s.t0 {
                    (t - s.t0) / (s.t1 - s.t0)
                } else {
                    1.0
                };
                let q = [
                    s.p0[0] + (s.p1[0] - s.p0[0]) * a,
                    s.p0[1] + (s.p1[1] - s.p0[1]) * a,
                ];
                let fa = angle_lerp(s.f0, s.f1, smooth(a));
                let dist = s.dist0 + (q[0] - s.p0[0]).hypot(q[1] - s.p0[1]);
                let phase = s
                    .gait
                    .then(|| dist / (140.0 * self.scale) * std::f64::consts::TAU);
                return (q, fa, phase);
            }
            p = s.p1;
            f = s.f1;
        }
        (p, f, None)
    }

    fn end_state(&self) -> ([f64; 2], f64, f64) {
        self.roots
            .last()
            .map(|s| {
                (
                    s.p1,
                    s.f1,
                    s.dist0 + (s.p1[0] - s.p0[0]).hypot(s.p1[1] - s.p0[1]),
                )
            })
            .unwrap_or((self.start.0, self.start.1, 0.0))
    }

    fn push_root(&mut self, t0: f64, t1: f64, p1: [f64; 2], f1: f64, gait: bool) {
        let (p0, f0, dist0) = self.end_state();
        self.roots.push(RootSeg {
            t0,
            t1,
            p0,
            p1,
            f0,
            f1,
            gait,
            dist0,
        });
    }

    fn resolve(&self, target: Target, t: f64) -> Option<V3> {
        match target {
            Target::Rest => None,
            Target::World(p) => Some(p),
            Target::Local(l) => {
                let (p, f, _) = self.root(t);
                let (a, b) = (fwd(f), left_of(f));
                Some([
                    p[0] + a[0] * l[0] + b[0] * l[1],
                    p[1] + a[1] * l[0] + b[1] * l[1],
                    l[2],
                ])
            }
        }
    }

    /// Interpolated keyed target: (from, to, weight) each possibly procedural.
    fn keyed(&self, keys: &[Key], t: f64) -> Keyed {
        let Some(i) = keys.iter().rposition(|k| k.t <= t) else {
            return (None, None, 0.0);
        };
        let k0 = keys[i];
        let r0 = self.resolve(k0.target, t).map(|p| (p, k0.hw));
        match keys.get(i + 1) {
            None => (r0, r0, 0.0),
            Some(k1) => {
                let r1 = self.resolve(k1.target, t).map(|p| (p, k1.hw));
                (r0, r1, smooth((t - k0.t) / (k1.t - k0.t).max(1e-9)))
            }
        }
    }

    /// Where the hands' centre is (the held parcel's centre), when keyed.
    fn hand_centre(&self, t: f64) -> Option<V3> {
        match self.keyed(&self.hands, t) {
            (Some((a, _)), Some((b, _)), w) => Some(lerp3(a, b, w)),
            (Some((a, _)), None, _) | (None, Some((a, _)), _) => Some(a),
            _ => None,
        }
    }

    pub fn body(&self, t: f64) -> Body {
        let s = self.scale;
        let (root, f, phase) = self.root(t);
        let (fa, la) = (fwd(f), left_of(f));
        let f3 = [fa[0], fa[1], 0.0];
        let l3 = [la[0], la[1], 0.0];
        let up = [0.0, 0.0, 1.0];
        let r3 = [root[0], root[1], 0.0];
        let sw = phase.map_or(0.0, f64::sin);
        let lift = |ph: f64| phase.map_or(0.0, |_| 9.0 * s * ph.cos().max(0.0));
        // Procedural hands and feet: relaxed arms (elbows a little bent,
        // swinging opposite the legs when walking), standing or walking legs.
        let hand_proc = |side: f64, swing: f64| {
            add(
                r3,
                add(
                    add(
                        mul(l3, side * 23.0 * s),
                        mul(f3, 12.0 * s + swing * 16.0 * s),
                    ),
                    [0.0, 0.0, (94.0 + 4.0 * swing.abs()) * s],
                ),
            )
        };
        let ph = phase.unwrap_or(0.0);
        let mut hands = [hand_proc(1.0, -sw), hand_proc(-1.0, sw)];
        let mut feet = [
            add(
                r3,
                add(
                    mul(l3, 10.0 * s),
                    add(mul(f3, 22.0 * s * sw), [0.0, 0.0, 8.0 * s + lift(ph)]),
                ),
            ),
            add(
                r3,
                add(
                    mul(l3, -10.0 * s),
                    add(
                        mul(f3, -22.0 * s * sw),
                        [0.0, 0.0, 8.0 * s + lift(ph + std::f64::consts::PI)],
                    ),
                ),
            ),
        ];
        let (h0, h1, w) = self.keyed(&self.hands, t);
        let pair = |r: Option<(V3, f64)>, procd: [V3; 2]| match r {
            Some((c, hw)) => [add(c, mul(l3, hw)), sub(c, mul(l3, hw))],
            None => procd,
        };
        let a = pair(h0, hands);
        let b = pair(h1, hands);
        hands = [lerp3(a[0], b[0], w), lerp3(a[1], b[1], w)];
        let (k0, k1, wf) = self.keyed(&self.foot, t);
        let fa0 = k0.map_or(feet[1], |k| k.0);
        let fa1 = k1.map_or(feet[1], |k| k.0);
        feet[1] = lerp3(fa0, fa1, wf);

        // Bend (pelvis down, torso forward) just enough for the hands to reach.
        let hip_z = 92.0 * s;
        let torso = 53.0 * s;
        let (upper, fore) = (30.0 * s, 27.0 * s);
        let sh_half = 19.0 * s;
        let frame = |b: f64| {
            let pitch = 65f64.to_radians() * b;
            let pelvis = add(
                r3,
                add(mul(f3, -12.0 * s * b), [0.0, 0.0, hip_z - 50.0 * s * b]),
            );
            let dir = add(mul(f3, pitch.sin()), [0.0, 0.0, pitch.cos()]);
            (pelvis, dir, pitch)
        };
        let keyed = h0.is_some() || h1.is_some();
        let mut bend = if keyed { 1.0 } else { 0.0 };
        for i in 0..=20 {
            if !keyed {
                break;
            }
            let b = f64::from(i) / 20.0;
            let (pelvis, dir, _) = frame(b);
            let chest = add(pelvis, mul(dir, torso));
            let ok = (0..2).all(|k| {
                let side = if k == 0 { 1.0 } else { -1.0 };
                let sh = add(chest, mul(l3, side * sh_half));
                norm(sub(hands[k], sh)) <= 0.97 * (upper + fore)
            });
            if ok {
                bend = b;
                break;
            }
        }
        let (pelvis, dir, pitch) = frame(bend);
        let bob = phase.map_or(0.0, |p| 1.5 * s * (2.0 * p).cos());
        let pelvis = add(pelvis, [0.0, 0.0, bob]);
        let chest = add(pelvis, mul(dir, torso));
        let neck_top = add(chest, mul(dir, 9.0 * s));
        let head_r = 11.0 * s;
        let head = add(neck_top, mul(dir, head_r * 0.95));
        let hp = pitch * 0.5;
        let face = add(mul(f3, hp.cos()), [0.0, 0.0, -hp.sin()]);
        let head_up = cross(face, l3);
        let mut kp = [[0.0; 3]; 17];
        kp[0] = add(head, mul(face, head_r * 0.98));
        for (i, side) in [(1, 1.0), (2, -1.0)] {
            kp[i] = add(
                head,
                add(
                    add(mul(face, head_r * 0.82), mul(l3, side * head_r * 0.38)),
                    mul(head_up, head_r * 0.25),
                ),
            );
        }
        for (i, side) in [(3, 1.0), (4, -1.0)] {
            kp[i] = add(
                head,
                add(mul(l3, side * head_r * 0.97), mul(face, -head_r * 0.1)),
            );
        }
        let mut hand_tips = [[0.0; 3]; 2];
        for k in 0..2 {
            let side = if k == 0 { 1.0 } else { -1.0 };
            let sh = add(chest, mul(l3, side * sh_half));
            let pole = add(add(mul(up, -1.0), mul(l3, side * 0.6)), mul(f3, -0.4));
            let (el, wr) = ik(sh, hands[k], upper, fore, pole);
            kp[5 + k] = sh;
            kp[7 + k] = el;
            kp[9 + k] = wr;
            hand_tips[k] = add(wr, mul(unit(sub(wr, el)), HAND_CM * s));
        }
        let mut toes = [[0.0; 3]; 2];
        for k in 0..2 {
            let side = if k == 0 { 1.0 } else { -1.0 };
            let hip = add(pelvis, mul(l3, side * 10.0 * s));
            let pole = add(f3, [0.0, 0.0, 0.1]);
            let (knee, ankle) = ik(hip, feet[k], 42.0 * s, 42.0 * s, pole);
            kp[11 + k] = hip;
            kp[13 + k] = knee;
            kp[15 + k] = ankle;
            let shin = unit(sub(ankle, knee));
            // The foot points forward, tipping with the shin when it swings.
            let foot_dir = unit(add(mul(f3, 1.0), mul(shin, 0.3)));
            toes[k] = add(add(ankle, mul(foot_dir, 14.0 * s)), [0.0, 0.0, -3.0 * s]);
        }
        Body {
            kp,
            pelvis,
            chest,
            neck_top,
            head,
            head_r,
            face,
            left: l3,
            up: head_up,
            toes,
            hand_tips,
            s,
        }
    }
}

/// State label used in frames.jsonl.
fn state_name(seg: &PSeg) -> &'static str {
    match seg {
        PSeg::Rest { .. } => "rest",
        PSeg::Held { .. } => "held",
        PSeg::Flight { .. } => "air",
        PSeg::Slide { .. } => "sliding",
        PSeg::Belt { .. } => "belt",
    }
}

impl Plan {
    /// Parcel centre, yaw (radians) and state at time t.
    pub fn parcel_at(&self, i: usize, t: f64) -> (V3, f64, &'static str) {
        let p = &self.parcels[i];
        let k = p.segs.iter().rposition(|(t0, _, _)| *t0 <= t).unwrap_or(0);
        let (t0, seg, yaw) = p.segs[k];
        let dt = (t - t0).max(0.0);
        let c = match seg {
            PSeg::Rest { c } => c,
            PSeg::Held { worker } => {
                let w = &self.workers[worker];
                let (_, f, _) = w.root(t);
                let c = w.hand_centre(t).unwrap_or([0.0; 3]);
                return (c, f + std::f64::consts::FRAC_PI_2, "held");
            }
            PSeg::Flight { p0, v0 } => [
                p0[0] + v0[0] * dt,
                p0[1] + v0[1] * dt,
                p0[2] + v0[2] * dt - 0.5 * G * dt * dt,
            ],
            PSeg::Slide { p0, dir, v0, decel } => {
                let stop = v0 / decel;
                let tt = dt.min(stop);
                let d = v0 * tt - 0.5 * decel * tt * tt;
                [p0[0] + dir[0] * d, p0[1] + dir[1] * d, p0[2]]
            }
            PSeg::Belt { p0, stop_t } => {
                let (b, v) = self
                    .surfaces
                    .belt
                    .as_ref()
                    .map_or(([1.0, 0.0], 0.0), |(s, v)| (s.axis, *v));
                let d = v * dt.min(stop_t - t0);
                [p0[0] + b[0] * d, p0[1] + b[1] * d, p0[2]]
            }
        };
        (c, yaw, state_name(&seg))
    }

    pub fn worker_index(&self, id: u32) -> Option<usize> {
        self.workers.iter().position(|w| w.id == id)
    }
}

fn seg_push(p: &mut ParcelPlan, t: f64, seg: PSeg, yaw: f64) {
    p.segs.retain(|(t0, _, _)| *t0 < t);
    p.segs.push((t, seg, yaw));
}

/// Puts a parcel at rest at `c` (centre) at time t: on the belt it rides.
fn settle(plan: &mut Plan, pi: usize, t: f64, c: V3, yaw: f64) {
    let (_, ground) = plan.surfaces.at(c[0], c[1]);
    if ground == Ground::Belt {
        if let Some((b, v)) = plan.surfaces.belt.clone() {
            let l = b.local(c[0], c[1]);
            let size = plan.parcels[pi].size;
            let room = (b.half[0] - size[0] / 2.0 - l[0]).max(0.0);
            let stop_t = if v > 0.0 { t + room / v } else { t };
            seg_push(
                &mut plan.parcels[pi],
                t,
                PSeg::Belt { p0: c, stop_t },
                b.axis[1].atan2(b.axis[0]),
            );
            let end = [c[0] + b.axis[0] * room, c[1] + b.axis[1] * room, c[2]];
            let yaw_b = b.axis[1].atan2(b.axis[0]);
            plan.parcels[pi]
                .segs
                .push((stop_t.max(t + 1e-6), PSeg::Rest { c: end }, yaw_b));
            return;
        }
    }
    seg_push(&mut plan.parcels[pi], t, PSeg::Rest { c }, yaw);
}

/// Slides from `c` with speed v0 along dir, then rests.
#[allow(clippy::too_many_arguments)]
fn slide(
    plan: &mut Plan,
    pi: usize,
    t: f64,
    c: V3,
    dir: [f64; 2],
    v0: f64,
    mu: f64,
    yaw: f64,
) -> f64 {
    let decel = mu * G;
    let dist = v0 * v0 / (2.0 * decel);
    let t_stop = t + v0 / decel;
    let end = [c[0] + dir[0] * dist, c[1] + dir[1] * dist, c[2]];
    if v0 > 1e-9 {
        seg_push(
            &mut plan.parcels[pi],
            t,
            PSeg::Slide {
                p0: c,
                dir,
                v0,
                decel,
            },
            yaw,
        );
        plan.parcels[pi]
            .segs
            .push((t_stop, PSeg::Rest { c: end }, yaw));
    } else {
        seg_push(&mut plan.parcels[pi], t, PSeg::Rest { c }, yaw);
    }
    dist
}

/// Works out the whole timeline; errors name the action (`actions[i]`).
pub(crate) fn plan(s: &Scenario) -> std::result::Result<Plan, String> {
    let surfaces = Surfaces::new(s);
    let workers: Vec<WorkerPlan> = s
        .workers
        .iter()
        .map(|w| WorkerPlan {
            id: w.id,
            scale: w.height_cm / 175.0,
            colours: [w.shirt_rgb, w.trousers_rgb, w.skin_rgb],
            start: (w.at_cm, w.facing_deg.to_radians()),
            roots: Vec::new(),
            hands: Vec::new(),
            foot: Vec::new(),
        })
        .collect();
    let mut plan = Plan {
        workers,
        parcels: Vec::new(),
        surfaces,
        releases: Vec::new(),
        flights: Vec::new(),
        kicks: Vec::new(),
    };
    let mut holding: Vec<Option<usize>> = vec![None; plan.workers.len()];
    for p in &s.parcels {
        plan.parcels.push(ParcelPlan {
            id: p.id,
            size: p.size_cm,
            shade: p.shade,
            segs: Vec::new(),
        });
        let pi = plan.parcels.len() - 1;
        let yaw = p.yaw_deg.to_radians();
        if let Some(w) = p.held_by {
            let wi = plan.worker_index(w).ok_or("held_by names no worker")?;
            holding[wi] = Some(pi);
            let sc = plan.workers[wi].scale;
            plan.workers[wi].hands.push(Key {
                t: 0.0,
                target: Target::Local(carry_local(sc, p.size_cm)),
                hw: p.size_cm[0] / 2.0 + 2.0,
            });
            plan.parcels[pi]
                .segs
                .push((0.0, PSeg::Held { worker: wi }, 0.0));
        } else if let Some([x, y]) = p.at_cm {
            let (h, _) = plan.surfaces.at(x, y);
            settle(&mut plan, pi, 0.0, [x, y, h + p.size_cm[2] / 2.0], yaw);
        }
    }
    let mut order: Vec<usize> = (0..s.actions.len()).collect();
    order.sort_by(|&a, &b| s.actions[a].t_s.total_cmp(&s.actions[b].t_s));
    let mut busy: Vec<(f64, usize)> = vec![(0.0, usize::MAX); plan.workers.len()];
    for ai in order {
        let a = &s.actions[ai];
        let name = a.kind.name();
        let err = |m: String| format!("actions[{ai}] ({name}, worker {}): {m}", a.worker);
        let wi = plan
            .worker_index(a.worker)
            .ok_or_else(|| err("no such worker".into()))?;
        if a.t_s < busy[wi].0 {
            return Err(err(format!(
                "starts at {} s while actions[{}] runs until {:.2} s; move `t_s` later",
                a.t_s, busy[wi].1, busy[wi].0
            )));
        }
        let t0 = a.t_s;
        let (pos, facing, _) = plan.workers[wi].end_state();
        let sc = plan.workers[wi].scale;
        let end = match a.kind {
            ActionKind::Walk | ActionKind::Carry => {
                if a.kind == ActionKind::Carry && holding[wi].is_none() {
                    return Err(err(
                        "the worker holds no parcel to carry; use walk, or pick one first".into(),
                    ));
                }
                let to = a.to_cm.unwrap_or(pos);
                let d = (to[0] - pos[0]).hypot(to[1] - pos[1]);
                let heading = if d > 1.0 {
                    (to[1] - pos[1]).atan2(to[0] - pos[0])
                } else {
                    facing
                };
                let w = &mut plan.workers[wi];
                w.push_root(t0, t0 + 0.25, pos, heading, false);
                let t1 = t0 + 0.25 + d / a.speed_cm_s;
                w.push_root(t0 + 0.25, t1, to, heading, true);
                match a.face_deg {
                    Some(fd) => {
                        w.push_root(t1, t1 + 0.3, to, fd.to_radians(), false);
                        t1 + 0.3
                    }
                    None => t1,
                }
            }
            ActionKind::Pick => {
                if holding[wi].is_some() {
                    return Err(err(
                        "the worker's hands are full; place, toss or drop first".into(),
                    ));
                }
                let pi = parcel_index(&plan, a.parcel, &err)?;
                let tg = t0 + 0.9;
                let (c, yaw, state) = plan.parcel_at(pi, tg);
                if !matches!(state, "rest" | "belt") {
                    return Err(err(format!(
                        "parcel {} is {state} at {tg:.2} s, not resting",
                        plan.parcels[pi].id
                    )));
                }
                // Face across the parcel's length so the hands grip its ends.
                let to_p = (c[1] - pos[1]).atan2(c[0] - pos[0]);
                let cand = [
                    yaw + std::f64::consts::FRAC_PI_2,
                    yaw - std::f64::consts::FRAC_PI_2,
                ];
                let face = *cand
                    .iter()
                    .min_by(|x, y| {
                        angle_lerp(to_p, **x, 1.0)
                            .sub_abs(to_p)
                            .total_cmp(&angle_lerp(to_p, **y, 1.0).sub_abs(to_p))
                    })
                    .unwrap_or(&to_p);
                let size = plan.parcels[pi].size;
                let reach = 18.0 * sc + size[1] / 2.0;
                let stand = [c[0] - face.cos() * reach, c[1] - face.sin() * reach];
                let d = (stand[0] - pos[0]).hypot(stand[1] - pos[1]);
                if d > 150.0 {
                    return Err(err(format!(
                        "parcel {} is {d:.0} cm from where the worker stands; walk within 150 cm first",
                        plan.parcels[pi].id
                    )));
                }
                let w = &mut plan.workers[wi];
                w.push_root(t0, t0 + 0.5, stand, face, d > 5.0);
                let hw = size[0] / 2.0 + 2.0;
                w.hands.push(Key {
                    t: t0 + 0.5,
                    target: Target::Rest,
                    hw,
                });
                w.hands.push(Key {
                    t: tg,
                    target: Target::World(c),
                    hw,
                });
                w.hands.push(Key {
                    t: t0 + 1.5,
                    target: Target::Local(carry_local(sc, size)),
                    hw,
                });
                seg_push(&mut plan.parcels[pi], tg, PSeg::Held { worker: wi }, 0.0);
                holding[wi] = Some(pi);
                t0 + 1.5
            }
            ActionKind::Place | ActionKind::Toss | ActionKind::Drop => {
                let pi = holding[wi].ok_or_else(|| {
                    err("the worker holds no parcel; pick one first or set `held_by`".into())
                })?;
                let size = plan.parcels[pi].size;
                let hw = size[0] / 2.0 + 2.0;
                let carry = carry_local(sc, size);
                let dir_a = a.direction_deg.map_or(facing, f64::to_radians);
                let dir = fwd(dir_a);
                let reach = carry[0]
                    + if a.kind == ActionKind::Toss {
                        10.0
                    } else {
                        6.0
                    };
                let w = &mut plan.workers[wi];
                if (angle_lerp(facing, dir_a, 1.0) - facing).abs() > 1e-6 {
                    w.push_root(t0, t0 + 0.3, pos, dir_a, false);
                }
                let rxy = [pos[0] + dir[0] * reach, pos[1] + dir[1] * reach];
                let yaw = dir_a + std::f64::consts::FRAC_PI_2;
                w.hands.push(Key {
                    t: t0,
                    target: Target::Local(carry),
                    hw,
                });
                let (t_rel, end) = match a.kind {
                    ActionKind::Place => (t0 + 0.9, t0 + 1.4),
                    ActionKind::Toss => (t0 + 0.7, t0 + 1.3),
                    _ => (t0 + 0.5, t0 + 1.0),
                };
                if a.kind == ActionKind::Place {
                    let (h, _) = plan.surfaces.at(rxy[0], rxy[1]);
                    let c = [rxy[0], rxy[1], h + size[2] / 2.0];
                    let w = &mut plan.workers[wi];
                    w.hands.push(Key {
                        t: t_rel,
                        target: Target::World(c),
                        hw,
                    });
                    w.hands.push(Key {
                        t: end,
                        target: Target::Rest,
                        hw,
                    });
                    settle(&mut plan, pi, t_rel, c, yaw);
                    plan.releases.push(Release {
                        parcel: plan.parcels[pi].id,
                        worker: a.worker,
                        t_s: t_rel,
                        kind: "place",
                        position_cm: c,
                    });
                } else {
                    let h = a.drop_height_cm.unwrap_or(0.0);
                    let dist = a.distance_cm.unwrap_or(if a.kind == ActionKind::Toss {
                        80.0
                    } else {
                        0.0
                    });
                    let land_xy = [rxy[0] + dir[0] * dist, rxy[1] + dir[1] * dist];
                    let (surf_h, ground) = plan.surfaces.at(land_xy[0], land_xy[1]);
                    let land = [land_xy[0], land_xy[1], surf_h + size[2] / 2.0];
                    let rel = [rxy[0], rxy[1], land[2] + h];
                    if rel[2] > 200.0 * sc {
                        return Err(err(format!(
                            "the release would be {:.0} cm up (over a {:.0} cm surface), out of reach; lower `drop_height_cm`",
                            rel[2], surf_h
                        )));
                    }
                    let tan = if a.kind == ActionKind::Toss {
                        a.loft_deg.to_radians().tan()
                    } else {
                        0.0
                    };
                    let lift = h + dist * tan;
                    if lift <= 0.1 {
                        return Err(err("this loft_deg sends the parcel downward too steeply to cover `distance_cm`; raise `loft_deg`".into()));
                    }
                    let tf = (2.0 * lift / G).sqrt();
                    let vh = dist / tf;
                    let v0 = [dir[0] * vh, dir[1] * vh, vh * tan];
                    let w = &mut plan.workers[wi];
                    if a.kind == ActionKind::Toss {
                        let wind = [
                            carry[0] - 8.0,
                            0.0,
                            (0.5 * (carry[2] + rel[2]) - 20.0).max(30.0),
                        ];
                        w.hands.push(Key {
                            t: t0 + 0.4,
                            target: Target::Local(wind),
                            hw,
                        });
                        w.hands.push(Key {
                            t: t_rel,
                            target: Target::World(rel),
                            hw,
                        });
                        let follow = [rel[0] + dir[0] * 15.0, rel[1] + dir[1] * 15.0, rel[2] + 8.0];
                        w.hands.push(Key {
                            t: t_rel + 0.15,
                            target: Target::World(follow),
                            hw,
                        });
                    } else {
                        w.hands.push(Key {
                            t: t_rel,
                            target: Target::World(rel),
                            hw,
                        });
                        w.hands.push(Key {
                            t: t_rel + 0.15,
                            target: Target::World(add(rel, [0.0, 0.0, 4.0])),
                            hw: hw + 12.0,
                        });
                    }
                    w.hands.push(Key {
                        t: end,
                        target: Target::Rest,
                        hw,
                    });
                    seg_push(
                        &mut plan.parcels[pi],
                        t_rel,
                        PSeg::Flight { p0: rel, v0 },
                        yaw,
                    );
                    let t_land = t_rel + tf;
                    if ground == Ground::Belt {
                        settle(&mut plan, pi, t_land, land, yaw);
                    } else {
                        slide(
                            &mut plan,
                            pi,
                            t_land,
                            land,
                            dir,
                            vh * LANDING_KEEP,
                            LANDING_MU,
                            yaw,
                        );
                    }
                    let kind = if a.kind == ActionKind::Toss {
                        "toss"
                    } else {
                        "drop"
                    };
                    let throw = dist;
                    plan.releases.push(Release {
                        parcel: plan.parcels[pi].id,
                        worker: a.worker,
                        t_s: t_rel,
                        kind,
                        position_cm: rel,
                    });
                    plan.flights.push(Flight {
                        parcel: plan.parcels[pi].id,
                        worker: a.worker,
                        kind,
                        t_release_s: t_rel,
                        t_land_s: t_land,
                        release_cm: rel,
                        landing_cm: land,
                        drop_height_cm: rel[2] - land[2],
                        throw_distance_cm: throw,
                        violation: rel[2] - land[2] > s.limits.max_drop_cm
                            || throw > s.limits.max_throw_cm,
                    });
                }
                holding[wi] = None;
                end
            }
            ActionKind::Kick => {
                if holding[wi].is_some() {
                    return Err(err(
                        "the worker holds a parcel; put it down before kicking".into()
                    ));
                }
                let pi = parcel_index(&plan, a.parcel, &err)?;
                let tc = t0 + 0.75;
                let (c, yaw, state) = plan.parcel_at(pi, tc);
                let (surf_h, ground) = plan.surfaces.at(c[0], c[1]);
                if state != "rest" || ground != Ground::Floor {
                    return Err(err(format!(
                        "parcel {} is not resting on the floor at {tc:.2} s ({state} at {surf_h:.0} cm)",
                        plan.parcels[pi].id
                    )));
                }
                let dl = (c[0] - pos[0]).hypot(c[1] - pos[1]);
                let da = if dl > 1.0 {
                    (c[1] - pos[1]).atan2(c[0] - pos[0])
                } else {
                    facing
                };
                let dir = fwd(da);
                let right = [da.sin(), -da.cos()];
                let size = plan.parcels[pi].size;
                let e = (dir[0] * yaw.cos() + dir[1] * yaw.sin()).abs() * size[0] / 2.0
                    + (-dir[0] * yaw.sin() + dir[1] * yaw.cos()).abs() * size[1] / 2.0;
                let contact = [
                    c[0] - dir[0] * (e + 4.0),
                    c[1] - dir[1] * (e + 4.0),
                    12.0 * sc,
                ];
                let stand = [
                    contact[0] - dir[0] * 30.0 * sc - right[0] * 10.0 * sc,
                    contact[1] - dir[1] * 30.0 * sc - right[1] * 10.0 * sc,
                ];
                let d = (stand[0] - pos[0]).hypot(stand[1] - pos[1]);
                if d > 150.0 {
                    return Err(err(format!(
                        "parcel {} is {d:.0} cm from where the worker stands; walk within 150 cm first",
                        plan.parcels[pi].id
                    )));
                }
                let w = &mut plan.workers[wi];
                w.push_root(t0, t0 + 0.45, stand, da, d > 5.0);
                let back = [
                    stand[0] - dir[0] * 22.0 * sc + right[0] * 10.0 * sc,
                    stand[1] - dir[1] * 22.0 * sc + right[1] * 10.0 * sc,
                    30.0 * sc,
                ];
                let through = [
                    contact[0] + dir[0] * 15.0,
                    contact[1] + dir[1] * 15.0,
                    contact[2] + 10.0,
                ];
                for (t, target) in [
                    (t0 + 0.45, Target::Rest),
                    (t0 + 0.62, Target::World(back)),
                    (tc, Target::World(contact)),
                    (tc + 0.1, Target::World(through)),
                    (t0 + 1.3, Target::Rest),
                ] {
                    w.foot.push(Key { t, target, hw: 0.0 });
                }
                let dist = a.distance_cm.unwrap_or(50.0);
                let v0 = (2.0 * KICK_MU * G * dist).sqrt();
                slide(&mut plan, pi, tc, c, dir, v0, KICK_MU, yaw);
                plan.kicks.push(Kick {
                    parcel: plan.parcels[pi].id,
                    worker: a.worker,
                    t_s: tc,
                    distance_cm: dist,
                    violation: true,
                });
                t0 + 1.3
            }
        };
        busy[wi] = (end, ai);
    }
    plan.releases.sort_by(|a, b| a.t_s.total_cmp(&b.t_s));
    plan.flights
        .sort_by(|a, b| a.t_release_s.total_cmp(&b.t_release_s));
    plan.kicks.sort_by(|a, b| a.t_s.total_cmp(&b.t_s));
    Ok(plan)
}

trait SubAbs {
    fn sub_abs(self, o: f64) -> f64;
}
impl SubAbs for f64 {
    fn sub_abs(self, o: f64) -> f64 {
        (self - o).abs()
    }
}

fn parcel_index(
    plan: &Plan,
    id: Option<u32>,
    err: &dyn Fn(String) -> String,
) -> std::result::Result<usize, String> {
    let id = id.ok_or_else(|| err("`parcel` is required".into()))?;
    plan.parcels
        .iter()
        .position(|p| p.id == id)
        .ok_or_else(|| err(format!("parcel {id} is not in [[parcels]]")))
}

/// Where a carried parcel's centre sits relative to the worker: against the belly.
fn carry_local(scale: f64, size: V3) -> V3 {
    [18.0 * scale + size[1] / 2.0, 0.0, 106.0 * scale]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(extra: &str) -> Scenario {
        let text = format!(
            r#"
name = "physics"
fps = 25
duration_s = 8.0
[camera]
height_cm = 350
tilt_deg = 45
[scene.conveyor]
start_cm = [-400, 600]
end_cm = [400, 600]
height_cm = 75
speed_cm_s = 40
[[scene.carts]]
centre_cm = [200, 300]
height_cm = 60
[[workers]]
id = 1
at_cm = [0, 300]
[[parcels]]
id = 1
size_cm = [40, 30, 20]
held_by = 1
[[parcels]]
id = 2
size_cm = [30, 30, 30]
at_cm = [-200, 600]
[[parcels]]
id = 3
size_cm = [40, 30, 20]
at_cm = [-100, 250]
{extra}"#
        );
        Scenario::parse(&text).unwrap()
    }

    /// First instant the parcel's centre is at `z` or below, found by bisection
    /// on the rendered trajectory (not on the plan's own landing time).
    fn contact_time(p: &Plan, i: usize, t0: f64, z: f64) -> f64 {
        let (mut lo, mut hi) = (t0, t0 + 3.0);
        assert!(p.parcel_at(i, hi).0[2] <= z + 1e-9);
        for _ in 0..60 {
            let mid = 0.5 * (lo + hi);
            if p.parcel_at(i, mid).0[2] <= z + 1e-9 && p.parcel_at(i, mid).2 != "held" {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        hi
    }

    #[test]
    fn dropped_parcel_falls_its_drop_height_and_lands_when_gravity_says() {
        let s = scenario(
            "[[actions]]\nworker = 1\nt_s = 0.5\nkind = \"drop\"\ndrop_height_cm = 62.5\n",
        );
        let p = plan(&s).unwrap();
        let f = &p.flights[0];
        assert!((f.drop_height_cm - 62.5).abs() < 0.1, "{f:?}");
        assert!(f.violation && f.kind == "drop");
        // The trajectory itself: released at the truth point, lands on the floor.
        let (rel, _, st) = p.parcel_at(0, f.t_release_s);
        assert_eq!(st, "air");
        assert!((rel[2] - f.release_cm[2]).abs() < 1e-9);
        let t_land = contact_time(&p, 0, f.t_release_s, 10.0);
        let predicted = f.t_release_s + (2.0 * 62.5 / G).sqrt();
        assert!(
            (t_land - predicted).abs() < 1e-6 && (f.t_land_s - predicted).abs() < 1e-9,
            "{t_land} vs {predicted}"
        );
        assert!(
            (f.landing_cm[2] - 10.0).abs() < 1e-9,
            "lands on the floor: centre at half the height"
        );
        assert_eq!(p.releases.len(), 1);
    }

    #[test]
    fn drop_onto_a_cart_measures_from_the_cart_top() {
        // Facing +x from (140, 300): the release point is over the cart (top 60 cm).
        let s = scenario(
            "[[actions]]\nworker = 1\nt_s = 0.2\nkind = \"walk\"\nto_cm = [140, 300]\n[[actions]]\nworker = 1\nt_s = 2.0\nkind = \"drop\"\ndrop_height_cm = 30\n",
        );
        let p = plan(&s).unwrap();
        let f = &p.flights[0];
        assert!((f.landing_cm[2] - 70.0).abs() < 1e-9, "{f:?}");
        assert!((f.release_cm[2] - f.landing_cm[2] - 30.0).abs() < 0.1 && !f.violation);
        let t = contact_time(&p, 0, f.t_release_s, 70.0);
        assert!((t - f.t_land_s).abs() < 1e-6);
    }

    #[test]
    fn toss_lands_at_the_requested_distance_and_height() {
        let s = scenario(
            "[[actions]]\nworker = 1\nt_s = 0.5\nkind = \"toss\"\ndrop_height_cm = 40\ndistance_cm = 82\nloft_deg = 20\n",
        );
        let p = plan(&s).unwrap();
        let f = &p.flights[0];
        let (at_land, _, _) = p.parcel_at(0, f.t_land_s);
        let d = (at_land[0] - f.release_cm[0]).hypot(at_land[1] - f.release_cm[1]);
        assert!(
            (d - 82.0).abs() < 1e-6 && (f.throw_distance_cm - 82.0).abs() < 1e-9,
            "{d}"
        );
        assert!((at_land[2] - f.landing_cm[2]).abs() < 1e-6);
        assert!((f.drop_height_cm - 40.0).abs() < 1e-9 && f.violation);
        // It rose first (loft), then fell.
        let apex = p.parcel_at(0, f.t_release_s + 0.05).0[2];
        assert!(apex > f.release_cm[2]);
        // Then it slides a little and rests on the floor.
        let (rest, _, st) = p.parcel_at(0, 7.9);
        assert_eq!(st, "rest");
        assert!((rest[2] - 10.0).abs() < 1e-9);
    }

    #[test]
    fn kicked_parcel_slides_the_truth_distance_and_stops() {
        let s = scenario("[[actions]]\nworker = 1\nt_s = 0.5\nkind = \"place\"\n[[actions]]\nworker = 1\nt_s = 2.5\nkind = \"kick\"\nparcel = 3\ndistance_cm = 120\n");
        let p = plan(&s).unwrap();
        let k = &p.kicks[0];
        let (before, _, st0) = p.parcel_at(2, k.t_s - 0.01);
        assert_eq!(st0, "rest");
        let (during, _, st1) = p.parcel_at(2, k.t_s + 0.1);
        assert_eq!(st1, "sliding");
        assert!(during != before);
        let (after, _, st2) = p.parcel_at(2, 7.9);
        assert_eq!(st2, "rest");
        let d = (after[0] - before[0]).hypot(after[1] - before[1]);
        assert!(
            (d - 120.0).abs() < 1e-6 && k.distance_cm == 120.0 && k.violation,
            "{d}"
        );
        // A kick is not a release; the gentle place before it is.
        assert_eq!(p.releases.len(), 1);
        assert_eq!(p.releases[0].kind, "place");
        assert!(p.flights.is_empty());
        // The kicking foot reaches the parcel at the contact instant.
        let ankle = p.workers[0].body(k.t_s).kp[16];
        let gap = (ankle[0] - before[0]).hypot(ankle[1] - before[1]);
        assert!(
            gap < 40.0,
            "ankle {gap:.0} cm from the parcel centre at contact"
        );
    }

    #[test]
    fn belt_parcel_rides_at_belt_speed_and_is_no_flight() {
        let s = scenario("");
        let p = plan(&s).unwrap();
        let (a, _, st) = p.parcel_at(1, 1.0);
        let (b, _, _) = p.parcel_at(1, 2.0);
        assert_eq!(st, "belt");
        assert!(((b[0] - a[0]) - 40.0).abs() < 1e-9 && (b[1] - a[1]).abs() < 1e-9);
        assert!((a[2] - (75.0 + 15.0)).abs() < 1e-9);
        assert!(p.flights.is_empty() && p.releases.is_empty());
    }

    #[test]
    fn gentle_place_releases_at_rest_on_the_surface_without_a_flight() {
        let s = scenario("[[actions]]\nworker = 1\nt_s = 0.5\nkind = \"place\"\n");
        let p = plan(&s).unwrap();
        assert!(p.flights.is_empty());
        let r = &p.releases[0];
        assert_eq!(r.kind, "place");
        assert!((r.position_cm[2] - 10.0).abs() < 1e-9);
        let (c, _, st) = p.parcel_at(0, r.t_s + 1.0);
        assert_eq!(st, "rest");
        assert_eq!(c, r.position_cm);
    }

    #[test]
    fn actions_that_cannot_happen_are_refused_naming_the_action() {
        let s = scenario("[[actions]]\nworker = 1\nt_s = 0.5\nkind = \"pick\"\nparcel = 3\n");
        let err = plan(&s).err().unwrap();
        assert!(
            err.contains("actions[0]") && err.contains("hands are full"),
            "{err}"
        );
        let s = scenario("[[actions]]\nworker = 1\nt_s = 0.5\nkind = \"drop\"\ndrop_height_cm = 20\n[[actions]]\nworker = 1\nt_s = 1.0\nkind = \"walk\"\nto_cm = [0, 0]\n");
        let err = plan(&s).err().unwrap();
        assert!(err.contains("actions[1]") && err.contains("t_s"), "{err}");
    }
}
