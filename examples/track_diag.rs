//! Perception diagnostic: runs the analyzer over simulated scenarios and, for
//! every airborne frame of every true flight, says whether a raw motion blob
//! covered the parcel and whether a parcel track was on it, and by how many
//! track ids the flight was seen. It locates where a missed throw was lost:
//! motion, the body cut, or tracking.
//!
//! `cargo run --release --example track_diag -- DIR [--config FILE]`

use sortwatch::config::AnalysisConfig;
use sortwatch::geometry::Calibration;
use sortwatch::pipeline::Analyzer;
use sortwatch::pose::MoveNet;
use sortwatch::source::{FfmpegSource, FrameSource};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut dir = None;
    let mut config = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--config" => config = args.next(),
            _ => dir = Some(a),
        }
    }
    let dir = dir.expect("usage: track_diag DIR [--config FILE]");
    let cfg = match config {
        Some(p) => AnalysisConfig::load(Path::new(&p)).expect("config"),
        None => AnalysisConfig::default(),
    };
    let dirs = sortwatch::cmd::eval::scenario_dirs(Path::new(&dir)).expect("scenarios");
    let (mut n, mut blob_on, mut track_on) = (0, 0, 0);
    for d in &dirs {
        let (a, b, c) = scenario(d, &cfg);
        n += a;
        blob_on += b;
        track_on += c;
    }
    println!("all: airborne frames {n}, blob on parcel {blob_on}, track on parcel {track_on}");
}

/// One airborne frame of a true flight.
struct Sample {
    t_s: f64,
    /// A raw motion blob's box holds the parcel's centre.
    blob: bool,
    /// A blob with the bodies cut out is centred on the parcel.
    off_body: bool,
    /// Parcel tracks whose latest point is on the parcel.
    tracks: Vec<u64>,
    /// People the analyzer sees.
    people: usize,
}

/// Airborne frames, frames with a raw blob on the parcel, frames with a track on it.
fn scenario(dir: &Path, cfg: &AnalysisConfig) -> (usize, usize, usize) {
    let cal = Calibration::load(&dir.join("calibration.toml")).expect("calibration");
    let pose = MoveNet::load(cfg.pose.clone()).expect("model");
    let mut analyzer = Analyzer::new(cfg, pose, cal);
    let frames = std::fs::read_to_string(dir.join("frames.jsonl")).expect("frames.jsonl");
    let truth: Vec<serde_json::Value> = frames
        .lines()
        .map(|l| serde_json::from_str(l).expect("frame line"))
        .collect();
    let video = dir.join("video.mp4");
    let mut src = FfmpegSource::open(Arc::from("diag"), video.to_str().expect("utf-8 path"))
        .expect("open video");
    let mut flights: BTreeMap<u64, Vec<Sample>> = BTreeMap::new();
    let mut i = 0;
    while let Some(frame) = src.next_frame().expect("decode") {
        let a = analyzer.process(&frame).expect("analyse");
        let Some(f) = truth.get(i) else { break };
        i += 1;
        let people = analyzer.visible_people().len();
        for p in f["parcels"].as_array().into_iter().flatten() {
            if p["state"] != "air" {
                continue;
            }
            let id = p["id"].as_u64().expect("parcel id");
            let c = &p["centre_px"];
            let (x, y) = (
                c[0].as_f64().expect("x") as f32,
                c[1].as_f64().expect("y") as f32,
            );
            let b = &p["bbox"];
            let half = (b[2].as_f64().unwrap() - b[0].as_f64().unwrap())
                .max(b[3].as_f64().unwrap() - b[1].as_f64().unwrap()) as f32
                / 2.0;
            // On the parcel: within half its size of its centre (8 px at least).
            let near = half.max(8.0);
            let blob = a.blobs.iter().any(|bl| {
                (bl.bbox.x0..=bl.bbox.x1).contains(&x) && (bl.bbox.y0..=bl.bbox.y1).contains(&y)
            });
            let off = a
                .off_body
                .iter()
                .any(|bl| (bl.cx - x).hypot(bl.cy - y) <= near);
            let ids: Vec<u64> = analyzer
                .objects
                .tracks()
                .iter()
                .filter(|t| t.visible)
                .filter(|t| {
                    let q = t.trajectory.back().expect("point");
                    (q.x - x).hypot(q.y - y) <= near
                })
                .map(|t| t.id)
                .collect();
            flights.entry(id).or_default().push(Sample {
                t_s: frame.media_time_s,
                blob,
                off_body: off,
                tracks: ids,
                people,
            });
        }
    }
    let name = dir.file_name().unwrap().to_string_lossy();
    let (mut n, mut nb, mut nt) = (0, 0, 0);
    for (id, fr) in &flights {
        let ids: BTreeSet<u64> = fr.iter().flat_map(|f| f.tracks.iter().copied()).collect();
        let line: String = fr
            .iter()
            .map(|f| match (f.blob, f.tracks.is_empty(), f.off_body) {
                (_, false, _) => 'T',
                (_, true, true) => 'o',
                (true, true, false) => 'b',
                (false, true, false) => '.',
            })
            .collect();
        println!(
            "{name} parcel {id}: t {:.2}-{:.2} {line} ids {ids:?} people {}",
            fr[0].t_s,
            fr[fr.len() - 1].t_s,
            fr.iter().map(|f| f.people).min().unwrap_or(0)
        );
        n += fr.len();
        nb += fr.iter().filter(|f| f.blob).count();
        nt += fr.iter().filter(|f| !f.tracks.is_empty()).count();
    }
    (n, nb, nt)
}
