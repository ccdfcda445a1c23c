//! Rules: sans-I/O state machines that turn tracks into events. A parcel track
//! that appears at a worker's hands is one handling operation; if it flew, a
//! ballistic fit through the calibrated camera measures the drop height and
//! throw distance, and beyond the zone's limit it is a throw violation. A
//! parcel set moving by a fast foot is a kick violation.

mod flight;

pub use flight::{measure_flight, FlightMeasure, WristSample};

use crate::bbox::BBox;
use crate::geometry::Calibration;
use crate::motion::point_in_polygon;
use crate::pose::{Keypoint, L_ANKLE, L_WRIST, R_ANKLE, R_WRIST};
use crate::track::{ObjectTrack, PersonTrack, TrajectoryPoint};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};

/// Rule settings (`[rules]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Largest allowed drop, release to landing, in cm. Default 50.
    pub max_drop_cm: f64,
    /// Largest allowed horizontal throw distance, in cm. Default 50.
    pub max_throw_cm: f64,
    /// Floor areas with their own limits; the release point decides the zone.
    pub zones: Vec<Zone>,
    /// Height of a landed parcel's centre above the surface it lands on, in
    /// cm: half a typical parcel. Default 12.
    pub landed_centre_height_cm: f64,
    /// A parcel that appears within this share of the worker's height of a
    /// wrist left that worker's hands. Default 0.35.
    pub hand_reach: f64,
    /// How much a parcel track's centre jitters about the parcel's true
    /// centre, px (one sigma). A run of points is one ballistic path when
    /// its rms error is within twice this and each point within four times;
    /// of the paths that fit, the one explaining the most points for the
    /// least error is the flight. Default 1.
    pub track_noise_px: f64,
    /// A parcel moved at least this far (cm) by a fast foot is kicked. Default 25.
    pub min_kick_distance_cm: f64,
    /// A foot moving faster than this many body heights per second is striking.
    /// Default 1.2.
    pub kick_foot_speed: f64,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            max_drop_cm: 50.0,
            max_throw_cm: 50.0,
            zones: Vec::new(),
            landed_centre_height_cm: 12.0,
            hand_reach: 0.35,
            track_noise_px: 1.0,
            min_kick_distance_cm: 25.0,
            kick_foot_speed: 1.2,
        }
    }
}

/// A floor area (`[[rules.zones]]`) with its own limits.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    pub name: String,
    /// Polygon on the floor, world cm.
    pub floor_polygon_cm: Vec<[f64; 2]>,
    pub max_drop_cm: Option<f64>,
    pub max_throw_cm: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ViolationKind {
    Throw,
    Kick,
}

/// A parcel released from a worker's hands: one handling operation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Handling {
    pub t_s: f64,
    pub person_id: u64,
    pub parcel_id: u64,
    /// Present when the parcel flew after the release.
    pub flight: Option<FlightMeasure>,
    /// The zone of the release point (where the parcel was set down when it
    /// did not fly).
    pub zone: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Violation {
    pub kind: ViolationKind,
    pub t_start_s: f64,
    pub t_end_s: f64,
    pub person_id: u64,
    pub parcel_id: u64,
    pub zone: Option<String>,
    pub drop_height_cm: Option<f64>,
    pub throw_distance_cm: Option<f64>,
    /// How far a kicked parcel travelled, cm.
    pub kick_distance_cm: Option<f64>,
    pub limit_drop_cm: Option<f64>,
    pub limit_throw_cm: Option<f64>,
    pub person_box: BBox,
    pub parcel_box_start: BBox,
    pub parcel_box_end: BBox,
    pub confidence: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Handling(Handling),
    Violation(Violation),
}

/// What a person looked like at one moment (kept for the last second).
#[derive(Clone, Debug)]
struct PersonSample {
    t_s: f64,
    id: u64,
    bbox: BBox,
    keypoints: [Keypoint; 17],
}

const MIN_KP_SCORE: f32 = 0.2;
/// How long people's history is kept, s: a kicked parcel slides for up to
/// a second or two before it is decided, and the kick is looked up then.
const HISTORY_S: f64 = 3.0;
/// A parcel that has not moved more than this many px for `REST_S` is at rest.
const REST_PX: f32 = 2.5;
const REST_S: f64 = 0.15;
/// The smallest parcel blob, as a share of the area of the box of the worker
/// holding it (a 20 cm parcel by a 170 cm worker is about 0.03).
const MIN_PARCEL_SHARE: f32 = 0.02;
/// Height of the ankle keypoint above the floor, cm.
const ANKLE_HEIGHT_CM: f64 = 8.0;
/// Kicks that move a parcel further than this (cm) are tracking errors.
const MAX_KICK_CM: f64 = 600.0;
/// A kicked parcel comes to rest at least this far (cm) from the kicker's
/// feet.
const KICKER_CLEAR_CM: f64 = 30.0;
/// Wider than this on the floor (cm) is not a parcel...
const MAX_PARCEL_CM: f64 = 120.0;
/// ... nor is a box taller in the image than a cube this big (cm).
const MAX_PARCEL_CUBE_CM: f64 = 80.0;
/// A parcel handled again within this many seconds counts once.
const REHANDLE_S: f64 = 3.0;
/// A parcel counts as let go once it has been out of the hands this long, s.
const HANDS_OFF_S: f64 = 0.3;
/// A decided track carried this long (s) at a worker's wrists has become a
/// parcel in the hands.
const CARRIED_S: f64 = 0.5;
/// A released parcel not resolved after this long is decided with what is known.
const DECIDE_AFTER_S: f64 = 1.5;

