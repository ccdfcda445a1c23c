//! `sortwatch replay`: a video through the whole analysis, as fast as it goes,
//! writing events (JSON lines), optionally per-frame tracks and an overlay video.

use crate::clips::Mp4Writer;
use crate::config::AnalysisConfig;
use crate::error::{Error, ErrorKind, Result};
use crate::events::{self, Counts, ObjectRecord, Summary, TrackRecord};
use crate::geometry::Calibration;
use crate::overlay;
use crate::pipeline::{Analyzer, StageTimings};
use crate::pose::MoveNet;
use crate::source::{self, Frame};
use std::collections::BTreeSet;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Video file, stream URL, or a directory of images.
    pub video: String,
    /// Camera calibration (TOML; see docs/calibration.md).
    #[arg(long)]
    pub calibration: PathBuf,
    /// Where to write events, one JSON object per line.
    #[arg(long)]
    pub events: PathBuf,
    /// Also write the video with what the program saw drawn on it (H.264 MP4).
    #[arg(long)]
    pub overlay: Option<PathBuf>,
    /// Also write every confirmed person track and every moving object
    /// (parcel candidate) per frame (JSON lines).
    #[arg(long)]
    pub tracks: Option<PathBuf>,
    /// Analysis settings (TOML; see docs/config.md). Defaults apply without it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Pose model path (overrides the config's `pose.model`).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Frame rate for a directory of images.
    #[arg(long, default_value_t = 10.0)]
    pub image_fps: f64,
    /// Stop after this many frames.
    #[arg(long)]
    pub max_frames: Option<u64>,
}

/// What a replay measured, for the caller and for benches.
#[derive(Debug, Clone)]
pub struct Report {
    pub summary: Summary,
    pub wall: Duration,
    /// Time the decoder thread spent producing frames.
    pub decode: Duration,
    pub stages: StageTimings,
}

impl Report {
    pub fn describe(&self) -> String {
        let s = &self.stages;
        let secs = |d: Duration| d.as_secs_f64();
        let ratio = secs(self.wall) / (secs(self.decode) + secs(s.pose.inference)).max(1e-9);
        format!(
            "{} frames ({:.1} s of video) in {:.1} s: {:.1} fps\n  decode {:.2} s | motion {:.2} s | pose on {} frames, {} inferences of {:.0} kpx mean: pre {:.2} s, inference {:.2} s, post {:.2} s | tracking {:.3} s\n  wall / (decode + inference) = {:.3}",
            self.summary.frames,
            self.summary.duration_s,
            secs(self.wall),
            self.summary.processing_fps,
            secs(self.decode),
            secs(s.motion),
            s.pose_frames,
            s.pose.inferences,
            s.pose.mean_input_kpx(),
            secs(s.pose.preprocess),
            secs(s.pose.inference),
            secs(s.pose.postprocess),
            secs(s.tracking),
            ratio
        )
    }
}

