//! Alert latency bench: from the moment a parcel lands (or a kicked parcel
//! comes to rest) to the violation's arrival at an independent subscriber,
//! during real-time playback.
//!
//! The sample scenes play as live cameras (`realtime`, looped) into a node
//! publishing to Debian's mosquitto; `mosquitto_sub -F '%U %p'` stamps each
//! arrival. A frame's wall time is when the real-time pacer delivers it, as a
//! camera would, so `t_end` in the payload is the landing on the wall clock
//! and `arrival - t_end` is the whole latency: decode, analysis, the rules'
//! wait to see the parcel at rest, the store commit and the broker hop.
//!
//! ```sh
//! cargo run --release --example alert_latency -- [--config ANALYSIS.toml] [SECONDS [CAMERA | SCENE_DIR ...]]
//! ```
//!
//! `--config` takes analysis settings (docs/config.md), e.g. the capacity
//! settings of README "Capacity" with which a camera keeps up in real time.
//!
//! Cameras default to `sim-kick` and `sim-toss-82cm`, the demo scenes with
//! violations. A directory written by `sortwatch simulate` plays as a camera
//! too (e.g. a scene rendered at a frame rate this machine keeps up with).

#[allow(dead_code)]
#[path = "../tests/common/mqtt.rs"]
mod mqtt;

use sortwatch::config::service::{Camera, ServiceConfig};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn main() {
    let mut argv: Vec<String> = std::env::args().skip(1).collect();
    let analysis = argv.iter().position(|a| a == "--config").map(|i| {
        let path = argv.get(i + 1).expect("--config needs a file").clone();
        argv.drain(i..i + 2);
        sortwatch::config::AnalysisConfig::load(std::path::Path::new(&path)).unwrap()
    });
    let secs: u64 = argv.first().and_then(|s| s.parse().ok()).unwrap_or(180);
    let dir = tempfile::tempdir().unwrap();
    let broker = mqtt::Mosquitto::start(&dir.path().join("broker"), mqtt::free_port());
    let args = sortwatch::cmd::demo::Args {
        data_dir: dir.path().join("data"),
        broker: Some(format!("mqtt://127.0.0.1:{}", broker.port)),
        mqtt_listen: "127.0.0.1:0".into(),
        web_listen: "127.0.0.1:0".into(),
        real_clip: "not-used-by-this-bench".into(),
    };
    let mut cfg: ServiceConfig = sortwatch::cmd::demo::config(&args).unwrap();
    if let Some(a) = analysis {
        cfg.analysis = a;
    }
    let mut wanted: Vec<String> = argv.into_iter().skip(1).collect();
    if wanted.is_empty() {
        wanted = vec!["sim-kick".into(), "sim-toss-82cm".into()];
    }
    let scene_dirs: Vec<std::path::PathBuf> = wanted
        .iter()
        .map(std::path::PathBuf::from)
        .filter(|p| p.is_dir())
        .collect();
    let template = cfg.cameras[0].clone();
    cfg.cameras.retain(|c: &Camera| wanted.contains(&c.id));
    for dir in scene_dirs {
        let cal = dir.join("calibration.toml");
        let id = sortwatch::geometry::Calibration::load(&cal).unwrap().camera;
        cfg.cameras.push(Camera {
            id,
            source: dir.join("video.mp4").display().to_string(),
            calibration: cal,
            ..template.clone()
        });
    }
    let mut sub = Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &broker.port.to_string()])
        .args(["-t", "sortwatch/+/violations/#", "-q", "1", "-F", "%U %p"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = sub.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut lat = Vec::new();
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let Some((at, payload)) = line.split_once(' ') else {
                continue;
            };
            let arrived: f64 = at.parse().unwrap();
            let v: serde_json::Value = serde_json::from_str(payload).unwrap();
            let end: jiff::Timestamp = v["t_end"].as_str().unwrap().parse().unwrap();
            let ms = (arrived - end.as_millisecond() as f64 / 1000.0) * 1000.0;
            eprintln!("{} {}: {ms:.0} ms", v["camera"], v["kind"]);
            lat.push(ms);
        }
        lat
    });
    eprintln!(
        "alert_latency: {} cameras in real time for {secs} s",
        cfg.cameras.len()
    );
    let node = sortwatch::service::Node::start(&cfg).unwrap();
    let health = node.health.clone();
    node.run_for(Duration::from_secs(secs));
    std::thread::sleep(Duration::from_millis(500));
    let _ = sub.kill();
    let _ = sub.wait();
    let mut lat = reader.join().unwrap();
    lat.sort_by(f64::total_cmp);
    let q = |p: f64| lat[((lat.len() - 1) as f64 * p).round() as usize];
    for (cam, h) in &health {
        let h = h.lock().unwrap();
        println!(
            "camera {cam}: {} frames analysed, {} dropped",
            h.frames, h.dropped_frames
        );
    }
    if lat.is_empty() {
        println!("no violations arrived");
        return;
    }
    println!(
        "alert latency over {} violations: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        lat.len(),
        q(0.5),
        q(0.99),
        lat[lat.len() - 1]
    );
}