#[derive(Clone, Debug)]
enum Origin {
    /// Appeared at this person's hands.
    Hands { person: u64, bbox: BBox },
    /// Set moving near this person's fast foot.
    Foot {
        person: u64,
        bbox: BBox,
        start: TrajectoryPoint,
    },
    /// Anything else: belt traffic, a track picked up again, noise.
    Other,
}

#[derive(Clone, Debug)]
struct ParcelState {
    origin: Origin,
    points: Vec<TrajectoryPoint>,
    done: bool,
    /// Index of the last point seen in the worker's hands (Hands origin).
    last_held: Option<usize>,
    /// When this parcel last counted as handled (kept when it moves again).
    handled_s: Option<f64>,
    /// Index of the point from which a decided track that was not a parcel
    /// in the hands has moved at a worker's wrists (see `CARRIED_S`).
    carried_from: Option<usize>,
}

/// The rule engine for one camera.
pub struct Rules {
    cfg: RulesConfig,
    cal: Calibration,
    history: VecDeque<PersonSample>,
    parcels: HashMap<u64, ParcelState>,
    /// Where recently finished tracks ended: a new track there is the same parcel.
    ended: Vec<(f64, f32, f32)>,
}

impl Rules {
    pub fn new(cfg: RulesConfig, cal: Calibration) -> Self {
        Rules {
            cfg,
            cal,
            history: VecDeque::new(),
            parcels: HashMap::new(),
            ended: Vec::new(),
        }
    }

