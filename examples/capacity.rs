//! Capacity benchmark: how many 25 fps 768x576 cameras one node of this
//! machine carries in real time. Each camera plays a simulated scenario,
//! looped to `--seconds`, on the clock through the service's camera worker
//! (`realtime = true`: a late analyser drops the oldest frame), all sharing one
//! pose pool as `sortwatch run` does. Per camera count it prints dropped
//! frames, achieved fps, CPU share, time per stage, and whether the events
//! equal an offline replay (no drops) of the same videos.
//!
//! ```sh
//! cargo build --release --examples
//! sortwatch simulate --suite 20 --seed 3 --out out/suite
//! target/release/examples/capacity out/suite --cameras 1,2,3,4,5,6
//! ```

use anyhow::{bail, Context, Result};
use clap::Parser;
use sortwatch::cmd::{eval, replay};
use sortwatch::config::AnalysisConfig;
use sortwatch::geometry::Calibration;
use sortwatch::pipeline::StageTimings;
use sortwatch::pose::pool::PosePool;
use sortwatch::rules::Event;
use sortwatch::service::camera::{self, CameraSpec, Events, Health, SharedHealth};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

#[derive(Parser)]
struct Args {
    /// Scenario directory (`sortwatch simulate --suite`); its 25 fps scenarios are the cameras.
    suite: PathBuf,
    /// Camera counts to try, in order.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 2, 3, 4, 5, 6])]
    cameras: Vec<usize>,
    /// Seconds of video per camera (each scenario is looped to this length).
    #[arg(long, default_value_t = 24.0)]
    seconds: f64,
    /// Analysis settings (TOML; docs/config.md). Defaults without it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Also replay each video offline with `[schedule] adaptive = false`, to
    /// show what the schedule saves (slow: pose on every frame).
    #[arg(long)]
    baseline: bool,
    /// Where the looped videos and offline events go.
    #[arg(long, default_value = "out/capacity")]
    work: PathBuf,
}

/// One camera's video, looped, with its offline (no-drop) events.
struct Video {
    name: String,
    path: PathBuf,
    calibration: PathBuf,
    /// The offline replay's events, made when first needed.
    offline: Option<Vec<String>>,
    frames: u64,
    events: PathBuf,
    config: Option<PathBuf>,
}

impl Video {
    /// Events of an offline replay (every frame, no clock) of the same video.
    fn offline(&mut self) -> Result<&[String]> {
        if self.offline.is_none() {
            let args = replay_args(
                &self.path,
                &self.calibration,
                &self.events,
                self.config.clone(),
            );
            let report = replay::run(&args, false)?;
            eprintln!("offline {}: {}", self.name, report.describe());
            self.offline = Some(read_events(&self.events)?);
        }
        Ok(self.offline.as_deref().unwrap_or_default())
    }
}

/// Records a camera's events as the JSON lines replay writes.
struct Recorder {
    camera: String,
    out: Arc<Mutex<Vec<String>>>,
}

