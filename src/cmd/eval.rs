//! `sortwatch eval`: runs the detector over simulated scenarios (each a
//! directory with `video.mp4`, `calibration.toml` and `truth.json`, as
//! `sortwatch simulate` writes them) and scores it against their truth:
//! precision and recall of throws and kicks, measurement errors, handling count.

use super::replay;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// A scenario directory, or a directory of scenario directories.
    pub dir: PathBuf,
    /// Analysis settings (TOML; see docs/config.md).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Pose model path.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Also write the full report (JSON) here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Cases whose larger margin over a limit is within this many cm are
    /// left out of precision and recall. Default 5.
    #[arg(long, default_value_t = 5.0)]
    pub near_limit_cm: f64,
}

/// The simulator's truth (the fields eval reads; see docs/simulator.md).
#[derive(Debug, Clone, Deserialize)]
pub struct Truth {
    pub scenario: String,
    pub limits: Limits,
    pub releases: Vec<TruthRelease>,
    pub flights: Vec<TruthFlight>,
    pub kicks: Vec<TruthKick>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub struct Limits {
    pub max_drop_cm: f64,
    pub max_throw_cm: f64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TruthRelease {
    pub t_s: f64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TruthFlight {
    /// World cm of the parcel's centre at release and at touchdown.
    #[serde(default)]
    pub release_cm: [f64; 3],
    #[serde(default)]
    pub landing_cm: [f64; 3],
    pub t_release_s: f64,
    pub t_land_s: f64,
    pub drop_height_cm: f64,
    pub throw_distance_cm: f64,
    pub violation: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TruthKick {
    pub t_s: f64,
}

/// What the detector said, read back from the replay's events.
#[derive(Debug, Clone, Default)]
struct Detected {
    /// (t_start, t_end) of throw violations.
    throws: Vec<(f64, f64)>,
    kicks: Vec<f64>,
    /// Measured flights: (release, landing, drop, throw).
    flights: Vec<(f64, f64, f64, f64)>,
    handled: u64,
}

/// Scores of one scenario or of a whole suite.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Score {
    pub scenarios: usize,
    pub throw_tp: u64,
    pub throw_fp: u64,
    pub throw_fn: u64,
    /// Truth flights left out for being within `near_limit_cm` of a limit.
    pub throw_excluded: u64,
    pub kick_tp: u64,
    pub kick_fp: u64,
    pub kick_fn: u64,
    pub handled_true: u64,
    pub handled_detected: u64,
    pub flights_true: u64,
    pub flights_measured: u64,
    /// |measured − true| per measured flight, cm.
    pub drop_errors_cm: Vec<f64>,
    pub throw_errors_cm: Vec<f64>,
    /// Scenarios with a miss or a false alarm, for a person to look at.
    pub failures: Vec<String>,
}

impl Score {
    pub fn add(&mut self, o: Score) {
        self.scenarios += o.scenarios;
        self.throw_tp += o.throw_tp;
        self.throw_fp += o.throw_fp;
        self.throw_fn += o.throw_fn;
        self.throw_excluded += o.throw_excluded;
        self.kick_tp += o.kick_tp;
        self.kick_fp += o.kick_fp;
        self.kick_fn += o.kick_fn;
        self.handled_true += o.handled_true;
        self.handled_detected += o.handled_detected;
        self.flights_true += o.flights_true;
        self.flights_measured += o.flights_measured;
        self.drop_errors_cm.extend(o.drop_errors_cm);
        self.throw_errors_cm.extend(o.throw_errors_cm);
        self.failures.extend(o.failures);
    }

    pub fn throw_precision(&self) -> f64 {
        ratio(self.throw_tp, self.throw_tp + self.throw_fp)
    }
    pub fn throw_recall(&self) -> f64 {
        ratio(self.throw_tp, self.throw_tp + self.throw_fn)
    }
    pub fn kick_precision(&self) -> f64 {
        ratio(self.kick_tp, self.kick_tp + self.kick_fp)
    }
    pub fn kick_recall(&self) -> f64 {
        ratio(self.kick_tp, self.kick_tp + self.kick_fn)
    }
    /// |detected − true| / true over all handling operations.
    pub fn handling_error(&self) -> f64 {
        (self.handled_detected as f64 - self.handled_true as f64).abs()
            / (self.handled_true.max(1) as f64)
    }

    pub fn describe(&self) -> String {
        let q = |v: &[f64], p: f64| percentile(v, p).map_or("n/a".into(), |x| format!("{x:.1}"));
        format!(
            "{} scenarios\n\
             throws: precision {:.3} recall {:.3} (tp {} fp {} fn {}, {} near the limit left out)\n\
             kicks: precision {:.3} recall {:.3} (tp {} fp {} fn {})\n\
             flights measured: {} of {}\n\
             drop height error cm: median {} p95 {}\n\
             throw distance error cm: median {} p95 {}\n\
             handling: detected {} true {} (error {:.1}%)",
            self.scenarios,
            self.throw_precision(),
            self.throw_recall(),
            self.throw_tp,
            self.throw_fp,
            self.throw_fn,
            self.throw_excluded,
            self.kick_precision(),
            self.kick_recall(),
            self.kick_tp,
            self.kick_fp,
            self.kick_fn,
            self.flights_measured,
            self.flights_true,
            q(&self.drop_errors_cm, 0.5),
            q(&self.drop_errors_cm, 0.95),
            q(&self.throw_errors_cm, 0.5),
            q(&self.throw_errors_cm, 0.95),
            self.handled_detected,
            self.handled_true,
            100.0 * self.handling_error(),
        )
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

/// Nearest-rank percentile (`p` in 0..=1) of unsorted values.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let i = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len().max(1)) - 1;
    v.get(i).copied()
}

/// Scenario directories under `dir` (or `dir` itself), sorted.
pub fn scenario_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    if dir.join("truth.json").is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let entries =
        std::fs::read_dir(dir).map_err(|e| Error::io(dir, "cannot read scenario directory", e))?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("truth.json").is_file())
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        return Err(Error::new(crate::error::ErrorKind::NotFound, format!(
            "{}: no scenarios (directories with truth.json); make some with `sortwatch simulate --suite N --out {}`",
            dir.display(),
            dir.display()
        )));
    }
    Ok(dirs)
}

pub fn run(args: &Args) -> Result<Score> {
    let mut total = Score::default();
    for dir in scenario_dirs(&args.dir)? {
        let events = dir.join("events.jsonl");
        replay::run(
            &replay::Args {
                video: dir.join("video.mp4").to_string_lossy().into_owned(),
                calibration: dir.join("calibration.toml"),
                events: events.clone(),
                overlay: None,
                tracks: None,
                config: args.config.clone(),
                model: args.model.clone(),
                image_fps: 10.0,
                max_frames: None,
            },
            false,
        )?;
        let truth_path = dir.join("truth.json");
        let text = std::fs::read_to_string(&truth_path)
            .map_err(|e| Error::io(&truth_path, "cannot read truth", e))?;
        let truth: Truth = serde_json::from_str(&text).map_err(|e| {
            Error::invalid(format!("{}: not a truth file: {e}", truth_path.display()))
        })?;
        let detected = read_events(&events)?;
        let s = score(&truth, &detected, args.near_limit_cm);
        tracing::info!(scenario = %truth.scenario, ?s, "scored");
        total.add(s);
    }
    if let Some(p) = &args.report {
        crate::fs::create_parent_dir(p)?;
        let json = serde_json::json!({
            "summary": {
                "scenarios": total.scenarios,
                "throw_precision": total.throw_precision(),
                "throw_recall": total.throw_recall(),
                "kick_precision": total.kick_precision(),
                "kick_recall": total.kick_recall(),
                "drop_error_median_cm": percentile(&total.drop_errors_cm, 0.5),
                "drop_error_p95_cm": percentile(&total.drop_errors_cm, 0.95),
                "throw_error_median_cm": percentile(&total.throw_errors_cm, 0.5),
                "throw_error_p95_cm": percentile(&total.throw_errors_cm, 0.95),
                "handling_error": total.handling_error(),
            },
            "score": total,
        });
        std::fs::write(p, serde_json::to_string_pretty(&json).expect("plain JSON"))
            .map_err(|e| Error::io(p, "cannot write report", e))?;
    }
    Ok(total)
}

fn read_events(path: &Path) -> Result<Detected> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Error::io(path, "cannot read events", e))?;
    let mut d = Detected::default();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?;
        d.add(&v);
    }
    Ok(d)
}

