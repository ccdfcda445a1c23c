//! The real CCTV sample (vtest.avi from Debian's opencv-doc) through the real
//! decoder and model: people are tracked with stable ids, nothing is flagged,
//! and the overlay video is a playable H.264 MP4.
//!
//! Track ids are measured against samples/vtest.walkers.json: full-frame
//! detections linked offline with hindsight (samples/link_walkers.py) and
//! checked by eye, walker by walker.

mod common;
use common::*;
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Deserialize)]
struct Reference {
    frames: u64,
    walkers: Vec<Walker>,
}

#[derive(Deserialize)]
struct Walker {
    walker: u32,
    /// [frame, x0, y0, x1, y1]
    frames: Vec<[f32; 5]>,
}

#[derive(Deserialize)]
struct TrackLine {
    frame: u64,
    id: u64,
    bbox: [f32; 4],
}

fn iou(a: &[f32], b: &[f32]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let i = w * h;
    let u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i;
    if u > 0.0 {
        i / u
    } else {
        0.0
    }
}

/// For one reference walker: the share of their visible frames in which the
/// live tracker shows them under their most common track id.
fn persistence(w: &Walker, tracks: &HashMap<u64, Vec<TrackLine>>) -> (f32, Option<u64>) {
    let mut counts: HashMap<u64, usize> = HashMap::new();
    for f in &w.frames {
        let best = tracks
            .get(&(f[0] as u64))
            .into_iter()
            .flatten()
            .map(|t| (t.id, iou(&f[1..], &t.bbox)))
            .filter(|&(_, o)| o >= 0.3)
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((id, _)) = best {
            *counts.entry(id).or_default() += 1;
        }
    }
    let top = counts
        .into_iter()
        .max_by_key(|&(id, n)| (n, std::cmp::Reverse(id)));
    let share = top.map_or(0, |(_, n)| n) as f32 / w.frames.len() as f32;
    (share, top.map(|(id, _)| id))
}

#[test]
fn real_cctv_sample_tracks_walkers_with_stable_ids_and_flags_nothing() {
    let d = tmp();
    let (events, tracks, overlay) = (
        d.path().join("events.jsonl"),
        d.path().join("tracks.jsonl"),
        d.path().join("overlay.mp4"),
    );
    let out = run_ok(&mut replay(
        VTEST,
        &path(VTEST_CAL),
        &events,
        &[
            "--tracks",
            tracks.to_str().unwrap(),
            "--overlay",
            overlay.to_str().unwrap(),
        ],
    ));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(" fps"),
        "replay prints its frame rate: {stderr}"
    );
    eprintln!("{stderr}");

    // Events: the summary, and no violations on ordinary walking.
    let text = std::fs::read_to_string(&events).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary = lines.last().unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["frames"], 795);
    assert!(
        (summary["duration_s"].as_f64().unwrap() - 79.5).abs() < 0.01,
        "{summary}"
    );
    assert_eq!(summary["violations"], 0);
    assert_eq!(summary["throws"], 0);
    assert_eq!(summary["kicks"], 0);
    assert!(lines.iter().all(|l| l["event"] != "violation"));

    // Tracks against the walker reference (examples/walker_reference.rs).
    let reference: Reference =
        serde_json::from_str(&std::fs::read_to_string("samples/vtest.walkers.json").unwrap())
            .unwrap();
    assert_eq!(reference.frames, 795);
    let mut by_frame: HashMap<u64, Vec<TrackLine>> = HashMap::new();
    for l in std::fs::read_to_string(&tracks).unwrap().lines() {
        let t: TrackLine = serde_json::from_str(l).unwrap();
        by_frame.entry(t.frame).or_default().push(t);
    }
    let mut report = Vec::new();
    let mut worst = 1.0f32;
    for w in &reference.walkers {
        let (share, id) = persistence(w, &by_frame);
        report.push(format!(
            "walker {:>2}: {:>3} frames, track {:?} holds {:.0}%",
            w.walker,
            w.frames.len(),
            id,
            share * 100.0
        ));
        worst = worst.min(share);
    }
    eprintln!("{}", report.join("\n"));
    assert!(
        reference.walkers.len() >= 20,
        "reference has {} walkers",
        reference.walkers.len()
    );
    // The bar: every walker seen for at least 3 s keeps one id for at least
    // 80% of the frames they are visible in.
    assert!(
        worst >= 0.8,
        "a walker kept one id for only {:.0}% of their frames:\n{}",
        worst * 100.0,
        report.join("\n")
    );
    let ids = summary["people_tracked"].as_u64().unwrap();
    assert!(
        ids >= reference.walkers.len() as u64,
        "{ids} ids for {} walkers",
        reference.walkers.len()
    );

    // The overlay is H.264, one frame per input frame, as ffprobe sees it.
    assert_eq!(ffprobe(&overlay), ("h264".to_string(), 795));
}
