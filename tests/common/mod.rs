//! Helpers shared by the integration tests: running the real binary.

#![allow(dead_code)]

pub mod mqtt;
pub mod webdriver;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const VTEST: &str = "samples/vtest.avi";
pub const VTEST_CAL: &str = "calibration/vtest.toml";

pub fn sortwatch() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sortwatch"))
}

pub fn replay(video: &str, calibration: &Path, events: &Path, extra: &[&str]) -> Command {
    let mut c = sortwatch();
    c.arg("replay")
        .arg(video)
        .arg("--calibration")
        .arg(calibration)
        .arg("--events")
        .arg(events);
    c.args(extra);
    c
}

/// Runs a replay that writes its events to a scratch directory and returns
/// how it ended.
pub fn replay_output(video: &str, calibration: &Path, extra: &[&str]) -> Output {
    let d = tmp();
    replay(video, calibration, &d.path().join("events.jsonl"), extra)
        .output()
        .unwrap()
}

/// Asserts the process failed with `code`, printed exactly one line, did not
/// panic, and that the line contains every one of `needles`. Returns the line.
pub fn assert_one_line_error(out: &Output, code: i32, needles: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert_eq!(out.status.code(), Some(code), "exit code; stderr: {stderr}");
    let lines: Vec<&str> = stderr.trim().lines().collect();
    assert_eq!(lines.len(), 1, "one-line error expected, got: {stderr}");
    for n in needles {
        assert!(lines[0].contains(n), "`{n}` missing from: {}", lines[0]);
    }
    lines[0].to_string()
}

/// Asserts the process succeeded, showing its stderr if not.
pub fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `cmd` to the end and asserts it succeeded; returns how it ended.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert_ok(&out);
    out
}

pub fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

pub fn path(p: &str) -> PathBuf {
    PathBuf::from(p)
}

/// stdout of `ffprobe -v error -select_streams v:0 ARGS VIDEO`.
fn ffprobe_out(video: &Path, args: &[&str]) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0"])
        .args(args)
        .arg(video)
        .output()
        .expect("ffprobe (apt package ffmpeg) runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Codec and decoded frame count of a video's first stream, as ffprobe sees it.
pub fn ffprobe(video: &Path) -> (String, u64) {
    let text = ffprobe_out(
        video,
        &[
            "-count_frames",
            "-show_entries",
            "stream=codec_name,nb_read_frames",
            "-of",
            "csv=p=0",
        ],
    );
    let (codec, frames) = text
        .split_once(',')
        .unwrap_or_else(|| panic!("ffprobe said {text:?}"));
    (codec.to_string(), frames.trim().parse().unwrap())
}

/// Codec of a video's first stream and the container's duration (s), from
/// `ffprobe -show_entries stream=codec_name:format=duration`.
pub fn ffprobe_duration(video: &Path) -> (String, f64) {
    let text = ffprobe_out(
        video,
        &[
            "-show_entries",
            "stream=codec_name:format=duration",
            "-of",
            "default=nw=1",
        ],
    );
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("no {k} in ffprobe output {text:?}"))
            .to_string()
    };
    (field("codec_name"), field("duration").parse().unwrap())
}

/// `sortwatch calibrate --points POINTS --out OUT [extra]`.
pub fn calibrate(points: &Path, out: &Path, extra: &[&str]) -> Output {
    sortwatch()
        .arg("calibrate")
        .arg("--points")
        .arg(points)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

/// `sortwatch simulate --scenario SCENARIO --out OUT`.
pub fn simulate(scenario: &str, out: &Path) -> Output {
    sortwatch()
        .args(["simulate", "--scenario", scenario, "--out"])
        .arg(out)
        .output()
        .unwrap()
}

/// The kick sample with the worker waiting 4 s longer, and 10 s long: the
/// kick has its full 5 s pre-roll and 3 s post-roll inside the video.
pub const LATE_KICK: &str = r#"
name = "kick"
seed = 41
fps = 25
duration_s = 10.0

[camera]
height_cm = 420
tilt_deg = 55
focal_px = 700

[[workers]]
id = 1
at_cm = [-180, 300]
facing_deg = 0
shirt_rgb = [60, 60, 160]
trousers_rgb = [90, 80, 60]

[[parcels]]
id = 1
size_cm = [45, 35, 25]
at_cm = [-20, 330]
yaw_deg = 10

[[actions]]
worker = 1
t_s = 4.3
kind = "walk"
to_cm = [-110, 320]

[[actions]]
worker = 1
t_s = 5.6
kind = "kick"
parcel = 1
distance_cm = 120
"#;
