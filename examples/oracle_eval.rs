//! Oracle evaluation: feeds the real rules (and through them the ballistic
//! flight fit) the simulator's *truth* parcel image positions and worker
//! keypoints instead of what perception saw, and scores the events as
//! `sortwatch eval` does. It splits the detector's error into what the
//! geometry leaves (this harness) and what perception adds (eval minus this).
//!
//! `cargo run --release --example oracle_eval -- DIR [--noise PX] [--held]`
//!
//! - `DIR`: a scenario directory or a directory of them (`sortwatch simulate`
//!   output, which includes `frames.jsonl`).
//! - `--noise PX`: Gaussian noise (σ per coordinate, px) added to every parcel
//!   centre and box while it moves (held, flying, sliding), as blob centres
//!   jitter.
//! - `--held`: also show parcels while they are in the hands (perception cuts
//!   the worker's body out, so by default a parcel is seen from its release).
//! - `--hide-air N`: hide the first N airborne frames of each flight (a parcel
//!   just out of the hands is still merged with the worker's blob).

use sortwatch::bbox::BBox;
use sortwatch::cmd::eval::{percentile, score_events, Score, Truth};
use sortwatch::geometry::Calibration;
use sortwatch::pose::{Keypoint, Person, NUM_KEYPOINTS};
use sortwatch::rules::{Event, FlightMeasure, Rules, RulesConfig};
use sortwatch::sim::rng::SplitMix64;
use sortwatch::track::{ObjectTrack, PersonTrack, TrajectoryPoint};
use std::collections::{HashMap, VecDeque};
use std::path::Path;

/// Points an object track keeps (as the tracker's default).
const MAX_POINTS: usize = 64;

struct Options {
    noise_px: f64,
    held: bool,
    /// Airborne frames hidden after each release (still merged with the
    /// worker's body in perception).
    hide_air: usize,
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SORTWATCH_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let mut dir = None;
    let mut opts = Options {
        noise_px: 0.0,
        held: false,
        hide_air: 0,
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--noise" => {
                opts.noise_px = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--noise PX")
            }
            "--held" => opts.held = true,
            "--hide-air" => {
                opts.hide_air = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--hide-air N")
            }
            _ => dir = Some(a),
        }
    }
    let dir = dir.expect("usage: oracle_eval DIR [--noise PX] [--held] [--hide-air N]");
    let dirs = sortwatch::cmd::eval::scenario_dirs(Path::new(&dir)).expect("scenarios");
    let mut by_fps: HashMap<u32, Score> = HashMap::new();
    let mut total = Score::default();
    for (i, d) in dirs.iter().enumerate() {
        let (fps, s) = run_scenario(d, &opts, i as u64);
        by_fps.entry(fps).or_default().add(s.clone());
        total.add(s);
    }
    let mut fps: Vec<_> = by_fps.keys().copied().collect();
    fps.sort_unstable();
    for f in fps {
        println!("== {f} fps: {}", brief(&by_fps[&f]));
    }
    println!("== all: {}", brief(&total));
    println!("{}", total.describe());
    for f in &total.failures {
        println!("  {f}");
    }
}

fn brief(s: &Score) -> String {
    let q = |v: &[f64], p: f64| percentile(v, p).map_or(f64::NAN, |x| x);
    format!(
        "{} scen, throws P {:.3} R {:.3}, measured {}/{}, drop med {:.1} p95 {:.1}, throw med {:.1} p95 {:.1}, handled {}/{}",
        s.scenarios,
        s.throw_precision(),
        s.throw_recall(),
        s.flights_measured,
        s.flights_true,
        q(&s.drop_errors_cm, 0.5),
        q(&s.drop_errors_cm, 0.95),
        q(&s.throw_errors_cm, 0.5),
        q(&s.throw_errors_cm, 0.95),
        s.handled_detected,
        s.handled_true
    )
}

