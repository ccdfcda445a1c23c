//! `sortwatch calibrate --checkerboard` on OpenCV's sample photos: an
//! intrinsics file that a marker survey can name, and clear refusals for
//! empty folders, mixed resolutions and a wrong --pattern.

mod common;
use common::*;
use std::path::{Path, PathBuf};

const DATA: &str = "/usr/share/doc/opencv-doc/examples/data";

/// A folder holding (links to) the named OpenCV sample photos.
fn photos(names: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let d = tmp();
    let dir = d.path().join("photos");
    std::fs::create_dir(&dir).unwrap();
    for n in names {
        assert!(
            Path::new(DATA).join(n).exists(),
            "{DATA}/{n} is missing: OpenCV's sample photos come with the opencv-doc package (scripts/setup.sh installs it)"
        );
        std::os::unix::fs::symlink(Path::new(DATA).join(n), dir.join(n)).unwrap();
    }
    (d, dir)
}

fn all_left() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(DATA)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.len() == "left01.jpg".len() && n.starts_with("left") && n.ends_with(".jpg"))
        .collect();
    v.sort();
    v
}

fn estimate(spec: &str, out: &Path, extra: &[&str]) -> std::process::Output {
    sortwatch()
        .args(["calibrate", "--checkerboard", spec, "--out"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn checkerboard_photos_become_an_intrinsics_file_a_survey_can_name() {
    let names = all_left();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let (d, dir) = photos(&refs);
    let out = d.path().join("cam2-intrinsics.toml");
    let run = estimate(
        dir.to_str().unwrap(),
        &out,
        &["--pattern", "9x6", "--square-cm", "2.5"],
    );
    assert_ok(&run);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("photo left01.jpg: 0.") && stderr.contains("RMS 0.19"),
        "{stderr}"
    );
    let (size, intr) = sortwatch::cmd::intrinsics::load(&out).unwrap();
    assert_eq!(size, (640, 480));
    // OpenCV's calibrateCamera on the same photos: fx 532.83, cy 233.86.
    assert!(
        (intr.fx - 532.83).abs() < 0.5 && (intr.cy - 233.86).abs() < 0.5,
        "{intr:?}"
    );

    // A survey that names the file gets exactly those intrinsics.
    let pose_r = sortwatch::geometry::rodrigues([-2.0, 0.0, 0.0]);
    let pose_t = [0.0, 80.0, 400.0];
    let mut survey = String::from(
        "camera = \"bench\"\nimage_width = 640\nimage_height = 480\nintrinsics_file = \"cam2-intrinsics.toml\"\n",
    );
    for f in [
        [-60.0, 60.0],
        [60.0, 60.0],
        [70.0, 180.0],
        [-70.0, 190.0],
        [0.0, 120.0],
    ] {
        let (u, v) =
            sortwatch::geometry::project_point(&intr, &pose_r, pose_t, [f[0], f[1], 0.0]).unwrap();
        survey.push_str(&format!(
            "\n[[markers]]\nfloor_cm = [{:?}, {:?}]\npixel = [{u:?}, {v:?}]\n",
            f[0], f[1]
        ));
    }
    let points = d.path().join("survey.toml");
    std::fs::write(&points, survey).unwrap();
    let cal_path = d.path().join("bench.toml");
    let run = calibrate(&points, &cal_path, &[]);
    assert_ok(&run);
    let cal = sortwatch::geometry::Calibration::load(&cal_path).unwrap();
    assert_eq!(cal.intrinsics, intr);
}

#[test]
fn survey_naming_intrinsics_of_another_resolution_is_refused() {
    let d = tmp();
    std::fs::write(
        d.path().join("intr.toml"),
        "image_width = 640\nimage_height = 480\n[intrinsics]\nfx = 530.0\nfy = 530.0\ncx = 320.0\ncy = 240.0\n",
    )
    .unwrap();
    let points = d.path().join("survey.toml");
    std::fs::write(
        &points,
        "camera = \"c\"\nimage_width = 1280\nimage_height = 960\nintrinsics_file = \"intr.toml\"\n[[markers]]\nfloor_cm = [0.0, 0.0]\npixel = [1.0, 1.0]\n",
    )
    .unwrap();
    let run = calibrate(&points, &d.path().join("c.toml"), &[]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("intr.toml")
            && stderr.contains("640x480")
            && stderr.contains("streaming resolution"),
        "{stderr}"
    );
}

#[test]
fn few_photos_give_a_result_and_a_warning_to_take_more() {
    let (d, dir) = photos(&["left01.jpg", "left02.jpg", "left03.jpg"]);
    let run = estimate(
        &format!("{}/left0*.jpg", dir.display()),
        &d.path().join("i.toml"),
        &["--pattern", "9x6"],
    );
    assert_ok(&run);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("warning: only 3 photos"), "{stderr}");
}

#[test]
fn wrong_pattern_names_the_photos_and_suggests_checking_it() {
    let (d, dir) = photos(&["left01.jpg", "left02.jpg"]);
    let run = estimate(
        dir.to_str().unwrap(),
        &d.path().join("i.toml"),
        &["--pattern", "10x7"],
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("left01.jpg, left02.jpg") && stderr.contains("check --pattern"),
        "{stderr}"
    );
    assert!(!d.path().join("i.toml").exists());
}

#[test]
fn photos_of_different_sizes_are_refused_naming_the_odd_one() {
    // left.jpg is OpenCV's 612x459 stereo-sample photo.
    let (d, dir) = photos(&["left.jpg", "left01.jpg"]);
    let run = estimate(
        dir.to_str().unwrap(),
        &d.path().join("i.toml"),
        &["--pattern", "9x6"],
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("left01.jpg is 640x480") && stderr.contains("left.jpg is 612x459"),
        "{stderr}"
    );
}

#[test]
fn folder_without_photos_is_refused() {
    let d = tmp();
    let run = estimate(
        d.path().to_str().unwrap(),
        &d.path().join("i.toml"),
        &["--pattern", "9x6"],
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("no PNG or JPEG files in"), "{stderr}");
}

#[test]
fn survey_without_intrinsics_says_where_to_get_them() {
    let d = tmp();
    let points = d.path().join("survey.toml");
    std::fs::write(
        &points,
        "camera = \"c\"\nimage_width = 640\nimage_height = 480\n[[markers]]\nfloor_cm = [0.0, 0.0]\npixel = [1.0, 1.0]\n",
    )
    .unwrap();
    let run = calibrate(&points, &d.path().join("c.toml"), &[]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("survey.toml")
            && stderr.contains("intrinsics_file")
            && stderr.contains("--checkerboard"),
        "{stderr}"
    );
}
