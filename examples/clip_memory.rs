//! Resident memory of violation clips per camera. Each camera decodes a
//! simulated 768x576 scene (looped, paced at its frame rate like a live
//! camera), pushes every frame into its clip ring and, every `--every`
//! seconds of media time, records a violation whose clip the node's clip
//! writer encodes (blur, overlay, MP4, snapshot, store). Pose is left out:
//! its model is shared by all cameras, not a per-camera cost.
//!
//! It prints VmRSS before the cameras start (the baseline: binary, FFmpeg,
//! SQLite, the writer thread), the peak while they run (sampled every 50 ms,
//! and VmHWM), and (peak − baseline) / cameras. Run it with `--no-clips` too:
//! the cameras then only decode, and the difference is what clips cost.
//!
//! ```sh
//! sortwatch simulate --scenario samples/scenarios/kick.toml --out out/kick
//! cargo run --example clip_memory -- out/kick/video.mp4 --cameras 4
//! cargo run --example clip_memory -- out/kick/video.mp4 --cameras 4 --no-clips
//! ```

use anyhow::{Context, Result};
use clap::Parser;
use sortwatch::bbox::BBox;
use sortwatch::clips::ring::Note;
use sortwatch::clips::writer::WriterSetup;
use sortwatch::clips::ClipWriter;
use sortwatch::clock::{unix_ms, SiteClock};
use sortwatch::config::service::ClipsConfig;
use sortwatch::mqtt::Topics;
use sortwatch::rules::{Event, Violation, ViolationKind};
use sortwatch::service::sink::{violation_id, wall_ms_at};
use sortwatch::store::{Store, ViolationRow};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

#[derive(Parser)]
struct Args {
    /// A 768x576 video (`sortwatch simulate … --out DIR` writes DIR/video.mp4).
    video: PathBuf,
    #[arg(long, default_value_t = 1)]
    cameras: usize,
    /// Seconds of media time per camera.
    #[arg(long, default_value_t = 30.0)]
    seconds: f64,
    /// A violation every this many seconds of media time, per camera.
    #[arg(long, default_value_t = 8.0)]
    every: f64,
    /// Decode only: no ring, no clips (the comparison run).
    #[arg(long)]
    no_clips: bool,
}

/// A `/proc/self/status` field in MB.
fn status_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let data = tempfile::tempdir()?;
    let clips = ClipsConfig::default();
    let writer = ClipWriter::start(WriterSetup {
        clips: clips.clone(),
        data_dir: data.path().to_path_buf(),
        clock: SiteClock::new("UTC", &[])?,
        store: Store::open(data.path())?,
        topics: Topics::new("sortwatch", "bench", "node"),
        publisher: None,
        hook: None,
    })?;
    // FFmpeg's and the JPEG codec's one-time set-up belong to the baseline.
    let _ = sortwatch::source::open("warm", &args.video.to_string_lossy(), 10.0)?.next_frame();
    let baseline = status_mb("VmRSS:");
    let done = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for i in 0..args.cameras {
        let cam = format!("cam-{i}");
        let recorder = (!args.no_clips).then(|| writer.camera(&cam));
        let (video, seconds, every) = (args.video.clone(), args.seconds, args.every);
        let store = Store::open(data.path())?;
        threads.push(std::thread::spawn(move || {
            camera(&cam, &video, seconds, every, recorder, store)
        }));
    }
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0.0f64;
            while !done.load(Ordering::Relaxed) {
                peak = peak.max(status_mb("VmRSS:"));
                std::thread::sleep(Duration::from_millis(50));
            }
            peak
        })
    };
    let mut rings = Vec::new();
    for t in threads {
        rings.push(t.join().expect("camera thread")?);
    }
    writer.finish();
    done.store(true, Ordering::Relaxed);
    let peak = sampler.join().expect("sampler");
    let written = std::fs::read_dir(data.path().join("clips"))
        .map(|d| {
            d.flatten()
                .filter_map(|c| std::fs::read_dir(c.path()).ok())
                .flat_map(|f| f.flatten())
                .filter(|f| f.path().extension().is_some_and(|e| e == "mp4"))
                .count()
        })
        .unwrap_or(0);
    let n = args.cameras.max(1) as f64;
    println!(
        "cameras {} clips {} | VmRSS baseline {baseline:.1} MB, peak {peak:.1} MB, VmHWM {:.1} MB | (peak - baseline) / camera {:.1} MB | clips written {written}",
        args.cameras,
        if args.no_clips { "off" } else { "on" },
        status_mb("VmHWM:"),
        (peak - baseline) / n,
    );
    for (bytes, frames, encode) in rings.iter().flatten() {
        println!(
            "  ring: {frames} frames, {:.1} MB of JPEG, {:.1} ms to compress a frame",
            *bytes as f64 / 1e6,
            encode.as_secs_f64() * 1000.0
        );
    }
    Ok(())
}

/// Ring bytes, frames and mean compression time at the end.
type RingFigures = Option<(usize, usize, Duration)>;

/// One camera: decode, pace, push, and a violation every `every` s.
fn camera(
    cam: &str,
    video: &Path,
    seconds: f64,
    every: f64,
    mut clips: Option<sortwatch::clips::CameraClips>,
    mut store: Store,
) -> Result<RingFigures> {
    let started = Instant::now();
    let mut offset = 0.0;
    let mut next_violation = every;
    let mut t = 0.0;
    while t < seconds {
        let mut src = sortwatch::source::open(cam, &video.to_string_lossy(), 10.0)
            .with_context(|| format!("open {}", video.display()))?;
        let period = src.info().fps.map_or(0.04, |f| 1.0 / f);
        if let Some(c) = clips.as_mut() {
            c.set_fps(1.0 / period);
        }
        while let Some(f) = src.next_frame()? {
            t = offset + f.media_time_s;
            if let Some(wait) =
                (started + Duration::from_secs_f64(t)).checked_duration_since(Instant::now())
            {
                std::thread::sleep(wait);
            }
            let wall = SystemTime::now();
            let mut events = Vec::new();
            if t >= next_violation {
                next_violation += every;
                let v = kick(t - 0.3, t);
                let start_ms = wall_ms_at(unix_ms(wall), t, v.t_start_s);
                store.record_violation(
                    &ViolationRow {
                        id: violation_id(cam, start_ms, v.parcel_id),
                        camera: cam.into(),
                        zone: None,
                        kind: "kick".into(),
                        at_ms: unix_ms(wall),
                        payload: "{}".into(),
                    },
                    &[],
                )?;
                events.push(Event::Violation(v));
            }
            if let Some(c) = clips.as_mut() {
                c.ring().push(t, &f.image);
                c.analysed(
                    t,
                    wall,
                    Note {
                        t_s: t,
                        ..Note::default()
                    },
                    &events,
                );
            }
            if t >= seconds {
                break;
            }
        }
        offset = t + period;
    }
    Ok(clips.map(|mut c| {
        c.flush();
        let r = c.ring();
        (r.bytes(), r.len(), r.mean_encode())
    }))
}

fn kick(t_start_s: f64, t_end_s: f64) -> Violation {
    Violation {
        kind: ViolationKind::Kick,
        t_start_s,
        t_end_s,
        person_id: 1,
        parcel_id: 1,
        zone: None,
        drop_height_cm: None,
        throw_distance_cm: None,
        kick_distance_cm: Some(100.0),
        limit_drop_cm: None,
        limit_throw_cm: None,
        person_box: BBox::default(),
        parcel_box_start: BBox::default(),
        parcel_box_end: BBox::default(),
        confidence: 0.9,
    }
}
