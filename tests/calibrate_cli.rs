//! `sortwatch calibrate` from a marker survey: a usable calibration file, and
//! clear refusals and warnings for bad surveys.

mod common;
use common::*;

/// A survey of the OpenCV golden case `h450_tilt60_barrel`, optionally edited.
fn survey(edit: impl Fn(String) -> String) -> (tempfile::TempDir, std::path::PathBuf) {
    let g: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string("tests/golden/calibration/h450_tilt60_barrel.json").unwrap(),
    )
    .unwrap();
    let mut text = String::from(
        "camera = \"line3-cam2\"\nimage_width = 1920\nimage_height = 1080\n[intrinsics]\nfx = 1100.0\nfy = 1095.0\ncx = 960.0\ncy = 540.0\ndistortion = [-0.28, 0.09, 0.001, -0.0008, -0.01]\n",
    );
    for (f, p) in g["floor_cm"]
        .as_array()
        .unwrap()
        .iter()
        .zip(g["pixels"].as_array().unwrap())
    {
        text.push_str(&format!("\n[[markers]]\nfloor_cm = {f}\npixel = {p}\n"));
    }
    let d = tmp();
    let path = d.path().join("survey.toml");
    std::fs::write(&path, edit(text)).unwrap();
    (d, path)
}

/// Calibrates the docs survey of the real sample and previews it on `frame`.
fn preview(frame: &str, d: &tempfile::TempDir) -> std::process::Output {
    let preview = d.path().join("preview.png");
    calibrate(
        std::path::Path::new("docs/img/vtest-survey.toml"),
        &d.path().join("vtest.toml"),
        &["--frame", frame, "--preview", preview.to_str().unwrap()],
    )
}

#[test]
fn a_marker_survey_becomes_a_calibration_file_that_loads() {
    let (d, points) = survey(|s| s);
    let out = d.path().join("calibration/line3-cam2.toml");
    let run = calibrate(&points, &out, &[]);
    assert_ok(&run);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("450 cm above the floor") && stderr.contains("RMS 0.30 px"),
        "{stderr}"
    );
    let cal = sortwatch::geometry::Calibration::load(&out).unwrap();
    assert_eq!(
        (cal.camera.as_str(), cal.image_width, cal.image_height),
        ("line3-cam2", 1920, 1080)
    );
    assert!(
        (cal.camera_center()[2] - 450.0).abs() < 2.0,
        "{:?}",
        cal.camera_center()
    );
}

#[test]
fn markers_on_one_line_are_refused_with_the_fix() {
    let (d, points) = survey(|s| {
        // Keep four markers, all on the line y = 250 cm.
        let head = s.split("\n[[markers]]").next().unwrap().to_string();
        head + &[-200, -50, 100, 250]
            .iter()
            .enumerate()
            .map(|(i, x)| {
                format!(
                    "\n[[markers]]\nfloor_cm = [{x}.0, 250.0]\npixel = [{}.0, 600.0]\n",
                    500 + 250 * i
                )
            })
            .collect::<String>()
    });
    let run = calibrate(&points, &d.path().join("out.toml"), &[]);
    assert_one_line_error(
        &run,
        2,
        &["survey.toml", "one line", "add markers well off that line"],
    );
    assert!(
        !d.path().join("out.toml").exists(),
        "nothing written for a refused survey"
    );
}

#[test]
fn an_unknown_key_in_the_survey_is_named() {
    let (d, points) = survey(|s| s.replacen("pixel =", "pixels =", 1));
    let run = calibrate(&points, &d.path().join("out.toml"), &[]);
    assert_one_line_error(&run, 2, &["survey.toml", "pixels"]);
}

#[test]
fn a_mis_clicked_marker_is_flagged() {
    // Marker 3 clicked 40 px to the right of where it is.
    let (d, points) = survey(|s| {
        let mut parts: Vec<String> = s.split("\n[[markers]]").map(str::to_string).collect();
        let line = parts[3]
            .lines()
            .find(|l| l.starts_with("pixel"))
            .unwrap()
            .to_string();
        let nums: Vec<f64> = line
            .trim_start_matches("pixel = [")
            .trim_end_matches(']')
            .split(',')
            .map(|v| v.trim().parse().unwrap())
            .collect();
        parts[3] = parts[3].replace(&line, &format!("pixel = [{}, {}]", nums[0] + 40.0, nums[1]));
        parts.join("\n[[markers]]")
    });
    let run = calibrate(&points, &d.path().join("out.toml"), &[]);
    assert_ok(&run);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("warning: reprojection error RMS"),
        "{stderr}"
    );
}

#[test]
fn the_preview_draws_the_floor_grid_and_markers_on_the_frame() {
    let d = tmp();
    let run = preview("tests/golden/pose/vtest_f0300_576x768.png", &d);
    assert_ok(&run);
    let img = image::open(d.path().join("preview.png"))
        .unwrap()
        .into_rgb8();
    assert_eq!(img.dimensions(), (768, 576));
    let yellow = img.pixels().filter(|p| p.0 == [255, 255, 0]).count();
    assert!(yellow > 2000, "grid lines drawn: {yellow} px");
    // Marker 1 was clicked at (157.8, 481.0): its green cross is there.
    assert_eq!(img.get_pixel(158, 481).0, [0, 255, 0]);
}

#[test]
fn a_preview_frame_of_another_size_is_refused() {
    let d = tmp();
    let run = preview("tests/golden/pose/astronaut_256.png", &d);
    assert_one_line_error(
        &run,
        2,
        &[
            "astronaut_256.png is 256x256",
            "768x576",
            "streaming resolution",
        ],
    );
}

#[test]
fn mirrored_floor_axes_are_refused_with_the_likely_cause() {
    // x measured the wrong way round: the camera fits under the floor.
    let (d, points) = survey(|s| {
        s.lines()
            .map(|l| match l.strip_prefix("floor_cm = [") {
                Some(rest) => {
                    let (x, tail) = rest.split_once(',').unwrap();
                    format!("floor_cm = [{},{tail}", -x.trim().parse::<f64>().unwrap())
                }
                None => l.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    let run = calibrate(&points, &d.path().join("out.toml"), &[]);
    assert_one_line_error(&run, 2, &["under the floor", "anticlockwise"]);
}