/// Scores the events a detector produced for one scenario against its truth,
/// as `sortwatch eval` does with the replay's output (the oracle harness in
/// examples/ feeds the rules truth tracks and scores them here).
pub fn score_events(
    truth: &Truth,
    events: &[crate::rules::Event],
    camera: &str,
    near_limit_cm: f64,
) -> Score {
    let mut d = Detected::default();
    for e in events {
        d.add(&crate::events::to_json(camera, e));
    }
    score(truth, &d, near_limit_cm)
}

impl Detected {
    /// Takes in one replay line.
    fn add(&mut self, v: &serde_json::Value) {
        let num = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
        match (v["event"].as_str(), v["kind"].as_str()) {
            (Some("violation"), Some("throw")) => {
                self.throws.push((num("t_start_s"), num("t_end_s")));
            }
            (Some("violation"), Some("kick")) => self.kicks.push(num("t_start_s")),
            (Some("handling"), _) => {
                self.handled += 1;
                let f = &v["flight"];
                if f.is_object() {
                    let g = |k: &str| f[k].as_f64().unwrap_or(f64::NAN);
                    self.flights.push((
                        g("t_release_s"),
                        g("t_land_s"),
                        g("drop_height_cm"),
                        g("throw_distance_cm"),
                    ));
                }
            }
            _ => {}
        }
    }
}