impl Events for Recorder {
    fn handle(&mut self, events: &[Event], _: f64, _: SystemTime) {
        let mut out = self.out.lock().expect("recorder lock");
        out.extend(
            events
                .iter()
                .map(|e| normalise(&sortwatch::events::to_json(&self.camera, e).to_string())),
        );
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let cfg = match &args.config {
        Some(p) => AnalysisConfig::load(p)?,
        None => AnalysisConfig::default(),
    };
    let need = args.cameras.iter().copied().max().unwrap_or(1);
    let mut videos = prepare(&args, need)?;
    eprintln!(
        "schedule: adaptive = {}, base {} s, hold {} s; discovery every {} s",
        cfg.schedule.adaptive,
        cfg.schedule.base_interval_s,
        cfg.schedule.hold_s,
        cfg.regions.discovery_interval_s
    );
    println!(
        "| cameras | dropped | fps per camera (min) | node CPU | machine busy | max lag ms | events = offline | ms per frame: decode / motion / plan / pose pre / inference / post / tracking+rules | pose frames |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for &n in &args.cameras {
        let mut r = run_node(&cfg, &videos[..n])?;
        // Drops change what the analyser saw; only a clean run is compared
        // with the (slow) offline replay.
        let dropped: u64 = r.health.iter().map(|h| h.dropped_frames).sum();
        for (i, v) in videos[..n].iter_mut().enumerate() {
            r.same_events[i] = dropped == 0 && r.events[i] == v.offline()?;
            if dropped == 0 && !r.same_events[i] {
                let live = args.work.join(format!("{}.live-{n}.jsonl", v.name));
                std::fs::write(&live, r.events[i].join("\n") + "\n")?;
                eprintln!(
                    "{}: live events differ from the offline replay; see {}",
                    v.name,
                    live.display()
                );
            }
        }
        println!("{}", r.row(n));
    }
    Ok(())
}

/// Loops the first `need` 25 fps scenarios and replays each offline.
fn prepare(args: &Args, need: usize) -> Result<Vec<Video>> {
    std::fs::create_dir_all(&args.work)?;
    let mut dirs = Vec::new();
    for d in eval::scenario_dirs(&args.suite)? {
        let text = std::fs::read_to_string(d.join("scenario.toml")).unwrap_or_default();
        let v: toml::Table = toml::from_str(&text).unwrap_or_default();
        if v.get("fps").and_then(|f| f.as_float()) == Some(25.0) {
            dirs.push(d);
        }
    }
    if dirs.len() < need {
        bail!(
            "{}: {} scenarios at 25 fps, {need} needed (simulate a larger suite)",
            args.suite.display(),
            dirs.len()
        );
    }
    let mut videos = Vec::new();
    for d in dirs.into_iter().take(need) {
        let name = d.file_name().unwrap().to_string_lossy().into_owned();
        let path = args.work.join(format!("{name}.mp4"));
        let calibration = d.join("calibration.toml");
        loop_video(&d.join("video.mp4"), &path, args.seconds)?;
        let events = args.work.join(format!("{name}.offline.jsonl"));
        let frames = sortwatch::source::open("probe", &path.to_string_lossy(), 10.0)?
            .info()
            .frames
            .unwrap_or(0);
        if args.baseline {
            let off = args.work.join("schedule-off.toml");
            let mut text = match &args.config {
                Some(p) => std::fs::read_to_string(p)?,
                None => String::new(),
            };
            if text.contains("[schedule]") {
                bail!("--baseline with a config that has [schedule]: leave it out");
            }
            text.push_str("\n[schedule]\nadaptive = false\n");
            std::fs::write(&off, text)?;
            let ev = args.work.join(format!("{name}.offline-off.jsonl"));
            let base = replay::run(&replay_args(&path, &calibration, &ev, Some(off)), false)?;
            eprintln!("offline {name}, schedule off: {}", base.describe());
        }
        videos.push(Video {
            name,
            path,
            calibration,
            offline: None,
            frames,
            events,
            config: args.config.clone(),
        });
    }
    Ok(videos)
}

fn replay_args(video: &Path, cal: &Path, events: &Path, config: Option<PathBuf>) -> replay::Args {
    replay::Args {
        video: video.to_string_lossy().into_owned(),
        calibration: cal.to_path_buf(),
        events: events.to_path_buf(),
        overlay: None,
        tracks: None,
        config,
        model: None,
        image_fps: 10.0,
        max_frames: None,
    }
}

/// `input` repeated to at least `seconds` (stream copy: the same frames).
fn loop_video(input: &Path, out: &Path, seconds: f64) -> Result<()> {
    let info = sortwatch::source::open("probe", &input.to_string_lossy(), 10.0)?
        .info()
        .clone();
    let fps = info.fps.context("video without a frame rate")?;
    let length = info.frames.context("video without a frame count")? as f64 / fps;
    let repeats = (seconds / length).ceil().max(1.0) as u32 - 1;
    let status = std::process::Command::new("ffmpeg")
        .args(["-y", "-loglevel", "error", "-stream_loop"])
        .arg(repeats.to_string())
        .arg("-i")
        .arg(input)
        .args(["-c", "copy"])
        .arg(out)
        .status()
        .context("cannot run ffmpeg")?;
    if !status.success() {
        bail!("ffmpeg could not loop {}", input.display());
    }
    Ok(())
}

/// The event lines of a replay, without its summary.
fn read_events(path: &Path) -> Result<Vec<String>> {
    Ok(std::fs::read_to_string(path)?
        .lines()
        .filter(|l| !l.contains("\"summary\""))
        .map(normalise)
        .collect())
}

/// An event line as it reads back from a file: serde_json parses floats to
/// the nearest 17 digits, not exactly, so both sides of the comparison go
/// through the same parse (1.4000000000000001 s live reads back as 1.4).
fn normalise(line: &str) -> String {
    serde_json::from_str::<serde_json::Value>(line)
        .map_or_else(|_| line.to_owned(), |v| v.to_string())
}

struct NodeRun {
    wall: Duration,
    cpu: Duration,
    machine_busy: f64,
    health: Vec<Health>,
    same_events: Vec<bool>,
    events: Vec<Vec<String>>,
    expected_frames: Vec<u64>,
}

fn run_node(cfg: &AnalysisConfig, videos: &[Video]) -> Result<NodeRun> {
    let pool = PosePool::movenet(&cfg.pose)?;
    let stop = Arc::new(AtomicBool::new(false));
    let (cpu0, busy0) = (process_cpu(), machine_ticks());
    let started = Instant::now();
    let mut running = Vec::new();
    for v in videos {
        let calibration = Calibration::load(&v.calibration)?;
        let id = calibration.camera.clone();
        let spec = CameraSpec {
            id: id.clone(),
            url: v.path.to_string_lossy().into_owned(),
            shown_url: v.name.clone(),
            calibration,
            analysis: cfg.clone(),
            realtime: true,
            looped: false,
        };
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = Recorder {
            camera: id,
            out: out.clone(),
        };
        let health: SharedHealth = Arc::default();
        let (client, h, stop) = (pool.client(), health.clone(), stop.clone());
        let t = std::thread::Builder::new()
            .name(format!("cam-{}", v.name))
            .spawn(move || camera::run(spec, client, sink, h, stop, None))?;
        running.push((t, health, out));
    }
    let mut health = Vec::new();
    let mut events = Vec::new();
    for (t, h, out) in running {
        t.join()
            .map_err(|_| anyhow::anyhow!("camera thread panicked"))?;
        health.push(h.lock().unwrap().clone());
        events.push(out.lock().unwrap().clone());
    }
    let wall = started.elapsed();
    let (cpu1, busy1) = (process_cpu(), machine_ticks());
    let machine_busy = (busy1.0 - busy0.0) as f64 / ((busy1.1 - busy0.1) as f64).max(1.0);
    Ok(NodeRun {
        wall,
        cpu: cpu1.saturating_sub(cpu0),
        machine_busy,
        health,
        same_events: vec![false; events.len()],
        events,
        expected_frames: videos.iter().map(|v| v.frames).collect(),
    })
}

impl NodeRun {
    fn row(&self, n: usize) -> String {
        let secs = self.wall.as_secs_f64();
        let cores = std::thread::available_parallelism().map_or(2, |c| c.get()) as f64;
        let dropped: u64 = self.health.iter().map(|h| h.dropped_frames).sum();
        let missing: u64 = self
            .health
            .iter()
            .zip(&self.expected_frames)
            .map(|(h, &e)| e.saturating_sub(h.frames + h.dropped_frames))
            .sum();
        let fps_min = self
            .health
            .iter()
            .zip(&self.expected_frames)
            .map(|(h, &e)| 25.0 * h.frames as f64 / e.max(1) as f64)
            .fold(f64::INFINITY, f64::min);
        let mut s = StageTimings::default();
        let mut decode = Duration::ZERO;
        for h in &self.health {
            let t = &h.stages;
            s.motion += t.motion;
            s.plan += t.plan;
            s.pose.add(&t.pose);
            s.tracking += t.tracking;
            s.frames += t.frames;
            s.pose_frames += t.pose_frames;
            decode += h.decode;
        }
        let per = |d: Duration| 1e3 * d.as_secs_f64() / (s.frames.max(1) as f64);
        let lag = self
            .health
            .iter()
            .map(|h| h.max_lag)
            .max()
            .unwrap_or_default();
        let same = self.same_events.iter().filter(|s| **s).count();
        format!(
            "| {n} | {dropped}{} | {fps_min:.1} | {:.0}% | {:.0}% | {:.0} | {same}/{n} | {:.2} / {:.2} / {:.2} / {:.2} / {:.2} / {:.2} / {:.2} | {} of {} ({} inferences, {:.0} kpx mean) |",
            if missing > 0 { format!(" (+{missing} unread)") } else { String::new() },
            100.0 * self.cpu.as_secs_f64() / (secs * cores),
            100.0 * self.machine_busy,
            1e3 * lag.as_secs_f64(),
            per(decode),
            per(s.motion),
            per(s.plan),
            per(s.pose.preprocess),
            per(s.pose.inference),
            per(s.pose.postprocess),
            per(s.tracking),
            s.pose_frames,
            s.frames,
            s.pose.inferences,
            s.pose.mean_input_kpx(),
        )
    }
}

/// CPU time of this process (user + system), from /proc.
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name: state is field 3; utime, stime are 14, 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    // Kernel clock ticks are 100 per second on Linux.
    Duration::from_millis(10 * f.iter().sum::<u64>())
}

/// (busy, total) jiffies of the whole machine, from /proc/stat.
fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = v.iter().sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}