    /// Feeds one frame's confirmed people and object tracks; returns the events
    /// decided at this time, in order.
    pub fn update(
        &mut self,
        t_s: f64,
        people: &[PersonTrack],
        objects: &[ObjectTrack],
    ) -> Vec<Event> {
        for p in people.iter().filter(|p| p.visible && p.id != 0) {
            self.history.push_back(PersonSample {
                t_s,
                id: p.id,
                bbox: p.person.bbox,
                keypoints: p.person.keypoints,
            });
        }
        while self
            .history
            .front()
            .is_some_and(|s| t_s - s.t_s > HISTORY_S)
        {
            self.history.pop_front();
        }
        self.ended.retain(|&(t, _, _)| t_s - t < 2.0);

        let mut events = Vec::new();
        for obj in objects {
            let Some(last) = obj.trajectory.back().copied() else {
                continue;
            };
            if !self.parcels.contains_key(&obj.id) {
                let origin = self.origin_of(&last);
                tracing::debug!(
                    id = obj.id,
                    t = last.t_s,
                    x = last.x,
                    y = last.y,
                    ?origin,
                    "new object"
                );
                self.parcels.insert(
                    obj.id,
                    ParcelState {
                        origin,
                        points: Vec::new(),
                        done: false,
                        last_held: None,
                        handled_s: None,
                        carried_from: None,
                    },
                );
            }
            let held = match self.parcels[&obj.id].origin {
                Origin::Hands { person, .. } => self.in_hands(person, &last),
                _ => false,
            };
            let st = self.parcels.get_mut(&obj.id).expect("inserted above");
            if st.points.last().is_none_or(|p| p.t_s < last.t_s) {
                st.points.push(last);
                if held {
                    st.last_held = Some(st.points.len() - 1);
                }
            }
            // A resting parcel set moving again starts a new story: picked up
            // (hands), kicked (a fast foot), or pushed by something else.
            let restarts = st.done || matches!(st.origin, Origin::Other);
            if let Some(start) = motion_onset(&st.points).filter(|_| restarts) {
                let origin = self.origin_of(&start);
                let st = self.parcels.get_mut(&obj.id).expect("present");
                st.origin = origin;
                st.points = vec![start, last];
                st.done = false;
                st.last_held = None;
                st.carried_from = None;
            } else if st.done && !matches!(st.origin, Origin::Hands { .. }) {
                // A decided track that was a leg or a ghost and now moves
                // with a parcel in a worker's hands (the blobs merged, then
                // parted) starts that parcel's story there, once carried.
                let moving = !at_rest(&st.points);
                let carrier = self
                    .hands_near(&last)
                    .filter(|&(p, _)| moving && self.in_hands(p, &last));
                let st = self.parcels.get_mut(&obj.id).expect("present");
                match carrier {
                    None => st.carried_from = None,
                    Some((person, bbox)) => {
                        let from = *st.carried_from.get_or_insert(st.points.len() - 1);
                        if last.t_s - st.points[from].t_s >= CARRIED_S {
                            st.origin = Origin::Hands { person, bbox };
                            st.points.drain(..from);
                            st.done = false;
                            st.last_held = Some(st.points.len() - 1);
                            st.carried_from = None;
                        }
                    }
                }
            }
        }
        // Decide the parcels whose story is complete: at rest, gone, or old.
        let live: Vec<u64> = objects.iter().map(|o| o.id).collect();
        let mut ids: Vec<u64> = self.parcels.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let gone = !live.contains(&id);
            let st = &self.parcels[&id];
            if !st.done {
                // A parcel still in the hands is not decided yet; the clock
                // starts when it leaves them.
                let held_t = st.last_held.map(|i| st.points[i].t_s);
                let first_t = held_t.unwrap_or_else(|| st.points.first().map_or(t_s, |p| p.t_s));
                // Out of the hands for a moment, so a wrist keypoint that
                // jitters off a carried parcel does not end its story.
                let let_go = held_t.is_none_or(|h| t_s - h >= HANDS_OFF_S);
                let settled =
                    (at_rest(&st.points) && let_go) || gone || t_s - first_t > DECIDE_AFTER_S;
                if settled {
                    let st = st.clone();
                    let decided = self.decide(id, &st, t_s);
                    tracing::debug!(id, t = t_s, points = st.points.len(), ?decided, "decided");
                    let handled = decided.iter().any(|e| matches!(e, Event::Handling(_)));
                    events.extend(decided);
                    let st = self.parcels.get_mut(&id).expect("present");
                    st.done = true;
                    if handled {
                        st.handled_s = Some(t_s);
                    }
                }
            }
            if gone {
                let st = self.parcels.remove(&id).expect("present");
                if let Some(p) = st.points.last() {
                    self.ended.push((p.t_s, p.x, p.y));
                }
            }
        }
        events
    }

    /// Decides every parcel still open (end of stream).
    pub fn finish(&mut self, t_s: f64) -> Vec<Event> {
        self.update(t_s, &[], &[])
    }

    /// Decides every parcel still open and forgets the scene: the stream
    /// was reopened or looped, so nothing before carries on after.
    pub fn restart(&mut self, t_s: f64) -> Vec<Event> {
        let events = self.finish(t_s);
        self.history.clear();
        self.ended.clear();
        events
    }

    fn origin_of(&self, p: &TrajectoryPoint) -> Origin {
        let continues = self.ended.iter().any(|&(_, x, y)| {
            (x - p.x).hypot(y - p.y) < 0.5 * p.bbox.width().max(p.bbox.height()) + 20.0
        });
        if continues {
            return Origin::Other;
        }
        // A parcel by a striking foot was kicked, even if hands are near too.
        if let Some((person, bbox)) = self.fast_foot_near(p) {
            return Origin::Foot {
                person,
                bbox,
                start: *p,
            };
        }
        match self.hands_near(p) {
            Some((person, bbox)) => Origin::Hands { person, bbox },
            None => Origin::Other,
        }
    }

    /// The person whose wrist was nearest `p` in the quarter second before it
    /// was seen, if within reach.
    fn hands_near(&self, p: &TrajectoryPoint) -> Option<(u64, BBox)> {
        let mut best: Option<(f32, u64, BBox)> = None;
        for s in self.history.iter().filter(|s| p.t_s - s.t_s <= 0.25) {
            // Smaller than a small parcel next to this person: a hand, not a parcel.
            if p.bbox.area() < MIN_PARCEL_SHARE * s.bbox.area() {
                continue;
            }
            let reach = self.cfg.hand_reach as f32 * s.bbox.height()
                + 0.5 * p.bbox.width().max(p.bbox.height());
            for k in [L_WRIST, R_WRIST] {
                let w = s.keypoints[k];
                if w.score < MIN_KP_SCORE {
                    continue;
                }
                let d = (w.x - p.x).hypot(w.y - p.y);
                if d <= reach && best.is_none_or(|b| d < b.0) {
                    best = Some((d, s.id, s.bbox));
                }
            }
        }
        best.map(|(_, id, b)| (id, b))
    }

    /// Whether `p` is at `person`'s wrists in the latest sample at its time.
    fn in_hands(&self, person: u64, p: &TrajectoryPoint) -> bool {
        self.history
            .iter()
            .rev()
            .find(|s| s.id == person && s.t_s <= p.t_s + 1e-9)
            .is_some_and(|s| {
                let reach = 0.5 * p.bbox.width().max(p.bbox.height()) + 0.1 * s.bbox.height();
                [L_WRIST, R_WRIST].iter().any(|&k| {
                    let w = s.keypoints[k];
                    w.score >= MIN_KP_SCORE && (w.x - p.x).hypot(w.y - p.y) <= reach
                })
            })
    }

    /// A person with an ankle near `p` that was moving fast around then.
    fn fast_foot_near(&self, p: &TrajectoryPoint) -> Option<(u64, BBox)> {
        let near: Vec<&PersonSample> = self
            .history
            .iter()
            .filter(|s| (p.t_s - s.t_s).abs() <= 0.3)
            .collect();
        let mut best: Option<(f32, u64, BBox)> = None;
        for s in &near {
            let reach = 0.25 * s.bbox.height() + 0.5 * p.bbox.width().max(p.bbox.height());
            for k in [L_ANKLE, R_ANKLE] {
                let a = s.keypoints[k];
                if a.score < MIN_KP_SCORE {
                    continue;
                }
                let d = (a.x - p.x).hypot(a.y - p.y);
                if d > reach {
                    continue;
                }
                // Fastest speed of this ankle between consecutive samples.
                let speed = near
                    .iter()
                    .filter(|o| o.id == s.id && o.t_s > s.t_s && o.t_s - s.t_s <= 0.1)
                    .filter(|o| o.keypoints[k].score >= MIN_KP_SCORE)
                    .map(|o| {
                        let b = o.keypoints[k];
                        (b.x - a.x).hypot(b.y - a.y) / (o.t_s - s.t_s) as f32
                    })
                    .fold(0.0f32, f32::max);
                let body = s.bbox.height().max(1.0);
                if speed / body >= self.cfg.kick_foot_speed as f32 && best.is_none_or(|b| d < b.0) {
                    best = Some((d, s.id, s.bbox));
                }
            }
        }
        best.map(|(_, id, b)| (id, b))
    }

    fn decide(&self, parcel_id: u64, st: &ParcelState, t_s: f64) -> Vec<Event> {
        match &st.origin {
            // A parcel lying in the background leaves a still ghost when
            // kicked, and its moving blob may continue a track that was a
            // leg: the kick starts at the latest point a striking foot was
            // by it that is followed by a kick's slide.
            Origin::Other => (0..st.points.len())
                .rev()
                .filter_map(|j| {
                    let (person, bbox) = self.fast_foot_near(&st.points[j])?;
                    self.kick(parcel_id, person, bbox, &st.points[j..])
                })
                .next()
                .into_iter()
                .collect(),
            Origin::Hands { person, bbox } => {
                let wrists = self.wrist_track(*person);
                // The flight is wherever the track follows a ballistic path;
                // being by a wrist does not say the parcel is still held.
                let feet = self.floor_position(*person);
                let flight = measure_flight(&self.cal, &self.cfg, &st.points, &wrists, feet);
                // A parcel put down or thrown ends up lying; a limb or a bag
                // moves on with the worker.
                if !self.left_lying(&st.points) {
                    return Vec::new();
                }
                // The same parcel moving again within seconds is one handling
                // (a carried parcel set down, nudged, set down again).
                let again = st.handled_s.is_some_and(|h| t_s - h < REHANDLE_S);
                let mut out = Vec::new();
                if !again {
                    let release = match &flight {
                        Some(f) => Some(f.release_cm),
                        None => st.points.last().and_then(|p| {
                            self.cal.pixel_to_plane(
                                f64::from(p.x),
                                f64::from(p.y),
                                self.cfg.landed_centre_height_cm,
                            )
                        }),
                    };
                    out.push(Event::Handling(Handling {
                        t_s: flight.as_ref().map_or(st.points[0].t_s, |f| f.t_release_s),
                        person_id: *person,
                        parcel_id,
                        flight: flight.clone(),
                        zone: release.and_then(|r| self.limits_at(r).0),
                    }));
                }
                if let Some(f) = flight {
                    let (zone, max_drop, max_throw) = self.limits_at(f.release_cm);
                    if f.drop_height_cm > max_drop || f.throw_distance_cm > max_throw {
                        let end = landing_point(&st.points, f.t_land_s);
                        out.push(Event::Violation(Violation {
                            kind: ViolationKind::Throw,
                            t_start_s: f.t_release_s,
                            t_end_s: f.t_land_s,
                            person_id: *person,
                            parcel_id,
                            zone,
                            drop_height_cm: Some(f.drop_height_cm),
                            throw_distance_cm: Some(f.throw_distance_cm),
                            kick_distance_cm: None,
                            limit_drop_cm: Some(max_drop),
                            limit_throw_cm: Some(max_throw),
                            person_box: *bbox,
                            parcel_box_start: st.points[0].bbox,
                            parcel_box_end: end.bbox,
                            confidence: f.confidence,
                        }));
                    }
                }
                out
            }
            Origin::Foot {
                person,
                bbox,
                start,
            } => {
                let mut points = vec![*start];
                points.extend(st.points.iter().filter(|p| p.t_s > start.t_s));
                self.kick(parcel_id, *person, *bbox, &points)
                    .into_iter()
                    .collect()
            }
        }
    }

    /// A kick by `person` of the parcel whose track from the foot's strike
    /// on is `points`: it slid off in a line at least the minimum distance
    /// and came to rest on the floor, apart from the kicker (a leg or a
    /// shadow walks on with them).
    fn kick(
        &self,
        parcel_id: u64,
        person: u64,
        bbox: BBox,
        points: &[TrajectoryPoint],
    ) -> Option<Event> {
        let (start, end) = (points.first()?, points.last()?);
        let z = self.cfg.landed_centre_height_cm;
        let floor =
            |p: &TrajectoryPoint| self.cal.pixel_to_plane(f64::from(p.x), f64::from(p.y), z);
        let (a, b) = (floor(start)?, floor(end)?);
        let distance = (a[0] - b[0]).hypot(a[1] - b[1]);
        let path: f64 = points
            .windows(2)
            .filter_map(|w| {
                let (p, q) = (floor(&w[0])?, floor(&w[1])?);
                Some((p[0] - q[0]).hypot(p[1] - q[1]))
            })
            .sum();
        // A leg's blob ends at the foot (a walker's planted foot is still for
        // a moment); a kicked parcel comes to rest clear of the feet.
        let on_kicker = self
            .history
            .iter()
            .filter(|s| s.id == person && (end.t_s - 0.3..=end.t_s + 0.05).contains(&s.t_s))
            .flat_map(|s| self.ankles_on_floor(s))
            .any(|f| (f[0] - b[0]).hypot(f[1] - b[1]) < KICKER_CLEAR_CM);
        if distance < self.cfg.min_kick_distance_cm
            || distance > MAX_KICK_CM
            || distance < 0.7 * path
            || on_kicker
            || !self.left_lying(points)
        {
            return None;
        }
        let (zone, _, _) = self.limits_at(a);
        let confidence = (distance / (2.0 * self.cfg.min_kick_distance_cm)).clamp(0.5, 0.95);
        Some(Event::Violation(Violation {
            kind: ViolationKind::Kick,
            t_start_s: start.t_s,
            t_end_s: end.t_s,
            person_id: person,
            parcel_id,
            zone,
            drop_height_cm: None,
            throw_distance_cm: None,
            kick_distance_cm: Some(distance),
            limit_drop_cm: None,
            limit_throw_cm: None,
            person_box: bbox,
            parcel_box_start: start.bbox,
            parcel_box_end: end.bbox,
            confidence,
        }))
    }

    /// The parcel ended at rest and is parcel-sized on the floor: no wider
    /// than `MAX_PARCEL_CM`, and its box no taller in the image than that of
    /// a `MAX_PARCEL_CUBE_CM` cube standing where it lies (the ghost a worker
    /// leaves in the background model is person-sized).
    fn left_lying(&self, points: &[TrajectoryPoint]) -> bool {
        let Some(last) = points.last() else {
            return false;
        };
        let b = last.bbox;
        let foot = |x: f32| self.cal.pixel_to_plane(f64::from(x), f64::from(b.y1), 0.0);
        let sized = foot(b.x0).zip(foot(b.x1)).is_some_and(|(p, q)| {
            let c = [(p[0] + q[0]) / 2.0, (p[1] + q[1]) / 2.0];
            let h = MAX_PARCEL_CUBE_CM / 2.0;
            let rows: Option<Vec<f64>> = (0..8)
                .map(|i| {
                    let corner = [
                        c[0] + if i & 1 == 0 { -h } else { h },
                        c[1] + if i & 2 == 0 { -h } else { h },
                        if i & 4 == 0 { 0.0 } else { MAX_PARCEL_CUBE_CM },
                    ];
                    self.cal.project(corner).map(|(_, v)| v)
                })
                .collect();
            let cube = rows.map_or(f64::INFINITY, |v| {
                v.iter().copied().fold(f64::MIN, f64::max)
                    - v.iter().copied().fold(f64::MAX, f64::min)
            });
            (p[0] - q[0]).hypot(p[1] - q[1]) <= MAX_PARCEL_CM && f64::from(b.height()) <= cube
        });
        at_rest(points) && sized
    }

    /// Where the person stood over the last second (world cm on the floor):
    /// the mean of their ankles, each cast onto the floor at ankle height.
    fn floor_position(&self, person: u64) -> Option<[f64; 2]> {
        let (mut sum, mut n) = ([0.0, 0.0], 0.0);
        let latest = self.history.back().map_or(0.0, |s| s.t_s);
        for s in self
            .history
            .iter()
            .filter(|s| s.id == person && latest - s.t_s <= 1.0)
        {
            for p in self.ankles_on_floor(s) {
                sum = [sum[0] + p[0], sum[1] + p[1]];
                n += 1.0;
            }
        }
        (n > 0.0).then(|| [sum[0] / n, sum[1] / n])
    }

    /// The sample's ankles seen, each cast onto the floor at ankle height
    /// (world cm).
    fn ankles_on_floor<'a>(&'a self, s: &'a PersonSample) -> impl Iterator<Item = [f64; 3]> + 'a {
        [L_ANKLE, R_ANKLE].into_iter().filter_map(move |k| {
            let a = s.keypoints[k];
            (a.score >= MIN_KP_SCORE)
                .then(|| {
                    self.cal
                        .pixel_to_plane(f64::from(a.x), f64::from(a.y), ANKLE_HEIGHT_CM)
                })
                .flatten()
        })
    }

    /// The person's wrist positions over the last second: (t, [left, right]).
    fn wrist_track(&self, person: u64) -> Vec<WristSample> {
        self.history
            .iter()
            .filter(|s| s.id == person)
            .map(|s| {
                let get = |k: usize| {
                    let w = s.keypoints[k];
                    (w.score >= MIN_KP_SCORE).then_some((w.x, w.y))
                };
                (s.t_s, [get(L_WRIST), get(R_WRIST)])
            })
            .collect()
    }

    fn limits_at(&self, p: [f64; 3]) -> (Option<String>, f64, f64) {
        for z in &self.cfg.zones {
            let poly: Vec<[f32; 2]> = z
                .floor_polygon_cm
                .iter()
                .map(|&[x, y]| [x as f32, y as f32])
                .collect();
            if point_in_polygon(p[0] as f32, p[1] as f32, &poly) {
                return (
                    Some(z.name.clone()),
                    z.max_drop_cm.unwrap_or(self.cfg.max_drop_cm),
                    z.max_throw_cm.unwrap_or(self.cfg.max_throw_cm),
                );
            }
        }
        (None, self.cfg.max_drop_cm, self.cfg.max_throw_cm)
    }
}

