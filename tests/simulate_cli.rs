//! `sortwatch simulate` end to end: the files it writes, that the calibration
//! it writes is the camera it rendered through, and its errors.

mod common;

use common::{assert_ok, assert_one_line_error, ffprobe, run_ok, simulate, sortwatch, tmp};
use serde_json::Value;
use sortwatch::geometry::Calibration;
use std::path::Path;

#[test]
fn simulate_writes_h264_video_truth_and_a_calibration_that_reprojects_the_truth_exactly() {
    let d = tmp();
    let out = simulate("samples/scenarios/drop-near-limit.toml", d.path());
    assert_ok(&out);
    let (codec, frames) = ffprobe(&d.path().join("video.mp4"));
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("truth.json")).unwrap())
            .unwrap();
    assert_eq!(codec, "h264");
    assert_eq!(truth["frames"].as_u64(), Some(frames));
    assert_eq!(frames, 105, "7 s at 15 fps");
    assert_eq!(truth["schema"], 1);
    assert_eq!(truth["releases"].as_array().unwrap().len(), 2);
    let flights = truth["flights"].as_array().unwrap();
    assert_eq!(flights.len(), 2);
    assert!((flights[0]["drop_height_cm"].as_f64().unwrap() - 46.0).abs() < 0.1);
    assert_eq!(flights[0]["violation"], false);
    assert_eq!(flights[1]["violation"], true);

    // The written calibration is the rendering camera, lens distortion included.
    let cal = Calibration::load(&d.path().join("calibration.toml")).unwrap();
    assert!(
        cal.intrinsics.distortion[0] < -0.1,
        "this sample has barrel distortion"
    );
    let lines = std::fs::read_to_string(d.path().join("frames.jsonl")).unwrap();
    let mut checked = 0;
    let mut states = std::collections::BTreeSet::new();
    for (i, line) in lines.lines().enumerate() {
        let f: Value = serde_json::from_str(line).unwrap();
        assert_eq!(f["frame"].as_u64(), Some(i as u64));
        assert!((f["t_s"].as_f64().unwrap() - i as f64 / 15.0).abs() < 1e-9);
        assert_eq!(f["workers"][0]["keypoints"].as_array().unwrap().len(), 17);
        for p in f["parcels"].as_array().unwrap() {
            let c: Vec<f64> = p["centre_cm"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            let (u, v) = cal.project([c[0], c[1], c[2]]).unwrap();
            let px = p["centre_px"].as_array().unwrap();
            assert!(
                (u - px[0].as_f64().unwrap()).abs() < 0.01
                    && (v - px[1].as_f64().unwrap()).abs() < 0.01
            );
            states.insert(p["state"].as_str().unwrap().to_string());
            checked += 1;
        }
    }
    assert_eq!(lines.lines().count(), 105);
    assert!(checked >= 200);
    for s in ["held", "air", "rest"] {
        assert!(states.contains(s), "{states:?}");
    }
}

#[test]
fn unknown_scenario_key_is_a_config_error_naming_the_key_and_file() {
    let d = tmp();
    let text = std::fs::read_to_string("samples/scenarios/kick.toml")
        .unwrap()
        .replace("height_cm = 420", "hieght_cm = 420");
    let bad = d.path().join("bad.toml");
    std::fs::write(&bad, text).unwrap();
    let out = simulate(bad.to_str().unwrap(), &d.path().join("out"));
    let line = assert_one_line_error(&out, 2, &["bad.toml", "hieght_cm", "line 8"]);
    assert!(line.contains("expected one of"), "{line}");
}

#[test]
fn missing_scenario_file_is_named() {
    let d = tmp();
    let out = simulate("samples/scenarios/no-such.toml", d.path());
    assert_one_line_error(&out, 3, &["samples/scenarios/no-such.toml"]);
}

#[test]
fn impossible_action_is_a_config_error_naming_the_action() {
    let d = tmp();
    let text = std::fs::read_to_string("samples/scenarios/kick.toml")
        .unwrap()
        .replace("at_cm = [-20, 330]", "at_cm = [300, 330]");
    let bad = d.path().join("far.toml");
    std::fs::write(&bad, text).unwrap();
    let out = simulate(bad.to_str().unwrap(), &d.path().join("out"));
    assert_one_line_error(&out, 2, &["actions[1]", "kick", "walk within"]);
}

#[test]
fn suite_writes_each_seeded_scenario_with_its_outputs_and_is_repeatable() {
    let d = tmp();
    let run = |dir: &Path| {
        run_ok(
            sortwatch()
                .args(["simulate", "--suite", "2", "--seed", "9", "--out"])
                .arg(dir),
        );
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let names = run(&d.path().join("a"));
    assert_eq!(names.len(), 2);
    assert!(
        names[0].starts_with("0001-") && names[1].starts_with("0002-"),
        "{names:?}"
    );
    for n in &names {
        let dir = d.path().join("a").join(n);
        for f in [
            "scenario.toml",
            "video.mp4",
            "calibration.toml",
            "truth.json",
            "frames.jsonl",
        ] {
            assert!(dir.join(f).is_file(), "{n}/{f}");
        }
        // The scenario file reproduces the same truth.
        let s = sortwatch::sim::Scenario::load(&dir.join("scenario.toml")).unwrap();
        let t = sortwatch::sim::Simulation::new(&s).unwrap().truth();
        let written: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("truth.json")).unwrap())
                .unwrap();
        assert_close(&serde_json::to_value(&t).unwrap(), &written, n);
    }
    let again = run(&d.path().join("b"));
    assert_eq!(names, again);
    assert_eq!(
        std::fs::read_to_string(d.path().join("a").join(&names[0]).join("truth.json")).unwrap(),
        std::fs::read_to_string(d.path().join("b").join(&names[0]).join("truth.json")).unwrap()
    );
}

/// JSON equality with numbers compared to 1e-9 relative (serde_json's default
/// float parsing can differ from the printed value in the last bit).
fn assert_close(a: &Value, b: &Value, at: &str) {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!((x - y).abs() <= 1e-9 * x.abs().max(1.0), "{at}: {x} vs {y}");
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{at}");
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                assert_close(p, q, &format!("{at}[{i}]"));
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(
                x.keys().collect::<Vec<_>>(),
                y.keys().collect::<Vec<_>>(),
                "{at}"
            );
            for (k, v) in x {
                assert_close(v, &y[k], &format!("{at}.{k}"));
            }
        }
        _ => assert_eq!(a, b, "{at}"),
    }
}
