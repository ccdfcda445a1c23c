//! Every bad input gets a one-line error naming the thing and the fix, a
//! non-zero exit code by kind, and no panic.

mod common;
use common::*;

#[test]
fn missing_model_file_names_the_path_and_how_to_get_it() {
    let out = replay_output(
        VTEST,
        &path(VTEST_CAL),
        &["--model", "/nonexistent/movenet.onnx"],
    );
    assert_one_line_error(
        &out,
        3,
        &[
            "pose model /nonexistent/movenet.onnx not found",
            "convert_movenet.sh",
        ],
    );
}

#[test]
fn damaged_model_file_is_reported_as_such() {
    let d = tmp();
    let bad = d.path().join("bad.onnx");
    std::fs::write(&bad, b"not an onnx graph").unwrap();
    let out = replay_output(VTEST, &path(VTEST_CAL), &["--model", bad.to_str().unwrap()]);
    assert_one_line_error(&out, 4, &["bad.onnx", "damaged"]);
}

#[test]
fn missing_onnx_runtime_library_says_how_to_install_it() {
    let d = tmp();
    let out = replay(VTEST, &path(VTEST_CAL), &d.path().join("e.jsonl"), &[])
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so.1.31.1")
        .output()
        .unwrap();
    assert_one_line_error(
        &out,
        5,
        &[
            "ONNX Runtime library not found",
            "/nonexistent/libonnxruntime.so.1.31.1",
            "scripts/setup.sh",
        ],
    );
}

#[test]
fn a_file_that_is_not_a_library_given_as_onnx_runtime_is_refused_cleanly() {
    let d = tmp();
    let fake = d.path().join("libonnxruntime.so.1.31.1");
    std::fs::write(&fake, b"garbage").unwrap();
    let out = replay(VTEST, &path(VTEST_CAL), &d.path().join("e.jsonl"), &[])
        .env("ORT_DYLIB_PATH", &fake)
        .output()
        .unwrap();
    assert_one_line_error(
        &out,
        5,
        &["cannot load ONNX Runtime library", "ORT_DYLIB_PATH"],
    );
}

#[test]
fn missing_video_file_names_the_path() {
    let out = replay_output("/nonexistent/clip.mp4", &path(VTEST_CAL), &[]);
    assert_one_line_error(
        &out,
        3,
        &["/nonexistent/clip.mp4 does not exist", "check the path"],
    );
}

#[test]
fn video_damaged_after_its_header_fails_after_writing_what_was_read() {
    let d = tmp();
    let bad = d.path().join("garbled.avi");
    // The real header, then noise where the frames should be.
    let mut bytes = std::fs::read(VTEST).unwrap()[..5000].to_vec();
    let mut x = 0x2545_f491_u32;
    bytes.extend((0..300_000).map(|_| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x as u8
    }));
    std::fs::write(&bad, &bytes).unwrap();
    let events = d.path().join("e.jsonl");
    let out = replay(bad.to_str().unwrap(), &path(VTEST_CAL), &events, &[])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    let last = stderr.trim().lines().last().unwrap();
    assert!(
        last.contains("garbled.avi ended after")
            && last.contains("of 795 frames")
            && last.contains("damaged"),
        "{last}"
    );
    let summary = std::fs::read_to_string(&events).unwrap();
    assert!(
        summary.contains("\"event\":\"summary\""),
        "events of the frames read are kept: {summary}"
    );
}

#[test]
fn truncated_video_header_is_reported_as_unreadable() {
    let d = tmp();
    let cut = d.path().join("cut.avi");
    std::fs::write(&cut, &std::fs::read(VTEST).unwrap()[..2500]).unwrap();
    let out = replay_output(cut.to_str().unwrap(), &path(VTEST_CAL), &[]);
    assert_one_line_error(
        &out,
        4,
        &["cut.avi is not a video FFmpeg can read", "complete"],
    );
}

#[test]
fn a_file_that_is_not_a_video_is_named_with_the_fix() {
    let d = tmp();
    let txt = d.path().join("notes.mp4");
    std::fs::write(&txt, "these are shift notes, not video\n".repeat(50)).unwrap();
    let out = replay_output(txt.to_str().unwrap(), &path(VTEST_CAL), &[]);
    assert_one_line_error(&out, 4, &["notes.mp4 is not a video", "supported video"]);
}

fn broken_calibration(edit: impl Fn(String) -> String) -> (tempfile::TempDir, std::path::PathBuf) {
    let d = tmp();
    let p = d.path().join("cam.toml");
    std::fs::write(&p, edit(std::fs::read_to_string(VTEST_CAL).unwrap())).unwrap();
    (d, p)
}

#[test]
fn calibration_with_a_missing_key_names_file_and_key() {
    let (_dir, cal) = broken_calibration(|s| s.replace("fy = 720.0\n", ""));
    let out = replay_output(VTEST, &cal, &[]);
    assert_one_line_error(
        &out,
        2,
        &["cam.toml", "missing field `fy`", "docs/calibration.md"],
    );
}

#[test]
fn calibration_with_an_invalid_value_names_the_key_and_the_rule() {
    let (_dir, cal) = broken_calibration(|s| s.replace("fx = 720.0", "fx = -720.0"));
    let out = replay_output(VTEST, &cal, &[]);
    assert_one_line_error(&out, 2, &["cam.toml", "`intrinsics.fx`", "positive"]);
}

#[test]
fn calibration_with_a_wrongly_typed_value_names_the_line() {
    let (_dir, cal) = broken_calibration(|s| {
        s.replace(
            "rotation = [2.0943951, 0.0, 0.0]",
            "rotation = \"sideways\"",
        )
    });
    let out = replay_output(VTEST, &cal, &[]);
    assert_one_line_error(&out, 2, &["cam.toml", "line 19, key `rotation`", "array"]);
}

#[test]
fn calibration_for_another_resolution_is_refused() {
    let (_dir, cal) = broken_calibration(|s| s.replace("image_width = 768", "image_width = 1920"));
    let out = replay_output(VTEST, &cal, &[]);
    assert_one_line_error(&out, 2, &["image_width", "1920x576", "768x576"]);
}

#[test]
fn unknown_config_key_is_named() {
    let d = tmp();
    let cfg = d.path().join("sortwatch.toml");
    std::fs::write(&cfg, "[motion]\nthreshhold = 20\n").unwrap();
    let out = replay_output(
        VTEST,
        &path(VTEST_CAL),
        &["--config", cfg.to_str().unwrap()],
    );
    assert_one_line_error(&out, 2, &["sortwatch.toml", "threshhold", "docs/config.md"]);
}

#[test]
fn missing_usb_camera_says_none_is_connected() {
    // The CI machine has no camera; where one exists, index 63 still does not.
    let out = replay_output("v4l:///dev/video63", &path(VTEST_CAL), &[]);
    let line = assert_one_line_error(&out, 6, &["USB"]);
    assert!(
        line.contains("no USB/V4L2 camera is connected") || line.contains("cannot open USB camera"),
        "{line}"
    );
}