/// How far past its limits a flight went: the larger margin, cm (negative
/// when within both).
fn margin(f: &TruthFlight, l: &Limits) -> f64 {
    (f.drop_height_cm - l.max_drop_cm).max(f.throw_distance_cm - l.max_throw_cm)
}

/// Detected and true flights are the same when their airborne spans overlap,
/// with slack for the release hidden in the hands.
fn same_flight(t: &TruthFlight, (start, end): (f64, f64)) -> bool {
    start <= t.t_land_s + 0.2 && end >= t.t_release_s - 0.2
}

/// Pairs true flights with detected spans one to one: among overlapping
/// pairs, the closest in release and landing time first (several workers
/// may throw at once). `pairs[i]` is the detection for `truth[i]`.
pub fn assign(truth: &[TruthFlight], spans: &[(f64, f64)]) -> Vec<Option<usize>> {
    let mut cands: Vec<(f64, usize, usize)> = Vec::new();
    for (i, f) in truth.iter().enumerate() {
        for (j, &span) in spans.iter().enumerate() {
            if same_flight(f, span) {
                let cost = (span.0 - f.t_release_s).abs() + (span.1 - f.t_land_s).abs();
                cands.push((cost, i, j));
            }
        }
    }
    cands.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut pairs = vec![None; truth.len()];
    let mut used = vec![false; spans.len()];
    for (_, i, j) in cands {
        if pairs[i].is_none() && !used[j] {
            pairs[i] = Some(j);
            used[j] = true;
        }
    }
    pairs
}