/// The parcel has not moved for `REST_S`.
fn at_rest(points: &[TrajectoryPoint]) -> bool {
    let Some(last) = points.last() else {
        return false;
    };
    let recent: Vec<&TrajectoryPoint> = points
        .iter()
        .rev()
        .take_while(|p| last.t_s - p.t_s <= REST_S + 1e-6)
        .collect();
    let span = last.t_s - recent.last().map_or(last.t_s, |p| p.t_s);
    recent.len() >= 3
        && span >= 0.1
        && recent
            .iter()
            .all(|p| (p.x - last.x).hypot(p.y - last.y) <= REST_PX)
}

/// The first point at which a track that was resting starts to move.
fn motion_onset(points: &[TrajectoryPoint]) -> Option<TrajectoryPoint> {
    let n = points.len();
    if n < 4 {
        return None;
    }
    let (a, b) = (points[n - 2], points[n - 1]);
    let moved = (b.x - a.x).hypot(b.y - a.y) > 3.0 * REST_PX;
    let rested = at_rest(&points[..n - 1]);
    (moved && rested).then_some(a)
}

fn landing_point(points: &[TrajectoryPoint], t_land_s: f64) -> TrajectoryPoint {
    *points
        .iter()
        .find(|p| p.t_s >= t_land_s)
        .unwrap_or_else(|| points.last().expect("a parcel has points"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::ballistic::{tests::camera, GRAVITY_CM_S2};
    use crate::pose::{Person, NUM_KEYPOINTS};

    const FPS: f64 = 25.0;

    /// A worker standing at floor point (x, y), wrists at `hands` (world cm),
    /// ankles at `feet`.
    fn worker(cal: &Calibration, t_s: f64, hands: [f64; 3], feet: [[f64; 3]; 2]) -> PersonTrack {
        let px = |p: [f64; 3]| {
            let (u, v) = cal.project(p).unwrap();
            Keypoint {
                x: u as f32,
                y: v as f32,
                score: 0.8,
            }
        };
        let (x, y) = (feet[0][0], feet[0][1]);
        let head = px([x, y, 170.0]);
        let toe = px([x, y, 0.0]);
        let mut kps = [Keypoint {
            x: head.x,
            y: head.y,
            score: 0.8,
        }; NUM_KEYPOINTS];
        kps[L_WRIST] = px([hands[0] - 15.0, hands[1], hands[2]]);
        kps[R_WRIST] = px([hands[0] + 15.0, hands[1], hands[2]]);
        kps[L_ANKLE] = px(feet[0]);
        kps[R_ANKLE] = px(feet[1]);
        let half = 0.2 * (toe.y - head.y);
        let bbox = BBox::new(head.x - half, head.y, head.x + half, toe.y);
        PersonTrack {
            id: 1,
            person: Person {
                bbox,
                score: 0.8,
                keypoints: kps,
            },
            predicted: bbox,
            velocity: (0.0, 0.0),
            last_seen_s: t_s,
            first_seen_s: 0.0,
            hits: 50,
            visible: true,
            appearance: None,
        }
    }

    fn parcel(cal: &Calibration, id: u64, history: &[(f64, [f64; 3])]) -> ObjectTrack {
        let trajectory = history
            .iter()
            .map(|&(t_s, p)| {
                let (u, v) = cal.project(p).unwrap();
                let (x, y) = (u as f32, v as f32);
                TrajectoryPoint {
                    t_s,
                    x,
                    y,
                    bbox: BBox::new(x - 15.0, y - 12.0, x + 15.0, y + 12.0),
                }
            })
            .collect();
        ObjectTrack {
            id,
            trajectory,
            velocity: (0.0, 0.0),
            visible: true,
        }
    }

    /// Runs 3 s of frames; `at(t)` gives the parcel's centre once it is seen
    /// apart from the worker, `feet(t)` the worker's ankles.
    fn run(
        at: impl Fn(f64) -> Option<[f64; 3]>,
        feet: impl Fn(f64) -> [[f64; 3]; 2],
    ) -> Vec<Event> {
        run_with(RulesConfig::default(), HANDS, at, feet)
    }

    /// Where the worker's hands are (between the wrists).
    const HANDS: [f64; 3] = [0.0, 395.0, 95.0];

    fn run_with(
        cfg: RulesConfig,
        hands: [f64; 3],
        at: impl Fn(f64) -> Option<[f64; 3]>,
        feet: impl Fn(f64) -> [[f64; 3]; 2],
    ) -> Vec<Event> {
        let cal = camera([0.0; 5]);
        let mut rules = Rules::new(cfg, cal.clone());
        let mut seen = Vec::new();
        let mut events = Vec::new();
        for i in 0..75 {
            let t = f64::from(i) / FPS;
            let person = worker(&cal, t, hands, feet(t));
            if let Some(p) = at(t) {
                seen.push((t, p));
            }
            let objects: Vec<ObjectTrack> = (!seen.is_empty())
                .then(|| parcel(&cal, 7, &seen))
                .into_iter()
                .collect();
            events.extend(rules.update(t, &[person], &objects));
        }
        events.extend(rules.finish(3.0));
        events
    }

    fn violations(events: &[Event]) -> Vec<&Violation> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Violation(v) => Some(v),
                _ => None,
            })
            .collect()
    }

    fn standing(_: f64) -> [[f64; 3]; 2] {
        [[-10.0, 380.0, 8.0], [10.0, 380.0, 8.0]]
    }

    /// A worker holding a parcel at `release_z` lets go of it at 1 s.
    fn drop_from(release_z: f64) -> Vec<Event> {
        drop_with(RulesConfig::default(), release_z)
    }

    fn drop_with(cfg: RulesConfig, release_z: f64) -> Vec<Event> {
        let hands = [0.0, 400.0, release_z];
        run_with(cfg, hands, dropped_from(release_z), standing)
    }

    fn dropped_from(release_z: f64) -> impl Fn(f64) -> Option<[f64; 3]> {
        move |t: f64| {
            let fall = t - 1.0;
            let land = (2.0 * (release_z - 12.0) / GRAVITY_CM_S2).sqrt();
            // Apart from the hands from 0.1 s after the release.
            (fall >= 0.1).then(|| {
                let tt = fall.min(land);
                [0.0, 400.0, release_z - 0.5 * GRAVITY_CM_S2 * tt * tt]
            })
        }
    }

    #[test]
    fn a_restart_decides_the_open_parcel_and_forgets_the_scene() {
        let cal = camera([0.0; 5]);
        let mut rules = Rules::new(RulesConfig::default(), cal.clone());
        let hands = [0.0, 400.0, 90.0];
        // The stream ends while the worker still holds the parcel.
        let held = |t: f64| [0.0, 400.0, 90.0 + 2.0 * (t * 10.0).sin()];
        let mut seen = Vec::new();
        for i in 0..20 {
            let t = f64::from(i) / FPS;
            seen.push((t, held(t)));
            let objects = [parcel(&cal, 7, &seen)];
            let person = worker(&cal, t, hands, standing(t));
            assert!(rules.update(t, &[person], &objects).is_empty());
        }
        let closed = rules.restart(0.8);
        assert!(
            matches!(closed[..], [Event::Handling(ref h)] if h.parcel_id == 7),
            "{closed:?}"
        );
        assert!(rules.parcels.is_empty() && rules.history.is_empty() && rules.ended.is_empty());
        assert!(rules.restart(0.9).is_empty());
    }

    #[test]
    fn parcel_dropped_from_90cm_is_one_handling_and_a_throw_violation() {
        let events = drop_from(90.0);
        let handled: Vec<&Handling> = events
            .iter()
            .filter_map(|e| match e {
                Event::Handling(h) => Some(h),
                _ => None,
            })
            .collect();
        assert_eq!(handled.len(), 1, "{events:?}");
        let f = handled[0].flight.as_ref().expect("the drop is measured");
        assert!((f.drop_height_cm - 78.0).abs() < 3.0, "{f:?}");
        assert!(f.throw_distance_cm < 5.0, "{f:?}");
        let v = violations(&events);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].kind, ViolationKind::Throw);
        assert_eq!((v[0].person_id, v[0].parcel_id), (1, 7));
    }

    #[test]
    fn parcel_dropped_from_40cm_is_handled_without_a_violation() {
        let events = drop_from(52.0);
        assert_eq!(events.len(), 1, "{events:?}");
        let Event::Handling(h) = &events[0] else {
            panic!("{events:?}")
        };
        let f = h.flight.as_ref().expect("the drop is measured");
        assert!((f.drop_height_cm - 40.0).abs() < 3.0, "{f:?}");
    }

    #[test]
    fn a_zone_with_a_30cm_limit_flags_a_40cm_drop_and_names_itself() {
        let cfg = RulesConfig {
            zones: vec![Zone {
                name: "fragile".into(),
                floor_polygon_cm: vec![
                    [-100.0, 300.0],
                    [100.0, 300.0],
                    [100.0, 500.0],
                    [-100.0, 500.0],
                ],
                max_drop_cm: Some(30.0),
                max_throw_cm: None,
            }],
            ..RulesConfig::default()
        };
        let events = drop_with(cfg, 52.0);
        let v = violations(&events);
        assert_eq!(v.len(), 1, "{events:?}");
        assert_eq!(v[0].zone.as_deref(), Some("fragile"));
        assert_eq!(v[0].limit_drop_cm, Some(30.0));
    }

    #[test]
    fn parcel_placed_at_rest_is_handled_without_a_flight() {
        let events = run(|t| (t >= 1.0).then_some([0.0, 400.0, 50.0]), standing);
        assert!(
            matches!(
                &events[..],
                [Event::Handling(Handling { flight: None, .. })]
            ),
            "{events:?}"
        );
    }

    #[test]
    fn parcel_set_down_then_nudged_and_set_down_again_is_one_handling() {
        let at = |t: f64| {
            let nudge = ((t - 1.8) / 0.2).clamp(0.0, 1.0);
            (t >= 1.0).then_some([30.0 * nudge, 400.0, 50.0])
        };
        let events = run(at, standing);
        let handled = events
            .iter()
            .filter(|e| matches!(e, Event::Handling(_)))
            .count();
        assert_eq!(handled, 1, "{events:?}");
    }

    #[test]
    fn parcel_riding_a_belt_past_the_worker_is_nothing() {
        // Seen since the start, far from the hands, moving steadily.
        let events = run(|t| Some([-200.0 + 60.0 * t, 480.0, 85.0]), standing);
        assert!(events.is_empty(), "{events:?}");
    }

    #[test]
    fn parcel_set_sliding_by_a_fast_foot_is_a_kick_with_its_distance() {
        // The right foot swings 40 cm forward in 0.12 s; the parcel at its
        // toe slides 80 cm from 1.04 s and stops.
        let feet = |t: f64| {
            let swing = ((t - 0.92) / 0.12).clamp(0.0, 1.0);
            [[-10.0, 380.0, 8.0], [10.0, 380.0 + 40.0 * swing, 8.0]]
        };
        let parcel = |t: f64| {
            (t >= 1.04).then(|| {
                let s = ((t - 1.04) / 0.5).min(1.0);
                [10.0, 425.0 + 80.0 * (1.0 - (1.0 - s) * (1.0 - s)), 12.0]
            })
        };
        let events = run(parcel, feet);
        let kicks: Vec<&Violation> = violations(&events)
            .into_iter()
            .filter(|v| v.kind == ViolationKind::Kick)
            .collect();
        assert_eq!(kicks.len(), 1, "{events:?}");
        let d = kicks[0].kick_distance_cm.unwrap();
        assert!((d - 80.0).abs() < 5.0, "{d}");
        assert!(!events.iter().any(|e| matches!(e, Event::Handling(_))));
    }
}