fn gauss(rng: &mut SplitMix64) -> f64 {
    let u = rng.f64().max(1e-12);
    let v = rng.f64();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

fn bbox(v: &serde_json::Value) -> BBox {
    let g = |i: usize| v[i].as_f64().unwrap_or(0.0) as f32;
    BBox::new(g(0), g(1), g(2), g(3))
}

/// Runs one scenario through the rules; returns its fps and score.
fn run_scenario(dir: &Path, opts: &Options, seed: u64) -> (u32, Score) {
    let cal = Calibration::load(&dir.join("calibration.toml")).expect("calibration");
    let text = std::fs::read_to_string(dir.join("truth.json")).expect("truth.json");
    let truth: Truth = serde_json::from_str(&text).expect("truth");
    let raw: serde_json::Value = serde_json::from_str(&text).expect("truth");
    let fps = raw["fps"].as_f64().unwrap_or(0.0).round() as u32;
    let (w, h) = (
        raw["image_width"].as_f64().unwrap_or(768.0) as f32,
        raw["image_height"].as_f64().unwrap_or(576.0) as f32,
    );
    let limits = RulesConfig {
        max_drop_cm: truth.limits.max_drop_cm,
        max_throw_cm: truth.limits.max_throw_cm,
        landed_centre_height_cm: std::env::var("ORACLE_LANDED_Z")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(RulesConfig::default().landed_centre_height_cm),
        ..RulesConfig::default()
    };
    let mut rules = Rules::new(limits, cal);
    let mut rng = SplitMix64::new(0x5eed ^ seed);
    let frames = std::fs::read_to_string(dir.join("frames.jsonl")).expect("frames.jsonl");
    // Truth parcel id → (track id, track); a parcel out of sight ends its
    // track, and coming back starts a new one, as with the real tracker.
    let mut tracks: HashMap<u64, ObjectTrack> = HashMap::new();
    let mut airborne: HashMap<u64, usize> = HashMap::new();
    let mut next_id = 1;
    let mut events = Vec::new();
    let mut t_end = 0.0;
    for line in frames.lines() {
        let f: serde_json::Value = serde_json::from_str(line).expect("frame line");
        let t = f["t_s"].as_f64().expect("t_s");
        t_end = t;
        let people: Vec<PersonTrack> = f["workers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|wk| {
                let b = bbox(&wk["bbox"]);
                let mut kps = [Keypoint {
                    x: 0.0,
                    y: 0.0,
                    score: 0.0,
                }; NUM_KEYPOINTS];
                for (k, kp) in kps.iter_mut().enumerate() {
                    let v = &wk["keypoints"][k];
                    *kp = Keypoint {
                        x: v[0].as_f64().unwrap_or(0.0) as f32,
                        y: v[1].as_f64().unwrap_or(0.0) as f32,
                        score: v[2].as_f64().unwrap_or(0.0) as f32,
                    };
                }
                PersonTrack {
                    id: wk["id"].as_u64().expect("worker id"),
                    person: Person {
                        bbox: b,
                        score: 1.0,
                        keypoints: kps,
                    },
                    predicted: b,
                    velocity: (0.0, 0.0),
                    last_seen_s: t,
                    first_seen_s: 0.0,
                    hits: 100,
                    visible: true,
                    appearance: None,
                }
            })
            .collect();
        let mut seen = Vec::new();
        for p in f["parcels"].as_array().into_iter().flatten() {
            let pid = p["id"].as_u64().expect("parcel id");
            let state = p["state"].as_str().unwrap_or("");
            let (u, v) = (
                p["centre_px"][0].as_f64().unwrap_or(-1.0),
                p["centre_px"][1].as_f64().unwrap_or(-1.0),
            );
            let inside = u >= 0.0 && v >= 0.0 && u < f64::from(w) && v < f64::from(h);
            // Frames airborne so far for this parcel.
            let air = airborne.entry(pid).or_insert(0);
            if state == "air" {
                *air += 1;
            } else {
                *air = 0;
            }
            let hidden = state == "air" && *air <= opts.hide_air;
            if !inside || hidden || (state == "held" && !opts.held) {
                continue;
            }
            // Blob centres jitter while a parcel moves; one at rest is the
            // same pixels every frame.
            let sigma = if state == "rest" || state == "belt" {
                0.0
            } else {
                opts.noise_px
            };
            let (dx, dy) = (sigma * gauss(&mut rng), sigma * gauss(&mut rng));
            let b = bbox(&p["bbox"]);
            let point = TrajectoryPoint {
                t_s: t,
                x: (u + dx) as f32,
                y: (v + dy) as f32,
                bbox: BBox::new(
                    b.x0 + dx as f32,
                    b.y0 + dy as f32,
                    b.x1 + dx as f32,
                    b.y1 + dy as f32,
                ),
            };
            let track = tracks.entry(pid).or_insert_with(|| {
                next_id += 1;
                ObjectTrack {
                    id: next_id - 1,
                    trajectory: VecDeque::new(),
                    velocity: (0.0, 0.0),
                    visible: true,
                }
            });
            track.trajectory.push_back(point);
            if track.trajectory.len() > MAX_POINTS {
                track.trajectory.pop_front();
            }
            seen.push(pid);
        }
        tracks.retain(|pid, _| seen.contains(pid));
        let mut objects: Vec<ObjectTrack> = tracks.values().cloned().collect();
        objects.sort_by_key(|o| o.id);
        events.extend(rules.update(t, &people, &objects));
    }
    events.extend(rules.finish(t_end + 0.1));
    if std::env::var_os("ORACLE_FLIGHTS").is_some() {
        print_flights(&truth, &events);
    }
    (fps, score_events(&truth, &events, "oracle", 5.0))
}

/// One line per true flight with what the rules measured for it.
fn print_flights(truth: &Truth, events: &[Event]) {
    let measured: Vec<&FlightMeasure> = events
        .iter()
        .filter_map(|e| match e {
            Event::Handling(h) => h.flight.as_ref(),
            Event::Violation(_) => None,
        })
        .collect();
    let spans: Vec<(f64, f64)> = measured
        .iter()
        .map(|m| (m.t_release_s, m.t_land_s))
        .collect();
    let pairs = sortwatch::cmd::eval::assign(&truth.flights, &spans);
    for (f, pair) in truth.flights.iter().zip(pairs) {
        let m = pair.map(|j| measured[j]);
        let d = |a: [f64; 3], b: [f64; 3]| {
            format!(
                "{:+.0},{:+.0},{:+.0}",
                a[0] - b[0],
                a[1] - b[1],
                a[2] - b[2]
            )
        };
        let got = m.map_or("-".to_string(), |m| {
            format!(
                "t {:.3}..{:.3} drop {:.1} throw {:.1} pts {} rms {:.2} dRel {} dLand {}",
                m.t_release_s,
                m.t_land_s,
                m.drop_height_cm,
                m.throw_distance_cm,
                m.points,
                m.rms_px,
                d(m.release_cm, f.release_cm),
                d(m.landing_cm, f.landing_cm),
            )
        });
        println!(
            "{} true t {:.3}..{:.3} drop {:.1} throw {:.1} | {got}",
            truth.scenario, f.t_release_s, f.t_land_s, f.drop_height_cm, f.throw_distance_cm
        );
    }
}