pub fn run(args: &Args, progress: bool) -> Result<Report> {
    let mut cfg = match &args.config {
        Some(p) => AnalysisConfig::load(p)?,
        None => AnalysisConfig::default(),
    };
    if let Some(m) = &args.model {
        cfg.pose.model = m.clone();
    }
    let calibration = Calibration::load(&args.calibration)?;
    let camera = calibration.camera.clone();
    let src = source::open(&camera, &args.video, args.image_fps)?;
    let info = src.info().clone();
    if (info.width, info.height) != (calibration.image_width, calibration.image_height) {
        return Err(Error::config(format!(
            "calibration file {}: keys `image_width`/`image_height` say {}x{} but {} is {}x{} (calibrate this camera at its streaming resolution)",
            args.calibration.display(),
            calibration.image_width,
            calibration.image_height,
            args.video,
            info.width,
            info.height
        )));
    }
    let pose = MoveNet::load(cfg.pose.clone())?;
    let mut analyzer = Analyzer::new(&cfg, pose, calibration);
    let mut events = create(&args.events)?;
    let mut tracks_out = args.tracks.as_deref().map(create).transpose()?;
    let mut video_out = match &args.overlay {
        Some(p) => Some(Mp4Writer::create(
            p,
            info.width,
            info.height,
            info.fps.unwrap_or(10.0),
        )?),
        None => None,
    };
    let total = args.max_frames.or(info.frames).unwrap_or(0);
    let bar = if progress {
        indicatif::ProgressBar::new(total)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {wide_bar} {pos}/{len} frames {per_sec} eta {eta}",
        )
        .expect("static template"),
    );

    let started = Instant::now();
    // Decoding runs on its own thread so it overlaps pose inference; the
    // bounded channel keeps memory flat. Replay never drops frames.
    let (tx, rx) = mpsc::sync_channel::<Result<Frame>>(4);
    let max_frames = args.max_frames.unwrap_or(u64::MAX);
    let decoder = std::thread::Builder::new()
        .name(format!("decode-{camera}"))
        .spawn(move || {
            let mut src = src;
            let mut busy = Duration::ZERO;
            let mut n = 0u64;
            while n < max_frames {
                let t0 = Instant::now();
                let item = src.next_frame();
                busy += t0.elapsed();
                match item {
                    Ok(Some(f)) => {
                        n += 1;
                        if tx.send(Ok(f)).is_err() {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        break;
                    }
                }
            }
            busy
        })
        .map_err(|e| {
            Error::new(
                ErrorKind::Internal,
                format!("cannot start decoder thread: {e}"),
            )
        })?;

    let mut ids = BTreeSet::new();
    let mut counts = Counts::default();
    let (mut frames, mut last_t) = (0u64, 0.0f64);
    let mut fail = None;
    for item in rx {
        let mut frame = match item {
            Ok(f) => f,
            Err(e) => {
                fail = Some(e);
                break;
            }
        };
        let analysis = analyzer.process(&frame)?;
        for e in &analysis.events {
            counts.add(e);
            write_line(&mut events, &events::to_json(&camera, e), &args.events)?;
        }
        let visible = analyzer.visible_people();
        ids.extend(visible.iter().map(|p| p.id));
        if let Some(out) = tracks_out.as_mut() {
            for p in &visible {
                let b = p.person.bbox;
                let rec = TrackRecord {
                    event: "track",
                    frame: frame.seq,
                    t_s: frame.media_time_s,
                    id: p.id,
                    bbox: [b.x0, b.y0, b.x1, b.y1],
                    score: p.person.score,
                    keypoints: p
                        .person
                        .keypoints
                        .iter()
                        .map(|k| [k.x, k.y, k.score])
                        .collect(),
                };
                write_line(out, &rec, args.tracks.as_deref().unwrap_or(Path::new("")))?;
            }
            for o in analyzer.objects.tracks().iter().filter(|o| o.visible) {
                let Some(p) = o.trajectory.back() else {
                    continue;
                };
                let b = p.bbox;
                let rec = ObjectRecord {
                    event: "object",
                    frame: frame.seq,
                    t_s: frame.media_time_s,
                    id: o.id,
                    x: p.x,
                    y: p.y,
                    bbox: [b.x0, b.y0, b.x1, b.y1],
                };
                write_line(out, &rec, args.tracks.as_deref().unwrap_or(Path::new("")))?;
            }
        }
        if let Some(w) = video_out.as_mut() {
            let status = format!(
                "{} f{} t={:.1}s people={}",
                camera,
                frame.seq,
                frame.media_time_s,
                visible.len()
            );
            overlay::draw_frame(
                &mut frame.image,
                &analysis.blobs,
                &visible,
                analyzer.objects.tracks(),
                &analysis.regions,
                &status,
            );
            w.write(&frame.image, frame.media_time_s)?;
        }
        frames += 1;
        last_t = frame.media_time_s;
        bar.inc(1);
    }
    bar.finish_and_clear();
    let decode = decoder
        .join()
        .map_err(|_| Error::new(ErrorKind::Internal, "decoder thread panicked"))?;
    if let Some(w) = video_out {
        w.finish()?;
    }
    for e in &analyzer.finish(last_t + 1.0) {
        counts.add(e);
        write_line(&mut events, &events::to_json(&camera, e), &args.events)?;
    }
    let wall = started.elapsed();
    let frame_period = info.fps.map(|f| 1.0 / f).unwrap_or(0.0);
    let summary = Summary {
        event: "summary",
        frames,
        duration_s: if frames > 0 {
            last_t + frame_period
        } else {
            0.0
        },
        handled: counts.handled,
        violations: counts.violations(),
        throws: counts.throws,
        kicks: counts.kicks,
        compliance_rate: Summary::compliance(counts.handled, counts.violations()),
        people_tracked: ids.len() as u64,
        camera,
        processing_fps: frames as f64 / wall.as_secs_f64().max(1e-9),
    };
    write_line(&mut events, &summary, &args.events)?;
    flush(events, &args.events)?;
    if let (Some(out), Some(p)) = (tracks_out, args.tracks.as_deref()) {
        flush(out, p)?;
    }
    // A source that failed mid-stream still leaves its results written above.
    if let Some(e) = fail {
        return Err(e);
    }
    if let (Some(expected), None) = (info.frames, args.max_frames) {
        // Less than 90% of what the container promised: damaged or truncated.
        // Events for what was read are written above; the run still fails loudly.
        if frames * 10 < expected * 9 {
            return Err(Error::invalid(format!(
                "camera {}: {} ended after {frames} of {expected} frames (the file is truncated or damaged); events for the frames read are in {}",
                summary.camera,
                args.video,
                args.events.display()
            )));
        }
    }
    Ok(Report {
        summary,
        wall,
        decode,
        stages: analyzer.timings(),
    })
}

fn create(path: &Path) -> Result<BufWriter<std::fs::File>> {
    crate::fs::create_parent_dir(path)?;
    let f =
        std::fs::File::create(path).map_err(|e| Error::io(path, "cannot create output file", e))?;
    Ok(BufWriter::new(f))
}

fn write_line(out: &mut impl Write, value: &impl serde::Serialize, path: &Path) -> Result<()> {
    let mut line =
        serde_json::to_vec(value).map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))?;
    line.push(b'\n');
    out.write_all(&line)
        .map_err(|e| Error::io(path, "cannot write", e))
}

fn flush(out: BufWriter<std::fs::File>, path: &Path) -> Result<()> {
    let f = out
        .into_inner()
        .map_err(|e| Error::io(path, "cannot write", e.into_error()))?;
    f.sync_all().map_err(|e| Error::io(path, "cannot write", e))
}
