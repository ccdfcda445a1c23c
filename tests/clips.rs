//! Violation clips end to end: a node on a simulated kick writes an 8 s
//! H.264 MP4 and a snapshot under the data directory, records them on the
//! violation, and announces them on MQTT with the documented payload.

mod common;

use common::mqtt::{assert_documented, free_port, json_on, Mosquitto, Sub};
use common::{assert_ok, ffprobe_duration, run_ok, simulate, sortwatch, LATE_KICK};
use serde_json::Value;
use sortwatch::store::Store;

const SITE: &str = "hub-c";

#[test]
fn a_violation_gets_an_8_s_h264_clip_and_snapshot_recorded_and_announced() {
    let d = common::tmp();
    let scenario = d.path().join("late-kick.toml");
    std::fs::write(&scenario, LATE_KICK).unwrap();
    let scene = d.path().join("scene");
    let o = simulate(scenario.to_str().unwrap(), &scene);
    assert_ok(&o);
    let broker = Mosquitto::start(&d.path().join("broker"), free_port());
    let sub = Sub::start(broker.port, &format!("sortwatch/{SITE}/#"), None);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let data = d.path().join("data");
    let cfg = d.path().join("node.toml");
    std::fs::write(
        &cfg,
        format!(
            "[site]\nname = \"{SITE}\"\ntimezone = \"Asia/Shanghai\"\n\n[[cameras]]\nid = \"sim-kick\"\nsource = \"{}\"\ncalibration = \"{}\"\n\n[mqtt]\nbroker = \"mqtt://127.0.0.1:{}\"\n\n[storage]\ndata_dir = \"{}\"\n",
            scene.join("video.mp4").display(),
            scene.join("calibration.toml").display(),
            broker.port,
            data.display()
        ),
    )
    .unwrap();
    run_ok(
        sortwatch()
            .args(["run", "--exit-when-done", "--config"])
            .arg(&cfg),
    );

    let stored = Store::open(&data)
        .unwrap()
        .violations(0, i64::MAX, 100)
        .unwrap();
    assert!(!stored.is_empty(), "the kick is a violation");
    let lines = sub.wait_for(20, "a clip-ready message per violation", |l| {
        json_on(l, &format!("sortwatch/{SITE}/clips/")).len() >= stored.len()
    });
    let ready = json_on(&lines, &format!("sortwatch/{SITE}/clips/sim-kick"));
    let announced = json_on(&lines, &format!("sortwatch/{SITE}/violations/sim-kick"));
    for v in &stored {
        let id = &v.row.id;
        let clip = v
            .clip
            .as_ref()
            .unwrap_or_else(|| panic!("{id}: no clip row"));
        assert_eq!(clip.video, format!("clips/sim-kick/{id}.mp4"));
        assert_eq!(clip.expired_ms, None);
        let video = data.join(&clip.video);
        let (codec, duration) = ffprobe_duration(&video);
        eprintln!("clips: {id}: ffprobe says {codec}, {duration} s");
        assert_eq!(codec, "h264");
        assert!((duration - 8.0).abs() <= 0.5, "{id}: {duration} s");
        assert!((clip.duration_s - duration).abs() <= 0.1, "{clip:?}");
        let snap = image::open(data.join(&clip.snapshot)).expect("a JPEG snapshot");
        assert_eq!((snap.width(), snap.height()), (768, 576));
        let on_disk = std::fs::metadata(&video).unwrap().len()
            + std::fs::metadata(data.join(&clip.snapshot)).unwrap().len();
        assert_eq!(clip.bytes, on_disk);
        assert!(
            !data.join(format!("{}.part", clip.video)).exists(),
            "no temporary file left"
        );

        let (_, msg) = ready
            .iter()
            .find(|(_, m)| m["id"] == id.as_str())
            .unwrap_or_else(|| panic!("{id}: no clip-ready message in {ready:?}"));
        assert_documented("sortwatch/clip.schema.json", msg);
        let web = format!("/clips/sim-kick/{id}");
        assert_eq!(msg["video"], format!("{web}.mp4"));
        assert_eq!(msg["snapshot"], format!("{web}.jpg"));
        assert_eq!(msg["bytes"].as_u64(), Some(on_disk));
        let span = |k: &str| msg[k].as_str().unwrap().parse::<jiff::Timestamp>().unwrap();
        let secs = (span("t_end") - span("t_start"))
            .total(jiff::Unit::Second)
            .unwrap();
        assert!((secs - 8.0).abs() <= 0.5, "t_start..t_end {secs} s");

        // The violation message named the same paths before the clip existed.
        let (_, violation) = announced
            .iter()
            .find(|(_, m)| m["id"] == id.as_str())
            .expect("the violation message");
        assert_documented("sortwatch/violation.schema.json", violation);
        let payload: Value = serde_json::from_str(&v.row.payload).unwrap();
        for p in [violation, &payload] {
            assert_eq!(p["clip"]["video"], format!("{web}.mp4"));
            assert_eq!(p["clip"]["snapshot"], format!("{web}.jpg"));
        }
    }
}