fn score(truth: &Truth, d: &Detected, near_limit_cm: f64) -> Score {
    let mut s = Score {
        scenarios: 1,
        handled_true: truth.releases.len() as u64,
        handled_detected: d.handled,
        flights_true: truth.flights.len() as u64,
        ..Score::default()
    };
    let throws = assign(&truth.flights, &d.throws);
    let spans: Vec<(f64, f64)> = d.flights.iter().map(|&(r, l, _, _)| (r, l)).collect();
    let measured = assign(&truth.flights, &spans);
    for (i, f) in truth.flights.iter().enumerate() {
        let near = margin(f, &truth.limits).abs() <= near_limit_cm;
        match (near, f.violation, throws[i].is_some()) {
            (true, _, _) => s.throw_excluded += 1,
            (false, true, true) => s.throw_tp += 1,
            (false, true, false) => s.throw_fn += 1,
            (false, false, true) => s.throw_fp += 1,
            (false, false, false) => {}
        }
        if let Some(j) = measured[i] {
            let (_, _, drop, throw) = d.flights[j];
            s.flights_measured += 1;
            s.drop_errors_cm.push((drop - f.drop_height_cm).abs());
            s.throw_errors_cm.push((throw - f.throw_distance_cm).abs());
        }
    }
    let throw_used: Vec<bool> = (0..d.throws.len())
        .map(|j| throws.contains(&Some(j)))
        .collect();
    // Throw alarms that match no flight at all are false.
    s.throw_fp += throw_used.iter().filter(|u| !**u).count() as u64;
    let mut kick_used = vec![false; d.kicks.len()];
    for k in &truth.kicks {
        let hit = d
            .kicks
            .iter()
            .enumerate()
            .find(|(i, &t)| !kick_used[*i] && (t - k.t_s).abs() <= 0.5)
            .map(|(i, _)| i);
        match hit {
            Some(i) => {
                kick_used[i] = true;
                s.kick_tp += 1;
            }
            None => s.kick_fn += 1,
        }
    }
    s.kick_fp += kick_used.iter().filter(|u| !**u).count() as u64;
    if s.throw_fp + s.throw_fn + s.kick_fp + s.kick_fn > 0 || s.handled_detected != s.handled_true {
        s.failures.push(format!(
            "{}: throws tp {} fp {} fn {}; kicks tp {} fp {} fn {}; handled {} of {}",
            truth.scenario,
            s.throw_tp,
            s.throw_fp,
            s.throw_fn,
            s.kick_tp,
            s.kick_fp,
            s.kick_fn,
            s.handled_detected,
            s.handled_true
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flight(t: f64, drop: f64, throw: f64) -> TruthFlight {
        TruthFlight {
            release_cm: [0.0; 3],
            landing_cm: [0.0; 3],
            t_release_s: t,
            t_land_s: t + 0.4,
            drop_height_cm: drop,
            throw_distance_cm: throw,
            violation: drop > 50.0 || throw > 50.0,
        }
    }

    fn truth(flights: Vec<TruthFlight>) -> Truth {
        Truth {
            scenario: "t".into(),
            limits: Limits {
                max_drop_cm: 50.0,
                max_throw_cm: 50.0,
            },
            releases: flights
                .iter()
                .map(|f| TruthRelease { t_s: f.t_release_s })
                .collect(),
            flights,
            kicks: vec![TruthKick { t_s: 5.0 }],
        }
    }

    #[test]
    fn scoring_counts_hits_misses_false_alarms_and_leaves_out_near_limit_cases() {
        let t = truth(vec![
            flight(1.0, 80.0, 10.0), // violation, detected
            flight(2.0, 90.0, 0.0),  // violation, missed
            flight(3.0, 20.0, 10.0), // fine, but alarmed
            flight(4.0, 52.0, 0.0),  // near the limit: left out
        ]);
        let d = Detected {
            throws: vec![(1.05, 1.4), (3.0, 3.4), (4.0, 4.4), (9.0, 9.2)],
            kicks: vec![5.2, 7.0],
            flights: vec![(1.05, 1.4, 77.0, 12.0)],
            handled: 3,
        };
        let s = score(&t, &d, 5.0);
        assert_eq!(
            (s.throw_tp, s.throw_fn, s.throw_fp, s.throw_excluded),
            (1, 1, 2, 1)
        );
        assert_eq!((s.kick_tp, s.kick_fp, s.kick_fn), (1, 1, 0));
        assert_eq!(s.drop_errors_cm, vec![3.0]);
        assert_eq!(s.throw_errors_cm, vec![2.0]);
        assert!((s.handling_error() - 0.25).abs() < 1e-12);
        assert_eq!(s.failures.len(), 1);
    }

    #[test]
    fn percentile_is_nearest_rank() {
        let v = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(percentile(&v, 0.5), Some(3.0));
        assert_eq!(percentile(&v, 0.95), Some(5.0));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
